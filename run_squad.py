# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Fine-tunes BERT on KorQuAD 1.0 / SQuAD v1.1 / v2.0, predicts, and scores with the official metrics.

Google's flags and windows (max_seq_length, doc_stride, max_query_length, the max-context rule), but
answers are aligned by character offsets: each context is tokenized once with exact offsets, an answer's
character span maps to the tokens it covers, and a predicted answer is cut straight out of the original
context (`context[start_char:end_char]`), never rebuilt from tokens. Google's pipeline maps answers through
white-space words and glues Korean particles to answers (`서울에서` for `서울`).

The training loop, devices, precision, torchrun and checkpoints are mecab_bert.runs'; the flags and the run are
shared with run_classifier.py (mecab_bert.tasks.fine_tuning).
"""

from __future__ import annotations

import sys

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.runs import devices
from mecab_bert.tasks import squad


@click.command(cls=Command)
@flag_options(squad.SquadFlags)
def main(**flags) -> None:
    """Fine-tune and predict on KorQuAD 1.0 / SQuAD v1.1 / v2.0, scored with the official metrics."""
    with user_errors(devices.TrainingError):
        squad.run(squad.SquadFlags(**flags))


if __name__ == "__main__":
    sys.exit(main())
