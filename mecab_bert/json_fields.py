# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Reading JSON data files by the one set of rules every task's reader follows (SQuAD, KLUE's classification files,
JSON-lines entities): a UTF-8 file (a BOM allowed) whose keys are unique, each field checked to be of its JSON kind,
and every problem one InputError naming the file and the field's path, e.g. `dev.json: data[3].paragraphs[0].qas[2]
.answers[0].text must be a string, not 7 (question 'q1')`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mecab_bert.cli import describe_error
from mecab_bert.files import read_json, shown, unique_keys
from text_input import InputError

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array",
               dict: "an object"}
_REQUIRED = object()


def describe_json(value: Any) -> str:
    """A JSON value as an error message shows it: a short scalar as written, an array or an object by its kind."""
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    return shown(value, 40)


@dataclass(frozen=True)
class Place:
    """Where a value lies in a JSON file, for messages: `dev.json: data[3].paragraphs[0].qas[2].answers[0]`."""

    source: str
    path: str = ""
    question: str | None = None  # the id of the question the value belongs to, once it is known

    def at(self, *steps: str | int) -> Place:
        """The place of a field (a name) or an array item (an index) of the value here, or of one inside them."""
        path = self.path
        for step in steps:
            path = f"{path}[{step}]" if isinstance(step, int) else f"{path}.{step}" if path else step
        return Place(self.source, path, self.question)

    def of_question(self, qid: str) -> Place:
        return Place(self.source, self.path, qid)

    def describe(self, problem: str) -> str:
        """`dev.json: data[3].paragraphs[0].qas[2].answers[0] PROBLEM (question 'q1')`: for errors and warnings."""
        about = f" (question {self.question!r})" if self.question is not None else ""
        return f"{self.source}: {self.path or 'the top level'} {problem}{about}"

    def error(self, problem: str) -> InputError:
        return InputError(self.describe(problem))


def _is_kind(value: Any, kind: type) -> bool:
    """Whether `value` is a JSON `kind`: float takes any number; true and false are bools alone, never numbers, and
    0 and 1 never bools."""
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def field(record: Any, name: str, kind: type | tuple[type, ...], place: Place, default: Any = _REQUIRED) -> Any:
    """record[name], checked to be a JSON `kind` (str, int, float: any number, bool, list or dict) or one of a tuple
    of them, where `place` is where `record` lies: the one reader of a JSON field for every task's data. InputError
    naming the field's path if `record` is not an object, the field is missing (unless a `default` is given) or of
    another kind (`data[0].id must be a string or an integer, not true`)."""
    if not isinstance(record, dict):
        raise place.error(f"must be an object, not {describe_json(record)}")
    if name not in record:
        if default is not _REQUIRED:
            return default
        raise place.at(name).error("is missing")
    value = record[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not any(_is_kind(value, one) for one in kinds):
        raise place.at(name).error(f"must be {' or '.join(_KIND_NAMES[one] for one in kinds)}, not "
                                   f"{describe_json(value)}")
    return value


def load_json(path: str) -> Any:
    """The JSON value in a UTF-8 file (a leading BOM allowed); InputError naming the file (and line) otherwise.
    A key given twice (a prediction id, a question's "answers") is an error: json would keep the last one without
    a word. Checking costs about 4 ms on KorQuAD dev (25 -> 29 ms to parse its 3.9 MB)."""
    try:
        return read_json(path, object_pairs_hook=unique_keys)
    except OSError as error:
        raise InputError(describe_error(error)) from None
