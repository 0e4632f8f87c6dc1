# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Creates masked-LM and next-sentence instances for BERT pretraining: raw text -> sharded .npy files.

Google's algorithm and flags (`create_pretraining_data.py`), with its two known problems fixed: Google
holds every instance of every dupe in memory (bert#117, #612) and runs on one core (bert#89, #187). Here
the input is cut into chunks of `--docs_per_chunk` documents; each chunk is tokenized once and turned
into instances by a worker with its own random generator, seeded by (`--random_seed`, chunk index), that
draws random next segments from the chunk's own documents. The writer takes chunks back in order, so any
`--num_workers` writes the same bytes, and memory grows with the chunk size, not with the corpus.

Input: one sentence a line, a blank line (or the end of a file) between documents.
Output (`--output_dir`): `shard-NNNNN.npy` files, each a structured array readable with
`np.load(path, mmap_mode="r", allow_pickle=False)` (see `record_dtype`), and `manifest.json` (flags, vocab,
each shard's size and sha256). The folder is built under a temporary name beside `--output_dir` and swapped
in when complete: an earlier output (`--overwrite`) stays whole until then, whatever fails. `load_shards`
checks the manifest against the shards and verifies every record's bounds and every shard's sha256 before
training reads them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import os
import random
import resource
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

import tokenization
from script_utils import (
    NON_NEGATIVE,
    OUTPUT_PATH,
    POSITIVE,
    PROBABILITY,
    SEED,
    TEMPORARY_NAME,
    WORKERS,
    Command,
    FiniteFloat,
    InputError,
    atomic_directory,
    bool_option,
    describe_error,
    expand_input_files,
    file_sha256,
    ordered_map,
    read_json,
    read_utf8_lines,
    unique_keys,
    user_errors,
    write_json,
)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
Document = list[array]  # a document: its sentences as token-id arrays
# The longest sequence a record can hold: its lengths and positions are uint16 (see record_dtype).
MAX_RECORD_LENGTH = int(np.iinfo(np.uint16).max)

# The type and bounds of each flag, declared once: click checks them on the command line (its one-line error
# names the flag), RunSettings.validate for the callers of create_pretraining_data().
FLAG_TYPES: dict[str, click.ParamType] = {
    "output_dir": OUTPUT_PATH,
    "tokenizer": click.Choice(["mecab", "wordpiece"]),
    "max_seq_length": click.IntRange(5, MAX_RECORD_LENGTH),  # at least [CLS] A [SEP] B [SEP]
    "max_predictions_per_seq": POSITIVE,
    "dupe_factor": POSITIVE,
    "random_seed": SEED,
    "masked_lm_prob": FiniteFloat(0, 1, min_open=True),
    "short_seq_prob": PROBABILITY,
    "num_workers": WORKERS,
    "docs_per_chunk": POSITIVE,
    "instances_per_shard": POSITIVE,
    "unicode_errors": click.Choice(["strict", "replace"]),
}


class DataError(InputError):
    """Bad input, bad flags or bad shards; the message names the file (and line or field)."""


@dataclass(frozen=True)
class InstanceConfig:
    """Everything that shapes the instances (Google's flags and defaults)."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    do_whole_word_mask: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """What instance creation needs of the vocab, as ids."""

    size: int
    cls_id: int
    sep_id: int
    mask_id: int
    continues_word: bytes  # continues_word[id] == 1 for "##" tokens: whole-word masking keeps them with the word

    @classmethod
    def from_vocab(cls, vocab: dict[str, int]) -> Vocabulary:
        flags = bytearray(max(vocab.values()) + 1)
        for token, index in vocab.items():
            flags[index] = token.startswith(tokenization.CONTINUATION)
        return cls(len(flags), vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"], bytes(flags))


@dataclass(frozen=True)
class TrainingInstance:
    """One [CLS] A [SEP] B [SEP] sequence, masked (Google's TrainingInstance, in ids)."""

    input_ids: list[int]
    segment_a_length: int  # [CLS], A and the first [SEP]: the tokens with segment id 0
    masked_lm_positions: list[int]  # sorted
    masked_lm_ids: list[int]  # the original ids at those positions
    is_random_next: bool
    truncated: bool


def record_dtype(config: InstanceConfig, vocab_size: int) -> np.dtype:
    """The shard layout: one record per instance.

    input_ids [max_seq_length] and masked_lm_ids [max_predictions_per_seq] in the smallest unsigned
    dtype that holds the vocab, zero-padded ([PAD] is 0); input_length and segment_a_length (segment
    ids are 0 for the first segment_a_length tokens, 1 up to input_length); masked_lm_positions;
    num_predictions (masked_lm_weights are 1 for the first num_predictions); next_sentence_label
    (1 = B is a random next segment, as Google).
    """
    ids = np.min_scalar_type(max(vocab_size - 1, 0))
    return np.dtype([
        ("input_ids", ids, (config.max_seq_length,)),
        ("input_length", np.uint16),
        ("segment_a_length", np.uint16),
        ("masked_lm_positions", np.uint16, (config.max_predictions_per_seq,)),
        ("masked_lm_ids", ids, (config.max_predictions_per_seq,)),
        ("num_predictions", np.uint16),
        ("next_sentence_label", np.uint8),
    ])


# --- instance creation (pure functions; every setting and the rng are arguments) ---------------------


def truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
                      ) -> tuple[list[int], list[int]]:
    """Truncates a pair to at most `max_num_tokens`, one token at a time from the longer side.

    Google's rule: from the front or the back at random, to avoid biases. Kept as index arithmetic,
    so a 100,000-token sentence costs O(n), not O(n^2) list deletions.
    """
    a_start, a_end, b_start, b_end = 0, len(tokens_a), 0, len(tokens_b)
    while (a_end - a_start) + (b_end - b_start) > max_num_tokens:
        trim_a = a_end - a_start > b_end - b_start
        from_front = rng.random() < 0.5
        if trim_a:
            a_start, a_end = (a_start + 1, a_end) if from_front else (a_start, a_end - 1)
        else:
            b_start, b_end = (b_start + 1, b_end) if from_front else (b_start, b_end - 1)
    return tokens_a[a_start:a_end], tokens_b[b_start:b_end]


def candidate_words(tokens: list[int], config: InstanceConfig, vocab: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of each maskable unit: a token, or with whole-word masking a word, where every "##"
    token (a later morpheme or word piece) belongs to the word before it. [CLS] and [SEP] never."""
    specials = (vocab.cls_id, vocab.sep_id)
    words: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token in specials:
            continue
        if config.do_whole_word_mask and words and vocab.continues_word[token] and words[-1][1] == i:
            words[-1] = (words[-1][0], i + 1)
        else:
            words.append((i, i + 1))
    return words


def create_masked_lm_predictions(
    tokens: list[int], config: InstanceConfig, vocab: Vocabulary, rng: random.Random
) -> tuple[list[int], list[int], list[int]]:
    """Masks `tokens` ([CLS] A [SEP] B [SEP] ids) for the masked-LM task.

    Google's recipe: num_to_predict = min(max_predictions_per_seq, max(1, round(len * masked_lm_prob)));
    candidates (tokens, or whole words) are taken in random order, a word that no longer fits is skipped;
    each chosen token becomes [MASK] 80% of the time, stays 10%, and becomes a random vocab id 10%.
    Google shuffles all candidates and then walks the list; drawing them one at a time (a Fisher-Yates
    shuffle stopped early) gives the same distribution for a fraction of the random draws.
    Returns (masked tokens, sorted positions, original ids at those positions).
    """
    num_to_predict = min(config.max_predictions_per_seq, max(1, round(len(tokens) * config.masked_lm_prob)))
    if config.do_whole_word_mask:
        words = candidate_words(tokens, config, vocab)
    else:
        # [CLS] A [SEP] B [SEP]: every token but the three specials, as one-token words; built without a
        # Python loop because this runs for every instance.
        first_sep = tokens.index(vocab.sep_id)
        words = [*zip(range(1, first_sep), range(2, first_sep + 1), strict=True),
                 *zip(range(first_sep + 1, len(tokens) - 1), range(first_sep + 2, len(tokens)), strict=True)]
    output = list(tokens)
    positions: list[int] = []
    random_draw = rng.random
    for j in range(len(words)):
        if len(positions) >= num_to_predict:
            break
        k = j + int(random_draw() * (len(words) - j))
        words[j], words[k] = words[k], words[j]
        start, end = words[j]
        if len(positions) + end - start > num_to_predict:
            continue
        for index in range(start, end):
            if random_draw() < 0.8:
                output[index] = vocab.mask_id
            elif random_draw() >= 0.5:  # else, 10% of the time, the token stays
                output[index] = int(random_draw() * vocab.size)
            positions.append(index)
    positions.sort()
    return output, positions, [tokens[i] for i in positions]


def _segments_from(document: Document, start: int, target_length: int) -> list[int]:
    """Concatenates sentences from `start` until at least `target_length` tokens."""
    tokens: list[int] = []
    for sentence in document[start:]:
        tokens.extend(sentence)
        if len(tokens) >= target_length:
            break
    return tokens


def _pair_from_chunk(
    chunk: list[array],
    documents: Sequence[Document],
    document_index: int,
    target_seq_length: int,
    rng: random.Random,
) -> tuple[list[int], list[int], bool, int]:
    """Splits accumulated sentences into A and B; returns (A, B, is_random_next, sentences given back)."""
    a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
    tokens_a = [token for sentence in chunk[:a_end] for token in sentence]
    if len(chunk) == 1 or rng.random() < 0.5:
        # A random next segment from another document. Google tries 10 times to avoid this document.
        for _ in range(10):
            random_index = rng.randint(0, len(documents) - 1)
            if random_index != document_index:
                break
        random_document = documents[random_index]
        random_start = rng.randint(0, len(random_document) - 1)
        tokens_b = _segments_from(random_document, random_start, target_seq_length - len(tokens_a))
        # The sentences after A were not used: put them back, so they are not wasted.
        return tokens_a, tokens_b, True, len(chunk) - a_end
    tokens_b = [token for sentence in chunk[a_end:] for token in sentence]
    return tokens_a, tokens_b, False, 0


def choose_target_seq_length(max_num_tokens: int, short_seq_prob: float, rng: random.Random) -> int:
    """max_num_tokens, or with probability short_seq_prob a length drawn from [2, max_num_tokens].

    Google: most sequences are full, to use the compute; some are short, because fine-tuning sees short
    inputs and pretraining should too.
    """
    if rng.random() < short_seq_prob:
        return rng.randint(2, max_num_tokens)
    return max_num_tokens


def create_instances_from_document(
    documents: Sequence[Document],
    document_index: int,
    config: InstanceConfig,
    vocab: Vocabulary,
    rng: random.Random,
) -> list[TrainingInstance]:
    """Creates instances from one document (Google's create_instances_from_document).

    Sentences are accumulated until they reach a target length (see choose_target_seq_length), then
    split at a random sentence boundary into A and B. We don't just concatenate all tokens into one long sequence
    and cut it at random: that would make next sentence prediction too easy.
    """
    document = documents[document_index]
    max_num_tokens = config.max_seq_length - 3
    target_seq_length = choose_target_seq_length(max_num_tokens, config.short_seq_prob, rng)
    instances = []
    chunk: list[array] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            tokens_a, tokens_b, is_random_next, given_back = _pair_from_chunk(
                chunk, documents, document_index, target_seq_length, rng)
            i -= given_back
            untruncated = len(tokens_a) + len(tokens_b)
            tokens_a, tokens_b = truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            tokens = [vocab.cls_id, *tokens_a, vocab.sep_id, *tokens_b, vocab.sep_id]
            masked, positions, labels = create_masked_lm_predictions(tokens, config, vocab, rng)
            instances.append(TrainingInstance(masked, len(tokens_a) + 2, positions, labels, is_random_next,
                                              untruncated > max_num_tokens))
            chunk, chunk_length = [], 0
        i += 1
    return instances


def instances_to_records(instances: Sequence[TrainingInstance], dtype: np.dtype) -> np.ndarray:
    """Packs instances into a zero-padded structured array (see `record_dtype`)."""
    records = np.zeros(len(instances), dtype=dtype)
    for record, instance in zip(records, instances, strict=True):
        record["input_ids"][: len(instance.input_ids)] = instance.input_ids
        record["input_length"] = len(instance.input_ids)
        record["segment_a_length"] = instance.segment_a_length
        record["masked_lm_positions"][: len(instance.masked_lm_positions)] = instance.masked_lm_positions
        record["masked_lm_ids"][: len(instance.masked_lm_ids)] = instance.masked_lm_ids
        record["num_predictions"] = len(instance.masked_lm_positions)
        record["next_sentence_label"] = instance.is_random_next
    return records


# --- chunks, in the worker processes -----------------------------------------------------------------


@dataclass(frozen=True)
class ChunkSettings:
    """What a worker needs to turn a chunk of text into records; the same for every chunk."""

    vocab_file: str
    do_lower_case: bool
    tokenizer: str
    config: InstanceConfig
    dupe_factor: int
    random_seed: int


@dataclass
class ChunkResult:
    records: np.ndarray
    stats: collections.Counter
    input_bytes: int


@functools.cache
def _cached_tokenizer(vocab_file: str, do_lower_case: bool, tokenizer: str) -> tokenization.FullTokenizer:
    # One per process: a MeCab tagger cannot be pickled into a worker, and its piece cache is worth keeping.
    return tokenization.FullTokenizer(vocab_file, do_lower_case, tokenizer)


def tokenize_documents(tokenizer: tokenization.FullTokenizer, documents: Iterable[list[str]]) -> list[Document]:
    """Token ids per sentence; empty sentences and documents are dropped."""
    typecode = "H" if len(tokenizer.vocab) <= 1 << 16 else "I"
    tokenized = []
    for lines in documents:
        sentences = [array(typecode, tokenizer.encode(line)) for line in lines]
        document = [sentence for sentence in sentences if sentence]
        if document:
            tokenized.append(document)
    return tokenized


def process_chunk(chunk_index: int, documents: list[list[str]], input_bytes: int, settings: ChunkSettings
                  ) -> ChunkResult:
    """Tokenizes a chunk once and creates `dupe_factor` rounds of instances from it, as records.

    The generator is seeded by (random_seed, chunk_index) alone, so the result does not depend on which
    process runs the chunk or when.
    """
    tokenizer = _cached_tokenizer(settings.vocab_file, settings.do_lower_case, settings.tokenizer)
    vocab = Vocabulary.from_vocab(tokenizer.vocab)
    dtype = record_dtype(settings.config, vocab.size)
    rng = random.Random(f"{settings.random_seed}:{chunk_index}")
    tokenized = tokenize_documents(tokenizer, documents)
    stats = collections.Counter(
        documents=len(tokenized),
        sentences=sum(len(d) for d in tokenized),
        tokens=sum(len(s) for d in tokenized for s in d),
        empty_documents=len(documents) - len(tokenized),
    )
    rounds = []
    for _ in range(settings.dupe_factor if tokenized else 0):
        rng.shuffle(tokenized)
        # Instances become compact records document by document: Python lists of ids take ten times more.
        per_document = []
        for index in range(len(tokenized)):
            instances = create_instances_from_document(tokenized, index, settings.config, vocab, rng)
            stats["instances"] += len(instances)
            stats["masked_tokens"] += sum(len(instance.masked_lm_positions) for instance in instances)
            stats["truncated"] += sum(instance.truncated for instance in instances)
            stats["random_next"] += sum(instance.is_random_next for instance in instances)
            per_document.append(instances_to_records(instances, dtype))
        records = np.concatenate(per_document)
        rounds.append(records[np.random.default_rng(rng.getrandbits(64)).permutation(len(records))])
    records = np.concatenate(rounds) if rounds else np.zeros(0, dtype=dtype)
    return ChunkResult(records, stats, input_bytes)


# --- reading -------------------------------------------------------------------------------------------


def read_documents(paths: Iterable[str], unicode_errors: str, counts: collections.Counter
                   ) -> Iterator[tuple[list[str], int]]:
    """Yields (sentences, bytes read) per document: blank lines and file ends separate documents.

    Invalid UTF-8 or a binary file is an InputError naming the file and line (see read_utf8_lines).
    """
    for path in paths:
        lines: list[str] = []
        read_before = counts["bytes"]
        for line in read_utf8_lines(path, unicode_errors, counts):
            line = line.strip()
            if line:
                lines.append(line)
            elif lines:
                yield lines, counts["bytes"] - read_before
                lines, read_before = [], counts["bytes"]
        if lines or counts["bytes"] > read_before:
            yield lines, counts["bytes"] - read_before


def chunk_documents(documents: Iterable[tuple[list[str], int]], docs_per_chunk: int
                    ) -> Iterator[tuple[list[list[str]], int]]:
    """Groups documents into chunks of `docs_per_chunk`, with the bytes they came from."""
    chunk: list[list[str]] = []
    size = 0
    for lines, nbytes in documents:
        size += nbytes
        if lines:
            chunk.append(lines)
        if len(chunk) == docs_per_chunk:
            yield chunk, size
            chunk, size = [], 0
    if chunk or size:
        yield chunk, size


def run_chunks(chunks: Iterable[tuple[list[list[str]], int]], settings: ChunkSettings, num_workers: int
               ) -> Iterator[ChunkResult]:
    """Processes chunks in `num_workers` processes (script_utils.ordered_map) and yields the results in chunk
    order."""
    work = functools.partial(_process_indexed_chunk, settings=settings)
    indexed = ((index, documents, size) for index, (documents, size) in enumerate(chunks))
    if num_workers <= 1:
        yield from map(work, indexed)
    else:
        yield from ordered_map(work, indexed, num_workers)


def _process_indexed_chunk(chunk: tuple[int, list[list[str]], int], settings: ChunkSettings) -> ChunkResult:
    return process_chunk(*chunk, settings)


# --- writing -------------------------------------------------------------------------------------------


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
                np.save(writer, records, allow_pickle=False)
        except OSError as error:
            # A full disk fails in write(), whose OSError names no file; the staging folder means nothing to a user.
            raise OSError(error.errno, error.strerror, str(self.final_dir / path.name)) from None
        self.shards.append({"file": path.name, "instances": len(records), "sha256": file_sha256(path)})
        self._pending, self._pending_count = [], 0


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


def owns_output_file(name: str) -> bool:
    """What --overwrite may replace: this script's manifest and shards, and the temporary files that a killed run
    of an older version left (named as script_utils names them); anything else in the folder, a user's own hidden
    `.notes.tmp` too, makes --overwrite refuse it."""
    shard = name.startswith("shard-") and name.endswith(".npy")
    return name == MANIFEST or shard or TEMPORARY_NAME.fullmatch(name) is not None


# --- the whole run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """Every flag of a run (all go into the manifest), with its default (the command line's too)."""

    input_file: str
    output_dir: str
    vocab_file: str
    do_lower_case: bool = True
    tokenizer: str = "mecab"
    do_whole_word_mask: bool = InstanceConfig.do_whole_word_mask
    max_seq_length: int = InstanceConfig.max_seq_length
    max_predictions_per_seq: int = InstanceConfig.max_predictions_per_seq
    random_seed: int = 12345
    dupe_factor: int = 10
    masked_lm_prob: float = InstanceConfig.masked_lm_prob
    short_seq_prob: float = InstanceConfig.short_seq_prob
    num_workers: int = 1
    docs_per_chunk: int = 1000
    instances_per_shard: int = 65536
    unicode_errors: str = "strict"
    overwrite: bool = False

    def instance_config(self) -> InstanceConfig:
        return InstanceConfig(self.max_seq_length, self.max_predictions_per_seq, self.masked_lm_prob,
                              self.short_seq_prob, self.do_whole_word_mask)

    def validate(self) -> None:
        """Each flag within its FLAG_TYPES bounds (the error names the flag), before any work is done."""
        for name, kind in FLAG_TYPES.items():
            try:
                kind.convert(getattr(self, name), None, None)
            except click.BadParameter as error:
                raise DataError(f"--{name}: {error.message}") from None
        if self.max_predictions_per_seq > self.max_seq_length:
            raise DataError(f"--max_predictions_per_seq: {self.max_predictions_per_seq} is more than "
                            f"--max_seq_length {self.max_seq_length}")


@dataclass
class RunSummary:
    stats: collections.Counter
    shards: list[dict]
    seconds: float
    input_bytes: int
    peak_rss_mb: float

    def describe(self) -> str:
        s = self.stats
        instances = max(s["instances"], 1)
        return (
            f"Read {self.input_bytes / 1e6:.1f} MB: {s['documents']} documents, {s['sentences']} sentences, "
            f"{s['tokens']} tokens ({s['empty_documents']} empty documents dropped, {s['replaced_lines']} lines "
            f"with invalid UTF-8 replaced). Wrote {s['instances']} instances in {len(self.shards)} shards: "
            f"{s['masked_tokens']} masked tokens, {100 * s['truncated'] / instances:.1f}% truncated, "
            f"{100 * s['random_next'] / instances:.1f}% random next. {self.seconds:.1f} s, "
            f"{s['instances'] / max(self.seconds, 1e-9):.0f} instances/s, "
            f"{self.input_bytes / 1e6 / max(self.seconds, 1e-9):.2f} MB/s, peak RSS {self.peak_rss_mb:.0f} MB "
            f"(the largest process)."
        )


def peak_rss_mb() -> float:
    """The peak resident set of this process or of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def check_outside(output_dir: str, inputs: Iterable[str]) -> None:
    """DataError when an input is `output_dir` or lies in it (by any path): the new output replaces the folder
    whole, so with --overwrite the input would be deleted with the old output."""
    folder = os.path.realpath(output_dir)
    for path in inputs:
        if os.path.commonpath([folder, os.path.realpath(path)]) == folder:
            raise DataError(f"{output_dir}: --output_dir would replace the input {path} (the output replaces the "
                            f"folder whole); write the output elsewhere")


def create_pretraining_data(settings: RunSettings, progress: bool = True) -> RunSummary:
    """Reads, tokenizes, creates instances and writes shards and the manifest; see the module docstring."""
    start = time.perf_counter()
    settings.validate()
    config = settings.instance_config()
    paths = expand_input_files(settings.input_file)
    check_outside(settings.output_dir, [*paths, settings.vocab_file])
    tokenizer = tokenization.FullTokenizer(settings.vocab_file, settings.do_lower_case, settings.tokenizer)
    # The ids go up to the vocab's last line: that, not the number of distinct tokens, bounds them.
    vocab_size = Vocabulary.from_vocab(tokenizer.vocab).size
    dtype = record_dtype(config, vocab_size)
    chunk_settings = ChunkSettings(settings.vocab_file, settings.do_lower_case, settings.tokenizer, config,
                                   settings.dupe_factor, settings.random_seed)
    stats: collections.Counter = collections.Counter()
    total_bytes = sum(os.path.getsize(p) for p in paths)
    input_bytes = 0
    chunks = chunk_documents(read_documents(paths, settings.unicode_errors, stats), settings.docs_per_chunk)
    # The new output is built beside the old one, which stays whole until the new one is complete.
    with atomic_directory(settings.output_dir, replace=settings.overwrite, owns=owns_output_file,
                          flag="--overwrite") as staging:
        writer = ShardWriter(staging, settings.instances_per_shard, dtype, Path(settings.output_dir))
        with tqdm(total=total_bytes, unit="B", unit_scale=True, desc="creating instances",
                  disable=not progress) as bar:
            for result in run_chunks(chunks, chunk_settings, settings.num_workers):
                writer.add(result.records)
                stats.update(result.stats)
                input_bytes += result.input_bytes
                bar.update(result.input_bytes)
                bar.set_postfix(instances=stats["instances"])
        if stats["documents"] == 0:
            raise DataError(f"{settings.input_file}: no documents (the input is empty, or only blank lines)")
        writer.close()
        seconds = time.perf_counter() - start
        write_json(staging / MANIFEST, {
            "format_version": FORMAT_VERSION,
            "record_dtype": [list(field) if len(field) == 2 else [field[0], field[1], list(field[2])]
                             for field in dtype.descr],
            "vocab": {"sha256": file_sha256(settings.vocab_file), "size": vocab_size},
            "tokenizer": {"tokenizer": settings.tokenizer, "do_lower_case": settings.do_lower_case},
            "flags": dataclasses.asdict(settings),
            "shards": writer.shards,
            "totals": {**{key: stats[key] for key in ("documents", "sentences", "tokens", "instances",
                                                       "masked_tokens", "truncated", "random_next",
                                                       "replaced_lines", "empty_documents")},
                       "input_bytes": input_bytes, "input_files": len(paths)},
        })
    return RunSummary(stats, writer.shards, seconds, input_bytes, peak_rss_mb())


# --- reading shards back -------------------------------------------------------------------------------


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
    """Reads every shard of `shard_sets` once: DataError naming the shard when a record breaks the manifest's
    bounds (token ids < vocab.size, lengths and positions within flags.max_seq_length and
    flags.max_predictions_per_seq) or its sha256 differs from the manifest.

    The shards are verified in parallel threads (hashing and numpy release the GIL); reading them also warms
    the page cache that training then reads from.
    """
    jobs = [(shards.directory / entry.file, records, entry, shards.layout, shards.manifest_path)
            for shards in shard_sets for entry, records in zip(shards.entries, shards.arrays, strict=True)]
    if not jobs:
        return
    with concurrent.futures.ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        checks = [pool.submit(_verify_shard, *job) for job in jobs]
        for check in checks:  # the first failure in manifest order
            check.result()


def load_shards(directory: str | os.PathLike, verify: bool = True) -> Shards:
    """Opens a data directory: its manifest, and every shard memory-mapped, each checked before use.

    Fails with a DataError naming the file (and the manifest field) when the manifest is missing (the run did
    not finish) or unreadable, has another format version, or fields that contradict each other or the
    shards; or a shard is missing, not a .npy file, or of another size, layout or instance count; and with
    `verify` (the default) when a shard's contents fail verify_shards. Without `verify` no shard data is
    read: the caller must call verify_shards before it uses a record.
    """
    directory = Path(directory)
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
    layout = _read_layout(manifest, where)
    _manifest_value(manifest, "vocab.sha256", str, where)
    entries = _read_entries(manifest, where)
    arrays = tuple(_open_shard(directory / entry.file, entry, layout, where) for entry in entries)
    shards = Shards(directory, manifest, layout, tuple(entries), arrays)
    if verify:
        verify_shards([shards])
    return shards


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


def flag(name: str, help_text: str):
    """--name, with its type and bounds from FLAG_TYPES and its default from RunSettings (declared once)."""
    return click.option(f"--{name}", type=FLAG_TYPES.get(name, click.INT), default=getattr(RunSettings, name),
                        show_default=True, help=help_text)


@click.command(cls=Command)
@click.option("--input_file", required=True, help="Input text: comma-separated files or glob patterns.")
@click.option("--output_dir", type=FLAG_TYPES["output_dir"], required=True,
              help="Directory for the shards and manifest.json.")
@click.option("--vocab_file", required=True, help="The vocabulary the model will be trained with.")
@bool_option("--do_lower_case", RunSettings.do_lower_case, "Lower-case and strip accents (never from Hangul).")
@flag("tokenizer", "mecab: WordPiece inside MeCab morphemes; wordpiece: Google's FullTokenizer.")
@bool_option("--do_whole_word_mask", RunSettings.do_whole_word_mask,
             "Mask whole words: a token starting with ## joins the word before it.")
@flag("max_seq_length", "Maximum sequence length.")
@flag("max_predictions_per_seq", "Maximum number of masked-LM predictions per sequence.")
@flag("random_seed", "Seed for data generation.")
@flag("dupe_factor", "Number of times to duplicate the input data (with different masks).")
@flag("masked_lm_prob", "Masked LM probability.")
@flag("short_seq_prob", "Probability of creating sequences shorter than the maximum length.")
@flag("num_workers", "Worker processes; the output is the same.")
@flag("docs_per_chunk", "Documents per chunk: the unit of work, of memory, and of the random-next pool.")
@flag("instances_per_shard", "Instances per output shard.")
@flag("unicode_errors", "strict: invalid UTF-8 is an error; replace: U+FFFD, counted in the summary.")
@click.option("--overwrite", is_flag=True, help="Replace the output of an earlier run in --output_dir (the old "
              "output stays whole until the new one is complete; a folder holding other files is refused).")
@click.option("--print_examples", type=NON_NEGATIVE, default=0, show_default=True,
              help="Print the first N instances, decoded.")
def main(print_examples: int, **flags) -> None:
    """Create masked-LM / next-sentence pretraining data (Google's create_pretraining_data.py)."""
    settings = RunSettings(**flags)
    with user_errors():
        summary = create_pretraining_data(settings)
        if print_examples:
            inv_vocab = {i: t for t, i in tokenization.load_vocab(settings.vocab_file).items()}
            shards = load_shards(settings.output_dir, verify=False)  # just written and hashed
            for record in shards.records()[:print_examples]:
                click.echo("*** Example ***\n" + format_instance(record, inv_vocab) + "\n")
    click.echo(summary.describe())
    click.echo(f"Output: {settings.output_dir}/ ({MANIFEST} and {len(summary.shards)} shard files)")


if __name__ == "__main__":
    main()
