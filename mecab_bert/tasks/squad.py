# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_squad.py's task: SQuAD features (the windows, the max-context rule), the span loss, post-processing and
the run's part (SquadFineTuning)."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import click
import numpy as np
import torch
from torch import Tensor, nn

import modeling
import tokenization
from mecab_bert import json_fields
from mecab_bert.cli import FINITE_FLOAT, POSITIVE, flag
from mecab_bert.files import file_sha256, write_json
from mecab_bert.runs import batching, devices, loop, skeleton
from mecab_bert.tasks import fine_tuning, squad_data, squad_metrics
from mecab_bert.tasks.fine_tuning import FineTuningFlags
from mecab_bert.tasks.windows import doc_windows, max_context_window
from text_input import InputError


@dataclass(frozen=True)
class SquadExample:
    """One question; its context is held once per paragraph (`context_index`)."""

    qas_id: str
    question: str
    context_index: int
    answers: tuple[tuple[str, int], ...]  # (text, start char) as given
    is_impossible: bool = False
    answer_span: tuple[int, int] | None = None  # training: the (aligned) characters of the first answer


@dataclass
class ReadStats:
    """What reading a data file kept, fixed and skipped, for the log line."""

    examples: int = 0
    impossible: int = 0
    fixed_answer_starts: int = 0  # context[answer_start:] was not the answer; the nearest occurrence was
    unfindable_answers: int = 0  # the answer text is nowhere in the context: example skipped
    bad_examples: int = 0  # skipped by --skip_bad_examples
    notes: list[str] = dataclasses.field(default_factory=list)  # each of those, one line: --verbose_logging's

    def describe(self) -> str:
        return (f"{self.examples} questions ({self.impossible} impossible); answer_start fixed to the nearest "
                f"occurrence for {self.fixed_answer_starts}, answer not in its context for "
                f"{self.unfindable_answers} (skipped), {self.bad_examples} malformed questions skipped")


class Alignment(NamedTuple):
    start: int | None  # where the answer text is in the context (None: nowhere)
    moved: bool  # not at the given answer_start: the nearest exact occurrence


def align_answer(context: str, text: str, start: int) -> Alignment:
    """The start of `text` in `context`: `start` if it is there, else the nearest exact occurrence."""
    if context[start:start + len(text)] == text:
        return Alignment(start, False)
    occurrences = []
    position = context.find(text)
    while position != -1:
        occurrences.append(position)
        position = context.find(text, position + 1)
    if not occurrences:
        return Alignment(None, False)
    return Alignment(min(occurrences, key=lambda p: (abs(p - start), p)), True)


class SquadFile(NamedTuple):
    contexts: list[str]  # each paragraph's context, once
    examples: list[SquadExample]
    stats: ReadStats
    data: dict  # the file as read: what the official metrics score against


def read_squad(path: str | os.PathLike, is_training: bool, version_2_with_negative: bool = False,
               skip_bad_examples: bool = False) -> SquadFile:
    """Reads SQuAD v1.1 / v2.0 / KorQuAD 1.0 JSON: its contexts, examples, what was fixed or skipped, the raw data.

    The file is read and checked by squad_data.read_squad_file, the reader evaluate_squad scores with (UTF-8,
    a BOM allowed; a "version"; unique question ids; answer texts), so a file that could not be scored fails
    here, before any training or predicting. Then each paragraph needs a "context", each question a "question"
    and answer starts within its context. A problem is an InputError naming the file, the field's path and the
    question id (with skip_bad_examples, a question whose own fields are malformed is skipped and counted).
    """
    squad = squad_data.read_squad_file(str(path))
    if version_2_with_negative and squad.version != squad_data.SQUAD_V2_VERSION:
        raise InputError(f"{path}: version is {squad.version!r}, yet --version_2_with_negative is given: it needs "
                         f"SQuAD {squad_data.SQUAD_V2_VERSION!r} data (questions that may have no answer)")
    contexts: list[str] = []
    examples: list[SquadExample] = []
    stats = ReadStats()
    for paragraph in squad.paragraphs:
        context = json_fields.field(paragraph.record, "context", str, paragraph.place)
        contexts.append(context)
        for question in paragraph.questions:
            try:
                example = _read_question(question, context, len(contexts) - 1, is_training, version_2_with_negative,
                                         stats)
            except InputError as error:
                if not skip_bad_examples:
                    raise
                stats.bad_examples += 1
                stats.notes.append(f"skipped: {error}")
                continue
            if example is not None:
                examples.append(example)
                stats.examples += 1
                stats.impossible += example.is_impossible
    return SquadFile(contexts, examples, stats, squad.data)


def _read_question(question: squad_data.Question, context: str, context_index: int, is_training: bool,
                   version_2: bool, stats: ReadStats) -> SquadExample | None:
    """The example of a question (None when training and its answer is nowhere in the context); InputError if a
    field of the question is malformed."""
    place = question.place
    question_text = json_fields.field(question.record, "question", str, place)
    is_impossible = json_fields.field(question.record, "is_impossible", bool, place, default=False) \
        if version_2 else False
    if is_impossible and question.answers:
        # evaluate-v2.0.py counts a question with answers as answerable: trained as impossible, it would be
        # scored against answers the model was taught not to give.
        raise place.at("is_impossible").error("is true, yet the question has answers")
    answers = []
    for number, (answer_text, answer) in enumerate(zip(question.answers, question.record["answers"], strict=True)):
        answer_place = place.at("answers", number)
        start = json_fields.field(answer, "answer_start", int, answer_place)
        if not 0 <= start <= len(context):
            raise answer_place.at("answer_start").error(f"is {start}, outside the context (length {len(context)})")
        answers.append((answer_text, start))
    if not is_training:
        return SquadExample(question.id, question_text, context_index, tuple(answers), is_impossible)
    if is_impossible:
        return SquadExample(question.id, question_text, context_index, tuple(answers), True)
    if not answers:
        raise place.at("answers").error("is empty: a training question needs an answer (or is_impossible with "
                                        "--version_2_with_negative)")
    answer_text, start = answers[0]
    aligned, moved = align_answer(context, answer_text, start)
    if aligned is None or not answer_text.strip():
        stats.unfindable_answers += 1
        stats.notes.append(place.at("answers", 0).describe(f"{answer_text!r}: could not find the answer in its "
                                                           f"context (skipped)"))
        return None
    stats.fixed_answer_starts += moved
    if moved:
        stats.notes.append(place.at("answers", 0, "answer_start").describe(f"is {start}: the answer is at {aligned} "
                                                                          f"(the nearest occurrence of its text)"))
    return SquadExample(question.id, question_text, context_index, tuple(answers), False,
                        (aligned, aligned + len(answer_text)))


@dataclass(frozen=True)
class FeatureConfig:
    """How questions and contexts become windows; the defaults are Google's, and those of SquadFlags."""

    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64


@dataclass
class Features:
    """All windows of all examples, as arrays (F = number of features, T = max_seq_length): input_ids,
    token_type_ids, attention_mask: int32 [F, T]; example_index [F]; doc_start [F] (the first context token of the
    window), doc_offset [F] (its position in the sequence), doc_length [F]; start_positions, end_positions [F]
    (training: the answer's tokens in the sequence, 0 = [CLS] when it is outside the window or impossible)."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    example_index: np.ndarray
    doc_start: np.ndarray
    doc_offset: np.ndarray
    doc_length: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray

    def __len__(self) -> int:
        return len(self.example_index)

    def batch(self, indices: np.ndarray, with_labels: bool = True) -> batching.Batch:
        names = (*batching.MODEL_INPUTS, "start_positions", "end_positions") if with_labels else batching.MODEL_INPUTS
        return batching.int64_rows(self, names, indices)


@dataclass
class TokenizedContext:
    ids: np.ndarray  # int32 [N]
    starts: np.ndarray  # int64 [N], character offsets into the context
    ends: np.ndarray


@dataclass
class FeatureStats:
    features: int = 0
    answers_inside_a_piece: int = 0  # an answer boundary falls inside a word piece: the span covers it all
    answers_outside_every_window: int = 0


def tokenize_context(tokenizer: tokenization.FullTokenizer, context: str) -> TokenizedContext:
    return TokenizedContext(*tokenizer.encode_with_offsets(context))


class TokenSpan(NamedTuple):
    first: int  # the first and last context tokens an answer's characters touch
    last: int
    inside: bool  # a boundary falls inside a token: the tokens cover more than the answer


def answer_token_span(context: TokenizedContext, start_char: int, end_char: int) -> TokenSpan | None:
    """The context tokens an answer's characters touch; None when no token is touched."""
    first = int(np.searchsorted(context.ends, start_char, side="right"))
    last = int(np.searchsorted(context.starts, end_char, side="left")) - 1
    if first >= len(context.ids) or last < first:
        return None
    inside = context.starts[first] != start_char or context.ends[last] != end_char
    return TokenSpan(first, last, bool(inside))


class Window(NamedTuple):
    """One feature before packing: a question and a window of its context, with the answer's place in it."""

    example_index: int
    query: np.ndarray  # int32, the question's ids (truncated)
    doc_start: int  # the first context token of the window
    doc_offset: int  # its position in the sequence
    doc_length: int
    start_position: int  # training: the answer's first and last token in the sequence (0: [CLS])
    end_position: int


def convert_examples_to_features(examples: Sequence[SquadExample], contexts: Sequence[TokenizedContext],
                                 question_ids: Sequence[np.ndarray], config: FeatureConfig, special: tuple[int, int],
                                 is_training: bool) -> tuple[Features, FeatureStats]:
    """Windows of [CLS] question [SEP] context-window [SEP], padded to max_seq_length."""
    cls_id, sep_id = special
    stats = FeatureStats()
    rows: list[Window] = []
    for example_index, (example, query) in enumerate(zip(examples, question_ids, strict=True)):
        query = query[:config.max_query_length]
        context = contexts[example.context_index]
        max_tokens_for_doc = config.max_seq_length - len(query) - 3
        if max_tokens_for_doc < 1:
            raise InputError(f"question {example.qas_id}: --max_seq_length {config.max_seq_length} leaves no room "
                             f"for the context")
        span = None
        if is_training and example.answer_span is not None:
            span = answer_token_span(context, *example.answer_span)
            stats.answers_inside_a_piece += bool(span and span.inside)
        inside_any = False
        for start, size in doc_windows(len(context.ids), max_tokens_for_doc, config.doc_stride):
            offset = len(query) + 2
            start_position = end_position = 0
            if span is not None and start <= span.first and span.last < start + size:
                start_position, end_position = span.first - start + offset, span.last - start + offset
                inside_any = True
            rows.append(Window(example_index, query, start, offset, size, start_position, end_position))
        stats.answers_outside_every_window += bool(span is not None and not inside_any)
    stats.features = len(rows)
    return _pack(rows, contexts, examples, config.max_seq_length, cls_id, sep_id), stats


def _pack(rows: list[Window], contexts: Sequence[TokenizedContext], examples: Sequence[SquadExample],
          max_seq_length: int, cls_id: int, sep_id: int) -> Features:
    count = len(rows)
    input_ids = np.zeros((count, max_seq_length), dtype=np.int32)
    token_type_ids = np.zeros((count, max_seq_length), dtype=np.int8)
    attention_mask = np.zeros((count, max_seq_length), dtype=np.int8)
    columns = {name: np.zeros(count, dtype=np.int64) for name in
               ("example_index", "doc_start", "doc_offset", "doc_length", "start_positions", "end_positions")}
    for row, window in enumerate(rows):
        offset, start, size = window.doc_offset, window.doc_start, window.doc_length
        ids = input_ids[row]
        ids[0] = cls_id
        ids[1:offset - 1] = window.query
        ids[offset - 1] = sep_id
        context = contexts[examples[window.example_index].context_index]
        ids[offset:offset + size] = context.ids[start:start + size]
        ids[offset + size] = sep_id
        token_type_ids[row, offset:offset + size + 1] = 1
        attention_mask[row, :offset + size + 1] = 1
        for name, value in zip(columns, (window.example_index, start, offset, size, window.start_position,
                                         window.end_position), strict=True):
            columns[name][row] = value
    return Features(input_ids, token_type_ids, attention_mask, **columns)


def featurize(path: str, tokenizer: tokenization.FullTokenizer, config: FeatureConfig, is_training: bool,
              version_2_with_negative: bool, skip_bad_examples: bool = False) -> Dataset:
    """Reads and featurizes a data file: each context is tokenized once, not once per question."""
    contexts, examples, read_stats, data = read_squad(path, is_training, version_2_with_negative, skip_bad_examples)
    tokenized = [tokenize_context(tokenizer, context) for context in contexts]
    question_ids = [np.array(tokenizer.encode(e.question), dtype=np.int32) for e in examples]
    special = (tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"])
    features, feature_stats = convert_examples_to_features(examples, tokenized, question_ids, config, special,
                                                           is_training)
    return Dataset(contexts, examples, tokenized, features, read_stats, feature_stats, data)


@dataclass
class Dataset:
    contexts: list[str]
    examples: list[SquadExample]
    tokenized: list[TokenizedContext]
    features: Features
    read_stats: ReadStats
    feature_stats: FeatureStats
    data: dict


@dataclass(frozen=True)
class PredictConfig:
    """How logits become answers; the defaults are Google's, and those of SquadFlags."""

    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0


class SpanPredictions(NamedTuple):
    predictions: dict[str, str]  # question id -> answer text ("" for no answer)
    nbest: dict[str, list[dict]]  # question id -> the n best answers, with logits, characters and probability
    null_odds: dict[str, float]  # v2: question id -> null score - best non-null score


class Candidate(NamedTuple):
    """A span one window proposes for an answer, in context tokens."""

    score: float  # start_logit + end_logit
    start_logit: float
    end_logit: float
    first: int  # the span's first and last context token
    last: int


def best_spans(dataset: Dataset, start_logits: np.ndarray, end_logits: np.ndarray, config: PredictConfig
               ) -> SpanPredictions:
    """Google's write_predictions on character offsets: predictions, n-best lists, null odds. For each question,
    over all its windows: the n_best_size best start and end logits; a span counts if both ends are in the context
    part, the start token has its maximum context in this window, start <= end and it is at most max_answer_length
    tokens long. The answer is context[start_char:end_char]."""
    by_example = collections.defaultdict(list)
    for feature_index, example_index in enumerate(dataset.features.example_index):
        by_example[int(example_index)].append(feature_index)
    predictions, nbest_json, null_odds = {}, {}, {}
    for example_index, example in enumerate(dataset.examples):
        context = dataset.tokenized[example.context_index]
        text = dataset.contexts[example.context_index]
        candidates, null_score = _candidates(by_example[example_index], dataset.features, context, start_logits,
                                             end_logits, config)
        entries = _nbest(candidates, context, text, config.n_best_size)
        if config.version_2_with_negative:
            entries.append({"text": "", "start_logit": null_score[0], "end_logit": null_score[1],
                            "start_char": -1, "end_char": -1})
            entries.sort(key=lambda e: e["start_logit"] + e["end_logit"], reverse=True)
            entries = entries[:max(config.n_best_size, 1)]
        if not entries:
            entries = [{"text": "", "start_logit": 0.0, "end_logit": 0.0, "start_char": -1, "end_char": -1}]
        scores = np.array([e["start_logit"] + e["end_logit"] for e in entries])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        for entry, probability in zip(entries, probabilities, strict=True):
            entry["probability"] = float(probability)
        best_non_null = next((e for e in entries if e["text"]), None)
        if config.version_2_with_negative:
            non_null = best_non_null["start_logit"] + best_non_null["end_logit"] if best_non_null else -math.inf
            score_diff = sum(null_score) - non_null
            null_odds[example.qas_id] = float(score_diff) if math.isfinite(score_diff) else 1e9
            answer = "" if best_non_null is None or score_diff > config.null_score_diff_threshold else \
                best_non_null["text"]
        else:
            answer = entries[0]["text"]
        predictions[example.qas_id] = answer
        nbest_json[example.qas_id] = entries
    return SpanPredictions(predictions, nbest_json, null_odds)


def _candidates(feature_indices: list[int], features: Features, context: TokenizedContext, start_logits: np.ndarray,
                end_logits: np.ndarray, config: PredictConfig) -> tuple[list[Candidate], tuple[float, float]]:
    windows = [(int(features.doc_start[f]), int(features.doc_length[f])) for f in feature_indices]
    best_window = max_context_window(windows, len(context.ids)) if windows else np.zeros(0, dtype=np.int64)
    candidates = []
    null_score = (math.inf, 0.0)
    for window_index, f in enumerate(feature_indices):
        offset, start, size = int(features.doc_offset[f]), int(features.doc_start[f]), int(features.doc_length[f])
        starts, ends = start_logits[f], end_logits[f]
        if starts[0] + ends[0] < sum(null_score):
            null_score = (float(starts[0]), float(ends[0]))
        top_starts = np.argsort(-starts, kind="stable")[:config.n_best_size]
        top_ends = np.argsort(-ends, kind="stable")[:config.n_best_size]
        for s in top_starts:
            if not offset <= s < offset + size or best_window[start + s - offset] != window_index:
                continue
            for e in top_ends:
                if not s <= e < offset + size or e - s + 1 > config.max_answer_length:
                    continue
                candidates.append(Candidate(float(starts[s] + ends[e]), float(starts[s]), float(ends[e]),
                                            start + int(s) - offset, start + int(e) - offset))
    if null_score[0] == math.inf:
        null_score = (0.0, 0.0)
    return candidates, null_score


def _nbest(candidates: list[Candidate], context: TokenizedContext, text: str, n_best_size: int) -> list[dict]:
    entries, seen = [], set()
    for candidate in sorted(candidates, key=lambda c: c.score, reverse=True):
        start_char, end_char = int(context.starts[candidate.first]), int(context.ends[candidate.last])
        answer = text[start_char:end_char]
        if answer in seen:
            continue
        seen.add(answer)
        entries.append({"text": answer, "start_logit": candidate.start_logit, "end_logit": candidate.end_logit,
                        "start_char": start_char, "end_char": end_char})
        if len(entries) >= n_best_size:
            break
    return entries


def gold_answer_spans(dataset: Dataset) -> list[TokenSpan | None]:
    """For each question, the context tokens of its first gold answer (aligned as for training); None for an
    impossible or unfindable answer."""
    spans = []
    for example in dataset.examples:
        span = None
        if example.answers and not example.is_impossible:
            text, start = example.answers[0]
            context = dataset.contexts[example.context_index]
            aligned, _ = align_answer(context, text, start)
            if aligned is not None and text.strip():
                span = answer_token_span(dataset.tokenized[example.context_index], aligned, aligned + len(text))
        spans.append(span)
    return spans


def gold_logits(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The logits of a perfect model (the oracle): 10 at the first and last token of the first gold answer
    in every window that holds it whole, 10 at [CLS] for an impossible question, 0 elsewhere."""
    features = dataset.features
    start_logits, end_logits = np.zeros((2, *features.input_ids.shape), dtype=np.float32)
    spans = gold_answer_spans(dataset)
    for f, example_index in enumerate(features.example_index):
        if (span := spans[example_index]) is None:
            if dataset.examples[example_index].is_impossible:
                start_logits[f, 0] = end_logits[f, 0] = 10.0
            continue
        start, size, offset = features.doc_start[f], features.doc_length[f], features.doc_offset[f]
        if start <= span.first and span.last < start + size:
            start_logits[f, span.first - start + offset] = 10.0
            end_logits[f, span.last - start + offset] = 10.0
    return start_logits, end_logits


class JosaStripper:
    """Drops trailing particles (MeCab tags starting with J) from a Korean answer: `서울에서` -> `서울`."""

    def __init__(self):
        self._tagger = tokenization.PosTagger()

    def __call__(self, answer: str) -> str:
        nodes = self._tagger.tag(answer)
        end = len("".join(surface for surface, _ in nodes))
        for surface, tag in reversed(nodes):
            if not tag.startswith("J") or not answer[:end - len(surface)].strip():
                break
            end -= len(surface)
        return answer[:end].rstrip() if end < len(answer.rstrip()) else answer


class SquadTask:
    """Span prediction: Google's loss (modeling.span_loss), the mean of the start and end cross-entropies, as a sum
    over features."""

    def divisors(self, batch: batching.Batch) -> Tensor:
        return torch.tensor([float(len(batch["input_ids"]))])

    def loss_sums(self, model: nn.Module, batch: batching.Batch) -> loop.LossSums:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"])
        span = modeling.span_loss(output.start_logits, output.end_logits, batch["start_positions"],
                                  batch["end_positions"], batch["attention_mask"])
        return loop.LossSums(span.total[None], {"span_loss": span.total.detach(), "span_accuracy": span.correct})

    def metric_divisors(self) -> dict[str, int]:
        return {"span_loss": 0, "span_accuracy": 0}


@dataclass(frozen=True, kw_only=True)
class SquadFlags(FineTuningFlags):
    """Google's run_squad.py flags, with the fine-tuning and loop ones (fine_tuning.FineTuningFlags)."""

    max_seq_length: int = flag(FeatureConfig.max_seq_length, "Tokens per window, question and [CLS] [SEP] [SEP] "
                               "included.", click.IntRange(4, 2**31 - 1))
    doc_stride: int = flag(FeatureConfig.doc_stride, "Stride between context windows.", POSITIVE)
    max_query_length: int = flag(FeatureConfig.max_query_length, "Question tokens kept.", POSITIVE)
    n_best_size: int = flag(PredictConfig.n_best_size, "", POSITIVE)
    max_answer_length: int = flag(PredictConfig.max_answer_length, "In tokens.", POSITIVE)
    version_2_with_negative: bool = flag(PredictConfig.version_2_with_negative,
                                         "SQuAD 2.0: questions may have no answer.")
    null_score_diff_threshold: float = flag(PredictConfig.null_score_diff_threshold, "v2: predict no answer when "
                                            "null score - best non-null score exceeds this.", FINITE_FLOAT)
    strip_josa: bool = flag(False, "Drop trailing Korean particles from predicted answers.")
    skip_bad_examples: bool = flag(False, "Skip (and count) malformed questions instead of stopping.")
    verbose_logging: bool = flag(False, "Google's: print each question skipped or fixed while reading the data (its "
                                 "answer not in its context, its answer_start moved, malformed), not only counts.")


class SquadFineTuning(fine_tuning.FineTuningRun):
    """run_squad's part of a run."""

    name = "run_squad"
    model_class = modeling.BertForQuestionAnswering
    outputs = ("predictions.json", "nbest_predictions.json", "null_odds.json", "eval_results.json")
    task = SquadTask()

    def __init__(self, flags: SquadFlags, is_main: bool):
        super().__init__(flags, is_main)
        self.feature_config = FeatureConfig(flags.max_seq_length, flags.doc_stride, flags.max_query_length)

    def data_files(self) -> dict[str, str | None]:
        return {"--train_file": self.flags.train_file, "--predict_file": self.flags.predict_file}

    def train_identity(self) -> dict[str, Any]:
        return {"train_file_sha256": file_sha256(self.flags.train_file),
                **{name: getattr(self.flags, name) for name in (
                    "max_seq_length", "doc_stride", "max_query_length", "version_2_with_negative",
                    "skip_bad_examples")}}

    def model_identity(self) -> dict[str, Any]:
        return {}

    def create_model(self, config: modeling.BertConfig) -> modeling.BertForQuestionAnswering:
        return modeling.create_model(self.model_class, config)

    def read_train(self) -> Features:
        return self._read(self.flags.train_file, True).features

    def read_predict(self) -> Dataset | None:
        return self._read(self.flags.predict_file, False) if self.flags.do_predict else None

    def _read(self, path: str, is_training: bool) -> Dataset:
        start = time.perf_counter()
        dataset = featurize(path, self.tokenizer, self.feature_config, is_training,
                            self.flags.version_2_with_negative, self.flags.skip_bad_examples)
        if self.is_main and self.flags.verbose_logging:
            for note in dataset.read_stats.notes:
                click.echo(note, err=True)
        if len(dataset.features) == 0:
            raise InputError(f"{path}: no {'training features' if is_training else 'questions to predict'}")
        unknown = self.unknown_tokens(dataset.features, path)
        if self.is_main:
            click.echo(f"{'train' if is_training else 'predict'}: {dataset.read_stats.describe()}; "
                       f"{len(dataset.features)} features, {unknown}, answers cut inside a word piece: "
                       f"{dataset.feature_stats.answers_inside_a_piece}, outside every window: "
                       f"{dataset.feature_stats.answers_outside_every_window} ({time.perf_counter() - start:.1f} s)",
                       err=True)
        return dataset

    def predict(self, model: nn.Module, dataset: Dataset, runtime: devices.Runtime, step: int) -> dict[str, float]:
        flags, start = self.flags, time.perf_counter()
        logits = fine_tuning.predict(model, dataset.features, flags.predict_batch_size, runtime)
        predict_config = PredictConfig(flags.n_best_size, flags.max_answer_length, flags.version_2_with_negative,
                                       flags.null_score_diff_threshold)
        spans = best_spans(dataset, logits.start_logits, logits.end_logits, predict_config)
        predictions = spans.predictions
        if flags.strip_josa:
            strip = JosaStripper()
            predictions = {qid: strip(answer) for qid, answer in predictions.items()}
        output_dir = Path(flags.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "eval_results.json").unlink(missing_ok=True)  # another prediction's scores: never left here
        write_json(output_dir / "predictions.json", predictions)
        write_json(output_dir / "nbest_predictions.json", spans.nbest)
        if flags.version_2_with_negative:
            write_json(output_dir / "null_odds.json", spans.null_odds)
        click.echo(f"predicted {len(dataset.features)} features in {time.perf_counter() - start:.1f} s; "
                   f"predictions.json, nbest_predictions.json"
                   f"{', null_odds.json' if flags.version_2_with_negative else ''} in {output_dir}/", err=True)
        if not any(example.answers or example.is_impossible for example in dataset.examples):
            click.echo(f"not scored: {flags.predict_file} has no gold answers (a test set)", err=True)
            return {}
        null_odds = spans.null_odds if flags.version_2_with_negative else None
        scores = eval_results(dataset.data, predictions, null_odds, flags.null_score_diff_threshold,
                              flags.predict_file)
        write_json(output_dir / "eval_results.json", scores)
        if null_odds is not None:
            click.echo(describe_v2_scores(scores), err=True)
        click.echo(json.dumps(scores))
        return {f"eval_{k}": v for k, v in scores.items()}


def eval_results(data: dict, predictions: dict[str, str], null_odds: dict[str, float] | None,
                 null_score_diff_threshold: float, source: str) -> dict[str, float]:
    """eval_results.json: the official scores of predictions.json, as its version's script gives them (SQuAD v2.0:
    `evaluate-v2.0.py data predictions.json`, no no-answer file, since predictions.json already answers "" where
    the null score won by more than --null_score_diff_threshold). SQuAD v2.0 (`null_odds` given) adds that threshold
    and evaluate-v2.0.py's best thresholds over null_odds.json (`--na-prob-file null_odds.json`, which Google's
    README reads to choose --null_score_diff_threshold), as null_odds_best_exact, null_odds_best_exact_thresh,
    null_odds_best_f1, null_odds_best_f1_thresh. (Scoring with the official default --na-prob-thresh 1.0 over
    null_odds.json would answer "" above 1.0 whatever predictions.json says: not the score of the file written.)"""
    squad = squad_data.parse_squad(data, source)
    scores = squad_metrics.score(squad, predictions)
    if null_odds is None:
        return scores
    best = squad_metrics.best_thresholds(squad.questions, predictions, null_odds)
    return {**scores, "null_score_diff_threshold": null_score_diff_threshold,
            **{f"null_odds_{key}": value for key, value in best.items()}}


def describe_v2_scores(scores: dict[str, float]) -> str:
    """A SQuAD v2.0 eval_results.json in words: what predictions.json scores, and which threshold would score best."""
    groups = ", ".join(f"{group} exact {scores[f'{group}_exact']:.2f} f1 {scores[f'{group}_f1']:.2f}"
                       for group in ("HasAns", "NoAns") if f"{group}_total" in scores)
    return (f"predictions.json (--null_score_diff_threshold {scores['null_score_diff_threshold']!r}), scored as "
            f"evaluate-v2.0.py scores it: exact {scores['exact']:.2f} f1 {scores['f1']:.2f} ({groups}); best "
            f"thresholds over null_odds.json (evaluate-v2.0.py --na-prob-file): exact "
            f"{scores['null_odds_best_exact']:.2f} at {scores['null_odds_best_exact_thresh']!r}, f1 "
            f"{scores['null_odds_best_f1']:.2f} at {scores['null_odds_best_f1_thresh']!r} (--null_score_diff_threshold "
            f"{scores['null_odds_best_f1_thresh']!r} predicts with the best f1)")


def run(flags: SquadFlags, progress: bool = True) -> dict[str, float]:
    if flags.do_train and not flags.train_file:
        raise InputError("--do_train needs --train_file")
    if flags.do_predict and not flags.predict_file:
        raise InputError("--do_predict needs --predict_file")
    return skeleton.run(flags, SquadFineTuning, {"--do_predict": flags.do_predict}, progress)
