"""One loss per head: what the training loop minimizes is each model's own loss; and what the fine-tuning scripts
share (fine_tuning.schedule, flags declared once as a dataclass by cli.flag / flag_options)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import click
import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from torch import nn

import modeling
import run_classifier
import run_squad
from mecab_bert.checkpoints import loading
from mecab_bert.cli import POSITIVE, Command, flag, flag_options
from mecab_bert.pretraining_data import instance_creation
from mecab_bert.runs import batching, devices, loop
from mecab_bert.runs.loop import TrainingFlags
from mecab_bert.tasks import classification, fine_tuning, pretraining, squad

# Dropout off, so that the loop's training step (model.train()) computes what model.eval() does.
CONFIG = modeling.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0)
ROWS, LENGTH = 6, 16  # sequences in a batch (two micro-batches of 3), tokens in a sequence
CPU = devices.Runtime(torch.device("cpu"), "fp32", devices.Distributed(), progress=False)

# --- one loss: the loop's loss is the model's --------------------------------------------------------------


class LossCase(NamedTuple):
    """A task, its model, and a batch that is also the model's keyword arguments, labels included."""

    task: loop.Task
    model: nn.Module
    batch: batching.Batch
    heads: Callable[[Any, batching.Batch], list[modeling.HeadLoss]]  # (the model's output, batch) -> its heads


def inputs(rng: np.random.Generator) -> batching.Batch:
    """Random sequences: input_ids, token_type_ids, attention_mask long [ROWS, LENGTH], with padding."""
    lengths = rng.integers(4, LENGTH + 1, ROWS)[:, None]
    positions = np.arange(LENGTH)[None, :]
    return {"input_ids": torch.from_numpy(np.where(positions < lengths, rng.integers(5, 100, (ROWS, LENGTH)), 0)),
            "token_type_ids": torch.from_numpy((positions >= lengths // 2) & (positions < lengths)).long(),
            "attention_mask": torch.from_numpy(positions < lengths).long()}


def pretraining_case(rng: np.random.Generator) -> LossCase:
    """Shard records as create_pretraining_data writes them, through pretraining.records_to_batch."""
    config = instance_creation.InstanceConfig(LENGTH, max_predictions_per_seq=4)
    records = np.zeros(ROWS, instance_creation.record_dtype(config, 100))
    records["input_length"] = rng.integers(6, LENGTH + 1, ROWS)
    records["segment_a_length"] = records["input_length"] // 2
    records["input_ids"] = rng.integers(5, 100, (ROWS, LENGTH))
    records["masked_lm_positions"] = rng.integers(1, 6, (ROWS, 4))
    records["masked_lm_ids"] = rng.integers(5, 100, (ROWS, 4))
    records["num_predictions"] = [4, 0, 1, 3, 2, 4]  # a row without predictions: padding weighs 0
    records["next_sentence_label"] = rng.integers(0, 2, ROWS)

    def heads(output: modeling.PreTrainingOutput, batch: batching.Batch) -> list[modeling.HeadLoss]:
        return [modeling.masked_lm_loss(output.mlm_logits, batch["masked_lm_ids"], batch["masked_lm_weights"]),
                modeling.next_sentence_loss(output.nsp_logits, batch["next_sentence_labels"])]

    return LossCase(pretraining.PretrainingTask(), modeling.BertForPreTraining(CONFIG),
                    pretraining.records_to_batch(records), heads)


def squad_case(rng: np.random.Generator) -> LossCase:
    encoder = inputs(rng)
    lengths = encoder["attention_mask"].sum(1).numpy()  # an answer lies in real tokens
    batch = {**encoder, "start_positions": torch.from_numpy(rng.integers(0, lengths)),
             "end_positions": torch.from_numpy(rng.integers(0, lengths))}

    def heads(output: modeling.QuestionAnsweringOutput, batch: batching.Batch) -> list[modeling.HeadLoss]:
        return [modeling.span_loss(output.start_logits, output.end_logits, batch["start_positions"],
                                   batch["end_positions"])]

    return LossCase(squad.SquadTask(), modeling.BertForQuestionAnswering(CONFIG), batch, heads)


def classifier_case(rng: np.random.Generator, num_labels: int) -> LossCase:
    """num_labels 1: a regression on scores in [0, 5] (KorSTS); more: classes (KorNLI's 3)."""
    labels = torch.from_numpy(rng.uniform(0, 5, ROWS).astype(np.float32) if num_labels == 1
                              else rng.integers(0, num_labels, ROWS))
    batch = {**inputs(rng), "labels": labels}

    def heads(output: modeling.SequenceClassifierOutput, batch: batching.Batch) -> list[modeling.HeadLoss]:
        return [modeling.sequence_classification_loss(output.logits, batch["labels"])]

    return LossCase(classification.ClassifierTask(is_regression=num_labels == 1),
                    modeling.BertForSequenceClassification(CONFIG, num_labels=num_labels), batch, heads)


CASES: dict[str, Callable[[np.random.Generator], LossCase]] = {
    "pretraining": pretraining_case,
    "squad": squad_case,
    "classification": lambda rng: classifier_case(rng, 3),
    "regression": lambda rng: classifier_case(rng, 1),
}


class StepResult(NamedTuple):
    loss: torch.Tensor  # float [], the step's loss as the loop logs it
    divisors: torch.Tensor  # float [K], the step's divisors


def loop_step(case: LossCase, micro_batches: int) -> StepResult:
    """loop._one_step over the batch in `micro_batches` pieces, with a learning rate of 0 (the model stays)."""
    optimizer = torch.optim.SGD(case.model.parameters(), lr=0.0)
    state = loop.TrainState(case.model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
                                scaler=None)
    pieces = [{key: value[rows] for key, value in case.batch.items()}
              for rows in np.array_split(np.arange(ROWS), micro_batches)]
    loss, _, divisors = loop._one_step(case.task, state, TrainingFlags(output_dir="unused"), pieces, CPU)
    return StepResult(loss, divisors)


@pytest.mark.parametrize("micro_batches", [1, 2])
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_loops_loss_is_the_models_loss(name, micro_batches):
    torch.manual_seed(0)
    case = CASES[name](np.random.default_rng(0))
    step = loop_step(case, micro_batches)
    case.model.eval()
    with torch.no_grad():
        output = case.model(**case.batch)
    assert step.loss.item() == pytest.approx(output.loss.item(), rel=1e-5)
    # Each loss sum is divided by its head's count over the whole step, whatever the micro-batches.
    assert step.divisors.tolist() == [head.count.item() for head in case.heads(output, case.batch)]


# --- unpadded batches: the padded ones' results for less work -----------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_unpadded_batches_give_the_padded_losses_and_gradients(name):
    """batching.unpad cuts a batch to its longest sequence: every loss sum, metric and gradient is the padded
    batch's (fp32, 1e-5)."""
    torch.manual_seed(0)
    for seed in range(20):  # the first random batch with padding to cut in every row
        case = CASES[name](np.random.default_rng(seed))
        cut = batching.unpad(case.batch)
        if cut["input_ids"].shape[1] < case.batch["input_ids"].shape[1]:
            break
    assert cut["input_ids"].shape[1] < case.batch["input_ids"].shape[1]
    results = []
    for batch in (case.batch, cut):
        case.model.zero_grad()
        sums, metrics = case.task.loss_sums(case.model, batch)
        sums.sum().backward()
        gradients = torch.cat([param.grad.flatten() for param in case.model.parameters() if param.grad is not None])
        results.append((sums.detach(), {key: float(value) for key, value in metrics.items()}, gradients))
    (padded_sums, padded_metrics, padded_grads), (sums, metrics, grads) = results
    torch.testing.assert_close(sums, padded_sums, rtol=1e-5, atol=1e-6)
    assert metrics == pytest.approx(padded_metrics, rel=1e-5, abs=1e-6)
    torch.testing.assert_close(grads, padded_grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_loops_unpadded_step_is_its_padded_step(name):
    """loop._one_step over 2 micro-batches, each computed in groups of like length (length_groups, on a CPU):
    the loss and the updated weights (SGD, learning rate 1) are the padded step's."""
    results = []
    for unpad in (False, True):
        torch.manual_seed(0)
        case = CASES[name](np.random.default_rng(0))
        optimizer = torch.optim.SGD(case.model.parameters(), lr=1.0)
        state = loop.TrainState(case.model, optimizer,
                                    torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), scaler=None)
        pieces = [{key: value[rows] for key, value in case.batch.items()}
                  for rows in np.array_split(np.arange(ROWS), 2)]
        step = loop._one_step(case.task, state, TrainingFlags(output_dir="unused"), pieces,
                                  dataclasses.replace(CPU, unpad=unpad))
        results.append((step.loss, torch.cat([param.detach().flatten() for param in case.model.parameters()])))
    (padded_loss, padded_weights), (loss, weights) = results
    assert loss.item() == pytest.approx(padded_loss.item(), rel=1e-5)
    torch.testing.assert_close(weights, padded_weights, rtol=1e-5, atol=1e-6)


class RowsData:
    """A batch as training data: rows by index."""

    def __init__(self, batch: batching.Batch):
        self.rows = batch

    def __len__(self) -> int:
        return len(self.rows["input_ids"])

    def batch(self, indices: np.ndarray) -> batching.Batch:
        return {key: value[torch.from_numpy(np.asarray(indices))] for key, value in self.rows.items()}


@pytest.mark.parametrize("name", ["squad", "classification"])
def test_unpadded_prediction_gives_the_padded_outputs(name):
    """fine_tuning.predict in batches of like length, each cut to its longest: the padded outputs, in the data's
    order, at every real token (per-token outputs are 0 at padding)."""
    case = CASES[name](np.random.default_rng(1))
    case.model.eval()
    data = RowsData({key: case.batch[key] for key in batching.MODEL_INPUTS})
    padded, unpadded = (fine_tuning.predict(case.model, data, 4, dataclasses.replace(CPU, unpad=unpad))
                        for unpad in (False, True))
    real = case.batch["attention_mask"].numpy() == 1
    for name_, ours, reference in zip(padded._fields, unpadded, padded, strict=True):
        if reference is None:
            continue
        if name_ in getattr(padded, "per_token", ()):
            np.testing.assert_allclose(ours[real], reference[real], rtol=1e-5, atol=1e-6)
            assert (ours[~real] == 0).all()
        else:
            np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_pretraining_divisors_count_the_real_predictions():
    case = pretraining_case(np.random.default_rng(0))
    assert case.task.divisors(case.batch).tolist() == [14.0, ROWS]  # 4 + 0 + 1 + 3 + 2 + 4 predictions; sequences


# --- the schedule --------------------------------------------------------------------------------------


def google_schedule(size: int, train_batch_size: int, num_train_epochs: float, warmup_proportion: float
                    ) -> tuple[int, int]:
    """Google's run_classifier.py and run_squad.py: int(len(train_examples) / batch * epochs), and its warmup."""
    num_train_steps = int(size / train_batch_size * num_train_epochs)
    return num_train_steps, int(num_train_steps * warmup_proportion)


@pytest.mark.parametrize(("size", "batch", "epochs", "warmup"), [
    (3200, 32, 3.0, 0.1),  # 300 steps, 30 warmup
    (5749, 1, 3.0, 0.1),  # KorSTS's train file, one sequence a step
    (640, 32, 2.5, 0.06),
    (48, 8, 1.0, 0.0),
])
def test_schedule_is_googles(size, batch, epochs, warmup):
    flags = fine_tuning.FineTuningFlags(output_dir="out", vocab_file="vocab.txt", train_batch_size=batch,
                                        num_train_epochs=epochs, warmup_proportion=warmup)
    assert fine_tuning.schedule(flags, size) == google_schedule(size, batch, epochs, warmup)


def test_schedule_rounds_a_partial_last_batch_up():
    # Google's int() drops the last partial batch's step (36815 for KorNLI's 392702 sequences, batch 32, 3 epochs);
    # rounding up sees every sequence num_train_epochs times, as run_squad always has.
    flags = fine_tuning.FineTuningFlags(output_dir="out", vocab_file="vocab.txt", train_batch_size=32)
    assert google_schedule(392702, 32, 3.0, 0.1) == (36815, 3681)
    assert fine_tuning.schedule(flags, 392702) == (36816, 3681)


def test_schedule_trains_at_least_one_step():
    # Google's int() gives 0 steps for fewer sequences than a batch; a run that trains nothing helps nobody.
    flags = fine_tuning.FineTuningFlags(output_dir="out", vocab_file="vocab.txt", train_batch_size=32)
    assert fine_tuning.schedule(flags, 5) == (1, 0)


# --- flags, declared once ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExampleFlags:
    name: str = flag(help="Required: no default.")
    do_it: bool = flag(False, "A Google-style boolean.")
    size: int = flag(3, "", POSITIVE)
    path: str | None = flag(None, "Optional.")


@click.command(cls=Command)
@flag_options(ExampleFlags)
def example_command(**flags) -> None:
    click.echo(repr(ExampleFlags(**flags)))


@pytest.mark.parametrize(("args", "expected"), [
    (["--name", "x"], ExampleFlags(name="x")),
    (["--name", "x", "--do_it"], ExampleFlags(name="x", do_it=True)),
    (["--do_it=False", "--name", "x"], ExampleFlags(name="x")),
    (["--name", "x", "--do_it=True", "--size", "7", "--path", "p"], ExampleFlags(name="x", do_it=True, size=7,
                                                                                 path="p")),
])
def test_flag_options_build_the_dataclass(args, expected):
    result = CliRunner().invoke(example_command, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(expected)


@pytest.mark.parametrize(("args", "names"), [
    (["--do_it"], ["--name"]),
    (["--name", "x", "--size", "0"], ["--size", "0"]),
    (["--name", "x", "--do_it=maybe"], ["--do_it", "maybe"]),
])
def test_flag_errors_are_one_line(args, names):
    assert_one_line_error(CliRunner().invoke(example_command, args), *names)


def test_the_commands_defaults_are_the_dataclasses(monkeypatch, tmp_path):
    # run_classifier's command passes every default of ClassifierFlags through, so each is written once.
    given = []
    monkeypatch.setattr(classification, "run", lambda flags, progress=True: given.append(flags))
    required = {"task_name": "kornli", "output_dir": str(tmp_path / "out"), "vocab_file": "vocab.txt"}
    result = CliRunner().invoke(run_classifier.main, [part for key, value in required.items()
                                                      for part in (f"--{key}", value)])
    assert result.exit_code == 0, result.output
    assert given == [classification.ClassifierFlags(**required)]


# --- run_classifier through the shared run: inputs it must refuse before any work ----------------------------------

VOCAB = Path(__file__).resolve().parents[1] / "vocab" / "sample-4k.txt"
TINY = {"vocab_size": 4000, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 32, "max_position_embeddings": 64}


def korsts_folder(folder: Path) -> Path:
    """KorSTS's three files, 8 pairs each, and a tiny model config beside them."""
    folder.mkdir()
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"
    rows = [f"main\tf\t2012\t{i:04d}\t{i % 6}.0\t남자가 {i}번 춤을 춘다.\t한 남자가 춤을 춘다." for i in range(8)]
    for name in ("sts-train.tsv", "sts-dev.tsv", "sts-test.tsv"):
        (folder / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    (folder / "tiny.json").write_text(json.dumps(TINY), encoding="utf-8")
    return folder


def classifier_args(data: Path, out: Path, *extra) -> list[str]:
    return ["--task_name", "korsts", "--data_dir", str(data), "--vocab_file", str(VOCAB), "--bert_config_file",
            str(data / "tiny.json"), "--output_dir", str(out), "--max_seq_length", "32", "--device", "cpu",
            *map(str, extra)]


def test_inputs_the_run_would_overwrite_are_refused(tmp_path):
    data = korsts_folder(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "eval_results.txt").write_bytes((data / "sts-dev.tsv").read_bytes())
    before = snapshot(out)
    result = CliRunner().invoke(run_classifier.main, classifier_args(data, out, "--do_train", "--do_eval",
                                                                     "--eval_file", out / "eval_results.txt"))
    assert_one_line_error(result, "--eval_file", "eval_results.txt", "--output_dir")
    assert snapshot(out) == before


def test_endless_or_overflowing_settings_are_one_line(tmp_path):
    data = korsts_folder(tmp_path / "data")
    out = tmp_path / "out"
    for extra, names in ((("--num_train_epochs", "1e30"), ("steps", "--num_train_epochs")),
                         (("--learning_rate", "1e300"), ("--learning_rate",)),
                         (("--train_batch_size", str(10**30)), ("--train_batch_size",)),
                         (("--max_seq_length", "100000"), ("--max_seq_length", "max_position_embeddings"))):
        result = CliRunner().invoke(run_classifier.main, classifier_args(data, out, "--do_train", *extra))
        assert_one_line_error(result, *names)
        assert not out.exists()


def test_weights_with_nan_are_refused(tmp_path):
    data = korsts_folder(tmp_path / "data")
    config = modeling.BertConfig.from_json_file(data / "tiny.json")
    state = modeling.BertForSequenceClassification(config, num_labels=1).state_dict()
    state["classifier.weight"][0, 0] = float("nan")
    checkpoint = tmp_path / "ckpt-00000001.pt"
    torch.save({"model": state, "step": 1}, checkpoint)
    result = CliRunner().invoke(run_classifier.main, classifier_args(data, tmp_path / "out", "--do_eval",
                                                                     "--init_checkpoint", checkpoint))
    assert_one_line_error(result, "ckpt-00000001.pt", "NaN or infinite", "classifier.weight")


def test_evaluating_a_run_finds_its_config(tmp_path):
    data = korsts_folder(tmp_path / "data")
    out = tmp_path / "out"
    trained = CliRunner().invoke(run_classifier.main, classifier_args(data, out, "--do_train", "--do_eval"))
    assert trained.exit_code == 0, trained.output
    args = classifier_args(data, out, "--do_eval")
    at = args.index("--bert_config_file")
    again = CliRunner().invoke(run_classifier.main, args[:at] + args[at + 2:])  # the run's own bert_config.json
    assert again.exit_code == 0, again.output
    assert "model: the fine-tuned" in again.output


@pytest.mark.skipif(importlib.util.find_spec("safetensors") is None, reason="safetensors (parity extra) not installed")
def test_an_export_names_its_task_and_starts_only_that_task(tmp_path):
    data = korsts_folder(tmp_path / "data")
    trained = CliRunner().invoke(run_classifier.main, classifier_args(data, tmp_path / "out", "--do_train",
                                                                      "--export_hf", tmp_path / "hf"))
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "hf" / "config.json").read_text(encoding="utf-8"))["finetuning_task"] == "korsts"
    nli = tmp_path / "nli"
    nli.mkdir()
    pairs = [f"남자가 {i}번 춤을 춘다.\t남자가 춤을 춘다.\tneutral" for i in range(8)]
    rows = ["sentence1\tsentence2\tgold_label", *pairs]
    (nli / "xnli.dev.ko.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["--task_name", "kornli", "--data_dir", str(nli), "--vocab_file", str(VOCAB), "--init_checkpoint",
            str(tmp_path / "hf"), "--output_dir", str(tmp_path / "nli_out"), "--max_seq_length", "32", "--do_eval",
            "--device", "cpu"]
    result = CliRunner().invoke(run_classifier.main, args)
    assert_one_line_error(result, "--init_checkpoint", "finetuning_task", '"korsts"', '"kornli"')
    # The same weights said to be another class's (a token classifier): no task to compare, its head left out.
    tagger = Path(shutil.copytree(tmp_path / "hf", tmp_path / "tagger"))
    config = json.loads((tagger / "config.json").read_text(encoding="utf-8"))
    (tagger / "config.json").write_text(json.dumps({**config, "architectures": ["BertForTokenClassification"]}))
    at = args.index(str(tmp_path / "hf"))
    result = CliRunner().invoke(run_classifier.main, [*args[:at], str(tagger), *args[at + 1:]])
    assert result.exit_code == 0, result.output
    assert "left out, to start fresh: classifier.bias, classifier.weight" in result.output
    assert "BertForTokenClassification" in result.output and "nothing fine-tuned classifier.weight" in result.output


def test_a_piped_train_file_is_refused_rather_than_recorded_as_empty(tmp_path):
    import os
    import threading

    data = korsts_folder(tmp_path / "data")
    fifo = tmp_path / "train.pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes((data / "sts-train.tsv").read_bytes()))
    writer.start()
    result = CliRunner().invoke(run_classifier.main, classifier_args(data, tmp_path / "out", "--do_train",
                                                                     "--train_file", fifo))
    with open(fifo, "rb") as reader:  # refused before it was opened: the writer still waits for a reader
        reader.read()
    writer.join()
    assert_one_line_error(result, f"'--train_file': {fifo}", "not a regular file")
    assert not (tmp_path / "out").exists()


def test_weights_that_turn_non_finite_at_the_last_step_are_not_saved(tmp_path):
    data = korsts_folder(tmp_path / "data")
    out = tmp_path / "out"
    # One step: its loss is computed before the update, so only the weights can show what the update did.
    result = CliRunner().invoke(run_classifier.main, classifier_args(data, out, "--do_train", "--learning_rate",
                                                                     "1e30", "--weight_decay", "1e30",
                                                                     "--num_train_epochs", "1"))
    assert_one_line_error(result, "NaN or infinite")
    assert not loading.checkpoints(out)


def test_absurd_epochs_are_one_line(tmp_path):
    data = korsts_folder(tmp_path / "data")
    result = CliRunner().invoke(run_classifier.main, classifier_args(data, tmp_path / "out", "--do_train",
                                                                     "--num_train_epochs", "1e306"))
    assert_one_line_error(result, "--num_train_epochs")


@pytest.mark.parametrize("script", ["run_classifier", "run_squad"])
def test_a_vocab_that_cannot_tokenize_the_text_stops_the_run(tmp_path, script):
    """A vocab of the special tokens alone: every token of the text would be [UNK]."""
    special = tmp_path / "special.txt"
    special.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    data, out = korsts_folder(tmp_path / "data"), tmp_path / "out"
    if script == "run_classifier":
        command, arguments, named = run_classifier.main, classifier_args(data, out, "--do_train"), "sts-train.tsv"
    else:
        named = Path(__file__).resolve().parents[1] / "data" / "sample_korquad.json"
        command = run_squad.main
        arguments = ["--train_file", str(named), "--bert_config_file", str(data / "tiny.json"), "--output_dir",
                     str(out), "--do_train", "--device", "cpu", "--max_seq_length", "64", "--doc_stride", "32",
                     "--max_query_length", "16"]
    result = CliRunner().invoke(command, [*arguments, "--vocab_file", str(special)])
    assert_one_line_error(result, str(named), f"--vocab_file {special}", "[UNK] 100.00% of",
                          "more than --max_unk_rate 0.1")
    assert not out.exists()
