# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_classifier.py's task: Google's `DataProcessor`s (a new data set is one subclass and one entry in
`processors`), features of one or two sentences, the metrics, and the fine-tuning script's part of the run.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import click
import numpy as np
import torch
from torch import Tensor, nn

import modeling
import tokenization
from mecab_bert.cli import flag
from mecab_bert.files import file_sha256, shown, write_text
from mecab_bert.json_fields import Place, describe_json, field, load_json
from mecab_bert.runs import batching, devices, loop, skeleton
from mecab_bert.tasks import fine_tuning
from text_input import InputError, read_utf8_lines

Split = Literal["train", "dev", "test"]


@dataclass(frozen=True)
class InputExample:
    """One sentence or sentence pair and its label, as read from a data file."""

    guid: str  # "<split>-<line>"
    text_a: str
    text_b: str | None  # None: a single-sentence task
    label: str | float | None  # a label, a score (regression), or None: a row of an unlabeled test file
    source: str  # "path:line", for messages about this example


@dataclass(frozen=True)
class DataFiles:
    """A format's file names inside --data_dir (Google's get_train/dev/test_examples)."""

    train: str
    dev: str
    test: str


class At(NamedTuple):
    """A column Google's GLUE reader takes by position, and the name the file's header gives it there."""

    position: int  # 0-based, or -1: the last field (Google's `line[-1]`)
    name: str

    def describe(self) -> str:
        return f"{self.name} as " + (f"column {self.position + 1}" if self.position >= 0 else "the last column")


Column = str | At | int


@dataclass(frozen=True)
class Columns:
    """Where a file keeps an example's fields: all by name (str), by Google's position (At) or by bare position (int).
    str: line 1 is a header that holds each named column. At: Google's GLUE readers, whose line 1 is a header they skip
    unread (`if i == 0: continue`); it must give each column read its GLUE name, or another file (CoLA's dev file as its
    test file, MNLI's as MRPC's) would be read by position silently. int (0-based): a file without a header (CoLA's
    train and dev files): line 1 is an example, and a row has exactly the fields up to the last position read, all there
    is to tell the file from another. label None: the file has no labels (GLUE's tests). A JSON format
    (JsonListProcessor) names each record's keys, "labels.label" a key inside an object."""

    text_a: Column
    text_b: Column | None = None
    label: Column | None = None
    checked: tuple[At, ...] = ()  # more header columns the format reads (XNLI's language, which `keep` reads)

    @property
    def header(self) -> bool:
        return not isinstance(self.text_a, int)

    def used(self) -> list[Column]:
        return [column for column in (self.text_a, self.text_b, self.label) if column is not None]


class _Row(NamedTuple):
    number: int  # 1-based line number
    fields: list[str]


class _Positions(NamedTuple):
    """Columns resolved against a file's first line: indices into a row of `width` fields."""

    text_a: int
    text_b: int | None
    label: int | None
    width: int


def _tsv_rows(path: str) -> Iterator[_Row]:
    """The lines of a TSV file split at every tab: no quoting, so a `"` is text (Google's quotechar=None). Blank lines
    are skipped: an editor's trailing one is no example (Google's reader fails on them). A CR inside a line is refused
    (read_utf8_lines)."""
    for number, line in enumerate(read_utf8_lines(path), start=1):
        if line:
            yield _Row(number, line.split("\t"))


# A score: plain ASCII decimal. float() takes more ("0_5", full-width and Arabic-Indic digits, " 3", "nan", "inf"),
# none of which a data file means as a score.
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class DataProcessor:
    """A data format: its files, labels and columns; reads a file of it into checked InputExamples. A subclass declares
    the class attributes below (and overrides `split_columns` and `keep` where its splits differ); reading, checking and
    the error messages are all here."""

    name: ClassVar[str]  # for messages: "KorNLI"
    files: ClassVar[DataFiles]
    columns: ClassVar[Columns]
    labels: ClassVar[tuple[str, ...]] = ()  # the classes, in label-index order; () for regression
    score_range: ClassVar[tuple[float, float] | None] = None  # regression: the allowed scores, ends included
    unlabeled_test: ClassVar[bool] = False  # the test file has no labels (GLUE): label None
    label_aliases: ClassVar[dict[str, str]] = {}  # another spelling -> the label
    reports_mcc: ClassVar[bool] = False  # Matthews correlation among the metrics (GLUE's metric for CoLA)
    reports_macro_f1: ClassVar[bool] = False  # the mean of each class's F1 among the metrics (KLUE's for YNAT)
    binary_threshold: ClassVar[float | None] = None  # regression: also the F1 of score >= it (KLUE-STS's 3)

    @property
    def is_regression(self) -> bool:
        return not self.labels

    def split_columns(self, split: Split) -> Columns:
        """The columns of a split's file: the format's, without the label in an unlabeled test file."""
        if split == "test" and self.unlabeled_test:
            return dataclasses.replace(self.columns, label=None)
        return self.columns

    def keep(self, fields: list[str], split: Split) -> bool:
        """Whether a row is one of this task's examples (XNLI keeps one language of many)."""
        return True

    def file_path(self, data_dir: str | os.PathLike, split: Split) -> str:
        return os.path.join(data_dir, getattr(self.files, split))

    def get_examples(self, data_dir: str | os.PathLike, split: Split) -> list[InputExample]:
        """The examples of a split from its default file in `data_dir`."""
        return self.read_examples(self.file_path(data_dir, split), split)

    def read_examples(self, path: str | os.PathLike, split: Split) -> list[InputExample]:
        """The examples of one file of this format, in file order. Raises InputError naming the file and line for: a
        header that is not this format's, a row with another number of fields than line 1, an unknown label, a bad
        score, bad UTF-8, a carriage return inside a line; naming the file for an empty one or one without examples."""
        path = os.fspath(path)
        columns = self.split_columns(split)
        rows = _tsv_rows(path)
        first = next(rows, None)
        if first is None:
            raise InputError(f"{path}: empty; a {self.name} file is tab-separated text, one example a line")
        positions = self._positions(columns, first, path, split)
        if not columns.header:
            self._check_first_example(first, positions, path, split)
        examples, rows_read = [], 0
        for row in rows if columns.header else itertools.chain([first], rows):
            if len(row.fields) != positions.width:
                raise InputError(f"{path}:{row.number}: {len(row.fields)} tab-separated fields, expected "
                                 f"{positions.width} (as line {first.number})")
            rows_read += 1
            if self.keep(row.fields, split):
                examples.append(self._example(row, positions, path, split))
        if not examples:
            raise InputError(f"{path}: no {self.name} examples in it ("
                             + (f"{rows_read} rows, none of them this task's)" if rows_read else "a header alone)"))
        return examples

    def _positions(self, columns: Columns, first: _Row, path: str, split: Split) -> _Positions:
        """The indices of the columns in rows like `first`; InputError when `first` cannot be this format's."""
        if isinstance(columns.text_a, str):
            indices = self._named_indices(columns, first, path)
        else:
            indices = self._google_indices(columns, first, path, split)
        return _Positions(*(None if c is None else indices[c] for c in (columns.text_a, columns.text_b, columns.label)),
                          len(first.fields))

    def _named_indices(self, columns: Columns, first: _Row, path: str) -> dict[Column, int]:
        used = columns.used()
        missing = [name for name in used if name not in first.fields]
        if missing:
            raise InputError(f"{path}:{first.number}: not a {self.name} header: expected the tab-separated "
                             f"columns {' '.join(map(str, used))}, found {shown(first.fields)}")
        return {name: first.fields.index(name) for name in used}

    def _google_indices(self, columns: Columns, first: _Row, path: str, split: Split) -> dict[Column, int]:
        """Google's positions in rows as wide as `first` (-1: the last field), whose header names them as GLUE's."""
        width, read = len(first.fields), [*columns.used(), *columns.checked]
        positions = {column: column if isinstance(column, int) else column.position for column in read}
        needed = max(p + 1 if p >= 0 else -p for p in positions.values())
        if width < needed or (not columns.header and width != needed):
            has = (f"at least {needed} (its columns as Google reads them)" if columns.header
                   else f"{needed} and no header: line 1 is an example")
            raise InputError(f"{path}:{first.number}: {width} tab-separated fields; a {self.name} {split} file "
                             f"has {has}")
        named = sorted((c for c in read if isinstance(c, At)), key=lambda column: positions[column] % width)
        if any(first.fields[column.position] != column.name for column in named):
            found = ", ".join(shown(first.fields[column.position]) for column in named)
            raise InputError(f"{path}:{first.number}: not a {self.name} {split} file's header: expected "
                             f"{', '.join(column.describe() for column in named)}; found {found}")
        return {column: position % width for column, position in positions.items()}

    def _check_first_example(self, first: _Row, positions: _Positions, path: str, split: Split) -> None:
        """Line 1 of a file without a header is an example: a header there (a test file given for train) fails as one,
        and the message says why."""
        try:
            self._example(first, positions, path, split)
        except InputError as error:
            raise InputError(f"{error} (a {self.name} {split} file has no header: line 1 is an example)") from None

    def _example(self, row: _Row, positions: _Positions, path: str, split: Split) -> InputExample:
        fields, where = row.fields, f"{path}:{row.number}"
        text_b = None if positions.text_b is None else fields[positions.text_b]
        label = None if positions.label is None else self._label(fields[positions.label], where)
        return InputExample(f"{split}-{row.number}", fields[positions.text_a], text_b, label, where)

    def _label(self, text: str, where: str) -> str | float:
        if self.is_regression:
            return self._score(text, where)
        label = self.label_aliases.get(text, text)
        if label not in self.labels:
            raise InputError(f"{where}: unknown label {shown(text)}; {self.name} labels are {', '.join(self.labels)}")
        return label

    def _score(self, text: str, where: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise InputError(f"{where}: the score {shown(text)} is not a number (plain decimal, as 3.8 or 4e-1)")
        return self._in_range(float(text), shown(text), where)

    def _in_range(self, score: float, written: str, where: str) -> float:
        low, high = self.score_range
        if not low <= score <= high:  # 1e999 too (float() and json make it inf), and JSON's NaN
            raise InputError(f"{where}: the score {written} is outside [{low:g}, {high:g}]")
        return score


def _json_value(record: Any, key: str, kind: type, place: Place) -> Any:
    """record[key], or for a dotted key ("labels.label") the value inside the objects it names, checked to be a JSON
    `kind`; InputError naming the file and the key's path (json_fields.field) otherwise."""
    *outer, last = key.split(".")
    for name in outer:
        record, place = field(record, name, dict, place), place.at(name)
    return field(record, last, kind, place)


class JsonListProcessor(DataProcessor):
    """A format whose file is a JSON array of records (KLUE's), each an object with a string "guid", which the example
    keeps, and the keys `columns` names: texts are strings, a label a string, a score a number."""

    def read_examples(self, path: str | os.PathLike, split: Split) -> list[InputExample]:
        """The examples of one file of this format, in file order. Raises InputError naming the file, and the record's
        index and key where one is at fault, for: a file that is not UTF-8 JSON (a key twice in an object too), not an
        array, or an empty one; a record that is not an object, lacks a key or holds another kind of value there; an
        unknown label; a score outside the range."""
        path = os.fspath(path)
        records, top = load_json(path), Place(path)
        if not isinstance(records, list):
            raise top.error(f"must be an array of {self.name} records, not {describe_json(records)}")
        if not records:
            raise InputError(f"{path}: no {self.name} examples in it (an empty array)")
        columns = self.split_columns(split)
        return [self._record(record, top.at(index), columns) for index, record in enumerate(records)]

    def _record(self, record: Any, place: Place, columns: Columns) -> InputExample:
        guid = field(record, "guid", str, place)
        text_a = _json_value(record, columns.text_a, str, place)
        text_b = None if columns.text_b is None else _json_value(record, columns.text_b, str, place)
        label = None if columns.label is None else self._json_label(record, columns.label, place)
        return InputExample(guid, text_a, text_b, label, f"{place.source}: {place.path}")

    def _json_label(self, record: Any, key: str, place: Place) -> str | float:
        where = f"{place.source}: {place.at(key).path}"
        if self.is_regression:
            score = _json_value(record, key, float, place)
            return self._in_range(float(score), shown(score), where)
        return self._label(_json_value(record, key, str, place), where)


NLI_LABELS = ("contradiction", "entailment", "neutral")  # Google's order: the label indices of its checkpoints


class KorNliProcessor(DataProcessor):
    """KorNLI (kakaobrain/KorNLUDatasets): MNLI machine-translated to train, XNLI's human-translated dev and test. It
    trains on MNLI alone, as Google's XNLI does; KorNLI's snli_1.0_train.ko.tsv has the same columns, so the two files
    joined (one header) train on both."""

    name = "KorNLI"
    files = DataFiles("multinli.train.ko.tsv", "xnli.dev.ko.tsv", "xnli.test.ko.tsv")
    columns = Columns("sentence1", "sentence2", "gold_label")
    labels = NLI_LABELS


class KorStsProcessor(DataProcessor):
    """KorSTS (kakaobrain/KorNLUDatasets): STS-B translated; a similarity score in [0, 5], learned by regression."""

    name = "KorSTS"
    files = DataFiles("sts-train.tsv", "sts-dev.tsv", "sts-test.tsv")
    columns = Columns("sentence1", "sentence2", "score")  # of genre filename year id score sentence1 sentence2
    score_range = (0.0, 5.0)


class NsmcProcessor(DataProcessor):
    """NSMC (e9t/nsmc): movie reviews, 0 negative, 1 positive. NSMC has no dev split: dev is its test file too, so a dev
    score is a test score. Some reviews are empty; they stay, as [CLS] [SEP] (Google's tokenizer turns an empty text
    into no tokens; features count them)."""

    name = "NSMC"
    files = DataFiles("ratings_train.txt", "ratings_test.txt", "ratings_test.txt")
    columns = Columns("document", label="label")  # of id document label
    labels = ("0", "1")


class XnliProcessor(DataProcessor):
    """Google's XNLI: its MNLI translation to train; XNLI's dev and test tables, the rows of one language. Google reads
    no test file; xnli.test.tsv has the dev table's columns and labels, so it is read the same way."""

    language = "zh"  # Google's choice; a subclass picks another
    language_column = At(0, "language")  # of the dev and test tables
    labels = NLI_LABELS
    label_aliases: ClassVar[dict[str, str]] = {"contradictory": "contradiction"}  # the MNLI translations' spelling

    @property
    def name(self) -> str:
        return f"XNLI ({self.language})"

    @property
    def files(self) -> DataFiles:
        return DataFiles(f"multinli/multinli.train.{self.language}.tsv", "xnli.dev.tsv", "xnli.test.tsv")

    def split_columns(self, split: Split) -> Columns:
        # multinli.train.{language}.tsv: premise hypo label. xnli.{dev,test}.tsv: language gold_label
        # sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse sentence1 sentence2 promptID
        # pairID genre label1 ... label5.
        if split == "train":
            return Columns(At(0, "premise"), At(1, "hypo"), At(2, "label"))
        return Columns(At(6, "sentence1"), At(7, "sentence2"), At(1, "gold_label"), checked=(self.language_column,))

    def keep(self, fields: list[str], split: Split) -> bool:
        return split == "train" or fields[self.language_column.position] == self.language


class MnliProcessor(DataProcessor):
    """GLUE MNLI, the matched dev and test sets. Their header: index promptID pairID genre sentence1_binary_parse
    sentence2_binary_parse sentence1_parse sentence2_parse sentence1 sentence2, then train's label1 gold_label, dev's
    label1 ... label5 gold_label (the test file: no more)."""

    name = "MNLI"
    files = DataFiles("train.tsv", "dev_matched.tsv", "test_matched.tsv")
    columns = Columns(At(8, "sentence1"), At(9, "sentence2"), At(-1, "gold_label"))
    labels = NLI_LABELS
    unlabeled_test = True


class MrpcProcessor(DataProcessor):
    """GLUE MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String (the test file: index for Quality)."""

    name = "MRPC"
    files = DataFiles("train.tsv", "dev.tsv", "test.tsv")
    columns = Columns(At(3, "#1 String"), At(4, "#2 String"), At(0, "Quality"))
    labels = ("0", "1")
    unlabeled_test = True


class ColaProcessor(DataProcessor):
    """GLUE CoLA: one sentence, 1 acceptable, 0 not."""

    name = "CoLA"
    files = DataFiles("train.tsv", "dev.tsv", "test.tsv")
    labels = ("0", "1")
    reports_mcc = True

    def split_columns(self, split: Split) -> Columns:
        # train and dev have no header (source label original-label sentence); test has one (index sentence).
        return Columns(At(1, "sentence")) if split == "test" else Columns(3, label=1)


def _klue_files(task: str) -> DataFiles:
    """A KLUE v1.1 task's files, as KLUE-benchmark/KLUE's klue_benchmark/<task>-v1.1/ names them. KLUE holds its test
    labels back for its leaderboard, so test is the dev file (--do_predict writes the dev set's predictions)."""
    dev = f"{task}-v1.1_dev.json"
    return DataFiles(f"{task}-v1.1_train.json", dev, dev)


class KlueStsProcessor(JsonListProcessor):
    """KLUE-STS: sentence pairs and their similarity in [0, 5] (labels.label: the annotators' mean to one decimal),
    learned by regression; KLUE scores it by Pearson's r and by the F1 of a score of 3 or more."""

    name = "KLUE-STS"
    files = _klue_files("klue-sts")
    columns = Columns("sentence1", "sentence2", "labels.label")
    score_range = (0.0, 5.0)
    binary_threshold = 3.0  # KLUE's: labels.label >= 3 is its binary-label


class KlueNliProcessor(JsonListProcessor):
    """KLUE-NLI: premise, hypothesis, gold_label. The labels in Google's order, as every NLI task here, not KLUE's
    (entailment, neutral, contradiction): test_results.tsv's columns mean the same for every NLI task, and an exported
    model's id2label names each index."""

    name = "KLUE-NLI"
    files = _klue_files("klue-nli")
    columns = Columns("premise", "hypothesis", "gold_label")
    labels = NLI_LABELS


class YnatProcessor(JsonListProcessor):
    """KLUE-TC (YNAT): a news headline (title) and its topic; KLUE scores it by macro F1."""

    name = "YNAT"
    files = _klue_files("ynat")
    columns = Columns("title", label="label")
    labels = ("IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치")  # KLUE's order
    reports_macro_f1 = True


# Google's --task_name -> format. A new data set: one DataProcessor subclass and one entry here.
processors: dict[str, DataProcessor] = {
    "kornli": KorNliProcessor(),
    "korsts": KorStsProcessor(),
    "nsmc": NsmcProcessor(),
    "xnli": XnliProcessor(),
    "mnli": MnliProcessor(),
    "mrpc": MrpcProcessor(),
    "cola": ColaProcessor(),
    "klue-sts": KlueStsProcessor(),
    "klue-nli": KlueNliProcessor(),
    "ynat": YnatProcessor(),
}


@dataclass(frozen=True)
class ConversionStats:
    """What converting examples to features changed, for the log line."""

    examples: int
    truncated: int  # examples that lost tokens to max_seq_length
    empty: int  # examples whose texts give no token at all (NSMC's empty reviews): [CLS] [SEP] alone

    def describe(self) -> str:
        return f"{self.examples} examples, {self.truncated} truncated to --max_seq_length, {self.empty} with no tokens"


@dataclass(frozen=True, eq=False)
class ClassifierFeatures:
    """Every example as padded arrays (N = examples, T = max_seq_length). input_ids int32 [N, T]; token_type_ids int8
    [N, T] (0 for [CLS] a [SEP], 1 for b [SEP]); attention_mask int8 [N, T] (1 on tokens, 0 on padding); labels int64
    [N] class indices, -1 for an unlabeled row, or float32 [N] scores (regression), NaN for an unlabeled row."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    labels: np.ndarray
    stats: ConversionStats

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: np.ndarray, with_labels: bool = True) -> dict[str, torch.Tensor]:
        """Rows `indices` as int64 tensors [B, T], and with_labels "labels" [B]: int64, or float32 (regression)."""
        batch = batching.int64_rows(self, batching.MODEL_INPUTS, indices)
        if with_labels:
            batch["labels"] = torch.from_numpy(self.labels[indices])
        return batch


def truncated_lengths(length_a: int, length_b: int, max_length: int) -> tuple[int, int]:
    """How many tokens of a and b Google's `_truncate_seq_pair` keeps within `max_length` tokens. Google drops the last
    token of the longer sequence (of b on a tie) until the pair fits: a short sentence keeps all its tokens, the longer
    loses its end. In closed form: when the longer is longer by at least the excess it alone is cut, else both end at
    half, a the odd one: (7, 2, 6) -> (4, 2); (5, 4, 6) -> (3, 3); (4, 4, 5) -> (3, 2)."""
    excess = length_a + length_b - max_length
    if excess <= 0:
        return length_a, length_b
    if abs(length_a - length_b) >= excess:
        return (length_a - excess, length_b) if length_a > length_b else (length_a, length_b - excess)
    return (max_length + 1) // 2, max_length // 2


class _Sequence(NamedTuple):
    ids: list[int]  # [CLS] a [SEP] (b [SEP])
    segment_b: int  # where segment 1 starts: the length of [CLS] a [SEP]
    truncated: bool


def _sequence(ids_a: list[int], ids_b: list[int], max_seq_length: int, cls_id: int, sep_id: int) -> _Sequence:
    """[CLS] a [SEP] (b [SEP]) within max_seq_length tokens. As Google, a pair whose b gives no tokens, or loses them
    all to truncation, has the single-sentence layout."""
    if ids_b:
        kept_a, kept_b = truncated_lengths(len(ids_a), len(ids_b), max_seq_length - 3)
    else:
        kept_a, kept_b = min(len(ids_a), max_seq_length - 2), 0
    first = [cls_id, *ids_a[:kept_a], sep_id]
    second = [*ids_b[:kept_b], sep_id] if kept_b else []
    return _Sequence(first + second, len(first), kept_a < len(ids_a) or kept_b < len(ids_b))


def _label_array(examples: Sequence[InputExample], label_list: Sequence[str]) -> np.ndarray:
    """int64 [N] label indices (-1: none), or float32 [N] scores (NaN: none) when label_list is empty."""
    if not label_list:
        return np.array([math.nan if e.label is None else e.label for e in examples], dtype=np.float32)
    index = {label: i for i, label in enumerate(label_list)}
    for example in examples:
        if example.label is not None and example.label not in index:
            raise InputError(f"{example.source}: unknown label {shown(example.label)}; the labels are "
                             f"{', '.join(label_list)}")
    return np.array([-1 if e.label is None else index[e.label] for e in examples], dtype=np.int64)


def convert_examples_to_features(examples: Sequence[InputExample], tokenizer: tokenization.FullTokenizer,
                                 max_seq_length: int, label_list: Sequence[str]) -> ClassifierFeatures:
    """Google's convert_single_example for every example: [CLS] a [SEP] b [SEP], segment 0 then 1, padded. label_list:
    the task's labels in index order; empty for regression (float scores). Raises InputError when max_seq_length leaves
    no room for [CLS] [SEP] [SEP]."""
    if max_seq_length < 3:
        raise InputError(f"--max_seq_length {max_seq_length}: too short for [CLS] a [SEP] b [SEP]; at least 3")
    cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    input_ids = np.zeros((len(examples), max_seq_length), dtype=np.int32)
    token_type_ids = np.zeros((len(examples), max_seq_length), dtype=np.int8)
    attention_mask = np.zeros((len(examples), max_seq_length), dtype=np.int8)
    truncated = empty = 0
    for row, example in enumerate(examples):
        ids_a = tokenizer.encode(example.text_a)
        ids_b = tokenizer.encode(example.text_b) if example.text_b else []
        sequence = _sequence(ids_a, ids_b, max_seq_length, cls_id, sep_id)
        length = len(sequence.ids)
        input_ids[row, :length] = sequence.ids
        token_type_ids[row, sequence.segment_b:length] = 1
        attention_mask[row, :length] = 1
        truncated += sequence.truncated
        empty += not ids_a and not ids_b
    stats = ConversionStats(len(examples), truncated, empty)
    return ClassifierFeatures(input_ids, token_type_ids, attention_mask, _label_array(examples, label_list), stats)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Binary F1 of class 1, 2 tp / (2 tp + fp + fn); 0.0 when neither side has a 1 (sklearn's default)."""
    predicted, true = np.asarray(predictions) == 1, np.asarray(labels) == 1
    denominator = int(predicted.sum() + true.sum())
    return 2 * int(np.sum(predicted & true)) / denominator if denominator else 0.0


def macro_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """The mean F1 of each class that labels or predictions hold, one against the rest (sklearn's average="macro")."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return float(np.mean([f1(predictions == c, labels == c) for c in np.union1d(predictions, labels)]))


def matthews_corrcoef(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation for any number of classes (sklearn's); 0.0 when either side is one class."""
    classes, inverse = np.unique(np.concatenate([np.asarray(labels), np.asarray(predictions)]), return_inverse=True)
    count = len(labels)
    true, predicted = inverse[:count], inverse[count:]
    true_sums = np.bincount(true, minlength=len(classes)).astype(np.float64)
    predicted_sums = np.bincount(predicted, minlength=len(classes)).astype(np.float64)
    covariance = np.sum(true == predicted) * count - true_sums @ predicted_sums
    variances = (count**2 - true_sums @ true_sums) * (count**2 - predicted_sums @ predicted_sums)
    return float(covariance / math.sqrt(variances)) if variances else 0.0


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Pearson's r; 0.0 when either side is constant or has fewer than 2 values (scipy: nan, with a warning),
    so a model that predicts one score scores as uncorrelated rather than breaking the report."""
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    return float(np.clip(x @ y / math.sqrt((x @ x) * (y @ y)), -1.0, 1.0))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """float64 [N] 1-based ranks, tied values sharing their mean rank: [10, 20, 20, 5] -> [2, 3.5, 3.5, 1]."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    begins = np.r_[True, ordered[1:] != ordered[:-1]]  # where each run of equal values begins
    starts = np.flatnonzero(begins)
    ends = np.r_[starts[1:], len(values)]
    group = np.cumsum(begins) - 1  # the run of each sorted value
    ranks = np.empty(len(values))
    ranks[order] = ((starts + ends + 1) / 2)[group]
    return ranks


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the average ranks (scipy.stats.spearmanr's ties); 0.0 as pearson."""
    return pearson(_average_ranks(np.asarray(predictions)), _average_ranks(np.asarray(labels)))


def mse(predictions: np.ndarray, labels: np.ndarray) -> float:
    difference = np.asarray(predictions, dtype=np.float64) - np.asarray(labels, dtype=np.float64)
    return float(np.mean(difference**2))


def task_metrics(processor: DataProcessor, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's metrics. predictions: int [N] class indices (argmax of the logits) or float [N] scores; labels:
    ClassifierFeatures.labels, every row labeled.

    Classification: accuracy as a fraction (Google's eval_accuracy), F1 of class 1 for two labels, the
    Matthews correlation and macro F1 x 100 (as KLUE reports it) where the processor reports them. Regression:
    Pearson and Spearman x 100 (as the KorSTS paper and GLUE tables report them), the mean squared error, and where
    the processor has a binary_threshold the F1 of score >= it on both sides x 100 (KLUE-STS's F1).
    Raises ValueError when a label is missing (an unlabeled test file has nothing to score against).
    """
    labels = np.asarray(labels)
    missing = np.isnan(labels) if processor.is_regression else labels < 0
    if missing.any():
        raise ValueError(f"{int(missing.sum())} of {len(labels)} examples have no label: nothing to score against")
    if processor.is_regression:
        metrics = {"pearson": 100 * pearson(predictions, labels), "spearman": 100 * spearman(predictions, labels),
                   "mse": mse(predictions, labels)}
        if processor.binary_threshold is not None:
            threshold = processor.binary_threshold
            metrics["binary_f1"] = 100 * f1(np.asarray(predictions) >= threshold, labels >= threshold)
        return metrics
    metrics = {"accuracy": accuracy(predictions, labels)}
    if len(processor.labels) == 2:
        metrics["f1"] = f1(predictions, labels)
    if processor.reports_mcc:
        metrics["mcc"] = matthews_corrcoef(predictions, labels)
    if processor.reports_macro_f1:
        metrics["macro_f1"] = 100 * macro_f1(predictions, labels)
    return metrics


class ClassifierTask:
    """Google's classifier loss (modeling.sequence_classification_loss: cross-entropy, or the squared error of a
    regression), as a sum over sequences."""

    def __init__(self, is_regression: bool):
        self.metric = "squared_error" if is_regression else "accuracy"

    def divisors(self, batch: batching.Batch) -> Tensor:
        return torch.tensor([float(len(batch["input_ids"]))])

    def loss_sums(self, model: nn.Module, batch: batching.Batch) -> loop.LossSums:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"])
        head = modeling.sequence_classification_loss(output.logits, batch["labels"])
        return loop.LossSums(head.total[None], {"classifier_loss": head.total.detach(), self.metric: head.correct})

    def metric_divisors(self) -> dict[str, int]:
        return {"classifier_loss": 0, self.metric: 0}


@dataclass(frozen=True, kw_only=True)
class ClassifierFlags(fine_tuning.TaskFilesFlags):
    """Google's run_classifier.py flags, with the fine-tuning and loop ones (fine_tuning.TaskFilesFlags)."""

    # In any case, as Google's (--task_name=MRPC): it lower-cases the name; the run records the table's key.
    task_name: str = flag(help="The data format and task.", type=click.Choice(sorted(processors), case_sensitive=False))


class ClassifierFineTuning(fine_tuning.TaskFilesRun):
    """run_classifier's part of a run."""

    name = "run_classifier"
    model_class = modeling.BertForSequenceClassification
    outputs = ("eval_results.txt", "eval_results.json", "test_results.tsv")

    def __init__(self, flags: ClassifierFlags, is_main: bool):
        super().__init__(flags, is_main)
        self.processor = processors[flags.task_name]
        self.task = ClassifierTask(self.processor.is_regression)

    def train_identity(self) -> dict[str, Any]:
        return {"train_file_sha256": file_sha256(self.file("train")), "max_seq_length": self.flags.max_seq_length}

    def model_identity(self) -> dict[str, Any]:
        return {"task_name": self.flags.task_name, "labels": list(self.processor.labels)}

    def create_model(self, config: modeling.BertConfig) -> modeling.BertForSequenceClassification:
        labels = self.processor.labels
        return modeling.create_model(self.model_class, config, num_labels=len(labels) or 1,
                                     label_names=labels)

    def read_split(self, split: Split) -> ClassifierFeatures:
        path = self.file(split)
        start = time.perf_counter()
        examples = self.processor.read_examples(path, split)
        features = convert_examples_to_features(examples, self.tokenizer, self.flags.max_seq_length,
                                                self.processor.labels)
        unknown = self.unknown_tokens(features, path)
        if self.is_main:
            click.echo(f"{split}: {path}: {features.stats.describe()}, {unknown} ({time.perf_counter() - start:.1f} s)",
                       err=True)
        return features

    def write_test(self, model: nn.Module, test: ClassifierFeatures, runtime: devices.Runtime) -> None:
        """test_results.tsv: each example's class probabilities (a regression's score), one line each."""
        logits = fine_tuning.predict(model, test, self.flags.predict_batch_size, runtime).logits
        rows = logits[:, :1] if self.processor.is_regression else _softmax(logits)
        path = Path(self.flags.output_dir) / "test_results.tsv"
        write_text(path, "".join("\t".join(f"{value:.9g}" for value in row) + "\n" for row in rows))
        click.echo(f"predicted {len(rows)} examples: {path}", err=True)

    def evaluate(self, model: nn.Module, dev: ClassifierFeatures, runtime: devices.Runtime, step: int
                 ) -> dict[str, float]:
        """Google's eval_results.txt (eval_loss, the metrics, global_step) and the same as JSON."""
        logits = fine_tuning.predict(model, dev, self.flags.eval_batch_size, runtime).logits
        labels = torch.from_numpy(dev.labels)
        loss = modeling.sequence_classification_loss(torch.from_numpy(logits), labels).loss
        predictions = logits[:, 0] if self.processor.is_regression else logits.argmax(-1)
        results = {"eval_loss": float(loss), **{f"eval_{key}": value for key, value in
                                                task_metrics(self.processor, predictions, dev.labels).items()}}
        self.write_eval_results(results, step)
        return results


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def run(flags: ClassifierFlags, progress: bool = True) -> dict[str, float]:
    return skeleton.run(flags, ClassifierFineTuning, {"--do_eval": flags.do_eval, "--do_predict": flags.do_predict},
                        progress)
