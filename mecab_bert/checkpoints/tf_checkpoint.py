"""Google's TensorFlow BERT checkpoints, read without TensorFlow.

A checkpoint `prefix` (what Google's `--init_checkpoint` takes, e.g. `.../bert_model.ckpt`) is TensorFlow's
tensor bundle (V2): `prefix.index`, a LevelDB-format table mapping each variable name to a BundleEntryProto
(dtype, shape, shard, offset, size, crc32c), and `prefix.data-SSSSS-of-NNNNN`, the raw little-endian bytes.
Both formats are decoded here with numpy alone (sources: tensorflow/core/util/tensor_bundle/tensor_bundle.proto,
tensorflow/core/lib/io/format.cc, leveldb's doc/table_format.md), then Google's variable names are mapped to
Hugging Face's BertFor* names the way transformers' `load_tf_weights_in_bert` does.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor

from mecab_bert.files import listing
from text_input import InputError

if TYPE_CHECKING:
    from modeling import BertConfig

# leveldb's kTableMagicNumber, which TensorFlow's table format keeps: the last 8 bytes of every table.
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two BlockHandles padded to 40 bytes, then the magic
_BLOCK_TRAILER_SIZE = 5  # compression type byte + masked crc32c of the block and that byte

# TensorFlow's DataType enum (types.proto) for the dtypes a checkpoint of weights can hold.
_DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    14: np.dtype("<u2"),  # DT_BFLOAT16: numpy has no bfloat16, so its bits are widened by hand
    19: np.dtype("<f2"),  # DT_HALF
}
_DT_BFLOAT16 = 14

# Optimizer state and the step counter that Google's run_pretraining saves beside the weights.
_IGNORED = re.compile(r"global_step|.*/adam_[mv]")

# The variables of Google's modeling.py, run_classifier.py and run_squad.py, and their Hugging Face names.
_RENAMED = {
    "cls/predictions/output_bias": "cls.predictions.bias",
    "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
    "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
    "cls/squad/output_weights": "qa_outputs.weight",
    "cls/squad/output_bias": "qa_outputs.bias",
    "output_weights": "classifier.weight",
    "output_bias": "classifier.bias",
}
_LAYER = r"bert/encoder/layer_\d+"
_MAPPED = re.compile("|".join([
    r"bert/embeddings/(word|position|token_type)_embeddings",
    rf"(bert/embeddings|{_LAYER}/attention/output|{_LAYER}/output|cls/predictions/transform)/LayerNorm/(gamma|beta)",
    rf"({_LAYER}/(attention/self/(query|key|value)|attention/output/dense|intermediate/dense|output/dense)"
    r"|bert/pooler/dense|cls/predictions/transform/dense)/(kernel|bias)",
]))
# The last part of a Google name -> the last part of ours. Dense kernels are [in, out], torch's Linear [out, in].
_LEAF_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


class BundleEntry(NamedTuple):
    """Where one tensor of a bundle lives, as its BundleEntryProto says."""

    dtype: int  # TensorFlow's DataType enum
    shape: tuple[int, ...]
    shard_id: int
    offset: int  # bytes into the shard
    size: int  # bytes
    crc32c: int | None  # masked crc32c of the bytes, None when not recorded
    sliced: bool  # a partitioned variable (saved in slices), which BERT never has


class TfCheckpoint(NamedTuple):
    """A checkpoint's index: every variable's entry, and the shard files they point into."""

    index: Path
    entries: dict[str, BundleEntry]
    shards: tuple[Path, ...]


# --- protobuf wire format: only what BundleEntryProto and BundleHeaderProto use --------------------------------


def _varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    """The unsigned varint at data[pos] and the position after it."""
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise InputError(f"{where}: corrupt index (a number runs past its record)")


def _proto_fields(data: bytes, where: str) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of a serialized message: ints for varint/fixed, bytes for length-
    delimited. Groups (deprecated wire types 3 and 4) never occur in the messages read here."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos, where)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos, where)
        elif wire_type in (1, 5):  # fixed64, fixed32
            width = 8 if wire_type == 1 else 4
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        elif wire_type == 2:
            length, pos = _varint(data, pos, where)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise InputError(f"{where}: corrupt index (protobuf wire type {wire_type})")
        if pos > len(data):
            raise InputError(f"{where}: corrupt index (a record is cut short)")
        yield field, value


def _shape(data: bytes, where: str) -> tuple[int, ...]:
    """A TensorShapeProto's dims (field 2, each a Dim whose size is field 1)."""
    dims = [value for field, value in _proto_fields(data, where) if field == 2]
    return tuple(next((size for field, size in _proto_fields(dim, where) if field == 1), 0) for dim in dims)


def _bundle_entry(data: bytes, where: str) -> BundleEntry:
    fields = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": None, "sliced": False}
    names = {1: "dtype", 3: "shard_id", 4: "offset", 5: "size", 6: "crc32c"}
    for field, value in _proto_fields(data, where):
        if field == 2:
            fields["shape"] = _shape(value, where)
        elif field == 7:
            fields["sliced"] = True
        elif field in names:
            fields[names[field]] = value
    return BundleEntry(**fields)


# --- crc32c (Castagnoli), vectorized with numpy: a BERT-base checkpoint is 440 MB -------------------------------


@functools.cache
def _crc_table() -> np.ndarray:
    """uint32 [256]: the register change for each low byte (reflected polynomial 0x82F63B78)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1)
    return table


def _crc_serial(data: bytes, register: int) -> int:
    table = _crc_table().tolist()
    for byte in data:
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _apply(operator: np.ndarray, registers: np.ndarray) -> np.ndarray:
    """A linear map over GF(2)^32 (uint32 [32], the image of each bit) applied to uint32 registers."""
    result = np.zeros_like(registers)
    for bit in range(32):
        result ^= np.where((registers >> np.uint32(bit)) & 1, operator[bit], np.uint32(0))
    return result


def _crc_register(data: bytes, register: int) -> int:
    """The crc32c register after `data` (no final xor). The register update is linear, so the bytes are cut into `lanes`
    runs of equal length fed side by side (a numpy step per byte of a run, not per byte), and a run's register is
    carried over the next run's length by the linear map "feed that many zero bytes", pairwise up a tree. The leftover
    tail goes byte by byte."""
    lanes = 1 << min(16, max(0, (len(data) // 256).bit_length() - 1))
    length = len(data) // lanes
    if lanes == 1:
        return _crc_serial(data, register)
    table = _crc_table()
    runs = np.frombuffer(data, np.uint8, count=lanes * length).reshape(lanes, length).T.copy()  # (length, lanes)
    registers = np.zeros(lanes, np.uint32)
    registers[0] = register
    for column in runs:
        registers = table[(registers ^ column) & 0xFF] ^ (registers >> np.uint32(8))
    zeros = np.uint32(1) << np.arange(32, dtype=np.uint32)  # the map "feed `length` zero bytes", bit by bit
    for _ in range(length):
        zeros = table[zeros & 0xFF] ^ (zeros >> np.uint32(8))
    while len(registers) > 1:
        registers = _apply(zeros, registers[0::2]) ^ registers[1::2]
        zeros = _apply(zeros, zeros)  # twice the length
    return _crc_serial(data[lanes * length :], int(registers[0]))


def masked_crc32c(data: bytes) -> int:
    """crc32c of `data`, masked as leveldb and TensorFlow store it (a CRC of bytes holding CRCs is weak)."""
    crc = _crc_register(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- the index: a LevelDB-format table -------------------------------------------------------------------------


def _block_handle(data: bytes, pos: int, where: str) -> tuple[int, int, int]:
    """(offset, size, position after) of the BlockHandle at data[pos]."""
    offset, pos = _varint(data, pos, where)
    size, pos = _varint(data, pos, where)
    return offset, size, pos


def _block(table: bytes, offset: int, size: int, where: str) -> bytes:
    """The contents of the block at offset, its trailer checked."""
    if offset + size + _BLOCK_TRAILER_SIZE > len(table):
        raise InputError(f"{where}: truncated index (a block ends past the end of the file)")
    contents, kind = table[offset : offset + size], table[offset + size]
    (stored_crc,) = struct.unpack_from("<I", table, offset + size + 1)
    if masked_crc32c(table[offset : offset + size + 1]) != stored_crc:
        raise InputError(f"{where}: corrupt index (a block's checksum does not match)")
    if kind != 0:
        raise InputError(f"{where}: compressed index blocks (type {kind}) are not supported; TensorFlow writes none")
    return contents


def _block_entries(block: bytes, where: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of each entry; keys share a prefix with the one before (reset at restart points)."""
    if len(block) < 4:
        raise InputError(f"{where}: corrupt index (a block too short)")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * num_restarts
    if end < 0:
        raise InputError(f"{where}: corrupt index (a block's restart array does not fit)")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, where)
        unshared, pos = _varint(block, pos, where)
        value_length, pos = _varint(block, pos, where)
        if shared > len(key) or pos + unshared + value_length > end:
            raise InputError(f"{where}: corrupt index (an entry runs past its block)")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_length]
        pos += value_length


def _table_items(table: bytes, where: str) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of a table, in key order."""
    if len(table) < _FOOTER_SIZE:
        raise InputError(f"{where}: truncated index ({len(table)} bytes, less than a table footer)")
    footer = table[-_FOOTER_SIZE:]
    if int.from_bytes(footer[-8:], "little") != _TABLE_MAGIC:
        raise InputError(f"{where}: not a TensorFlow checkpoint index (bad magic number)")
    _, _, pos = _block_handle(footer, 0, where)  # the metaindex: filters, which a bundle has none of
    index_offset, index_size, _ = _block_handle(footer, pos, where)
    for _, handle in _block_entries(_block(table, index_offset, index_size, where), where):
        offset, size, _ = _block_handle(handle, 0, where)
        yield from _block_entries(_block(table, offset, size, where), where)


def _header(value: bytes, where: str) -> int:
    """num_shards from the BundleHeaderProto (num_shards 1, endianness 2: 0 little, 1 big)."""
    fields = dict(_proto_fields(value, where))
    if fields.get(2, 0) != 0:
        raise InputError(f"{where}: a big-endian checkpoint, not supported")
    return fields.get(1, 0)


def read_index(prefix: str | Path) -> TfCheckpoint:
    """The entries of checkpoint `prefix` (`prefix.index`); an InputError naming the file if it is unreadable."""
    index = Path(f"{prefix}.index")
    where = str(index)
    try:
        table = index.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    entries, num_shards = {}, None
    for key, value in _table_items(table, where):
        name = key.decode("utf-8", errors="replace")
        if name == "":
            num_shards = _header(value, where)
        else:
            entries[name] = _bundle_entry(value, where)
    if num_shards is None:
        raise InputError(f"{where}: not a TensorFlow checkpoint index (no bundle header)")
    shards = tuple(Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}") for shard in range(num_shards))
    return TfCheckpoint(index, entries, shards)


def read_tensor(checkpoint: TfCheckpoint, name: str) -> np.ndarray:
    """Variable `name` as a numpy array of its own dtype (bfloat16 widened to float32)."""
    entry = checkpoint.entries[name]
    where = f"{checkpoint.index}: {name}"
    if entry.sliced:
        raise InputError(f"{where} is a partitioned variable, not supported")
    if entry.dtype not in _DTYPES:
        raise InputError(f"{where} has TensorFlow dtype {entry.dtype}, not a numeric type this reader knows")
    dtype = _DTYPES[entry.dtype]
    expected = dtype.itemsize * int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != expected:
        raise InputError(f"{where}: {entry.size} bytes for shape {list(entry.shape)} of {dtype}, not {expected}")
    if entry.shard_id >= len(checkpoint.shards):
        raise InputError(f"{where} is in shard {entry.shard_id}, but the index has {len(checkpoint.shards)} shards")
    shard = checkpoint.shards[entry.shard_id]
    try:
        with open(shard, "rb") as reader:
            reader.seek(entry.offset)
            data = reader.read(entry.size)
    except FileNotFoundError:
        raise InputError(f"{shard}: missing shard of {checkpoint.index}") from None
    if len(data) != entry.size:
        raise InputError(f"{shard}: truncated ({name} ends at byte {entry.offset + entry.size})")
    if entry.crc32c is not None and masked_crc32c(data) != entry.crc32c:
        raise InputError(f"{shard}: corrupt ({name}'s checksum does not match)")
    array = np.frombuffer(data, dtype).reshape(entry.shape)
    if entry.dtype == _DT_BFLOAT16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


# --- Google's names -> Hugging Face's ------------------------------------------------------------------------


def hf_name(tf_name: str) -> str | None:
    """Hugging Face's name for one of Google's BERT variables, or None if it is not one.

    'bert/encoder/layer_3/attention/self/query/kernel' -> 'bert.encoder.layer.3.attention.self.query.weight'.
    """
    if tf_name in _RENAMED:
        return _RENAMED[tf_name]
    if not _MAPPED.fullmatch(tf_name):
        return None
    *path, leaf = re.sub(r"layer_(\d+)", r"layer.\1", tf_name).split("/")
    if leaf.endswith("_embeddings"):
        return ".".join([*path, leaf, "weight"])
    return ".".join([*path, _LEAF_NAMES[leaf]])


def load_tf_bert(prefix: str | Path) -> dict[str, Tensor]:
    """The weights of Google's BERT checkpoint `prefix` as a float32 state dict in BertFor* naming. Optimizer slots
    (`*/adam_m`, `*/adam_v`) and `global_step` are skipped unread; any other variable that is not one of Google's BERT,
    run_squad or run_classifier weights is an InputError listing them."""
    checkpoint = read_index(prefix)
    names = {name: hf_name(name) for name in checkpoint.entries if not _IGNORED.fullmatch(name)}
    unknown = [name for name, mapped in names.items() if mapped is None]
    if unknown:
        raise InputError(f"{checkpoint.index}: variables that are not BERT's: {listing(unknown)}")
    state = {}
    for name, mapped in names.items():
        array = read_tensor(checkpoint, name).astype(np.float32)
        # Only dense kernels: output_weights are stored [out, in] already (Google matmuls them with transpose_b).
        state[mapped] = torch.from_numpy(np.ascontiguousarray(array.T if name.endswith("/kernel") else array))
    return state


def checkpoint_prefix(path: Path) -> Path | None:
    """The checkpoint prefix `path` names, or None if it names no TensorFlow checkpoint. Accepted: the prefix itself
    (Google's `--init_checkpoint .../bert_model.ckpt`), its `.index` file, or a folder holding exactly one
    `*.ckpt*.index` and no Hugging Face weights. A folder with several is an InputError: which one is meant cannot be
    guessed."""
    if path.name.endswith(".index") and path.is_file():
        return path.with_name(path.name.removesuffix(".index"))
    if Path(f"{path}.index").is_file():
        return path
    if not path.is_dir() or any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        return None
    indexes = sorted(path.glob("*.ckpt*.index"))
    if len(indexes) > 1:
        names = ", ".join(index.name for index in indexes)
        raise InputError(f"{path}: several TensorFlow checkpoints ({names}); pass the prefix of one")
    return checkpoint_prefix(indexes[0]) if indexes else None


def graph_activation(prefix: Path) -> str | None:
    """The gelu the checkpoint's graph computed, from `prefix.meta` (absent: None): Google's first modeling.py
    used the exact erf form ("gelu"), its current one the tanh approximation ("gelu_new"), and bert_config.json
    says "gelu" for both, so only the graph tells them apart."""
    meta = Path(f"{prefix}.meta")
    if not meta.is_file():
        return None
    graph = meta.read_bytes()
    if b"intermediate/dense/Erf" in graph:
        return "gelu"
    if b"intermediate/dense/Pow" in graph or b"intermediate/dense/Tanh" in graph:
        return "gelu_new"
    return None


def config_for(path: str | Path, config: BertConfig) -> BertConfig:
    """`config` with the activation a Google checkpoint at `path` was computed with (see graph_activation); other
    checkpoints, and configs that name another activation, are left as they are."""
    prefix = checkpoint_prefix(Path(path))
    activation = graph_activation(prefix) if prefix is not None else None
    if activation is None or config.hidden_act not in ("gelu", "gelu_new"):
        return config
    return dataclasses.replace(config, hidden_act=activation)
