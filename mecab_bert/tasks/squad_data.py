# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Reading a SQuAD-format file, the one set of rules for evaluate_squad.py and run_squad.py: UTF-8 (a BOM
allowed), a "version" string, data[].paragraphs[].qas[] with a unique string "id" and "answers" [{"text": ...}];
every problem is one InputError naming the file and the field's path (json_fields), e.g. `dev.json:
data[3].paragraphs[0].qas[2].answers[0].text must be a string, not 7 (question 'q1')`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mecab_bert.json_fields import Place, field, load_json
from text_input import InputError

SQUAD_V2_VERSION = "v2.0"
KORQUAD_V1_PREFIX = "KorQuAD_v1.0"

@dataclass(frozen=True)
class Question:
    """One question of a SQuAD-format file: its id, its gold answer texts (empty when unanswerable), where it lies,
    and its object as read (run_squad reads the question text and the answer starts from it)."""

    id: str
    answers: tuple[str, ...]
    place: Place
    record: dict = dataclasses.field(repr=False)


@dataclass(frozen=True)
class Paragraph:
    """A paragraph: where it lies, its object as read (run_squad reads its "context"), and its questions."""

    place: Place
    record: dict = dataclasses.field(repr=False)
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class SquadData:
    """A checked SQuAD-format object: its source (file name), "version", paragraphs in file order, and the object."""

    source: str
    version: str
    paragraphs: tuple[Paragraph, ...]
    data: dict = dataclasses.field(repr=False)

    @property
    def questions(self) -> list[Question]:
        return [question for paragraph in self.paragraphs for question in paragraph.questions]


def parse_squad(data: Any, source: str = "data") -> SquadData:
    """Checks a SQuAD-format object ({"version": str, "data": [{"paragraphs": [{"qas": [...]}]}]}) and reads it.
    Every question needs a string "id", unique in the data, and "answers": [{"text": str}, ...] (empty when it
    has no answer). Raises InputError naming `source`, the field's path and the question id."""
    top = Place(source)
    if isinstance(data, dict) and "version" not in data:
        # The version picks the metric: without it a score could silently be the wrong one.
        raise top.at("version").error('is missing: it names the metric ("KorQuAD_v1.0_dev", "1.1" or "v2.0")')
    version = field(data, "version", str, top)
    first_place: dict[str, Place] = {}
    paragraphs = []
    for a, article in enumerate(field(data, "data", list, top)):
        article_place = top.at("data", a)
        for p, paragraph in enumerate(field(article, "paragraphs", list, article_place)):
            paragraph_place = article_place.at("paragraphs", p)
            questions = []
            for q, qa in enumerate(field(paragraph, "qas", list, paragraph_place)):
                place = paragraph_place.at("qas", q)
                qid = field(qa, "id", str, place)
                if qid in first_place:
                    raise InputError(f"{source}: question id {qid!r} appears twice: {first_place[qid].path} and "
                                     f"{place.path} (scores and predictions are keyed by id)")
                place = first_place[qid] = place.of_question(qid)
                answers = field(qa, "answers", list, place)
                texts = tuple(field(answer, "text", str, place.at("answers", k)) for k, answer in enumerate(answers))
                questions.append(Question(qid, texts, place, qa))
            paragraphs.append(Paragraph(paragraph_place, paragraph, tuple(questions)))
    return SquadData(source, version, tuple(paragraphs), data)


def read_squad_file(path: str) -> SquadData:
    """A SQuAD-format file, read and checked (see load_json and parse_squad): the reader of both scripts."""
    return parse_squad(load_json(path), path)
