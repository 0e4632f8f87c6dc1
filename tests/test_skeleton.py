"""mecab_bert/runs/skeleton.py and the inputs every script opens: a pipe given as an input file is refused in one
line before anything opens it (open() on a pipe with no writer blocks for ever)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT

import create_pretraining_data
import run_classifier
import run_pretraining
import run_squad
from mecab_bert import files
from mecab_bert.checkpoints import loading
from mecab_bert.files import file_sha256
from mecab_bert.runs import run_folder, skeleton
from text_input import InputError

VOCAB, CONFIG, SAMPLE = ROOT / "vocab" / "sample-4k.txt", ROOT / "configs" / "bert_tiny.json", \
    ROOT / "data" / "sample_korquad.json"
SAMPLE_TEXT = ROOT / "data" / "sample_text_ko.txt"
SCRIPTS = {"run_squad": run_squad, "run_classifier": run_classifier, "run_pretraining": run_pretraining}
TRAINING = ["--vocab_file", str(VOCAB), "--bert_config_file", str(CONFIG), "--output_dir", "out", "--device", "cpu"]


def test_check_input(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"^--train_file .*pipe: not a regular file \(a pipe or a device\)"):
        files.check_input(tmp_path / "pipe", "--train_file")
    for fine in ("file", "missing", "."):  # a file, or what open() names itself
        files.check_input(tmp_path / fine)


@pytest.mark.parametrize(("script", "arguments", "flag"), [
    ("run_squad.py", [*TRAINING, "--do_train", "--train_file", "pipe"], "'--train_file'"),
    ("run_squad.py", [*TRAINING, "--do_predict", "--predict_file", "pipe"], "'--predict_file'"),
    ("run_classifier.py", [*TRAINING, "--task_name", "korsts", "--do_eval", "--eval_file", "pipe"], "'--eval_file'"),
    ("run_classifier.py", [*TRAINING, "--task_name", "korsts", "--do_train", "--train_file", "pipe"],
     "'--train_file'"),
    ("evaluate_squad.py", [str(SAMPLE), "pipe"], "'PRED_FILE'"),
    ("evaluate_squad.py", ["pipe", str(SAMPLE)], "'DATA_FILE'"),
])
def test_a_pipe_as_an_input_file_is_one_line_not_a_hang(tmp_path, script, arguments, flag):
    os.mkfifo(tmp_path / "pipe")
    result = subprocess.run([sys.executable, str(ROOT / script), *arguments], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2  # click's for a bad flag value
    assert result.stderr.strip().splitlines()[-1] == \
        f"Error: Invalid value for {flag}: pipe: not a regular file (a pipe or a device); give a file (see --help)"
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # nothing written: no run folder


def run_cli_create(*arguments: str):
    return CliRunner().invoke(create_pretraining_data.main, list(arguments))


@pytest.fixture(scope="module")
def pretraining_run(tmp_path_factory, earlier_output):
    """A run folder of run_pretraining, one step on the small sample data (made with sample-4k.txt)."""
    out = tmp_path_factory.mktemp("pretraining") / "run"
    result = CliRunner().invoke(run_pretraining.main, [
        "--input_file", str(earlier_output), "--output_dir", str(out), "--bert_config_file", str(CONFIG),
        "--do_train", "--num_train_steps", "1", "--num_warmup_steps", "0", "--train_batch_size", "2",
        "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", ["run_squad", "run_classifier", "run_pretraining"])
def test_a_vocab_other_than_the_checkpoints_is_refused_naming_both(tmp_path, monkeypatch, pretraining_run, command):
    """The same size and casing, two tokens swapped: every id would silently mean another token."""
    monkeypatch.chdir(tmp_path)
    lines = VOCAB.read_text(encoding="utf-8").splitlines()
    lines[100], lines[101] = lines[101], lines[100]
    other = tmp_path / "other_vocab.txt"
    other.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other_data = tmp_path / "other_data"
    if command == "run_pretraining":  # data made with the other vocab, continuing the run with its checkpoint
        result = run_cli_create("--input_file", str(SAMPLE_TEXT), "--output_dir", str(other_data),
                                "--vocab_file", str(other), "--dupe_factor", "1")
        assert result.exit_code == 0, result.output
    arguments = {
        "run_squad": [*TRAINING, "--vocab_file", str(other), "--do_train", "--train_file", str(SAMPLE)],
        "run_classifier": [*TRAINING, "--vocab_file", str(other), "--task_name", "korsts", "--do_train",
                           "--train_file", str(tmp_path / "missing.tsv")],
        "run_pretraining": ["--input_file", str(other_data), "--output_dir", "out", "--bert_config_file",
                            str(CONFIG), "--do_train", "--num_train_steps", "1", "--num_warmup_steps", "0",
                            "--device", "cpu"],
    }[command]
    before = snapshot(pretraining_run)
    result = CliRunner().invoke(SCRIPTS[command].main, [*arguments, "--init_checkpoint", str(pretraining_run)])
    line = assert_one_line_error(result, str(pretraining_run / run_folder.RUN_FILE), "records vocab sha256")
    assert ("--vocab_file " + str(other) if command != "run_pretraining" else f"--input_file {other_data}") in line
    assert snapshot(pretraining_run) == before and not (tmp_path / "out").exists()


def test_the_checkpoints_own_vocab_passes_and_an_older_record_without_it_resumes(tmp_path, pretraining_run,
                                                                                 earlier_output):
    run = Path(shutil.copytree(pretraining_run, tmp_path / "run"))
    record = json.loads((run / run_folder.RUN_FILE).read_text())
    assert record["vocab_sha256"] == file_sha256(VOCAB)
    assert skeleton.check_init_vocab(str(loading.checkpoints(run)[-1]),
                                     skeleton.Vocab(file_sha256(VOCAB), "--vocab_file")) is None
    del record["vocab_sha256"]  # a run recorded before run.json had it: judged by the rest (its data's identity)
    (run / run_folder.RUN_FILE).write_text(json.dumps(record))
    result = CliRunner().invoke(run_pretraining.main, [
        "--input_file", str(earlier_output), "--output_dir", str(run), "--bert_config_file", str(CONFIG),
        "--do_train", "--num_train_steps", "1", "--num_warmup_steps", "0", "--train_batch_size", "2",
        "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "resum" in result.output, result.output


def test_the_tokenizer_follows_the_run_it_starts_from(tmp_path, monkeypatch, pretraining_run):
    """A pretraining run records its data's tokenizer, which a fine-tuning run from it takes (a contradicting
    --tokenizer is one line naming both); a prediction into a fine-tuned run's folder takes that run's tokenizer
    without flags; each run's first line says which and why."""
    monkeypatch.chdir(tmp_path)
    assert json.loads((pretraining_run / run_folder.RUN_FILE).read_text())["tokenizer"] == "mecab"
    squad = [*TRAINING, "--max_seq_length", "64", "--doc_stride", "32", "--max_query_length", "16",
             "--num_train_epochs", "0.01"]
    result = CliRunner().invoke(run_squad.main, [*squad, "--init_checkpoint", str(pretraining_run), "--do_train",
                                                 "--train_file", str(SAMPLE), "--tokenizer", "wordpiece"])
    assert_one_line_error(result, "--tokenizer wordpiece contradicts --init_checkpoint", "records tokenizer mecab")
    result = CliRunner().invoke(run_squad.main, [*squad, "--do_train", "--train_file", str(SAMPLE), "--tokenizer",
                                                 "wordpiece"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tokenizer: wordpiece (as --tokenizer says)")
    predicted = CliRunner().invoke(run_squad.main, [*squad, "--do_predict", "--predict_file", str(SAMPLE)])
    assert predicted.exit_code == 0, predicted.output
    assert predicted.output.startswith("tokenizer: wordpiece (the run in --output_dir out (out/run.json) records it)")
    assert (tmp_path / "out" / "predictions.json").is_file()
    # With --init_checkpoint as well, the prediction's model is the run in --output_dir (as Google's Estimator has
    # it): so are its tokenizer and config, and the pretraining run (another tokenizer) has no part in it.
    predicted = CliRunner().invoke(run_squad.main, [*squad, "--do_predict", "--predict_file", str(SAMPLE),
                                                    "--init_checkpoint", str(pretraining_run)])
    assert predicted.exit_code == 0, predicted.output
    first, second = predicted.output.splitlines()[:2]
    assert first.startswith(f"--init_checkpoint {pretraining_run} not used: --output_dir out holds a run")
    assert second.startswith("tokenizer: wordpiece (the run in --output_dir out (out/run.json) records it)")
