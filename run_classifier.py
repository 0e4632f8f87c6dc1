# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Fine-tunes BERT on sentence and sentence-pair classification (and regression), predicts, and scores.

Google's run_classifier.py: its flags, its `processors` table of data formats (a new data set is one small
DataProcessor subclass and one table entry), its [CLS] a [SEP] b [SEP] layout and `_truncate_seq_pair`. Tasks:

  kornli  KorNLI (natural language inference, Korean)       accuracy
  korsts  KorSTS (semantic textual similarity, regression)  Pearson and Spearman x 100, MSE
  nsmc    NSMC (Naver movie review sentiment)               accuracy, F1
  xnli    Google's XNLI (one language, "zh" as Google)      accuracy
  mnli    GLUE MNLI (matched)                               accuracy
  mrpc    GLUE MRPC                                         accuracy, F1
  cola    GLUE CoLA                                         accuracy, F1, Matthews correlation

Files are tab-separated UTF-8 with no quoting (Google's csv.reader(quotechar=None)); each format checks its
header, field counts, labels and scores, and a bad row is an InputError naming the file and line.
"""

from __future__ import annotations

import sys

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.runs import devices
from mecab_bert.tasks import classification


@click.command(cls=Command)
@flag_options(classification.ClassifierFlags)
def main(**flags) -> None:
    """Fine-tune, evaluate and predict on sentence (pair) classification and regression tasks."""
    with user_errors(devices.TrainingError):
        classification.run(classification.ClassifierFlags(**flags))


if __name__ == "__main__":
    sys.exit(main())
