# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Trains a WordPiece vocab.txt on text pre-tokenized exactly as FullTokenizer pre-tokenizes it.

Input: Google's pretraining format (one sentence a line, blank lines between documents) or WikiExtractor
output (`<doc ...>` lines and the title line after each are dropped). Output: `[PAD] [UNK] [CLS] [SEP]
[MASK]` (ids 0-4), `--num_unused` `[unusedN]` slots, then the learned pieces.

The WordPiece trainer of `tokenizers` only knows "##" for pieces inside a word. A later morpheme of a
word ("##에서" in "사과나무에서") is a continuation as a whole, so it is handed to the trainer behind a
private-use marker character, and "marker + piece" entries become "##piece" afterwards.

    python build_vocab.py --input_file 'corpus/*.txt' --output_file vocab.txt --vocab_size 32000
"""

from __future__ import annotations

import collections
import contextlib
import functools
import glob
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import click
from tqdm import tqdm

import tokenization

# A private-use character: input text never reaches the trainer with it (it is removed first).
_MARKER = "\ue000"
_LINES_PER_BATCH = 2000


@dataclass(frozen=True)
class VocabSummary:
    files: int
    lines: int
    chars: int
    units: int
    vocab_size: int
    seconds: float


def expand_input_files(spec: str) -> list[str]:
    """Comma-separated files or glob patterns -> sorted unique paths; a pattern matching nothing is an error."""
    paths: list[str] = []
    for pattern in filter(None, (p.strip() for p in spec.split(","))):
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"{pattern}: no such file")
        paths.extend(m for m in matches if m not in paths)
    return paths


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


def marked_units(pre_tokenizer: tokenization.PreTokenizer, text: str) -> str:
    """One line of white-space separated units for the trainer; continuations carry the marker."""
    units = pre_tokenizer.pre_tokenize(text.replace(_MARKER, ""))
    return " ".join(_MARKER + unit if continuation else unit for unit, continuation in units)


@functools.cache
def _cached_pre_tokenizer(do_lower_case: bool, tokenizer: str) -> tokenization.PreTokenizer:
    # One per process: a MeCab tagger cannot be pickled into a worker.
    return tokenization.PreTokenizer(do_lower_case, tokenizer)


def _mark_batch(lines: list[str], do_lower_case: bool, tokenizer: str) -> list[str]:
    pre_tokenizer = _cached_pre_tokenizer(do_lower_case, tokenizer)
    return [marked_units(pre_tokenizer, line) for line in lines]


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_lines(path: str) -> Iterator[str]:
    """Lines of a UTF-8 file; invalid UTF-8 is a UnicodeError naming the file and line."""
    with open(path, "rb") as reader:
        for number, raw in enumerate(reader, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UnicodeError(f"{path}:{number}: not UTF-8 ({error.reason} at byte {error.start})") from None


def finalize_vocab(trained: dict[str, int], special_tokens: list[str]) -> list[str]:
    """Orders the trained {token: id} by id, turns marker pieces into "##" pieces, drops duplicates."""
    vocab: dict[str, None] = dict.fromkeys(special_tokens)
    for token, _ in sorted(trained.items(), key=lambda item: item[1]):
        if token.startswith(_MARKER):
            token = tokenization.CONTINUATION + token[1:]
        if _MARKER not in token and token != tokenization.CONTINUATION:
            vocab.setdefault(token)
    return list(vocab)


def build_vocab(
    paths: list[str],
    vocab_size: int = 32000,
    min_frequency: int = 2,
    limit_alphabet: int = 6000,
    num_unused: int = 100,
    do_lower_case: bool = True,
    tokenizer: str = "mecab",
    num_workers: int = 1,
    progress: bool = True,
) -> tuple[list[str], VocabSummary]:
    """Trains WordPiece on `paths`; returns the vocab (a token a line, in id order) and a summary."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    start_time = time.perf_counter()
    counts = collections.Counter()

    def lines() -> Iterator[str]:
        for path in paths:
            for line in iter_text_lines(read_lines(path)):
                counts["lines"] += 1
                counts["chars"] += len(line)
                yield line

    def counted(marked: Iterable[str]) -> Iterator[str]:
        for line in marked:
            counts["units"] += line.count(" ") + 1 if line else 0
            yield line

    special_tokens = [*tokenization.SPECIAL_TOKENS, *(f"[unused{i}]" for i in range(num_unused))]
    model = Tokenizer(models.WordPiece(unk_token=tokenization.UNK_TOKEN))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordPieceTrainer(
        # Marker pieces that turn into "##" pieces the trainer also learned are dropped as duplicates,
        # so it learns a few more, and the vocab is cut back to vocab_size in merge order.
        vocab_size=vocab_size + vocab_size // 8,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=special_tokens,
        continuing_subword_prefix=tokenization.CONTINUATION,
        show_progress=False,
    )
    mark = functools.partial(_mark_batch, do_lower_case=do_lower_case, tokenizer=tokenizer)
    with multiprocessing.Pool(num_workers) if num_workers > 1 else contextlib.nullcontext() as pool:
        # imap keeps the input order, so any number of workers trains on the same sequence.
        batches = (pool.imap if pool else map)(mark, _batches(lines(), _LINES_PER_BATCH))
        marked = (line for batch in batches for line in batch)
        bar = tqdm(marked, desc="pre-tokenizing", unit=" lines", disable=not progress)
        model.train_from_iterator(counted(bar), trainer=trainer)
    vocab = finalize_vocab(model.get_vocab(), special_tokens)[:vocab_size]
    summary = VocabSummary(
        files=len(paths),
        lines=counts["lines"],
        chars=counts["chars"],
        units=counts["units"],
        vocab_size=len(vocab),
        seconds=time.perf_counter() - start_time,
    )
    return vocab, summary


def write_vocab(vocab: list[str], output_file: str) -> None:
    """Writes one token a line, atomically (a temporary name, then a rename)."""
    directory = os.path.dirname(os.path.abspath(output_file))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(output_file)}.tmp{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as writer:
            writer.writelines(f"{token}\n" for token in vocab)
        os.replace(temporary, output_file)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@click.command()
@click.option("--input_file", required=True, help="Input text: comma-separated files or glob patterns.")
@click.option("--output_file", required=True, help="Where to write vocab.txt.")
@click.option("--vocab_size", default=32000, show_default=True, help="Target size, special tokens included.")
@click.option("--min_frequency", default=2, show_default=True, help="Merges seen fewer times are not learned.")
@click.option("--limit_alphabet", default=6000, show_default=True,
              help="At most this many single characters (Korean text uses thousands of syllables and hanja).")
@click.option("--num_unused", default=100, show_default=True, help="[unusedN] slots after the special tokens.")
@click.option("--do_lower_case", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Lower-case and strip accents (never from Hangul); must match later stages.")
@click.option("--tokenizer", type=click.Choice(["mecab", "wordpiece"]), default="mecab", show_default=True,
              help="mecab: WordPiece inside MeCab morphemes; wordpiece: Google's plain pre-tokenization.")
@click.option("--num_workers", default=1, show_default=True, help="Processes for pre-tokenizing.")
def main(input_file, output_file, vocab_size, min_frequency, limit_alphabet, num_unused, do_lower_case,
         tokenizer, num_workers):
    """Train a WordPiece vocab.txt for mecab-bert."""
    try:
        paths = expand_input_files(input_file)
        vocab, summary = build_vocab(paths, vocab_size, min_frequency, limit_alphabet, num_unused,
                                     do_lower_case, tokenizer, num_workers)
    except (OSError, UnicodeError, RuntimeError) as error:
        raise click.ClickException(str(error)) from None
    write_vocab(vocab, output_file)
    click.echo(
        f"Wrote {summary.vocab_size} tokens to {output_file}: {summary.files} files, {summary.lines} lines, "
        f"{summary.chars} chars, {summary.units} pre-tokenized units in {summary.seconds:.1f} s "
        f"({summary.chars / max(summary.seconds, 1e-9) / 1e6:.2f} M chars/s)."
    )


if __name__ == "__main__":
    main()
