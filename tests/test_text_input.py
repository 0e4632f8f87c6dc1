"""text_input.py: UTF-8 lines read strictly or with replacements, from files and pipes."""

import collections
import os
import threading

import pytest
from badinput import assert_one_line_error
from click.testing import CliRunner
from conftest import ROOT

import build_vocab
import create_pretraining_data
import prepare_corpus
import text_input
import tokenize_text

VOCAB = str(ROOT / "vocab" / "sample-4k.txt")


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


def test_a_carriage_return_inside_a_line_is_refused(tmp_path):
    """A line ends at LF, a CRLF's CR (or a doubled one) going with it; a CR anywhere else would hide line ends."""
    path = tmp_path / "in.txt"
    path.write_bytes(b"one\r\ntwo\r\r\nthree\n")
    assert list(text_input.read_utf8_lines(path)) == ["one", "two", "three"]
    path.write_bytes(b"one\ntwo\rthree\n")
    with pytest.raises(text_input.InputError, match=r"in\.txt:2: a carriage return inside the line: lines must end "
                                                    r"in LF or CRLF"):
        list(text_input.read_utf8_lines(path))


OLD_MAC = "첫 문장이다.\r둘째 문장이다.\r\r다른 문서다.\r".encode()


@pytest.mark.parametrize(("command", "arguments"), [
    (create_pretraining_data.main, ["--vocab_file", VOCAB, "--output_dir", "out"]),
    (build_vocab.main, ["--output_file", "out.txt"]),
    (prepare_corpus.main, ["--output_file", "out.txt"]),
])
def test_lone_carriage_return_line_ends_are_one_line_everywhere_text_is_read(tmp_path, monkeypatch, command,
                                                                             arguments):
    """Old-Mac line ends made one sentence of a whole file (create_pretraining_data, build_vocab) and a misleading
    "no <doc> block" (prepare_corpus)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old_mac.txt").write_bytes(OLD_MAC)
    result = CliRunner().invoke(command, ["--input_file", "old_mac.txt", *arguments])
    assert_one_line_error(result, "old_mac.txt:1: a carriage return inside the line")
    assert sorted(os.listdir(tmp_path)) == ["old_mac.txt"]


def test_lone_carriage_returns_on_standard_input_are_refused():
    result = CliRunner().invoke(tokenize_text.main, ["--vocab_file", VOCAB], input=OLD_MAC)
    assert_one_line_error(result, "<stdin>:1: a carriage return inside the line")
