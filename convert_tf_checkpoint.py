# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Converts a Google TensorFlow BERT checkpoint into a Hugging Face BERT directory, without TensorFlow.

    python convert_tf_checkpoint.py --tf_checkpoint multi_cased_L-12_H-768_A-12/bert_model.ckpt \
      --do_lower_case=False --output_dir multi_cased_hf

Reads the checkpoint with mecab_bert/checkpoints/tf_checkpoint.py (Google's variable names mapped, optimizer
slots skipped), its bert_config.json and vocab.txt (beside it unless given), takes the gelu its graph computed,
and writes a complete Hugging Face directory (hf_export.export_hf: weights, config, Google's WordPiece tokenizer with
--do_lower_case, a model card; built beside --output_dir and swapped in whole; only an earlier export is ever replaced).
"""

from __future__ import annotations

import sys

import click

from mecab_bert.checkpoints import hf_export
from mecab_bert.cli import Command, flag_options, user_errors


@click.command(cls=Command)
@flag_options(hf_export.ConvertFlags)
def main(**values) -> None:
    """Convert a Google TensorFlow BERT checkpoint into a Hugging Face BERT directory (no TensorFlow needed)."""
    flags = hf_export.ConvertFlags(**values)
    with user_errors():
        summary = hf_export.convert_tf_checkpoint(flags)
        click.echo(f"{summary}\nwrote a Hugging Face BERT directory: {flags.output_dir}", err=True)


if __name__ == "__main__":
    sys.exit(main())
