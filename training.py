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
import fcntl
import functools
import json
import os
import queue
import re
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import click
import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

import modeling
import optimization
import script_utils
import tf_checkpoint
from script_utils import InputError, TrainingFlags, atomic_output, write_text

CHECKPOINT_PATTERN = re.compile(r"ckpt-(\d{8})\.pt")
MAX_STEPS = 10**8 - 1  # what ckpt-<8 digits>.pt can name
RUN_FILE = "run.json"
PREVIOUS_RUN = ".previous_run"  # an overwritten run, kept until the new run's first checkpoint is on disk
Batch = dict[str, Tensor]
MAX_GRAD_NORM = 1.0  # Google clips the gradient by its global norm at 1.0


class TrainingError(RuntimeError):
    """A run that cannot go on: a non-finite loss, a bad flag combination."""


# --- devices, precision, processes ---------------------------------------------------------------------


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" is CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise TrainingError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device("cpu")


def resolve_precision(name: str | None, device: torch.device) -> str:
    """The default is bf16 on a CUDA device that supports it and fp32 elsewhere. bf16 on a CPU is opt-in:
    its speed depends on the CPU's bf16 support (1.4x fp32 on this project's machine, with avx512_bf16)."""
    if name in (None, "auto"):
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if name not in ("fp32", "bf16", "fp16"):
        raise TrainingError(f"--precision must be fp32, bf16 or fp16, not {name!r}")
    if name == "fp16" and device.type != "cuda":
        raise TrainingError("--precision fp16 needs a CUDA device")
    return name


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


@dataclass(frozen=True)
class Distributed:
    """This process's place among the processes torchrun started (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device_name: str) -> Distributed:
        """Joins the process group when torchrun set WORLD_SIZE > 1: NCCL on CUDA, gloo on CPU."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        return cls(rank, world_size, local_rank)

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        """Leaves the process group; gloo may abort at exit unless everyone passes a barrier first."""
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def in_process_group(device_name: str, body: Callable[[Distributed], Any]) -> Any:
    """Runs body(distributed) inside the process group torchrun set up (if any), and leaves it after."""
    distributed = Distributed.from_environment(device_name)
    try:
        return body(distributed)
    finally:
        distributed.close()


# --- the task, the configuration, the state ----------------------------------------------------------


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
class Runtime:
    """Where and how this process computes: the device, the precision, its place among the processes."""

    device: torch.device
    precision: str
    distributed: Distributed
    progress: bool = True  # a tqdm bar (rank 0)
    unpad: bool = True  # batches cut to their longest sequence (see unpad)

    @classmethod
    def create(cls, flags: TrainingFlags, distributed: Distributed, progress: bool = True) -> Runtime:
        """Resolves --device and --precision, and seeds torch with --seed (the fresh heads' initialization)."""
        device = resolve_device(flags.device, distributed.local_rank)
        torch.manual_seed(flags.seed)
        return cls(device, resolve_precision(flags.precision, device), distributed, progress, flags.unpad)

    def to_device(self, batch: Batch) -> Batch:
        """The batch on this process's device, cut to its longest sequence when `unpad`."""
        return to_device(unpad(batch) if self.unpad else batch, self.device)

    def pieces(self, batch: Batch) -> list[Batch]:
        """What a training step computes of one micro-batch, on this device: with `unpad` on a CPU, its rows in
        batches of like length (length_groups); else the batch, cut to its longest sequence when `unpad`."""
        if self.unpad and self.device.type == "cpu":
            return [to_device(piece, self.device) for piece in length_groups(batch)]
        return [self.to_device(batch)]

    def describe(self) -> str:
        return f"device {self.device}, precision {self.precision}, {self.distributed.world_size} process(es)"


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


# --- checkpoints ---------------------------------------------------------------------------------------


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The checkpoints in output_dir, oldest first."""
    directory = Path(output_dir)
    found = [p for p in directory.glob("ckpt-*.pt") if CHECKPOINT_PATTERN.fullmatch(p.name)] \
        if directory.is_dir() else []
    return sorted(found)


def save_checkpoint(state: TrainState, output_dir: str, keep: int, extra: dict[str, Any]) -> Path:
    """Writes ckpt-<step>.pt atomically and durably, then removes all but the newest `keep` (and the files of
    a run that --overwrite_output_dir replaced: the new run now has a checkpoint of its own)."""
    path = Path(output_dir) / f"ckpt-{state.step:08d}.pt"
    with atomic_output(path, binary=True) as writer:
        torch.save({**state.state_dict(), **extra}, writer)
    for old in checkpoints(output_dir)[:-keep]:
        old.unlink()
    shutil.rmtree(Path(output_dir) / PREVIOUS_RUN, ignore_errors=True)
    return path


def resume(state: TrainState | _ModelOnly, output_dir: str | os.PathLike, is_main: bool) -> Path | None:
    """Loads the newest intact checkpoint of output_dir into state; returns it (None: the folder has none).

    A checkpoint that cannot be read (empty, truncated, corrupt: a copy cut short, a disk that filled up under
    an older version) is renamed to `*.damaged` by rank 0, with a warning, and the one before it is used.
    When there are checkpoints and none of them can be read, the run stops (InputError) instead of silently
    starting from step 0. A readable checkpoint that does not fit the model is an InputError, and is kept.
    """
    found = checkpoints(output_dir)
    for path in reversed(found):
        try:
            contents = load_checkpoint(path)
        except (InputError, FileNotFoundError) as error:  # unreadable, or just set aside by rank 0
            reason = script_utils.describe_error(error).removeprefix(f"{path}: ")[:200]
            if is_main:
                with contextlib.suppress(FileNotFoundError):  # another process may be reading it
                    path.rename(path.with_name(path.name + ".damaged"))
            warnings.warn(f"{path}: cannot be read ({reason}); kept as {path.name}.damaged, trying the checkpoint "
                          f"before it", stacklevel=2)
            continue
        try:
            state.load_state_dict(contents)
        except InputError as error:  # the target's own check (see _ModelOnly)
            raise InputError(f"{output_dir} {error}") from None
        except (KeyError, ValueError, RuntimeError) as error:  # another model, another optimizer
            raise InputError(f"{path}: not a checkpoint of this model and flags ({str(error)[:200]})") from None
        return path
    if has_checkpoints(output_dir):
        raise InputError(f"{output_dir}: none of its checkpoints can be read (they are set aside as *.damaged); "
                         f"pass --overwrite_output_dir to start afresh")
    return None


def has_checkpoints(output_dir: str | os.PathLike) -> bool:
    """Whether a folder holds checkpoints, readable or set aside as damaged (see resume)."""
    directory = Path(output_dir)
    return bool(checkpoints(directory)) or (directory.is_dir() and any(directory.glob("ckpt-*.pt.damaged")))


def resume_plan(state: TrainState, output_dir: str | os.PathLike, plan: str, distributed: Distributed) -> Path | None:
    """Loads what prepare_run_dir's plan says (nothing for FRESH; the kept run's newest checkpoint for RESTORE),
    then waits for every process, so that rank 0's start_run moves no file another process is still reading."""
    source = {FRESH: None, RESUME: Path(output_dir), RESTORE: Path(output_dir) / PREVIOUS_RUN}[plan]
    loaded = resume(state, source, distributed.is_main) if source is not None else None
    distributed.barrier()
    return Path(output_dir) / loaded.name if loaded is not None else None  # where it is once restored


def resolve_init_checkpoint(path: str) -> str:
    """An --init_checkpoint: a run's output directory means its newest checkpoint; a Hugging Face directory
    (with config.json) or a file stays as it is."""
    found = checkpoints(path) if Path(path).is_dir() and not (Path(path) / "config.json").exists() else []
    return str(found[-1]) if found else path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's contents: tensors and plain containers only, never code (see modeling.load_torch_file)."""
    return modeling.load_torch_file(Path(path))


# --- the run folder ------------------------------------------------------------------------------------


FRESH, RESUME, RESTORE = "fresh", "resume", "restore"


# What a run writes before its first checkpoint: a folder holding nothing else of ours lost nothing if replaced.
_EARLY_FILES = frozenset({RUN_FILE, "metrics.jsonl", "bert_config.json", "tensorboard", ".lock"})


def prepare_run_dir(output_dir: str | os.PathLike, identity: dict[str, Any], overwrite: bool,
                    owns: Callable[[str], bool], compare: Collection[str] | None = None) -> str:
    """Checks that output_dir may hold the run `identity` describes (what changes its result: the flags, the
    model config, the sha256 of the data and of the init checkpoint); returns how to start: FRESH, RESUME
    (from output_dir's checkpoints) or RESTORE (this run is the one an --overwrite_output_dir run set aside in
    .previous_run/ and that run died before its first checkpoint: bring it back and resume it).

    Resuming a run recorded in run.json with another identity (one that saved a checkpoint), or a folder with
    checkpoints but no run.json, is an InputError naming what differs, unless `overwrite` (Hugging Face's
    --overwrite_output_dir): then the run starts afresh. `compare` limits the check to some keys (evaluating
    a run needs only its model).
    Nothing is written here: see start_run.
    """
    directory = Path(output_dir)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a folder (--output_dir)")
    if overwrite or not directory.is_dir():
        return FRESH
    kept = directory / PREVIOUS_RUN / RUN_FILE
    if compare is None and kept.is_file() and not checkpoints(directory) \
            and not _run_differences(read_run_record(kept), identity, None):
        return RESTORE
    record = directory / RUN_FILE
    if not record.exists():
        if checkpoints(directory) and compare is not None:
            return RESUME  # evaluating or exporting a run made before run.json: its checkpoint, whatever made it
        if checkpoints(directory):
            raise InputError(f"{directory}: holds checkpoints but no {RUN_FILE}, so it cannot tell whether they "
                             f"belong to this run; pass --overwrite_output_dir to start afresh there, or choose "
                             f"another --output_dir")
        earlier = sorted(p.name for p in directory.iterdir() if owns(p.name) and p.name not in _EARLY_FILES)
        if compare is None and earlier:
            raise InputError(f"{directory}: holds the outputs of an earlier run ({', '.join(earlier[:4])}); pass "
                             f"--overwrite_output_dir to replace them, or choose another --output_dir")
        return FRESH
    differences = _run_differences(read_run_record(record), identity, compare)
    if not differences:
        return RESUME
    if compare is None and not (directory / PREVIOUS_RUN).exists() \
            and all(p.name in _EARLY_FILES or not owns(p.name) for p in directory.iterdir()):
        return FRESH  # the recorded run died before its first checkpoint (a typo'd flag): nothing to lose
    if compare is not None:
        raise InputError(f"{directory} holds a run of another model, vocab or data ({'; '.join(differences)}); give "
                         f"that run's own config, vocab, tokenizer flags and data, or another --output_dir")
    raise InputError(f"{directory} holds another run ({'; '.join(differences)}); rerun with the same flags and "
                     f"inputs to resume it, or pass --overwrite_output_dir to start afresh (or choose another "
                     f"--output_dir)")


# What a run recorded before its run.json had these keys: the values every run of those versions used.
_BEFORE_RECORDED = {"weight_decay": 0.01, "optimizer": "adamw"}


def _run_differences(recorded: dict[str, Any], identity: dict[str, Any], compare: Collection[str] | None
                     ) -> list[str]:
    recorded = {**{key: value for key, value in _BEFORE_RECORDED.items() if key in identity}, **recorded}
    keys = sorted(set(recorded) | set(identity)) if compare is None else sorted(compare)
    return [difference for key in keys for difference in _differences(key, recorded.get(key), identity.get(key))]


@contextlib.contextmanager
def run_dir_lock(output_dir: str | os.PathLike, enabled: bool) -> Iterator[None]:
    """Holds an exclusive lock on output_dir/.lock (rank 0 of a training run), so that a second run started
    into the same folder fails at once instead of mixing its checkpoints and metrics with this one's."""
    if not enabled:
        yield
        return
    directory = Path(output_dir)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a folder (--output_dir)")
    lock_file = directory / ".lock"
    created = not lock_file.exists()
    with script_utils.missing_folders_made([str(lock_file)]), open(lock_file, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{directory}: another run is training in this folder now; wait for it to end, or "
                             f"choose another --output_dir") from None
        try:
            yield
        except BaseException:
            if created:  # a run that failed leaves no trace of its lock (nor the folder, if it made it and it is empty)
                lock_file.unlink(missing_ok=True)
            raise


def check_init_outside(init_checkpoint: str | None, output_dir: str | os.PathLike, overwrite: bool) -> None:
    """An --init_checkpoint inside the --output_dir that --overwrite_output_dir clears would be deleted at the
    run's first checkpoint, after it was loaded: refused."""
    if overwrite and init_checkpoint and Path(init_checkpoint).resolve().is_relative_to(Path(output_dir).resolve()):
        raise InputError(f"--init_checkpoint {init_checkpoint} lies in --output_dir {output_dir}, which "
                         f"--overwrite_output_dir clears: copy it elsewhere first")


def card_record(flags: TrainingFlags, trained: bool, restored: bool) -> dict[str, Any]:
    """The flags an export's model card reports: this run's when it trained (with where it started), those the
    run.json of the run it restored records, else only --init_checkpoint (the model is that one, as it is)."""
    if trained:
        return {**dataclasses.asdict(flags), "init_checkpoint": flags.init_checkpoint or "none (random weights)"}
    if restored:
        record = Path(flags.output_dir) / RUN_FILE
        recorded = read_run_record(record) if record.is_file() else {}
        return {key: value for key, value in recorded.items() if key != "init_checkpoint"}  # that one is sha256s
    return {"init_checkpoint": flags.init_checkpoint}


def file_identity(path: str | os.PathLike | None) -> dict[str, str] | None:
    """What a run started from: the sha256 of a weights file, or of the files of a Hugging Face folder."""
    if path is None:
        return None
    source = Path(path)
    prefix = tf_checkpoint.checkpoint_prefix(source)
    if prefix is not None:  # Google's checkpoint: a prefix naming .index and .data files
        return {p.name: script_utils.file_sha256(p) for p in sorted(prefix.parent.glob(f"{prefix.name}.*"))
                if p.suffix != ".meta"}
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    return {p.name: script_utils.file_sha256(p) for p in files
            if p.suffix in (".json", ".safetensors", ".bin", ".pt", ".pth", ".txt") or not source.is_dir()}


def read_run_record(path: Path) -> dict[str, Any]:
    try:
        record = script_utils.read_json(path)
    except InputError as error:
        raise InputError(f"{error}; pass --overwrite_output_dir to start afresh") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: not a valid run record (not a JSON object)")
    return record


def _differences(name: str, then: Any, now: Any) -> list[str]:
    """`name: then-value then, now-value now` for each leaf that differs (bert_config.hidden_size, not the
    whole config)."""
    if isinstance(then, dict) and isinstance(now, dict):
        return [difference for key in sorted(set(then) | set(now))
                for difference in _differences(f"{name}.{key}", then.get(key), now.get(key))]
    return [] if then == now else [f"{name}: {script_utils.shown(then)} then, {script_utils.shown(now)} now"]


def start_run(output_dir: str | os.PathLike, identity: dict[str, Any], plan: str, owns: Callable[[str], bool]
              ) -> None:
    """Rank 0, once everything the run needs has been read and checked (and every process has loaded its
    checkpoint): a FRESH run moves the files of any previous run (the names `owns` claims) to .previous_run/
    (removed when the first new checkpoint is saved); a RESTORE brings .previous_run/ back in place of what
    the failed run left. Then the run records itself in run.json. Temporaries of a killed write are removed."""
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    script_utils.remove_temporaries(directory)
    previous = directory / PREVIOUS_RUN
    old = [p for p in directory.iterdir() if p.name != PREVIOUS_RUN and owns(p.name)]
    if plan == RESTORE or (plan == FRESH and previous.is_dir() and not checkpoints(directory)):
        # What is in the folder is a failed run's (no checkpoint): drop it; the kept run stays kept.
        for path in old:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if plan == RESTORE:
            for path in previous.iterdir():
                os.replace(path, directory / path.name)
            previous.rmdir()
    elif plan == FRESH and old:
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir()
        for path in old:
            os.replace(path, previous / path.name)
    script_utils.write_json(directory / RUN_FILE, identity)


def write_eval_results(path: Path, results: dict[str, float], global_step: int) -> None:
    """eval_results.txt as Google's scripts write it: "key = value" lines, sorted, with the global step."""
    lines = {**{k: f"{v:.6f}" for k, v in results.items()}, "global_step": str(global_step)}
    write_text(path, "".join(f"{key} = {lines[key]}\n" for key in sorted(lines)))


def owns_run_file(name: str) -> bool:
    """The files the training loop writes into a run folder."""
    checkpoint = name.removesuffix(".damaged")
    return bool(CHECKPOINT_PATTERN.fullmatch(checkpoint)) or name in (
        RUN_FILE, "metrics.jsonl", "tensorboard", "bert_config.json")


# --- batches -------------------------------------------------------------------------------------------


class ShuffledStream:
    """The order in which a data set of `size` items is read: epoch after epoch, each a permutation drawn
    from (seed, epoch).

    Step s takes stream positions [s * B, (s + 1) * B) (B = the batch of one optimizer step); inside it,
    micro-batch m of process r is the r-th slice of the m-th part. Nothing depends on history.
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed
        self._permutation: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._permutation is None or self._permutation[0] != epoch:
            self._permutation = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        return self._permutation[1]

    def indices(self, start: int, count: int) -> np.ndarray:
        """The items at stream positions [start, start + count)."""
        positions = np.arange(start, start + count)
        epochs = positions // self.size
        return np.concatenate([self.permutation(int(e))[positions[epochs == e] % self.size]
                               for e in np.unique(epochs)])

    def step_indices(self, step: int, batch_size: int, micro: int, distributed: Distributed) -> list[np.ndarray]:
        """This process's micro-batches of one optimizer step, as item indices."""
        per_micro = micro * distributed.world_size
        first = step * batch_size + distributed.rank * micro
        return [self.indices(first + m * per_micro, micro) for m in range(batch_size // per_micro)]



def prefetch(make: Callable[[int], Any], first: int, depth: int = 2) -> Iterator[Any]:
    """Yields make(first), make(first + 1), ... computed `depth` ahead in a background thread, which is
    joined when the generator closes: a thread still inside torch when the interpreter exits aborts the
    process ("terminate called without an active exception") after the run's work is done."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        index = first
        while not stop.is_set():
            try:
                item = (make(index), None)
            except Exception as error:  # handed to the consumer, raised there
                item = (None, error)
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            index += 1

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            yield item
    finally:
        stop.set()
        thread.join()


def step_batches(data: TrainingData, order: ShuffledStream, step: int, batch_size: int, micro: int,
                 distributed: Distributed) -> list[Batch]:
    """This process's micro-batches of one optimizer step: a pure function of (the order's seed, step)."""
    return [data.batch(indices) for indices in order.step_indices(step, batch_size, micro, distributed)]


MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def int64_rows(source: object, names: Collection[str], indices: np.ndarray) -> Batch:
    """Rows `indices` of the integer arrays `names` of `source` (stored narrow, int8/int32) as int64 CPU tensors,
    the dtype embedding lookups and cross-entropy targets take."""
    return {name: torch.from_numpy(getattr(source, name)[indices].astype(np.int64)) for name in names}


def unpad(batch: Batch) -> Batch:
    """The batch with its [B, T] model inputs cut to its longest sequence (attention_mask's longest row).

    The columns cut are padding in every row: attention never reads a padded key, positions keep their indexes,
    and every head reads real tokens only (the span loss masks padding), so every output at a real token, every
    loss and every gradient is the padded batch's, to float rounding, for a fraction of the work. Other fields
    (labels, masked positions: they index real tokens) stay as they are.
    """
    mask = batch["attention_mask"]
    length = int(mask.sum(1).max()) if len(mask) else mask.shape[1]
    if length == mask.shape[1]:
        return batch
    return {key: value[:, :length] if key in MODEL_INPUTS else value for key, value in batch.items()}


def length_groups(batch: Batch, groups: int = 4) -> list[Batch]:
    """The batch's rows in up to `groups` batches of like length (longest first), each cut to its longest (unpad).

    A training step's loss is a sum over rows, so the groups' loss sums and gradients add up to the batch's,
    while a CPU computes about the real tokens instead of B times the longest row (sequences are rarely all long:
    KorQuAD's windows at 384 are 77% full).
    """
    order = torch.argsort(batch["attention_mask"].sum(1), descending=True, stable=True)
    return [unpad({key: value[rows] for key, value in batch.items()}) for rows in order.tensor_split(groups)
            if len(rows)]


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# --- logging -------------------------------------------------------------------------------------------


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


# --- the loop ------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Restored:
    checkpoint: Path
    step: int


def restore_model(model: nn.Module, output_dir: str | os.PathLike, identity: dict[str, Any], compare: Collection[str],
                  is_main: bool, head: str | None = None) -> Restored | None:
    """Loads the model of the newest intact checkpoint in a run folder (to evaluate, predict with or export the
    run) after checking that the run's record agrees with `identity` on the keys in `compare`; None when the
    folder holds no checkpoint. `head`: a parameter the checkpoint must have (a fine-tuned head), else InputError."""
    prepare_run_dir(output_dir, identity, False, owns_run_file, compare=compare)
    target = _ModelOnly(model, head)
    checkpoint = resume(target, output_dir, is_main)
    return Restored(checkpoint, target.step) if checkpoint is not None else None


@dataclass
class _ModelOnly:
    """A checkpoint's model, without its optimizer and schedule (see resume)."""

    model: nn.Module
    head: str | None = None
    step: int = 0

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.head is not None and self.head not in state["model"]:
            raise InputError(f"holds a pretraining run, not a fine-tuned one (its checkpoint has no {self.head}): "
                             f"fine-tune it with --do_train, or give it as --init_checkpoint with another --output_dir")
        self.model.load_state_dict(state["model"])
        self.step = state["step"]


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
