import collections
import os

import click
import pytest
from click.testing import CliRunner

import script_utils


def test_atomic_output_replaces_only_on_success(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), script_utils.atomic_output(path) as writer:
        writer.write("partial")
        raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with script_utils.atomic_output(path, binary=True) as writer:
        writer.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.txt"]


def test_read_utf8_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeff첫 줄\r\n둘째\n".encode() + b"bad \xff\n")
    counts = collections.Counter()
    assert list(script_utils.read_utf8_lines(str(path), "replace", counts)) == ["첫 줄", "둘째", "bad \ufffd"]
    assert counts["replaced_lines"] == 1 and counts["bytes"] == path.stat().st_size
    with pytest.raises(script_utils.InputError, match=r"in\.txt:3: not valid UTF-8 \(byte 0xff at byte 5"):
        list(script_utils.read_utf8_lines(str(path)))
    path.write_bytes(b"text\nbin\x00ary\n")
    with pytest.raises(script_utils.InputError, match=r"in\.txt:2: a NUL byte"):
        list(script_utils.read_utf8_lines(str(path)))


def test_expand_input_files_keeps_order_and_drops_duplicates(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x")
    spec = f"{tmp_path}/c.md,{tmp_path}/*.txt,{tmp_path}/a.txt"
    assert script_utils.expand_input_files(spec) == [f"{tmp_path}/{n}" for n in ("c.md", "a.txt", "b.txt")]


def test_bool_option_reads_like_google_flags():
    @click.command()
    @script_utils.bool_option("--do_train", False, "train")
    def command(do_train):
        click.echo(repr(do_train))

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == "False"
    assert runner.invoke(command, ["--do_train"]).output.strip() == "True"
    assert runner.invoke(command, ["--do_train=false"]).output.strip() == "False"
    assert runner.invoke(command, ["--do_train=True"]).output.strip() == "True"
