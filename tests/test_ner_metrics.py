import random

import numpy as np
import pytest
from test_ner_data import KOWIKI_VOCAB, klue_dev

import tokenization
from mecab_bert.tasks import ner_data as nd
from mecab_bert.tasks import ner_metrics as nm
from mecab_bert.tasks.ner_data import Entity, Sentence

KLUE_TYPES = nd.processors["klue-ner"].labels
# KLUE-baseline's KlueNERProcessor.get_labels(): the label indices its metrics see.
KLUE_BASELINE_LABELS = ["B-PS", "I-PS", "B-LC", "I-LC", "B-OG", "I-OG", "B-DT", "I-DT", "B-TI", "I-TI", "B-QT", "I-QT",
                        "O"]


def test_entity_scores_worked_example():
    gold = [[Entity(0, 2, "PS"), Entity(3, 4, "LC")], []]
    predicted = [[Entity(0, 2, "PS"), Entity(3, 5, "LC")], [Entity(6, 7, "OG")]]
    scores = nm.entity_scores(gold, predicted)
    assert scores == pytest.approx({"precision": 100 / 3, "recall": 50.0, "f1": 40.0, "macro_f1": 100 / 3,
                                    "f1_LC": 0.0, "f1_OG": 0.0, "f1_PS": 100.0})
    assert nm.entity_scores([[]], [[]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "macro_f1": 0.0}
    with pytest.raises(ValueError, match="1 gold sentences but 2 predicted"):
        nm.entity_scores([[]], [[], []])


def random_entities(rng: random.Random, length: int, types: str) -> tuple[Entity, ...]:
    """Non-overlapping random entities in a text of `length` characters."""
    entities, position = [], 0
    while True:
        position += rng.randint(0, 4)
        end = position + rng.randint(1, 4)
        if end > length:
            return tuple(entities)
        entities.append(Entity(position, end, rng.choice(types)))
        position = end


def random_prediction(rng: random.Random, gold: tuple[Entity, ...], length: int) -> tuple[Entity, ...]:
    """Random entities, or the gold ones missed, retyped or cut short: right, wrong and missing ones."""
    if rng.random() < 0.3:
        return random_entities(rng, length, "ABC")
    predicted = []
    for entity in gold:
        if rng.random() < 0.2:
            continue
        label = entity.label if rng.random() < 0.7 else rng.choice("ABC")
        end = entity.end - (entity.end - entity.start > 1 and rng.random() < 0.2)
        predicted.append(Entity(entity.start, end, label))
    return tuple(predicted)


def random_data(seed: int, count: int = 60) -> tuple[list[Sentence], list[tuple[Entity, ...]]]:
    rng = random.Random(seed)
    sentences, predicted = [], []
    for k in range(count):
        text = "".join(rng.choice("가나 다") for _ in range(rng.randint(0, 25)))
        gold = random_entities(rng, len(text), "ABC")
        sentences.append(Sentence(str(k), text, gold))
        predicted.append(random_prediction(rng, gold, len(text)))
    return sentences, predicted


def iob2(length: int, entities) -> list[str]:
    """The IOB2 tag of each character, written out plainly."""
    tags = ["O"] * length
    for entity in entities:
        for position in range(entity.start, entity.end):
            tags[position] = ("B-" if position == entity.start else "I-") + entity.label
    return tags


@pytest.mark.parametrize("seed", range(8))
def test_entity_scores_equal_seqeval_strict(seed):
    metrics = pytest.importorskip("seqeval.metrics")
    scheme = pytest.importorskip("seqeval.scheme")
    sentences, predicted = random_data(seed)
    y_true = [iob2(len(s.text), s.entities) for s in sentences]
    y_pred = [iob2(len(s.text), p) for s, p in zip(sentences, predicted, strict=True)]
    report = metrics.classification_report(y_true, y_pred, mode="strict", scheme=scheme.IOB2, output_dict=True,
                                           zero_division=0)
    scores = nm.entity_scores([s.entities for s in sentences], predicted)
    micro = report["micro avg"]
    expected = {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1-score"],
                "macro_f1": report["macro avg"]["f1-score"],
                **{f"f1_{label}": report[label]["f1-score"] for label in report if "avg" not in label}}
    assert scores == pytest.approx({key: 100 * value for key, value in expected.items()})
    assert 0 < scores["f1"] < 100


def klue_baseline_sequences(sentence: Sentence, entities) -> list[int]:
    """KLUE-baseline's indices for a sentence: O for [CLS], each character's label but spaces', O for [SEP]."""
    tags = iob2(len(sentence.text), entities)
    labels = ["O", *(tag for character, tag in zip(sentence.text, tags, strict=True) if character != " "), "O"]
    return [KLUE_BASELINE_LABELS.index(label) for label in labels]


def sklearn_char_macro_f1(sentences, predicted) -> float:
    """klue_baseline.metrics.functional.klue_ner_char_macro_f1 on KLUE-baseline's sequences."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    trues = [i for s in sentences for i in klue_baseline_sequences(s, s.entities)]
    preds = [i for s, p in zip(sentences, predicted, strict=True) for i in klue_baseline_sequences(s, p)]
    label_indices = list(range(len(KLUE_BASELINE_LABELS)))
    return sklearn_metrics.f1_score(trues, preds, labels=label_indices, average="macro", zero_division=True) * 100.0


@pytest.mark.parametrize("seed", range(8))
def test_char_macro_f1_equals_sklearn_as_klue_calls_it(seed):
    sentences, predicted = random_data(seed)
    types = {"A": "PS", "B": "LC", "C": "DT"}  # three of KLUE's six: the other three score 1, as KLUE's absent ones
    sentences = [Sentence(s.id, s.text, tuple(Entity(e.start, e.end, types[e.label]) for e in s.entities))
                 for s in sentences]
    predicted = [tuple(Entity(e.start, e.end, types[e.label]) for e in p) for p in predicted]
    assert nm.char_macro_f1(sentences, predicted, KLUE_TYPES) == pytest.approx(
        sklearn_char_macro_f1(sentences, predicted))


def test_char_macro_f1_worked_example():
    sentence = Sentence("x", "박 씨", (Entity(0, 1, "PS"),))
    # Characters scored: [CLS] 박 씨 [SEP] -> O B-PS O O; predicted O O O O. O: 3 right of 4 gold, 4 predicted
    # (F1 6/7); B-PS: 0 (F1 0); I-PS, no side (F1 1).
    assert nm.char_macro_f1([sentence], [()]) == pytest.approx(100 * (6 / 7 + 0 + 1) / 3)
    assert nm.char_macro_f1([sentence], [sentence.entities]) == 100.0
    assert nm.char_macro_f1([sentence], [sentence.entities], KLUE_TYPES) == 100.0


def test_first_character_tags_follow_klue_baseline():
    tags = nd.tag_names(KLUE_TYPES)
    sentence = Sentence("x", "가나다 라마 바", (Entity(0, 2, "PS"), Entity(4, 6, "LC")))
    tokens = [("[UNK]", 0, 2), ("##다", 2, 3), ("라", 4, 5), ("##마", 5, 6), ("##", 7, 8)]
    klue = nm.first_character_tags(sentence, tokens, tags)
    # A word holding an [UNK]: each of its tokens takes the word's first tag; a bare "##" is O.
    assert [tags[i] for i in klue.ids] == ["B-PS", "B-PS", "B-LC", "I-LC", "O"]
    assert klue.unk_words == 1
    starts, ends = np.array([t[1] for t in tokens]), np.array([t[2] for t in tokens])
    assert [tags[i] for i in nd.token_tags(sentence, starts, ends, tags).ids] == ["B-PS", "O", "B-LC", "I-LC", "O"]


def test_first_character_tags_count_token_lengths():
    tags = nd.tag_names(("PS",))
    # KLUE counts the characters of each token's text; a token whose text is shorter than its span (here one
    # character of the span stands for nothing) moves the count behind, as in KLUE-baseline.
    sentence = Sentence("x", "ab cd", (Entity(3, 5, "PS"),))
    klue = nm.first_character_tags(sentence, [("a", 0, 2), ("c", 3, 4), ("##d", 4, 5)], tags)
    assert [tags[i] for i in klue.ids] == ["O", "O", "B-PS"]


def test_oracle_on_klue_dev_sentences():
    sentences = klue_dev()[:200]
    result = nm.oracle(sentences, tokenization.FullTokenizer(KOWIKI_VOCAB, True, "mecab"), KLUE_TYPES)
    assert result.sentences == 200 and result.entities == sum(len(s.entities) for s in sentences)
    assert result.tokens > sum(len(s.text.split()) for s in sentences)
    assert result.offsets.entity["recall"] == pytest.approx(result.framed_percent)  # what tokens frame comes back
    assert result.offsets.entity["f1"] >= result.first_character.entity["f1"]
    assert 99 < result.offsets.char_macro_f1 <= 100


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "uncut", "f1"), [("mecab", 99.04, 99.0), ("wordpiece", 96.58, 96.5)])
def test_oracle_on_klue_dev(mode, uncut, f1):
    result = nm.oracle(klue_dev(), tokenization.FullTokenizer(KOWIKI_VOCAB, True, mode), KLUE_TYPES)
    assert (result.entities, round(result.uncut_percent, 2)) == (14257, uncut)
    assert result.offsets.entity["f1"] >= f1
    assert result.offsets.entity["f1"] > result.first_character.entity["f1"]
