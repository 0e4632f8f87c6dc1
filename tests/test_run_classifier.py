import json
import math
import random
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA

import modeling
import run_classifier
import tokenization
from mecab_bert.checkpoints import loading
from mecab_bert.runs import devices, run_folder
from mecab_bert.tasks import classification as rc
from mecab_bert.tasks import fine_tuning
from text_input import InputError

KORNLU = SHARED_DATA / "kornlu"
KLUE = SHARED_DATA / "klue"


def write_tsv(tmp_path, rows, name="data.tsv"):
    """A file of tab-joined rows (a str row is written as it is), one a line."""
    path = tmp_path / name
    path.write_text("".join((row if isinstance(row, str) else "\t".join(row)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


def read_error(processor, path, split="train") -> str:
    """The message of the InputError reading `path` raises; it must be one line."""
    with pytest.raises(InputError) as error:
        processor.read_examples(path, split)
    message = str(error.value)
    assert "\n" not in message
    return message


def texts_and_labels(examples):
    return [(e.text_a, e.text_b, e.label) for e in examples]


# --- reading each format -------------------------------------------------------------------------------


def test_kornli_reads_by_header_name(tmp_path):
    path = write_tsv(tmp_path, [("sentence1", "sentence2", "gold_label"), ("그가 왔다.", "그는 없다.", "contradiction"),
                                ('"따옴표" 그대로', "둘", "neutral")])
    examples = rc.processors["kornli"].read_examples(path, "dev")
    assert texts_and_labels(examples) == [("그가 왔다.", "그는 없다.", "contradiction"),
                                          ('"따옴표" 그대로', "둘", "neutral")]
    assert examples[0].guid == "dev-2"
    assert examples[1].source == f"{path}:3"


def test_korsts_reads_scores_as_floats(tmp_path):
    header = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    path = write_tsv(tmp_path, [header, ("main-captions", "MSRvid", "2012test", "0001", "5.000", "가", "나"),
                                ("main-news", "headlines", "2016", "0002", "0", "다", "라")])
    processor = rc.processors["korsts"]
    assert processor.is_regression
    assert texts_and_labels(processor.read_examples(path, "test")) == [("가", "나", 5.0), ("다", "라", 0.0)]


def test_nsmc_keeps_empty_reviews(tmp_path):
    write_tsv(tmp_path, [("id", "document", "label"), ("9976970", "아 더빙.. 진짜 짜증나네요", "0"),
                         ("10265843", "", "1")], name="ratings_test.txt")
    processor = rc.processors["nsmc"]
    # NSMC has no dev split: dev reads the test file.
    assert processor.file_path(tmp_path, "dev") == processor.file_path(tmp_path, "test")
    examples = processor.get_examples(tmp_path, "dev")
    assert texts_and_labels(examples) == [("아 더빙.. 진짜 짜증나네요", None, "0"), ("", None, "1")]


def xnli_row(language, label, sentence1, sentence2):
    """A row of XNLI's dev and test tables (16 columns)."""
    return (language, label, "", "", "", "", sentence1, sentence2, "1", "2", "genre", *[label] * 5)


def test_xnli_trains_on_mnli_and_keeps_one_language(tmp_path):
    (tmp_path / "multinli").mkdir()
    write_tsv(tmp_path, [("premise", "hypo", "label"), ("p1", "h1", "contradictory"), ("p2", "h2", "entailment")],
              name="multinli/multinli.train.zh.tsv")
    header = ("language", "gold_label", "s1b", "s2b", "s1p", "s2p", "sentence1", "sentence2", "promptID", "pairID",
              "genre", "label1", "label2", "label3", "label4", "label5")
    write_tsv(tmp_path, [header, xnli_row("en", "neutral", "a", "b"), xnli_row("zh", "neutral", "甲", "乙")],
              name="xnli.dev.tsv")
    processor = rc.processors["xnli"]
    assert texts_and_labels(processor.get_examples(tmp_path, "train")) == [("p1", "h1", "contradiction"),
                                                                          ("p2", "h2", "entailment")]
    assert texts_and_labels(processor.get_examples(tmp_path, "dev")) == [("甲", "乙", "neutral")]
    write_tsv(tmp_path, [header, xnli_row("en", "neutral", "a", "b")], name="xnli.test.tsv")
    message = read_error(processor, tmp_path / "xnli.test.tsv", "test")
    assert "no XNLI (zh) examples" in message and "1 rows" in message


def test_mnli_reads_google_positions_and_an_unlabeled_test_file(tmp_path):
    columns = ["index", "promptID", "pairID", "genre", "b1", "b2", "p1", "p2", "sentence1", "sentence2"]
    write_tsv(tmp_path, [[*columns, "label1", "gold_label"], ["0", "1", "2", "g", "", "", "", "", "a", "b", "neutral",
                                                              "entailment"]], name="train.tsv")
    write_tsv(tmp_path, [columns, ["0", "1", "2", "g", "", "", "", "", "c", "d"]], name="test_matched.tsv")
    processor = rc.processors["mnli"]
    assert texts_and_labels(processor.get_examples(tmp_path, "train")) == [("a", "b", "entailment")]
    assert texts_and_labels(processor.get_examples(tmp_path, "test")) == [("c", "d", None)]


def test_mrpc_and_cola_as_google_reads_them(tmp_path):
    write_tsv(tmp_path, [("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"), ("1", "7", "8", "a", "b")],
              name="train.tsv")
    write_tsv(tmp_path, [("index", "#1 ID", "#2 ID", "#1 String", "#2 String"), ("0", "7", "8", "c", "d")],
              name="test.tsv")
    assert texts_and_labels(rc.processors["mrpc"].get_examples(tmp_path, "train")) == [("a", "b", "1")]
    assert texts_and_labels(rc.processors["mrpc"].get_examples(tmp_path, "test")) == [("c", "d", None)]
    # CoLA's train and dev files have no header: line 1 is an example.
    cola_train = write_tsv(tmp_path, [("gj04", "1", "", "Our friends won't buy this."), ("gj04", "0", "*", "x y")])
    cola_test = write_tsv(tmp_path, [("index", "sentence"), ("0", "Bill whistled.")], name="cola_test.tsv")
    processor = rc.processors["cola"]
    assert texts_and_labels(processor.read_examples(cola_train, "dev")) == [("Our friends won't buy this.", None, "1"),
                                                                           ("x y", None, "0")]
    assert texts_and_labels(processor.read_examples(cola_test, "test")) == [("Bill whistled.", None, None)]


def test_blank_lines_and_crlf_are_no_examples(tmp_path):
    path = tmp_path / "crlf.tsv"
    path.write_bytes(b"sentence1\tsentence2\tgold_label\r\na\tb\tneutral\r\n\r\n\n")
    assert texts_and_labels(rc.processors["kornli"].read_examples(path, "train")) == [("a", "b", "neutral")]


def test_every_task_has_its_files_and_labels():
    assert set(rc.processors) == {"kornli", "korsts", "nsmc", "xnli", "mnli", "mrpc", "cola", "klue-sts", "klue-nli",
                                  "ynat"}
    for processor in rc.processors.values():
        assert processor.is_regression == (processor.score_range is not None)
        assert all(getattr(processor.files, split) for split in ("train", "dev", "test"))


# --- the real KorNLU files -----------------------------------------------------------------------------


def shared_file(name):
    path = KORNLU / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


@pytest.mark.parametrize(("split", "name", "count"), [("train", "sts-train.tsv", 5749), ("dev", "sts-dev.tsv", 1500),
                                                      ("test", "sts-test.tsv", 1379)])
def test_korsts_real_files(split, name, count):
    examples = rc.processors["korsts"].read_examples(shared_file(name), split)
    assert len(examples) == count
    assert all(0 <= e.label <= 5 and e.text_a and e.text_b for e in examples)


@pytest.mark.parametrize(("split", "name", "count"), [("dev", "xnli.dev.ko.tsv", 2490),
                                                      ("test", "xnli.test.ko.tsv", 5010)])
def test_kornli_real_files(split, name, count):
    examples = rc.processors["kornli"].read_examples(shared_file(name), split)
    assert len(examples) == count
    labels = [e.label for e in examples]
    assert {labels.count(label) for label in rc.NLI_LABELS} == {count // 3}  # balanced


# --- bad input: one line naming the file and line -------------------------------------------------------

KORNLI_HEADER = ("sentence1", "sentence2", "gold_label")
KORSTS_HEADER = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")


def sts_row(score):
    return ("g", "f", "2012", "0001", score, "가", "나")


@pytest.mark.parametrize(("rows", "line", "words"), [
    ([KORNLI_HEADER, ("a", "b", "neutral"), ("a", "b")], 3, ["2 tab-separated fields, expected 3"]),
    ([KORNLI_HEADER, ("a", "b", "neutral", "x")], 2, ["4 tab-separated fields, expected 3"]),
    ([KORNLI_HEADER, ("a", "b", "neutrall")], 2, ['unknown label "neutrall"', "contradiction, entailment, neutral"]),
    ([KORNLI_HEADER, ("a", "b", "")], 2, ['unknown label ""']),
    ([("premise", "hypothesis", "label"), ("a", "b", "neutral")], 1, ["not a KorNLI header", "gold_label"]),
    ([("a", "b", "neutral")], 1, ["not a KorNLI header", "sentence1 sentence2 gold_label"]),
])
def test_bad_kornli_rows(tmp_path, rows, line, words):
    path = write_tsv(tmp_path, rows)
    message = read_error(rc.processors["kornli"], path)
    assert message.startswith(f"{path}:{line}: ")
    assert all(word in message for word in words), message


@pytest.mark.parametrize(("score", "words"), [("abc", ['"abc" is not a number']), ("", ['"" is not a number']),
                                              ("nan", ['"nan" is not a number']), ("inf", ['"inf" is not a number']),
                                              ("5.5", ['"5.5" is outside [0, 5]']), ("-0.1", ["outside [0, 5]"]),
                                              # float() takes these; a score is plain ASCII decimal
                                              ("0_5", ['"0_5" is not a number']), ("１", ['"１" is not a number']),
                                              ("٣", ['"٣" is not a number']), (" 3", ['" 3" is not a number']),
                                              ("5.0000001", ['"5.0000001" is outside [0, 5]']),  # as written
                                              ("1e999", ['"1e999" is outside [0, 5]'])])
def test_bad_korsts_scores(tmp_path, score, words):
    path = write_tsv(tmp_path, [KORSTS_HEADER, sts_row("1.0"), sts_row(score)])
    message = read_error(rc.processors["korsts"], path)
    assert message.startswith(f"{path}:3: ")
    assert all(word in message for word in words), message


def test_a_labeled_format_needs_its_labels_in_the_test_file_too(tmp_path):
    path = write_tsv(tmp_path, [("id", "document"), ("1", "좋다")])
    message = read_error(rc.processors["nsmc"], path, "test")
    assert message.startswith(f"{path}:1: not a NSMC header") and "document label" in message


def test_google_formats_check_field_counts(tmp_path):
    too_narrow = write_tsv(tmp_path, [KORNLI_HEADER, ("a", "b", "neutral")])
    assert read_error(rc.processors["mnli"], too_narrow).startswith(f"{too_narrow}:1: 3 tab-separated fields; a MNLI "
                                                                   f"train file has at least 10")
    cola = write_tsv(tmp_path, [("gj04", "1", "", "a"), ("gj04", "1", "b")], name="cola.tsv")
    assert read_error(rc.processors["cola"], cola).startswith(f"{cola}:2: 3 tab-separated fields, expected 4 (as "
                                                             f"line 1)")


def test_empty_files_and_header_alone(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    assert read_error(rc.processors["kornli"], empty).startswith(f"{empty}: empty")
    blank = write_tsv(tmp_path, ["", ""], name="blank.tsv")
    assert read_error(rc.processors["cola"], blank).startswith(f"{blank}: empty")
    header = write_tsv(tmp_path, [KORNLI_HEADER], name="header.tsv")
    assert read_error(rc.processors["kornli"], header) == f"{header}: no KorNLI examples in it (a header alone)"


def test_bad_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"sentence1\tsentence2\tgold_label\na\tb\tneutral\n" + "é\tb\tneutral\n".encode("latin-1"))
    assert read_error(rc.processors["kornli"], path).startswith(f"{path}:3: not valid UTF-8")


def test_korsts_scores_are_plain_decimal_numbers(tmp_path):
    scores = ("0", "+1.5", ".5", "5.", "4E-1", "5.000")
    path = write_tsv(tmp_path, [KORSTS_HEADER, *map(sts_row, scores)])
    assert [e.label for e in rc.processors["korsts"].read_examples(path, "dev")] == [0, 1.5, 0.5, 5, 0.4, 5]


def test_a_lone_carriage_return_is_refused(tmp_path):
    # Old-Mac line endings: no LF at all, the whole file would be one line.
    old_mac = tmp_path / "old_mac.tsv"
    old_mac.write_bytes(b"sentence1\tsentence2\tgold_label\ra\tb\tneutral\r")
    assert read_error(rc.processors["kornli"], old_mac) == (f"{old_mac}:1: a carriage return inside the line: lines "
                                                            f"must end in LF or CRLF (convert the file's line endings, "
                                                            f"e.g. tr '\\r' '\\n')")
    inside = tmp_path / "inside.tsv"
    inside.write_bytes(b"sentence1\tsentence2\tgold_label\r\na\tb\tneutral\r\na\rb\tc\tneutral\r\n")
    assert read_error(rc.processors["kornli"], inside).startswith(f"{inside}:3: a carriage return inside the line")


GLUE_MNLI_TRAIN_HEADER = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                          "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label")
GLUE_MNLI_ROW = ("0", "1", "2", "fiction", "", "", "", "", "a", "b", "neutral", "neutral")
XNLI_HEADER = ("language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
               "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2", "label3",
               "label4", "label5")


@pytest.mark.parametrize(("task", "split", "rows", "words"), [
    # CoLA's dev file (no header) as its test file: line 1 would be dropped, the label digits read as sentences.
    ("cola", "test", [("gj04", "1", "", "a b"), ("gj04", "0", "*", "c")], ["sentence as column 2"]),
    # MNLI's train file read as MRPC's test file: the genre column would be text_a.
    ("mrpc", "test", [GLUE_MNLI_TRAIN_HEADER, GLUE_MNLI_ROW],
     ['#1 String as column 4, #2 String as column 5; found "genre", "sentence1_binary_parse"']),
    ("mrpc", "train", [("index", "#1 ID", "#2 ID", "#1 String", "#2 String"), ("0", "7", "8", "a", "b")],
     ["Quality as column 1"]),
    ("mnli", "dev", [XNLI_HEADER, xnli_row("zh", "neutral", "a", "b")], ["sentence1 as column 9",
                                                                         "gold_label as the last column"]),
    ("xnli", "train", [XNLI_HEADER, xnli_row("zh", "neutral", "a", "b")], ["premise as column 1", "label as column 3"]),
    ("xnli", "dev", [GLUE_MNLI_TRAIN_HEADER, GLUE_MNLI_ROW], ["language as column 1", "sentence2 as column 8"]),
])
def test_positional_formats_check_their_header(tmp_path, task, split, rows, words):
    path = write_tsv(tmp_path, rows)
    processor = rc.processors[task]
    message = read_error(processor, path, split)
    assert message.startswith(f"{path}:1: not a {processor.name} {split} file's header: expected "), message
    assert all(word in message for word in words), message


@pytest.mark.parametrize(("rows", "words"), [
    ([("index", "sentence"), ("0", "Bill whistled.")], ["1: 2 tab-separated fields; a CoLA train file has 4"]),
    ([("source", "label", "original", "sentence"), ("gj04", "1", "", "a")], ['1: unknown label "label"']),
    ([("gj04", "1", "", "a", "b")], ["1: 5 tab-separated fields; a CoLA train file has 4"]),
])
def test_a_header_where_cola_has_none(tmp_path, rows, words):
    path = write_tsv(tmp_path, rows)
    message = read_error(rc.processors["cola"], path)
    assert message.startswith(f"{path}:"), message
    assert all(word in message for word in [*words, "no header: line 1 is an example"]), message


# --- KLUE's JSON files ---------------------------------------------------------------------------------


def write_json(folder, value, name="data.json"):
    path = folder / name
    path.write_text(json.dumps(value, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def klue_sts_record(index, sentence1, sentence2, score):
    """A record as klue-sts-v1.1_*.json holds it (its annotations left out: nothing reads them)."""
    return {"guid": f"klue-sts-v1_dev_{index:05d}", "source": "airbnb-rtt", "sentence1": sentence1,
            "sentence2": sentence2, "labels": {"label": score, "real-label": score, "binary-label": int(score >= 3)}}


def klue_nli_record(index, premise, hypothesis, label):
    return {"guid": f"klue-nli-v1_dev_{index:05d}", "source": "airbnb", "premise": premise, "hypothesis": hypothesis,
            "gold_label": label, "author": label, **{f"label{k}": label for k in range(2, 6)}}


def ynat_record(index, title, label):
    return {"guid": f"ynat-v1_dev_{index:05d}", "title": title, "predefined_news_category": label, "label": label,
            "annotations": {"annotators": ["05", "03", "07"]}, "url": "https://news.naver.com/", "date": "2016.06.30."}


def test_klue_formats_read_json_records(tmp_path):
    write_json(tmp_path, [klue_sts_record(0, "가", "나", 4.9), klue_sts_record(1, "다", "라", 0)],
               name="klue-sts-v1.1_dev.json")
    write_json(tmp_path, [klue_nli_record(7, "그가 왔다.", "그는 없다.", "contradiction")],
               name="klue-nli-v1.1_train.json")
    write_json(tmp_path, [ynat_record(3, "유튜브 내달 2일까지 크리에이터 지원", "IT과학")], name="ynat-v1.1_dev.json")
    sts = rc.processors["klue-sts"]
    assert sts.is_regression
    examples = sts.get_examples(tmp_path, "dev")
    assert texts_and_labels(examples) == [("가", "나", 4.9), ("다", "라", 0.0)]
    assert examples[1].guid == "klue-sts-v1_dev_00001"  # KLUE's own
    assert examples[1].source == f"{tmp_path / 'klue-sts-v1.1_dev.json'}: [1]"
    # KLUE's test labels are held out: test is the dev file.
    assert texts_and_labels(sts.get_examples(tmp_path, "test")) == texts_and_labels(examples)
    assert texts_and_labels(rc.processors["klue-nli"].get_examples(tmp_path, "train")) == [
        ("그가 왔다.", "그는 없다.", "contradiction")]
    assert texts_and_labels(rc.processors["ynat"].get_examples(tmp_path, "test")) == [
        ("유튜브 내달 2일까지 크리에이터 지원", None, "IT과학")]


def klue_file(name):
    path = KLUE / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def test_klue_sts_real_dev_file():
    path = klue_file("klue-sts-v1.1_dev.json")
    examples = rc.processors["klue-sts"].read_examples(path, "dev")
    assert len(examples) == 519 and all(e.text_a and e.text_b for e in examples)
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [e.guid for e in examples] == [r["guid"] for r in records]
    # KLUE's binary-label is the F1's gold side: labels.label >= 3.
    assert [e.label >= 3 for e in examples] == [r["labels"]["binary-label"] == 1 for r in records]


def test_klue_nli_real_dev_file():
    examples = rc.processors["klue-nli"].read_examples(klue_file("klue-nli-v1.1_dev.json"), "dev")
    labels = [e.label for e in examples]
    assert len(examples) == 3000 and {labels.count(label) for label in rc.NLI_LABELS} == {1000}  # balanced


STS_GOOD = klue_sts_record(0, "가", "나", 3.2)


def sts_with(**changes):
    """A KLUE-STS record with fields replaced (a None value: the field removed)."""
    record = json.loads(json.dumps(STS_GOOD))
    for key, value in changes.items():
        *outer, last = key.split("__")
        inner = record
        for name in outer:
            inner = inner[name]
        if value is None:
            del inner[last]
        else:
            inner[last] = value
    return record


@pytest.mark.parametrize(("task", "content", "line"), [
    ("klue-sts", "sentence1\tsentence2\tscore\n", "not valid JSON (line 1 column 1: Expecting value)"),
    ("klue-sts", {"data": [STS_GOOD]}, "the top level must be an array of KLUE-STS records, not an object"),
    ("klue-sts", [], "no KLUE-STS examples in it (an empty array)"),
    ("klue-sts", [STS_GOOD, 7], "[1] must be an object, not 7"),
    ("klue-sts", [STS_GOOD, sts_with(guid=None)], "[1].guid is missing"),
    ("klue-sts", [STS_GOOD, sts_with(sentence2=None)], "[1].sentence2 is missing"),
    ("klue-sts", [STS_GOOD, sts_with(sentence1=["가"])], "[1].sentence1 must be a string, not an array"),
    ("klue-sts", [STS_GOOD, sts_with(labels=3.2)], "[1].labels must be an object, not 3.2"),
    ("klue-sts", [STS_GOOD, sts_with(labels__label=None)], "[1].labels.label is missing"),
    ("klue-sts", [STS_GOOD, sts_with(labels__label="3.2")], '[1].labels.label must be a number, not "3.2"'),
    ("klue-sts", [STS_GOOD, sts_with(labels__label=True)], "[1].labels.label must be a number, not true"),
    ("klue-sts", [STS_GOOD, sts_with(labels__label=5.5)], "[1].labels.label: the score 5.5 is outside [0, 5]"),
    ("klue-sts", [STS_GOOD, sts_with(labels__label=-1)], "[1].labels.label: the score -1 is outside [0, 5]"),
    ("klue-sts", '[{"guid": "g", "sentence1": "a", "sentence2": "b", "labels": {"label": NaN}}]',
     "[0].labels.label: the score NaN is outside [0, 5]"),  # Python's json reads NaN and Infinity
    ("klue-sts", '[{"guid": "g", "guid": "h"}]', 'key "guid" appears twice'),
    ("klue-nli", [klue_nli_record(0, "a", "b", "neutral"), klue_nli_record(1, "a", "b", "neutrall")],
     '[1].gold_label: unknown label "neutrall"; KLUE-NLI labels are contradiction, entailment, neutral'),
    ("klue-nli", [klue_nli_record(0, "a", "b", 1)], "[0].gold_label must be a string, not 1"),
    ("ynat", [ynat_record(0, "제목", "IT")], '[0].label: unknown label "IT"; YNAT labels are IT과학, 경제, 사회, '
                                           '생활문화, 세계, 스포츠, 정치'),
    ("ynat", [{"guid": "g", "label": "경제"}], "[0].title is missing"),
])
def test_bad_klue_records_are_one_line_naming_file_and_record(tmp_path, task, content, line):
    path = tmp_path / "data.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), encoding="utf-8")
    assert read_error(rc.processors[task], path) == f"{path}: {line}"


# --- features ------------------------------------------------------------------------------------------


@pytest.fixture
def tokenizer(write_vocab):
    # ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then a 5, b 6, c 7, d 8, e 9, f 10, g 11
    return tokenization.FullTokenizer(write_vocab(list("abcdefg")), tokenizer="wordpiece")


def example(text_a, text_b=None, label=None):
    return rc.InputExample("train-1", text_a, text_b, label, "data.tsv:1")


def test_pair_layout_segments_padding_and_labels(tokenizer):
    examples = [example("a b", "c", "neutral"), example("d", None, "entailment"), example("e", "f")]
    features = rc.convert_examples_to_features(examples, tokenizer, 7, rc.NLI_LABELS)
    np.testing.assert_array_equal(features.input_ids, [[2, 5, 6, 3, 7, 3, 0],   # [CLS] a b [SEP] c [SEP] [PAD]
                                                       [2, 8, 3, 0, 0, 0, 0],   # [CLS] d [SEP]
                                                       [2, 9, 3, 10, 3, 0, 0]])
    np.testing.assert_array_equal(features.token_type_ids, [[0, 0, 0, 0, 1, 1, 0], [0] * 7, [0, 0, 0, 1, 1, 0, 0]])
    np.testing.assert_array_equal(features.attention_mask, [[1] * 6 + [0], [1] * 3 + [0] * 4, [1] * 5 + [0] * 2])
    np.testing.assert_array_equal(features.labels, [2, 1, -1])  # neutral, entailment, unlabeled
    assert (features.input_ids.dtype, features.token_type_ids.dtype, features.attention_mask.dtype,
            features.labels.dtype) == (np.int32, np.int8, np.int8, np.int64)
    assert len(features) == 3
    assert features.stats == rc.ConversionStats(examples=3, truncated=0, empty=0)


def test_truncation_pops_from_the_longer_end(tokenizer):
    examples = [example("a b c d e", "f g"), example("a b c", "d e"), example("a b c d e f g"), example("a", "b")]
    features = rc.convert_examples_to_features(examples, tokenizer, 7, ("0", "1"))
    np.testing.assert_array_equal(features.input_ids, [[2, 5, 6, 3, 10, 11, 3],  # a lost c d e: 2 + 2 = 7 - 3
                                                       [2, 5, 6, 3, 8, 9, 3],   # a, the longer, lost c
                                                       [2, 5, 6, 7, 8, 9, 3],   # one sentence: 7 - 2 tokens
                                                       [2, 5, 3, 6, 3, 0, 0]])
    np.testing.assert_array_equal(features.token_type_ids[0], [0, 0, 0, 0, 1, 1, 1])
    assert features.stats.truncated == 3
    tie = rc.convert_examples_to_features([example("a b", "c d")], tokenizer, 6, ("0", "1"))
    np.testing.assert_array_equal(tie.input_ids, [[2, 5, 6, 3, 7, 3]])  # a tie loses from b first


def google_truncate_seq_pair(length_a, length_b, max_length):
    """The rule of Google's _truncate_seq_pair, popping one token at a time."""
    while length_a + length_b > max_length:
        if length_a > length_b:
            length_a -= 1
        else:
            length_b -= 1
    return length_a, length_b


def test_truncated_lengths_is_googles_rule():
    for length_a in range(12):
        for length_b in range(12):
            for max_length in range(20):
                assert rc.truncated_lengths(length_a, length_b, max_length) == \
                    google_truncate_seq_pair(length_a, length_b, max_length), (length_a, length_b, max_length)


def test_empty_texts_give_cls_sep(tokenizer):
    # An empty (NSMC) review, and a pair whose b gives no tokens: Google's single-sentence layout.
    features = rc.convert_examples_to_features([example("", None, "1"), example("a", "", "0"), example("a", " ")],
                                               tokenizer, 5, ("0", "1"))
    np.testing.assert_array_equal(features.input_ids, [[2, 3, 0, 0, 0], [2, 5, 3, 0, 0], [2, 5, 3, 0, 0]])
    assert not features.token_type_ids.any()
    assert features.stats == rc.ConversionStats(examples=3, truncated=0, empty=1)


def test_regression_labels_and_batches(tokenizer):
    features = rc.convert_examples_to_features([example("a", "b", 4.5), example("c", "d")], tokenizer, 6, ())
    assert features.labels.dtype == np.float32
    assert features.labels[0] == 4.5 and math.isnan(features.labels[1])
    batch = features.batch(np.array([0]), with_labels=True)
    assert {name: tensor.dtype for name, tensor in batch.items()} == {
        "input_ids": torch.int64, "token_type_ids": torch.int64, "attention_mask": torch.int64,
        "labels": torch.float32}
    assert batch["input_ids"].tolist() == [[2, 5, 3, 6, 3, 0]] and batch["labels"].tolist() == [4.5]
    assert set(features.batch(np.array([1, 0]), with_labels=False)) == {"input_ids", "token_type_ids",
                                                                        "attention_mask"}


def test_classification_batch_labels_are_long(tokenizer):
    features = rc.convert_examples_to_features([example("a", None, "1"), example("b", None, "0")], tokenizer, 4,
                                               ("0", "1"))
    labels = features.batch(np.array([1, 0]), with_labels=True)["labels"]
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1]


def test_feature_errors(tokenizer):
    with pytest.raises(InputError, match=r"data\.tsv:1: unknown label"):
        rc.convert_examples_to_features([example("a", None, "2")], tokenizer, 8, ("0", "1"))
    with pytest.raises(InputError, match="--max_seq_length 2"):
        rc.convert_examples_to_features([example("a")], tokenizer, 2, ("0", "1"))


# --- metrics -------------------------------------------------------------------------------------------


def test_classification_metrics_equal_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for classes, size in [(2, 50), (2, 7), (3, 200), (5, 31)]:
        labels, predictions = rng.integers(0, classes, size), rng.integers(0, classes, size)
        assert rc.accuracy(predictions, labels) == pytest.approx(metrics.accuracy_score(labels, predictions))
        assert rc.matthews_corrcoef(predictions, labels) == pytest.approx(
            metrics.matthews_corrcoef(labels, predictions))
        if classes == 2:
            assert rc.f1(predictions, labels) == pytest.approx(metrics.f1_score(labels, predictions))


def test_correlations_equal_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for size in (2, 3, 10, 500):
        labels = rng.integers(0, 6, size).astype(np.float32)  # many ties, as KorSTS's 0.2 steps
        predictions = np.round(labels + rng.normal(0, 1.5, size), 1)
        assert rc.pearson(predictions, labels) == pytest.approx(stats.pearsonr(predictions, labels)[0])
        assert rc.spearman(predictions, labels) == pytest.approx(stats.spearmanr(predictions, labels)[0])
    np.testing.assert_array_equal(rc._average_ranks(np.array([10, 20, 20, 5])), [2, 3.5, 3.5, 1])


def test_degenerate_inputs_give_defined_values():
    constant, labels = np.full(6, 2.5), np.arange(6.0)
    assert rc.pearson(constant, labels) == 0.0 and rc.spearman(constant, labels) == 0.0
    assert rc.pearson(np.full(3, 0.1), np.array([0.1, 0.2, 0.3])) == 0.0  # no rounding noise read as a signal
    assert rc.pearson(np.array([1.0]), np.array([2.0])) == 0.0
    ones = np.ones(4, dtype=np.int64)
    assert rc.matthews_corrcoef(ones, np.array([0, 1, 0, 1])) == 0.0
    assert rc.f1(np.zeros(4), np.zeros(4)) == 0.0 and rc.accuracy(np.zeros(4), np.zeros(4)) == 1.0


def test_klue_metrics_equal_scipy_and_sklearn():
    """KLUE's baseline scores: scipy's pearsonr x 100 and sklearn's f1_score of (score >= 3) x 100 for KLUE-STS,
    sklearn's f1_score(average="macro") x 100 for YNAT."""
    stats, metrics = pytest.importorskip("scipy.stats"), pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    for size in (4, 40, 519):
        labels = np.round(rng.uniform(0, 5, size), 1).astype(np.float32)
        predictions = (labels + rng.normal(0, 1.2, size)).astype(np.float32)
        scores = rc.task_metrics(rc.processors["klue-sts"], predictions, labels)
        assert scores["pearson"] == pytest.approx(100 * stats.pearsonr(predictions, labels)[0])
        assert scores["spearman"] == pytest.approx(100 * stats.spearmanr(predictions, labels)[0])
        assert scores["binary_f1"] == pytest.approx(100 * metrics.f1_score(labels >= 3, predictions >= 3,
                                                                           zero_division=0))
    for classes, size in [(7, 300), (7, 5), (3, 20)]:  # 5 rows: classes absent from both sides do not count
        labels, predictions = rng.integers(0, classes, size), rng.integers(0, classes, size)
        assert rc.task_metrics(rc.processors["ynat"], predictions, labels) == pytest.approx(
            {"accuracy": metrics.accuracy_score(labels, predictions),
             "macro_f1": 100 * metrics.f1_score(labels, predictions, average="macro", zero_division=0)})
    assert set(rc.task_metrics(rc.processors["klue-nli"], np.array([0, 2]), np.array([0, 1]))) == {"accuracy"}
    # Below 3 everywhere: no positive on either side, F1 0 (sklearn's zero_division=0).
    assert rc.task_metrics(rc.processors["klue-sts"], np.array([1.0, 2.0]), np.array([0.5, 2.9]))["binary_f1"] == 0


def test_task_metrics():
    predictions, labels = np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1])
    assert set(rc.task_metrics(rc.processors["kornli"], predictions, labels)) == {"accuracy"}
    assert rc.task_metrics(rc.processors["nsmc"], predictions, labels) == {"accuracy": 0.75, "f1": 0.8}
    assert set(rc.task_metrics(rc.processors["cola"], predictions, labels)) == {"accuracy", "f1", "mcc"}
    scores = rc.task_metrics(rc.processors["korsts"], np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    assert scores["spearman"] == pytest.approx(100.0) and 90 < scores["pearson"] < 100
    assert scores["mse"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="1 of 2 examples have no label"):
        rc.task_metrics(rc.processors["nsmc"], np.array([0, 1]), np.array([0, -1]))


# --- the run, end to end through the command ------------------------------------------------------------

SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
WORDS = ("나는", "학교에", "갔다", "그는", "집에서", "밥을", "먹었다", "오늘", "날씨가", "좋다", "영화가", "재미있다",
         "사람들이", "많이", "왔다")
TRAIN_ROWS, DEV_ROWS, TEST_ROWS = 24, 12, 9
TRAIN_STEPS = 6  # 24 train rows x --num_train_epochs 2 / --train_batch_size 8
MAX_SEQ_LENGTH = 32
TRAIN_EVAL_PREDICT = ("--do_train", "--do_eval", "--do_predict")
CPU = devices.Runtime(torch.device("cpu"), "fp32", devices.Distributed(), progress=False)


def sentence_pair(rng: random.Random) -> tuple[str, str]:
    return tuple(" ".join(rng.choices(WORDS, k=rng.randint(2, 7))) for _ in range(2))


def kornli_rows(rng: random.Random, count: int) -> list[tuple[str, ...]]:
    return [KORNLI_HEADER, *((*sentence_pair(rng), rc.NLI_LABELS[i % 3]) for i in range(count))]


def klue_sts_records(rng: random.Random, count: int) -> list[dict]:
    return [klue_sts_record(i, *sentence_pair(rng), round(rng.uniform(0, 5), 1)) for i in range(count)]


def klue_nli_records(rng: random.Random, count: int) -> list[dict]:
    return [klue_nli_record(i, *sentence_pair(rng), rc.NLI_LABELS[i % 3]) for i in range(count)]


def korsts_rows(rng: random.Random, count: int) -> list[tuple[str, ...]]:
    return [KORSTS_HEADER, *(("main-news", "headlines", "2016", f"{i:04d}", f"{rng.uniform(0, 5):.2f}",
                              *sentence_pair(rng)) for i in range(count))]


class Inputs(NamedTuple):
    """What every run of the module reads: KorNLI's, KorSTS's, KLUE-NLI's and KLUE-STS's files in data_dir (default
    names), a tiny model."""

    data_dir: Path
    config_file: Path

    def args(self, task: str, output_dir: Path, *extra) -> list[str]:
        """The command line of a run on data_dir (a later --data_dir in `extra` wins: click keeps the last)."""
        return ["--task_name", task, "--data_dir", str(self.data_dir), "--vocab_file", str(SAMPLE_VOCAB),
                "--bert_config_file", str(self.config_file), "--output_dir", str(output_dir), "--max_seq_length",
                str(MAX_SEQ_LENGTH), "--train_batch_size", "8", "--learning_rate", "1e-2", "--num_train_epochs", "2",
                "--device", "cpu", *map(str, extra)]


def without(args: list[str], name: str) -> list[str]:
    """args less the flag `name` and its value."""
    at = args.index(name)
    return args[:at] + args[at + 2:]


def invoke(args: list[str]):
    return CliRunner().invoke(run_classifier.main, args)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    data_dir = tmp_path_factory.mktemp("kornlu")
    rng = random.Random(0)
    for task, make_rows in (("kornli", kornli_rows), ("korsts", korsts_rows)):
        files = rc.processors[task].files
        for name, count in ((files.train, TRAIN_ROWS), (files.dev, DEV_ROWS), (files.test, TEST_ROWS)):
            write_tsv(data_dir, make_rows(rng, count), name=name)
    for task, make_records in (("klue-nli", klue_nli_records), ("klue-sts", klue_sts_records)):
        files = rc.processors[task].files  # test: the dev file
        for name, count in ((files.train, TRAIN_ROWS), (files.dev, DEV_ROWS)):
            write_json(data_dir, make_records(rng, count), name=name)
    config_file = tmp_path_factory.mktemp("model") / "tiny.json"
    # A wide initializer_range, so that 6 steps on random rows leave a model that tells examples apart: with one
    # constant prediction the metric checks below would hold for almost any checkpoint.
    config_file.write_text(json.dumps({"vocab_size": 4000, "hidden_size": 16, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "intermediate_size": 32,
                                       "max_position_embeddings": 64, "initializer_range": 0.5}))
    return Inputs(data_dir, config_file)


class TrainedRun(NamedTuple):
    output_dir: Path
    stdout: str  # the eval results as JSON


@pytest.fixture(scope="module")
def trained(tmp_path_factory, inputs):
    """task -> its --do_train --do_eval --do_predict run, made once for the module: copy its folder to change it."""
    runs: dict[str, TrainedRun] = {}

    def get(task: str) -> TrainedRun:
        if task not in runs:
            output_dir = tmp_path_factory.mktemp(task) / "out"
            result = invoke(inputs.args(task, output_dir, *TRAIN_EVAL_PREDICT))
            assert result.exit_code == 0, result.output
            runs[task] = TrainedRun(output_dir, result.stdout)
        return runs[task]

    return get


@pytest.fixture(scope="module")
def sample_tokenizer():
    return tokenization.FullTokenizer(SAMPLE_VOCAB)  # the command's defaults: MeCab, lower case


def split_features(tokenizer, inputs: Inputs, task: str, split: rc.Split) -> rc.ClassifierFeatures:
    """The features a run reads from a split's file in data_dir."""
    processor = rc.processors[task]
    examples = processor.get_examples(inputs.data_dir, split)
    return rc.convert_examples_to_features(examples, tokenizer, MAX_SEQ_LENGTH, processor.labels)


def fine_tuned_logits(output_dir: Path, task: str, data: rc.ClassifierFeatures) -> np.ndarray:
    """float32 [N, num_labels]: the logits of the newest checkpoint of a run, loaded afresh, on `data`."""
    processor = rc.processors[task]
    model = modeling.BertForSequenceClassification(modeling.BertConfig.from_json_file(output_dir / "bert_config.json"),
                                                   num_labels=len(processor.labels) or 1, label_names=processor.labels)
    assert not loading.load_pretrained(model, loading.checkpoints(output_dir)[-1]).initialized  # the head too
    return fine_tuning.predict(model, data, 8, CPU).logits


def recomputed_eval_results(task: str, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """eval_results.json without global_step: the loss by torch's own functions, the metrics by task_metrics."""
    processor = rc.processors[task]
    if processor.is_regression:
        loss, predictions = F.mse_loss(torch.from_numpy(logits[:, 0]), torch.from_numpy(labels)), logits[:, 0]
    else:
        loss, predictions = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)), logits.argmax(-1)
    metrics = rc.task_metrics(processor, predictions, labels)
    return {"eval_loss": float(loss), **{f"eval_{key}": value for key, value in metrics.items()}}


def read_eval_results_txt(path: Path) -> dict[str, str]:
    """Google's eval_results.txt: "key = value" lines, sorted by key."""
    pairs = [line.split(" = ") for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(len(pair) == 2 for pair in pairs), pairs
    assert [key for key, _ in pairs] == sorted(key for key, _ in pairs)
    return dict(pairs)


def read_test_results(path: Path) -> np.ndarray:
    """float64 [N, columns]: test_results.tsv, one tab-separated line per example."""
    return np.array([[float(value) for value in line.split("\t")]
                     for line in path.read_text(encoding="utf-8").splitlines()])


def eval_results(output_dir: Path) -> dict[str, float]:
    return json.loads((output_dir / "eval_results.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", ["korsts", "kornli", "klue-sts", "klue-nli"])
def test_train_eval_predict_writes_what_the_checkpoint_predicts(task, trained, inputs, sample_tokenizer):
    run = trained(task)
    out, processor = run.output_dir, rc.processors[task]
    assert [path.name for path in loading.checkpoints(out)] == [f"ckpt-{TRAIN_STEPS:08d}.pt"]
    dev = split_features(sample_tokenizer, inputs, task, "dev")
    expected = recomputed_eval_results(task, fine_tuned_logits(out, task, dev), dev.labels)
    results = eval_results(out)
    assert results.pop("global_step") == TRAIN_STEPS
    assert results == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert json.loads(run.stdout) == results
    text = read_eval_results_txt(out / "eval_results.txt")
    assert text.pop("global_step") == str(TRAIN_STEPS)
    assert {key: float(value) for key, value in text.items()} == pytest.approx(expected, abs=5e-7)
    logits = fine_tuned_logits(out, task, split_features(sample_tokenizer, inputs, task, "test"))
    rows = read_test_results(out / "test_results.tsv")
    test_rows = DEV_ROWS if processor.files.test == processor.files.dev else TEST_ROWS  # KLUE: test is dev
    assert rows.shape == (test_rows, len(processor.labels) or 1)
    if processor.is_regression:
        assert np.ptp(rows) > 0.1  # scores that differ
        np.testing.assert_allclose(rows, logits, atol=5e-7)  # the score itself
    else:
        assert len(set(rows.argmax(-1))) > 1  # classes that differ
        np.testing.assert_allclose(rows.sum(-1), 1, atol=1e-5)
        np.testing.assert_allclose(rows, torch.softmax(torch.from_numpy(logits), -1).numpy(), atol=5e-7)


def test_files_instead_of_data_dir(tmp_path, trained, inputs):
    files, flags = rc.processors["kornli"].files, []
    for name, split_flag in ((files.train, "--train_file"), (files.dev, "--eval_file"), (files.test, "--predict_file")):
        renamed = tmp_path / f"renamed-{name}"
        shutil.copyfile(inputs.data_dir / name, renamed)
        flags += [split_flag, renamed]
    out = tmp_path / "out"
    result = invoke(without(inputs.args("kornli", out, *TRAIN_EVAL_PREDICT, *flags), "--data_dir"))
    assert result.exit_code == 0, result.output
    assert f"train: {tmp_path / ('renamed-' + files.train)}: {TRAIN_ROWS} examples" in result.output
    reference = trained("kornli").output_dir  # the same files under their default names
    for name in ("eval_results.json", "test_results.tsv"):
        assert (out / name).read_text() == (reference / name).read_text()


@pytest.mark.parametrize(("action", "file_flag"), [("--do_train", "--train_file"), ("--do_eval", "--eval_file"),
                                                   ("--do_predict", "--predict_file")])
def test_no_file_and_no_data_dir_is_one_line(tmp_path, inputs, action, file_flag):
    out = tmp_path / "out"
    assert_one_line_error(invoke(without(inputs.args("kornli", out, action), "--data_dir")), file_flag, "--data_dir")
    assert not out.exists()


def test_eval_alone_uses_the_fine_tuned_checkpoint_of_the_same_task(tmp_path, trained, inputs):
    out = tmp_path / "out"
    shutil.copytree(trained("kornli").output_dir, out)
    after_training = eval_results(out)
    for name in rc.ClassifierFineTuning.outputs:
        (out / name).unlink()
    result = invoke(inputs.args("kornli", out, "--do_eval"))
    assert result.exit_code == 0, result.output
    assert f"model: the fine-tuned {out / f'ckpt-{TRAIN_STEPS:08d}.pt'}" in result.output
    assert eval_results(out) == after_training  # global_step too
    assert not (out / "test_results.tsv").exists()
    before = snapshot(out)
    refused = invoke(inputs.args("korsts", out, "--do_eval"))
    assert_one_line_error(refused, str(out), "task_name", "labels")
    assert snapshot(out) == before


def test_a_second_train_resumes_or_refuses_other_flags(tmp_path, trained, inputs):
    out = tmp_path / "out"
    shutil.copytree(trained("korsts").output_dir, out)
    args, before = inputs.args("korsts", out, *TRAIN_EVAL_PREDICT), snapshot(out)
    again = invoke(args)
    assert again.exit_code == 0, again.output
    assert f"Nothing to train: {out} is at step {TRAIN_STEPS} of {TRAIN_STEPS}." in again.output
    assert snapshot(out) == before
    refused = invoke([*args, "--learning_rate", "2e-3"])
    assert_one_line_error(refused, str(out), "learning_rate", "--overwrite_output_dir")
    assert snapshot(out) == before
    fresh = invoke([*args, "--learning_rate", "2e-3", "--overwrite_output_dir"])
    assert fresh.exit_code == 0, fresh.output
    assert f"Trained {TRAIN_STEPS} steps (0 -> {TRAIN_STEPS} of {TRAIN_STEPS})" in fresh.output
    assert json.loads((out / run_folder.RUN_FILE).read_text())["learning_rate"] == 2e-3
    checkpoint = f"ckpt-{TRAIN_STEPS:08d}.pt"
    assert snapshot(out)[checkpoint] != before[checkpoint]
    assert not (out / run_folder.PREVIOUS_RUN).exists()


@pytest.mark.parametrize(("task", "problem_type"), [("korsts", "regression"),
                                                    ("kornli", "single_label_classification")])
def test_export_hf_predicts_as_the_run(tmp_path, inputs, sample_tokenizer, task, problem_type):
    transformers = pytest.importorskip("transformers")
    out, export = tmp_path / "out", tmp_path / "hf"
    result = invoke(inputs.args(task, out, "--do_train", "--do_eval", "--export_hf", export))
    assert result.exit_code == 0, result.output
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(export).eval()
    labels = rc.processors[task].labels or modeling.default_label_names(1)
    assert (hf.config.id2label, hf.config.problem_type) == (dict(enumerate(labels)), problem_type)
    dev = split_features(sample_tokenizer, inputs, task, "dev")
    with torch.no_grad():
        hf_logits = hf(**dev.batch(np.arange(len(dev)), with_labels=False)).logits.numpy()
    np.testing.assert_allclose(hf_logits, fine_tuned_logits(out, task, dev), atol=1e-5)
    # Its tokenizer, through AutoTokenizer, makes the run's own pairs.
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(export, trust_remote_code=True)
    examples = rc.processors[task].get_examples(inputs.data_dir, "dev")
    pairs = hf_tokenizer([e.text_a for e in examples], [e.text_b for e in examples], truncation=True,
                         max_length=MAX_SEQ_LENGTH, padding="max_length", return_tensors="np")
    np.testing.assert_array_equal(pairs["input_ids"], dev.input_ids)
    np.testing.assert_array_equal(pairs["token_type_ids"], dev.token_type_ids)
    # The export as --init_checkpoint of a fresh evaluation: the same model, the same results (at step 0).
    again = tmp_path / "again"
    evaluated = invoke(inputs.args(task, again, "--do_eval", "--init_checkpoint", export))
    assert evaluated.exit_code == 0, evaluated.output
    original, from_export = eval_results(out), eval_results(again)
    assert (original.pop("global_step"), from_export.pop("global_step")) == (TRAIN_STEPS, 0)
    assert from_export == pytest.approx(original, rel=1e-6)


@pytest.mark.parametrize("mode", ["mecab", "wordpiece"])
def test_a_pair_classifier_export_reproduces_test_results_as_transformers_users_call_it(tmp_path, inputs, mode):
    """AutoTokenizer + AutoModelForSequenceClassification on the export, `model(**tokenizer(a, b))` one pair at a
    time: the probabilities of test_results.tsv, in both modes (sentence B's token_type_ids reach the model)."""
    transformers = pytest.importorskip("transformers")
    rng, columns = random.Random(2), ("#1 ID", "#2 ID", "#1 String", "#2 String")
    write_tsv(tmp_path, [("Quality", *columns), *((str(i % 2), "1", "2", *sentence_pair(rng)) for i in range(16))],
              name="train.tsv")
    test_rows = [sentence_pair(rng) for _ in range(12)]
    write_tsv(tmp_path, [("index", *columns), *((str(i), "1", "2", *pair) for i, pair in enumerate(test_rows))],
              name="test.tsv")
    out, export = tmp_path / "out", tmp_path / "hf"
    result = invoke(inputs.args("MRPC", out, "--do_train", "--do_predict", "--data_dir", tmp_path, "--tokenizer", mode,
                                "--export_hf", export))
    assert result.exit_code == 0, result.output
    expected = read_test_results(out / "test_results.tsv")
    tokenizer = transformers.AutoTokenizer.from_pretrained(export, trust_remote_code=mode == "mecab")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(export).eval()
    with torch.no_grad():
        got = np.stack([torch.softmax(model(**tokenizer(a, b, return_tensors="pt")).logits[0], -1).numpy()
                        for a, b in test_rows])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert tokenizer(*test_rows[0])["token_type_ids"].count(1) > 1


@pytest.mark.parametrize(("task", "split", "bad_row", "words"), [
    ("kornli", "train", ("가", "나"), "2 tab-separated fields, expected 3"),
    ("kornli", "dev", ("가", "나", "neutrall"), 'unknown label "neutrall"'),
    ("korsts", "test", ("g", "f", "2012", "0001", "높음", "가", "나"), '"높음" is not a number'),
])
def test_a_bad_row_is_one_line_before_the_run_folder_exists(tmp_path, inputs, task, split, bad_row, words):
    data_dir = tmp_path / "data"
    shutil.copytree(inputs.data_dir, data_dir)
    path = Path(rc.processors[task].file_path(data_dir, split))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines[:2], "\t".join(bad_row) + "\n", *lines[2:]]), encoding="utf-8")  # line 3
    out = tmp_path / "out"
    assert_one_line_error(invoke(inputs.args(task, out, *TRAIN_EVAL_PREDICT, "--data_dir", data_dir)), f"{path}:3:",
                          words)
    assert not out.exists()


def test_a_bad_klue_record_is_one_line_before_the_run_folder_exists(tmp_path, inputs):
    data_dir = tmp_path / "data"
    shutil.copytree(inputs.data_dir, data_dir)
    path = Path(rc.processors["klue-nli"].file_path(data_dir, "dev"))
    records = json.loads(path.read_text(encoding="utf-8"))
    records[4]["gold_label"] = "모름"
    write_json(data_dir, records, name=path.name)
    out = tmp_path / "out"
    assert_one_line_error(invoke(inputs.args("KLUE-NLI", out, *TRAIN_EVAL_PREDICT, "--data_dir", data_dir)),
                          f"{path}: [4].gold_label: unknown label \"모름\"")
    assert not out.exists()


def test_predict_on_an_unlabeled_test_file(tmp_path, inputs):
    rng, columns = random.Random(1), ("#1 ID", "#2 ID", "#1 String", "#2 String")
    write_tsv(tmp_path, [("Quality", *columns), *((str(i % 2), "1", "2", *sentence_pair(rng)) for i in range(16))],
              name="train.tsv")
    write_tsv(tmp_path, [("index", *columns), *((str(i), "1", "2", *sentence_pair(rng)) for i in range(5))],
              name="test.tsv")  # GLUE's MRPC test file: no Quality column
    out = tmp_path / "out"
    result = invoke(inputs.args("mrpc", out, "--do_train", "--do_predict", "--data_dir", tmp_path))
    assert result.exit_code == 0, result.output
    rows = read_test_results(out / "test_results.tsv")
    assert rows.shape == (5, 2)
    np.testing.assert_allclose(rows.sum(-1), 1, atol=1e-5)
    assert not (out / "eval_results.json").exists()


def test_a_missing_task_name_is_one_line(tmp_path, inputs):
    out = tmp_path / "out"
    assert_one_line_error(invoke(without(inputs.args("kornli", out, "--do_train"), "--task_name")), "--task_name")
    assert not out.exists()


# --- what a fine-tuning run may start from -------------------------------------------------------------------------


def write_pretraining_checkpoint(folder: Path, config_file: Path) -> Path:
    """A run_pretraining-style folder: a checkpoint of BertForPreTraining and bert_config.json beside it."""
    folder.mkdir()
    config = modeling.BertConfig.from_json_file(config_file)
    torch.save({"model": modeling.BertForPreTraining(config).state_dict(), "step": 3}, folder / "ckpt-00000003.pt")
    (folder / "bert_config.json").write_text(config.to_json_string(), encoding="utf-8")
    return folder


def test_export_without_training_needs_a_fine_tuned_head(tmp_path, inputs):
    pretrain = write_pretraining_checkpoint(tmp_path / "pretrain", inputs.config_file)
    args = without(inputs.args("kornli", tmp_path / "out", "--init_checkpoint", pretrain, "--export_hf",
                               tmp_path / "hf"), "--bert_config_file")
    assert_one_line_error(invoke(args), "--export_hf without --do_train", "classifier.weight")
    assert not (tmp_path / "hf").exists() and not (tmp_path / "out").exists()
    # Evaluating it is allowed (an untrained head's baseline), and says so.
    result = invoke([*without(args, "--export_hf"), "--do_eval"])
    assert result.exit_code == 0, result.output
    assert "warning: nothing fine-tuned classifier.weight" in result.output


def test_a_classifier_of_another_task_does_not_start_this_one(tmp_path, inputs):
    """NSMC's and MRPC's labels are both 0/1: the shapes fit, the meanings do not."""
    nsmc, mrpc = tmp_path / "nsmc", tmp_path / "mrpc"
    nsmc.mkdir()
    mrpc.mkdir()
    reviews = ["id\tdocument\tlabel"] + [f"{i}\t영화가 {'좋다' if i % 2 else '별로다'}\t{i % 2}" for i in range(16)]
    (nsmc / "ratings_train.txt").write_text("\n".join(reviews) + "\n", encoding="utf-8")
    pairs = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"] + [f"{i % 2}\t{i}\t{i}\t영화가 좋다\t영화가 좋다"
                                                                 for i in range(16)]
    (mrpc / "train.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    first = invoke(inputs.args("nsmc", tmp_path / "nsmc_out", "--data_dir", nsmc, "--do_train"))
    assert first.exit_code == 0, first.output
    result = invoke(without(inputs.args("mrpc", tmp_path / "mrpc_out", "--data_dir", mrpc, "--do_train",
                                        "--init_checkpoint", tmp_path / "nsmc_out"), "--bert_config_file"))
    assert_one_line_error(result, "--init_checkpoint", 'task_name "nsmc"', '"mrpc"')
    assert not (tmp_path / "mrpc_out").exists()


def test_task_name_in_any_case_as_google_lower_cases_it(tmp_path, trained, inputs):
    """Google's README: --task_name=MRPC. The run records the table's key, so a run made as kornli continues as
    KorNLI (a task recorded otherwise would be refused as another task's)."""
    context = run_classifier.main.make_context("run_classifier.py", ["--task_name=MRPC", "--output_dir", "x"])
    assert context.params["task_name"] == "mrpc"
    out = tmp_path / "out"
    shutil.copytree(trained("kornli").output_dir, out)
    result = invoke(inputs.args("KorNLI", out, "--do_eval"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["task_name"] == "kornli"
    assert_one_line_error(invoke(inputs.args("MRPX", out, "--do_eval")), "--task_name", "MRPX")
