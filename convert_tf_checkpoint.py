# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Converts a Google TensorFlow BERT checkpoint into a Hugging Face BERT directory, without TensorFlow.

    python convert_tf_checkpoint.py --tf_checkpoint multi_cased_L-12_H-768_A-12/bert_model.ckpt \
      --do_lower_case=False --output_dir multi_cased_hf

Reads the checkpoint with mecab_bert/checkpoints/tf_checkpoint.py (Google's variable names mapped, optimizer
slots skipped), its bert_config.json and vocab.txt (beside it unless given), takes the gelu its graph computed,
and writes a complete Hugging Face directory (hf_export.export_hf: weights, config, Google's WordPiece tokenizer with
--do_lower_case, a model card; built beside --output_dir and swapped in whole; only an earlier export is ever
replaced).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

import modeling
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export, loading, tf_checkpoint
from mecab_bert.cli import OUTPUT_PATH, Command, bool_option, user_errors
from mecab_bert.files import file_sha256
from text_input import InputError


def convert(checkpoint: str, bert_config_file: str | None, vocab_file: str | None, do_lower_case: bool,
            output_dir: str) -> str:
    """Writes the Hugging Face directory; returns what was loaded."""
    prefix = tf_checkpoint.checkpoint_prefix(Path(checkpoint))
    if prefix is None:
        raise InputError(f"{checkpoint}: not a TensorFlow checkpoint (no {checkpoint}.index, and not a folder "
                         f"holding one)")
    config_file = Path(bert_config_file) if bert_config_file else prefix.parent / "bert_config.json"
    vocab = Path(vocab_file) if vocab_file else prefix.parent / "vocab.txt"
    for path, flag in ((config_file, "--bert_config_file"), (vocab, "--vocab_file")):
        if not path.is_file():
            raise InputError(f"{path}: {'not a regular file' if path.exists() else 'no such file'} (pass {flag})")
    hf_export.check_export_target(output_dir, "--output_dir")
    tokenizer = tokenizer_settings.TokenizerSettings(str(vocab), do_lower_case, "wordpiece")
    tokenizer.full_tokenizer()  # the vocab read and checked against --do_lower_case before the weights
    hf_export.tokenizer_files(tokenizer, 0)  # and against what the export's tokenizer must do (bert#135)
    config = tf_checkpoint.config_for(prefix, modeling.BertConfig.from_json_file(config_file))
    model = modeling.create_model(modeling.BertForPreTraining, config)
    report = loading.load_pretrained(model, prefix)
    card = hf_export.ModelCard(f"Google's BERT checkpoint {prefix.parent.name}/{prefix.name}, converted", {
        "converted from": str(prefix),
        "checkpoint sha256 (.index)": file_sha256(f"{prefix}.index"),
        "hidden_act (from its graph)": config.hidden_act,
    }, language=None)
    hf_export.export_hf(model, output_dir, tokenizer, card, overwrite=True, flag="--output_dir")
    return report.summary()


@click.command(cls=Command)
@click.option("--tf_checkpoint", "checkpoint", required=True,
              help="Google's checkpoint prefix (.../bert_model.ckpt), its .index file, or a folder holding one.")
@click.option("--bert_config_file", default=None, help="Default: bert_config.json beside the checkpoint.")
@click.option("--vocab_file", default=None, help="Default: vocab.txt beside the checkpoint.")
@bool_option("--do_lower_case", True, "How the model's text was tokenized: uncased models True, cased False.")
@click.option("--output_dir", required=True, type=OUTPUT_PATH, help="The Hugging Face directory to write.")
def main(checkpoint: str, bert_config_file: str | None, vocab_file: str | None, do_lower_case: bool,
         output_dir: str) -> None:
    """Convert a Google TensorFlow BERT checkpoint into a Hugging Face BERT directory (no TensorFlow needed)."""
    with user_errors():
        summary = convert(checkpoint, bert_config_file, vocab_file, do_lower_case, output_dir)
        click.echo(f"{summary}\nwrote a Hugging Face BERT directory: {output_dir}", err=True)


if __name__ == "__main__":
    sys.exit(main())
