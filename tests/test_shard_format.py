"""mecab_bert/pretraining_data/shard_format.py: shards are checked against their manifest (layout, counts, bounds,
sha256) before they are used, and a change is one line naming the file."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pretraining_shards import edit_manifest, edit_record, rehash

from mecab_bert.pretraining_data import shard_format
from mecab_bert.pretraining_data.shard_format import MANIFEST


def _position_past_input_length(directory: Path) -> None:
    """The first masked position of the first record shorter than max_seq_length set to its input_length."""
    records = np.load(directory / "shard-00000.npy", mmap_mode="r+")
    row = int(np.argmax(records["input_length"] < 128))
    assert records["input_length"][row] < 128
    records["masked_lm_positions"][row, 0] = records["input_length"][row]
    records.flush()
    del records
    rehash(directory)


def _edit_bytes(edit_bytes: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / "shard-00001.npy"
        path.write_bytes(edit_bytes(path.read_bytes()))
    return edit


def _shift_instances(manifest: dict) -> None:
    manifest["shards"][0]["instances"] += 1
    manifest["totals"]["instances"] += 1


# Another token id, still a valid one: only the sha256 can tell.
CHANGED_IN_RANGE = edit_record("input_ids", 3000, index=1, keep_sha256=True)


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
    "format version": (edit_manifest(lambda m: m.update(format_version=99)), [MANIFEST, "format version 99"]),
    "the tokenizer edited by hand": (edit_manifest(lambda m: m["tokenizer"].update(tokenizer="wordpiece"), seal=False),
                                     [MANIFEST, "edited after it was written (its checksum differs)"]),
    "a flag edited by hand": (edit_manifest(lambda m: m["flags"].update(do_lower_case=False), seal=False),
                              [MANIFEST, "its checksum differs"]),
    "max_seq_length contradicts the layout": (
        edit_manifest(lambda m: m["flags"].update(max_seq_length=512)),
        [MANIFEST, "flags.max_seq_length 512", "input_ids is uint16[128], not uint16[512]"]),
    "max_predictions_per_seq contradicts the layout": (
        edit_manifest(lambda m: m["flags"].update(max_predictions_per_seq=30)),
        [MANIFEST, "flags.max_predictions_per_seq 30", "masked_lm_ids is uint16[20], not uint16[30]"]),
    "max_seq_length out of range": (edit_manifest(lambda m: m["flags"].update(max_seq_length=10**9)),
                                    [MANIFEST, "flags.max_seq_length 1000000000", "out of range"]),
    "max_seq_length a string": (edit_manifest(lambda m: m["flags"].update(max_seq_length="128")),
                                [MANIFEST, "flags.max_seq_length is '128', not a positive integer"]),
    "vocab.size smaller than the id type": (edit_manifest(lambda m: m["vocab"].update(size=100)),
                                            [MANIFEST, "vocab.size 100", "input_ids is uint16[128], not uint8"]),
    "vocab.size smaller than the ids": (edit_manifest(lambda m: m["vocab"].update(size=300)),
                                        ["shard-00000.npy", "token id >= vocab.size 300", MANIFEST]),
    "record_dtype not a layout": (edit_manifest(lambda m: m.update(record_dtype=[["input_ids", "nonsense"]])),
                                  [MANIFEST, "record_dtype is not a record layout"]),
    "record_dtype entry malformed": (edit_manifest(lambda m: m.update(record_dtype=[["input_ids"]])),
                                     [MANIFEST, "record_dtype is not a record layout"]),
    "shard instances": (edit_manifest(_shift_instances), ["shard-00000.npy", "13 instances", MANIFEST]),
    "totals.instances": (edit_manifest(lambda m: m["totals"].update(instances=7)),
                         [MANIFEST, "totals.instances is 7"]),
    "shard path leads out": (edit_manifest(lambda m: m["shards"][0].update(file="../data/shard-00000.npy")),
                             [MANIFEST, "shards.0.file", "not a file name"]),
    "shard sha256 missing": (edit_manifest(lambda m: m["shards"][1].pop("sha256")),
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
    "input id >= vocab size": (edit_record("input_ids", 3967, index=1), ["shard-00000.npy", "record 3",
                                                                          "input_ids", "vocab.size 3967"]),
    "masked id >= vocab size": (edit_record("masked_lm_ids", 40000, keep_sha256=True),
                                ["shard-00000.npy", "record 3", "masked_lm_ids", "vocab.size 3967"]),
    "input_length > max_seq_length": (edit_record("input_length", 129), ["record 3", "flags.max_seq_length 128"]),
    "segment_a_length > input_length": (edit_record("segment_a_length", 500), ["record 3", "segment_a_length"]),
    "num_predictions > max_predictions_per_seq": (edit_record("num_predictions", 21),
                                                  ["record 3", "flags.max_predictions_per_seq 20"]),
    "a position past the sequence": (edit_record("masked_lm_positions", 128, index=19),
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


def test_a_file_where_a_data_directory_goes_names_the_directory(data, tmp_path):
    """A shard, the manifest (or Google's one .tfrecord file) given for the data directory: one line saying what
    to give instead, not "manifest.json: missing ... was the run interrupted?"."""
    for name in ("shard-00000.npy", MANIFEST):
        with pytest.raises(shard_format.DataError) as error:
            shard_format.load_shards(data / name)
        assert str(error.value) == f"{data / name} is a file of the data directory {data}: give the directory " \
                                   f"({data}), not a file in it"
    other = tmp_path / "tf_examples.tfrecord"
    other.write_bytes(b"\0")
    with pytest.raises(shard_format.DataError, match=r"a file, not a data directory of create_pretraining_data\.py"):
        shard_format.load_shards(other)
