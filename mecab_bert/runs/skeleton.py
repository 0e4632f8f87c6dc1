# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The one run of every training script (run_pretraining, run_squad, run_classifier), in Google's order.

A script supplies a `Script` (tasks/pretraining.py, tasks/fine_tuning.py); `run` walks the steps: check the flags
and the folders, build the config and check it fits, read and check every input, build the model and load
--init_checkpoint, start it (or, when not training, find the run it continues), fine-tune or pretrain with
loop.fit, predict or evaluate, export. Nothing is written before every input has been read and checked.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import click
from torch import nn

import modeling
from mecab_bert.checkpoints import hf_export, loading, tf_checkpoint
from mecab_bert.files import check_holds_none, check_input
from mecab_bert.runs import checkpointing, devices, loop, run_folder
from mecab_bert.tokenizer_settings import TokenizerSettings
from text_input import InputError


class Inputs(NamedTuple):
    train: loop.TrainingData | None  # None: not training
    predict: Any | None  # what Script.predict takes (None: nothing to predict or evaluate on this process)


class Start(NamedTuple):
    """Where the model of a run that does not train comes from (Script.start)."""

    note: str  # the "model: ..." line
    step: int  # the step it was trained to
    restored: bool  # whether it is a checkpoint of the run in --output_dir


class Schedule(NamedTuple):
    num_train_steps: int
    num_warmup_steps: int


class Vocab(NamedTuple):
    """The vocab a run tokenizes with (Script.vocab)."""

    sha256: str
    name: str  # where it comes from, for messages: "--vocab_file vocab/kowiki-32k.txt"


@dataclass(frozen=True)
class Export:
    """What a script's --export_hf carries beside the weights."""

    tokenizer: TokenizerSettings
    title: str  # the model card's
    facts: dict[str, Any]  # the model card's, after the script's name and before the flags of Script.card_flags
    carry_tokenizer: Path | None = None  # a tokenizer.json to carry over (see tokenizer_settings.carried_tokenizer)
    finetuning_task: str | None = None


class Script(Protocol):
    """A training script's part of a run."""

    name: str  # recorded in run.json and the model card ("run_squad")
    outputs: tuple[str, ...]  # the files it writes into --output_dir beside the loop's (run_folder.owns_run_file)
    task: loop.Task
    card_flags: tuple[str, ...]  # the flags an export's model card reports, in order
    flags: Any  # the script's flags, resolved (a subclass of loop.TrainingFlags)

    def model_config(self, init: str | None) -> modeling.BertConfig:
        """The model's config, before a Google checkpoint's activation (tf_checkpoint.config_for)."""

    def vocab_size(self) -> int | None:
        """The size of the vocab this run tokenizes with, if it has one: the model must hold it."""

    def vocab(self) -> Vocab | None:
        """The vocab this run's ids come from, if it has one: an --init_checkpoint trained on others is refused."""

    def input_files(self) -> list[tuple[str, str | None]]:
        """(flag, path) of each input: what the run's outputs and its export must never replace."""

    def read(self, config: modeling.BertConfig, init: str | None) -> Inputs:
        """Every input read and checked (InputError when unusable), on every process that needs it."""

    def create_model(self, config: modeling.BertConfig) -> nn.Module:
        """The model with this script's heads, at random."""

    def start(self, model: nn.Module, report: loading.LoadReport | None, predicting: str) -> Start:
        """Without --do_train: loads the model to predict with or export (a run in --output_dir, else the one
        --init_checkpoint gave, `report`), or refuses one that would be random where that is never wanted."""

    def schedule(self, train: loop.TrainingData) -> Schedule:
        """The steps of this training run."""

    def identity(self, init: str | None) -> dict[str, Any]:
        """What defines this run beyond the script and the model config (run.json): a resume with anything else
        is refused (run_folder.prepare_run_dir)."""

    def train_results(self, metrics: dict[str, float]) -> dict[str, float]:
        """The results a run reports of its training's last logged metrics."""

    def predict(self, model: nn.Module, data: Any, runtime: devices.Runtime, step: int) -> dict[str, float]:
        """Predicts or evaluates with the model at `step`, writes this script's outputs, returns the scores."""

    def export(self, step: int, trained: bool) -> Export:
        """What --export_hf writes beside the weights (on rank 0, after training and predicting)."""


def run(flags: loop.TrainingFlags, make_script: Callable[[Any, bool], Script], prediction_flags: dict[str, bool],
        progress: bool = True) -> dict[str, float]:
    """Trains, predicts and exports as the flags say, in the process group torchrun set up (if any); returns the
    results (the training's last metrics, then the scores). make_script(flags, is_main) checks the script's own
    flags. prediction_flags: the script's flags that predict or evaluate, and whether each was given."""
    predicting = " and ".join(name for name, given in prediction_flags.items() if given)
    if not (flags.do_train or predicting or flags.export_hf):
        raise InputError(f"nothing to do: pass --do_train, {', '.join(prediction_flags)} or --export_hf")
    run_folder.check_init_outside(flags.init_checkpoint, flags.output_dir, flags.overwrite_output_dir)
    if flags.export_hf:
        hf_export.check_export_target(flags.export_hf)
    body = functools.partial(_run, flags, make_script, predicting or "--export_hf", progress=progress)
    return devices.in_process_group(flags.device, body)


def _run(flags: Any, make_script: Callable[[Any, bool], Script], predicting: str,
         distributed: devices.Distributed, progress: bool) -> dict[str, float]:
    if flags.init_checkpoint and continues_run(flags):
        if distributed.is_main:
            click.echo(f"--init_checkpoint {flags.init_checkpoint} not used: --output_dir {flags.output_dir} holds a "
                       f"run, whose newest checkpoint is the model (as Google's Estimator does with its model_dir)",
                       err=True)
        flags = dataclasses.replace(flags, init_checkpoint=None)
    script = make_script(flags, distributed.is_main)
    flags, is_main = script.flags, distributed.is_main
    runtime = devices.Runtime.create(flags, distributed, progress)
    init = loading.resolve_init_checkpoint(flags.init_checkpoint) if flags.init_checkpoint else None
    config = script.model_config(init)
    if init:
        config = tf_checkpoint.config_for(init, config)  # a Google checkpoint's gelu, from its graph
    check_model(config, flags, script.vocab_size())
    if init:
        check_init_vocab(init, script.vocab())
    inputs = script.input_files()
    owns = functools.partial(_owns, script.outputs)
    _check_inputs_apart(inputs, flags.output_dir, owns)
    if flags.export_hf:
        check_holds_none(flags.export_hf, [flags.output_dir, flags.init_checkpoint, flags.bert_config_file,
                                           *(path for _, path in inputs)], "--export_hf")
        planned = script.export(0, False)  # its tokenizer files, read and checked now, not after the training
        hf_export.export_tokenizer_files(planned.tokenizer, planned.carry_tokenizer, config.max_position_embeddings)
    train, predict = script.read(config, init)
    model = script.create_model(config)
    report = loading.load_pretrained(model, init, run_folder.trained_for(init, script.name)) if init else None
    start = Start(report.summary() if report is not None else "initialized at random", 0, False)
    if train is None:
        start = script.start(model, report, predicting)
    model.to(runtime.device)
    if is_main:
        click.echo(f"model: {start.note}; {runtime.describe()}", err=True)
    results: dict[str, float] = {}
    step = start.step
    if train is not None:
        steps = script.schedule(train)
        identity = {"script": script.name, "bert_config": model.config.to_dict(), **script.identity(init)}
        train_config = loop.TrainConfig(flags, steps.num_train_steps, steps.num_warmup_steps, identity, owns)
        trained = loop.fit(script.task, model, train, train_config, runtime)
        results.update(script.train_results(trained.metrics))
        step = trained.step
    if predict is not None and is_main:
        results.update(script.predict(model, predict, runtime, step))
    if flags.export_hf and is_main:
        export = script.export(step, train is not None)
        record = card_record(flags, train is not None, start.restored)
        facts = {"script": f"{script.name}.py", **export.facts,
                 **{name: record[name] for name in script.card_flags if name in record}}
        path = hf_export.export_hf(model, flags.export_hf, export.tokenizer,
                                   hf_export.ModelCard(export.title, facts, results), overwrite=True,
                                   finetuning_task=export.finetuning_task, carry_tokenizer=export.carry_tokenizer)
        click.echo(f"exported a Hugging Face directory: {path}", err=True)
    return results


def continues_run(flags: loop.TrainingFlags) -> bool:
    """Whether a run that does not train predicts or exports with the run in --output_dir: its checkpoints are the
    model, its run.json says how it tokenized, and --init_checkpoint has no part in it."""
    return not flags.do_train and checkpointing.has_checkpoints(flags.output_dir)


def card_record(flags: loop.TrainingFlags, trained: bool, restored: bool) -> dict[str, Any]:
    """The flags an export's model card reports: this run's when it trained (with where it started), those the
    run.json of the run it restored records, else only --init_checkpoint (the model is that one, as it is)."""
    if trained:
        return {**dataclasses.asdict(flags), "init_checkpoint": flags.init_checkpoint or "none (random weights)"}
    if restored:
        record = Path(flags.output_dir) / run_folder.RUN_FILE
        recorded = run_folder.read_run_record(record) if record.is_file() else {}
        return {key: value for key, value in recorded.items() if key != "init_checkpoint"}  # that one is sha256s
    return {"init_checkpoint": flags.init_checkpoint}


def check_model(config: modeling.BertConfig, flags: Any, vocab_size: int | None) -> None:
    """The model fits the flags and the vocab: checked before any data file is read."""
    if config.max_position_embeddings < flags.max_seq_length:
        raise InputError(f"--max_seq_length {flags.max_seq_length} is longer than the model's "
                         f"max_position_embeddings ({config.max_position_embeddings})")
    if vocab_size is not None:
        modeling.check_vocab_fits(config, vocab_size, flags.vocab_file,
                                  flags.bert_config_file or flags.init_checkpoint or "the model config")


def check_init_vocab(init: str, vocab: Vocab | None) -> None:
    """A checkpoint of a run of ours learned the ids of the vocab its run.json records: ids from another vocab
    would each mean another token, without a word from the training (a Hugging Face directory's own vocab is
    checked by tokenizer_settings)."""
    recorded = run_folder.recorded_vocab(init)
    if vocab is not None and recorded is not None and recorded.sha256 != vocab.sha256:
        raise InputError(f"{vocab.name} is not the vocab --init_checkpoint {init} was trained with ({recorded.name} "
                         f"records vocab sha256 {recorded.sha256[:12]}..., this vocab's is {vocab.sha256[:12]}...): "
                         f"give the vocab that run used")


def _check_inputs_apart(inputs: list[tuple[str, str | None]], output_dir: str, owns: Callable[[str], bool]) -> None:
    """An input in --output_dir under a name the run writes (or, with --overwrite_output_dir, moves away) would
    be replaced by an output, and a pipe would block the run before any check: refused before anything is read."""
    folder = Path(output_dir).resolve()
    for flag_name, path in inputs:
        if path:
            check_input(path, flag_name)
        if path and Path(path).resolve().parent == folder and owns(Path(path).name):
            raise InputError(f"{flag_name} {path}: this run writes {Path(path).name} in --output_dir {output_dir}; "
                             f"move the input elsewhere")


def _owns(outputs: tuple[str, ...], name: str) -> bool:
    return run_folder.owns_run_file(name) or name in outputs
