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
`np.load(path, mmap_mode="r", allow_pickle=False)` (see `record_dtype`), and `manifest.json`, written
last, that `load_shards` checks.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import multiprocessing
import os
import random
import resource
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

import tokenization
from script_utils import InputError, atomic_output, bool_option, expand_input_files, file_sha256, read_utf8_lines

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
Document = list[array]  # a document: its sentences as token-id arrays


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

    def validate(self) -> None:
        if self.max_seq_length < 5:
            raise DataError(f"--max_seq_length must be at least 5 ([CLS] A [SEP] B [SEP]), not {self.max_seq_length}")
        if not 1 <= self.max_predictions_per_seq <= self.max_seq_length:
            raise DataError(f"--max_predictions_per_seq must be in [1, max_seq_length], not "
                            f"{self.max_predictions_per_seq}")
        if not 0.0 < self.masked_lm_prob <= 1.0:
            raise DataError(f"--masked_lm_prob must be in (0, 1], not {self.masked_lm_prob}")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise DataError(f"--short_seq_prob must be in [0, 1], not {self.short_seq_prob}")


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
    """Processes chunks in `num_workers` processes and yields the results in chunk order.

    At most two chunks per worker are in flight, so the reader never runs ahead of the writer by more.
    """
    if num_workers <= 1:
        for index, (documents, size) in enumerate(chunks):
            yield process_chunk(index, documents, size, settings)
        return
    with multiprocessing.get_context("fork").Pool(num_workers) as pool:
        pending: collections.deque = collections.deque()
        for index, (documents, size) in enumerate(chunks):
            pending.append(pool.apply_async(process_chunk, (index, documents, size, settings)))
            if len(pending) >= 2 * num_workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# --- writing -------------------------------------------------------------------------------------------


class ShardWriter:
    """Cuts the stream of records into shards of `instances_per_shard`, each written atomically."""

    def __init__(self, output_dir: Path, instances_per_shard: int, dtype: np.dtype):
        self.output_dir = output_dir
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
        path = self.output_dir / f"shard-{len(self.shards):05d}.npy"
        records = np.concatenate(self._pending)
        with atomic_output(path, binary=True) as writer:
            np.save(writer, records, allow_pickle=False)
        self.shards.append({"file": path.name, "instances": len(records), "sha256": file_sha256(path)})
        self._pending, self._pending_count = [], 0


def prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuses a non-empty directory unless `overwrite`; with it, removes the old manifest and shards first,
    so that a killed run never leaves an old manifest beside new shards."""
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"{output_dir}: exists and is not a directory")
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise DataError(f"{output_dir}: not empty; pass --overwrite to replace its shards")
        with contextlib.suppress(FileNotFoundError):
            (output_dir / MANIFEST).unlink()
        for old in output_dir.iterdir():
            if (old.name.startswith("shard-") and old.suffix == ".npy") or ".npy.tmp" in old.name:
                old.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)


def vocab_fingerprint(vocab_file: str) -> dict:
    return {"sha256": file_sha256(vocab_file), "size": len(tokenization.load_vocab(vocab_file))}


def write_manifest(output_dir: Path, manifest: dict) -> None:
    with atomic_output(output_dir / MANIFEST) as writer:
        writer.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


# --- the whole run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """Every flag of a run (all go into the manifest)."""

    input_file: str
    output_dir: str
    vocab_file: str
    do_lower_case: bool = True
    tokenizer: str = "mecab"
    do_whole_word_mask: bool = False
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    random_seed: int = 12345
    dupe_factor: int = 10
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    num_workers: int = 1
    docs_per_chunk: int = 1000
    instances_per_shard: int = 65536
    unicode_errors: str = "strict"
    overwrite: bool = False

    def instance_config(self) -> InstanceConfig:
        return InstanceConfig(self.max_seq_length, self.max_predictions_per_seq, self.masked_lm_prob,
                              self.short_seq_prob, self.do_whole_word_mask)


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


def create_pretraining_data(settings: RunSettings, progress: bool = True) -> RunSummary:
    """Reads, tokenizes, creates instances and writes shards and the manifest; see the module docstring."""
    start = time.perf_counter()
    config = settings.instance_config()
    config.validate()
    if settings.dupe_factor < 1 or settings.docs_per_chunk < 1 or settings.instances_per_shard < 1:
        raise DataError("--dupe_factor, --docs_per_chunk and --instances_per_shard must be at least 1")
    paths = expand_input_files(settings.input_file)
    try:
        tokenizer = tokenization.FullTokenizer(settings.vocab_file, settings.do_lower_case, settings.tokenizer)
    except (OSError, ValueError) as error:
        raise DataError(f"{settings.vocab_file}: {error}") from None
    output_dir = Path(settings.output_dir)
    prepare_output_dir(output_dir, settings.overwrite)
    dtype = record_dtype(config, len(tokenizer.vocab))
    chunk_settings = ChunkSettings(settings.vocab_file, settings.do_lower_case, settings.tokenizer, config,
                                   settings.dupe_factor, settings.random_seed)
    stats: collections.Counter = collections.Counter()
    writer = ShardWriter(output_dir, settings.instances_per_shard, dtype)
    total_bytes = sum(os.path.getsize(p) for p in paths)
    input_bytes = 0
    chunks = chunk_documents(read_documents(paths, settings.unicode_errors, stats), settings.docs_per_chunk)
    with tqdm(total=total_bytes, unit="B", unit_scale=True, desc="creating instances", disable=not progress) as bar:
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
    manifest = {
        "format_version": FORMAT_VERSION,
        "record_dtype": [list(field) if len(field) == 2 else [field[0], field[1], list(field[2])]
                         for field in dtype.descr],
        "vocab": vocab_fingerprint(settings.vocab_file),
        "tokenizer": {"tokenizer": settings.tokenizer, "do_lower_case": settings.do_lower_case},
        "flags": dataclasses.asdict(settings),
        "shards": writer.shards,
        "totals": {**{key: stats[key] for key in ("documents", "sentences", "tokens", "instances",
                                                   "masked_tokens", "truncated", "random_next",
                                                   "replaced_lines", "empty_documents")},
                   "input_bytes": input_bytes, "input_files": len(paths)},
    }
    write_manifest(output_dir, manifest)
    return RunSummary(stats, writer.shards, seconds, input_bytes, peak_rss_mb())


# --- reading shards back -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shards:
    """Memory-mapped shards of one data directory, checked against their manifest."""

    directory: Path
    manifest: dict
    arrays: tuple[np.ndarray, ...]

    @property
    def num_instances(self) -> int:
        return sum(len(a) for a in self.arrays)

    @property
    def max_seq_length(self) -> int:
        return self.manifest["flags"]["max_seq_length"]

    @property
    def max_predictions_per_seq(self) -> int:
        return self.manifest["flags"]["max_predictions_per_seq"]

    def records(self) -> np.ndarray:
        """All records in one array (a copy): for small data and tests."""
        return np.concatenate(self.arrays)


def load_shards(directory: str | os.PathLike, verify_checksums: bool = False) -> Shards:
    """Opens a data directory: its manifest, and every shard memory-mapped.

    Fails with a DataError naming the file when the manifest is missing (the run did not finish) or
    unreadable, has another format version, or a shard is missing, of another size or layout, or (with
    `verify_checksums`) of another sha256.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path}: missing; the data in {directory} is incomplete (was the run "
                        f"interrupted?) or it is not a create_pretraining_data.py output directory")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version, shards = manifest["format_version"], manifest["shards"]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{manifest_path}: not a valid manifest ({error})") from None
    if version != FORMAT_VERSION:
        raise DataError(f"{manifest_path}: format version {version}, this code reads {FORMAT_VERSION}")
    arrays = []
    for shard in shards:
        path = directory / shard["file"]
        if not path.is_file():
            raise DataError(f"{path}: missing (listed in {manifest_path})")
        try:
            records = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise DataError(f"{path}: not a readable shard ({error})") from None
        if len(records) != shard["instances"] or records.dtype.names is None or "input_ids" not in records.dtype.names:
            raise DataError(f"{path}: {len(records)} records of {records.dtype}, the manifest says "
                            f"{shard['instances']} instances")
        if verify_checksums and file_sha256(path) != shard["sha256"]:
            raise DataError(f"{path}: sha256 differs from the manifest")
        arrays.append(records)
    return Shards(directory, manifest, tuple(arrays))


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


@click.command()
@click.option("--input_file", required=True, help="Input text: comma-separated files or glob patterns.")
@click.option("--output_dir", required=True, help="Directory for the shards and manifest.json.")
@click.option("--vocab_file", required=True, help="The vocabulary the model will be trained with.")
@bool_option("--do_lower_case", True, "Lower-case and strip accents (never from Hangul).")
@click.option("--tokenizer", type=click.Choice(["mecab", "wordpiece"]), default="mecab", show_default=True,
              help="mecab: WordPiece inside MeCab morphemes; wordpiece: Google's FullTokenizer.")
@bool_option("--do_whole_word_mask", False, "Mask whole words: a token starting with ## joins the word before it.")
@click.option("--max_seq_length", default=128, show_default=True, help="Maximum sequence length.")
@click.option("--max_predictions_per_seq", default=20, show_default=True,
              help="Maximum number of masked-LM predictions per sequence.")
@click.option("--random_seed", default=12345, show_default=True, help="Seed for data generation.")
@click.option("--dupe_factor", default=10, show_default=True,
              help="Number of times to duplicate the input data (with different masks).")
@click.option("--masked_lm_prob", default=0.15, show_default=True, help="Masked LM probability.")
@click.option("--short_seq_prob", default=0.1, show_default=True,
              help="Probability of creating sequences shorter than the maximum length.")
@click.option("--num_workers", default=1, show_default=True, help="Worker processes; the output is the same.")
@click.option("--docs_per_chunk", default=1000, show_default=True,
              help="Documents per chunk: the unit of work, of memory, and of the random-next pool.")
@click.option("--instances_per_shard", default=65536, show_default=True, help="Instances per output shard.")
@click.option("--unicode_errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="strict: invalid UTF-8 is an error; replace: U+FFFD, counted in the summary.")
@click.option("--overwrite", is_flag=True, help="Replace the shards of a non-empty --output_dir.")
@click.option("--print_examples", default=0, show_default=True, help="Print the first N instances, decoded.")
def main(print_examples: int, **flags) -> None:
    """Create masked-LM / next-sentence pretraining data (Google's create_pretraining_data.py)."""
    settings = RunSettings(**flags)
    try:
        summary = create_pretraining_data(settings)
    except InputError as error:
        raise click.ClickException(str(error)) from None
    if print_examples:
        inv_vocab = {i: t for t, i in tokenization.load_vocab(settings.vocab_file).items()}
        shards = load_shards(settings.output_dir)
        for record in shards.records()[:print_examples]:
            click.echo("*** Example ***\n" + format_instance(record, inv_vocab) + "\n")
    click.echo(summary.describe())
    click.echo(f"Output: {settings.output_dir}/ ({MANIFEST} and {len(summary.shards)} shard files)")


if __name__ == "__main__":
    main()
