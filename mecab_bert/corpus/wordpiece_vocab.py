# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""build_vocab.py's WordPiece vocab: counts of the pre-tokenized units (MeCab morphemes, or Google's basic tokens)
in worker processes, then WordPiece training (the merge rule of Hugging Face's tokenizers), written with Google's
special tokens first."""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import click
from tqdm import tqdm

import tokenization
from mecab_bert.cli import INPUT_PATTERNS, NON_NEGATIVE, OUTPUT_PATH, POSITIVE, WORKERS, flag
from mecab_bert.files import atomic_output, check_not_input, expand_input_files, missing_folders_made
from mecab_bert.tokenizer_settings import DO_LOWER_CASE, MECAB, TOKENIZER_MODES
from mecab_bert.workers import ordered_map
from text_input import InputError, read_utf8_lines

_LINES_PER_BATCH = 2000

UnitCounts = collections.Counter  # {(unit, is_continuation): count}


@dataclass(frozen=True)
class VocabSettings:
    """How a vocab is learned: build_vocab.py's flags after its files."""

    vocab_size: int = flag(32000, "Target size, special tokens included.", POSITIVE)
    min_frequency: int = flag(2, "Merges seen fewer times are not learned.", POSITIVE)
    limit_alphabet: int = flag(6000, "At most this many single characters (Korean text uses thousands of syllables "
                               "and hanja).", POSITIVE)
    num_unused: int = flag(100, "[unusedN] slots after the special tokens.", NON_NEGATIVE)
    do_lower_case: bool = flag(DO_LOWER_CASE, "Lower-case and strip accents (never from Hangul); must match later "
                               "stages.")
    tokenizer: str = flag(MECAB, "mecab: WordPiece inside MeCab morphemes; wordpiece: Google's plain "
                          "pre-tokenization.", click.Choice(TOKENIZER_MODES))
    num_workers: int = flag(1, "Processes for pre-tokenizing.", WORKERS)


@dataclass(frozen=True, kw_only=True)
class BuildVocabFlags(VocabSettings):
    """build_vocab.py's flags: its files, then VocabSettings."""

    input_file: str = flag(help="Input text: comma-separated files or glob patterns.", type=INPUT_PATTERNS)
    output_file: str = flag(help="Where to write vocab.txt.", type=OUTPUT_PATH)
    overwrite: bool = flag(False, "Replace an existing --output_file (the shards and checkpoints made with it depend "
                           "on it; it stays whole until the new one is complete).", is_flag=True)


@dataclass(frozen=True)
class VocabSummary:
    files: int
    lines: int
    chars: int
    units: int
    vocab_size: int
    seconds: float


def iter_text_lines(lines: Iterable[str]) -> Iterator[str]:
    """The text lines of Google's format or WikiExtractor output: tags, titles and blank lines dropped."""
    skip_title = False
    for line in lines:
        line = line.strip()
        if line.startswith("<doc ") and line.endswith(">"):
            skip_title = True
        elif line == "</doc>" or not line:
            continue
        elif skip_title:
            skip_title = False
        else:
            yield line


@functools.cache
def _cached_pre_tokenizer(do_lower_case: bool, tokenizer: str) -> tokenization.PreTokenizer:
    # One per process: a MeCab tagger cannot be pickled into a worker.
    return tokenization.PreTokenizer(do_lower_case, tokenizer)


def _count_batch(lines: list[str], do_lower_case: bool, tokenizer: str) -> UnitCounts:
    pre_tokenizer = _cached_pre_tokenizer(do_lower_case, tokenizer)
    return collections.Counter(unit for line in lines for unit in pre_tokenizer.pre_tokenize(line))


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def initial_symbols(unit: str, continuation: bool) -> tuple[str, ...]:
    """A unit as characters, each after the first marked "##", the first too for a continuation:
    ("에서", True) -> ("##에", "##서")."""
    first = tokenization.CONTINUATION + unit[0] if continuation else unit[0]
    return (first, *(tokenization.CONTINUATION + char for char in unit[1:]))


def select_alphabet(unit_counts: UnitCounts, limit_alphabet: int) -> set[str]:
    """The `limit_alphabet` most frequent characters (ties: the smaller code point)."""
    chars: collections.Counter = collections.Counter()
    for (unit, _), count in unit_counts.items():
        for char in unit:
            chars[char] += count
    ranked = sorted(chars.items(), key=lambda item: (-item[1], item[0]))
    return {char for char, _ in ranked[:limit_alphabet]}


def _pairs(word: tuple[str, ...]) -> collections.Counter:
    return collections.Counter(itertools.pairwise(word))


def _merge_word(word: tuple[str, ...], pair: tuple[str, str], merged: str) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def check_vocab_size(vocab_size: int, special_tokens: list[str], alphabet: int = 0) -> None:
    """Raises InputError naming --vocab_size when it cannot hold the special tokens and `alphabet` single symbols."""
    minimum = len(special_tokens) + alphabet
    if vocab_size >= minimum:
        return
    unused = len(special_tokens) - len(tokenization.SPECIAL_TOKENS)
    needs = f"the {len(special_tokens)} special tokens ({' '.join(tokenization.SPECIAL_TOKENS)} and {unused} [unusedN])"
    if alphabet:
        needs += f" and the alphabet ({alphabet} one-character pieces, word-initial and ## forms)"
    raise InputError(f"--vocab_size {vocab_size} is too small: {needs} need {minimum}; raise --vocab_size, or lower "
                     f"--num_unused{' or --limit_alphabet' if alphabet else ''}")


def train_wordpiece(unit_counts: UnitCounts, vocab_size: int, min_frequency: int, limit_alphabet: int,
                    special_tokens: list[str]) -> list[str]:
    """Learns pieces by merging the most frequent adjacent pair until the vocab is full. Returns the vocab in id order:
    the special tokens, the alphabet (single characters, word-initial and "##" forms, most frequent first), then the
    merged pieces in the order they were learned. Units with a character outside the alphabet are left out. A
    `vocab_size` too small for the special tokens and the alphabet is an InputError (check_vocab_size): the characters
    cut off would make their words [UNK]."""
    alphabet = select_alphabet(unit_counts, limit_alphabet)
    kept = sorted(key for key in unit_counts if set(key[0]) <= alphabet)
    words = [initial_symbols(unit, continuation) for unit, continuation in kept]
    counts = [unit_counts[key] for key in kept]
    symbol_counts: collections.Counter = collections.Counter()
    pair_counts: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for index, word in enumerate(words):
        for symbol in word:
            symbol_counts[symbol] += counts[index]
        for pair, n in _pairs(word).items():
            pair_counts[pair] += n * counts[index]
            where[pair].add(index)
    check_vocab_size(vocab_size, special_tokens, len(symbol_counts))
    vocab = dict.fromkeys(special_tokens)
    vocab.update((symbol, None) for symbol, _ in sorted(symbol_counts.items(), key=lambda item: (-item[1], item[0])))
    # A max-heap on count, ties to the smaller pair; an entry whose count is stale is skipped.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -negative_count:
            continue
        if -negative_count < min_frequency:
            break
        merged = pair[0] + pair[1][len(tokenization.CONTINUATION):]
        vocab.setdefault(merged)
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair)):
            old = words[index]
            new = words[index] = _merge_word(old, pair, merged)
            delta = _pairs(new)
            delta.subtract(_pairs(old))
            for changed_pair, n in delta.items():
                if n:
                    pair_counts[changed_pair] += n * counts[index]
                    changed.add(changed_pair)
                    if n > 0:
                        where[changed_pair].add(index)
        for changed_pair in changed:
            if pair_counts[changed_pair] > 0:
                heapq.heappush(heap, (-pair_counts[changed_pair], changed_pair))
            else:
                del pair_counts[changed_pair]
    return list(vocab)


def build_vocab(paths: list[str], settings: VocabSettings, progress: bool = True) -> tuple[list[str], VocabSummary]:
    """Trains WordPiece on `paths`; returns the vocab (a token a line, in id order) and a summary. Raises InputError for
    input with no text and for a `vocab_size` too small (checked for the special tokens before the count, then with the
    alphabet). Worker processes ignore SIGINT: on Ctrl-C the caller alone gets the KeyboardInterrupt (not a traceback
    from every worker), and the pool is terminated."""
    start_time = time.perf_counter()
    special_tokens = [*tokenization.SPECIAL_TOKENS, *(f"[unused{i}]" for i in range(settings.num_unused))]
    check_vocab_size(settings.vocab_size, special_tokens)
    stats: collections.Counter = collections.Counter()

    def lines() -> Iterator[str]:
        for path in paths:
            for line in iter_text_lines(read_utf8_lines(path)):
                stats["lines"] += 1
                stats["chars"] += len(line)
                yield line

    unit_counts: UnitCounts = collections.Counter()
    count = functools.partial(_count_batch, do_lower_case=settings.do_lower_case, tokenizer=settings.tokenizer)
    batches = _batches(lines(), _LINES_PER_BATCH)
    workers = settings.num_workers
    counted = ordered_map(count, batches, workers) if workers > 1 else map(count, batches)
    for batch_counts in tqdm(counted, desc="pre-tokenizing", unit=" batches", disable=not progress):
        unit_counts.update(batch_counts)
    if not unit_counts:
        named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        raise InputError(f"{named}: no text to learn a vocab from (empty, or only blank lines, <doc> tags and titles)")
    vocab = train_wordpiece(unit_counts, settings.vocab_size, settings.min_frequency, settings.limit_alphabet,
                            special_tokens)
    return vocab, VocabSummary(files=len(paths), lines=stats["lines"], chars=stats["chars"],
                               units=sum(unit_counts.values()), vocab_size=len(vocab),
                               seconds=time.perf_counter() - start_time)


def write_vocab(vocab: list[str], output_file: str) -> None:
    """Writes one token a line, atomically (a temporary name, then a rename): on failure the old file stays whole."""
    with atomic_output(output_file) as writer:
        writer.writelines(f"{token}\n" for token in vocab)


def build_vocab_file(flags: BuildVocabFlags) -> VocabSummary:
    """build_vocab.py: the vocab of --input_file's files, written to --output_file; returns the summary. The output is
    opened (its temporary file made) before the count, so that an output that cannot be written (a folder, a path under
    a file, a read-only place) fails now, not after it; a failure removes the folders made for it too."""
    paths = expand_input_files(flags.input_file)
    check_not_input(flags.output_file, paths, "--output_file")
    if os.path.isfile(flags.output_file) and not flags.overwrite:
        raise InputError(f"{flags.output_file}: exists, and the data and models made with it depend on it; pass "
                         f"--overwrite to replace it, or choose another --output_file")
    with missing_folders_made([flags.output_file]), atomic_output(flags.output_file) as writer:
        vocab, summary = build_vocab(paths, flags)
        writer.writelines(f"{token}\n" for token in vocab)
    return summary
