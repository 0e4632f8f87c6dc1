# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""What run_squad.py, run_classifier.py and run_ner.py share: their flags, the model they start from, their part
of the run.

A fine-tuning script subclasses `FineTuningRun` (how to read its files, its model and Task, how to predict and
what it writes); the class adds what every fine-tuning run shares, and runs/skeleton.py walks the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import click
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

import modeling
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import loading
from mecab_bert.cli import INPUT_PATH, POSITIVE, POSITIVE_FLOAT, PROBABILITY, SEED, flag
from mecab_bert.files import file_sha256, read_json, shown, write_json
from mecab_bert.runs import checkpointing, devices, loop, run_folder, skeleton
from mecab_bert.runs.loop import TrainingFlags
from text_input import InputError


@dataclass(frozen=True, kw_only=True)
class FineTuningFlags(TrainingFlags):
    """The flags of every fine-tuning script, on top of the loop's."""

    # The tokenizer flags default to a Hugging Face --init_checkpoint's own tokenizer (else True and mecab);
    # `run` resolves them (tokenizer_settings.resolve_tokenizer), so nothing past it sees None.
    vocab_file: str | None = flag(None, "The vocab the model was trained with (default: a Hugging Face "
                                        "--init_checkpoint's vocab.txt).", type=INPUT_PATH)
    bert_config_file: str | None = flag(None, "The model's config (default: the one beside --init_checkpoint).",
                                        INPUT_PATH)
    do_lower_case: bool | None = flag(None, "Lower-case (never decomposes Hangul); must match the vocab (default: "
                                            "a Hugging Face --init_checkpoint's, else True).", click.BOOL)
    tokenizer: str | None = flag(None, "mecab (morphemes, then WordPiece) or wordpiece (Google's) (default: a "
                                       "Hugging Face --init_checkpoint's, else mecab).",
                                 click.Choice(tokenizer_settings.TOKENIZER_MODES))
    max_seq_length: int = flag(128, "Tokens per sequence, [CLS] and [SEP]s included.", click.IntRange(3, 2**31 - 1))
    predict_batch_size: int = flag(8, "", POSITIVE)
    num_train_epochs: float = flag(3.0, "", POSITIVE_FLOAT)
    warmup_proportion: float = flag(0.1, "The share of the steps that warm the learning rate up.", PROBABILITY)
    train_file: str | None = flag(None, "The training file (run_classifier: instead of the task's in --data_dir).",
                                  INPUT_PATH)
    do_predict: bool = flag(False, "Predict on --predict_file (run_classifier: the task's test file).")
    predict_file: str | None = flag(None, "The file to predict on.", type=INPUT_PATH)
    keep_checkpoints: int = flag(1, "How many of the newest checkpoints to keep.", POSITIVE)
    seed: int = flag(42, "", SEED)


@dataclass(frozen=True, kw_only=True)
class TaskFilesFlags(FineTuningFlags):
    """The flags of a fine-tuning script whose task reads a train, a dev and a test file (run_classifier, run_ner),
    on top of FineTuningFlags; the script adds its --task_name."""

    data_dir: str | None = flag(None, "The folder of the task's files (their default names: see docs/scripts.md).",
                                INPUT_PATH)
    eval_file: str | None = flag(None, "Evaluate on this file instead of the task's dev file in --data_dir.",
                                 INPUT_PATH)
    do_eval: bool = flag(False, "Score the dev file: eval_results.txt (Google's) and eval_results.json.")
    eval_batch_size: int = flag(8, "", POSITIVE)


# The flag that names each split's file, where the task's file in --data_dir is not the one to read.
SPLIT_FLAGS = {"train": "--train_file", "dev": "--eval_file", "test": "--predict_file"}


def split_file(flags: Any, processor: Any, split: str) -> str:
    """The file of a split (train, dev, test): its flag (SPLIT_FLAGS), else the task's file of that split in
    --data_dir (`processor.file_path(data_dir, split)`, with `processor.name` for the message)."""
    flag_name = SPLIT_FLAGS[split]
    given = getattr(flags, flag_name.removeprefix("--"))
    if given:
        return given
    if not flags.data_dir:
        raise InputError(f"no {split} file: pass --data_dir (where {processor.name}'s "
                         f"{Path(processor.file_path('', split)).name} is) or {flag_name}")
    return processor.file_path(flags.data_dir, split)


def model_config(flags: FineTuningFlags, init: str | None) -> modeling.BertConfig:
    """--bert_config_file, or the config of --init_checkpoint (a Hugging Face directory's config.json, or the
    bert_config.json the training scripts write beside their checkpoints), or that of the run in --output_dir."""
    candidates = [flags.bert_config_file] if flags.bert_config_file else []
    if init:
        source = Path(init)
        base = source if source.is_dir() else source.parent
        candidates += [str(base / "config.json"), str(base / "bert_config.json")]
    if loading.checkpoints(flags.output_dir):  # (a prediction continuing the run has no init: see model_source)
        candidates.append(str(Path(flags.output_dir) / "bert_config.json"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return modeling.BertConfig.from_json_file(candidate)
    raise InputError("no model config: pass --bert_config_file (or an --init_checkpoint with a config beside it)")


class ModelSource(NamedTuple):
    """The checkpoint whose model a run starts from or predicts with (None: none given), as messages name it."""

    path: str | None
    name: str


def model_source(flags: FineTuningFlags) -> ModelSource:
    """--init_checkpoint, else the run in --output_dir that a prediction continues or a training resumes (a
    prediction into a run's folder takes that run, and the skeleton has set --init_checkpoint aside:
    skeleton.continues_run)."""
    if flags.init_checkpoint:
        return ModelSource(loading.resolve_init_checkpoint(flags.init_checkpoint),
                           f"--init_checkpoint {flags.init_checkpoint}")
    found = loading.checkpoints(flags.output_dir)
    return ModelSource(str(found[-1]) if found else None, f"the run in --output_dir {flags.output_dir}")


def recorded_tokenizer(source: ModelSource) -> tokenizer_settings.Recorded | None:
    """What the run of a checkpoint recorded of its tokenizer (its run.json); None where it is no run of ours."""
    record = run_folder.run_record_beside(source.path) if source.path else None
    return tokenizer_settings.Recorded.of(record.values, f"{source.name} ({record.path})") if record else None


def schedule(flags: FineTuningFlags, size: int) -> skeleton.Schedule:
    """The steps of --num_train_epochs over `size` training sequences, and the warmup. Google's scripts round the
    steps down, dropping a last partial batch; here they round up, so every sequence is seen num_train_epochs
    times (and at least one step is trained)."""
    exact = size * flags.num_train_epochs / flags.train_batch_size
    if exact > loading.MAX_STEPS:  # before ceil: a typo'd --num_train_epochs 1e306 is infinite steps
        raise InputError(f"--num_train_epochs {flags.num_train_epochs:g} of {size} sequences is more than "
                         f"{loading.MAX_STEPS} steps of --train_batch_size {flags.train_batch_size}")
    steps = max(1, math.ceil(exact))
    return skeleton.Schedule(steps, int(steps * flags.warmup_proportion))


class FineTuningRun:
    """What every fine-tuning script's part of a run (skeleton.Script) shares: the tokenizer flags resolved, the
    model config, an --init_checkpoint's task, the epochs, the run's own fine-tuned checkpoint when only predicting,
    the export. A fine-tuning script subclasses it with its name, model class, outputs and Task and the methods below
    that raise NotImplementedError, and hands the subclass to skeleton.run."""

    name: str  # recorded in run.json ("run_squad")
    model_class: type[modeling.BertPreTrainedModel]  # what create_model builds
    outputs: tuple[str, ...]  # the files its predictions write into --output_dir
    task: loop.Task
    card_flags = ("init_checkpoint", "max_seq_length", "num_train_epochs", "train_batch_size", "learning_rate")

    def __init__(self, flags: FineTuningFlags, is_main: bool):
        self.source = model_source(flags)  # what the run's tokenizer (and a tagger's types) follow
        settings = tokenizer_settings.resolve_tokenizer(flags.vocab_file, flags.do_lower_case, flags.tokenizer,
                                                        flags.init_checkpoint, recorded_tokenizer(self.source))
        self.flags = dataclasses.replace(flags, vocab_file=settings.vocab_file, do_lower_case=settings.do_lower_case,
                                         tokenizer=settings.tokenizer)
        self.settings, self.is_main = settings, is_main
        self.tokenizer = settings.full_tokenizer()
        if is_main:
            click.echo(settings.describe(), err=True)

    @property
    def head(self) -> str:
        """A parameter that only the fine-tuned model has ("qa_outputs.weight"): a pretraining run lacks it."""
        return f"{self.model_class.heads[0]}weight"

    def data_files(self) -> dict[str, str | None]:
        """The data files this run reads, by flag (--train_file: path): what its outputs must never replace."""
        raise NotImplementedError

    def train_identity(self) -> dict[str, Any]:
        """The flags and files beyond the shared ones that define a training run (its train file's sha256)."""
        raise NotImplementedError

    def model_identity(self) -> dict[str, Any]:
        """What the fine-tuned head's outputs mean (a classifier's labels): predicting with a run's checkpoint
        needs the same."""
        raise NotImplementedError

    def read_train(self) -> loop.TrainingData:
        """The training data, read and checked; InputError when unusable."""
        raise NotImplementedError

    def read_predict(self) -> Any | None:
        """What to predict on (None: nothing), read and checked."""
        raise NotImplementedError

    def model_config(self, init: str | None) -> modeling.BertConfig:
        return model_config(self.flags, init)

    def unknown_tokens(self, features: Any, path: str) -> str:
        """The [UNK] rate of the features read from `path` (what the run's read line says), checked against
        --max_unk_rate: a vocab that does not fit the text stops the run before it trains on [UNK]."""
        unknown = tokenizer_settings.UnknownTokens.of_features(features.input_ids, features.attention_mask,
                                                               self.tokenizer.vocab)
        unknown.check(f"{path} with --vocab_file {self.flags.vocab_file}", self.flags.max_unk_rate)
        return unknown.describe()

    def vocab_size(self) -> int:
        return len(self.tokenizer.vocab)

    def vocab(self) -> skeleton.Vocab:
        return skeleton.Vocab(file_sha256(self.flags.vocab_file), f"--vocab_file {self.flags.vocab_file}")

    def input_files(self) -> list[tuple[str, str | None]]:
        return [("--vocab_file", self.flags.vocab_file), *self.data_files().items()]

    def read(self, config: modeling.BertConfig, init: str | None) -> skeleton.Inputs:
        train = self.read_train() if self.flags.do_train else None
        predict = self.read_predict()  # on every process: a bad file must stop them all, not rank 0 alone
        if init:
            _check_init_task(init, self)
        return skeleton.Inputs(train, predict)

    def start(self, model: nn.Module, report: loading.LoadReport | None, predicting: str) -> skeleton.Start:
        fine_tuned = _load_fine_tuned(model, self, model.config)
        if fine_tuned is not None:
            return skeleton.Start(f"the fine-tuned {fine_tuned.checkpoint}", fine_tuned.step, True)
        if report is None:
            raise InputError(f"{predicting} without --do_train needs a model: an --init_checkpoint, or an "
                             f"--output_dir that holds a fine-tuned run")
        note, head = report.summary(), self.head
        if report.fresh(head):
            if self.flags.export_hf:
                why = (f"has no {head}" if head in report.initialized else
                       f"has its {head} for another job ({report.foreign})")
                raise InputError(f"--export_hf without --do_train: {self.flags.init_checkpoint} {why}, so the "
                                 f"exported head would be random; fine-tune first (--do_train)")
            note += f"\nwarning: nothing fine-tuned {head}: the predictions are an untrained head's"
        return skeleton.Start(note, 0, False)

    def schedule(self, train: loop.TrainingData) -> skeleton.Schedule:
        steps = schedule(self.flags, len(train))
        if self.is_main:
            click.echo(f"fine-tuning: {self.flags.num_train_epochs:g} epochs of {len(train)} sequences, "
                       f"{steps.num_train_steps} steps of {self.flags.train_batch_size}", err=True)
        return steps

    def identity(self, init: str | None) -> dict[str, Any]:
        return {
            "init_checkpoint": loading.file_identity(init),
            "vocab_sha256": file_sha256(self.flags.vocab_file),
            **{name: getattr(self.flags, name) for name in (
                "do_lower_case", "tokenizer", "train_batch_size", "learning_rate", "num_train_epochs",
                "warmup_proportion", "optimizer", "weight_decay", "seed")},
            **self.train_identity(),
            **self.model_identity(),
        }

    def train_results(self, metrics: dict[str, float]) -> dict[str, float]:
        return {f"train_{key}": value for key, value in metrics.items() if key != "step"}

    def export(self, step: int, trained: bool) -> skeleton.Export:
        task = self.model_identity().get("task_name")
        facts: dict[str, Any] = {"steps": step}
        if trained:
            facts.update({name: path for name, path in self.data_files().items() if path})
        return skeleton.Export(self.settings, f"BERT fine-tuned with {self.name}.py" + (f" on {task}" if task else ""),
                               facts, tokenizer_settings.carried_tokenizer(self.flags.init_checkpoint, self.settings),
                               task)


class Evaluation(NamedTuple):
    """What --do_eval and --do_predict read: the features of the dev and test files (None when not asked)."""

    dev: Any
    test: Any


class TaskFilesRun(FineTuningRun):
    """A fine-tuning run whose task reads a train, a dev and a test file (TaskFilesFlags), each named by its flag or
    by the task's `processor` in --data_dir: --do_eval scores dev (`evaluate`), --do_predict writes what the model
    makes of test (`write_test`). A subclass sets `processor` and supplies `read_split`, `evaluate`, `write_test`."""

    processor: Any  # the task's format: its name and file_path(data_dir, split)

    def file(self, split: str) -> str:
        return split_file(self.flags, self.processor, split)

    def data_files(self) -> dict[str, str | None]:
        used = {"train": self.flags.do_train, "dev": self.flags.do_eval, "test": self.flags.do_predict}
        return {flag_name: self.file(split) for split, flag_name in SPLIT_FLAGS.items() if used[split]}

    def read_split(self, split: str) -> Any:
        """The features of a split's file, read and checked; InputError when unusable."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, dev: Any, runtime: devices.Runtime, step: int) -> dict[str, float]:
        """Scores dev: eval_results.txt and .json (write_eval_results); returns the results."""
        raise NotImplementedError

    def write_test(self, model: nn.Module, test: Any, runtime: devices.Runtime) -> None:
        """Writes what the model makes of the test file into --output_dir."""
        raise NotImplementedError

    def read_train(self) -> Any:
        return self.read_split("train")

    def read_predict(self) -> Evaluation | None:
        if not (self.flags.do_eval or self.flags.do_predict):
            return None
        return Evaluation(self.read_split("dev") if self.flags.do_eval else None,
                          self.read_split("test") if self.flags.do_predict else None)

    def predict(self, model: nn.Module, data: Evaluation, runtime: devices.Runtime, step: int) -> dict[str, float]:
        Path(self.flags.output_dir).mkdir(parents=True, exist_ok=True)
        results = self.evaluate(model, data.dev, runtime, step) if data.dev is not None else {}
        if data.test is not None:
            self.write_test(model, data.test, runtime)
        return results

    def write_eval_results(self, results: dict[str, float], step: int) -> None:
        """Google's eval_results.txt (key = value lines), the same as eval_results.json, and a JSON line on stdout."""
        output_dir = Path(self.flags.output_dir)
        run_folder.write_eval_results(output_dir / "eval_results.txt", results, step)
        write_json(output_dir / "eval_results.json", {**results, "global_step": step})
        click.echo(json.dumps(results))


@torch.no_grad()
def predict(model: nn.Module, data: loop.TrainingData, batch_size: int, runtime: devices.Runtime) -> Any:
    """The model's output over every item of `data`, in order: the model's output record (a NamedTuple) with each
    tensor field a float32 numpy array over all items (None where the model gave None).

    With runtime.unpad the items go in batches of like length (longest first), each cut to its longest: the same
    outputs for far less work on padding. Per-token fields (the record's `per_token`) are 0 at padding, whatever
    the batch: nothing there depends on which items were predicted together.
    """
    model.eval()
    order = np.arange(len(data))
    if runtime.unpad:
        lengths = np.concatenate([data.batch(order[first:first + 4096])["attention_mask"].sum(1).numpy()
                                  for first in range(0, len(data), 4096)] or [np.zeros(0)])
        order = np.argsort(-lengths, kind="stable")
    parts: list[tuple] = []
    bar = tqdm(range(0, len(data), batch_size), desc="predicting", unit=" batches",
               disable=not (runtime.progress and runtime.distributed.is_main))
    for first in bar:
        full = data.batch(order[first:first + batch_size])
        batch = runtime.to_device(full)
        with devices.autocast(runtime.device, runtime.precision):
            output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                           attention_mask=batch["attention_mask"])
        width, padding = full["input_ids"].shape[1], batch["attention_mask"] == 0
        per_token = getattr(output, "per_token", ())
        parts.append(type(output)(*(_zero_padding(value, padding, width) if name in per_token else value
                                    for name, value in zip(output._fields, output, strict=True))))
    inverse = np.argsort(order, kind="stable")
    return type(parts[0])(*(None if field[0] is None else
                            np.concatenate([t.float().cpu().numpy() for t in field])[inverse]
                            for field in zip(*parts, strict=True)))


def _zero_padding(value: torch.Tensor, padding: torch.Tensor, width: int) -> torch.Tensor:
    """A per-token output [B, t, ...] of a batch cut to t tokens, 0 at padding and padded back to `width` tokens."""
    value = value.masked_fill(padding.reshape(*padding.shape, *[1] * (value.dim() - 2)), 0)
    return F.pad(value, (0, 0) * (value.dim() - 2) + (0, width - value.shape[1]))


def _check_init_task(init: str, script: FineTuningRun) -> None:
    """A fine-tuned head starts a model only if it means the same (a classifier of the task): the run.json beside
    one of this script's checkpoints says, or the config.json of a Hugging Face directory of the same class (its
    finetuning_task: our exports write it). Another script's head is left out instead (loading.foreign_heads)."""
    source = Path(init)
    if source.is_dir() and (source / "config.json").is_file():
        values = read_json(source / "config.json")
        values = values if isinstance(values, dict) else {}
        if loading.foreign_heads(script.model_class, values, None) is not None:
            return  # its head is left out on load: what it was trained for does not matter
        task = values.get("finetuning_task")
        wanted = script.model_identity().get("task_name")
        if task is not None and wanted is not None and task != wanted:
            raise InputError(f"--init_checkpoint {init}: its {script.head} was fine-tuned for task {shown(task)} "
                             f"(config.json finetuning_task), this run's is {shown(wanted)}: start from a pretraining "
                             f"checkpoint instead")
        return
    record = source.parent / run_folder.RUN_FILE
    if not source.is_file() or not record.is_file():
        return
    try:
        recorded = run_folder.read_run_record(record)
    except InputError:  # that run's record is not ours to judge: nothing to compare with
        return
    if recorded.get("script") != script.name:
        return
    for key, value in script.model_identity().items():
        if recorded.get(key) != value:
            raise InputError(f"--init_checkpoint {init}: its {script.head} was fine-tuned for {key} "
                             f"{shown(recorded.get(key))}, this run's is {shown(value)}: start from a pretraining "
                             f"checkpoint instead")


def _load_fine_tuned(model: nn.Module, script: FineTuningRun, config: modeling.BertConfig
                     ) -> checkpointing.Restored | None:
    """Predicting alone into a fine-tuning run's folder predicts with that run's newest intact checkpoint, as
    Google's Estimator does with its model_dir; returns what was loaded (None: the folder holds no checkpoint).
    The run must have been made by this script with this model config, vocab and tokenizer (see its run.json)."""
    flags = script.flags
    output_dir = Path(flags.output_dir)
    if not checkpointing.has_checkpoints(output_dir):
        return None
    record = output_dir / run_folder.RUN_FILE
    recorded = run_folder.read_run_record(record) if record.is_file() else {}
    if recorded.get("script") not in (None, script.name):
        kind = "pretraining" if recorded["script"] == "run_pretraining" else shown(recorded["script"])
        raise InputError(f"{output_dir} holds a {kind} run, not a fine-tuned {script.name} one: fine-tune with "
                         f"--do_train, or choose another --output_dir")
    identity = {"bert_config": config.to_dict(), "vocab_sha256": file_sha256(flags.vocab_file),
                "tokenizer": flags.tokenizer, "do_lower_case": flags.do_lower_case, **script.model_identity()}
    compare = list(identity) if recorded else ["bert_config"]
    return checkpointing.restore_model(model, output_dir, identity, compare, script.is_main, head=script.head)
