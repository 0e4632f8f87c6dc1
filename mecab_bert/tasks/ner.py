# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_ner.py's task: named entities to the character. A sentence's entities become tags of its tokens through the
tokens' character offsets (ner_data.token_tags), a sentence longer than a sequence is cut into windows as run_squad
cuts a context (each token predicted from the window where it has the most context), and the predicted tags go back
to character spans exactly (ner_data.decode_entities), scored on the gold characters (ner_metrics)."""

from __future__ import annotations

import json
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
from mecab_bert.cli import POSITIVE, flag
from mecab_bert.files import atomic_output, file_sha256, read_json, shown
from mecab_bert.runs import batching, devices, loop, run_folder, skeleton
from mecab_bert.tasks import fine_tuning, ner_data, ner_metrics
from mecab_bert.tasks.ner_data import Entity, Sentence
from mecab_bert.tasks.windows import doc_windows, max_context_window
from text_input import InputError

IGNORED = modeling.IGNORED_LABEL


@dataclass(frozen=True, kw_only=True)
class NerFlags(fine_tuning.TaskFilesFlags):
    """run_ner.py's flags: run_classifier's names, with the fine-tuning and loop ones (fine_tuning.TaskFilesFlags)."""

    task_name: str = flag(help="The data format.", type=click.Choice(sorted(ner_data.processors),
                                                                    case_sensitive=False))
    doc_stride: int = flag(64, "Stride between the windows of a sentence longer than --max_seq_length tokens.",
                           POSITIVE)


@dataclass(frozen=True)
class NerStats:
    """What turning sentences into windows met, for the log line."""

    sentences: int
    entities: int
    windows: int
    cut: int  # entities with a boundary inside a token: counted, never moved
    uncovered: int  # entities with a boundary beside a character no token covers (" 24살")

    def describe(self) -> str:
        return (f"{self.sentences} sentences, {self.entities} entities, {self.windows} windows, entities cut inside "
                f"a token: {self.cut}, beside a character no token covers: {self.uncovered}")


@dataclass(frozen=True, eq=False)
class NerFeatures:
    """Every window of every sentence as padded arrays (W = windows, T = max_seq_length): input_ids int32 [W, T],
    token_type_ids and attention_mask int8 [W, T], labels int64 [W, T] (tag ids, IGNORED at [CLS], [SEP] and
    padding); window_sentence int64 [W] and window_first int64 [W], the sentence and first token of each window.
    Per sentence: its tokens' offsets, and for each token the window it is predicted from (`best`)."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    labels: np.ndarray
    window_sentence: np.ndarray
    window_first: np.ndarray
    sentences: list[Sentence]
    starts: list[np.ndarray]
    ends: list[np.ndarray]
    best: list[np.ndarray]
    stats: NerStats

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, indices: np.ndarray, with_labels: bool = True) -> dict[str, Tensor]:
        batch = batching.int64_rows(self, batching.MODEL_INPUTS, indices)
        if with_labels:
            batch["labels"] = torch.from_numpy(self.labels[indices])
        return batch

    def token_logits(self, logits: np.ndarray) -> list[np.ndarray]:
        """Each sentence's token logits [tokens, C], each token's from its max-context window."""
        return [logits[best, np.arange(len(best)) - self.window_first[best] + 1]  # + 1: [CLS]
                for best in self.best]


class Window(NamedTuple):
    """One window of a sentence: its tokens' ids and tag ids, the sentence's index and the window's first token."""

    ids: np.ndarray
    tags: np.ndarray
    sentence: int
    first: int


def convert_sentences(sentences: Sequence[Sentence], tokenizer: tokenization.FullTokenizer, tags: Sequence[str],
                      max_seq_length: int, doc_stride: int) -> NerFeatures:
    """[CLS] window [SEP] for every window of every sentence (Google's windows, doc_windows), with the tag of each
    token as ner_data.token_tags gives it. Raises InputError when max_seq_length leaves no room for a token."""
    if max_seq_length < 3:
        raise InputError(f"--max_seq_length {max_seq_length}: too short for [CLS] token [SEP]; at least 3")
    cls_id, sep_id, width = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"], max_seq_length - 2
    rows: list[Window] = []
    starts, ends, best = [], [], []
    cut = uncovered = 0
    for index, sentence in enumerate(sentences):
        ids, token_starts, token_ends = tokenizer.encode_with_offsets(sentence.text)
        tagged = ner_data.token_tags(sentence, token_starts, token_ends, tags)
        cut += tagged.cut
        uncovered += tagged.uncovered
        windows = doc_windows(len(ids), width, doc_stride)
        offset = len(rows)
        rows += [Window(ids[first:first + size], tagged.ids[first:first + size], index, first)
                 for first, size in windows]
        starts.append(token_starts)
        ends.append(token_ends)
        best.append(max_context_window(windows, len(ids)) + offset if len(ids) else np.zeros(0, dtype=np.int64))
    input_ids = np.zeros((len(rows), max_seq_length), dtype=np.int32)
    labels = np.full((len(rows), max_seq_length), IGNORED, dtype=np.int64)
    attention_mask = np.zeros((len(rows), max_seq_length), dtype=np.int8)
    for row, window in enumerate(rows):
        input_ids[row, :len(window.ids) + 2] = [cls_id, *window.ids, sep_id]
        labels[row, 1:len(window.ids) + 1] = window.tags
        attention_mask[row, :len(window.ids) + 2] = 1
    stats = NerStats(len(sentences), sum(len(s.entities) for s in sentences), len(rows), cut, uncovered)
    return NerFeatures(input_ids, np.zeros_like(attention_mask), attention_mask, labels,
                       np.array([w.sentence for w in rows], dtype=np.int64),
                       np.array([w.first for w in rows], dtype=np.int64),
                       list(sentences), starts, ends, best, stats)


def predicted_entities(features: NerFeatures, logits: np.ndarray, tags: Sequence[str]) -> list[tuple[Entity, ...]]:
    """Each sentence's entities from the model's logits [W, T, C]: each token's tag (argmax) from its max-context
    window, decoded to character spans (ner_data.decode_entities)."""
    return [ner_data.decode_entities(token_logits.argmax(-1), starts, ends, tags)
            for token_logits, starts, ends in zip(features.token_logits(logits), features.starts, features.ends,
                                                  strict=True)]


class NerTask:
    """Hugging Face's token-classification loss (modeling.token_classification_loss), summed over labeled tokens."""

    def divisors(self, batch: batching.Batch) -> Tensor:
        return (batch["labels"] != IGNORED).sum().float()[None]

    def loss_sums(self, model: nn.Module, batch: batching.Batch) -> loop.LossSums:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"])
        # unpad cut the model's inputs to the longest row; what it cut is padding, IGNORED in the labels too.
        head = modeling.token_classification_loss(output.logits, batch["labels"][:, :output.logits.shape[1]])
        return loop.LossSums(head.total[None], {"tagger_loss": head.total.detach(), "token_accuracy": head.correct})

    def metric_divisors(self) -> dict[str, int]:
        return {"tagger_loss": 0, "token_accuracy": 0}


class NerFineTuning(fine_tuning.TaskFilesRun):
    """run_ner's part of a run."""

    name = "run_ner"
    model_class = modeling.BertForTokenClassification
    outputs = ("eval_results.txt", "eval_results.json", "test_predictions.jsonl")
    task = NerTask()

    def __init__(self, flags: NerFlags, is_main: bool):
        super().__init__(flags, is_main)
        self.processor = ner_data.processors[flags.task_name]
        self.train_sentences: list[Sentence] | None = None  # read once, by the first that needs them (train_split)
        self.labels = self._labels()
        self.tags = ner_data.tag_names(self.labels)

    def train_split(self) -> list[Sentence]:
        """The training file's sentences, read once (a format without fixed types takes its labels from them)."""
        if self.train_sentences is None:
            path = self.file("train")
            sentences = self.processor.read(path)  # an empty file is its InputError
            if not any(sentence.entities for sentence in sentences):
                raise InputError(f"{path}: no entity in its {len(sentences)} sentences: a tagger trained on it would "
                                 f"learn to tag nothing")
            self.train_sentences = sentences
        return self.train_sentences

    def _labels(self) -> tuple[str, ...]:
        """The entity types, in the model's order: the format's own, else the training file's, else those of the model
        a prediction uses (self.source): a run_ner run's run.json, or a token classifier's id2label."""
        if self.processor.labels is not None:
            return tuple(self.processor.labels)
        if self.flags.do_train:
            return ner_data.entity_labels(self.train_split())
        source = self.source
        record = run_folder.run_record_beside(source.path) if source.path else None
        if record is not None and record.values.get("script") == self.name:
            recorded = record.values.get("labels")
            if isinstance(recorded, list) and all(isinstance(label, str) for label in recorded):
                return _checked_labels(tuple(recorded), f"{record.path}: labels")
        if source.path and (Path(source.path) / "config.json").is_file():
            return _model_labels(Path(source.path) / "config.json")
        raise InputError(f"{self.processor.name} has no fixed entity types: train (--do_train), or predict with a "
                         f"model that tags them (a run_ner run or a token classifier's Hugging Face directory)")

    def train_identity(self) -> dict[str, Any]:
        return {"train_file_sha256": file_sha256(self.file("train")),
                **{name: getattr(self.flags, name) for name in ("max_seq_length", "doc_stride")}}

    def model_identity(self) -> dict[str, Any]:
        return {"task_name": self.flags.task_name, "labels": list(self.labels)}

    def create_model(self, config: modeling.BertConfig) -> modeling.BertForTokenClassification:
        return modeling.create_model(self.model_class, config, num_labels=len(self.tags),
                                     label_names=self.tags)

    def read_split(self, split: str) -> NerFeatures:
        path, start = self.file(split), time.perf_counter()
        sentences = self.train_split() if split == "train" else self.processor.read(path)
        ner_data.check_labels(sentences, self.labels)
        features = convert_sentences(sentences, self.tokenizer, self.tags, self.flags.max_seq_length,
                                     self.flags.doc_stride)
        unknown_tokens = self.unknown_tokens(features, path)
        if self.is_main:
            click.echo(f"{split}: {path}: {features.stats.describe()}, {unknown_tokens} "
                       f"({time.perf_counter() - start:.1f} s)", err=True)
        return features

    def write_test(self, model: nn.Module, test: NerFeatures, runtime: devices.Runtime) -> None:
        """test_predictions.jsonl: each sentence's entities as character spans."""
        logits = fine_tuning.predict(model, test, self.flags.predict_batch_size, runtime).logits
        path = Path(self.flags.output_dir) / "test_predictions.jsonl"
        write_predictions(path, test.sentences, predicted_entities(test, logits, self.tags))
        click.echo(f"predicted {len(test.sentences)} sentences: {path}", err=True)

    def evaluate(self, model: nn.Module, dev: NerFeatures, runtime: devices.Runtime, step: int) -> dict[str, float]:
        """eval_results.txt (Google's layout) and .json: the loss over tokens, and the scores on the gold characters."""
        logits = fine_tuning.predict(model, dev, self.flags.eval_batch_size, runtime).logits
        loss = modeling.token_classification_loss(torch.from_numpy(logits), torch.from_numpy(dev.labels)).loss
        results = {"eval_loss": float(loss), **{f"eval_{key}": value for key, value in
                                                score(dev, predicted_entities(dev, logits, self.tags),
                                                      self.labels).items()}}
        self.write_eval_results(results, step)
        return results


def _model_labels(config: Path) -> tuple[str, ...]:
    """The entity types of a Hugging Face token classifier's config.json, in its order: its id2label must be run_ner's
    tags (O, then B- and I- of each type, ner_data.tag_names), as ours are, and any other tagger in that order."""
    values = read_json(config)
    names = modeling.hf_label_names(values, str(config)) if isinstance(values, dict) else None
    labels = tuple(name[2:] for name in names or () if name.startswith("B-"))
    if not labels or names != ner_data.tag_names(labels):
        raise InputError(f"{config}: its id2label {shown(list(names or ()))[:200]} is not the tags O, B-<type>, "
                         f"I-<type>, ... in that order, which run_ner reads: it is no entity tagger of this kind")
    return _checked_labels(labels, f"{config}: id2label")


def _checked_labels(labels: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Entity types a model records, held to the rules of the types a data file gives (ner_data.label_problem), each
    once; InputError naming `where` otherwise."""
    for label in labels:
        problem = ner_data.label_problem(label)
        if problem is not None:
            raise InputError(f"{where}: the entity type {shown(label)[:120]} {problem}")
    if len(set(labels)) != len(labels):
        raise InputError(f"{where}: an entity type appears twice: {shown(list(labels))[:200]}")
    return labels


def score(features: NerFeatures, predicted: Sequence[Sequence[Entity]], labels: Sequence[str]) -> dict[str, float]:
    """Entity precision, recall and F1 (micro, and macro over types) and KLUE's character macro F1 over `labels`, all
    on the gold characters; with the gold entities no token boundary can reproduce (cut, uncovered)."""
    sentences = features.sentences
    return {**ner_metrics.entity_scores([s.entities for s in sentences], predicted),
            "char_macro_f1": ner_metrics.char_macro_f1(sentences, predicted, labels),
            "entities_cut": float(features.stats.cut), "entities_uncovered": float(features.stats.uncovered)}


def write_predictions(path: Path, sentences: Sequence[Sentence], predicted: Sequence[Sequence[Entity]]) -> None:
    """test_predictions.jsonl: {"id", "text", "entities": [{"start", "end", "label", "text"}]} a line, atomically."""
    with atomic_output(path) as writer:
        for sentence, entities in zip(sentences, predicted, strict=True):
            spans = [{"start": e.start, "end": e.end, "label": e.label, "text": sentence.text[e.start:e.end]}
                     for e in entities]
            writer.write(json.dumps({"id": sentence.id, "text": sentence.text, "entities": spans},
                                    ensure_ascii=False) + "\n")


def run(flags: NerFlags, progress: bool = True) -> dict[str, float]:
    return skeleton.run(flags, NerFineTuning, {"--do_eval": flags.do_eval, "--do_predict": flags.do_predict}, progress)
