# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The pretraining data format: `shard-NNNNN.npy` structured arrays (see instance_creation.record_dtype) and
manifest.json (flags, vocab, each shard's size and sha256). `ShardWriter` writes them; `load_shards` reads a data
directory back, checking the manifest against the shards, and `verify_shards` every record's bounds and every sha256.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from mecab_bert.cli import describe_error
from mecab_bert.files import TEMPORARY_NAME, file_sha256, read_json, unique_keys
from mecab_bert.pretraining_data.instance_creation import MAX_RECORD_LENGTH, InstanceConfig, record_dtype
from text_input import InputError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class DataError(InputError):
    """Bad input, bad flags or bad shards; the message names the file (and line or field)."""


class ShardWriter:
    """Cuts the stream of records into shards of `instances_per_shard`, written into the folder that
    atomic_directory swaps in whole (so a shard needs no temporary file of its own)."""

    def __init__(self, output_dir: Path, instances_per_shard: int, dtype: np.dtype, final_dir: Path):
        self.output_dir = output_dir
        self.final_dir = final_dir  # where the shards will be once swapped in: what an error names
        self.instances_per_shard = instances_per_shard
        self.dtype = dtype
        self.shards: list[dict] = []
        self._pending: list[np.ndarray] = []
        self._pending_count = 0

    def add(self, records: np.ndarray) -> None:
        while len(records):
            take = min(len(records), self.instances_per_shard - self._pending_count)
            self._pending.append(records[:take])
            self._pending_count += take
            records = records[take:]
            if self._pending_count == self.instances_per_shard:
                self._flush()

    def close(self) -> None:
        if self._pending_count:
            self._flush()

    def _flush(self) -> None:
        path = self.output_dir / shard_name(len(self.shards))
        records = np.concatenate(self._pending)
        try:
            with open(path, "wb") as writer:
                np.save(_WriteCalls(writer), records, allow_pickle=False)
        except OSError as error:
            # A full disk fails in write(), whose OSError names no file; the staging folder means nothing to a user.
            raise OSError(error.errno, error.strerror, str(self.final_dir / path.name)) from None
        self.shards.append({"file": path.name, "instances": len(records), "sha256": file_sha256(path)})
        self._pending, self._pending_count = [], 0


class _WriteCalls:
    """A file as numpy sees a stream: np.save writes it in chunks through write(), where a full disk is an OSError
    with its errno (for a real file numpy calls fwrite, and reports a short write as an OSError with none)."""

    def __init__(self, writer: IO[bytes]):
        self.write = writer.write


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


def owns_output_file(name: str) -> bool:
    """What --overwrite may replace: this script's manifest and shards, and the temporary files that a killed run
    of an older version left (files.TEMPORARY_NAME); anything else in the folder, a user's own hidden `.notes.tmp`
    too, makes --overwrite refuse it."""
    shard = name.startswith("shard-") and name.endswith(".npy")
    return name == MANIFEST or shard or TEMPORARY_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class ShardEntry:
    """One shard as the manifest lists it."""

    file: str
    instances: int
    sha256: str


@dataclass(frozen=True)
class Layout:
    """What the manifest promises of every record: the bounds the shards are verified against."""

    dtype: np.dtype
    max_seq_length: int
    max_predictions_per_seq: int
    vocab_size: int


@dataclass(frozen=True)
class Shards:
    """Memory-mapped shards of one data directory, checked against their manifest."""

    directory: Path
    manifest: dict
    layout: Layout
    entries: tuple[ShardEntry, ...]
    arrays: tuple[np.ndarray, ...]  # one per entry

    @property
    def num_instances(self) -> int:
        return sum(len(a) for a in self.arrays)

    @property
    def max_seq_length(self) -> int:
        return self.layout.max_seq_length

    @property
    def max_predictions_per_seq(self) -> int:
        return self.layout.max_predictions_per_seq

    @property
    def vocab_size(self) -> int:
        return self.layout.vocab_size

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def records(self) -> np.ndarray:
        """All records in one array (a copy): for small data and tests."""
        return np.concatenate(self.arrays)


# A manifest is JSON that anyone may have edited: each field the reader relies on is checked, by name.
def _manifest_value(manifest: dict, name: str, kind: type, where: Path) -> Any:
    """The field at dotted `name` ("shards.0.file": a list index too), which must be a `kind`."""
    value: Any = manifest
    for key in name.split("."):
        if isinstance(value, list) and key.isdigit():
            value = value[int(key)] if int(key) < len(value) else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
        wanted = {int: "a positive integer", str: "a string", list: "a list"}[kind]
        raise DataError(f"{where}: {name} is {'missing' if value is None else repr(value)[:40]}, not {wanted}")
    return value


def _layout_differences(stated: np.dtype, expected: np.dtype) -> str:
    """How a record layout differs from the expected one, field by field ("input_ids is uint16[128], ...")."""
    def text(dtype: np.dtype, name: str) -> str:
        sub = dtype.fields[name][0] if dtype.fields and name in dtype.fields else None
        return "absent" if sub is None else f"{sub.base.name}{list(sub.shape) if sub.shape else ''}"

    names = dict.fromkeys([*expected.names, *(stated.names or ())])
    differences = [f"{name} is {text(stated, name)}, not {text(expected, name)}"
                   for name in names if text(stated, name) != text(expected, name)]
    return "; ".join(differences) or "another byte order or packing"


def _read_layout(manifest: dict, where: Path) -> Layout:
    """The record layout the manifest states, which must be the one its flags and vocab size make."""
    max_seq_length, max_predictions_per_seq, vocab_size = (_manifest_value(manifest, name, int, where) for name in (
        "flags.max_seq_length", "flags.max_predictions_per_seq", "vocab.size"))
    if max_seq_length > MAX_RECORD_LENGTH or max_predictions_per_seq > max_seq_length or vocab_size > 1 << 32:
        raise DataError(f"{where}: flags.max_seq_length {max_seq_length} (at most {MAX_RECORD_LENGTH}), "
                        f"flags.max_predictions_per_seq {max_predictions_per_seq} (at most flags.max_seq_length) "
                        f"or vocab.size {vocab_size} (at most 2^32) is out of range")
    fields = _manifest_value(manifest, "record_dtype", list, where)
    try:
        stated = np.dtype([(f[0], f[1]) if len(f) == 2 else (f[0], f[1], tuple(f[2])) for f in fields])
    except (TypeError, ValueError, LookupError) as error:
        raise DataError(f"{where}: record_dtype is not a record layout ({describe_error(error)[:200]})") from None
    expected = record_dtype(InstanceConfig(max_seq_length, max_predictions_per_seq), vocab_size)
    if stated != expected:
        raise DataError(f"{where}: record_dtype contradicts flags.max_seq_length {max_seq_length}, "
                        f"flags.max_predictions_per_seq {max_predictions_per_seq} and vocab.size {vocab_size}, "
                        f"which make another layout ({_layout_differences(stated, expected)})")
    return Layout(expected, max_seq_length, max_predictions_per_seq, vocab_size)


def _read_entries(manifest: dict, where: Path) -> list[ShardEntry]:
    entries = []
    for index in range(len(_manifest_value(manifest, "shards", list, where))):
        entry = ShardEntry(*(_manifest_value(manifest, f"shards.{index}.{key}", kind, where)
                             for key, kind in (("file", str), ("instances", int), ("sha256", str))))
        if Path(entry.file).name != entry.file or entry.file.startswith("."):
            # A shard is a file of the data directory, never a path that leads out of it.
            raise DataError(f"{where}: shards.{index}.file {entry.file!r} is not a file name")
        entries.append(entry)
    total, stated = sum(entry.instances for entry in entries), _manifest_value(manifest, "totals.instances", int, where)
    if stated != total:
        raise DataError(f"{where}: totals.instances is {stated}, its shards add up to {total}")
    return entries


def _open_shard(path: Path, entry: ShardEntry, layout: Layout, where: Path) -> np.memmap:
    """Maps a shard after checking its .npy header and file size against the manifest (cheap: no data read)."""
    if not path.is_file():
        raise DataError(f"{path}: missing (listed in {where})")
    header_readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as reader:
            version = np.lib.format.read_magic(reader)
            if version not in header_readers:
                raise ValueError(f".npy format version {version}")
            shape, _, dtype = header_readers[version](reader)  # Fortran or C order: the same for one dimension
            offset = reader.tell()
    except (ValueError, EOFError) as error:
        raise DataError(f"{path}: not a readable shard ({describe_error(error)[:200]})") from None
    if dtype != layout.dtype:
        raise DataError(f"{path}: its records are not of the record_dtype in {where} "
                        f"({_layout_differences(dtype, layout.dtype)})")
    if len(shape) != 1:
        raise DataError(f"{path}: holds a {len(shape)}-dimensional array, not a list of records")
    if shape[0] != entry.instances:
        raise DataError(f"{path}: {shape[0]} records, but {where} lists {entry.instances} instances for it")
    size, expected = path.stat().st_size, offset + entry.instances * dtype.itemsize
    if size != expected:
        raise DataError(f"{path}: {size} bytes, its header says {expected} (the file was truncated or appended to)")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


VERIFY_BLOCK = 1 << 16  # records checked at a time: bounds the temporary arrays of a large shard


def _first_bad_record(records: np.ndarray, layout: Layout) -> str | None:
    """The first record that breaks a bound the model relies on (an id past the embedding table, a position
    past the sequence), described; None when every record keeps them."""
    length, predictions, vocab = layout.max_seq_length, layout.max_predictions_per_seq, layout.vocab_size
    for start in range(0, len(records), VERIFY_BLOCK):
        block = records[start:start + VERIFY_BLOCK]
        lengths, positions = block["input_length"], block["masked_lm_positions"]
        counted = np.arange(predictions) < block["num_predictions"][:, None]
        rules = {
            f"input_ids holds a token id >= vocab.size {vocab}": block["input_ids"].max(axis=1) >= vocab,
            f"masked_lm_ids holds a token id >= vocab.size {vocab}": block["masked_lm_ids"].max(axis=1) >= vocab,
            f"input_length > flags.max_seq_length {length}": lengths > length,
            "segment_a_length > input_length": block["segment_a_length"] > lengths,
            f"num_predictions > flags.max_predictions_per_seq {predictions}": block["num_predictions"] > predictions,
            f"masked_lm_positions holds a position >= flags.max_seq_length {length}": positions.max(axis=1) >= length,
            "masked_lm_positions holds a position >= input_length": ((positions >= lengths[:, None]) & counted).any(1),
        }
        for rule, bad in rules.items():
            if bad.any():
                return f"record {start + int(np.argmax(bad))}: {rule}"
    return None


def _verify_shard(path: Path, records: np.ndarray, entry: ShardEntry, layout: Layout, where: Path) -> None:
    problem = _first_bad_record(records, layout)
    if problem:
        raise DataError(f"{path}: {problem} (bounds from {where})")
    if file_sha256(path) != entry.sha256:
        raise DataError(f"{path}: sha256 differs from {where}: the shard changed after it was written")


def verify_shards(shard_sets: Sequence[Shards]) -> None:
    """Reads every shard of `shard_sets` once: DataError naming the shard when a record breaks the manifest's bounds
    (token ids < vocab.size, lengths and positions within flags.max_seq_length and flags.max_predictions_per_seq) or its
    sha256 differs from the manifest. The shards are verified in parallel threads (hashing and numpy release the GIL);
    reading them also warms the page cache that training then reads from."""
    jobs = [(shards.directory / entry.file, records, entry, shards.layout, shards.manifest_path)
            for shards in shard_sets for entry, records in zip(shards.entries, shards.arrays, strict=True)]
    if not jobs:
        return
    with concurrent.futures.ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        checks = [pool.submit(_verify_shard, *job) for job in jobs]
        for check in checks:  # the first failure in manifest order
            check.result()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """The sha256 of a manifest's fields but "checksum", as canonical JSON. The manifest records facts of how the
    data was made that its shards cannot show (the tokenizer, the flags): a hand edit would be believed, and an
    export would write the wrong tokenizer. Manifests written before it existed have none and are read as they are."""
    fields = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def sealed(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as written: with its checksum (manifest_checksum)."""
    return {**manifest, "checksum": manifest_checksum(manifest)}


def load_shards(directory: str | os.PathLike, verify: bool = True) -> Shards:
    """Opens a data directory: its manifest, and every shard memory-mapped, each checked before use.

    Fails with a DataError naming the file (and the manifest field) when the manifest is missing (the run did
    not finish) or unreadable, has another format version, or fields that contradict each other or the
    shards; or a shard is missing, not a .npy file, or of another size, layout or instance count; and with
    `verify` (the default) when a shard's contents fail verify_shards. Without `verify` no shard data is
    read: the caller must call verify_shards before it uses a record.
    """
    directory = Path(directory)
    check_not_a_file(directory)
    where = directory / MANIFEST
    if not where.is_file():
        raise DataError(f"{where}: missing; the data in {directory} is incomplete (was the run "
                        f"interrupted?) or it is not a create_pretraining_data.py output directory")
    try:
        manifest = read_json(where, unique_keys)
    except InputError as error:  # invalid UTF-8 or JSON, nested too deeply, a key twice: named by read_json
        raise DataError(str(error)) from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise DataError(f"{where}: format version {version}, this code reads {FORMAT_VERSION}")
    if "checksum" in manifest and manifest["checksum"] != manifest_checksum(manifest):
        raise DataError(f"{where}: edited after it was written (its checksum differs): what it records of how the "
                        f"data was made (tokenizer, vocab, flags) cannot be trusted; make the data again")
    layout = _read_layout(manifest, where)
    _manifest_value(manifest, "vocab.sha256", str, where)
    entries = _read_entries(manifest, where)
    arrays = tuple(_open_shard(directory / entry.file, entry, layout, where) for entry in entries)
    shards = Shards(directory, manifest, layout, tuple(entries), arrays)
    if verify:
        verify_shards([shards])
    return shards


def check_not_a_file(path: str | os.PathLike) -> None:
    """DataError when a file is given where a data directory goes (a shard of one, its manifest, or Google's
    .tfrecord file), naming the folder to give instead when the file lies in one."""
    path = Path(path)
    if not path.is_file():
        return
    if (path.parent / MANIFEST).is_file():
        raise DataError(f"{path} is a file of the data directory {path.parent}: give the directory ({path.parent}), "
                        f"not a file in it")
    raise DataError(f"{path}: a file, not a data directory of create_pretraining_data.py (a folder of shards and "
                    f"{MANIFEST})")


def format_instance(record: np.void, inv_vocab: dict[int, str]) -> str:
    """One record as Google logs an instance: tokens (masked), segment ids, masked labels, is_random_next."""
    length = int(record["input_length"])
    tokens = [inv_vocab[int(i)] for i in record["input_ids"][:length]]
    segment_ids = [0] * int(record["segment_a_length"]) + [1] * (length - int(record["segment_a_length"]))
    count = int(record["num_predictions"])
    positions = [int(p) for p in record["masked_lm_positions"][:count]]
    labels = [inv_vocab[int(i)] for i in record["masked_lm_ids"][:count]]
    return "\n".join([
        "tokens: " + " ".join(tokens),
        "segment_ids: " + " ".join(map(str, segment_ids)),
        "is_random_next: " + str(bool(record["next_sentence_label"])),
        "masked_lm_positions: " + " ".join(map(str, positions)),
        "masked_lm_labels: " + " ".join(labels),
    ])
