# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Extracts pre-computed feature vectors from BERT, as Google's extract_features.py: each token's hidden states at the
encoder layers --layers names, one JSON line per input line (one text a line, or `text_a ||| text_b`), with each
token's character offsets into its line added. The format and its rules: mecab_bert/tasks/features.py.

    python extract_features.py --input_file=input.txt --output_file=output.jsonl \\
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --vocab_file=$BERT_BASE_DIR/vocab.txt \\
      --bert_config_file=$BERT_BASE_DIR/bert_config.json --layers=-1,-2,-3,-4 --max_seq_length=128 --batch_size=8
"""

from __future__ import annotations

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.runs import devices
from mecab_bert.tasks import features


@click.command(cls=Command)
@flag_options(features.ExtractFlags)
def main(**values) -> None:
    """Write each input line's token vectors at the chosen layers of BERT as JSON lines."""
    flags = features.ExtractFlags(**values)
    with user_errors(devices.TrainingError):
        summary = features.extract(flags)
    click.echo(summary.describe(flags.output_file))


if __name__ == "__main__":
    main()
