# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_ner.py's data: sentences with entities as character spans, read from KLUE-NER, CoNLL-2003 or JSON lines (a new
format is one NerProcessor subclass and one entry in `processors`), and the bridge between characters and tokens:
entity spans -> one IOB2 tag a token (token_tags), a token's tags -> entity spans (decode_entities).

Every entity stays in characters: a model's predictions come back to exactly the characters its tokens cover, and an
entity whose boundary falls inside a token is counted (TokenTags.cut), never moved to the token's edge.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from mecab_bert.files import check_input, listing, shown, unique_keys
from mecab_bert.json_fields import Place, field
from text_input import InputError, read_utf8_lines
from tokenization import SURROGATES

OUTSIDE = "O"


@dataclass(frozen=True)
class Entity:
    """A named entity: text[start:end] (character offsets, end exclusive) is of type `label` ("PS")."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Sentence:
    """A text and its entities, sorted and non-overlapping. `source` ("path:line", where the sentence opens) is for
    messages only: two sentences read from different files compare equal."""

    id: str
    text: str
    entities: tuple[Entity, ...]
    source: str = dataclasses.field(default="", compare=False)


@dataclass(frozen=True)
class Tag:
    """An IOB tag read: prefix "B", "I" or "O", and the entity type ("" for O)."""

    prefix: str
    label: str

    def __str__(self) -> str:
        return self.prefix if self.prefix == OUTSIDE else f"{self.prefix}-{self.label}"


MAX_LABEL_LENGTH = 100


def label_problem(label: str) -> str | None:
    """What keeps `label` from being an entity type ("is empty"), or None. A type becomes the tag names B-<label> and
    I-<label>: keys of config.json's id2label and the start of an eval_results.txt line (f1_<label> = ...), so it
    holds a visible character, nothing invisible or that ends or splits a line (control and format characters,
    U+2028/U+2029), and is a name, not a text (at most MAX_LABEL_LENGTH characters)."""
    if not label.strip():
        return "is empty"
    if len(label) > MAX_LABEL_LENGTH:
        return f"is {len(label)} characters long: an entity type is a name of at most {MAX_LABEL_LENGTH}"
    odd = next((c for c in label if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if odd is not None:
        return f"holds U+{ord(odd):04X}, a control or format character (invisible) or a line break"
    return None


def parse_tag(text: str) -> Tag | None:
    """"B-PS" -> Tag("B", "PS"), "O" -> Tag("O", ""); None when `text` is no IOB tag ("PS", "E-PS", "B-", "b-PS") or
    its type is no label (label_problem: "B- ", "B-A\\x01")."""
    if text == OUTSIDE:
        return Tag(OUTSIDE, "")
    prefix, dash, label = text.partition("-")
    if prefix in ("B", "I") and dash and label_problem(label) is None:
        return Tag(prefix, label)
    return None


def tag_entities(tags: Sequence[Tag], iob1: bool = False) -> list[Entity]:
    """The entities of a tag sequence as positions into it: Entity(first, last + 1, type).

    An entity opens at B-X and goes on over the I-X right after it. An I-X that continues no entity of type X (after O,
    after another type) opens none: strict IOB2, as seqeval's mode="strict" reads a model's output, so a prediction
    scores only where it is well formed. iob1=True: such an I-X opens an entity, CoNLL-2003's IOB1 (there B-X appears
    only between two adjacent entities of one type); IOB2 reads the same either way, as it never has such an I-X.
    ["B-PS", "I-PS", "O", "I-LC", "I-LC"] -> [Entity(0, 2, "PS")], with iob1 also Entity(3, 5, "LC").
    """
    entities = []
    start, label = 0, None  # label: the type of the entity open at the previous tag, None when none is
    for position, tag in enumerate(tags):
        if tag.prefix == "I" and tag.label == label:
            continue
        if label is not None:
            entities.append(Entity(start, position, label))
        opens = tag.prefix == "B" or (tag.prefix == "I" and iob1)
        start, label = position, tag.label if opens else None
    if label is not None:
        entities.append(Entity(start, len(tags), label))
    return entities


def entity_labels(sentences: Sequence[Sentence]) -> tuple[str, ...]:
    """The entity types present, sorted: the labels of a format that does not fix them (jsonl)."""
    return tuple(sorted({entity.label for sentence in sentences for entity in sentence.entities}))


def tag_names(labels: Sequence[str]) -> tuple[str, ...]:
    """The model's output classes, in index order: O, then B- and I- of each type in `labels`' order.
    ("PS", "LC") -> ("O", "B-PS", "I-PS", "B-LC", "I-LC")."""
    return (OUTSIDE, *(f"{prefix}-{label}" for label in labels for prefix in ("B", "I")))


def check_labels(sentences: Sequence[Sentence], labels: Sequence[str]) -> None:
    """InputError naming the sentence's file and line when one has an entity type outside `labels` (a dev file's type
    the training data never had: the model has no class for it)."""
    known = set(labels)
    for sentence in sentences:
        for entity in sentence.entities:
            if entity.label not in known:
                raise InputError(f"{sentence.source}: unknown entity type {shown(entity.label)} (sentence "
                                 f"{shown(sentence.id)}); the types are {listing(labels)}")


def _tag_index(tags: Sequence[str]) -> dict[str, int]:
    index = {tag: i for i, tag in enumerate(tags)}
    if OUTSIDE not in index:
        raise ValueError(f"the tags {', '.join(tags)} have no {OUTSIDE}")
    return index


def _type_ids(index: Mapping[str, int], label: str) -> tuple[int, int]:
    """The indices of B-label and I-label; ValueError when the tags lack them."""
    try:
        return index[f"B-{label}"], index[f"I-{label}"]
    except KeyError:
        raise ValueError(f"entity type {label!r} is not among the tags (see check_labels)") from None


def character_tag_ids(text_length: int, entities: Sequence[Entity], tags: Sequence[str]) -> np.ndarray:
    """int64 [text_length]: the IOB2 tag index (into `tags`) of each character: B-X at an entity's first character,
    I-X on the rest of it, O elsewhere."""
    index = _tag_index(tags)
    ids = np.full(text_length, index[OUTSIDE], dtype=np.int64)
    for entity in entities:
        begin, inside = _type_ids(index, entity.label)
        ids[entity.start] = begin
        ids[entity.start + 1:entity.end] = inside
    return ids


@dataclass(frozen=True)
class TokenTags:
    """A sentence's gold tags on its tokens: `ids` int64 [N] indices into the tags. Entities whose tokens do not frame
    them exactly, counted, never moved: `cut`, a boundary inside a token; `uncovered`, a boundary beside a character
    no token covers (KLUE's dev set has two entities that start with a space, " 24살")."""

    ids: np.ndarray
    cut: int
    uncovered: int = 0


def _inside_token(position: int, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether a character boundary falls strictly inside a token (offsets sorted, tokens disjoint)."""
    token = int(np.searchsorted(starts, position)) - 1  # the last token that starts before `position`
    return token >= 0 and ends[token] > position


def token_tags(sentence: Sentence, starts: np.ndarray, ends: np.ndarray, tags: Sequence[str]) -> TokenTags:
    """The IOB2 tag of each token (offsets int64 [N] into sentence.text, as FullTokenizer.encode_with_offsets gives
    them): B-X when an entity of type X starts at the token's first character, I-X when its first character lies
    further inside that entity, O otherwise. A token takes its first character's tag, so an entity that starts inside
    a token gets no B- (decoded strictly, it is lost) and one that ends inside a token takes all of it: such entities
    are counted (`cut`, `uncovered`), never moved to a token's edge."""
    index = _tag_index(tags)
    ids = np.full(len(starts), index[OUTSIDE], dtype=np.int64)
    cut = uncovered = 0
    for entity in sentence.entities:
        begin, inside = _type_ids(index, entity.label)
        first, last = np.searchsorted(starts, [entity.start, entity.end])  # the tokens that start in the entity
        starts_here = first < len(starts) and starts[first] == entity.start
        ids[first:last] = inside
        if starts_here:
            ids[first] = begin
        if _inside_token(entity.start, starts, ends) or _inside_token(entity.end, starts, ends):
            cut += 1
        else:
            after = np.searchsorted(ends, entity.end)
            uncovered += not (starts_here and after < len(ends) and ends[after] == entity.end)
    return TokenTags(ids, cut, uncovered)


def decode_entities(tag_ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, tags: Sequence[str]
                    ) -> tuple[Entity, ...]:
    """The entities a model's token tags (int [N] indices into `tags`) give, in characters: from the first character
    of an entity's first token to the last of its last, sorted and non-overlapping. Strict IOB2 (tag_entities): an I-
    that continues no entity of its type starts none, as seqeval's strict mode scores it, rather than being guessed
    into an entity."""
    parsed = [parse_tag(tag) for tag in tags]
    kept: list[Entity] = []
    for span in tag_entities([parsed[i] for i in np.asarray(tag_ids).tolist()]):
        entity = Entity(int(starts[span.start]), int(ends[span.end - 1]), span.label)
        # Tokens may share characters: with a Jamo vocab (Google's uncased) each piece of a syllable has the
        # syllable's span, so B-PS and B-LC on two pieces of one syllable give two entities over the same character.
        # A character holds one entity (a Sentence's entities never overlap; character_tag_ids gives a character one
        # tag), so one that overlaps the entity kept before it is dropped: that one opened first, as a gold entity
        # opens on its first character's first token (token_tags). Starts never decrease, so no other can overlap.
        if not kept or entity.start >= kept[-1].end:
            kept.append(entity)
    return tuple(kept)


# --- formats ---------------------------------------------------------------------------------------------


class Line(NamedTuple):
    number: int  # 1-based
    text: str


def _numbered_lines(path: str) -> list[Line]:
    check_input(path)
    return [Line(number, text) for number, text in enumerate(read_utf8_lines(path), start=1)]


def _unique_ids(sentences: Sequence[Sentence]) -> None:
    """InputError when two sentences share an id (predictions are written and matched by id)."""
    first: dict[str, Sentence] = {}
    for sentence in sentences:
        if sentence.id in first:
            raise InputError(f"{sentence.source}: sentence id {shown(sentence.id)} appears twice (first at "
                             f"{first[sentence.id].source})")
        first[sentence.id] = sentence


class NerProcessor:
    """A data format: its file names and entity types; `read` turns a file of it into checked Sentences or raises one
    InputError line naming the file and line."""

    name: ClassVar[str]  # for messages: "KLUE-NER"
    labels: ClassVar[tuple[str, ...] | None] = None  # the entity types, in tag order; None: the training data's
    files: ClassVar[Mapping[str, str]]  # split (train, dev, test) -> the format's usual file name

    def file_path(self, data_dir: str | os.PathLike, split: str) -> str:
        return os.path.join(data_dir, self.files[split])

    def read(self, path: str | os.PathLike) -> list[Sentence]:
        path = os.fspath(path)
        sentences = self.read_sentences(path)
        if not sentences:
            raise InputError(f"{path}: no sentences in it (a {self.name} file)")
        _unique_ids(sentences)
        return sentences

    def read_sentences(self, path: str) -> list[Sentence]:
        raise NotImplementedError

    def tag(self, text: str, where: str) -> Tag:
        """A tag field read: InputError when it is no IOB tag or its type is not one of the format's."""
        tag = parse_tag(text)
        if tag is None:
            raise InputError(f"{where}: {shown(text)} is not an IOB tag (O, B-TYPE or I-TYPE)")
        if self.labels is not None and tag.label and tag.label not in self.labels:
            raise InputError(f"{where}: unknown entity type in {shown(text)}; {self.name}'s types are "
                             f"{', '.join(self.labels)}")
        return tag


def _blocks(lines: Sequence[Line]) -> Iterator[list[Line]]:
    """Runs of non-blank lines. A line holding a lone tab is blank too: KLUE-baseline splits sentences at
    `\\n\\t?\\n`."""
    block: list[Line] = []
    for line in lines:
        if line.text in ("", "\t"):
            if block:
                yield block
            block = []
        else:
            block.append(line)
    if block:
        yield block


# A <entity:TYPE> mark of KLUE's sentence text; an entity may hold a colon ("<10:30:TI>").
_MARK = re.compile(r"<([^<>]+?):([A-Z]+)>")


def with_marks(text: str, entities: Sequence[Entity]) -> str:
    """`text` with KLUE's marks: "<경찰:OG>은 ..."."""
    pieces, position = [], 0
    for entity in entities:
        pieces += [text[position:entity.start], "<", text[entity.start:entity.end], f":{entity.label}>"]
        position = entity.end
    return "".join([*pieces, text[position:]])


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class KlueNerProcessor(NerProcessor):
    """KLUE-NER (KLUE-benchmark/KLUE, klue-ner-v1.1): one character and its tag a line (a space is a line of its own,
    tagged O), a blank line between sentences, each opened by `## <id><TAB><text with <entity:TYPE> marks>`; the `##`
    lines before the first sentence are comments. Tags are strict IOB2: an I- after O or after another type is an
    error (KLUE's data has none), reported with how many the file holds."""

    name = "KLUE-NER"
    labels = ("PS", "LC", "OG", "DT", "TI", "QT")  # KLUE-baseline's order
    # KLUE publishes no test labels or file: --do_predict reads dev, as run_classifier's KLUE tasks do.
    files: ClassVar[Mapping[str, str]] = {"train": "klue-ner-v1.1_train.tsv", "dev": "klue-ner-v1.1_dev.tsv",
                                          "test": "klue-ner-v1.1_dev.tsv"}

    def read_sentences(self, path: str) -> list[Sentence]:
        sentences: list[Sentence] = []
        loose: list[str] = []  # where each I- continues no entity
        for block in _blocks(_numbered_lines(path)):
            opening = next((i for i, line in enumerate(block) if not line.text.startswith("##")), len(block))
            heads, body = block[:opening], block[opening:]
            late = next((line for line in body if line.text.startswith("##")), None)
            if late is not None:
                raise InputError(f"{path}:{late.number}: a ## line inside a sentence; a blank line ends a sentence "
                                 f"before the next one opens")
            if sentences and (len(heads) > 1 or not body):
                raise InputError(f"{path}:{heads[0].number}: a ## line that opens no sentence (comments come before "
                                 f"the first sentence; a sentence's ## line is followed by its characters)")
            if not body:
                continue  # comments
            if not heads:
                raise InputError(f"{path}:{block[0].number}: characters without a `## <id><TAB><text>` line "
                                 f"opening their sentence")
            sentences.append(self._sentence(path, heads[-1], body, loose))
        if loose:
            raise InputError(f"{loose[0]} (I- tags that continue no entity in the file: {len(loose)}; {self.name} "
                             f"tags are strict IOB2, where an entity opens with B-)")
        return sentences

    def _sentence(self, path: str, head: Line, body: Sequence[Line], loose: list[str]) -> Sentence:
        sentence_id, tab, marked = head.text.removeprefix("##").partition("\t")
        sentence_id = sentence_id.strip(" ")
        if not tab or not sentence_id:
            raise InputError(f"{path}:{head.number}: a sentence opens with `## <id><TAB><text>`, not "
                             f"{shown(head.text)}")
        characters, tags = [], []
        previous = Tag(OUTSIDE, "")
        for line in body:
            character, tab, tag_text = line.text.rpartition("\t")  # the last tab: the character may be one
            if not tab or len(character) != 1:
                raise InputError(f"{path}:{line.number}: a character line is one character, a tab and its tag, not "
                                 f"{shown(line.text)}")
            tag = self.tag(tag_text, f"{path}:{line.number}")
            if tag.prefix == "I" and (previous.prefix == OUTSIDE or previous.label != tag.label):
                loose.append(f"{path}:{line.number}: {tag} after {previous}")
            characters.append(character)
            tags.append(tag)
            previous = tag
        text = "".join(characters)
        entities = tuple(tag_entities(tags))
        # The marks are checked against the tags where they agree (all of KLUE's dev set); where they do not, the tags
        # decide and the characters must still be the text without its marks.
        unmarked = _MARK.sub(r"\1", marked)
        if with_marks(text, entities) != marked and unmarked != text:
            at = _first_difference(text, unmarked)
            raise InputError(f"{path}:{head.number}: the characters (lines {body[0].number}-{body[-1].number}) "
                             f"differ from the text without its <entity:TYPE> marks at character {at + 1}: "
                             f"{shown(text[at:at + 20])} against {shown(unmarked[at:at + 20])}")
        return Sentence(sentence_id, text, entities, f"{path}:{head.number}")


def _fields(text: str) -> list[str]:
    """A CoNLL line's fields: split at spaces and tabs alone (str.split would also split a word at a no-break space
    or another Unicode space, which a word may hold)."""
    return [field for field in re.split(r"[ \t]+", text) if field]


class Conll2003Processor(NerProcessor):
    """CoNLL-2003: `word POS chunk NER` a line (space-separated; the NER tag is the last field), a blank line between
    sentences, `-DOCSTART-` lines skipped. Tags are IOB1, the original's (an I- opens an entity unless it continues
    one of its type; B- only between two adjacent entities of one type), or IOB2; tag_entities(iob1=True) reads both.
    A sentence's text is its words joined by single spaces; its id the line of its first word."""

    name = "CoNLL-2003"
    labels = ("PER", "ORG", "LOC", "MISC")  # the order of Hugging Face's conll2003
    files: ClassVar[Mapping[str, str]] = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}

    def read_sentences(self, path: str) -> list[Sentence]:
        sentences: list[Sentence] = []
        width: Line | None = None  # the first word line: every word line has its number of fields
        words: list[Line] = []
        for line in [*_numbered_lines(path), Line(0, "")]:  # a blank line after the last closes its sentence
            fields = _fields(line.text)
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append(self._sentence(path, words))
                words = []
                continue
            if len(fields) < 2:
                raise InputError(f"{path}:{line.number}: 1 field; a word line is `word ... NER-tag`, its fields "
                                 f"separated by spaces or tabs")
            width = width or line
            if len(fields) != len(_fields(width.text)):
                raise InputError(f"{path}:{line.number}: {len(fields)} fields separated by spaces or tabs; a word "
                                 f"line has as many as line {width.number} ({len(_fields(width.text))})")
            words.append(line)
        return sentences

    def _sentence(self, path: str, words: Sequence[Line]) -> Sentence:
        fields = [_fields(line.text) for line in words]
        tags = [self.tag(word[-1], f"{path}:{line.number}") for line, word in zip(words, fields, strict=True)]
        starts = np.cumsum([0, *(len(word[0]) + 1 for word in fields)])  # where each word starts, and the end + 1
        entities = tuple(Entity(int(starts[span.start]), int(starts[span.end]) - 1, span.label)
                         for span in tag_entities(tags, iob1=True))
        return Sentence(str(words[0].number), " ".join(word[0] for word in fields), entities,
                        f"{path}:{words[0].number}")


class ConllProcessor(Conll2003Processor):
    """CoNLL-2003's layout with any entity types (those of the training data): other corpora in its columns."""

    name = "CoNLL"
    labels = None


def _unicode(record: Any, name: str, kind: type | tuple[type, ...], place: Place) -> Any:
    """field(), a string refused when it holds a lone surrogate: Python's json reads a "\\ud800" escape into one,
    which no UTF-8 output (test_predictions.jsonl, config.json) can write, so it fails here and not after training."""
    value = field(record, name, kind, place)
    surrogate = SURROGATES.search(value) if isinstance(value, str) else None
    if surrogate is not None:
        raise place.at(name).error(f"holds a lone surrogate (U+{ord(surrogate.group()):04X}) at character "
                                   f"{surrogate.start() + 1}: not Unicode text, which UTF-8 cannot write")
    return value


class JsonlProcessor(NerProcessor):
    """JSON lines, as annotation tools export them: one `{"id": ..., "text": ..., "entities": [{"start", "end",
    "label"}]}` a line (blank lines skipped); offsets in characters (code points), end exclusive; an entity's optional
    "text" must be text[start:end]. A sentence without entities has "entities": []."""

    name = "JSON lines"
    files: ClassVar[Mapping[str, str]] = {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"}

    def read_sentences(self, path: str) -> list[Sentence]:
        return [self._sentence(line, f"{path}:{line.number}") for line in _numbered_lines(path) if line.text.strip()]

    def _sentence(self, line: Line, where: str) -> Sentence:
        try:
            record = json.loads(line.text, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not valid JSON (column {error.colno}: {error.msg})") from None
        except RecursionError:
            raise InputError(f"{where}: not valid JSON (nested too deeply)") from None
        except ValueError as error:  # unique_keys: a key twice
            raise InputError(f"{where}: {error}") from None
        if not isinstance(record, dict):
            raise InputError(f"{where}: a line is a JSON object, not {shown(record, 40)}")
        place = Place(where)
        sentence_id = str(_unicode(record, "id", (str, int), place))
        text = _unicode(record, "text", str, place)
        entities = sorted((self._entity(item, text, place.at("entities", k))
                           for k, item in enumerate(field(record, "entities", list, place))),
                          key=lambda entity: (entity.start, entity.end))
        for before, after in itertools.pairwise(entities):
            if after.start < before.end:
                raise InputError(f"{where}: entities {before.start}-{before.end} and {after.start}-{after.end} "
                                 f"overlap")
        return Sentence(sentence_id, text, tuple(entities), where)

    def _entity(self, item: Any, text: str, place: Place) -> Entity:
        start, end = (field(item, name, int, place) for name in ("start", "end"))
        label = _unicode(item, "label", str, place)
        if not 0 <= start < end <= len(text):
            raise place.error(f"start {start}, end {end}: not a span of the text ({len(text)} characters; "
                              f"0 <= start < end)")
        problem = label_problem(label)
        if problem is not None:
            raise place.at("label").error(f"{problem} (a label becomes the tag names B-<label> and I-<label>, in "
                                          f"config.json and eval_results.txt)")
        if "text" in item and _unicode(item, "text", str, place) != text[start:end]:
            raise place.at("text").error(f"{shown(item['text'], 40)} is not the text at {start}-{end}, "
                                         f"{shown(text[start:end], 40)}")
        return Entity(start, end, label)


processors: dict[str, NerProcessor] = {
    "klue-ner": KlueNerProcessor(),
    "conll2003": Conll2003Processor(),
    "conll": ConllProcessor(),
    "jsonl": JsonlProcessor(),
}
