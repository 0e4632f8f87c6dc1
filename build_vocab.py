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

from mecab_bert.cli import NON_NEGATIVE, OUTPUT_PATH, POSITIVE, WORKERS, Command, bool_option, user_errors
from mecab_bert.corpus.wordpiece_vocab import build_vocab
from mecab_bert.files import atomic_output, check_not_input, expand_input_files, missing_folders_made


@click.command(cls=Command)
@click.option("--input_file", required=True, help="Input text: comma-separated files or glob patterns.")
@click.option("--output_file", type=OUTPUT_PATH, required=True, help="Where to write vocab.txt.")
@click.option("--vocab_size", type=POSITIVE, default=32000, show_default=True,
              help="Target size, special tokens included.")
@click.option("--min_frequency", type=POSITIVE, default=2, show_default=True,
              help="Merges seen fewer times are not learned.")
@click.option("--limit_alphabet", type=POSITIVE, default=6000, show_default=True,
              help="At most this many single characters (Korean text uses thousands of syllables and hanja).")
@click.option("--num_unused", type=NON_NEGATIVE, default=100, show_default=True,
              help="[unusedN] slots after the special tokens.")
@bool_option("--do_lower_case", True, "Lower-case and strip accents (never from Hangul); must match later stages.")
@click.option("--tokenizer", type=click.Choice(["mecab", "wordpiece"]), default="mecab", show_default=True,
              help="mecab: WordPiece inside MeCab morphemes; wordpiece: Google's plain pre-tokenization.")
@click.option("--num_workers", type=WORKERS, default=1, show_default=True, help="Processes for pre-tokenizing.")
def main(input_file, output_file, vocab_size, min_frequency, limit_alphabet, num_unused, do_lower_case,
         tokenizer, num_workers):
    """Train a WordPiece vocab.txt for mecab-bert."""
    with user_errors(RuntimeError):  # RuntimeError: MeCab or its dictionary missing (make_tagger says how to fix)
        paths = expand_input_files(input_file)
        check_not_input(output_file, paths, "--output_file")
        # The output is opened (its temporary file made) before the count, so that an output that cannot be written
        # (a folder, a path under a file, a read-only place) fails now, not after it; a failure removes the folders
        # made for it too.
        with missing_folders_made([output_file]), atomic_output(output_file) as writer:
            vocab, summary = build_vocab(paths, vocab_size, min_frequency, limit_alphabet, num_unused,
                                         do_lower_case, tokenizer, num_workers)
            writer.writelines(f"{token}\n" for token in vocab)
    click.echo(
        f"Wrote {summary.vocab_size} tokens to {output_file}: {summary.files} files, {summary.lines} lines, "
        f"{summary.chars} chars, {summary.units} pre-tokenized units in {summary.seconds:.1f} s "
        f"({summary.chars / max(summary.seconds, 1e-9) / 1e6:.2f} M chars/s)."
    )


if __name__ == "__main__":
    main()
