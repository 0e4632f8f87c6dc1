import math

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

import run_classifier as rc
import tokenization
from script_utils import InputError

KORNLU = SHARED_DATA / "kornlu"


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
    assert set(rc.processors) == {"kornli", "korsts", "nsmc", "xnli", "mnli", "mrpc", "cola"}
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
                                              ("nan", ["not a finite number"]), ("inf", ["not a finite number"]),
                                              ("5.5", ["5.5 is outside [0, 5]"]), ("-0.1", ["outside [0, 5]"])])
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
                                                                   f"file has at least 10")
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
