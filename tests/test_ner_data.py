import functools
import itertools
import json
import random
from typing import NamedTuple

import numpy as np
import pytest
from conftest import ROOT, SHARED_DATA, google_uncased

import tokenization
from mecab_bert.tasks import ner_data as nd
from mecab_bert.tasks.ner_data import Entity, Sentence
from text_input import InputError

KLUE_DEV = SHARED_DATA / "klue" / "klue-ner-v1.1_dev.tsv"
KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
KLUE_TAGS = nd.tag_names(nd.processors["klue-ner"].labels)

SENTENCES = [
    Sentence("s1", "경찰은 박씨의 딸(32)과 만났다.", (Entity(0, 2, "OG"), Entity(4, 5, "PS"), Entity(10, 12, "QT"))),
    Sentence("s2", "서울 시청 앞 10:30에", (Entity(0, 5, "LC"), Entity(8, 13, "TI"))),
    Sentence("s3", "아무 것도 없다", ()),
]


def read_error(processor: str, path, line: int | None = None) -> str:
    """The message of the InputError reading `path` raises; it must be one line, naming `path:line` first."""
    with pytest.raises(InputError) as error:
        nd.processors[processor].read(path)
    message = str(error.value)
    assert "\n" not in message
    assert line is None or message.startswith(f"{path}:{line}: "), message
    return message


def write(tmp_path, text: str, name: str = "data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- tags ------------------------------------------------------------------------------------------------


def test_parse_tag():
    assert nd.parse_tag("B-PS") == nd.Tag("B", "PS")
    assert nd.parse_tag("I-B-X") == nd.Tag("I", "B-X")
    assert nd.parse_tag("O") == nd.Tag("O", "")
    for bad in ("PS", "E-PS", "B-", "b-PS", "B_PS", "o", "", "B- ", "B-P\tS", "I-PS\x85", "B-\u2028"):
        assert nd.parse_tag(bad) is None, bad
    assert str(nd.parse_tag("I-LC")) == "I-LC"


def tags(*names: str) -> list[nd.Tag]:
    return [nd.parse_tag(name) for name in names]


def test_tag_entities_is_strict_iob2_unless_iob1():
    sequence = tags("B-PS", "I-PS", "O", "I-LC", "I-LC", "B-LC", "I-OG", "B-OG", "B-OG", "I-OG")
    assert nd.tag_entities(sequence) == [Entity(0, 2, "PS"), Entity(5, 6, "LC"), Entity(7, 8, "OG"),
                                         Entity(8, 10, "OG")]
    assert nd.tag_entities(sequence, iob1=True) == [Entity(0, 2, "PS"), Entity(3, 5, "LC"), Entity(5, 6, "LC"),
                                                    Entity(6, 7, "OG"), Entity(7, 8, "OG"), Entity(8, 10, "OG")]
    assert nd.tag_entities([]) == []


def test_tag_entities_equals_seqeval_strict_on_random_sequences():
    scheme = pytest.importorskip("seqeval.scheme")
    rng = random.Random(7)
    names = ["O", "B-A", "I-A", "B-B", "I-B"]
    for _ in range(3000):
        sequence = [rng.choice(names) for _ in range(rng.randint(0, 12))]
        theirs = sorted((e.start, e.end, e.tag) for e in scheme.Entities([sequence], scheme.IOB2).entities[0])
        assert [(e.start, e.end, e.label) for e in nd.tag_entities(tags(*sequence))] == theirs, sequence


def test_tag_names_and_entity_labels():
    assert nd.tag_names(("PS", "LC")) == ("O", "B-PS", "I-PS", "B-LC", "I-LC")
    assert nd.tag_names(()) == ("O",)
    assert nd.entity_labels(SENTENCES) == ("LC", "OG", "PS", "QT", "TI")
    assert KLUE_TAGS[:3] == ("O", "B-PS", "I-PS") and len(KLUE_TAGS) == 13


def test_label_problem():
    assert nd.label_problem("PS") is None and nd.label_problem("B-X") is None and nd.label_problem("두 단어") is None
    assert nd.label_problem("") == nd.label_problem(" \u3000") == "is empty"
    assert nd.label_problem("P\x00S") == "holds U+0000, a control or format character (invisible) or a line break"
    assert nd.label_problem("PS\u2029").startswith("holds U+2029")
    assert nd.label_problem("\u200b").startswith("holds U+200B")  # a zero-width space: a type nobody can read
    assert nd.label_problem("L" * 100) is None and "101 characters long" in nd.label_problem("L" * 101)


def test_check_labels_names_the_sentence(tmp_path):
    nd.check_labels(SENTENCES, ("PS", "LC", "OG", "DT", "TI", "QT"))
    with pytest.raises(InputError, match=r"dev.jsonl:2: unknown entity type \"TI\" \(sentence \"s2\"\)"):
        nd.check_labels([Sentence("s2", "x", (Entity(0, 1, "TI"),), "dev.jsonl:2")], ("PS",))


# --- KLUE-NER ---------------------------------------------------------------------------------------------


def klue_text(sentences, comments=("## 주석 : ##", "## 컬럼명 : CHAR\tNE_TAG")) -> str:
    """Sentences as a KLUE-NER file: comments, then for each a ## line, one character a line, a blank line."""
    lines = list(comments)
    tags = KLUE_TAGS
    for sentence in sentences:
        lines.append(f"## {sentence.id}\t{nd.with_marks(sentence.text, sentence.entities)}")
        ids = nd.character_tag_ids(len(sentence.text), sentence.entities, tags)
        lines += [f"{character}\t{tags[i]}" for character, i in zip(sentence.text, ids, strict=True)]
        lines.append("")
    return "\n".join(lines) + "\n"


def test_klue_round_trip(tmp_path):
    path = write(tmp_path, klue_text(SENTENCES))
    sentences = nd.processors["klue-ner"].read(path)
    assert sentences == SENTENCES
    assert sentences[0].source == f"{path}:3"
    assert nd.processors["klue-ner"].file_path("d", "dev") == "d/klue-ner-v1.1_dev.tsv"


def test_klue_reads_a_tab_character_and_kluebaseline_blank_lines(tmp_path):
    sentence = Sentence("t", "가\t나", (Entity(2, 3, "PS"),))
    text = klue_text([sentence, SENTENCES[0]], comments=()).replace("\n\n", "\n\t\n", 1)
    assert nd.processors["klue-ner"].read(write(tmp_path, text)) == [sentence, SENTENCES[0]]


def test_klue_marks_that_disagree_with_the_tags_leave_the_tags_in_charge(tmp_path):
    text = klue_text(SENTENCES[:1]).replace("<박:PS>", "박")
    assert nd.processors["klue-ner"].read(write(tmp_path, text)) == SENTENCES[:1]


def klue_lines(tmp_path, *edits: tuple[str, str]):
    """A KLUE file of SENTENCES with each (old, new) replaced once."""
    text = klue_text(SENTENCES)
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    return write(tmp_path, text)


@pytest.mark.parametrize(("edits", "line", "words"), [
    ((("경\tB-OG", "경 B-OG"),), 4, "one character, a tab and its tag"),
    ((("경\tB-OG", "경찰\tB-OG"),), 4, "one character, a tab and its tag"),
    ((("경\tB-OG", "경\tX-OG"),), 4, '"X-OG" is not an IOB tag'),
    ((("경\tB-OG", "경\tB-XX"),), 4, 'unknown entity type in "B-XX"; KLUE-NER\'s types are PS, LC'),
    ((("경\tB-OG", "경\tI-OG"),), 4, "I-OG after O (I- tags that continue no entity in the file: 1; KLUE-NER"),
    ((("박\tB-PS", "박\tI-OG"), ("서\tB-LC", "서\tI-LC")), 8, "I-OG after O (I- tags that continue no entity in the "
                                                           "file: 2;"),
    ((("찰\tI-OG", "찰\tI-PS"),), 5, "I-PS after B-OG"),
    ((("## s2", "## s1"),), 24, 'sentence id "s1" appears twice (first at'),
    ((("## s2\t", "## s2 "),), 24, "a sentence opens with `## <id><TAB><text>`"),
    ((("## s2\t", "##\t"),), 24, "a sentence opens with `## <id><TAB><text>`"),
    ((("서울 시청", "서울 시장"),), 24, 'at character 5: "청 앞 10:30에" against "장 앞 10:30에"'),
    ((("청\tI-LC\n", "청\tI-LC\n## x\ty\n"),), 30, "a ## line inside a sentence"),
    ((("\n## s2", "\n## note\n## s2"),), 24, "a ## line that opens no sentence"),
    ((("\n## s2", "\n## note\n\n## s2"),), 24, "a ## line that opens no sentence"),
    ((("\n## s3\t아무 것도 없다\n", "\n"),), 40, "characters without a `## <id><TAB><text>` line"),
])
def test_klue_bad_input_is_one_line_naming_file_and_line(tmp_path, edits, line, words):
    message = read_error("klue-ner", klue_lines(tmp_path, *edits), line)
    assert words in message, message


def test_klue_file_without_sentences(tmp_path):
    path = write(tmp_path, "## 주석\n\n")
    assert read_error("klue-ner", path) == f"{path}: no sentences in it (a KLUE-NER file)"


# --- CoNLL-2003 -------------------------------------------------------------------------------------------

# word POS chunk, then the NER tag in IOB1 (CoNLL-2003's own) and in IOB2; None: a blank line. B-PER before Paris in
# both: in IOB1, B- appears only between two adjacent entities of one type.
CONLL_ROWS = [
    ("-DOCSTART-", "-X-", "-X-", "O", "O"), None,
    ("EU", "NNP", "B-NP", "I-ORG", "B-ORG"), ("rejects", "VBZ", "B-VP", "O", "O"),
    ("German", "JJ", "B-NP", "I-MISC", "B-MISC"), ("call", "NN", "I-NP", "O", "O"), ("to", "TO", "B-VP", "O", "O"),
    ("Peter", "NNP", "B-NP", "I-PER", "B-PER"), ("Blackburn", "NNP", "I-NP", "I-PER", "I-PER"),
    ("Paris", "NNP", "I-NP", "B-PER", "B-PER"), (".", ".", "O", "O", "O"), None, None,
    ("Peter", "NNP", "B-NP", "I-PER", "B-PER"),
]


def conll_text(scheme: str) -> str:
    column = {"IOB1": 3, "IOB2": 4}[scheme]
    return "".join("\n" if row is None else " ".join([*row[:3], row[column]]) + "\n" for row in CONLL_ROWS)


CONLL_SENTENCES = [
    Sentence("3", "EU rejects German call to Peter Blackburn Paris .",
             (Entity(0, 2, "ORG"), Entity(11, 17, "MISC"), Entity(26, 41, "PER"), Entity(42, 47, "PER"))),
    Sentence("14", "Peter", (Entity(0, 5, "PER"),)),
]


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2"])
def test_conll_reads_iob1_and_iob2_alike(tmp_path, scheme):
    path = write(tmp_path, conll_text(scheme))
    sentences = nd.processors["conll2003"].read(path)
    assert sentences == CONLL_SENTENCES
    assert sentences[1].source == f"{path}:14"
    assert [s.text[e.start:e.end] for s in sentences for e in s.entities] == [
        "EU", "German", "Peter Blackburn", "Paris", "Peter"]
    assert nd.processors["conll2003"].file_path("d", "dev") == "d/valid.txt"


def test_conll_without_fixed_types(tmp_path):
    path = write(tmp_path, "철수 B-PS\n는 O\n")
    assert "unknown entity type" in read_error("conll2003", path)
    assert nd.processors["conll"].read(path) == [Sentence("1", "철수 는", (Entity(0, 2, "PS"),))]


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("call NN I-NP O", "call NN I-NP PER", 6, '"PER" is not an IOB tag'),
    ("call NN I-NP O", "call NN I-NP B-PERSON", 6, "unknown entity type"),
    ("call NN I-NP O", "call NN O", 6, "3 fields separated by spaces or tabs; a word line has as many as line 3 "
                                       "(4)"),
])
def test_conll_bad_input(tmp_path, old, new, line, words):
    message = read_error("conll2003", write(tmp_path, conll_text("IOB1").replace(old, new)), line)
    assert words in message, message


def test_conll_one_field(tmp_path):
    assert "1 field; a word line is `word ... NER-tag`" in read_error("conll", write(tmp_path, "word\n"), 1)


def test_conll_fields_split_at_spaces_and_tabs_alone(tmp_path):
    """A no-break space is part of a word, not a field separator (str.split would make it one)."""
    path = write(tmp_path, "EU\u00a0X NNP B-NP B-ORG\nrejects\tVBZ B-VP O\n")
    assert nd.processors["conll2003"].read(path) == [Sentence("1", "EU\u00a0X rejects", (Entity(0, 4, "ORG"),))]


def test_conll_refuses_a_type_with_a_control_character(tmp_path):
    """CoNLL's any types, as JSON lines' labels: none that would split a line of eval_results.txt (label_problem)."""
    assert '"B-P\\u0001S" is not an IOB tag' in read_error("conll", write(tmp_path, "철수 O\n영희 B-P\x01S\n"), 2)


# --- JSON lines -------------------------------------------------------------------------------------------


def jsonl_text(sentences) -> str:
    return "".join(json.dumps({"id": s.id, "text": s.text, "entities": [
        {"start": e.start, "end": e.end, "label": e.label, "text": s.text[e.start:e.end]} for e in s.entities]},
        ensure_ascii=False) + "\n" for s in sentences)


def test_jsonl_round_trip(tmp_path):
    path = write(tmp_path, jsonl_text(SENTENCES) + "\n")
    assert nd.processors["jsonl"].read(path) == SENTENCES
    assert nd.processors["jsonl"].labels is None
    assert nd.processors["jsonl"].file_path("d", "test") == "d/test.jsonl"


def test_jsonl_sorts_entities_and_takes_integer_ids(tmp_path):
    line = {"id": 7, "text": "가나다", "entities": [{"start": 2, "end": 3, "label": "B"},
                                                   {"start": 0, "end": 1, "label": "A"}]}
    assert nd.processors["jsonl"].read(write(tmp_path, json.dumps(line))) == [
        Sentence("7", "가나다", (Entity(0, 1, "A"), Entity(2, 3, "B")))]


@pytest.mark.parametrize(("line", "words"), [
    ('{"id": "x", "text": "ab", ', "not valid JSON"),
    ('["x"]', 'a line is a JSON object, not ["x"]'),
    ('{"text": "ab", "entities": []}', "id is missing"),
    ('{"id": true, "text": "ab", "entities": []}', "id must be a string or an integer, not true"),
    ('{"id": "x", "text": 5, "entities": []}', "text must be a string, not 5"),
    ('{"id": "x", "text": "ab"}', "entities is missing"),
    ('{"id": "x", "id": "y", "text": "ab", "entities": []}', 'key "id" appears twice'),
    ('{"id": "x", "text": "ab", "entities": [3]}', "entities[0] must be an object, not 3"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 3, "label": "A"}]}',
     "entities[0] start 0, end 3: not a span of the text (2 characters"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 1, "end": 1, "label": "A"}]}', "not a span of the text"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1.0, "label": "A"}]}',
     "entities[0].end must be an integer, not 1.0"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1}]}', "entities[0].label is missing"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": 4}]}',
     "entities[0].label must be a string, not 4"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": " "}]}', "entities[0].label is empty"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": ""}]}', "entities[0].label is empty"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "P\\tS"}]}',
     "entities[0].label holds U+0009, a control or format character (invisible) or a line break (a label becomes"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "PS\\u2028"}]}',
     "entities[0].label holds U+2028"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "A", "text": "b"}]}',
     'entities[0].text "b" is not the text at 0-1, "a"'),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "A", "text": 5}]}',
     "entities[0].text must be a string, not 5"),
    # Lone surrogates: json reads the escape, UTF-8 cannot write it (test_predictions.jsonl, config.json).
    ('{"id": "\\ud800", "text": "ab", "entities": []}', "id holds a lone surrogate (U+D800) at character 1"),
    ('{"id": "x", "text": "a\\udfffb", "entities": []}', "text holds a lone surrogate (U+DFFF) at character 2"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "P\\udc80"}]}',
     "entities[0].label holds a lone surrogate (U+DC80) at character 2"),
    ('{"id": "x", "text": "ab", "entities": [{"start": 0, "end": 1, "label": "A", "text": "\\ud83d"}]}',
     "entities[0].text holds a lone surrogate (U+D83D) at character 1"),
    ('{"id": "x", "text": "abc", "entities": [{"start": 1, "end": 3, "label": "A"}, '
     '{"start": 0, "end": 2, "label": "B"}]}', "entities 0-2 and 1-3 overlap"),
    ('{"id": "s1", "text": "ab", "entities": []}', 'sentence id "s1" appears twice (first at'),
])
def test_jsonl_bad_input_is_one_line_naming_file_and_line(tmp_path, line, words):
    message = read_error("jsonl", write(tmp_path, jsonl_text(SENTENCES[:1]) + "\n" + line + "\n"), 3)
    assert words in message, message


def test_jsonl_empty_file(tmp_path):
    path = write(tmp_path, "\n")
    assert read_error("jsonl", path) == f"{path}: no sentences in it (a JSON lines file)"


# --- tokens -----------------------------------------------------------------------------------------------


def offsets(*spans: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s for s, _ in spans], dtype=np.int64), np.array([e for _, e in spans], dtype=np.int64)


def test_token_tags_and_decode_round_trip():
    # "경찰은 박씨의": tokens 경찰 ##은 박 ##씨 ##의
    sentence = Sentence("x", "경찰은 박씨의", (Entity(0, 2, "OG"), Entity(4, 5, "PS")))
    starts, ends = offsets((0, 2), (2, 3), (4, 5), (5, 6), (6, 7))
    tagged = nd.token_tags(sentence, starts, ends, KLUE_TAGS)
    assert [KLUE_TAGS[i] for i in tagged.ids] == ["B-OG", "O", "B-PS", "O", "O"]
    assert tagged.ids.dtype == np.int64 and (tagged.cut, tagged.uncovered) == (0, 0)
    assert nd.decode_entities(tagged.ids, starts, ends, KLUE_TAGS) == sentence.entities


def test_token_tags_counts_cut_entities_and_never_moves_them():
    starts, ends = offsets((0, 3), (3, 5), (6, 8))  # "박씨의딸은 서울"
    sentence = Sentence("x", "박씨의딸은 서울", (Entity(0, 1, "PS"), Entity(3, 4, "PS"), Entity(6, 8, "LC")))
    tagged = nd.token_tags(sentence, starts, ends, KLUE_TAGS)
    # 박 ends inside the first token, which takes its tag; 딸 starts at a token but ends inside it.
    assert [KLUE_TAGS[i] for i in tagged.ids] == ["B-PS", "B-PS", "B-LC"]
    assert (tagged.cut, tagged.uncovered) == (2, 0)
    assert nd.decode_entities(tagged.ids, starts, ends, KLUE_TAGS) == (
        Entity(0, 3, "PS"), Entity(3, 5, "PS"), Entity(6, 8, "LC"))
    starting_inside = Sentence("y", "박씨의딸은 서울", (Entity(1, 5, "PS"),))
    tagged = nd.token_tags(starting_inside, starts, ends, KLUE_TAGS)
    assert [KLUE_TAGS[i] for i in tagged.ids] == ["O", "I-PS", "O"]
    assert tagged.cut == 1
    assert nd.decode_entities(tagged.ids, starts, ends, KLUE_TAGS) == ()  # strict: an I- after O opens nothing


def test_decode_drops_an_entity_that_overlaps_the_one_before():
    """Jamo tokens of one syllable share its span: two entities there would claim one character; the first is kept."""
    starts, ends = offsets((0, 1), (0, 1), (0, 1), (1, 2), (1, 2), (3, 4))  # "김 씨 서": ㄱ ㅣ ㅁ ㅆ ㅣ, 서
    ids = [KLUE_TAGS.index(tag) for tag in ("B-PS", "B-LC", "O", "B-PS", "B-OG", "B-LC")]
    assert nd.decode_entities(np.array(ids), starts, ends, KLUE_TAGS) == (
        Entity(0, 1, "PS"), Entity(1, 2, "PS"), Entity(3, 4, "LC"))
    ids = [KLUE_TAGS.index(tag) for tag in ("B-PS", "I-PS", "I-PS", "I-PS", "B-LC", "I-LC")]
    assert nd.decode_entities(np.array(ids), starts, ends, KLUE_TAGS) == (Entity(0, 2, "PS"),)


def test_decode_through_googles_jamo_vocab_gives_sorted_disjoint_spans():
    """Google's uncased vocab holds Hangul only as Jamo: any tags on its tokens decode to non-overlapping spans."""
    tokenizer = tokenization.FullTokenizer(google_uncased() / "vocab.txt", True, "wordpiece")
    text = "경찰은 박씨의 딸(32)과 서울시청 앞에서 10:30에 만났다."
    _, starts, ends = tokenizer.encode_with_offsets(text)
    assert tokenizer.jamo and len(set(zip(starts, ends, strict=True))) < len(starts)  # Jamo share their syllable
    rng = np.random.default_rng(5)
    for _ in range(500):
        entities = nd.decode_entities(rng.integers(len(KLUE_TAGS), size=len(starts)), starts, ends, KLUE_TAGS)
        assert all(0 <= e.start < e.end <= len(text) for e in entities), entities
        assert all(a.end <= b.start for a, b in itertools.pairwise(entities)), entities


def test_token_tags_counts_boundaries_no_token_covers():
    starts, ends = offsets((0, 1), (2, 4))  # "가 24살"
    sentence = Sentence("x", "가 24살", (Entity(1, 4, "QT"),))  # starts with the space, as two of KLUE's dev entities
    tagged = nd.token_tags(sentence, starts, ends, KLUE_TAGS)
    assert (tagged.cut, tagged.uncovered) == (0, 1)
    assert [KLUE_TAGS[i] for i in tagged.ids] == ["O", "I-QT"]


def test_token_tags_refuses_a_type_without_tags():
    with pytest.raises(ValueError, match="entity type 'XX' is not among the tags"):
        nd.token_tags(Sentence("x", "a", (Entity(0, 1, "XX"),)), *offsets((0, 1)), KLUE_TAGS)


# --- real data --------------------------------------------------------------------------------------------


@functools.cache
def _read_klue_dev() -> list[Sentence]:
    return nd.processors["klue-ner"].read(KLUE_DEV)


def klue_dev() -> list[Sentence]:
    """KLUE-NER's dev set, read once a session, or a pytest skip when ../shared/data lacks it."""
    if not KLUE_DEV.is_file():
        pytest.skip(f"{KLUE_DEV} not present")
    return _read_klue_dev()


def test_klue_dev_reads():
    sentences = klue_dev()
    assert len(sentences) == 5000
    assert sum(len(s.entities) for s in sentences) == 14257
    first = sentences[0]
    assert first.id == "klue-ner-v1_dev_00000-wikitree"
    assert [first.text[e.start:e.end] for e in first.entities[:3]] == ["경찰", "박", "32"]
    assert first.source == f"{KLUE_DEV}:6"


class RoundTrip(NamedTuple):
    cut: int  # entities cut inside a token
    unframed: int  # entities cut or with a boundary no token covers
    lost: int  # entities that token_tags -> decode_entities did not bring back


def round_trip(sentences, mode: str) -> RoundTrip:
    tokenizer = tokenization.FullTokenizer(KOWIKI_VOCAB, True, mode)
    cut = unframed = lost = 0
    for sentence in sentences:
        _, starts, ends = tokenizer.encode_with_offsets(sentence.text)
        tagged = nd.token_tags(sentence, starts, ends, KLUE_TAGS)
        decoded = nd.decode_entities(tagged.ids, starts, ends, KLUE_TAGS)
        cut += tagged.cut
        unframed += tagged.cut + tagged.uncovered
        lost += len(set(sentence.entities) - set(decoded))
    return RoundTrip(cut, unframed, lost)


def test_klue_dev_round_trip_through_mecab_tokens():
    sentences = klue_dev()[:500]
    result = round_trip(sentences, "mecab")
    assert result.lost == result.unframed  # every entity the tokens frame comes back exactly
    assert result.unframed <= 0.02 * sum(len(s.entities) for s in sentences)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "cut"), [("mecab", 137), ("wordpiece", 488)])
def test_klue_dev_round_trip_whole(mode, cut):
    result = round_trip(klue_dev(), mode)
    assert result.lost == result.unframed
    assert result.cut == cut  # the 99.04% (mecab) and 96.58% (wordpiece) of the 14,257 entities uncut
