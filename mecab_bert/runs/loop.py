# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The training loop run_pretraining.py, run_squad.py and run_classifier.py share (`fit`): the run folder and
its record, the optimizer and schedule, devices, precision, torchrun/DDP, gradient accumulation, exact
checkpoints and resume, logging.

A task says two things (see `Task`): how to turn a batch into loss *sums* (for pretraining: the weighted
masked-LM cross-entropy summed over the predictions, and the next-sentence cross-entropy summed over the
sequences), and what each sum is divided by (the number of predictions, the number of sequences), read
from the data alone. The loop adds the divisors over the micro-batches of a step and over all processes
before the first backward, so one step gives the same gradient whatever the number of processes and of
accumulation steps: the gradient of Google's loss over the whole batch.

The data position is the step: the batches of step s are a pure function of (seed, s), and so is the
dropout seed, so a checkpoint that stores the step, the model, the optimizer and the schedule resumes
exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import click
import numpy as np
import torch
from torch import Tensor, nn

import optimization
from mecab_bert.checkpoints.loading import MAX_STEPS
from mecab_bert.cli import FLOAT32_MAX, INPUT_PATH, POSITIVE, SEED, FiniteFloat, OutputPath, flag
from mecab_bert.files import atomic_output, write_text
from mecab_bert.runs.batching import Batch, ShuffledStream, prefetch, step_batches
from mecab_bert.runs.checkpointing import resume_plan, save_checkpoint
from mecab_bert.runs.devices import Runtime, TpuFlags, TrainingError, autocast
from mecab_bert.runs.run_folder import prepare_run_dir, run_dir_lock, start_run
from mecab_bert.tokenizer_settings import max_unk_rate_flag
from text_input import InputError


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingFlags(TpuFlags):
    """The flags of every training script (run_pretraining, run_squad, run_classifier): one loop setting is one
    field here. Google's names (its TPU flags too, which do nothing); a script overrides a default by declaring the
    field again."""

    output_dir: str = flag(type=OutputPath(), help="The run folder: checkpoints, metrics.jsonl, run.json and the "
                           "script's results (eval_results, predictions).")
    init_checkpoint: str | None = flag(None, "Start from these weights: our checkpoint (or a run's output directory: "
                                       "its newest checkpoint) or a Hugging Face BERT directory; a checkpoint of "
                                       "--output_dir's own run, when there is one, is resumed instead.",
                                       INPUT_PATH)
    do_train: bool = flag(False, "Train.")
    train_batch_size: int = flag(32, "Sequences per optimizer step, over all processes and accumulation steps.",
                                 click.IntRange(1, 2**31 - 1))
    learning_rate: float = flag(5e-5, "The peak learning rate (linear warmup, then linear decay to 0).",
                                FiniteFloat(min=0, max=FLOAT32_MAX, min_open=True))
    optimizer: str = flag("adamw", "adamw (Google's AdamWeightDecay) or lamb.", click.Choice(["adamw", "lamb"]))
    weight_decay: float = flag(0.01, "Decoupled weight decay, not applied to biases and LayerNorm (Google's).",
                               FiniteFloat(0, FLOAT32_MAX))
    gradient_accumulation_steps: int = flag(1, "", POSITIVE)
    save_checkpoints_steps: int = flag(1000, "", POSITIVE)
    keep_checkpoints: int = flag(3, "How many of the newest checkpoints to keep.", POSITIVE)
    log_every: int = flag(10, "Steps between metrics.jsonl lines.", POSITIVE)
    device: str = flag("auto", "auto: CUDA when present.", click.Choice(["auto", "cpu", "cuda"]))
    precision: str = flag("auto", "auto: bf16 on a CUDA device that supports it, else fp32.",
                          click.Choice(["auto", "fp32", "bf16", "fp16"]))
    compile: bool = flag(False, "torch.compile the model (about 30% faster on an H100; slow to start on CPU).")
    unpad: bool = flag(True, "Cut every batch to its longest sequence, and predict in batches of like length: no "
                             "work on padding, the same results. False: every batch at --max_seq_length.")
    seed: int = flag(12345, "", SEED)
    max_unk_rate: float = max_unk_rate_flag()
    export_hf: str | None = flag(None, "Also write the trained model here as a Hugging Face directory (replacing only "
                                 "an earlier export).", OutputPath())
    overwrite_output_dir: bool = flag(False, "Start afresh in an --output_dir that holds another run (its files are "
                                      "kept in .previous_run/ until the first new checkpoint). Without it a run "
                                      "resumes only itself.")


MAX_GRAD_NORM = 1.0  # Google clips the gradient by its global norm at 1.0


class LossSums(NamedTuple):
    sums: Tensor  # float [K], one loss sum per head (modeling.HeadLoss.total), with grad
    metrics: dict[str, Tensor]  # detached sums to log, each divided by a divisor when logged


class Task(Protocol):
    """What the loop needs of a task."""

    def divisors(self, batch: Batch) -> Tensor:
        """float [K]: what each loss sum of this batch is divided by, from the data alone (no model)."""

    def loss_sums(self, model: nn.Module, batch: Batch) -> LossSums:
        """The loss sums of a batch, through the model's heads' loss functions (modeling.HeadLoss)."""

    def metric_divisors(self) -> dict[str, int]:
        """For each metric sum, the index of the divisor it is averaged over."""


class TrainingData(Protocol):
    """What the loop needs of a data set: its size and the batch of any items: CPU tensors, the model's inputs
    (input_ids, token_type_ids, attention_mask: the loop counts tokens by the mask) and the labels."""

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> Batch: ...


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the shared flags, the schedule the script worked out from its own flags (pretraining
    counts steps, fine-tuning epochs), and what the run folder records and holds (see prepare_run_dir)."""

    flags: TrainingFlags
    num_train_steps: int
    num_warmup_steps: int
    identity: dict[str, Any]  # run.json: what a resume must match
    owns: Callable[[str], bool]  # the names of the files this script writes into its run folder

    def __post_init__(self) -> None:
        if self.num_train_steps > MAX_STEPS:  # a typo'd --num_train_epochs 1e30 would train until the end of time
            raise InputError(f"{self.num_train_steps} training steps: more than {MAX_STEPS} (the checkpoints' "
                             f"8-digit step); lower --num_train_steps or --num_train_epochs")

    def micro_batch_size(self, world_size: int) -> int:
        per_step = world_size * self.flags.gradient_accumulation_steps
        if self.flags.train_batch_size % per_step:
            raise TrainingError(
                f"--train_batch_size {self.flags.train_batch_size} is not divisible by the number of processes "
                f"({world_size}) times --gradient_accumulation_steps ({self.flags.gradient_accumulation_steps})")
        return self.flags.train_batch_size // per_step


@dataclass(frozen=True)
class TrainResult:
    start_step: int  # where this invocation started (a resumed run: its checkpoint's step)
    step: int  # where the model is now
    metrics: dict[str, float]  # the last logged metrics (empty when there was nothing to train)


@dataclass
class TrainState:
    """Everything a checkpoint holds. The random state is not in it: each step reseeds (see step_seed)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    step: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel or torch.compile."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


class MetricsLog:
    """metrics.jsonl in output_dir (and TensorBoard events when tensorboard is installed); rank 0 only."""

    def __init__(self, output_dir: str, resume_step: int, enabled: bool):
        self.path = Path(output_dir) / "metrics.jsonl"
        self.enabled = enabled
        self.tensorboard = None
        if not enabled:
            return
        if self.path.exists():
            # A resumed run repeats the steps after its checkpoint: drop what they logged before, and a line
            # torn by a crash in the middle of a write.
            kept = [line for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if _logged_step(line) <= resume_step]
            with atomic_output(self.path) as writer:
                writer.writelines(line + "\n" for line in kept)
        with contextlib.suppress(ImportError):
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(Path(output_dir) / "tensorboard"))

    def write(self, record: dict[str, float]) -> None:
        if not self.enabled:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as writer:
                writer.write(json.dumps(record) + "\n")
        except OSError as error:  # a full disk names no file
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _logged_step(line: str) -> float:
    """The step of one metrics.jsonl line; infinity (dropped) for a line that is not a whole record."""
    try:
        record = json.loads(line)
        return float(record["step"]) if isinstance(record, dict) else float("inf")
    except (ValueError, KeyError, TypeError):
        return float("inf")


def fit(task: Task, model: nn.Module, data: TrainingData, config: TrainConfig, runtime: Runtime) -> TrainResult:
    """Trains `model` (on runtime.device) on `data` as config says, in its run folder; returns where it got.

    Everything a script has to read and check is read and checked before this is called. Here: the run folder is
    locked and checked against config.identity (a resume only of the same run: see prepare_run_dir); the
    optimizer and schedule are made, the newest checkpoint (if any) is loaded, the run is recorded (run.json,
    bert_config.json); then compile, DistributedDataParallel, the steps, and a summary line. The batches of step s
    are a pure function of (--seed, s), which is what makes a resume exact.
    """
    flags, distributed = config.flags, runtime.distributed
    output_dir = Path(flags.output_dir)
    micro = config.micro_batch_size(distributed.world_size)
    with run_dir_lock(output_dir, distributed.is_main):
        plan = prepare_run_dir(output_dir, config.identity, flags.overwrite_output_dir, config.owns)
        optimizer = optimization.create_optimizer(model, flags.optimizer, flags.learning_rate, flags.weight_decay)
        scheduler = optimization.linear_warmup_decay(optimizer, config.num_warmup_steps, config.num_train_steps)
        scaler = torch.amp.GradScaler("cuda") if runtime.precision == "fp16" else None
        state = TrainState(model, optimizer, scheduler, scaler)
        resumed = resume_plan(state, output_dir, plan, distributed)
        if distributed.is_main:
            if resumed is not None:
                click.echo(f"resumed from {resumed} (step {state.step}): its weights replace the starting ones",
                           err=True)
            start_run(output_dir, config.identity, plan, config.owns)
            write_text(output_dir / "bert_config.json", model.config.to_json_string())
        if flags.compile:
            state.model = torch.compile(state.model)
        if distributed.world_size > 1:
            state.model = nn.parallel.DistributedDataParallel(
                state.model, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)
        order = ShuffledStream(len(data), flags.seed)
        make_batches = functools.partial(step_batches, data, order, batch_size=flags.train_batch_size, micro=micro,
                                         distributed=distributed)
        start, start_step = time.perf_counter(), state.step
        metrics = train(task, state, config, make_batches, runtime)
    if distributed.is_main:
        click.echo(_summary(config, start_step, state.step, time.perf_counter() - start, metrics), err=True)
    return TrainResult(start_step, state.step, metrics)


def _summary(config: TrainConfig, start_step: int, step: int, seconds: float, metrics: dict[str, float]) -> str:
    output_dir, batch = config.flags.output_dir, config.flags.train_batch_size
    if step == start_step:
        return f"Nothing to train: {output_dir} is at step {step} of {config.num_train_steps}."
    steps = step - start_step
    logged = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items()
                       if key not in ("step", "lr", "tokens_per_s"))
    return (f"Trained {steps} steps ({start_step} -> {step} of {config.num_train_steps}) of {batch} sequences in "
            f"{seconds:.1f} s ({steps * batch / max(seconds, 1e-9):.1f} sequences/s); last logged: {logged}. "
            f"Checkpoints and metrics.jsonl in {output_dir}/")


def train(task: Task, state: TrainState, config: TrainConfig, make_batches: Callable[[int], list[Batch]],
          runtime: Runtime) -> dict[str, float]:
    """Runs optimizer steps from state.step to config.num_train_steps; returns the last logged metrics.

    make_batches(step) gives this process's micro-batches of one step (CPU tensors); they are made in a
    background thread while the previous step runs. Checkpoints every save_checkpoints_steps and at the
    end (rank 0 writes). A non-finite loss stops the run with the step where it first appeared.
    """
    from tqdm import tqdm

    flags, distributed = config.flags, runtime.distributed
    log = MetricsLog(flags.output_dir, state.step, distributed.is_main)
    bar = tqdm(total=config.num_train_steps, initial=state.step, desc="training", unit=" steps",
               disable=not (runtime.progress and distributed.is_main))
    pending_losses: list[tuple[int, Tensor]] = []
    sums: dict[str, Tensor] = {}
    divisor_sums = None
    tokens, window_start, last = 0, time.perf_counter(), {}
    batches = prefetch(make_batches, state.step)
    extra = {"bert_config": unwrap(state.model).config.to_dict()}
    try:
        while state.step < config.num_train_steps:
            micro_batches = next(batches)
            loss, metrics, divisors = _one_step(task, state, flags, micro_batches, runtime)
            state.step += 1
            pending_losses.append((state.step, loss))
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0) + value
            divisor_sums = divisors if divisor_sums is None else divisor_sums + divisors
            tokens += sum(int(b["attention_mask"].sum()) for b in micro_batches) * distributed.world_size
            at_end = state.step == config.num_train_steps
            if state.step % flags.log_every == 0 or at_end:
                _check_finite(pending_losses)
                elapsed = time.perf_counter() - window_start
                last = {
                    "step": state.step,
                    "loss": pending_losses[-1][1].item(),
                    "lr": state.scheduler.get_last_lr()[0],
                    **{key: (value / divisor_sums[task.metric_divisors()[key]].clamp(min=1e-9)).item()
                       for key, value in sums.items()},
                    "tokens_per_s": tokens / max(elapsed, 1e-9),
                }
                log.write(last)
                bar.set_postfix(loss=f"{last['loss']:.4f}", lr=f"{last['lr']:.2e}",
                                tok_s=f"{last['tokens_per_s']:.0f}")
                pending_losses, sums, divisor_sums, tokens = [], {}, None, 0
                window_start = time.perf_counter()
            if state.step % flags.save_checkpoints_steps == 0 or at_end:
                _check_finite(pending_losses)
                _check_finite_weights(state)
                if distributed.is_main:
                    save_checkpoint(state, flags.output_dir, flags.keep_checkpoints, extra)
            bar.update(1)
    finally:
        bar.close()
        log.close()
        batches.close()
    return last


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of dropout in one step of one process: a pure function, so a resumed run (on any process)
    draws exactly what an uninterrupted one would, with no generator state to save."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def _check_finite_weights(state: TrainState) -> None:
    """A last step can turn the weights non-finite after a finite loss: such weights are never saved."""
    if not all(bool(torch.isfinite(p).all()) for p in state.model.parameters()):
        raise TrainingError(f"the weights are NaN or infinite after step {state.step}: stopping without saving them "
                            f"(lower --learning_rate, or use --precision fp32 / bf16)")


def _check_finite(losses: list[tuple[int, Tensor]]) -> None:
    if not losses:
        return
    values = torch.stack([loss for _, loss in losses]).float().cpu()
    bad = (~torch.isfinite(values)).nonzero()
    if len(bad):
        step, loss = losses[int(bad[0])]
        raise TrainingError(f"the loss is {loss.item()} at step {step}: stopping (lower --learning_rate, or use "
                            f"--precision fp32 / bf16)")


class StepResult(NamedTuple):
    loss: Tensor  # float [], detached, not synced: the loss of the whole batch (over all processes)
    metrics: dict[str, Tensor]  # the metric sums of the whole batch
    divisors: Tensor  # float [K], of the whole batch


def _one_step(task: Task, state: TrainState, flags: TrainingFlags, micro_batches: list[Batch], runtime: Runtime
              ) -> StepResult:
    """One optimizer step over this process's micro-batches; returns the loss (a detached tensor, not
    synced), the metric sums, and the divisors of the whole step."""
    model, device, distributed = state.model, runtime.device, runtime.distributed
    model.train()
    torch.manual_seed(step_seed(flags.seed, distributed.rank, state.step))
    # The divisors of the whole step, over every micro-batch of every process, before any backward.
    divisors = distributed.all_reduce_sum(torch.stack([task.divisors(b) for b in micro_batches]).sum(0).to(device))
    scale = distributed.world_size  # DistributedDataParallel averages gradients over processes
    total = torch.zeros((), device=device)
    metric_sums: dict[str, Tensor] = {}
    pieces = [piece for batch in micro_batches for piece in runtime.pieces(batch)]
    for index, batch in enumerate(pieces):
        last = index == len(pieces) - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(device, runtime.precision):
                loss_sums, metrics = task.loss_sums(model, batch)
            loss = (loss_sums.float() / (divisors + 1e-5)).sum() * scale
            (state.scaler.scale(loss) if state.scaler is not None else loss).backward()
        total += loss.detach() / scale
        for key, value in metrics.items():
            metric_sums[key] = metric_sums.get(key, 0) + value
    if state.scaler is not None:
        state.scaler.unscale_(state.optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    if state.scaler is not None:
        state.scaler.step(state.optimizer)  # skips the step when a gradient is inf or NaN
        state.scaler.update()
    else:
        state.optimizer.step()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    # The loss of this process's share; over all processes it sums to the loss of the whole batch.
    total = distributed.all_reduce_sum(total)
    return StepResult(total, {k: distributed.all_reduce_sum(v) for k, v in metric_sums.items()}, divisors)
