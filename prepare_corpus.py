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

Korean sentence splitting (`find_sentence_ends`): MeCab tags each paragraph once (a huge one in
windows, so that memory stays bounded: `tagged_sentence_ends`). A sentence ends after a
sentence-final ending (a tag with an `EF` part: `다`, `까`, `요`, ... in `EF`, `VCP+EF`, `XSV+EF`) followed
directly by `.`, `?` or `!` and any closing quotes and brackets (`했다.")`, `했다".`), unless the sentence
visibly goes on (`"좋다."라고`, `"..." 하였다`) or the mark is inside a short quotation or parenthesis
that the sentence embeds (`"머리를 내놓아라. 그러지 않으면 구워서 먹으리"라는 노래`). Sentences that end
with a noun (`무술 훈련교본. 자세한`) end there when a space follows. Periods after numbers and Latin
letters (`3.14`, `U.S.`, `1. 개요`) never end a sentence. In random kowiki paragraphs the rule makes a
mistake in about 2 paragraphs in 100, mostly boundaries with no punctuation: see
`bench/sentence_split_sample.py`.

Usage:
  python prepare_corpus.py --input_file kowiki-latest-pages-articles.xml.bz2 --output_dir prepared/
  python prepare_corpus.py --input_file 'kowiki/wiki_*' --output_dir prepared/
  python prepare_corpus.py --input_file a.txt,b.txt --output_file corpus.txt
"""

from __future__ import annotations

import os
import time

import click

from mecab_bert.cli import OUTPUT_PATH, WORKERS, Command, user_errors
from mecab_bert.corpus import wiki_dump
from mecab_bert.corpus.preparation import Job, format_summary, output_paths_for, prepare_dump, run_jobs
from mecab_bert.files import (
    expand_input_files,
    input_patterns,
)
from text_input import InputError


@click.command(cls=Command)
@click.option(
    "--input_file",
    required=True,
    help="WikiExtractor output (a comma-separated list of files or glob patterns), or one MediaWiki dump "
    "(.xml, .xml.bz2, .xml.gz; needs the wikidump extra).",
)
@click.option("--output_file", default=None, type=OUTPUT_PATH, help="Write everything to this one file.")
@click.option(
    "--output_dir",
    default=None,
    type=OUTPUT_PATH,
    help="Write one output file per input file here, at its path under the inputs' common folder; they "
    "replace earlier ones only once all of them are complete. From a dump: WikiExtractor's files (AA/wiki_00, "
    "...), the whole folder replaced at the end.",
)
@click.option(
    "--num_workers",
    default=1,
    show_default=True,
    type=WORKERS,
    help="Processes to run with --output_dir (one file each at a time), or on a dump (articles in batches).",
)
def main(input_file: str, output_file: str | None, output_dir: str | None, num_workers: int) -> None:
    """Turns WikiExtractor output or a Wikipedia dump into BERT pretraining text: a sentence per line, documents
    apart."""
    if (output_file is None) == (output_dir is None):
        raise click.UsageError("give exactly one of --output_file and --output_dir")
    start = time.perf_counter()
    with user_errors(RuntimeError):  # MeCab not installed, a worker process that died
        input_paths = expand_input_files(input_file)
        dumps = [path for path in input_paths if wiki_dump.is_dump(path)]
        output = output_file or output_dir
        assert output is not None
        if dumps:
            if len(input_paths) > 1:
                raise InputError(f"{dumps[0]}: a dump goes alone in --input_file (it was given with "
                                 f"{len(input_paths) - 1} other files)")
            if os.path.realpath(output) == os.path.realpath(dumps[0]):
                raise InputError(f"{output}: the output would overwrite the input dump")
            stats = prepare_dump(dumps[0], output, output_dir is not None, num_workers)
        else:
            if output_file is not None:
                jobs = [Job(input_paths, output_file)]
            else:
                output_paths = output_paths_for(input_paths, output, input_patterns(input_file))
                jobs = [Job([i], o) for i, o in zip(input_paths, output_paths, strict=True)]
            inputs = {os.path.realpath(p) for p in input_paths}
            for job in jobs:
                if os.path.realpath(job.output_path) in inputs:
                    raise InputError(f"{job.output_path}: the output would overwrite an input file")
            stats = run_jobs(jobs, num_workers)
    if stats.files_without_documents:  # with others that hold documents, so a mistake in a list or a glob
        skipped = stats.files_without_documents
        click.echo(f"Warning: no <doc ...> block in {len(skipped)} of {stats.files} input files, not WikiExtractor "
                   f"output, so nothing of them was written: {', '.join(skipped[:3])}"
                   f"{' ...' if len(skipped) > 3 else ''}", err=True)
    if stats.failed_pages:
        failed = stats.failed_pages
        click.echo(f"Warning: WikiExtractor failed on {len(failed)} articles, which were left out: "
                   f"{', '.join(failed[:3])}{' ...' if len(failed) > 3 else ''}", err=True)
    click.echo(format_summary(stats, time.perf_counter() - start, output))


if __name__ == "__main__":
    main()
