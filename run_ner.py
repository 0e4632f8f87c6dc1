# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Fine-tunes BERT on named entities, to the character: trains, scores and predicts as run_classifier.py does, with
its flag names. Google's repository never had this script; Hugging Face's examples have run_ner.py.

Formats (`--task_name`), each a small processor in mecab_bert/tasks/ner_data.py's `processors` table:

  klue-ner   KLUE-NER: a character and its tag a line, `## id<TAB>text` opening each sentence
  conll2003  CoNLL-2003: a word and its columns a line, IOB1 or IOB2 tags
  jsonl      JSON lines: {"id", "text", "entities": [{"start", "end", "label"}]}, as annotation tools export

Entities reach the tokens through their exact character offsets and come back from them exactly: an entity whose
boundary falls inside a token is counted and reported, never moved. Scores are on the gold characters: entity
precision, recall and F1 (micro and macro, strict IOB2 as seqeval's) and KLUE's character macro F1. --do_predict
writes test_predictions.jsonl, one sentence a line with its entities as character spans.
"""

from __future__ import annotations

import sys

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.runs import devices
from mecab_bert.tasks import ner


@click.command(cls=Command)
@flag_options(ner.NerFlags)
def main(**flags) -> None:
    """Fine-tune, evaluate and predict named entities, as character spans."""
    with user_errors(devices.TrainingError):
        ner.run(ner.NerFlags(**flags))


if __name__ == "__main__":
    sys.exit(main())
