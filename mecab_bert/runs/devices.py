# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Where a run computes: the device (`--device`), the precision (`--precision`, autocast), and its place among
the processes torchrun started (`Distributed`: NCCL on CUDA, gloo on CPU). Google's TPU flags (`TpuFlags`) are
taken as its README gives them, and do nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
import torch
import torch.distributed as dist
from torch import Tensor

from mecab_bert.cli import flag
from mecab_bert.runs.batching import Batch, length_groups, to_device, unpad

if TYPE_CHECKING:
    from mecab_bert.runs.loop import TrainingFlags


class TrainingError(RuntimeError):
    """A run that cannot go on: a non-finite loss, a bad flag combination."""


def _refuse_tpu(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        raise click.BadParameter("there is no TPU path here: --device picks the GPU (CUDA) or the CPU", ctx, param)
    return value


def _ignore_tpu_flag(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        click.echo(f"--{param.name} {value}: ignored (one of Google's TPU-only flags; --device picks the device)",
                   err=True)
    return value


_IGNORED = "Google's TPU-only flag: taken and ignored, with a notice."


@dataclass(frozen=True, kw_only=True)
class TpuFlags:
    """Google's TPU flags, so that its README's commands run as written: --use_tpu=False changes nothing and
    --use_tpu=True is refused in one line; the others are ignored with a notice on stderr."""

    use_tpu: bool = flag(False, "Google's: False changes nothing; True is refused (no TPU path: see --device).",
                         callback=_refuse_tpu)
    tpu_name: str | None = flag(None, _IGNORED, callback=_ignore_tpu_flag)
    tpu_zone: str | None = flag(None, _IGNORED, callback=_ignore_tpu_flag)
    gcp_project: str | None = flag(None, _IGNORED, callback=_ignore_tpu_flag)
    master: str | None = flag(None, _IGNORED, callback=_ignore_tpu_flag)
    num_tpu_cores: int | None = flag(None, _IGNORED, click.INT, callback=_ignore_tpu_flag)
    iterations_per_loop: int | None = flag(None, _IGNORED, click.INT, callback=_ignore_tpu_flag)


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
