# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_ner.py's scores, always on the gold characters: entity-level precision, recall and F1 (exact span and type;
seqeval's strict IOB2 numbers), KLUE's character-level macro F1, and the oracle: how much of the gold a model could
score at best once labels go to tokens and back, by this project's rule and by KLUE-baseline's.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import tokenization
from mecab_bert.tasks.ner_data import (
    OUTSIDE,
    Entity,
    Sentence,
    character_tag_ids,
    decode_entities,
    entity_labels,
    tag_names,
    token_tags,
)


def _percent(part: float, whole: float) -> float:
    """100 part / whole; 0.0 when whole is 0 (seqeval's and scikit-learn's zero_division default)."""
    return 100.0 * part / whole if whole else 0.0


def _f1(correct: int, gold: int, predicted: int) -> float:
    """F1 x 100 = 2 tp / (2 tp + fp + fn): the harmonic mean of precision and recall, 0.0 when both are 0."""
    return _percent(2 * correct, gold + predicted)


def entity_scores(gold: Sequence[Sequence[Entity]], predicted: Sequence[Sequence[Entity]]) -> dict[str, float]:
    """Entity-level scores x 100 over sentences (gold[i] and predicted[i]: one sentence's entities): an entity is right
    when its span and type both match a gold one exactly. precision, recall and f1 (micro: over all entities),
    macro_f1 (the mean over the types in gold or predictions) and f1_TYPE for each of them: seqeval's
    classification_report on the entities' character IOB2 tags (mode="strict", scheme=IOB2), zero_division 0."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    counts: dict[str, collections.Counter] = {"gold": collections.Counter(), "predicted": collections.Counter(),
                                              "correct": collections.Counter()}
    for gold_entities, predicted_entities in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_entities), set(predicted_entities)
        counts["gold"].update(entity.label for entity in gold_set)
        counts["predicted"].update(entity.label for entity in predicted_set)
        counts["correct"].update(entity.label for entity in gold_set & predicted_set)
    total = {name: sum(counter.values()) for name, counter in counts.items()}
    per_type = {label: _f1(counts["correct"][label], counts["gold"][label], counts["predicted"][label])
                for label in sorted(counts["gold"].keys() | counts["predicted"].keys())}
    return {"precision": _percent(total["correct"], total["predicted"]),
            "recall": _percent(total["correct"], total["gold"]),
            "f1": _f1(total["correct"], total["gold"], total["predicted"]),
            "macro_f1": float(np.mean(list(per_type.values()))) if per_type else 0.0,
            **{f"f1_{label}": f1 for label, f1 in per_type.items()}}


def klue_character_tags(sentence: Sentence, entities: Sequence[Entity], tags: Sequence[str]) -> np.ndarray:
    """int64 [C + 2]: the tag indices KLUE-baseline scores for a sentence: its characters but spaces (KLUE's
    `original_clean_labels`), between the O of [CLS] and of [SEP], which it scores too (a prediction of spans
    predicts O there)."""
    ids = character_tag_ids(len(sentence.text), entities, tags)
    kept = np.fromiter(map(ord, sentence.text), dtype=np.int64, count=len(sentence.text)) != ord(" ")
    outside = tags.index(OUTSIDE)
    return np.concatenate([[outside], ids[kept], [outside]])


def char_macro_f1(sentences: Sequence[Sentence], predicted: Sequence[Sequence[Entity]],
                  labels: Sequence[str] | None = None) -> float:
    """KLUE's character-level macro F1 x 100, as KLUE-baseline's klue_ner_char_macro_f1 computes it: scikit-learn's
    f1_score(gold, predicted, labels=every tag, average="macro", zero_division=True) over the characters of all
    sentences (klue_character_tags). Every tag counts, O too, despite the name's "except O"; a tag neither side has
    scores 1 (zero_division). labels: the entity types (KLUE's six, so that an absent one scores as KLUE's does);
    None: those of the gold and predicted entities. Not reproduced: KLUE-baseline also drops the characters past
    max_seq_length from both sides; run_ner predicts every character."""
    if len(sentences) != len(predicted):
        raise ValueError(f"{len(sentences)} sentences but {len(predicted)} predicted")
    if labels is None:
        labels = sorted({e.label for entities in predicted for e in entities} | set(entity_labels(sentences)))
    tags = tag_names(labels)
    gold = np.concatenate([klue_character_tags(s, s.entities, tags) for s in sentences] or [[]]).astype(np.int64)
    guess = np.concatenate([klue_character_tags(s, p, tags)
                            for s, p in zip(sentences, predicted, strict=True)] or [[]]).astype(np.int64)
    correct = np.bincount(gold[gold == guess], minlength=len(tags))
    both = np.bincount(gold, minlength=len(tags)) + np.bincount(guess, minlength=len(tags))
    f1 = np.divide(2.0 * correct, both, out=np.ones(len(tags)), where=both > 0)  # 1 where neither side has the tag
    return 100.0 * float(f1.mean())


@dataclass(frozen=True)
class FirstCharacterTags:
    """KLUE-baseline's token labels for a sentence: `ids` int64 [N] tag indices; `unk_words` the white-space words
    that hold an [UNK], whose tokens all took the word's first tag."""

    ids: np.ndarray
    unk_words: int


def first_character_tags(sentence: Sentence, tokens: Sequence[tokenization.Token], tags: Sequence[str]
                         ) -> FirstCharacterTags:
    """The token tags KLUE-baseline's KlueNERProcessor._create_examples gives (klue_baseline/data/klue_ner.py), for
    comparison: walking the space-separated words and, in each, its tokens, a token takes the tag of the character
    KLUE's count reaches, the count going on by the token's length without "##" (the characters of the sentence but
    its spaces); a token that is nothing but "##" is O; every token of a word that holds an [UNK] takes the tag of the
    word's first character, and the count then goes on by the word's length. Here the tokens are those of the whole
    sentence (the model's input), grouped by the word they start in; KLUE tokenizes word by word, which is the same
    for Google's tokenizer but may not be for MeCab."""
    tags = list(tags)
    clean = klue_character_tags(sentence, sentence.entities, tags)[1:-1]
    outside = tags.index(OUTSIDE)
    ids = np.full(len(tokens), outside, dtype=np.int64)
    count = token = word_start = unk_words = 0
    for word in sentence.text.split(" "):
        word_end = word_start + len(word)
        first = token
        while token < len(tokens) and tokens[token][1] < word_end:
            token += 1
        unknown = any(piece == tokenization.UNK_TOKEN for piece, _, _ in tokens[first:token])
        for k in range(first, token):
            piece = tokens[k][0].replace(tokenization.CONTINUATION, "")
            if piece:
                # KLUE would fail with an IndexError where its count outruns the characters; here the token is O.
                ids[k] = clean[count] if count < len(clean) else outside
                count += 0 if unknown else len(piece)
        count += len(word) if unknown else 0
        unk_words += unknown
        word_start = word_end + 1
    return FirstCharacterTags(ids, unk_words)


@dataclass(frozen=True)
class RuleScores:
    """The scores of the entities that one labelling rule brings back from tokens: entity_scores, char_macro_f1."""

    entity: dict[str, float]
    char_macro_f1: float


@dataclass(frozen=True)
class OracleResult:
    """Gold entities -> token tags -> decode_entities -> characters, with no model: the best any model can score.

    entities: the gold entities; tokens: the sentences' tokens; cut / uncovered: entities whose tokens do not frame
    them (TokenTags); unk_words: white-space words holding an [UNK]. offsets: this project's rule (token_tags);
    first_character: KLUE-baseline's (first_character_tags), decoded the same way."""

    sentences: int
    entities: int
    tokens: int
    cut: int
    uncovered: int
    unk_words: int
    offsets: RuleScores
    first_character: RuleScores

    @property
    def uncut_percent(self) -> float:
        """The share of entities no token cuts (no boundary strictly inside a token), x 100."""
        return _percent(self.entities - self.cut, self.entities)

    @property
    def framed_percent(self) -> float:
        """The share of entities both of whose boundaries are token boundaries, x 100: those that come back exactly."""
        return _percent(self.entities - self.cut - self.uncovered, self.entities)


def oracle(sentences: Sequence[Sentence], tokenizer: tokenization.FullTokenizer,
           labels: Sequence[str] | None = None) -> OracleResult:
    """The oracle of a data set and a tokenizer (see OracleResult). labels: the entity types, as char_macro_f1's;
    None: those of the sentences."""
    labels = tuple(labels) if labels is not None else entity_labels(sentences)
    tags = tag_names(labels)
    by_offsets, by_first_character = [], []
    tokens = cut = uncovered = unk_words = 0
    for sentence in sentences:
        pieces = tokenizer.tokenize_with_offsets(sentence.text)
        starts = np.array([start for _, start, _ in pieces], dtype=np.int64)
        ends = np.array([end for _, _, end in pieces], dtype=np.int64)
        gold = token_tags(sentence, starts, ends, tags)
        klue = first_character_tags(sentence, pieces, tags)
        by_offsets.append(decode_entities(gold.ids, starts, ends, tags))
        by_first_character.append(decode_entities(klue.ids, starts, ends, tags))
        tokens += len(pieces)
        cut += gold.cut
        uncovered += gold.uncovered
        unk_words += klue.unk_words
    gold_entities = [sentence.entities for sentence in sentences]

    def scores(predicted: list[tuple[Entity, ...]]) -> RuleScores:
        return RuleScores(entity_scores(gold_entities, predicted), char_macro_f1(sentences, predicted, labels))

    return OracleResult(len(sentences), sum(map(len, gold_entities)), tokens, cut, uncovered, unk_words,
                        scores(by_offsets), scores(by_first_character))
