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
from mecab_bert.cli import (
    NON_NEGATIVE,
    Command,
    bool_option,
    user_errors,
)
from mecab_bert.pretraining_data.creation import FLAG_TYPES, RunSettings, create_pretraining_data
from mecab_bert.pretraining_data.shard_format import MANIFEST, format_instance, load_shards


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
