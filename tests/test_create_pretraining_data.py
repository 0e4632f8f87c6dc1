import contextlib
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT
from interrupt import interrupt, processes

import create_pretraining_data
import tokenization
from mecab_bert.files import file_sha256
from mecab_bert.pretraining_data import creation, instance_creation, shard_format
from mecab_bert.pretraining_data.shard_format import MANIFEST
from mecab_bert.tasks import pretraining
from text_input import InputError

SAMPLE = ROOT / "data" / "sample_text_ko.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"

# A synthetic vocab for the statistics: ids 0-4 special, then words; odd ids >= 100 are "##" tokens.
SYNTHETIC = instance_creation.Vocabulary(size=1000, cls_id=2, sep_id=3, mask_id=4,
                           continues_word=bytes(1 if i >= 100 and i % 2 else 0 for i in range(1000)))


def synthetic_documents(rng: random.Random, count: int, sentences: int) -> list[instance_creation.Document]:
    return [[array("H", [rng.randrange(5, 1000) for _ in range(rng.randint(8, 30))]) for _ in range(sentences)]
            for _ in range(count)]


def all_instances(documents, config, seed=1):
    rng = random.Random(seed)
    return [instance for index in range(len(documents))
            for instance in instance_creation.create_instances_from_document(documents, index, config, SYNTHETIC, rng)]


def unmasked(instance: instance_creation.TrainingInstance) -> list[int]:
    tokens = list(instance.input_ids)
    for position, label in zip(instance.masked_lm_positions, instance.masked_lm_ids, strict=True):
        tokens[position] = label
    return tokens


def occurs_in(needle: list[int], documents) -> bool:
    text = "," + ",".join(map(str, needle)) + ","
    return any(text in "," + ",".join(str(t) for s in d for t in s) + "," for d in documents)


# --- the pure functions ------------------------------------------------------------------------------


def test_truncate_seq_pair_trims_the_longer_side_and_is_linear():
    rng = random.Random(0)
    a, b = instance_creation.truncate_seq_pair(list(range(10)), list(range(100, 103)), 8, rng)
    assert len(a) + len(b) == 8 and b == [100, 101, 102]
    assert a == list(range(a[0], a[0] + 5))  # a contiguous run: trimmed from the ends only
    start = time.perf_counter()
    a, b = instance_creation.truncate_seq_pair(list(range(100_000)), [1, 2], 125, rng)
    assert len(a) + len(b) == 125 and time.perf_counter() - start < 2.0


def test_instances_have_google_structure_and_true_labels():
    rng = random.Random(3)
    documents = synthetic_documents(rng, 40, 20)
    config = instance_creation.InstanceConfig(max_seq_length=64, max_predictions_per_seq=10)
    for instance in all_instances(documents, config):
        tokens = unmasked(instance)
        n, a = len(tokens), instance.segment_a_length
        assert n <= 64 and 3 <= a < n
        assert tokens[0] == SYNTHETIC.cls_id and tokens[a - 1] == SYNTHETIC.sep_id and tokens[-1] == SYNTHETIC.sep_id
        assert SYNTHETIC.cls_id not in tokens[1:] and tokens.count(SYNTHETIC.sep_id) == 2
        positions = instance.masked_lm_positions
        assert positions == sorted(set(positions)) and 1 <= len(positions) <= 10
        assert not {0, a - 1, n - 1} & set(positions)
        segment_a, segment_b = tokens[1:a - 1], tokens[a:n - 1]
        assert occurs_in(segment_a, documents) and occurs_in(segment_b, documents)
        if not instance.is_random_next and not instance.truncated:
            assert occurs_in(segment_a + segment_b, documents)


def test_statistics_over_many_instances():
    rng = random.Random(7)
    documents = synthetic_documents(rng, 900, 60)
    config = instance_creation.InstanceConfig()
    instances = all_instances(documents, config, seed=11)
    assert len(instances) >= 10_000
    non_special = sum(len(i.input_ids) - 3 for i in instances)
    predictions = [(i.input_ids[p], label) for i in instances for p, label in zip(i.masked_lm_positions,
                                                                                    i.masked_lm_ids, strict=True)]
    assert abs(len(predictions) / non_special - 0.15) < 0.01
    masked = sum(token == SYNTHETIC.mask_id for token, _ in predictions) / len(predictions)
    kept = sum(token == label for token, label in predictions) / len(predictions)
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 and abs(1 - masked - kept - 0.1) < 0.02
    # A one-sentence chunk always takes a random next (Google's rule), and short targets make many of
    # them, so the 50% holds where targets are full.
    full_length = all_instances(documents, instance_creation.InstanceConfig(short_seq_prob=0.0), seed=12)
    assert len(full_length) >= 10_000
    random_next = sum(i.is_random_next for i in full_length) / len(full_length)
    assert abs(random_next - 0.5) < 0.03


def test_short_target_share_follows_short_seq_prob():
    rng = random.Random(5)
    targets = [instance_creation.choose_target_seq_length(125, 0.1, rng) for _ in range(20_000)]
    short = [t for t in targets if t < 125]
    assert abs(len(short) / len(targets) - 0.1) < 0.01
    assert min(short) >= 2 and abs(sum(short) / len(short) - 63.5) < 3  # uniform over [2, 125]


def test_full_targets_fill_every_sequence_but_a_documents_last():
    rng = random.Random(6)
    documents = synthetic_documents(rng, 200, 30)
    draw = random.Random(9)
    full = instance_creation.InstanceConfig(short_seq_prob=0.0)
    for index in range(len(documents)):
        instances = instance_creation.create_instances_from_document(documents, index, full, SYNTHETIC, draw)
        assert all(len(i.input_ids) == 128 for i in instances[:-1] if not i.is_random_next)
    always_short = instance_creation.InstanceConfig(short_seq_prob=1.0)
    instances = all_instances(documents, always_short)
    assert sum(len(i.input_ids) == 128 for i in instances) / len(instances) < 0.2


def test_whole_word_masking_never_masks_part_of_a_word():
    rng = random.Random(2)
    documents = synthetic_documents(rng, 100, 20)
    config = instance_creation.InstanceConfig(do_whole_word_mask=True)
    words_seen = 0
    for instance in all_instances(documents, config):
        tokens = unmasked(instance)
        masked = set(instance.masked_lm_positions)
        for start, end in instance_creation.candidate_words(tokens, config, SYNTHETIC):
            covered = masked & set(range(start, end))
            assert not covered or covered == set(range(start, end))
            words_seen += end - start > 1 and bool(covered)
    assert words_seen > 100  # multi-token words were masked, whole


def test_record_dtype_is_the_smallest_unsigned():
    config = instance_creation.InstanceConfig()
    assert instance_creation.record_dtype(config, 256)["input_ids"].base == np.uint8
    assert instance_creation.record_dtype(config, 32000)["input_ids"].base == np.uint16
    assert instance_creation.record_dtype(config, 70000)["input_ids"].base == np.uint32


# --- the whole run -----------------------------------------------------------------------------------


def run_cli(*args: str):
    return CliRunner().invoke(create_pretraining_data.main, [str(a) for a in args])


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

# A few documents of the sample: enough for several shards, fast enough for a run per matrix case.
SMALL_ARGS = ["--dupe_factor", "1", "--instances_per_shard", "12"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:120]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def earlier_output(tmp_path_factory, small_corpus) -> Path:
    """An output of an earlier run (several shards), to copy where a case may damage it."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    result = run_cli("--input_file", small_corpus, "--output_dir", out, "--vocab_file", SAMPLE_VOCAB, *SMALL_ARGS,
                     "--random_seed", "1")
    assert result.exit_code == 0, result.output
    assert len(shard_format.load_shards(out).arrays) >= 3
    return out


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


# --- shards are verified before they are used ----------------------------------------------------------


@pytest.fixture
def data(tmp_path, earlier_output) -> Path:
    """A copy of a small output, to tamper with."""
    return Path(shutil.copytree(earlier_output, tmp_path / "data"))


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        change(manifest)
        (directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return edit


def _rehash(directory: Path) -> None:
    """The manifest gets shard 0's new sha256, as if the shard had been written so: the bounds check alone must
    catch what was changed."""
    _edit_manifest(lambda m: m["shards"][0].update(sha256=file_sha256(directory / "shard-00000.npy")))(directory)


def _edit_record(field: str, value: int, index: int = 0, keep_sha256: bool = False) -> Callable[[Path], None]:
    """Sets `field` (element `index` of an array field) of record 3 in shard 0 to `value`."""
    def edit(directory: Path) -> None:
        records = np.load(directory / "shard-00000.npy", mmap_mode="r+")
        if records[field].ndim == 2:
            records[field][3, index] = value
        else:
            records[field][3] = value
        records.flush()
        del records
        if not keep_sha256:
            _rehash(directory)
    return edit


def _position_past_input_length(directory: Path) -> None:
    """The first masked position of the first record shorter than max_seq_length set to its input_length."""
    records = np.load(directory / "shard-00000.npy", mmap_mode="r+")
    row = int(np.argmax(records["input_length"] < 128))
    assert records["input_length"][row] < 128
    records["masked_lm_positions"][row, 0] = records["input_length"][row]
    records.flush()
    del records
    _rehash(directory)


def _edit_bytes(edit_bytes: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / "shard-00001.npy"
        path.write_bytes(edit_bytes(path.read_bytes()))
    return edit


def _shift_instances(manifest: dict) -> None:
    manifest["shards"][0]["instances"] += 1
    manifest["totals"]["instances"] += 1


# Another token id, still a valid one: only the sha256 can tell.
CHANGED_IN_RANGE = _edit_record("input_ids", 3000, index=1, keep_sha256=True)


SHARD_CASES = {
    "no manifest": (lambda d: (d / MANIFEST).unlink(), [MANIFEST, "incomplete"]),
    "manifest not JSON": (lambda d: (d / MANIFEST).write_text("{"), [MANIFEST, "not valid JSON (line 1"]),
    "manifest nested too deeply": (lambda d: (d / MANIFEST).write_text("[" * 100_000),
                                   [MANIFEST, "nested too deeply"]),
    "manifest with a key twice": (
        lambda d: (d / MANIFEST).write_text('{"format_version": 2, ' + (d / MANIFEST).read_text()[1:]),
        [MANIFEST, '"format_version" appears twice']),
    "manifest in UTF-16": (lambda d: (d / MANIFEST).write_text((d / MANIFEST).read_text(), encoding="utf-16"),
                           [MANIFEST, "UTF-16"]),
    "format version": (_edit_manifest(lambda m: m.update(format_version=99)), [MANIFEST, "format version 99"]),
    "max_seq_length contradicts the layout": (
        _edit_manifest(lambda m: m["flags"].update(max_seq_length=512)),
        [MANIFEST, "flags.max_seq_length 512", "input_ids is uint16[128], not uint16[512]"]),
    "max_predictions_per_seq contradicts the layout": (
        _edit_manifest(lambda m: m["flags"].update(max_predictions_per_seq=30)),
        [MANIFEST, "flags.max_predictions_per_seq 30", "masked_lm_ids is uint16[20], not uint16[30]"]),
    "max_seq_length out of range": (_edit_manifest(lambda m: m["flags"].update(max_seq_length=10**9)),
                                    [MANIFEST, "flags.max_seq_length 1000000000", "out of range"]),
    "max_seq_length a string": (_edit_manifest(lambda m: m["flags"].update(max_seq_length="128")),
                                [MANIFEST, "flags.max_seq_length is '128', not a positive integer"]),
    "vocab.size smaller than the id type": (_edit_manifest(lambda m: m["vocab"].update(size=100)),
                                            [MANIFEST, "vocab.size 100", "input_ids is uint16[128], not uint8"]),
    "vocab.size smaller than the ids": (_edit_manifest(lambda m: m["vocab"].update(size=300)),
                                        ["shard-00000.npy", "token id >= vocab.size 300", MANIFEST]),
    "record_dtype not a layout": (_edit_manifest(lambda m: m.update(record_dtype=[["input_ids", "nonsense"]])),
                                  [MANIFEST, "record_dtype is not a record layout"]),
    "record_dtype entry malformed": (_edit_manifest(lambda m: m.update(record_dtype=[["input_ids"]])),
                                     [MANIFEST, "record_dtype is not a record layout"]),
    "shard instances": (_edit_manifest(_shift_instances), ["shard-00000.npy", "13 instances", MANIFEST]),
    "totals.instances": (_edit_manifest(lambda m: m["totals"].update(instances=7)),
                         [MANIFEST, "totals.instances is 7"]),
    "shard path leads out": (_edit_manifest(lambda m: m["shards"][0].update(file="../data/shard-00000.npy")),
                             [MANIFEST, "shards.0.file", "not a file name"]),
    "shard sha256 missing": (_edit_manifest(lambda m: m["shards"][1].pop("sha256")),
                             [MANIFEST, "shards.1.sha256 is missing"]),
    "shard missing": (lambda d: (d / "shard-00001.npy").unlink(), ["shard-00001.npy", "missing", MANIFEST]),
    "shard truncated": (_edit_bytes(lambda b: b[:-10]), ["shard-00001.npy", "truncated"]),
    "shard with bytes appended": (_edit_bytes(lambda b: b + b"\0"), ["shard-00001.npy", "appended"]),
    "shard header damaged": (_edit_bytes(lambda b: b[:12] + b"#" + b[13:]),
                             ["shard-00001.npy", "not a readable shard"]),
    "shard not .npy": (_edit_bytes(lambda b: b"PK\x03\x04" + b[4:]), ["shard-00001.npy", "not a readable shard"]),
    "shard empty": (_edit_bytes(lambda b: b""), ["shard-00001.npy", "not a readable shard"]),
    "shard of another layout": (lambda d: np.save(d / "shard-00001.npy", np.zeros(12, dtype=[("input_ids", "<u4")])),
                                ["shard-00001.npy", "not of the record_dtype"]),
    "a token id changed in range": (CHANGED_IN_RANGE, ["shard-00000.npy", "sha256 differs", MANIFEST]),
    "input id >= vocab size": (_edit_record("input_ids", 3967, index=1), ["shard-00000.npy", "record 3",
                                                                          "input_ids", "vocab.size 3967"]),
    "masked id >= vocab size": (_edit_record("masked_lm_ids", 40000, keep_sha256=True),
                                ["shard-00000.npy", "record 3", "masked_lm_ids", "vocab.size 3967"]),
    "input_length > max_seq_length": (_edit_record("input_length", 129), ["record 3", "flags.max_seq_length 128"]),
    "segment_a_length > input_length": (_edit_record("segment_a_length", 500), ["record 3", "segment_a_length"]),
    "num_predictions > max_predictions_per_seq": (_edit_record("num_predictions", 21),
                                                  ["record 3", "flags.max_predictions_per_seq 20"]),
    "a position past the sequence": (_edit_record("masked_lm_positions", 128, index=19),
                                     ["record 3", "position >= flags.max_seq_length 128"]),
    "a counted position past input_length": (_position_past_input_length,
                                             ["shard-00000.npy", "position >= input_length"]),
}


@pytest.mark.parametrize("case", SHARD_CASES)
def test_load_shards_rejects_altered_data_naming_the_file(case, data):
    tamper, names = SHARD_CASES[case]
    shard_format.load_shards(data)
    tamper(data)
    with pytest.raises(shard_format.DataError) as error:
        shard_format.load_shards(data)
    message = str(error.value)
    assert "\n" not in message and all(str(name) in message for name in names), message


def test_verification_is_the_default_and_can_be_deferred(data):
    CHANGED_IN_RANGE(data)
    shards = shard_format.load_shards(data, verify=False)  # the manifest and headers alone: no shard data read
    with pytest.raises(shard_format.DataError, match="sha256 differs"):
        shard_format.verify_shards([shards])


def _spec(**changes) -> pretraining.DataSpec:
    return pretraining.DataSpec(**{"max_seq_length": 128, "max_predictions_per_seq": 20, "vocab_size": 4000,
                                       "vocab_sha256": None, **changes})


def test_load_data_checks_every_directory_before_training(tmp_path, data, earlier_output):
    instances = shard_format.load_shards(data).num_instances
    assert pretraining.load_data(str(data), _spec(), seed=1).size == instances
    with pytest.raises(InputError, match="max_seq_length is 128 in the data, 64 in the flags"):
        pretraining.load_data(str(data), _spec(max_seq_length=64), seed=1)
    with pytest.raises(InputError, match="the data's vocab has 3967 tokens, the model's vocab_size is 3000"):
        pretraining.load_data(str(data), _spec(vocab_size=3000), seed=1)
    other = Path(shutil.copytree(earlier_output, tmp_path / "other"))
    _edit_manifest(lambda m: m["vocab"].update(sha256="0" * 64))(other)
    with pytest.raises(InputError, match="different vocabs"):
        pretraining.load_data(f"{data},{other}", _spec(), seed=1)
    _edit_record("input_ids", 3967, index=1)(data)
    with pytest.raises(InputError, match=r"shard-00000\.npy: record 3: input_ids"):
        pretraining.load_data(str(data), _spec(), seed=1)
    assert pretraining.load_data(str(data), _spec(), seed=1, verify=False).size == instances
