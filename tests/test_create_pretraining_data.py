import json
import os
import random
import signal
import subprocess
import sys
import time
from array import array

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

import create_pretraining_data as cpd
import tokenization

SAMPLE = ROOT / "data" / "sample_text_ko.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"

# A synthetic vocab for the statistics: ids 0-4 special, then words; odd ids >= 100 are "##" tokens.
SYNTHETIC = cpd.Vocabulary(size=1000, cls_id=2, sep_id=3, mask_id=4,
                           continues_word=bytes(1 if i >= 100 and i % 2 else 0 for i in range(1000)))


def synthetic_documents(rng: random.Random, count: int, sentences: int) -> list[cpd.Document]:
    return [[array("H", [rng.randrange(5, 1000) for _ in range(rng.randint(8, 30))]) for _ in range(sentences)]
            for _ in range(count)]


def all_instances(documents, config, seed=1):
    rng = random.Random(seed)
    return [instance for index in range(len(documents))
            for instance in cpd.create_instances_from_document(documents, index, config, SYNTHETIC, rng)]


def unmasked(instance: cpd.TrainingInstance) -> list[int]:
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
    a, b = cpd.truncate_seq_pair(list(range(10)), list(range(100, 103)), 8, rng)
    assert len(a) + len(b) == 8 and b == [100, 101, 102]
    assert a == list(range(a[0], a[0] + 5))  # a contiguous run: trimmed from the ends only
    start = time.perf_counter()
    a, b = cpd.truncate_seq_pair(list(range(100_000)), [1, 2], 125, rng)
    assert len(a) + len(b) == 125 and time.perf_counter() - start < 2.0


def test_instances_have_google_structure_and_true_labels():
    rng = random.Random(3)
    documents = synthetic_documents(rng, 40, 20)
    config = cpd.InstanceConfig(max_seq_length=64, max_predictions_per_seq=10)
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
    config = cpd.InstanceConfig()
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
    full_length = all_instances(documents, cpd.InstanceConfig(short_seq_prob=0.0), seed=12)
    assert len(full_length) >= 10_000
    random_next = sum(i.is_random_next for i in full_length) / len(full_length)
    assert abs(random_next - 0.5) < 0.03


def test_short_target_share_follows_short_seq_prob():
    rng = random.Random(5)
    targets = [cpd.choose_target_seq_length(125, 0.1, rng) for _ in range(20_000)]
    short = [t for t in targets if t < 125]
    assert abs(len(short) / len(targets) - 0.1) < 0.01
    assert min(short) >= 2 and abs(sum(short) / len(short) - 63.5) < 3  # uniform over [2, 125]


def test_full_targets_fill_every_sequence_but_a_documents_last():
    rng = random.Random(6)
    documents = synthetic_documents(rng, 200, 30)
    draw = random.Random(9)
    full = cpd.InstanceConfig(short_seq_prob=0.0)
    for index in range(len(documents)):
        instances = cpd.create_instances_from_document(documents, index, full, SYNTHETIC, draw)
        assert all(len(i.input_ids) == 128 for i in instances[:-1] if not i.is_random_next)
    always_short = cpd.InstanceConfig(short_seq_prob=1.0)
    instances = all_instances(documents, always_short)
    assert sum(len(i.input_ids) == 128 for i in instances) / len(instances) < 0.2


def test_whole_word_masking_never_masks_part_of_a_word():
    rng = random.Random(2)
    documents = synthetic_documents(rng, 100, 20)
    config = cpd.InstanceConfig(do_whole_word_mask=True)
    words_seen = 0
    for instance in all_instances(documents, config):
        tokens = unmasked(instance)
        masked = set(instance.masked_lm_positions)
        for start, end in cpd.candidate_words(tokens, config, SYNTHETIC):
            covered = masked & set(range(start, end))
            assert not covered or covered == set(range(start, end))
            words_seen += end - start > 1 and bool(covered)
    assert words_seen > 100  # multi-token words were masked, whole


def test_record_dtype_is_the_smallest_unsigned():
    config = cpd.InstanceConfig()
    assert cpd.record_dtype(config, 256)["input_ids"].base == np.uint8
    assert cpd.record_dtype(config, 32000)["input_ids"].base == np.uint16
    assert cpd.record_dtype(config, 70000)["input_ids"].base == np.uint32


# --- the whole run -----------------------------------------------------------------------------------


def run_cli(*args: str):
    return CliRunner().invoke(cpd.main, [str(a) for a in args])


def base_args(output_dir, *extra):
    return ["--input_file", SAMPLE, "--output_dir", output_dir, "--vocab_file", SAMPLE_VOCAB,
            "--dupe_factor", "2", *extra]


def test_cli_writes_shards_manifest_and_examples(tmp_path):
    result = run_cli(*base_args(tmp_path / "out", "--print_examples", "2", "--instances_per_shard", "100"))
    assert result.exit_code == 0, result.output
    assert result.output.count("*** Example ***") == 2 and "masked_lm_labels:" in result.output
    assert "instances/s" in result.output and "peak RSS" in result.output
    shards = cpd.load_shards(tmp_path / "out", verify_checksums=True)
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


def test_non_empty_output_dir_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = run_cli(*base_args(out))
    assert result.exit_code != 0 and "not empty; pass --overwrite" in result.output
    assert run_cli(*base_args(out, "--overwrite")).exit_code == 0
    assert (out / "keep.txt").exists() and cpd.load_shards(out).num_instances > 0


@pytest.mark.parametrize(("content", "message"), [
    (b"", "no documents"),
    (b"\n\n  \n", "no documents"),
    ("첫 문장.\n".encode() + b"\xff\xfe\n", ":2: not valid UTF-8"),
    (b"abc\x00def\n", ":1: a NUL byte: this looks like a binary file"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    out = tmp_path / "out"
    result = run_cli("--input_file", path, "--output_dir", out, "--vocab_file", SAMPLE_VOCAB)
    assert result.exit_code == 1
    error_line = result.output.strip().splitlines()[-1]  # above it, at most the progress bar
    assert error_line.startswith("Error: ") and message in error_line
    assert not (out / cpd.MANIFEST).exists()


def test_missing_input_and_bad_flags(tmp_path):
    result = run_cli("--input_file", tmp_path / "nope*.txt", "--output_dir", tmp_path / "o", "--vocab_file",
                     SAMPLE_VOCAB)
    assert result.exit_code == 1 and "matches no file" in result.output
    result = run_cli(*base_args(tmp_path / "o", "--max_predictions_per_seq", "500"))
    assert result.exit_code == 1 and "--max_predictions_per_seq" in result.output


def test_unicode_errors_replace_is_counted(tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes("사과를 먹었다.\n배를 먹었다.\n".encode() + b"\xff broken line.\n")
    result = run_cli("--input_file", path, "--output_dir", tmp_path / "o", "--vocab_file", SAMPLE_VOCAB,
                     "--unicode_errors", "replace")
    assert result.exit_code == 0, result.output
    assert "1 lines with invalid UTF-8 replaced" in result.output
    assert cpd.load_shards(tmp_path / "o").manifest["totals"]["replaced_lines"] == 1


def test_huge_line_and_huge_sentence(tmp_path):
    path = tmp_path / "input.txt"
    sentence = "사과를 먹었다 " * 150_000  # about 1 MB of text on one line, ~450k tokens
    path.write_text("짧은 문장이다.\n" + sentence + "\n둘째 문장.\n\n다른 문서다.\n또 다른 문장.\n", encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    result = run_cli("--input_file", path, "--output_dir", tmp_path / "o", "--vocab_file", SAMPLE_VOCAB,
                     "--dupe_factor", "1")
    assert result.exit_code == 0, result.output
    records = cpd.load_shards(tmp_path / "o").records()
    assert (records["input_length"] <= 128).all()


def test_load_shards_rejects_incomplete_or_altered_data(tmp_path):
    out = tmp_path / "out"
    assert run_cli(*base_args(out, "--instances_per_shard", "100")).exit_code == 0
    cpd.load_shards(out, verify_checksums=True)
    manifest = json.loads((out / cpd.MANIFEST).read_text())
    manifest["format_version"] = 99
    (out / cpd.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(cpd.DataError, match="format version 99"):
        cpd.load_shards(out)
    manifest["format_version"] = cpd.FORMAT_VERSION
    manifest["shards"][0]["instances"] += 1
    (out / cpd.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(cpd.DataError, match=r"shard-00000\.npy: 100 records"):
        cpd.load_shards(out)
    manifest["shards"][0]["instances"] -= 1
    (out / cpd.MANIFEST).write_text(json.dumps(manifest))
    (out / "shard-00001.npy").unlink()
    with pytest.raises(cpd.DataError, match=r"shard-00001\.npy: missing"):
        cpd.load_shards(out)
    (out / cpd.MANIFEST).unlink()
    with pytest.raises(cpd.DataError, match="incomplete"):
        cpd.load_shards(out)


def test_a_crash_mid_write_leaves_nothing_accepted(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run_cli(*base_args(out)).exit_code == 0
    flushes = []

    def crash_on_second_shard(self):
        flushes.append(1)
        if len(flushes) == 2:
            raise KeyboardInterrupt
        original_flush(self)

    original_flush = cpd.ShardWriter._flush
    monkeypatch.setattr(cpd.ShardWriter, "_flush", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        cpd.create_pretraining_data(cpd.RunSettings(input_file=str(SAMPLE), output_dir=str(out),
                                                    vocab_file=str(SAMPLE_VOCAB), dupe_factor=2,
                                                    instances_per_shard=50, overwrite=True), progress=False)
    assert (out / "shard-00000.npy").exists()  # the new first shard, beside no manifest
    with pytest.raises(cpd.DataError, match="incomplete"):
        cpd.load_shards(out)


@pytest.mark.slow
def test_sigkill_mid_run_leaves_nothing_accepted(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(SAMPLE.read_text(encoding="utf-8") * 40, encoding="utf-8")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "create_pretraining_data.py"), "--input_file", str(corpus), "--output_dir",
         str(out), "--vocab_file", str(SAMPLE_VOCAB), "--instances_per_shard", "200", "--docs_per_chunk", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("shard-*.npy")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list(out.glob("shard-*.npy"))
    with pytest.raises(cpd.DataError, match="incomplete"):
        cpd.load_shards(out)
