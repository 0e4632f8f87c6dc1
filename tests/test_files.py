"""mecab_bert/files.py: outputs replaced whole or not at all (atomic_output, atomic_directory), the temporaries of a
killed write, input file lists."""

import errno
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from badinput import error_line, snapshot
from click.testing import CliRunner
from conftest import ROOT

import create_pretraining_data
import run_classifier
import text_input
from mecab_bert import cli, files
from mecab_bert.pretraining_data import shard_format


def test_atomic_output_replaces_only_on_success(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), files.atomic_output(path) as writer:
        writer.write("partial")
        raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with files.atomic_output(path, binary=True) as writer:
        writer.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.txt"]


def test_expand_input_files_keeps_order_and_drops_duplicates(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x")
    spec = f"{tmp_path}/c.md,{tmp_path}/*.txt,{tmp_path}/a.txt"
    assert files.expand_input_files(spec) == [f"{tmp_path}/{n}" for n in ("c.md", "a.txt", "b.txt")]


def test_atomic_output_syncs_and_names_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    path.write_text("old")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    with files.atomic_output(path) as writer:
        writer.write("new")
    assert path.read_text() == "new" and len(synced) == 2  # the file, then its folder

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel says it: no file named

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught, files.atomic_output(path) as writer:
        writer.write("newer")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]
    assert cli.describe_error(caught.value) == f"{path}: No space left on device (the disk is full; " \
        "nothing was replaced)"


def test_atomic_output_refuses_a_folder_or_a_path_under_a_file(tmp_path):
    with pytest.raises(text_input.InputError, match="is a folder"), files.atomic_output(tmp_path):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(text_input.InputError, match="is a file, not a folder"), \
            files.atomic_output(tmp_path / "file" / "out.txt"):
        pass


def test_atomic_directory_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "shard-0.npy").write_text("old")
    owns = lambda name: name.startswith("shard-")  # noqa: E731
    with pytest.raises(text_input.InputError, match="--overwrite"), \
            files.atomic_directory(target, False, owns, "--overwrite"):
        pass
    with pytest.raises(RuntimeError), files.atomic_directory(target, True, owns, "--overwrite") as staging:
        (staging / "shard-0.npy").write_text("half")
        raise RuntimeError("input error halfway")
    assert os.listdir(tmp_path) == ["data"] and (target / "shard-0.npy").read_text() == "old"
    with files.atomic_directory(target, True, owns, "--overwrite") as staging:
        (staging / "shard-0.npy").write_text("new")
        assert (target / "shard-0.npy").read_text() == "old"
    assert os.listdir(tmp_path) == ["data"] and os.listdir(target) == ["shard-0.npy"]
    assert (target / "shard-0.npy").read_text() == "new"
    (target / "notes.txt").write_text("a week of notes")
    with pytest.raises(text_input.InputError, match=r"notes\.txt"), \
            files.atomic_directory(target, True, owns, "--overwrite"):
        pass
    assert (target / "notes.txt").exists()


def test_remove_temporaries(tmp_path):
    (tmp_path / ".ckpt-1.pt.~abcd1234.tmp").write_text("half")
    (tmp_path / ".export.~x1y_2z3q.tmp").mkdir()
    (tmp_path / "ckpt-1.pt").write_text("whole")
    (tmp_path / ".thesis.tmp").mkdir()  # the user's, though hidden and ending in .tmp
    (tmp_path / ".backup.20240101.tmp").write_text("the user's too")
    assert len(files.remove_temporaries(tmp_path)) == 2
    assert sorted(os.listdir(tmp_path)) == [".backup.20240101.tmp", ".thesis.tmp", "ckpt-1.pt"]


def test_a_missing_folder_names_the_output_not_a_temporary(tmp_path):
    path = tmp_path / "nodir" / "scores.json"
    with pytest.raises(OSError) as caught, files.atomic_output(path):
        pass
    assert caught.value.filename == str(path)


def test_atomic_directory_puts_the_old_folder_back_when_the_swap_is_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "hf"
    target.mkdir()
    (target / "model.safetensors").write_text("old")
    real_replace, calls = os.replace, []

    def interrupted(source, destination):
        calls.append(destination)
        if len(calls) == 2:  # after the old folder moved aside, before the new one moved in
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt), \
            files.atomic_directory(target, True, lambda name: True, "--export_hf") as staging:
        (staging / "model.safetensors").write_text("new")
    assert os.listdir(tmp_path) == ["hf"] and (target / "model.safetensors").read_text() == "old"


def test_outputs_through_a_symlink_or_to_a_device(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with files.atomic_output(link) as writer:
        writer.write("new")
    assert link.is_symlink() and real.read_text() == "new"
    with files.atomic_output("/dev/null") as writer:  # written to, never replaced by a file
        writer.write("discarded")
    assert not Path("/dev/null").is_file()


def test_a_swap_killed_midway_is_undone_by_the_next_run(tmp_path):
    target = tmp_path / "data"
    retired = tmp_path / ".data.~oldk3j9x2q1.tmp"
    (retired / "data").mkdir(parents=True)
    (retired / "data" / "manifest.json").write_text("the only copy")
    (tmp_path / ".data.~p0q1r2s3.tmp").mkdir()  # the staging folder of the killed run
    (tmp_path / ".data.v2.~a1b2c3d4.tmp").mkdir()  # a sibling output's staging: not ours to touch
    with pytest.raises(RuntimeError), files.atomic_directory(target, True, lambda name: True, "--overwrite"):
        raise RuntimeError("this run fails too")
    assert (target / "manifest.json").read_text() == "the only copy"
    assert sorted(os.listdir(tmp_path)) == [".data.v2.~a1b2c3d4.tmp", "data"]


def test_atomic_directory_through_a_symlink_replaces_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "manifest.json").write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)
    with files.atomic_directory(link, True, lambda name: True, "--overwrite") as staging:
        (staging / "manifest.json").write_text("new")
    assert link.is_symlink() and (real / "manifest.json").read_text() == "new"


def test_atomic_directory_that_fails_leaves_no_folder_it_made(tmp_path):
    with pytest.raises(RuntimeError), \
            files.atomic_directory(tmp_path / "new" / "deeper" / "data", False, lambda n: True, "--x"):
        raise RuntimeError("bad input")
    assert os.listdir(tmp_path) == []


def test_a_pipe_given_as_an_input_file_is_named_as_one(tmp_path):
    fifo = tmp_path / "corpus.xml"
    os.mkfifo(fifo)
    with pytest.raises(text_input.InputError, match="not a regular file"):
        files.expand_input_files(str(fifo))


def test_a_second_writer_of_one_output_is_refused_and_the_first_finishes(tmp_path):
    """Two runs into one output at once (create_pretraining_data --overwrite twice): the second would take the
    first one's temporary folder for a killed run's and remove it; it is refused in one line instead."""
    target = tmp_path / "data"
    with files.atomic_directory(target, True, lambda name: True, "--overwrite") as staging:
        (staging / "shard-00000.npy").write_text("first")
        with pytest.raises(text_input.InputError, match=r"data: another run is writing it now"), \
                files.atomic_directory(target, True, lambda name: True, "--overwrite"):
            raise AssertionError("the second writer ran")
        assert (staging / "shard-00000.npy").read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["data"]  # no lock file or temporary left beside it
    assert (target / "shard-00000.npy").read_text() == "first"


class _FullDisk(io.BytesIO):
    """A stream on a disk with 1000 bytes left: write() then fails as the kernel's does, naming no file."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_disk_error_finds_the_full_disk_under_what_torch_and_safetensors_raise(tmp_path):
    with pytest.raises(RuntimeError, match="unexpected pos") as caught:  # torch.save's own error, as torch raises it
        torch.save({"w": torch.zeros(10_000)}, _FullDisk())
    assert files.disk_error(caught.value).errno == errno.ENOSPC
    from safetensors import SafetensorError

    rust = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert (files.disk_error(rust).errno, files.disk_error(rust).strerror) == (errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert files.disk_error(text_input.InputError("x.txt:3: '(os error 28)'")) is None  # a user's text quoted
    assert files.disk_error(RuntimeError("boom")) is None and files.disk_error(OSError("no errno")) is None
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"old")
    with pytest.raises(OSError) as caught, files.atomic_output(path, binary=True):
        torch.save({"w": torch.zeros(10_000)}, _FullDisk())
    assert cli.describe_error(caught.value) == \
        f"{path}: No space left on device (the disk is full; nothing was replaced)"
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["ckpt.pt"]


def test_numpy_writes_shards_through_write_calls_that_keep_the_errno():
    """For a real file numpy calls fwrite and reports a short write as an OSError with no errno ("[Errno None]")."""
    with pytest.raises(OSError) as caught:
        np.save(shard_format._WriteCalls(_FullDisk()), np.zeros(10_000), allow_pickle=False)
    assert caught.value.errno == errno.ENOSPC


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of a few hundred KB (tmpfs), to fill; skipped, reported, where this machine may not mount."""
    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


SAMPLE_TEXT, VOCAB = ROOT / "data" / "sample_text_ko.txt", ROOT / "vocab" / "sample-4k.txt"
CONFIG = ROOT / "configs" / "bert_tiny.json"


def _korsts(folder: Path) -> Path:
    folder.mkdir()
    rows = [f"main\tf\t2012\t{i:04d}\t{i % 6}.0\t남자가 {i}번 춤을 춘다.\t한 남자가 춤을 춘다." for i in range(8)]
    (folder / "sts-train.tsv").write_text("\n".join(["genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2", *rows])
                                          + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("case", ["shards", "checkpoint", "export"])
def test_a_really_full_disk_is_one_line_naming_the_output_and_nothing_is_replaced(tmp_path, small_disk, case):
    """torch.save's RuntimeError, numpy's errno-less OSError and safetensors' SafetensorError, from a real full disk,
    each one line naming the output; a rerun says the same; an earlier output on that disk stays whole."""
    classify = ["--task_name", "korsts", "--data_dir", str(_korsts(tmp_path / "korsts")), "--vocab_file", str(VOCAB),
                "--bert_config_file", str(CONFIG), "--do_train", "--max_seq_length", "32", "--device", "cpu"]
    if case == "shards":
        disk = small_disk("200k")
        command, output = create_pretraining_data.main, disk / "data"
        arguments = ["--input_file", str(SAMPLE_TEXT), "--vocab_file", str(VOCAB), "--output_dir", str(output),
                     "--overwrite"]
        earlier = CliRunner().invoke(command, [*arguments, "--dupe_factor", "1"])
        assert earlier.exit_code == 0, earlier.output
        named = output / "shard-00000.npy"
    elif case == "checkpoint":  # torch.save: the model and its Adam moments, some 4 MB
        disk = small_disk("2m")
        command, output, arguments = run_classifier.main, disk / "run", [*classify, "--output_dir", str(disk / "run")]
        named = output / "ckpt-00000001.pt"
    else:  # safetensors: the model, some 1 MB
        disk = small_disk("600k")
        command, output = run_classifier.main, disk / "export"
        arguments = [*classify, "--output_dir", str(tmp_path / "run"), "--export_hf", str(output)]
        named = output
    before = snapshot(disk)
    for _ in range(2):
        result = CliRunner().invoke(command, arguments)
        assert error_line(result) == f"Error: {named}: No space left on device (the disk is full; nothing was replaced)"
        if case == "checkpoint":  # a training run records itself before its first checkpoint, and resumes
            assert sorted(os.listdir(output)) == ["bert_config.json", "metrics.jsonl", "run.json"]
        else:
            assert snapshot(disk) == before
