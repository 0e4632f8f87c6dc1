# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Fine-tunes BERT on KorQuAD 1.0 / SQuAD v1.1 / v2.0, predicts, and scores with the official metrics.

Google's flags and windows (max_seq_length, doc_stride, max_query_length, the max-context rule), but
answers are aligned by character offsets: each context is tokenized once with exact offsets, an answer's
character span maps to the tokens it covers, and a predicted answer is cut straight out of the original
context (`context[start_char:end_char]`), never rebuilt from tokens. Google's pipeline maps answers through
white-space words and glues Korean particles to answers (`서울에서` for `서울`).

The training loop, devices, precision, torchrun and checkpoints are run_pretraining's (training.py).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

import evaluate_squad
import modeling
import optimization
import tokenization
import training
from script_utils import (
    FINITE_FLOAT,
    OUTPUT_PATH,
    POSITIVE,
    POSITIVE_FLOAT,
    PROBABILITY,
    SEED,
    Command,
    InputError,
    bool_option,
    file_sha256,
    user_errors,
    write_json,
    write_text,
)

# --- reading -------------------------------------------------------------------------------------------


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

    def describe(self) -> str:
        return (f"{self.examples} questions ({self.impossible} impossible); answer_start fixed to the nearest "
                f"occurrence for {self.fixed_answer_starts}, answer not in its context for "
                f"{self.unfindable_answers} (skipped), {self.bad_examples} malformed questions skipped")


def align_answer(context: str, text: str, start: int) -> tuple[int | None, bool]:
    """The start of `text` in `context`: `start` if it is there, else the nearest exact occurrence.

    Returns (start or None when the text is nowhere in the context, whether it was moved).
    """
    if context[start:start + len(text)] == text:
        return start, False
    occurrences = []
    position = context.find(text)
    while position != -1:
        occurrences.append(position)
        position = context.find(text, position + 1)
    if not occurrences:
        return None, False
    return min(occurrences, key=lambda p: (abs(p - start), p)), True


def read_squad(path: str | os.PathLike, is_training: bool, version_2_with_negative: bool = False,
               skip_bad_examples: bool = False) -> tuple[list[str], list[SquadExample], ReadStats, dict]:
    """Reads SQuAD v1.1 / v2.0 / KorQuAD 1.0 JSON: (contexts, examples, stats, the raw data).

    The file is read and checked by evaluate_squad.read_squad_file, the reader evaluate_squad scores with (UTF-8,
    a BOM allowed; a "version"; unique question ids; answer texts), so a file that could not be scored fails
    here, before any training or predicting. Then each paragraph needs a "context", each question a "question"
    and answer starts within its context. A problem is an InputError naming the file, the field's path and the
    question id (with skip_bad_examples, a question whose own fields are malformed is skipped and counted).
    """
    squad = evaluate_squad.read_squad_file(str(path))
    if version_2_with_negative and squad.version != evaluate_squad.SQUAD_V2_VERSION:
        raise InputError(f"{path}: version is {squad.version!r}, yet --version_2_with_negative is given: it needs "
                         f"SQuAD {evaluate_squad.SQUAD_V2_VERSION!r} data (questions that may have no answer)")
    contexts: list[str] = []
    examples: list[SquadExample] = []
    stats = ReadStats()
    for paragraph in squad.paragraphs:
        context = evaluate_squad.field(paragraph.record, "context", str, paragraph.place)
        contexts.append(context)
        for question in paragraph.questions:
            try:
                example = _read_question(question, context, len(contexts) - 1, is_training, version_2_with_negative,
                                         stats)
            except InputError:
                if not skip_bad_examples:
                    raise
                stats.bad_examples += 1
                continue
            if example is not None:
                examples.append(example)
                stats.examples += 1
                stats.impossible += example.is_impossible
    return contexts, examples, stats, squad.data


def _read_question(question: evaluate_squad.Question, context: str, context_index: int, is_training: bool,
                   version_2: bool, stats: ReadStats) -> SquadExample | None:
    """The example of a question (None when training and its answer is nowhere in the context); InputError if a
    field of the question is malformed."""
    place = question.place
    question_text = evaluate_squad.field(question.record, "question", str, place)
    is_impossible = evaluate_squad.field(question.record, "is_impossible", bool, place, default=False) \
        if version_2 else False
    if is_impossible and question.answers:
        # evaluate-v2.0.py counts a question with answers as answerable: trained as impossible, it would be
        # scored against answers the model was taught not to give.
        raise place.at("is_impossible").error("is true, yet the question has answers")
    answers = []
    for number, (answer_text, answer) in enumerate(zip(question.answers, question.record["answers"], strict=True)):
        answer_place = place.at("answers", number)
        start = evaluate_squad.field(answer, "answer_start", int, answer_place)
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
        return None
    stats.fixed_answer_starts += moved
    return SquadExample(question.id, question_text, context_index, tuple(answers), False,
                        (aligned, aligned + len(answer_text)))


# --- features ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureConfig:
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64


@dataclass
class Features:
    """All windows of all examples, as arrays (F = number of features, T = max_seq_length).

    input_ids, token_type_ids, attention_mask: int32 [F, T]; example_index [F]; doc_start [F] (the first
    context token of the window), doc_offset [F] (its position in the sequence), doc_length [F];
    start_positions, end_positions [F] (training: the answer's tokens in the sequence, 0 = [CLS] when it
    is outside the window or impossible).
    """

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

    def batch(self, indices: np.ndarray, with_labels: bool) -> training.Batch:
        batch = {"input_ids": torch.from_numpy(self.input_ids[indices].astype(np.int64)),
                 "token_type_ids": torch.from_numpy(self.token_type_ids[indices].astype(np.int64)),
                 "attention_mask": torch.from_numpy(self.attention_mask[indices].astype(np.int64))}
        if with_labels:
            batch["start_positions"] = torch.from_numpy(self.start_positions[indices].astype(np.int64))
            batch["end_positions"] = torch.from_numpy(self.end_positions[indices].astype(np.int64))
        return batch


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


def answer_token_span(context: TokenizedContext, start_char: int, end_char: int) -> tuple[int, int, bool] | None:
    """The first and last context tokens an answer's characters touch, and whether a boundary falls inside
    a token (so the tokens cover more than the answer). None when no token is touched."""
    first = int(np.searchsorted(context.ends, start_char, side="right"))
    last = int(np.searchsorted(context.starts, end_char, side="left")) - 1
    if first >= len(context.ids) or last < first:
        return None
    inside = context.starts[first] != start_char or context.ends[last] != end_char
    return first, last, bool(inside)


def doc_windows(length: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """Google's sliding windows (start, length) over a context of `length` tokens."""
    windows = []
    start = 0
    while start < length or not windows:
        size = min(length - start, max_tokens_for_doc)
        windows.append((start, size))
        if start + size >= length:
            break
        start += min(size, doc_stride)
    return windows


def max_context_window(windows: Sequence[tuple[int, int]], length: int) -> np.ndarray:
    """For each context token, the window where it has the most context (Google's _check_is_max_context:
    score = min(left, right context) + 0.01 * window length; the first window wins ties)."""
    best = np.full(length, -1, dtype=np.int64)
    best_score = np.full(length, -np.inf)
    for index, (start, size) in enumerate(windows):
        positions = np.arange(start, start + size)
        score = np.minimum(positions - start, start + size - 1 - positions) + 0.01 * size
        better = score > best_score[start:start + size]
        best_score[start:start + size][better] = score[better]
        best[start:start + size][better] = index
    return best


def convert_examples_to_features(
    examples: Sequence[SquadExample],
    contexts: Sequence[TokenizedContext],
    question_ids: Sequence[np.ndarray],
    config: FeatureConfig,
    special: tuple[int, int],
    is_training: bool,
) -> tuple[Features, FeatureStats]:
    """Windows of [CLS] question [SEP] context-window [SEP], padded to max_seq_length."""
    cls_id, sep_id = special
    stats = FeatureStats()
    rows: list[tuple[int, np.ndarray, int, int, int, int, int]] = []
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
            stats.answers_inside_a_piece += bool(span and span[2])
        inside_any = False
        for start, size in doc_windows(len(context.ids), max_tokens_for_doc, config.doc_stride):
            offset = len(query) + 2
            start_position = end_position = 0
            if span is not None and start <= span[0] and span[1] < start + size:
                start_position, end_position = span[0] - start + offset, span[1] - start + offset
                inside_any = True
            rows.append((example_index, query, start, offset, size, start_position, end_position))
        stats.answers_outside_every_window += bool(span is not None and not inside_any)
    stats.features = len(rows)
    return _pack(rows, contexts, examples, config.max_seq_length, cls_id, sep_id), stats


def _pack(rows: list, contexts: Sequence[TokenizedContext], examples: Sequence[SquadExample], max_seq_length: int,
          cls_id: int, sep_id: int) -> Features:
    count = len(rows)
    input_ids = np.zeros((count, max_seq_length), dtype=np.int32)
    token_type_ids = np.zeros((count, max_seq_length), dtype=np.int8)
    attention_mask = np.zeros((count, max_seq_length), dtype=np.int8)
    columns = {name: np.zeros(count, dtype=np.int64) for name in
               ("example_index", "doc_start", "doc_offset", "doc_length", "start_positions", "end_positions")}
    for row, (example_index, query, start, offset, size, start_position, end_position) in enumerate(rows):
        ids = input_ids[row]
        ids[0] = cls_id
        ids[1:offset - 1] = query
        ids[offset - 1] = sep_id
        ids[offset:offset + size] = contexts[examples[example_index].context_index].ids[start:start + size]
        ids[offset + size] = sep_id
        token_type_ids[row, offset:offset + size + 1] = 1
        attention_mask[row, :offset + size + 1] = 1
        for name, value in zip(columns, (example_index, start, offset, size, start_position, end_position),
                               strict=True):
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


# --- post-processing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictConfig:
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0


def best_spans(dataset: Dataset, start_logits: np.ndarray, end_logits: np.ndarray, config: PredictConfig
               ) -> tuple[dict[str, str], dict[str, list[dict]], dict[str, float]]:
    """Google's write_predictions on character offsets: (predictions, n-best lists, null odds).

    For each question, over all its windows: the n_best_size best start and end logits; a span counts if
    both ends are in the context part, the start token has its maximum context in this window, start <=
    end and it is at most max_answer_length tokens long. The answer is context[start_char:end_char].
    """
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
    return predictions, nbest_json, null_odds


def _candidates(feature_indices: list[int], features: Features, context: TokenizedContext, start_logits: np.ndarray,
                end_logits: np.ndarray, config: PredictConfig) -> tuple[list[tuple], tuple[float, float]]:
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
                candidates.append((float(starts[s] + ends[e]), float(starts[s]), float(ends[e]),
                                   start + int(s) - offset, start + int(e) - offset))
    if null_score[0] == math.inf:
        null_score = (0.0, 0.0)
    return candidates, null_score


def _nbest(candidates: list[tuple], context: TokenizedContext, text: str, n_best_size: int) -> list[dict]:
    entries, seen = [], set()
    for _, start_logit, end_logit, first, last in sorted(candidates, key=lambda c: c[0], reverse=True):
        start_char, end_char = int(context.starts[first]), int(context.ends[last])
        answer = text[start_char:end_char]
        if answer in seen:
            continue
        seen.add(answer)
        entries.append({"text": answer, "start_logit": start_logit, "end_logit": end_logit,
                        "start_char": start_char, "end_char": end_char})
        if len(entries) >= n_best_size:
            break
    return entries


def gold_answer_spans(dataset: Dataset) -> list[tuple[int, int, bool] | None]:
    """For each question, the context tokens of its first gold answer (aligned as for training), with
    whether a boundary falls inside a token; None for an impossible or unfindable answer."""
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
    start_logits = np.zeros(features.input_ids.shape, dtype=np.float32)
    end_logits = np.zeros(features.input_ids.shape, dtype=np.float32)
    spans = gold_answer_spans(dataset)
    for f, example_index in enumerate(features.example_index):
        span = spans[example_index]
        if span is None:
            if dataset.examples[example_index].is_impossible:
                start_logits[f, 0] = end_logits[f, 0] = 10.0
            continue
        start, size, offset = features.doc_start[f], features.doc_length[f], features.doc_offset[f]
        if start <= span[0] and span[1] < start + size:
            start_logits[f, span[0] - start + offset] = 10.0
            end_logits[f, span[1] - start + offset] = 10.0
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


# --- the task ------------------------------------------------------------------------------------------


class SquadTask:
    """Span prediction: Google's loss, the mean of the start and end cross-entropies, as a sum over features."""

    def divisors(self, batch: training.Batch) -> Tensor:
        return torch.tensor([float(len(batch["input_ids"]))])

    def loss_sums(self, model: nn.Module, batch: training.Batch) -> tuple[Tensor, dict[str, Tensor]]:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"])
        start_ce = F.cross_entropy(output.start_logits.float(), batch["start_positions"], reduction="none")
        end_ce = F.cross_entropy(output.end_logits.float(), batch["end_positions"], reduction="none")
        span_loss = ((start_ce + end_ce) / 2).sum()
        return span_loss[None], {"span_loss": span_loss.detach()}

    def metric_divisors(self) -> dict[str, int]:
        return {"span_loss": 0}


@torch.no_grad()
def predict_logits(model: nn.Module, features: Features, batch_size: int, device: torch.device, precision: str,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """float32 [F, T] start and end logits of every feature."""
    model.eval()
    starts, ends = [], []
    for first in tqdm(range(0, len(features), batch_size), desc="predicting", unit=" batches", disable=not progress):
        batch = training.to_device(features.batch(np.arange(first, min(first + batch_size, len(features))), False),
                                   device)
        with training.autocast(device, precision):
            output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                           attention_mask=batch["attention_mask"])
        starts.append(output.start_logits.float().cpu().numpy())
        ends.append(output.end_logits.float().cpu().numpy())
    return np.concatenate(starts), np.concatenate(ends)


# --- the run -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadFlags:
    vocab_file: str
    bert_config_file: str | None
    output_dir: str
    init_checkpoint: str | None = None
    do_lower_case: bool = True
    tokenizer: str = "mecab"
    do_train: bool = False
    train_file: str | None = None
    do_predict: bool = False
    predict_file: str | None = None
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    train_batch_size: int = 32
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    strip_josa: bool = False
    skip_bad_examples: bool = False
    gradient_accumulation_steps: int = 1
    save_checkpoints_steps: int = 1000
    device: str = "auto"
    precision: str = "auto"
    seed: int = 42
    log_every: int = 10
    overwrite_output_dir: bool = False


def model_config(flags: SquadFlags) -> modeling.BertConfig:
    """--bert_config_file, or the config of --init_checkpoint (a Hugging Face directory's config.json, or the
    bert_config.json run_pretraining writes beside its checkpoints)."""
    candidates = [flags.bert_config_file] if flags.bert_config_file else []
    if flags.init_checkpoint:
        source = Path(flags.init_checkpoint)
        base = source if source.is_dir() else source.parent
        candidates += [str(base / "config.json"), str(base / "bert_config.json")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return modeling.BertConfig.from_json_file(candidate)
    raise InputError("no model config: pass --bert_config_file (or an --init_checkpoint with a config beside it)")


def run(flags: SquadFlags, progress: bool = True) -> dict[str, float]:
    if not (flags.do_train or flags.do_predict):
        raise InputError("nothing to do: pass --do_train and/or --do_predict")
    if flags.do_train and not flags.train_file:
        raise InputError("--do_train needs --train_file")
    if flags.do_predict and not flags.predict_file:
        raise InputError("--do_predict needs --predict_file")
    return training.in_process_group(flags.device, functools.partial(_run, flags, progress=progress))


def run_identity(flags: SquadFlags, config: modeling.BertConfig, init: str | None) -> dict[str, Any]:
    """What defines a fine-tuning run: a resume with anything else is refused (see training.prepare_run_dir)."""
    return {
        "script": "run_squad",
        "bert_config": config.to_dict(),
        "init_checkpoint": training.file_identity(init),
        "train_file_sha256": file_sha256(flags.train_file),
        "vocab_sha256": file_sha256(flags.vocab_file),
        **{name: getattr(flags, name) for name in (
            "do_lower_case", "tokenizer", "max_seq_length", "doc_stride", "max_query_length", "train_batch_size",
            "learning_rate", "num_train_epochs", "warmup_proportion", "version_2_with_negative", "skip_bad_examples",
            "seed")},
    }


def _owns(name: str) -> bool:
    return training.owns_run_file(name) or name in (
        "bert_config.json", "predictions.json", "nbest_predictions.json", "null_odds.json", "eval_results.json")


def _run(flags: SquadFlags, distributed: training.Distributed, progress: bool) -> dict[str, float]:
    device = training.resolve_device(flags.device, distributed.local_rank)
    precision = training.resolve_precision(flags.precision, device)
    tokenizer = tokenization.FullTokenizer(flags.vocab_file, flags.do_lower_case, flags.tokenizer)
    feature_config = FeatureConfig(flags.max_seq_length, flags.doc_stride, flags.max_query_length)
    torch.manual_seed(flags.seed)
    init = training.resolve_init_checkpoint(flags.init_checkpoint) if flags.init_checkpoint else None
    config = model_config(dataclasses.replace(flags, init_checkpoint=init))
    if config.max_position_embeddings < flags.max_seq_length:
        raise InputError(f"--max_seq_length {flags.max_seq_length} is longer than the model's "
                         f"max_position_embeddings ({config.max_position_embeddings})")
    modeling.check_vocab_fits(config, len(tokenizer.vocab), flags.vocab_file,
                              flags.bert_config_file or flags.init_checkpoint or "the model config")
    # Both data files are read and checked before the model is loaded, and the run folder is touched only after.
    train = _read(flags, flags.train_file, True, tokenizer, feature_config, distributed) if flags.do_train else None
    predict = _read(flags, flags.predict_file, False, tokenizer, feature_config, distributed) \
        if flags.do_predict and distributed.is_main else None
    output_dir = Path(flags.output_dir)
    training.check_init_outside(flags.init_checkpoint, output_dir, flags.overwrite_output_dir)
    model = modeling.create_model(modeling.BertForQuestionAnswering, config)
    note = modeling.load_pretrained(model, init).summary() if init else "initialized at random"
    if train is None:
        fine_tuned = _load_fine_tuned(model, output_dir, flags, config)
        note = fine_tuned or note
        if fine_tuned is None and init is None:
            raise InputError("--do_predict without --do_train needs a model: an --init_checkpoint, or an "
                             "--output_dir that holds a fine-tuned run")
    model.to(device)
    results: dict[str, float] = {}
    if distributed.is_main:
        click.echo(f"model: {note}; device {device}, precision {precision}", err=True)
    if train is not None:
        identity = run_identity(flags, config, init)
        with training.run_dir_lock(output_dir, distributed.is_main):
            plan = training.prepare_run_dir(output_dir, identity, flags.overwrite_output_dir, _owns)
            results.update(_train(flags, model, train, identity, plan, device, precision, distributed, progress))
    if predict is not None:
        results.update(_predict(flags, model, predict, device, precision, progress))
    return results


def _load_fine_tuned(model: modeling.BertForQuestionAnswering, output_dir: Path, flags: SquadFlags,
                     config: modeling.BertConfig) -> str | None:
    """Prediction alone into a fine-tuning run's folder predicts with that run's newest checkpoint, as
    Google's Estimator does with its model_dir; returns what was loaded (None: the folder holds no run).
    The run must have been made with this model config, vocab and tokenizer (see its run.json)."""
    if not training.checkpoints(output_dir):
        return None
    identity = {"bert_config": config.to_dict(), "vocab_sha256": file_sha256(flags.vocab_file),
                "tokenizer": flags.tokenizer, "do_lower_case": flags.do_lower_case}
    record = output_dir / training.RUN_FILE
    recorded = training.read_run_record(record) if record.is_file() else {}
    compare = list(identity) if recorded.get("script") == "run_squad" else ["bert_config"]
    training.prepare_run_dir(output_dir, identity, False, _owns, compare=compare)
    newest = training.checkpoints(output_dir)[-1]
    if "qa_outputs.weight" in modeling.load_pretrained(model, newest).initialized:
        raise InputError(f"{output_dir} holds a pretraining run, not a fine-tuned one (no answer layer in {newest}): "
                         f"fine-tune it with --do_train, or give it as --init_checkpoint with another --output_dir")
    return f"the fine-tuned {newest}"


def _read(flags: SquadFlags, path: str, is_training: bool, tokenizer: tokenization.FullTokenizer,
          feature_config: FeatureConfig, distributed: training.Distributed) -> Dataset:
    start = time.perf_counter()
    dataset = featurize(path, tokenizer, feature_config, is_training, flags.version_2_with_negative,
                        flags.skip_bad_examples)
    if len(dataset.features) == 0:
        raise InputError(f"{path}: no {'training features' if is_training else 'questions to predict'}")
    if distributed.is_main:
        click.echo(f"{'train' if is_training else 'predict'}: {dataset.read_stats.describe()}; "
                   f"{len(dataset.features)} features, answers cut inside a word piece: "
                   f"{dataset.feature_stats.answers_inside_a_piece}, outside every window: "
                   f"{dataset.feature_stats.answers_outside_every_window} ({time.perf_counter() - start:.1f} s)",
                   err=True)
    return dataset


def _train(flags: SquadFlags, model: modeling.BertForQuestionAnswering, train: Dataset, identity: dict[str, Any],
           plan: str, device: torch.device, precision: str, distributed: training.Distributed,
           progress: bool) -> dict[str, float]:
    start = time.perf_counter()
    num_train_steps = max(1, math.ceil(len(train.features) * flags.num_train_epochs / flags.train_batch_size))
    config = training.TrainConfig(
        output_dir=flags.output_dir, train_batch_size=flags.train_batch_size, learning_rate=flags.learning_rate,
        num_train_steps=num_train_steps, num_warmup_steps=int(num_train_steps * flags.warmup_proportion),
        gradient_accumulation_steps=flags.gradient_accumulation_steps,
        save_checkpoints_steps=flags.save_checkpoints_steps, keep_checkpoints=1, log_every=flags.log_every,
        seed=flags.seed)
    micro = config.micro_batch_size(distributed.world_size)
    optimizer = optimization.create_optimizer(model, "adamw", flags.learning_rate)
    scheduler = optimization.linear_warmup_decay(optimizer, config.num_warmup_steps, num_train_steps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    state = training.TrainState(model, optimizer, scheduler, scaler)
    resumed = training.resume_plan(state, flags.output_dir, plan, distributed)
    if resumed is not None and distributed.is_main:
        click.echo(f"resumed from {resumed} (step {state.step})", err=True)
    if distributed.is_main:
        training.start_run(flags.output_dir, identity, plan, _owns)
        write_text(Path(flags.output_dir) / "bert_config.json", model.config.to_json_string())
    start_step = state.step
    order = training.ShuffledStream(len(train.features), flags.seed)

    def make_batches(step: int) -> list[training.Batch]:
        return [train.features.batch(indices, True)
                for indices in order.step_indices(step, flags.train_batch_size, micro, distributed)]

    if distributed.world_size > 1:
        state.model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    results = training.train(SquadTask(), state, config, make_batches, device, precision, distributed,
                             tokens_in=lambda b: int(b["attention_mask"].sum()),
                             extra_checkpoint={"bert_config": model.config.to_dict()}, progress=progress)
    state.model = model
    if distributed.is_main:
        click.echo(f"trained {state.step - start_step} steps ({start_step} -> {state.step} of {num_train_steps}: "
                   f"{flags.num_train_epochs} epochs of {len(train.features)} features) in "
                   f"{time.perf_counter() - start:.1f} s; checkpoint in {flags.output_dir}/", err=True)
    return {f"train_{k}": v for k, v in results.items() if k != "step"}


def _predict(flags: SquadFlags, model: modeling.BertForQuestionAnswering, dataset: Dataset, device: torch.device,
             precision: str, progress: bool) -> dict[str, float]:
    start = time.perf_counter()
    starts, ends = predict_logits(model, dataset.features, flags.predict_batch_size, device, precision, progress)
    predict_config = PredictConfig(flags.n_best_size, flags.max_answer_length, flags.version_2_with_negative,
                                   flags.null_score_diff_threshold)
    predictions, nbest, null_odds = best_spans(dataset, starts, ends, predict_config)
    if flags.strip_josa:
        strip = JosaStripper()
        predictions = {qid: strip(answer) for qid, answer in predictions.items()}
    output_dir = Path(flags.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval_results.json").unlink(missing_ok=True)  # another prediction's scores: never left beside these
    write_json(output_dir / "predictions.json", predictions)
    write_json(output_dir / "nbest_predictions.json", nbest)
    if flags.version_2_with_negative:
        write_json(output_dir / "null_odds.json", null_odds)
    click.echo(f"predicted {len(dataset.features)} features in {time.perf_counter() - start:.1f} s; "
               f"predictions.json, nbest_predictions.json{', null_odds.json' if flags.version_2_with_negative else ''}"
               f" in {output_dir}/", err=True)
    if not any(example.answers or example.is_impossible for example in dataset.examples):
        click.echo(f"not scored: {flags.predict_file} has no gold answers (a test set)", err=True)
        return {}
    na_probs = null_odds if flags.version_2_with_negative else None
    scores = evaluate_squad.evaluate(dataset.data, predictions, na_probs, source=flags.predict_file)
    write_json(output_dir / "eval_results.json", scores)
    click.echo(json.dumps(scores))
    return {f"eval_{k}": v for k, v in scores.items()}


@click.command(cls=Command)
@click.option("--vocab_file", required=True, help="The vocab the model was trained with.")
@click.option("--bert_config_file", default=None,
              help="The model's config (default: the one beside --init_checkpoint).")
@click.option("--init_checkpoint", default=None, help="Our pretraining checkpoint (or its output directory: the "
              "newest one), or a Hugging Face BERT directory.")
@click.option("--output_dir", required=True, type=OUTPUT_PATH,
              help="Checkpoints, predictions.json, nbest_predictions.json, ...")
@bool_option("--do_lower_case", True, "Lower-case (never decomposes Hangul); must match the vocab.")
@click.option("--tokenizer", type=click.Choice(["mecab", "wordpiece"]), default="mecab", show_default=True)
@bool_option("--do_train", False, "Fine-tune on --train_file.")
@click.option("--train_file", default=None, help="SQuAD-format JSON for training.")
@bool_option("--do_predict", False, "Predict on --predict_file and score.")
@click.option("--predict_file", default=None, help="SQuAD-format JSON for predictions.")
@click.option("--max_seq_length", default=384, type=click.IntRange(min=4), show_default=True)
@click.option("--doc_stride", default=128, type=POSITIVE, show_default=True, help="Stride between context windows.")
@click.option("--max_query_length", default=64, type=POSITIVE, show_default=True, help="Question tokens kept.")
@click.option("--train_batch_size", default=32, type=POSITIVE, show_default=True)
@click.option("--predict_batch_size", default=8, type=POSITIVE, show_default=True)
@click.option("--learning_rate", default=5e-5, type=POSITIVE_FLOAT, show_default=True)
@click.option("--num_train_epochs", default=3.0, type=POSITIVE_FLOAT, show_default=True)
@click.option("--warmup_proportion", default=0.1, type=PROBABILITY, show_default=True)
@click.option("--n_best_size", default=20, type=POSITIVE, show_default=True)
@click.option("--max_answer_length", default=30, type=POSITIVE, show_default=True, help="In tokens.")
@bool_option("--version_2_with_negative", False, "SQuAD 2.0: questions may have no answer.")
@click.option("--null_score_diff_threshold", default=0.0, type=FINITE_FLOAT, show_default=True,
              help="v2: predict no answer when null score - best non-null score exceeds this.")
@bool_option("--strip_josa", False, "Drop trailing Korean particles from predicted answers.")
@bool_option("--skip_bad_examples", False, "Skip (and count) malformed questions instead of stopping.")
@click.option("--gradient_accumulation_steps", default=1, type=POSITIVE, show_default=True)
@click.option("--save_checkpoints_steps", default=1000, type=POSITIVE, show_default=True)
@training.device_options
@click.option("--seed", default=42, type=SEED, show_default=True)
@click.option("--log_every", default=10, type=POSITIVE, show_default=True)
@bool_option("--overwrite_output_dir", False, "Start afresh in an --output_dir that holds another run (its files are "
             "kept in .previous_run/ until the first new checkpoint). Without it a run resumes only itself.")
def main(**flags) -> None:
    """Fine-tune and predict on KorQuAD 1.0 / SQuAD v1.1 / v2.0, scored with the official metrics."""
    with user_errors(training.TrainingError):
        run(SquadFlags(**flags))


if __name__ == "__main__":
    sys.exit(main())
