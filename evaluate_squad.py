# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The official scores of a predictions file ({question id: answer text}) against a SQuAD-format data file: the
arithmetic of the official script for the data file's "version" (KorQuAD 1.0, SQuAD v1.1 or v2.0), as
mecab_bert/tasks/squad_metrics.py describes. evaluate-v2.0.py's command lines work as they are.

    python evaluate_squad.py KorQuAD_v1.0_dev.json predictions.json
    python evaluate_squad.py dev-v2.0.json predictions.json --na_prob_file null_odds.json
    python evaluate_squad.py dev-v2.0.json predictions.json -n null_odds.json -t 1.0 -o eval.json
"""

from __future__ import annotations

import json

import click

from mecab_bert.cli import OUTPUT_PATH, Command, Option, flag_options, user_errors
from mecab_bert.tasks import squad_metrics


def _refuse_plots(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.BadParameter("precision-recall plots are not drawn here; evaluate-v2.0.py draws them", ctx, param)


@click.command(cls=Command)
@flag_options(squad_metrics.EvaluateFlags)
# evaluate-v2.0.py's other two flags, so that its command lines run or fail in one line: --verbose, which it takes
# and never reads; --out-image-dir, its matplotlib plots, which are refused (the type still names a symlink loop).
@click.option("--verbose", "-v", cls=Option, is_flag=True, hidden=True, expose_value=False)
@click.option("--out-image-dir", "-p", cls=Option, type=OUTPUT_PATH, hidden=True, expose_value=False,
              callback=_refuse_plots)
def main(**values) -> None:
    """Prints the official scores of PRED_FILE ({question id: answer}) against DATA_FILE as JSON."""
    with user_errors():
        scores = squad_metrics.evaluate_to_file(squad_metrics.EvaluateFlags(**values))
    click.echo(json.dumps(scores))


if __name__ == "__main__":
    main()
