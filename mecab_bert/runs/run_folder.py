# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The run folder (--output_dir) as a small state machine: what a run may do with the folder it is given (issue 10's
rules). A run resumes only itself; an overwritten run is kept in .previous_run/ until the new run's first
checkpoint is on disk.

prepare_run_dir(folder, identity, overwrite) says how a run starts, writing nothing:
    no folder, an empty one, or --overwrite_output_dir         -> FRESH
    run.json records this run                                  -> RESUME (from its newest checkpoint)
    .previous_run/ holds this run, the folder no checkpoint    -> RESTORE (an overwrite that died before its first
                                                                   checkpoint: the kept run comes back)
    run.json records another run, with a checkpoint           -> refused
    run.json records another run that never saved one         -> FRESH (a typo'd flag: nothing to lose)
    checkpoints, or an earlier run's outputs, but no run.json -> refused
start_run(plan), on rank 0 once every input is read: FRESH moves an earlier run's files into .previous_run/,
RESTORE moves them back; then run.json. The first checkpoint (checkpointing.save_checkpoint) drops .previous_run/.
run_dir_lock keeps a second run out of the folder meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from mecab_bert import files
from mecab_bert.checkpoints.loading import CHECKPOINT_PATTERN, checkpoints
from text_input import InputError

RUN_FILE = "run.json"
PREVIOUS_RUN = ".previous_run"  # an overwritten run, kept until the new run's first checkpoint is on disk
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
        return _plan_unrecorded(directory, owns, compare)
    differences = _run_differences(read_run_record(record), identity, compare)
    if not differences:
        return RESUME
    if compare is not None:
        raise InputError(f"{directory} holds a run of another model, vocab or data ({'; '.join(differences)}); give "
                         f"that run's own config, vocab, tokenizer flags and data, or another --output_dir")
    if not (directory / PREVIOUS_RUN).exists() \
            and all(p.name in _EARLY_FILES or not owns(p.name) for p in directory.iterdir()):
        return FRESH  # the recorded run died before its first checkpoint (a typo'd flag): nothing to lose
    raise InputError(f"{directory} holds another run ({'; '.join(differences)}); rerun with the same flags and "
                     f"inputs to resume it, or pass --overwrite_output_dir to start afresh (or choose another "
                     f"--output_dir)")


def _plan_unrecorded(directory: Path, owns: Callable[[str], bool], compare: Collection[str] | None) -> str:
    """prepare_run_dir for a folder without run.json: one that holds nothing of an earlier run starts afresh."""
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


# What a run recorded before its run.json had these keys: the values every run of those versions used.
_BEFORE_RECORDED = {"weight_decay": 0.01, "optimizer": "adamw"}

# Keys a run.json records as a fact derived from others (a pretraining run's vocab and tokenizer are part of its data's
# identity): resuming a run recorded before it had them compares the rest.
_DERIVED = frozenset({"vocab_sha256", "tokenizer", "do_lower_case"})


def _run_differences(recorded: dict[str, Any], identity: dict[str, Any], compare: Collection[str] | None
                     ) -> list[str]:
    recorded = {**{key: value for key, value in _BEFORE_RECORDED.items() if key in identity}, **recorded}
    keys = sorted(set(recorded) | (set(identity) - _DERIVED)) if compare is None else sorted(compare)
    return [difference for key in keys for difference in _differences(key, recorded.get(key), identity.get(key))]


def _differences(name: str, then: Any, now: Any) -> list[str]:
    """`name: then-value then, now-value now` for each leaf that differs (bert_config.hidden_size, not the
    whole config)."""
    if isinstance(then, dict) and isinstance(now, dict):
        return [difference for key in sorted(set(then) | set(now))
                for difference in _differences(f"{name}.{key}", then.get(key), now.get(key))]
    return [] if then == now else [f"{name}: {files.shown(then)} then, {files.shown(now)} now"]


def read_run_record(path: Path) -> dict[str, Any]:
    try:
        record = files.read_json(path)
    except InputError as error:
        raise InputError(f"{error}; pass --overwrite_output_dir to start afresh") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: not a valid run record (not a JSON object)")
    return record


class RecordedVocab(NamedTuple):
    sha256: str
    name: str  # the run.json that records it


class RunRecord(NamedTuple):
    """The run.json beside a checkpoint: what it records, and where it lies."""

    values: dict[str, Any]
    path: Path


def run_record_beside(checkpoint: str | os.PathLike) -> RunRecord | None:
    """What the run.json beside a checkpoint file records of its run; None where there is no such record (a
    checkpoint copied out of its run folder, a Hugging Face directory, a Google checkpoint)."""
    record = Path(checkpoint).parent / RUN_FILE
    if not Path(checkpoint).is_file() or not record.is_file():
        return None
    return RunRecord(read_run_record(record), record)


def trained_for(checkpoint: str | os.PathLike, script: str) -> str | None:
    """What another fine-tuning script trained the checkpoint for, as the run.json beside it records ("fine-tuned by
    run_ner"); None for this script's runs, pretraining runs and checkpoints without a record."""
    found = run_record_beside(checkpoint)
    other = found.values.get("script") if found else None
    if found is None or other in (None, script, "run_pretraining"):
        return None
    name = other if isinstance(other, str) and other.isidentifier() else files.shown(other)
    return f"{checkpoint} was fine-tuned by {name} ({found.path})"


def recorded_vocab(checkpoint: str | os.PathLike) -> RecordedVocab | None:
    """The vocab (sha256) the run.json beside a checkpoint file records its run trained with (None: not recorded)."""
    found = run_record_beside(checkpoint)
    sha256 = found.values.get("vocab_sha256") if found else None
    return RecordedVocab(sha256, str(found.path)) if found and isinstance(sha256, str) else None


def start_run(output_dir: str | os.PathLike, identity: dict[str, Any], plan: str, owns: Callable[[str], bool]
              ) -> None:
    """Rank 0, once everything the run needs has been read and checked (and every process has loaded its
    checkpoint): a FRESH run moves the files of any previous run (the names `owns` claims) to .previous_run/
    (removed when the first new checkpoint is saved); a RESTORE brings .previous_run/ back in place of what
    the failed run left. Then the run records itself in run.json. Temporaries of a killed write are removed."""
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    files.remove_temporaries(directory)
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
    files.write_json(directory / RUN_FILE, identity)


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
    busy = f"{directory}: another run is training in this folder now; wait for it to end, or choose another " \
           f"--output_dir"
    with files.missing_folders_made([str(lock_file)]), files.exclusive_lock(lock_file, busy):
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


def owns_run_file(name: str) -> bool:
    """The files the training loop writes into a run folder."""
    checkpoint = name.removesuffix(".damaged")
    return bool(CHECKPOINT_PATTERN.fullmatch(checkpoint)) or name in (
        RUN_FILE, "metrics.jsonl", "tensorboard", "bert_config.json")


def write_eval_results(path: Path, results: dict[str, float], global_step: int) -> None:
    """eval_results.txt as Google's scripts write it: "key = value" lines, sorted, with the global step."""
    lines = {**{k: f"{v:.6f}" for k, v in results.items()}, "global_step": str(global_step)}
    files.write_text(path, "".join(f"{key} = {lines[key]}\n" for key in sorted(lines)))
