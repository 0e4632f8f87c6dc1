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

import click

import tokenization
from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.pretraining_data.creation import CreationFlags, create_pretraining_data
from mecab_bert.pretraining_data.shard_format import MANIFEST, format_instance, load_shards


@click.command(cls=Command)
@flag_options(CreationFlags)
def main(**values) -> None:
    """Create masked-LM / next-sentence pretraining data (Google's create_pretraining_data.py)."""
    flags = CreationFlags(**values)
    with user_errors():
        summary = create_pretraining_data(flags)
        if flags.print_examples:
            inv_vocab = {i: t for t, i in tokenization.load_vocab(flags.vocab_file).items()}
            shards = load_shards(flags.output_dir, verify=False)  # just written and hashed
            for record in shards.records()[:flags.print_examples]:
                click.echo("*** Example ***\n" + format_instance(record, inv_vocab) + "\n")
    click.echo(summary.describe())
    click.echo(f"Output: {flags.output_dir}/ ({MANIFEST} and {len(summary.shards)} shard files)")


if __name__ == "__main__":
    main()
