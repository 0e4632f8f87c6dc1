"""mecab_bert/corpus/sentence_splitter.py: Korean paragraphs split into sentences by MeCab's endings, quotes and
brackets kept whole, long paragraphs tagged in windows."""

import re

import pytest
from conftest import KOWIKI_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

import text_input
import tokenization
from mecab_bert.corpus import preparation, sentence_splitter

# (paragraph, its sentences)
SPLIT_CASES = [
    # A sentence-final ending (EF) and a period.
    (
        "지미 카터는 조지아주에서 태어났다. 그는 해군에 들어가 승무원으로 일하였다.",
        ["지미 카터는 조지아주에서 태어났다.", "그는 해군에 들어가 승무원으로 일하였다."],
    ),
    # Question and exclamation marks.
    (
        "이것은 무엇인가? 그것은 책이다! 정말 좋은 책이다.",
        ["이것은 무엇인가?", "그것은 책이다!", "정말 좋은 책이다."],
    ),
    # Closing quotes after the period stay with the sentence.
    (
        '그가 말했다. "나는 간다." 그리고 그는 떠났다.',
        ["그가 말했다.", '"나는 간다."', "그리고 그는 떠났다."],
    ),
    # A period after the closing quote.
    ('그것은 "끝이다". 다음 장으로 간다.', ['그것은 "끝이다".', "다음 장으로 간다."]),
    # A quotation that goes on with the sentence.
    ('그는 "좋다."라고 말했다. 모두 기뻐했다.', ['그는 "좋다."라고 말했다.', "모두 기뻐했다."]),
    ("그는 “이것으로 끝이다.”라고 말했다.", ["그는 “이것으로 끝이다.”라고 말했다."]),
    ('그녀는 "정말인가요?" 하고 물었다.', ['그녀는 "정말인가요?" 하고 물었다.']),
    (
        '사람들은 "거북아 머리를 내놓아라. 그러지 않으면 구워서 먹으리"라고 노래를 불렀다.',
        ['사람들은 "거북아 머리를 내놓아라. 그러지 않으면 구워서 먹으리"라고 노래를 불렀다.'],
    ),
    # A quotation that stands alone is split into its sentences.
    (
        '그는 비판하였다. "신들은 거짓말을 한다. 그것이 문제이다." 이러한 비판은 알려졌다.',
        ["그는 비판하였다.", '"신들은 거짓말을 한다.', '그것이 문제이다."', "이러한 비판은 알려졌다."],
    ),
    # Decimal points, numbered headings, abbreviations and initials.
    (
        "원주율은 약 3.14이다. 일자리의 13.3%가 민간 부문에 있다.",
        ["원주율은 약 3.14이다.", "일자리의 13.3%가 민간 부문에 있다."],
    ),
    ("1. 개요", ["1. 개요"]),
    (
        "미국의 조지 W. 부시 대통령은 U.S. Army를 방문했다.",
        ["미국의 조지 W. 부시 대통령은 U.S. Army를 방문했다."],
    ),
    # A parenthesis between the ending and the period.
    (
        "첫째는 토리노에서 보낸 기간이다(1736~1766). 둘째는 베를린에서 보낸 때이다.",
        ["첫째는 토리노에서 보낸 기간이다(1736~1766).", "둘째는 베를린에서 보낸 때이다."],
    ),
    # A short parenthesis after the period belongs to the sentence; an enumerator does not.
    (
        "그는 “죄로 죽는 일이 없도록 하여라.” (15:31). 속죄일에는 피를 뿌렸다.",
        ["그는 “죄로 죽는 일이 없도록 하여라.” (15:31).", "속죄일에는 피를 뿌렸다."],
    ),
    (
        "이는 민중이 이탈하는 계기가 된다. (→21개조 요구) 일본이 급부상하게 되었다.",
        ["이는 민중이 이탈하는 계기가 된다. (→21개조 요구)", "일본이 급부상하게 되었다."],
    ),
    ("그 내용은 다음과 같다. (1) 첫째는 사과이다.", ["그 내용은 다음과 같다.", "(1) 첫째는 사과이다."]),
    # The quotative particle goes on with the sentence even after a space.
    ("그들은 따랐던 것이다. 라고 평가하였다.", ["그들은 따랐던 것이다. 라고 평가하였다."]),
    # A separator cannot start a sentence.
    (
        '이 교회가 "대속을 믿지 않는다.","지옥을 부인한다."는 비판은 오해이다.',
        ['이 교회가 "대속을 믿지 않는다.","지옥을 부인한다."는 비판은 오해이다.'],
    ),
    # A sentence that ends with a noun, with a counter after a number, with a connective ending.
    (
        "조선 후기에 편찬된 무술 훈련교본. 자세한 그림이 붙어 있다.",
        ["조선 후기에 편찬된 무술 훈련교본.", "자세한 그림이 붙어 있다."],
    ),
    ("전사자는 20,129명. 부상자는 많았다.", ["전사자는 20,129명.", "부상자는 많았다."]),
    (
        "그는 위원이 됐고. 2005년에는 부회장을 지냈다.",
        ["그는 위원이 됐고.", "2005년에는 부회장을 지냈다."],
    ),
    ("판. 검사 출신이다.", ["판. 검사 출신이다."]),
    # No space after the period.
    ("그는 학생이었다.그리고 교사가 되었다.", ["그는 학생이었다.", "그리고 교사가 되었다."]),
    # White space inside a sentence is kept, at its ends dropped.
    ("  그는  학생이다.\t그녀는   교사이다.   ", ["그는  학생이다.", "그녀는   교사이다."]),
    ("", []),
    (" \t ", []),
]


@pytest.mark.parametrize(("paragraph", "expected"), SPLIT_CASES)
def test_split_sentences(tagger, paragraph, expected):
    assert sentence_splitter.split_sentences(paragraph, tagger) == expected


def test_split_sentences_removes_control_characters(tagger):
    assert sentence_splitter.split_sentences("그는\x00 학생\x1f이다.\x0b 그녀\u2028는 교사이다.", tagger) == [
        "그는 학생이다.",
        "그녀는 교사이다.",
    ]


class _RecordingTagger:
    """A PosTagger that records the length of each text it tags."""

    def __init__(self, tagger: tokenization.PosTagger):
        self.tagger = tagger
        self.lengths: list[int] = []

    def tag(self, text: str) -> list[tokenization.Morpheme]:
        self.lengths.append(len(text))
        return self.tagger.tag(text)


def _long_paragraph(source: str) -> str:
    """Some 30,000 characters in one paragraph: the examples above, or kowiki's paragraphs, with or without
    their white space."""
    if source == "examples":
        paragraphs = [paragraph for paragraph, _ in SPLIT_CASES] * 30
    else:
        path = KOWIKI_DIR / "wiki_00"
        if not path.exists():
            pytest.skip(f"{path} is absent")
        lines = text_input.read_utf8_lines(str(path))
        paragraphs = [p for document in preparation.iter_wikiextractor_documents(lines) for p in document]
    paragraph = " ".join(paragraphs)[:30_000]
    return re.sub(r"\s+", "", paragraph) if source.endswith("without spaces") else paragraph


@pytest.mark.parametrize("source", ["examples", "kowiki", "kowiki without spaces"])
def test_tagging_in_windows_finds_the_sentences_of_tagging_whole(tagger, source):
    paragraph = _long_paragraph(source)
    assert len(paragraph) <= tokenization.MECAB_MAX_CHARS  # so that the default tags it whole
    recording = _RecordingTagger(tagger)
    in_windows = sentence_splitter.split_sentences(paragraph, recording, max_chars=3000)
    assert len(recording.lengths) > 10 and max(recording.lengths) <= 3000
    whole = sentence_splitter.split_sentences(paragraph, tagger)
    assert len(whole) > 100
    assert in_windows == whole


@pytest.mark.parametrize(("paragraph", "separator"), [("가나다 " * 2000, " "), ("가" * 8000, "")])
def test_a_window_without_a_sentence_end_is_cut_at_white_space_or_anywhere(tagger, paragraph, separator):
    recording = _RecordingTagger(tagger)
    sentences = sentence_splitter.split_sentences(paragraph, recording, max_chars=3000)
    assert max(recording.lengths) <= 3000
    assert len(sentences) == 3 and max(map(len, sentences)) <= 3000
    assert separator.join(sentences) == paragraph.strip()  # with white space, cut between words


def test_find_bracket_pairs():
    text = '그는 "좋다."라고 (말)했다 《책》 don\'t ""인용""'
    pairs = sentence_splitter.find_bracket_pairs(text)
    assert [text[o] + text[c] for o, c in pairs] == ['""', "()", "《》", '""']


_PIECES = [
    "그는", " 학생", "이다", "했다", "이었다", "교본", " ", "  ", "\t", ".", "?", "!", "...", '"', "'", "“",
    "”", "(", ")", "《", "》", ",", "라고", " 하고", "3", ".14", "U.S.", "가", "\x00", "\x1e", "\x1f",
    "\u2028", "\n", "A", "명",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_sentences_are_exact_substrings_in_order(tagger, pieces):
    paragraph = "".join(pieces)
    text = sentence_splitter.remove_control_characters(paragraph)
    sentences = sentence_splitter.split_sentences(paragraph, tagger)
    position = 0
    for sentence in sentences:
        assert sentence and sentence == sentence.strip()
        found = text.find(sentence, position)
        assert found >= 0
        assert not text[position:found].strip()
        position = found + len(sentence)
    assert not text[position:].strip()
