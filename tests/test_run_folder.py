"""mecab_bert/runs/run_folder.py: the run folder's state machine. prepare_run_dir reads the folder and says how to
start (FRESH, RESUME, RESTORE) or refuses in one line, writing nothing; start_run then moves an overwritten run into
.previous_run/ (or a failed run's files away, or the kept run back) and records the run; save_checkpoint drops the
kept run once the new run has a checkpoint of its own.

One table, one row a transition: the folder before (relative path -> contents; a dict is a JSON file), the call, the
plan or the error's first line, and the folder after start_run (None: start_run is not called, as when a run is only
evaluated, and the folder stays as it was).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn

from mecab_bert.runs import checkpointing, run_folder
from mecab_bert.runs.devices import Distributed
from mecab_bert.runs.loop import TrainState
from mecab_bert.runs.run_folder import FRESH, RESTORE, RESUME
from text_input import InputError

IDENTITY = {"learning_rate": 0.1, "seed": 1, "bert_config": {"hidden_size": 32, "num_hidden_layers": 2}}
OTHER = {**IDENTITY, "learning_rate": 0.2}  # another run: one flag differs
THIRD = {**IDENTITY, "seed": 3}
WIDER = {**IDENTITY, "bert_config": {"hidden_size": 64, "num_hidden_layers": 2}}  # another model



def another_run(differences: str) -> str:
    """The refusal of a folder that holds a run recorded with another identity ({out}: the folder)."""
    return (f"{{out}} holds another run ({differences}); rerun with the same flags and inputs to resume it, or pass "
            f"--overwrite_output_dir to start afresh (or choose another --output_dir)")


def owns(name: str) -> bool:
    """What run_pretraining claims in its run folder (tasks/pretraining._owns): the loop's files and its results."""
    return run_folder.owns_run_file(name) or name == "eval_results.txt"


class Row(NamedTuple):
    before: dict[str, Any] | str | None  # None: no folder; a str: a file where the folder would be
    identity: dict[str, Any]
    overwrite: bool
    compare: tuple[str, ...] | None
    expected: str  # the plan, or the first line of the InputError ({out}: the folder)
    after: dict[str, Any] | None  # after start_run; None: start_run not called, nothing changed


def row(before, expected, after=None, identity=IDENTITY, overwrite=False, compare=None) -> Row:
    return Row(before, identity, overwrite, compare, expected, after)


TRANSITIONS = {
    # --- nothing there yet, or nothing of a run ---
    "no folder": row(None, FRESH, {"run.json": IDENTITY}),
    "a file in its place": row("my notes", "{out}: exists and is not a folder (--output_dir)"),
    "a file in its place, --overwrite_output_dir": row(
        "my notes", "{out}: exists and is not a folder (--output_dir)", overwrite=True),
    "empty folder": row({}, FRESH, {"run.json": IDENTITY}),
    "only the user's files and the lock": row(
        {"notes.txt": "mine", ".lock": ""}, FRESH, {"notes.txt": "mine", ".lock": "", "run.json": IDENTITY}),
    # --- the same run ---
    "the same run, with a checkpoint": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2", "metrics.jsonl": "m"}, RESUME,
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2", "metrics.jsonl": "m"}),
    "the same run, before its first checkpoint": row(
        {"run.json": IDENTITY, "metrics.jsonl": "m"}, RESUME, {"run.json": IDENTITY, "metrics.jsonl": "m"}),
    "the same run, recorded before run.json had the vocab it derives from its data": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2"}, RESUME,
        {"run.json": {**IDENTITY, "vocab_sha256": "ab"}, "ckpt-00000002.pt": "c2"},
        identity={**IDENTITY, "vocab_sha256": "ab"}),
    "the same run, with a killed write's temporaries": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2", ".ckpt-00000004.pt.~ab12cd34.tmp": "half",
         ".tensorboard.~x1y2z3q4.tmp/events": "half", ".thesis.tmp": "the user's"}, RESUME,
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2", ".thesis.tmp": "the user's"}),
    # --- another run ---
    "another run with a checkpoint": row(
        {"run.json": OTHER, "ckpt-00000002.pt": "c2"}, another_run("learning_rate: 0.2 then, 0.1 now")),
    "another model, named by its field": row(
        {"run.json": WIDER, "ckpt-00000002.pt": "c2"}, another_run("bert_config.hidden_size: 64 then, 32 now")),
    "another run that died before its first checkpoint": row(
        {"run.json": OTHER, "metrics.jsonl": "m", "bert_config.json": {}, "tensorboard/events": "e", ".lock": "",
         "notes.txt": "mine"}, FRESH,
        {"run.json": IDENTITY, ".lock": "", "notes.txt": "mine", ".previous_run/run.json": OTHER,
         ".previous_run/metrics.jsonl": "m", ".previous_run/bert_config.json": {},
         ".previous_run/tensorboard/events": "e"}),
    "another run with results but no checkpoint": row(
        {"run.json": OTHER, "eval_results.txt": "loss = 1"}, another_run("learning_rate: 0.2 then, 0.1 now")),
    "another run with only damaged checkpoints": row(
        {"run.json": OTHER, "ckpt-00000002.pt.damaged": "c2"}, another_run("learning_rate: 0.2 then, 0.1 now")),
    # --- no run.json ---
    "checkpoints but no run.json": row(
        {"ckpt-00000002.pt": "c2"}, "{out}: holds checkpoints but no run.json, so it cannot tell whether they belong "
        "to this run; pass --overwrite_output_dir to start afresh there, or choose another --output_dir"),
    "checkpoints but no run.json, evaluated": row({"ckpt-00000002.pt": "c2"}, RESUME, compare=("bert_config",)),
    "earlier outputs but no run.json": row(
        {"eval_results.txt": "loss = 1", "metrics.jsonl": "m"}, "{out}: holds the outputs of an earlier run "
        "(eval_results.txt); pass --overwrite_output_dir to replace them, or choose another --output_dir"),
    "damaged checkpoints but no run.json": row(
        {"ckpt-00000002.pt.damaged": "c2", "ckpt-00000001.pt.damaged": "c1"}, "{out}: holds the outputs of an "
        "earlier run (ckpt-00000001.pt.damaged, ckpt-00000002.pt.damaged); pass --overwrite_output_dir to replace "
        "them, or choose another --output_dir"),
    "earlier outputs but no run.json, evaluated": row({"eval_results.txt": "loss = 1"}, FRESH, compare=("seed",)),
    "what a run writes first, but no run.json": row(
        {"metrics.jsonl": "m", "tensorboard/events": "e"}, FRESH,
        {"run.json": IDENTITY, ".previous_run/metrics.jsonl": "m", ".previous_run/tensorboard/events": "e"}),
    # --- an overwrite that died before its first checkpoint (the run it replaced kept in .previous_run/) ---
    "rerun with the kept run's flags: restored": row(
        {"run.json": OTHER, "metrics.jsonl": "new", "tensorboard/events": "new", ".previous_run/run.json": IDENTITY,
         ".previous_run/ckpt-00000004.pt": "k4", ".previous_run/metrics.jsonl": "old"}, RESTORE,
        {"run.json": IDENTITY, "ckpt-00000004.pt": "k4", "metrics.jsonl": "old"}),
    "rerun with the overwrite's flags: resumed, the kept run still kept": row(
        {"run.json": OTHER, "metrics.jsonl": "new", ".previous_run/run.json": IDENTITY,
         ".previous_run/ckpt-00000004.pt": "k4"}, RESUME,
        {"run.json": OTHER, "metrics.jsonl": "new", ".previous_run/run.json": IDENTITY,
         ".previous_run/ckpt-00000004.pt": "k4"}, identity=OTHER),
    "rerun with a third run's flags: refused, the kept run protected": row(
        {"run.json": OTHER, "metrics.jsonl": "new", ".previous_run/run.json": THIRD,
         ".previous_run/ckpt-00000004.pt": "k4"}, another_run("learning_rate: 0.2 then, 0.1 now")),
    "the kept run, once the new run has a checkpoint, is not restored": row(
        {"run.json": OTHER, "ckpt-00000006.pt": "c6", ".previous_run/run.json": IDENTITY,
         ".previous_run/ckpt-00000004.pt": "k4"}, another_run("learning_rate: 0.2 then, 0.1 now")),
    "the kept run's flags, evaluated: the folder's own run is read, nothing restored": row(
        {"run.json": OTHER, ".previous_run/run.json": IDENTITY, ".previous_run/ckpt-00000004.pt": "k4"}, RESUME,
        compare=("bert_config",)),
    "a kept run.json that cannot be read": row(
        {"run.json": OTHER, ".previous_run/run.json": "{"}, "{out}/.previous_run/run.json: not valid JSON (line 1 "
        "column 2: Expecting property name enclosed in double quotes); pass --overwrite_output_dir to start afresh"),
    # --- --overwrite_output_dir ---
    "overwrite another run: it is kept in .previous_run/": row(
        {"run.json": OTHER, "ckpt-00000002.pt": "c2", "eval_results.txt": "loss = 1", "notes.txt": "mine"}, FRESH,
        {"run.json": IDENTITY, "notes.txt": "mine", ".previous_run/run.json": OTHER,
         ".previous_run/ckpt-00000002.pt": "c2", ".previous_run/eval_results.txt": "loss = 1"}, overwrite=True),
    "overwrite a failed overwrite: the first run stays kept, the failed one is dropped": row(
        {"run.json": OTHER, "metrics.jsonl": "new", ".previous_run/run.json": THIRD,
         ".previous_run/ckpt-00000004.pt": "k4"}, FRESH,
        {"run.json": IDENTITY, ".previous_run/run.json": THIRD, ".previous_run/ckpt-00000004.pt": "k4"},
        overwrite=True),
    "overwrite a run that has its own checkpoint and an old kept run: the old one goes": row(
        {"run.json": OTHER, "ckpt-00000002.pt": "c2", ".previous_run/run.json": THIRD,
         ".previous_run/ckpt-00000001.pt": "k1"}, FRESH,
        {"run.json": IDENTITY, ".previous_run/run.json": OTHER, ".previous_run/ckpt-00000002.pt": "c2"},
        overwrite=True),
    "overwrite the same run": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2"}, FRESH,
        {"run.json": IDENTITY, ".previous_run/run.json": IDENTITY, ".previous_run/ckpt-00000002.pt": "c2"},
        overwrite=True),
    "overwrite a run.json that cannot be read": row(
        {"run.json": "{", "ckpt-00000002.pt": "c2"}, FRESH,
        {"run.json": IDENTITY, ".previous_run/run.json": "{", ".previous_run/ckpt-00000002.pt": "c2"},
        overwrite=True),
    # --- compare: only some keys matter (evaluating, predicting with or exporting a run) ---
    "another run's flags, evaluated on the model alone": row(
        {"run.json": OTHER, "ckpt-00000002.pt": "c2"}, RESUME, compare=("bert_config",)),
    "another model, evaluated": row(
        {"run.json": WIDER, "ckpt-00000002.pt": "c2"}, "{out} holds a run of another model, vocab or data "
        "(bert_config.hidden_size: 64 then, 32 now); give that run's own config, vocab, tokenizer flags and data, or "
        "another --output_dir", compare=("bert_config",)),
    "a compared key the run did not record": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2"}, "{out} holds a run of another model, vocab or data "
        "(vocab_sha256: null then, \"ab\" now); give that run's own config, vocab, tokenizer flags and data, or "
        "another --output_dir", identity={**IDENTITY, "vocab_sha256": "ab"}, compare=("bert_config", "vocab_sha256")),
    # --- run.json that cannot be read ---
    "run.json not JSON": row(
        {"run.json": "{", "ckpt-00000002.pt": "c2"}, "{out}/run.json: not valid JSON (line 1 column 2: Expecting "
        "property name enclosed in double quotes); pass --overwrite_output_dir to start afresh"),
    "run.json not an object": row(
        {"run.json": "[1, 2]", "ckpt-00000002.pt": "c2"}, "{out}/run.json: not a valid run record (not a JSON object)"),
    "run.json not UTF-8": row(
        {"run.json": b'{"seed": "\xff"}'}, "{out}/run.json:1: not valid UTF-8 (byte 0xff at byte 11 of the line); pass "
        "--overwrite_output_dir to start afresh"),
    # --- a run.json older than some keys: the values every run of those versions used ---
    "recorded before weight_decay and optimizer: Google's defaults": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2"}, RESUME,
        {"run.json": {**IDENTITY, "weight_decay": 0.01, "optimizer": "adamw"}, "ckpt-00000002.pt": "c2"},
        identity={**IDENTITY, "weight_decay": 0.01, "optimizer": "adamw"}),
    "recorded before weight_decay, resumed with another": row(
        {"run.json": IDENTITY, "ckpt-00000002.pt": "c2"}, another_run("weight_decay: 0.01 then, 0.1 now"),
        identity={**IDENTITY, "weight_decay": 0.1}),
    "a recorded optimizer is not replaced by the default": row(
        {"run.json": {**IDENTITY, "optimizer": "lamb"}, "ckpt-00000002.pt": "c2"},
        another_run('optimizer: "lamb" then, "adamw" now'), identity={**IDENTITY, "optimizer": "adamw"}),
}


def write_folder(folder: Path, before: dict[str, Any] | str | None) -> None:
    if before is None:
        return
    if isinstance(before, str):
        folder.write_text(before, encoding="utf-8")
        return
    folder.mkdir()
    for name, content in before.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content) if isinstance(content, dict) else content, encoding="utf-8")


def contents(folder: Path) -> dict[str, Any] | str | None:
    """What write_folder writes, read back: JSON files that parse as objects as dicts; an empty folder (which no
    row expects) as "name/": None."""
    if not folder.exists():
        return None
    if folder.is_file():
        return folder.read_text(encoding="utf-8")
    found: dict[str, Any] = {f"{p.relative_to(folder)}/": None for p in folder.rglob("*")
                             if p.is_dir() and not any(p.iterdir())}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            found[str(path.relative_to(folder))] = data
            continue
        try:
            value = json.loads(text) if path.suffix == ".json" else text
        except ValueError:
            value = text
        found[str(path.relative_to(folder))] = value if isinstance(value, dict) else text
    return found


@pytest.mark.parametrize("case", TRANSITIONS)
def test_run_folder_transitions(tmp_path, case):
    before, identity, overwrite, compare, expected, after = TRANSITIONS[case]
    folder = tmp_path / "run"
    write_folder(folder, before)
    written = contents(folder)
    assert written == before  # what the rows say is what the folder holds
    if expected in (FRESH, RESUME, RESTORE):
        plan = run_folder.prepare_run_dir(folder, identity, overwrite, owns, compare)
        assert plan == expected
        assert contents(folder) == written  # prepare_run_dir writes nothing
        if after is None:
            assert compare is not None, "a training run's row says what start_run leaves"
            return
        run_folder.start_run(folder, identity, plan, owns)
        assert contents(folder) == after
    else:
        assert after is None, "a refused run never reaches start_run"
        with pytest.raises(InputError) as error:
            run_folder.prepare_run_dir(folder, identity, overwrite, owns, compare)
        assert str(error.value).splitlines()[0] == expected.format(out=folder)
        assert contents(folder) == written


def tiny_state(step: int) -> TrainState:
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return TrainState(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), None, step)


def test_the_first_checkpoint_drops_the_kept_run_and_old_checkpoints(tmp_path):
    folder = tmp_path / "run"
    write_folder(folder, {"run.json": IDENTITY, "ckpt-00000001.pt": "c1", "ckpt-00000002.pt": "c2",
                          ".previous_run/run.json": OTHER, ".previous_run/ckpt-00000009.pt": "k9"})
    path = checkpointing.save_checkpoint(tiny_state(3), str(folder), 2, {"bert_config": {"hidden_size": 2}})
    assert path == folder / "ckpt-00000003.pt"
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt-00000002.pt", "ckpt-00000003.pt", "run.json"]
    saved = checkpointing.load_checkpoint(path)
    assert saved["step"] == 3 and saved["bert_config"] == {"hidden_size": 2}
    assert set(saved) == {"model", "optimizer", "scheduler", "scaler", "step", "bert_config"}
    # And the run resumes from it: the plan the next start reads.
    assert run_folder.prepare_run_dir(folder, IDENTITY, False, owns) == RESUME
    state = tiny_state(0)
    assert checkpointing.resume(state, folder, True) == path and state.step == 3


def test_a_restore_brings_back_the_kept_runs_checkpoint_to_resume_from(tmp_path):
    """The whole cycle: an overwrite starts, dies before its first checkpoint, the old command brings the old run
    back, and its checkpoint is the one resumed."""
    folder = tmp_path / "run"
    write_folder(folder, {})
    run_folder.start_run(folder, IDENTITY, FRESH, owns)
    checkpointing.save_checkpoint(tiny_state(4), str(folder), 3, {})
    assert run_folder.prepare_run_dir(folder, OTHER, True, owns) == FRESH
    run_folder.start_run(folder, OTHER, FRESH, owns)  # the overwrite dies here, before its first checkpoint
    assert sorted(p.name for p in (folder / ".previous_run").iterdir()) == ["ckpt-00000004.pt", "run.json"]
    plan = run_folder.prepare_run_dir(folder, IDENTITY, False, owns)
    assert plan == RESTORE
    state = tiny_state(0)
    assert checkpointing.resume_plan(state, folder, plan, Distributed()) == folder / "ckpt-00000004.pt"
    assert state.step == 4
    run_folder.start_run(folder, IDENTITY, plan, owns)
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt-00000004.pt", "run.json"]
    assert json.loads((folder / "run.json").read_text(encoding="utf-8")) == IDENTITY


def test_a_run_recorded_before_weight_decay_was_a_flag_still_resumes(tmp_path):
    """run.json of runs made before --weight_decay and run_squad's --optimizer existed lacks them: those runs used
    Google's 0.01 and adamw, so they resume; a run recorded with another value does not."""
    identity = {"script": "run_squad", "learning_rate": 5e-5, "optimizer": "adamw", "weight_decay": 0.01}
    (tmp_path / "ckpt-00000002.pt").write_bytes(b"")
    (tmp_path / run_folder.RUN_FILE).write_text(json.dumps({"script": "run_squad", "learning_rate": 5e-5}))
    assert run_folder.prepare_run_dir(tmp_path, identity, False, run_folder.owns_run_file) == run_folder.RESUME
    with pytest.raises(InputError, match=r"weight_decay: 0\.01 then, 0\.0 now"):
        run_folder.prepare_run_dir(tmp_path, {**identity, "weight_decay": 0.0}, False, run_folder.owns_run_file)
