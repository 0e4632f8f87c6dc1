# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Turns a Wikipedia dump, or WikiExtractor output, into BERT pretraining text.

The output is the input format of Google BERT's `create_pretraining_data.py`: one sentence per line and a
blank line after every document (after the last one too, so that files read one after another, as
`create_pretraining_data.py` reads its inputs, never merge the last document of a file with the first of
the next).

The input is what WikiExtractor writes: for each article a `<doc id=".." url=".." title="..">` line, the
title line, the paragraphs (one per line, blank lines in between) and a `</doc>` line. Tags and title
lines are dropped, each paragraph is split into sentences with MeCab (mecab-ko-dic), and documents left
with no sentence are dropped. Every output is written beside its path and renamed into place once all of
them are complete: after a failure every old output is as it was.

A MediaWiki dump (`kowiki-latest-pages-articles.xml.bz2`) is read through mecab_bert/corpus/wiki_dump.py: each article
is extracted by WikiExtractor (its command's defaults) and split in the same worker process, in the dump's
order, into WikiExtractor's file layout, so that the output is byte for byte what WikiExtractor's command
and then this script on its files would write (`prepare_dump`).

Korean sentence splitting: mecab_bert/corpus/sentence_splitter.py (after a sentence-final ending and `.`, `?` or
`!`, unless the sentence visibly goes on; `3.14`, `U.S.`, `1. 개요` never end one). In random kowiki paragraphs
the rule makes a mistake in about 2 paragraphs in 100, mostly boundaries with no punctuation: see
`bench/sentence_split_sample.py`.

Usage:
  python prepare_corpus.py --input_file kowiki-latest-pages-articles.xml.bz2 --output_dir prepared/
  python prepare_corpus.py --input_file 'kowiki/wiki_*' --output_dir prepared/
  python prepare_corpus.py --input_file a.txt,b.txt --output_file corpus.txt
"""

from __future__ import annotations

import time

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.corpus import preparation


@click.command(cls=Command)
@flag_options(preparation.PrepareFlags)
def main(**values) -> None:
    """Turns WikiExtractor output or a Wikipedia dump into BERT pretraining text: a sentence per line, documents
    apart."""
    flags, start = preparation.PrepareFlags(**values), time.perf_counter()
    with user_errors(RuntimeError):  # MeCab not installed, a worker process that died
        stats = preparation.prepare_corpus(flags)
    for warning in preparation.warning_lines(stats):
        click.echo(warning, err=True)
    click.echo(preparation.format_summary(stats, time.perf_counter() - start, flags.output_file or flags.output_dir))


if __name__ == "__main__":
    main()
