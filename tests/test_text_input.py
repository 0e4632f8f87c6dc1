"""text_input.py: UTF-8 lines read strictly or with replacements, from files and pipes."""

import collections
import os
import threading

import pytest

import text_input


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


def test_utf16_is_named(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("한국어\n".encode("utf-16"))
    with pytest.raises(text_input.InputError, match="UTF-16"):
        list(text_input.read_utf8_lines(str(path)))


def test_lines_are_read_from_a_pipe(tmp_path):
    """A FIFO (`--train_file <(zcat train.tsv.gz)`) cannot seek: its lines are read all the same."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes("첫 줄\n둘째 줄\n".encode()))
    writer.start()
    assert list(text_input.read_utf8_lines(fifo)) == ["첫 줄", "둘째 줄"]
    writer.join()
