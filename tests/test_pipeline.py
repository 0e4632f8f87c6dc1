"""The whole pipeline as a user meets it: the Makefile targets the README gives."""

import json
import subprocess

import pytest
from conftest import ROOT


def make(*arguments, timeout=900):
    return subprocess.run(["make", "--no-print-directory", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_make_demo_runs_data_pretrain_squad_and_prints_scores(tmp_path):
    done = make("demo", f"OUT={tmp_path}", "STEPS=30", "EPOCHS=1", "NUM_WORKERS=1", "DEVICE=cpu")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    demo = tmp_path / "demo"
    assert (demo / "data" / "manifest.json").exists()
    assert (demo / "pretrain" / "ckpt-00000030.pt").exists() and (demo / "pretrain" / "eval_results.txt").exists()
    scores = json.loads((demo / "squad" / "eval_results.json").read_text())
    assert {"exact_match", "f1"} <= scores.keys()
    assert json.dumps(scores) in done.stdout
    for where in ("data: ", "pretraining: ", "squad: ", "demo: "):
        assert where in done.stdout
    # Re-running a stage whose inputs have not changed is harmless: data is not made again, pretraining
    # finds its last step done.
    again = make("data", "pretrain", f"OUT={demo}", "STEPS=30", "BATCH=16", "DEVICE=cpu")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "create_pretraining_data.py" not in again.stdout
    assert "Nothing to train" in again.stderr
