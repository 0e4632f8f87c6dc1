"""mecab_bert/runs/skeleton.py and the inputs every script opens: a pipe given as an input file is refused in one
line before anything opens it (open() on a pipe with no writer blocks for ever)."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from mecab_bert import files
from text_input import InputError

VOCAB, CONFIG, SAMPLE = ROOT / "vocab" / "sample-4k.txt", ROOT / "configs" / "bert_tiny.json", \
    ROOT / "data" / "sample_korquad.json"
TRAINING = ["--vocab_file", str(VOCAB), "--bert_config_file", str(CONFIG), "--output_dir", "out", "--device", "cpu"]


def test_check_not_a_pipe(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"^--train_file .*pipe: not a regular file \(a pipe or a device\)"):
        files.check_not_a_pipe(tmp_path / "pipe", "--train_file")
    for fine in ("file", "missing", "."):  # a file, or what open() names itself
        files.check_not_a_pipe(tmp_path / fine)


@pytest.mark.parametrize(("script", "arguments", "flag"), [
    ("run_squad.py", [*TRAINING, "--do_train", "--train_file", "pipe"], "--train_file "),
    ("run_squad.py", [*TRAINING, "--do_predict", "--predict_file", "pipe"], "--predict_file "),
    ("run_classifier.py", [*TRAINING, "--task_name", "korsts", "--do_eval", "--eval_file", "pipe"], "--eval_file "),
    ("run_classifier.py", [*TRAINING, "--task_name", "korsts", "--do_train", "--train_file", "pipe"], "--train_file "),
    ("evaluate_squad.py", [str(SAMPLE), "pipe"], ""),
    ("evaluate_squad.py", ["pipe", str(SAMPLE)], ""),
])
def test_a_pipe_as_an_input_file_is_one_line_not_a_hang(tmp_path, script, arguments, flag):
    os.mkfifo(tmp_path / "pipe")
    result = subprocess.run([sys.executable, str(ROOT / script), *arguments], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f"Error: {flag}pipe: not a regular file (a pipe or a device); give a file"
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # nothing written: no run folder
