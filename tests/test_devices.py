"""mecab_bert/runs/devices.py: Google's TPU flags, as every training script takes them."""

import dataclasses
import importlib

import pytest
from click.testing import CliRunner

from mecab_bert.runs import devices, loop

TRAINING_SCRIPTS = ("run_pretraining", "run_squad", "run_classifier")
IGNORED = ("--tpu_name=my-tpu", "--tpu_zone=us-central1-b", "--gcp_project=p", "--master=grpc://10.0.0.2:8470",
           "--num_tpu_cores=8", "--iterations_per_loop=1000")


def test_the_tpu_flags_are_declared_once_for_every_training_script():
    tpu = [field.name for field in dataclasses.fields(devices.TpuFlags)]
    assert tpu == ["use_tpu", "tpu_name", "tpu_zone", "gcp_project", "master", "num_tpu_cores", "iterations_per_loop"]
    assert set(tpu) <= {field.name for field in dataclasses.fields(loop.TrainingFlags)}
    for script in TRAINING_SCRIPTS:
        names = [param.name for param in importlib.import_module(script).main.params]
        assert names[-len(tpu):] == tpu, script  # listed last in --help


@pytest.mark.parametrize("script", TRAINING_SCRIPTS)
def test_use_tpu_true_is_one_line_and_the_other_tpu_flags_a_notice(tmp_path, script):
    command = importlib.import_module(script).main
    result = CliRunner().invoke(command, ["--output_dir", str(tmp_path / "out"), "--use_tpu=True"])
    assert result.exit_code == 2
    assert result.output == "Error: Invalid value for '--use_tpu': there is no TPU path here: --device picks the GPU " \
                            "(CUDA) or the CPU (see --help)\n"
    # Google's README command for a TPU, less --use_tpu=True: each TPU flag a notice, then the run goes on (here to
    # its own first complaint: nothing to do).
    result = CliRunner().invoke(command, ["--output_dir", str(tmp_path / "out"), "--use_tpu=False", "--nouse_tpu",
                                          *IGNORED, *(["--task_name", "mrpc"] if script == "run_classifier" else []),
                                          *(["--bert_config_file=c", "--input_file=d"]
                                            if script == "run_pretraining" else [])])
    lines = result.output.splitlines()
    assert lines[:len(IGNORED)] == [f"{flag.replace('=', ' ', 1)}: ignored (one of Google's TPU-only flags; --device "
                                    f"picks the device)" for flag in IGNORED]
    assert lines[len(IGNORED):] == [lines[-1]] and lines[-1].startswith("Error: nothing to do"), result.output
    assert not (tmp_path / "out").exists()
