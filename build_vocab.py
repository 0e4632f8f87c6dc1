# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Trains a WordPiece vocab.txt on text pre-tokenized exactly as FullTokenizer pre-tokenizes it.

Input: Google's pretraining format (one sentence a line, blank lines between documents) or WikiExtractor
output (`<doc ...>` lines and the title line after each are dropped). Output: `[PAD] [UNK] [CLS] [SEP]
[MASK]` (ids 0-4), `--num_unused` `[unusedN]` slots, the alphabet, then the learned pieces.

Training is the bottom-up merging that Hugging Face's WordPieceTrainer does (count every adjacent pair of
pieces inside the units, merge the most frequent pair, repeat), written out here because that trainer is
not deterministic: it breaks ties between equally frequent pairs by hash order, and three runs on the
same input gave three different files. Here ties go to the lexically smaller pair, so the same input
gives the same file. A later morpheme of a word ("에서" in "사과나무에서") is a continuation as a whole:
all of its pieces, the first included, carry "##".

    python build_vocab.py --input_file 'corpus/*.txt' --output_file vocab.txt --vocab_size 32000
"""

from __future__ import annotations

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.corpus import wordpiece_vocab


@click.command(cls=Command)
@flag_options(wordpiece_vocab.BuildVocabFlags)
def main(**values) -> None:
    """Train a WordPiece vocab.txt for mecab-bert."""
    flags = wordpiece_vocab.BuildVocabFlags(**values)
    with user_errors(RuntimeError):  # RuntimeError: MeCab or its dictionary missing (make_tagger says how to fix)
        summary = wordpiece_vocab.build_vocab_file(flags)
    click.echo(f"Wrote {summary.vocab_size} tokens to {flags.output_file}: {summary.files} files, {summary.lines} "
               f"lines, {summary.chars} chars, {summary.units} pre-tokenized units in {summary.seconds:.1f} s "
               f"({summary.chars / max(summary.seconds, 1e-9) / 1e6:.2f} M chars/s).")


if __name__ == "__main__":
    main()
