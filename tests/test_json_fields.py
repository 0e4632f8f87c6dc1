"""mecab_bert/json_fields.py: every task's JSON fields read by one set of rules, each problem one line naming the
file and the field's path."""

import json
import re

import pytest

from mecab_bert import json_fields
from text_input import InputError


def test_field_never_takes_a_boolean_for_a_number_or_the_reverse():
    place = json_fields.Place("f.json", "data[0]", "q0")
    with pytest.raises(InputError, match=re.escape("f.json: data[0].n must be an integer, not true (question 'q0')")):
        json_fields.field({"n": True}, "n", int, place)
    with pytest.raises(InputError, match=re.escape("f.json: data[0].b must be true or false, not 1 (question 'q0')")):
        json_fields.field({"b": 1}, "b", bool, place)
    assert json_fields.field({}, "b", bool, place, default=False) is False
    assert json_fields.describe_json("x" * 50) == '"' + "x" * 36 + "..."


def test_field_takes_one_of_several_kinds():
    """run_ner's JSON lines take a string or an integer id, read by the same field()."""
    place = json_fields.Place("f.jsonl:3")
    assert json_fields.field({"id": 7}, "id", (str, int), place) == 7
    assert json_fields.field({"id": "7"}, "id", (str, int), place) == "7"
    assert json_fields.field({"n": 1.5}, "n", (float, bool), place) == 1.5
    with pytest.raises(InputError, match=re.escape("f.jsonl:3: id must be a string or an integer, not true")):
        json_fields.field({"id": True}, "id", (str, int), place)
    with pytest.raises(InputError, match=re.escape("f.jsonl:3: id must be a string or an integer, not an array")):
        json_fields.field({"id": [7]}, "id", (str, int), place)


def test_load_json_takes_a_bom_and_refuses_a_key_twice(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("\ufeff" + json.dumps({"a": 1}), encoding="utf-8")
    assert json_fields.load_json(str(path)) == {"a": 1}
    path.write_text('{"a": 1, "a": 2}', encoding="utf-8")
    with pytest.raises(InputError, match=re.escape('d.json: key "a" appears twice')):
        json_fields.load_json(str(path))
