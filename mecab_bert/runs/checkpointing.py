# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A run's checkpoints in its folder: saved atomically, resumed from the newest intact one (a damaged one set aside),
and a run's model restored to predict with or export it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mecab_bert import cli
from mecab_bert.checkpoints import loading
from mecab_bert.checkpoints.loading import checkpoints
from mecab_bert.files import atomic_output
from mecab_bert.runs.devices import Distributed
from mecab_bert.runs.run_folder import FRESH, PREVIOUS_RUN, RESTORE, RESUME, owns_run_file, prepare_run_dir
from text_input import InputError

if TYPE_CHECKING:
    from mecab_bert.runs.loop import TrainState


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
            reason = cli.describe_error(error).removeprefix(f"{path}: ")[:200]
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


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's contents: tensors and plain containers only, never code (see loading.load_torch_file)."""
    return loading.load_torch_file(Path(path))


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
