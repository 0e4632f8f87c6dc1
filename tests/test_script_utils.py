import collections
import dataclasses
import errno
import os
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import text_input
from mecab_bert import cli, files


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


def test_read_utf8_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeff첫 줄\r\n둘째\n".encode() + b"bad \xff\n")
    counts = collections.Counter()
    assert list(text_input.read_utf8_lines(str(path), "replace", counts)) == ["첫 줄", "둘째", "bad \ufffd"]
    assert counts["replaced_lines"] == 1 and counts["bytes"] == path.stat().st_size
    with pytest.raises(text_input.InputError, match=r"in\.txt:3: not valid UTF-8 \(byte 0xff at byte 5"):
        list(text_input.read_utf8_lines(str(path)))
    path.write_bytes(b"text\nbin\x00ary\n")
    with pytest.raises(text_input.InputError, match=r"in\.txt:2: a NUL byte"):
        list(text_input.read_utf8_lines(str(path)))


def test_expand_input_files_keeps_order_and_drops_duplicates(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x")
    spec = f"{tmp_path}/c.md,{tmp_path}/*.txt,{tmp_path}/a.txt"
    assert files.expand_input_files(spec) == [f"{tmp_path}/{n}" for n in ("c.md", "a.txt", "b.txt")]


def test_bool_option_reads_like_google_flags():
    @click.command()
    @cli.bool_option("--do_train", False, "train")
    def command(do_train):
        click.echo(repr(do_train))

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == "False"
    assert runner.invoke(command, ["--do_train"]).output.strip() == "True"
    assert runner.invoke(command, ["--do_train=false"]).output.strip() == "False"
    assert runner.invoke(command, ["--do_train=True"]).output.strip() == "True"


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


def test_utf16_is_named(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("한국어\n".encode("utf-16"))
    with pytest.raises(text_input.InputError, match="UTF-16"):
        list(text_input.read_utf8_lines(str(path)))


def test_usage_errors_are_one_line():
    @click.command(cls=cli.Command)
    @click.option("--size", type=cli.POSITIVE, default=1)
    @click.option("--a")
    @click.option("--b")
    def command(size, a, b):
        if (a is None) == (b is None):
            raise click.UsageError("give exactly one of --a and --b")

    runner = CliRunner()
    assert runner.invoke(command, ["--size", "0", "--a", "x"]).output == \
        "Error: Invalid value for '--size': 0 is not in the range x>=1. (see --help)\n"
    result = runner.invoke(command, [])
    assert result.exit_code == 2 and result.output == "Error: give exactly one of --a and --b (see --help)\n"


@dataclasses.dataclass(frozen=True)
class PositionalFlags:
    names: tuple[str, ...] = cli.flag((), argument=True, nargs=-1)
    tag: tuple[str, ...] = cli.flag((), "Repeatable.", multiple=True)
    force: bool = cli.flag(False, "A plain switch.", is_flag=True)


def test_flags_can_be_arguments_repeated_options_and_switches():
    @click.command(cls=cli.Command)
    @cli.flag_options(PositionalFlags)
    def command(**values):
        click.echo(repr(PositionalFlags(**values)))

    runner = CliRunner()
    assert runner.invoke(command, ["a", "--tag", "x", "b", "--tag", "y", "--force"]).output.strip() == \
        repr(PositionalFlags(names=("a", "b"), tag=("x", "y"), force=True))
    assert runner.invoke(command, []).output.strip() == repr(PositionalFlags())
    assert runner.invoke(command, ["--force=False"]).output == \
        "Error: Option '--force' does not take a value. (see --help)\n"  # as create_pretraining_data's --overwrite


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


def test_float_flags_refuse_nan_and_infinity():
    @click.command(cls=cli.Command)
    @click.option("--learning_rate", type=cli.POSITIVE_FLOAT, default=1.0)
    @click.option("--output_dir", type=cli.OUTPUT_PATH)
    def command(learning_rate, output_dir):
        click.echo(learning_rate)

    runner = CliRunner()
    for value in ("nan", "inf", "0", "-1"):
        result = runner.invoke(command, ["--learning_rate", value])
        assert result.exit_code == 2 and "'--learning_rate'" in result.output, result.output
    assert "'--output_dir': an empty path" in runner.invoke(command, ["--output_dir", ""]).output


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


def test_lines_are_read_from_a_pipe(tmp_path):
    """A FIFO (`--train_file <(zcat train.tsv.gz)`) cannot seek: its lines are read all the same."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes("첫 줄\n둘째 줄\n".encode()))
    writer.start()
    assert list(text_input.read_utf8_lines(fifo)) == ["첫 줄", "둘째 줄"]
    writer.join()


def test_a_pipe_given_as_an_input_file_is_named_as_one(tmp_path):
    fifo = tmp_path / "corpus.xml"
    os.mkfifo(fifo)
    with pytest.raises(text_input.InputError, match="not a regular file"):
        files.expand_input_files(str(fifo))
