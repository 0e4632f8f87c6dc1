import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT
from interrupt import interrupt, processes
from pretraining_shards import SAMPLE, SAMPLE_VOCAB, SMALL_ARGS, run_cli

import create_pretraining_data
import tokenization
from mecab_bert.pretraining_data import creation, shard_format
from mecab_bert.pretraining_data.shard_format import MANIFEST

# --- the whole run -----------------------------------------------------------------------------------


def base_args(output_dir, *extra):
    return ["--input_file", SAMPLE, "--output_dir", output_dir, "--vocab_file", SAMPLE_VOCAB,
            "--dupe_factor", "2", *extra]


def test_cli_writes_shards_manifest_and_examples(tmp_path):
    result = run_cli(*base_args(tmp_path / "out", "--print_examples", "2", "--instances_per_shard", "100"))
    assert result.exit_code == 0, result.output
    assert result.output.count("*** Example ***") == 2 and "masked_lm_labels:" in result.output
    assert "instances/s" in result.output and "peak RSS" in result.output
    shards = shard_format.load_shards(tmp_path / "out")
    manifest = shards.manifest
    assert manifest["vocab"]["size"] == len(tokenization.load_vocab(SAMPLE_VOCAB))
    assert manifest["flags"]["dupe_factor"] == 2 and manifest["tokenizer"]["tokenizer"] == "mecab"
    assert [s["instances"] for s in manifest["shards"]][:-1] == [100] * (len(manifest["shards"]) - 1)
    assert shards.num_instances == manifest["totals"]["instances"] > 200
    records = shards.records()
    assert records["input_ids"].dtype == np.uint16 and records["input_ids"].shape[1] == 128
    # Every record: [CLS] first, [SEP] closing A and B, zero padding, predictions within the sequence.
    vocab = tokenization.load_vocab(SAMPLE_VOCAB)
    for record in records:
        n, a, k = int(record["input_length"]), int(record["segment_a_length"]), int(record["num_predictions"])
        ids = record["input_ids"]
        assert ids[0] == vocab["[CLS]"] and not ids[n:].any()
        positions = record["masked_lm_positions"][:k]
        assert (positions > 0).all() and (positions < n - 1).all() and (positions != a - 1).all()
        assert not record["masked_lm_positions"][k:].any()
        unmasked_ids = ids[:n].copy()
        unmasked_ids[positions] = record["masked_lm_ids"][:k]
        assert unmasked_ids[a - 1] == unmasked_ids[n - 1] == vocab["[SEP]"]


def test_same_bytes_for_any_number_of_workers(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        result = run_cli(*base_args(out, "--num_workers", workers, "--docs_per_chunk", "7",
                                    "--instances_per_shard", "64", "--do_whole_word_mask"))
        assert result.exit_code == 0, result.output
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("shard-*.npy"))})
    assert len(outputs[0]) > 2 and outputs[0] == outputs[1]


def test_unicode_errors_replace_is_counted(tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes("사과를 먹었다.\n배를 먹었다.\n".encode() + b"\xff broken line.\n")
    result = run_cli("--input_file", path, "--output_dir", tmp_path / "o", "--vocab_file", SAMPLE_VOCAB,
                     "--unicode_errors", "replace")
    assert result.exit_code == 0, result.output
    assert "1 lines with invalid UTF-8 replaced" in result.output
    assert shard_format.load_shards(tmp_path / "o").manifest["totals"]["replaced_lines"] == 1


def test_huge_line_and_huge_sentence(tmp_path):
    path = tmp_path / "input.txt"
    sentence = "사과를 먹었다 " * 150_000  # about 1 MB of text on one line, ~450k tokens
    path.write_text("짧은 문장이다.\n" + sentence + "\n둘째 문장.\n\n다른 문서다.\n또 다른 문장.\n", encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    result = run_cli("--input_file", path, "--output_dir", tmp_path / "o", "--vocab_file", SAMPLE_VOCAB,
                     "--dupe_factor", "1")
    assert result.exit_code == 0, result.output
    records = shard_format.load_shards(tmp_path / "o").records()
    assert (records["input_length"] <= 128).all()


# --- an earlier output is never lost -------------------------------------------------------------------


def test_overwrite_replaces_an_earlier_output_whole(tmp_path, small_corpus, earlier_output):
    out = tmp_path / "out"
    shutil.copytree(earlier_output, out)
    (out / "shard-00099.npy").write_bytes(b"a stale shard of an older run")
    (out / ".shard-00001.npy.~1234abcd.tmp").write_bytes(b"a killed run's temporary file")
    result = run_cli("--input_file", small_corpus, "--output_dir", out, "--vocab_file", SAMPLE_VOCAB, *SMALL_ARGS,
                     "--random_seed", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    shards = shard_format.load_shards(out)
    assert shards.manifest["flags"]["random_seed"] == 2
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, *[e.file for e in shards.entries]]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _full_disk(fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", os.readlink(f"/proc/self/fd/{fd}"))


def _full_disk_in_write(*args, **kwargs) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: naming no file


def _read_only(path) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", str(path))


# A case's setup changes the command line (a dict of flag -> value, None for a bare flag) in tmp_path, where an
# earlier output lies in out/ and every case runs with --overwrite unless its setup drops it.
Setup = Callable[[Path, pytest.MonkeyPatch, dict], None]


def _flag(name: str, value: str) -> Setup:
    return lambda tmp_path, monkeypatch, args: args.update({name: value})


def _input(content: bytes, *, after_good_file: bool = False) -> Setup:
    def setup(tmp_path, monkeypatch, args):
        path = _write(tmp_path / "bad.txt", content)
        args["--input_file"] = f"{args['--input_file']},{path}" if after_good_file else str(path)
    return setup


def _vocab(content: bytes | None) -> Setup:
    def setup(tmp_path, monkeypatch, args):
        args["--vocab_file"] = tmp_path / "vocab.txt"
        if content is not None:
            _write(args["--vocab_file"], content)
    return setup


def _input_in_output_dir(flag: str, name: str) -> Setup:
    """The input of `flag` copied into the output folder, as `name`."""
    def setup(tmp_path, monkeypatch, args):
        args[flag] = shutil.copy(Path(args[flag]), tmp_path / "out" / name)
    return setup


def _patch(target: str, fake: Callable) -> Setup:
    return lambda tmp_path, monkeypatch, args: monkeypatch.setattr(target, fake)


CLI_CASES: dict[str, tuple[Setup, list[str]]] = {
    "empty input": (_input(b""), ["bad.txt", "no documents"]),
    "only blank lines": (_input(b"\n\n  \n"), ["bad.txt", "no documents"]),
    "invalid UTF-8 in a later file": (_input("첫 문장.\n".encode() + b"\xff\xfe\n", after_good_file=True),
                                      ["bad.txt:2", "not valid UTF-8"]),
    "binary input": (_input(b"abc\x00def\n"), ["bad.txt:1", "NUL byte"]),
    "UTF-16 input": (_input("문장.\n".encode("utf-16")), ["bad.txt", "UTF-16"]),
    "input matches nothing": (_flag("--input_file", "nope*.txt"), ["nope*.txt", "matches no file"]),
    "input is a folder": (lambda tmp_path, monkeypatch, args: args.update({"--input_file": str(tmp_path)}),
                          ["is a folder"]),
    "max_seq_length 0": (_flag("--max_seq_length", "0"), ["--max_seq_length", "5<=x<=65535"]),
    "max_seq_length 70000": (_flag("--max_seq_length", "70000"), ["--max_seq_length", "5<=x<=65535"]),
    "max_predictions_per_seq 0": (_flag("--max_predictions_per_seq", "0"), ["--max_predictions_per_seq"]),
    "max_predictions_per_seq > max_seq_length": (_flag("--max_predictions_per_seq", "500"),
                                                 ["--max_predictions_per_seq", "500", "--max_seq_length"]),
    "dupe_factor 0": (_flag("--dupe_factor", "0"), ["--dupe_factor"]),
    "masked_lm_prob 0": (_flag("--masked_lm_prob", "0"), ["--masked_lm_prob"]),
    "masked_lm_prob 1.5": (_flag("--masked_lm_prob", "1.5"), ["--masked_lm_prob"]),
    "masked_lm_prob nan": (_flag("--masked_lm_prob", "nan"), ["--masked_lm_prob", "'nan' is not a finite number"]),
    "short_seq_prob -0.1": (_flag("--short_seq_prob", "-0.1"), ["--short_seq_prob"]),
    "short_seq_prob nan": (_flag("--short_seq_prob", "nan"), ["--short_seq_prob", "'nan' is not a finite number"]),
    "short_seq_prob inf": (_flag("--short_seq_prob", "inf"), ["--short_seq_prob", "inf"]),
    "random_seed negative": (_flag("--random_seed", "-1"), ["--random_seed", "0<=x<=9223372036854775807"]),
    "random_seed 2**63": (_flag("--random_seed", str(2**63)), ["--random_seed", "0<=x<=9223372036854775807"]),
    "num_workers 0": (_flag("--num_workers", "0"), ["--num_workers"]),
    "docs_per_chunk 0": (_flag("--docs_per_chunk", "0"), ["--docs_per_chunk"]),
    "instances_per_shard 0": (_flag("--instances_per_shard", "0"), ["--instances_per_shard"]),
    "output_dir is a file": (lambda tmp_path, monkeypatch, args: args.update(
        {"--output_dir": _write(tmp_path / "a_file", b"x")}), ["a_file", "not a folder"]),
    "output_dir under a file": (lambda tmp_path, monkeypatch, args: args.update(
        {"--output_dir": _write(tmp_path / "a_file", b"x") / "out"}), ["a_file", "is a file, not a folder"]),
    "output_dir empty": (_flag("--output_dir", ""), ["'--output_dir'", "an empty path"]),
    "output_dir is the input": (lambda tmp_path, monkeypatch, args: args.update(
        {"--output_dir": args["--input_file"]}), ["small.txt: --output_dir would replace the input"]),
    "input inside output_dir": (_input_in_output_dir("--input_file", "corpus.txt"),
                                ["out: --output_dir would replace the input", "out/corpus.txt"]),
    "input inside output_dir, named as a temporary": (_input_in_output_dir("--input_file", ".corpus.~12345678.tmp"),
                                                      ["out: --output_dir would replace the input", ".corpus."]),
    "vocab inside output_dir": (_input_in_output_dir("--vocab_file", "vocab.txt"),
                                ["out: --output_dir would replace the input", "out/vocab.txt"]),
    "non-empty output_dir without --overwrite": (lambda tmp_path, monkeypatch, args: args.pop("--overwrite"),
                                                 ["out", "not empty", "--overwrite"]),
    "a foreign file in output_dir": (lambda tmp_path, monkeypatch, args: _write(tmp_path / "out" / "notes.txt", b""),
                                     ["out", "notes.txt", "--overwrite"]),
    "a hidden .tmp file of the user's in output_dir": (
        lambda tmp_path, monkeypatch, args: _write(tmp_path / "out" / ".notes.tmp", b""),
        ["out", ".notes.tmp", "--overwrite"]),
    "disk full": (_patch("os.fsync", _full_disk), ["No space left on device", "nothing was replaced"]),
    "disk full writing a shard": (_patch("numpy.save", _full_disk_in_write),
                                  ["/out/shard-00000.npy", "No space left on device", "nothing was replaced"]),
    "read-only output": (_patch("mecab_bert.files.create_temporary", _read_only),
                         [MANIFEST, "Permission denied", "nothing was replaced"]),
    "missing vocab": (_vocab(None), ["vocab.txt", "No such file"]),
    "vocab without [CLS]": (_vocab(b"[PAD]\n[UNK]\n[SEP]\n[MASK]\n"), ["vocab.txt", "[CLS]"]),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_input_is_one_line_and_damages_nothing(case, tmp_path, monkeypatch, small_corpus, earlier_output):
    setup, names = CLI_CASES[case]
    out = tmp_path / "out"
    shutil.copytree(earlier_output, out)
    args = {"--input_file": str(small_corpus), "--output_dir": out, "--vocab_file": SAMPLE_VOCAB,
            **dict(zip(SMALL_ARGS[::2], SMALL_ARGS[1::2], strict=True)), "--overwrite": None}
    setup(tmp_path, monkeypatch, args)
    before = snapshot(tmp_path)
    command = [str(a) for key, value in args.items() for a in (key, value) if a is not None]
    result = CliRunner().invoke(create_pretraining_data.main, command)
    monkeypatch.undo()
    assert_one_line_error(result, *names)
    assert snapshot(tmp_path) == before  # the earlier output whole, and no temporary file or folder left
    shard_format.load_shards(out)


def test_a_crash_mid_write_keeps_the_earlier_output(tmp_path, monkeypatch, small_corpus, earlier_output):
    out = tmp_path / "out"
    shutil.copytree(earlier_output, out)
    before = snapshot(tmp_path)
    flushes = []

    def crash_on_second_shard(self):
        flushes.append(1)
        if len(flushes) == 2:
            raise KeyboardInterrupt
        original_flush(self)

    original_flush = shard_format.ShardWriter._flush
    monkeypatch.setattr(shard_format.ShardWriter, "_flush", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        creation.create_pretraining_data(creation.RunSettings(input_file=str(small_corpus), output_dir=str(out),
                                                    vocab_file=str(SAMPLE_VOCAB), dupe_factor=1,
                                                    instances_per_shard=12, overwrite=True), progress=False)
    assert len(flushes) == 2 and snapshot(tmp_path) == before


@pytest.fixture
def long_overwrite(tmp_path, earlier_output) -> tuple[Path, Path]:
    """A corpus long enough to interrupt its run, and an --output_dir that holds an earlier output."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(SAMPLE.read_text(encoding="utf-8") * 40, encoding="utf-8")
    return corpus, Path(shutil.copytree(earlier_output, tmp_path / "out"))


@pytest.mark.slow
def test_sigkill_mid_run_keeps_the_earlier_output(tmp_path, long_overwrite):
    corpus, out = long_overwrite
    before = snapshot(out)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "create_pretraining_data.py"), "--input_file", str(corpus), "--output_dir",
         str(out), "--vocab_file", str(SAMPLE_VOCAB), "--instances_per_shard", "200", "--docs_per_chunk", "20",
         "--overwrite"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.*.tmp/shard-*.npy")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert snapshot(out) == before
    shard_format.load_shards(out)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_quietly_and_keeps_the_earlier_output(tmp_path, long_overwrite):
    corpus, out = long_overwrite
    before = snapshot(tmp_path)
    result = interrupt("create_pretraining_data.py", [
        "--input_file", str(corpus), "--output_dir", str(out), "--vocab_file", str(SAMPLE_VOCAB), "--docs_per_chunk",
        "5", "--num_workers", "2", "--overwrite"], workers=2, ready=lambda: any(tmp_path.glob(".out.*.tmp")))
    assert result.returncode != 0 and "Aborted!" in result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.seconds < 10 and result.left_running == 0
    assert snapshot(tmp_path) == before  # the earlier output whole, no temporary folder left


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_workers_are_forked_still_stops_the_run(tmp_path, long_overwrite, sent):
    """Sent as soon as the first of 8 workers exists, while the others are being forked: held back until they
    have started (an at-fork hook used to swallow it, and the run went on to replace the output, or hung)."""
    corpus, out = long_overwrite
    before = snapshot(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "create_pretraining_data.py"), "--input_file", str(corpus), "--output_dir",
         str(out), "--vocab_file", str(SAMPLE_VOCAB), "--docs_per_chunk", "20", "--num_workers", "8", "--overwrite"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.parent == process.pid for p in processes()) and time.monotonic() < deadline:
            pass
        os.kill(process.pid, sent)
        _, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0 and "Aborted!" in stderr, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert snapshot(tmp_path) == before


def test_a_vocab_that_cannot_tokenize_the_text_stops_the_run_unless_allowed(tmp_path):
    """The five special tokens: every token [UNK], which used to make data of [UNK] with exit 0."""
    special = tmp_path / "special.txt"
    special.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    result = run_cli("--input_file", SAMPLE, "--output_dir", tmp_path / "o", "--vocab_file", special)
    assert_one_line_error(result, f"--input_file {SAMPLE}", f"--vocab_file {special}", "[UNK] 100.00% of",
                          "more than --max_unk_rate 0.1", "--max_unk_rate 1")
    assert not (tmp_path / "o").exists()
    result = run_cli("--input_file", SAMPLE, "--output_dir", tmp_path / "o", "--vocab_file", special,
                     "--max_unk_rate", "1", "--dupe_factor", "1")
    assert result.exit_code == 0, result.output
    totals = shard_format.load_shards(tmp_path / "o").manifest["totals"]
    assert totals["unk_tokens"] == totals["tokens"] > 1000 and "[UNK] 100.00%" in result.output


# --- Google's --output_file ------------------------------------------------------------------------------------


def test_googles_output_file_names_the_data_folder(tmp_path, small_corpus):
    """Google's README writes --output_file=/tmp/tf_examples.tfrecord and reads it back with run_pretraining.py's
    --input_file: here the data folder takes that name (test_run_pretraining runs the two commands as written)."""
    out = tmp_path / "tf_examples.tfrecord"
    result = run_cli("--input_file", small_corpus, f"--output_file={out}", "--vocab_file", SAMPLE_VOCAB, *SMALL_ARGS)
    assert result.exit_code == 0, result.output
    assert shard_format.load_shards(out).manifest["flags"]["output_dir"] == str(out)


@pytest.mark.parametrize(("flags", "names"), [
    (["--output_file=a.tfrecord,b.tfrecord"], ["--output_dir a.tfrecord,b.tfrecord", "one data folder",
                                               "comma-separated list of files"]),
    (["--output_file=a", "--output_dir=b"], ["--output_dir and --output_file are two names of one flag"]),
    ([], ["Missing option '--output_dir' / '--output_file'"]),
])
def test_output_file_as_google_gives_it_otherwise_is_one_line(tmp_path, monkeypatch, small_corpus, flags, names):
    monkeypatch.chdir(tmp_path)
    result = run_cli("--input_file", small_corpus, "--vocab_file", SAMPLE_VOCAB, *flags, *SMALL_ARGS)
    assert_one_line_error(result, *names)
    assert list(tmp_path.iterdir()) == []
