# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The official scores of a predictions file ({question id: answer text}) against a SQuAD-format data file: the
arithmetic of the official script for the data file's "version" (KorQuAD 1.0, SQuAD v1.1 or v2.0), as
mecab_bert/tasks/squad_metrics.py describes.

    python evaluate_squad.py KorQuAD_v1.0_dev.json predictions.json
    python evaluate_squad.py dev-v2.0.json predictions.json --na_prob_file null_odds.json
"""

from __future__ import annotations

import json

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.tasks import squad_metrics


@click.command(cls=Command)
@flag_options(squad_metrics.EvaluateFlags)
def main(**values) -> None:
    """Prints the official scores of PRED_FILE ({question id: answer}) against DATA_FILE as JSON."""
    with user_errors():
        scores = squad_metrics.evaluate_to_file(squad_metrics.EvaluateFlags(**values))
    click.echo(json.dumps(scores))


if __name__ == "__main__":
    main()
