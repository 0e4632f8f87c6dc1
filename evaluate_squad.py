# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The official scores of a predictions file ({question id: answer text}) against a SQuAD-format data file.

The metric follows the data file's "version" field, each one the same arithmetic as its official script:
- "KorQuAD_v1.0..." (e.g. "KorQuAD_v1.0_dev"): KorQuAD's `evaluate-v1.0.py`: F1 over characters.
- "v2.0": SQuAD's `evaluate-v2.0.py`: HasAns/NoAns groups, and best thresholds given no-answer probabilities.
- anything else ("1.1"): SQuAD's `evaluate-v1.1.py`: F1 over white-space tokens.

    python evaluate_squad.py KorQuAD_v1.0_dev.json predictions.json
    python evaluate_squad.py dev-v2.0.json predictions.json --na_prob_file null_odds.json

The official scripts disagree on a question without a prediction: v1.1 and KorQuAD score it 0 and divide by
every question; v2.0 leaves it out of every mean (its "total" is the number of answered questions). Either
way "total" is the official denominator; next to the official keys, "missing_predictions" counts the
questions without a prediction and "foreign_predictions" the predictions for ids the data does not have (each
listed on stderr, the first WARNING_LIMIT of them, in the official scripts' words; they ignore foreign ones).

run_squad reads its data files with the same reader (read_squad_file): UTF-8 (a BOM allowed), a "version"
string, data[].paragraphs[].qas[] with a unique string "id" and "answers" [{"text": ...}]; every problem is one
InputError naming the file and the field's path, e.g. `dev.json: data[3].paragraphs[0].qas[2].answers[0].text
must be a string, not 7 (question 'q1')`.
"""

from __future__ import annotations

import json

import click

from mecab_bert.cli import Command, OutputPath, user_errors
from mecab_bert.files import check_not_input, write_json
from mecab_bert.tasks.squad_metrics import evaluate_files


@click.command(cls=Command)
@click.argument("data_file", type=click.Path(dir_okay=False))
@click.argument("pred_file", type=click.Path(dir_okay=False))
@click.option("--na_prob_file", default=None, type=click.Path(dir_okay=False),
              help="SQuAD v2.0 only: {question id: no-answer probability}, for the best thresholds.")
@click.option("--out_file", default=None, type=OutputPath(dir_okay=False),
              help="Also write the scores here.")
def main(data_file: str, pred_file: str, na_prob_file: str | None, out_file: str | None) -> None:
    """Prints the official scores of PRED_FILE ({question id: answer}) against DATA_FILE as JSON."""
    with user_errors():
        if out_file is not None:
            check_not_input(out_file, (data_file, pred_file, na_prob_file), "--out_file")
        scores = evaluate_files(data_file, pred_file, na_prob_file)
        if out_file is not None:
            write_json(out_file, scores)
    click.echo(json.dumps(scores))


if __name__ == "__main__":
    main()
