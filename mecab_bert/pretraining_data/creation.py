# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""create_pretraining_data.py's run: the input cut into chunks of `--docs_per_chunk` documents, each tokenized
once and turned into instances by a worker with its own rng, seeded by (`--random_seed`, chunk index); the
writer takes chunks back in order, so any `--num_workers` writes the same bytes, and memory grows with the
chunk, not with the corpus. The folder is built beside `--output_dir` and swapped in when complete.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import random
import resource
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

import tokenization
from mecab_bert.cli import (
    INPUT_PATH,
    INPUT_PATTERNS,
    NON_NEGATIVE,
    OUTPUT_PATH,
    POSITIVE,
    PROBABILITY,
    SEED,
    WORKERS,
    FiniteFloat,
    flag,
)
from mecab_bert.files import atomic_directory, expand_input_files, file_sha256, write_json
from mecab_bert.pretraining_data.instance_creation import (
    MAX_RECORD_LENGTH,
    Document,
    InstanceConfig,
    Vocabulary,
    create_instances_from_document,
    instances_to_records,
    record_dtype,
)
from mecab_bert.pretraining_data.shard_format import (
    FORMAT_VERSION,
    MANIFEST,
    DataError,
    ShardWriter,
    owns_output_file,
    sealed,
)
from mecab_bert.tokenizer_settings import (
    DO_LOWER_CASE,
    TOKENIZER_MODES,
    UnknownTokens,
    max_unk_rate_flag,
    resolve_tokenizer,
)
from mecab_bert.workers import ordered_map
from text_input import read_utf8_lines


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
    """Tokenizes a chunk once and creates `dupe_factor` rounds of instances from it, as records. The generator is seeded
    by (random_seed, chunk_index) alone, so the result does not depend on which process runs the chunk or when."""
    tokenizer = _cached_tokenizer(settings.vocab_file, settings.do_lower_case, settings.tokenizer)
    vocab = Vocabulary.from_vocab(tokenizer.vocab)
    dtype = record_dtype(settings.config, vocab.size)
    rng = random.Random(f"{settings.random_seed}:{chunk_index}")
    tokenized = tokenize_documents(tokenizer, documents)
    unknown = tokenizer.vocab["[UNK]"]
    stats = collections.Counter(documents=len(tokenized), sentences=sum(len(d) for d in tokenized),
                                tokens=sum(len(s) for d in tokenized for s in d),
                                unk_tokens=sum(s.count(unknown) for d in tokenized for s in d),
                                empty_documents=len(documents) - len(tokenized))
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


def read_documents(paths: Iterable[str], unicode_errors: str, counts: collections.Counter
                   ) -> Iterator[tuple[list[str], int]]:
    """Yields (sentences, bytes read) per document: blank lines and file ends separate documents. Invalid UTF-8 or a
    binary file is an InputError naming the file and line (see read_utf8_lines)."""
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
    """Processes chunks in `num_workers` processes (workers.ordered_map) and yields the results in chunk
    order."""
    work = functools.partial(_process_indexed_chunk, settings=settings)
    indexed = ((index, documents, size) for index, (documents, size) in enumerate(chunks))
    if num_workers <= 1:
        yield from map(work, indexed)
    else:
        yield from ordered_map(work, indexed, num_workers)


def _process_indexed_chunk(chunk: tuple[int, list[list[str]], int], settings: ChunkSettings) -> ChunkResult:
    return process_chunk(*chunk, settings)


@dataclass(frozen=True)
class RunSettings:
    """Every flag of a run (all go into the manifest), with its default and type (the command line's too)."""

    input_file: str = flag(help="Input text: comma-separated files or glob patterns.", type=INPUT_PATTERNS)
    output_dir: str = flag(help="Directory for the shards and manifest.json (--output_file: Google's name for it).",
                           type=OUTPUT_PATH, aliases=("--output_file",))
    vocab_file: str = flag(help="The vocabulary the model will be trained with.", type=INPUT_PATH)
    do_lower_case: bool = flag(DO_LOWER_CASE, "Lower-case and strip accents (never from Hangul).")
    tokenizer: str | None = flag(None, "mecab: WordPiece inside MeCab morphemes; wordpiece: Google's FullTokenizer "
                                       "(default: wordpiece for a vocab of Google's, else mecab).",
                                 click.Choice(TOKENIZER_MODES))
    do_whole_word_mask: bool = flag(InstanceConfig.do_whole_word_mask,
                                    "Mask whole words: a token starting with ## joins the word before it.")
    max_seq_length: int = flag(InstanceConfig.max_seq_length, "Maximum sequence length.",
                               click.IntRange(5, MAX_RECORD_LENGTH))  # at least [CLS] A [SEP] B [SEP]
    max_predictions_per_seq: int = flag(InstanceConfig.max_predictions_per_seq,
                                        "Maximum number of masked-LM predictions per sequence.", POSITIVE)
    random_seed: int = flag(12345, "Seed for data generation.", SEED)
    dupe_factor: int = flag(10, "Number of times to duplicate the input data (with different masks).", POSITIVE)
    masked_lm_prob: float = flag(InstanceConfig.masked_lm_prob, "Masked LM probability.",
                                 FiniteFloat(0, 1, min_open=True))
    short_seq_prob: float = flag(InstanceConfig.short_seq_prob,
                                 "Probability of creating sequences shorter than the maximum length.", PROBABILITY)
    num_workers: int = flag(1, "Worker processes; the output is the same.", WORKERS)
    docs_per_chunk: int = flag(1000, "Documents per chunk: the unit of work, of memory, and of the random-next pool.",
                               POSITIVE)
    instances_per_shard: int = flag(65536, "Instances per output shard.", POSITIVE)
    unicode_errors: str = flag("strict", "strict: invalid UTF-8 is an error; replace: U+FFFD, counted in the summary.",
                               click.Choice(["strict", "replace"]))
    max_unk_rate: float = max_unk_rate_flag()
    overwrite: bool = flag(False, "Replace the output of an earlier run in --output_dir (the old output stays whole "
                           "until the new one is complete; a folder holding other files is refused).", is_flag=True)

    def instance_config(self) -> InstanceConfig:
        return InstanceConfig(self.max_seq_length, self.max_predictions_per_seq, self.masked_lm_prob,
                              self.short_seq_prob, self.do_whole_word_mask)

    def validate(self) -> None:
        """Each flag of a type within its bounds, as click checks the command line (the error names the flag),
        before any work is done."""
        for field in dataclasses.fields(self):
            kind = field.metadata["flag"].type
            try:
                if kind is not None and getattr(self, field.name) is not None:  # None: resolved later (--tokenizer)
                    kind.convert(getattr(self, field.name), None, None)
            except click.BadParameter as error:
                raise DataError(f"--{field.name}: {error.message}") from None
        if "," in self.output_dir:  # run_pretraining.py's --input_file splits at commas: it could not name the folder
            raise DataError(f"--output_dir {self.output_dir}: one data folder, whose name has no comma (Google's "
                            f"--output_file took a comma-separated list of files; here the output is one folder)")
        if self.max_predictions_per_seq > self.max_seq_length:
            raise DataError(f"--max_predictions_per_seq: {self.max_predictions_per_seq} is more than "
                            f"--max_seq_length {self.max_seq_length}")


@dataclass(frozen=True)
class CreationFlags(RunSettings):
    """create_pretraining_data.py's flags: a run's settings, and what to show of its output."""

    print_examples: int = flag(0, "Print the first N instances, decoded.", NON_NEGATIVE)


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
        return (f"Read {self.input_bytes / 1e6:.1f} MB: {s['documents']} documents, {s['sentences']} sentences, "
                f"{s['tokens']} tokens ({unknown_tokens(s).describe()}; {s['empty_documents']} empty documents "
                f"dropped, {s['replaced_lines']} lines "
                f"with invalid UTF-8 replaced). Wrote {s['instances']} instances in {len(self.shards)} shards: "
                f"{s['masked_tokens']} masked tokens, {100 * s['truncated'] / instances:.1f}% truncated, "
                f"{100 * s['random_next'] / instances:.1f}% random next. {self.seconds:.1f} s, "
                f"{s['instances'] / max(self.seconds, 1e-9):.0f} instances/s, "
                f"{self.input_bytes / 1e6 / max(self.seconds, 1e-9):.2f} MB/s, peak RSS {self.peak_rss_mb:.0f} MB "
                f"(the largest process).")

def peak_rss_mb() -> float:
    """The peak resident set of this process or of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


# Tokens read before the [UNK] rate is checked at each chunk: enough not to stop on one odd document.
_UNK_SAMPLE = 100_000


def unknown_tokens(stats: collections.Counter) -> UnknownTokens:
    return UnknownTokens(stats["unk_tokens"], stats["tokens"])


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
    resolved = resolve_tokenizer(settings.vocab_file, settings.do_lower_case, settings.tokenizer, None)
    settings = dataclasses.replace(settings, tokenizer=resolved.tokenizer)  # recorded as it ran
    if progress:
        click.echo(resolved.describe(), err=True)
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
    what = f"--input_file {settings.input_file} with --vocab_file {settings.vocab_file}"
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
                if stats["tokens"] >= _UNK_SAMPLE:  # a vocab that does not fit stops a long run early
                    unknown_tokens(stats).check(what, settings.max_unk_rate)
        if stats["documents"] == 0:
            raise DataError(f"{settings.input_file}: no documents (the input is empty, or only blank lines)")
        unknown_tokens(stats).check(what, settings.max_unk_rate)
        writer.close()
        seconds = time.perf_counter() - start
        write_json(staging / MANIFEST, sealed({
            "format_version": FORMAT_VERSION,
            "record_dtype": [list(field) if len(field) == 2 else [field[0], field[1], list(field[2])]
                             for field in dtype.descr],
            "vocab": {"sha256": file_sha256(settings.vocab_file), "size": vocab_size},
            "tokenizer": {"tokenizer": settings.tokenizer, "do_lower_case": settings.do_lower_case},
            # RunSettings' fields alone: --print_examples (CreationFlags) changes nothing that is written.
            "flags": {field.name: getattr(settings, field.name) for field in dataclasses.fields(RunSettings)},
            "shards": writer.shards,
            "totals": {**{key: stats[key] for key in ("documents", "sentences", "tokens", "unk_tokens", "instances",
                                                       "masked_tokens", "truncated", "random_next",
                                                       "replaced_lines", "empty_documents")},
                       "input_bytes": input_bytes, "input_files": len(paths)},
        }))
    return RunSummary(stats, writer.shards, seconds, input_bytes, peak_rss_mb())
