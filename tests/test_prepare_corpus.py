"""Tests for prepare_corpus.py: WikiExtractor reading, Korean sentence splitting and the CLI."""

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import prepare_corpus

KOWIKI_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kowiki"

WIKI_SNIPPET = """\
<doc id="5" url="https://ko.wikipedia.org/wiki?curid=5" title="지미 카터">
지미 카터

지미 카터는 조지아주에서 태어났다. 그는 해군에 들어가 승무원으로 일하였다.
   \t
1976년 대통령 선거에 출마하여 당선되었다.
</doc>
<doc id="9" url="https://ko.wikipedia.org/wiki?curid=9" title="빈 문서">
빈 문서

</doc>
<doc id="10" url="https://ko.wikipedia.org/wiki?curid=10" title="수학">
수학

  수학은 수와 양을 연구하는 학문이다.\x20\x20
</doc>
"""

EXPECTED_OUTPUT = """\
지미 카터는 조지아주에서 태어났다.
그는 해군에 들어가 승무원으로 일하였다.
1976년 대통령 선거에 출마하여 당선되었다.

수학은 수와 양을 연구하는 학문이다.

"""


@pytest.fixture(scope="module")
def tagger():
    return prepare_corpus.PosTagger()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_iter_documents_drops_tags_titles_blank_lines_and_empty_documents():
    documents = list(prepare_corpus.iter_wikiextractor_documents(WIKI_SNIPPET.splitlines()))
    assert documents == [
        [
            "지미 카터는 조지아주에서 태어났다. 그는 해군에 들어가 승무원으로 일하였다.",
            "1976년 대통령 선거에 출마하여 당선되었다.",
        ],
        ["수학은 수와 양을 연구하는 학문이다."],
    ]


def test_iter_documents_keep_empty_and_unclosed_blocks():
    lines = ['<doc id="1" title="a">', "a", "", "</doc>", "stray line", '<doc id="2">', "b", "본문이다."]
    assert list(prepare_corpus.iter_wikiextractor_documents(lines, keep_empty=True)) == [[], ["본문이다."]]
    assert list(prepare_corpus.iter_wikiextractor_documents(lines)) == [["본문이다."]]


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
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
    ],
)
def test_split_sentences(tagger, paragraph, expected):
    assert prepare_corpus.split_sentences(paragraph, tagger) == expected


def test_split_sentences_removes_control_characters(tagger):
    assert prepare_corpus.split_sentences("그는\x00 학생\x1f이다.\x0b 그녀\u2028는 교사이다.", tagger) == [
        "그는 학생이다.",
        "그녀는 교사이다.",
    ]


def test_find_bracket_pairs():
    text = '그는 "좋다."라고 (말)했다 《책》 don\'t ""인용""'
    pairs = prepare_corpus.find_bracket_pairs(text)
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
    text = prepare_corpus.remove_control_characters(paragraph)
    sentences = prepare_corpus.split_sentences(paragraph, tagger)
    position = 0
    for sentence in sentences:
        assert sentence and sentence == sentence.strip()
        found = text.find(sentence, position)
        assert found >= 0
        assert not text[position:found].strip()
        position = found + len(sentence)
    assert not text[position:].strip()


def _run(args):
    return CliRunner().invoke(prepare_corpus.main, args)


def test_cli_output_file(tmp_path):
    input_path = _write(tmp_path / "wiki_00", WIKI_SNIPPET)
    output_path = tmp_path / "out" / "corpus.txt"
    result = _run(["--input_file", str(input_path), "--output_file", str(output_path)])
    assert result.exit_code == 0, result.output
    assert output_path.read_text(encoding="utf-8") == EXPECTED_OUTPUT
    assert re.search(
        r"Read 1 files and wrote 2 documents, 3 paragraphs, 4 sentences and \d+ chars", result.output
    )
    assert "1 documents without text dropped" in result.output
    assert os.listdir(output_path.parent) == ["corpus.txt"]


def test_cli_output_dir_keeps_inputs_apart(tmp_path):
    _write(tmp_path / "text" / "AA" / "wiki_00", WIKI_SNIPPET)
    _write(tmp_path / "text" / "AB" / "wiki_00", WIKI_SNIPPET)
    pattern = str(tmp_path / "text" / "*" / "wiki_*")
    for num_workers in ("1", "2"):
        output_dir = tmp_path / f"prepared_{num_workers}"
        result = _run(
            ["--input_file", pattern, "--output_dir", str(output_dir), "--num_workers", num_workers]
        )
        assert result.exit_code == 0, result.output
        assert "Read 2 files and wrote 4 documents" in result.output
        for name in ("AA", "AB"):
            assert (output_dir / name / "wiki_00").read_text(encoding="utf-8") == EXPECTED_OUTPUT


def test_output_dir_layout_follows_the_pattern_not_the_matches(tmp_path):
    """One WikiExtractor folder or several, `text/*/wiki_*` puts each file under its folder's name; the
    next stage's `out/*/wiki_*` finds them either way."""
    _write(tmp_path / "text" / "AA" / "wiki_00", WIKI_SNIPPET)
    _write(tmp_path / "flat" / "wiki_00", WIKI_SNIPPET)
    for pattern, expected in (("text/*/wiki_*", "AA/wiki_00"), ("text/AA/wiki_*", "wiki_00"),
                              ("flat/wiki_*", "wiki_00"), ("flat/wiki_00", "wiki_00")):
        output_dir = tmp_path / "out" / pattern.replace("/", "_").replace("*", "x")
        result = _run(["--input_file", str(tmp_path / pattern), "--output_dir", str(output_dir)])
        assert result.exit_code == 0, result.output
        assert (output_dir / expected).read_text(encoding="utf-8") == EXPECTED_OUTPUT, pattern
    assert prepare_corpus.output_paths_for(["a/x/f", "b/g"], "out", ["a/*/f", "b/g"]) == ["out/a/x/f", "out/b/g"]


def test_cli_comma_separated_inputs_in_order(tmp_path):
    first = _write(tmp_path / "b.txt", '<doc id="1">\n제목\n첫째 문서이다.\n</doc>\n')
    second = _write(tmp_path / "a.txt", '<doc id="2">\n제목\n둘째 문서이다.\n</doc>\n')
    output_path = tmp_path / "corpus.txt"
    result = _run(["--input_file", f"{first},{second},{first}", "--output_file", str(output_path)])
    assert result.exit_code == 0, result.output
    assert output_path.read_text(encoding="utf-8") == "첫째 문서이다.\n\n둘째 문서이다.\n\n"


def test_cli_non_utf8_input_names_file_and_line_and_writes_nothing(tmp_path):
    good = _write(tmp_path / "good", WIKI_SNIPPET)
    bad = tmp_path / "bad"
    bad.write_bytes('<doc id="1">\n제목\n'.encode() + b"\xff\xfe broken\n</doc>\n")
    output_path = tmp_path / "out" / "corpus.txt"
    output_path.parent.mkdir()
    output_path.write_text("old content", encoding="utf-8")
    result = _run(["--input_file", f"{good},{bad}", "--output_file", str(output_path)])
    assert result.exit_code != 0
    assert f"{bad}:3: not valid UTF-8" in result.output
    assert len(result.output.strip().splitlines()) == 1
    # Atomic: the old output is untouched and no temporary file is left behind.
    assert output_path.read_text(encoding="utf-8") == "old content"
    assert os.listdir(output_path.parent) == ["corpus.txt"]


@pytest.mark.parametrize(
    ("input_file", "message"),
    [
        ("missing.txt", "missing.txt: no such file"),
        ("missing_*.txt", "missing_*.txt: matches no file"),
        (".", ".: is a folder"),
        (",", "no input file given"),
    ],
)
def test_cli_missing_input(tmp_path, monkeypatch, input_file, message):
    monkeypatch.chdir(tmp_path)
    result = _run(["--input_file", input_file, "--output_file", "out.txt"])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out.txt").exists()


def test_cli_needs_exactly_one_output(tmp_path):
    input_path = _write(tmp_path / "wiki_00", WIKI_SNIPPET)
    assert _run(["--input_file", str(input_path)]).exit_code == 2
    both = ["--input_file", str(input_path), "--output_file", "a", "--output_dir", "b"]
    assert _run(both).exit_code == 2


def test_cli_refuses_to_overwrite_input(tmp_path):
    input_path = _write(tmp_path / "wiki_00", WIKI_SNIPPET)
    result = _run(["--input_file", str(input_path), "--output_dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "would overwrite an input file" in result.output
    assert input_path.read_text(encoding="utf-8") == WIKI_SNIPPET


@pytest.mark.slow
def test_kowiki_file(tmp_path, tagger):
    path = KOWIKI_DIR / "wiki_00"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    output_path = tmp_path / "wiki_00"
    stats = prepare_corpus.prepare_files([str(path)], str(output_path), tagger)
    documents = output_path.read_text(encoding="utf-8").split("\n\n")
    assert documents.pop() == ""
    assert stats.files == 1
    assert stats.documents == len(documents) > 100
    assert stats.documents + stats.empty_documents == path.read_text(encoding="utf-8").count("<doc ")
    lines = [line for document in documents for line in document.split("\n")]
    assert stats.sentences == len(lines) > stats.paragraphs > stats.documents
    assert all(line and line == line.strip() for line in lines)
    assert stats.chars == sum(len(line) for line in lines)
    # Most sentences end like Korean sentences do.
    assert sum(line.endswith(("다.", "다.”", '다."', ")")) for line in lines) > 0.8 * len(lines)
