# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The official scores of a predictions file ({question id: answer text}) against a SQuAD-format data file.

The metric follows the data file's "version" field, each one the same arithmetic as its official script:
- "KorQuAD_v1.0..." (e.g. "KorQuAD_v1.0_dev"): KorQuAD's `evaluate-v1.0.py`: F1 over characters.
- "v2.0": SQuAD's `evaluate-v2.0.py`: HasAns/NoAns groups, and best thresholds given no-answer probabilities.
- anything else ("1.1"): SQuAD's `evaluate-v1.1.py`: F1 over white-space tokens.

    python evaluate_squad.py KorQuAD_v1.0_dev.json predictions.json
    python evaluate_squad.py dev-v2.0.json predictions.json --na_prob_file null_odds.json
    python evaluate_squad.py dev-v2.0.json predictions.json -n null_odds.json -t 1.0 -o eval.json  # the official's

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

import collections
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from mecab_bert.cli import FINITE_FLOAT, InputPath, OutputPath, flag
from mecab_bert.files import check_not_input, write_json
from mecab_bert.json_fields import describe_json, load_json
from mecab_bert.tasks.squad_data import (
    KORQUAD_V1_PREFIX,
    SQUAD_V2_VERSION,
    Question,
    SquadData,
    parse_squad,
    read_squad_file,
)
from text_input import InputError

# evaluate-v2.0.py's default --na-prob-thresh: a question whose no-answer probability exceeds it counts as answered
# "no answer" (right if it has no answer, wrong otherwise), whatever its prediction.
NA_PROB_THRESH = 1.0

# Missing and foreign prediction ids listed one per line on stderr, then "... and N more".
WARNING_LIMIT = 10

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)

# KorQuAD's remove_(): these quotes and brackets become spaces before punctuation is dropped, so "(1989)년"
# reads "1989 년" and does not exactly match "1989년" (char F1, which ignores spaces, does not see it).
_KORQUAD_SPACED = str.maketrans(dict.fromkeys("'\"《》<>〈〉()‘’", " "))

Scores = dict[str, float]


def _remove_punctuation(text: str) -> str:
    return "".join(ch for ch in text if ch not in _PUNCTUATION)


def normalize_answer(text: str) -> str:
    """SQuAD's normalization (v1.1 and v2.0): lower case, drop punctuation, drop a/an/the, collapse white space.

    >>> normalize_answer("The  Denver Broncos!")
    'denver broncos'
    """
    return " ".join(_ARTICLES.sub(" ", _remove_punctuation(text.lower())).split())


def normalize_korquad_answer(text: str) -> str:
    """KorQuAD 1.0's normalization: quotes and brackets to spaces, lower case, drop punctuation, collapse spaces.

    No article removal:
    >>> normalize_korquad_answer("《토지》의 The 작가.")
    '토지 의 the 작가'
    """
    return " ".join(_remove_punctuation(text.translate(_KORQUAD_SPACED).lower()).split())


def _overlap_f1(prediction_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    """F1 of the multiset overlap of two token lists; 0 when they share nothing (the official arithmetic)."""
    num_same = sum((collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)).values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_v1_exact(prediction: str, gold: str) -> float:
    """evaluate-v1.1.py's exact_match_score: 1 if the normalized strings are equal, else 0."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def squad_v1_f1(prediction: str, gold: str) -> float:
    """evaluate-v1.1.py's f1_score over white-space tokens: 0 when either side normalizes to nothing."""
    return _overlap_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def korquad_exact(prediction: str, gold: str) -> float:
    """KorQuAD evaluate-v1.0.py's exact_match_score on KorQuAD-normalized strings."""
    return int(normalize_korquad_answer(prediction) == normalize_korquad_answer(gold))


def korquad_f1(prediction: str, gold: str) -> float:
    """KorQuAD evaluate-v1.0.py's f1_score: over the characters of the normalized strings, spaces left out."""
    return _overlap_f1("".join(normalize_korquad_answer(prediction).split()),
                       "".join(normalize_korquad_answer(gold).split()))


def squad_v2_exact(gold: str, prediction: str) -> float:
    """evaluate-v2.0.py's compute_exact(a_gold, a_pred) (note the argument order, kept from the official)."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def squad_v2_f1(gold: str, prediction: str) -> float:
    """evaluate-v2.0.py's compute_f1(a_gold, a_pred): if either side has no tokens, 1 if both have none, else 0."""
    gold_tokens, prediction_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not prediction_tokens:
        return int(gold_tokens == prediction_tokens)
    return _overlap_f1(prediction_tokens, gold_tokens)


def _v1_style_scores(questions: Sequence[Question], predictions: dict[str, str], exact_fn: Callable,
                     f1_fn: Callable) -> Scores:
    """The evaluate() of evaluate-v1.1.py and of KorQuAD's evaluate-v1.0.py, with their metric functions. Each question
    scores its best over its gold answers; a question without a prediction scores 0 (the official "Unanswered question
    ... will receive score 0") and still counts in the mean: "total" is every question."""
    if not questions:
        raise InputError("the data has no question")
    exact_match = f1 = 0.0
    for question in questions:
        if not question.answers:
            raise InputError(f"question {question.id!r} has no answer (for SQuAD v2.0 data, version must be "
                             f"{SQUAD_V2_VERSION!r})")
        if question.id in predictions:
            prediction = predictions[question.id]
            exact_match += max(exact_fn(prediction, gold) for gold in question.answers)
            f1 += max(f1_fn(prediction, gold) for gold in question.answers)
    return {"exact_match": 100.0 * exact_match / len(questions), "f1": 100.0 * f1 / len(questions),
            "total": len(questions)}


def squad_v1_scores(questions: Sequence[Question], predictions: dict[str, str]) -> Scores:
    """evaluate-v1.1.py: {"exact_match", "f1"}, in percent over all questions, and their number "total"."""
    return _v1_style_scores(questions, predictions, squad_v1_exact, squad_v1_f1)


def korquad_scores(questions: Sequence[Question], predictions: dict[str, str]) -> Scores:
    """KorQuAD's evaluate-v1.0.py: {"exact_match", "f1"} (F1 over characters) in percent, and "total", as v1.1."""
    return _v1_style_scores(questions, predictions, korquad_exact, korquad_f1)


def _mean_scores(exact: dict[str, float], f1: dict[str, float], qids: Sequence[str]) -> Scores:
    """evaluate-v2.0.py's make_eval_dict: exact and f1 in percent over `qids`, and their count as "total"."""
    return {"exact": 100.0 * sum(exact[qid] for qid in qids) / len(qids),
            "f1": 100.0 * sum(f1[qid] for qid in qids) / len(qids), "total": len(qids)}


@dataclass(frozen=True)
class RawScores:
    """evaluate-v2.0.py's get_raw_scores and make_qid_to_has_ans: each answered question's exact (0 or 1) and F1
    (in [0, 1]), keyed by question id in the data's order, and whether each question of the data has an answer."""

    exact: dict[str, float]
    f1: dict[str, float]
    has_ans: dict[str, bool]

    @classmethod
    def of(cls, questions: Sequence[Question], predictions: dict[str, str]) -> RawScores:
        """InputError when no question has a prediction (every mean would divide by zero)."""
        exact: dict[str, float] = {}
        f1: dict[str, float] = {}
        for question in questions:
            if question.id in predictions:
                # A gold answer that normalizes to nothing is dropped; with none left, only "" is right.
                golds = [gold for gold in question.answers if normalize_answer(gold)] or [""]
                prediction = predictions[question.id]
                exact[question.id] = max(squad_v2_exact(gold, prediction) for gold in golds)
                f1[question.id] = max(squad_v2_f1(gold, prediction) for gold in golds)
        if not exact:
            raise InputError("no question of the data has a prediction")
        return cls(exact, f1, {question.id: bool(question.answers) for question in questions})


def find_best_thresh(predictions: dict[str, str], scores: dict[str, float], na_probs: dict[str, float],
                     has_ans: dict[str, bool]) -> tuple[float, float]:
    """evaluate-v2.0.py's find_best_thresh: the best score (percent) over no-answer thresholds, and that threshold.
    Start from every question predicted unanswerable (each unanswerable one correct), then answer questions in rising
    order of no-answer probability (ties in `na_probs` order: the official sort is stable). An answered unanswerable
    question costs 1 if its prediction is non-empty. Questions without a prediction (not in `scores`) are left out, as
    from the HasAns/NoAns groups: the official script counts every unanswerable question at the start yet divides by the
    answered ones: over 100% when predictions are missing (a case it never reaches: it crashes in the groups first).
    With every question answered, this is the official arithmetic."""
    cur_score = best_score = sum(1 for qid in scores if not has_ans[qid])
    best_thresh = 0.0
    for qid in sorted(na_probs, key=na_probs.__getitem__):
        if qid not in scores:
            continue
        if has_ans[qid]:
            cur_score += scores[qid]
        elif predictions[qid]:
            cur_score -= 1
        if cur_score > best_score:
            best_score, best_thresh = cur_score, na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def _apply_no_ans_threshold(scores: dict[str, float], na_probs: dict[str, float], has_ans: dict[str, bool],
                            na_prob_thresh: float) -> dict[str, float]:
    """evaluate-v2.0.py's apply_no_ans_threshold: above `na_prob_thresh` the question counts as answered 'no answer'.
    (A null-odds file from BERT's run_squad.py holds score differences, which often exceed 1.0.)"""
    return {qid: float(not has_ans[qid]) if na_probs[qid] > na_prob_thresh else s for qid, s in scores.items()}


def _best_thresholds(raw: RawScores, predictions: dict[str, str], na_probs: dict[str, float]) -> Scores:
    best_exact, best_exact_thresh = find_best_thresh(predictions, raw.exact, na_probs, raw.has_ans)
    best_f1, best_f1_thresh = find_best_thresh(predictions, raw.f1, na_probs, raw.has_ans)
    return {"best_exact": best_exact, "best_exact_thresh": best_exact_thresh, "best_f1": best_f1,
            "best_f1_thresh": best_f1_thresh}


def best_thresholds(questions: Sequence[Question], predictions: dict[str, str], na_probs: dict[str, float]
                    ) -> Scores:
    """evaluate-v2.0.py --na-prob-file's best_exact, best_exact_thresh, best_f1, best_f1_thresh (find_best_thresh) of
    `predictions` given `na_probs`: the no-answer threshold that would score best, were every question whose
    probability exceeds it answered "" and every other one answered as in `predictions`. (The official script, and
    so Google's README, computes them over the very predictions file it scores.) InputError as squad_v2_scores."""
    if (missing := first_without_na_prob(questions, predictions, na_probs)) is not None:
        raise InputError(f"no-answer probabilities: none for question {missing!r}")
    return _best_thresholds(RawScores.of(questions, predictions), predictions, na_probs)


def first_without_na_prob(questions: Sequence[Question], predictions: dict[str, str], na_probs: dict[str, float]
                          ) -> str | None:
    """The first question with a prediction but no no-answer probability (which the official script needs)."""
    return next((q.id for q in questions if q.id in predictions and q.id not in na_probs), None)


def squad_v2_scores(questions: Sequence[Question], predictions: dict[str, str],
                    na_probs: dict[str, float] | None = None, na_prob_thresh: float = NA_PROB_THRESH) -> Scores:
    """evaluate-v2.0.py's main(): exact, f1, total, then HasAns_* and NoAns_* (each when the group is not empty).

    The raw scores are first thresholded at `na_prob_thresh` (its --na-prob-thresh) over `na_probs` ({question id:
    probability of no answer}, e.g. BERT's null_odds.json; without it every probability is 0.0, as in the official
    script, so only a negative threshold changes anything); with `na_probs`, best_exact, best_exact_thresh, best_f1,
    best_f1_thresh are added (best_thresholds).

    A question without a prediction is left out of every mean, as the official script leaves it out of
    "exact_scores" (its total is the answered questions). The official script then fails with a KeyError in the
    HasAns/NoAns groups; here each group is over its answered questions, so HasAns_total + NoAns_total == total,
    and so are the best thresholds (see find_best_thresh): every score stays within [0, 100].
    """
    raw = RawScores.of(questions, predictions)
    if na_probs is not None and (missing := first_without_na_prob(questions, predictions, na_probs)) is not None:
        raise InputError(f"no-answer probabilities: none for question {missing!r}")
    probabilities = dict.fromkeys(raw.exact, 0.0) if na_probs is None else na_probs
    exact = _apply_no_ans_threshold(raw.exact, probabilities, raw.has_ans, na_prob_thresh)
    f1 = _apply_no_ans_threshold(raw.f1, probabilities, raw.has_ans, na_prob_thresh)
    result = _mean_scores(exact, f1, list(exact))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, has in raw.has_ans.items() if has == wanted and qid in exact]
        if qids:
            result.update({f"{prefix}_{key}": value for key, value in _mean_scores(exact, f1, qids).items()})
    if na_probs is not None:
        result.update(_best_thresholds(raw, predictions, na_probs))
    return result


def score_questions(version: str, questions: Sequence[Question], predictions: dict[str, str],
                    na_probs: dict[str, float] | None, na_prob_thresh: float | None = None) -> Scores:
    """Scores with the metric that `version` (a data file's "version" field) names. `na_probs` and `na_prob_thresh`
    (None: NA_PROB_THRESH) are SQuAD v2.0's alone: InputError with any other version."""
    if version == SQUAD_V2_VERSION:
        return squad_v2_scores(questions, predictions, na_probs,
                               NA_PROB_THRESH if na_prob_thresh is None else na_prob_thresh)
    if na_probs is not None:
        raise InputError(f"no-answer probabilities apply only to SQuAD {SQUAD_V2_VERSION} data, not {version!r}")
    if na_prob_thresh is not None:
        raise InputError(f"a no-answer threshold (--na_prob_thresh) applies only to SQuAD {SQUAD_V2_VERSION} data, "
                         f"not {version!r}")
    if version.startswith(KORQUAD_V1_PREFIX):
        return korquad_scores(questions, predictions)
    return squad_v1_scores(questions, predictions)


@dataclass(frozen=True)
class Coverage:
    """The questions without a prediction, and the predictions for ids that are no question of the data."""

    missing: list[str]
    foreign: list[str]

    @classmethod
    def of(cls, questions: Sequence[Question], predictions: dict[str, str]) -> Coverage:
        ids = {question.id for question in questions}
        return cls([q.id for q in questions if q.id not in predictions], [qid for qid in predictions if qid not in ids])

    def warnings(self, squad: SquadData) -> list[str]:
        """One line per id, in the official scripts' words, the first WARNING_LIMIT of each kind, then a count."""
        if squad.version == SQUAD_V2_VERSION:
            missing = _capped([f"Missing prediction for {qid}" for qid in self.missing],
                              "missing predictions (left out of every mean)")
        else:
            missing = _capped([f"Unanswered question {qid} will receive score 0." for qid in self.missing],
                              "unanswered questions (each receives score 0)")
        # The official scripts ignore these without a word: often the sign of predictions for another data file.
        foreign = _capped([f"Prediction for {qid} ignored: no such question in {squad.source}" for qid in self.foreign],
                          f"predictions ignored (no such questions in {squad.source})")
        return missing + foreign


def _capped(lines: list[str], rest: str) -> list[str]:
    return lines[:WARNING_LIMIT] + ([f"... and {len(lines) - WARNING_LIMIT} more {rest}"]
                                    if len(lines) > WARNING_LIMIT else [])


def score(squad: SquadData, predictions: dict[str, str], na_probs: dict[str, float] | None = None,
          na_prob_thresh: float | None = None) -> Scores:
    """The official scores of `predictions` by the data's version, then "missing_predictions" and
    "foreign_predictions"; each missing or foreign id is also warned about on stderr. Raises InputError."""
    try:
        scores = score_questions(squad.version, squad.questions, predictions, na_probs, na_prob_thresh)
    except InputError as error:
        raise InputError(f"{squad.source}: {error}") from None
    coverage = Coverage.of(squad.questions, predictions)
    for line in coverage.warnings(squad):
        click.echo(line, err=True)
    return {**scores, "missing_predictions": len(coverage.missing), "foreign_predictions": len(coverage.foreign)}


def evaluate(data: Any, predictions: dict[str, str], na_probs: dict[str, float] | None = None,
             na_prob_thresh: float | None = None, source: str = "data") -> Scores:
    """The official scores of `predictions` against a SQuAD-format object (see parse_squad and score).
    KorQuAD 1.0 and SQuAD v1.1: {"exact_match", "f1", "total"}; SQuAD v2.0: see squad_v2_scores; then
    "missing_predictions" and "foreign_predictions". Raises InputError naming `source`."""
    return score(parse_squad(data, source), predictions, na_probs, na_prob_thresh)


def check_string_map(value: Any, kinds: tuple[type, ...], path: str, what: str) -> dict:
    """`value` if it is a JSON object whose values are all `kinds` (never bool, never NaN or infinite); InputError
    naming the id if not."""
    if not isinstance(value, dict):
        raise InputError(f"{path}: must be a JSON object {{question id: {what}}}, not {describe_json(value)}")
    for qid, item in value.items():
        wrong_kind = isinstance(item, bool) or not isinstance(item, kinds)
        # json reads NaN and Infinity: a NaN no-answer probability would silently disorder the threshold search.
        if wrong_kind or (isinstance(item, float) and not math.isfinite(item)):
            raise InputError(f"{path}: question {qid!r}: must be {what}, not {describe_json(item)}")
    return value


def evaluate_files(data_file: str, prediction_file: str, na_prob_file: str | None = None,
                   na_prob_thresh: float | None = None) -> Scores:
    """evaluate() on files: a SQuAD-format data file, {id: answer text}, and optionally {id: no-answer probability}.
    Raises InputError naming the file, and the field or question id, for any problem with an input."""
    squad = read_squad_file(data_file)
    predictions = check_string_map(load_json(prediction_file), (str,), prediction_file, "an answer string")
    na_probs = None
    if na_prob_file is not None:
        if squad.version != SQUAD_V2_VERSION:
            raise InputError(f"{na_prob_file}: no-answer probabilities apply only to SQuAD {SQUAD_V2_VERSION} data, "
                             f"and {data_file} has version {squad.version!r}")
        na_probs = check_string_map(load_json(na_prob_file), (int, float), na_prob_file, "a number")
        if (missing := first_without_na_prob(squad.questions, predictions, na_probs)) is not None:
            raise InputError(f"{na_prob_file}: no probability for question {missing!r}")
    return score(squad, predictions, na_probs, na_prob_thresh)


@dataclass(frozen=True)
class EvaluateFlags:
    """evaluate_squad.py's arguments and flags; each flag also takes evaluate-v2.0.py's spelling."""

    data_file: str = flag(type=InputPath(dir_okay=False), argument=True)
    pred_file: str = flag(type=InputPath(dir_okay=False), argument=True)
    na_prob_file: str | None = flag(None, "SQuAD v2.0 only: {question id: no-answer probability}, for the best "
                                    "thresholds.", InputPath(dir_okay=False), aliases=("--na-prob-file", "-n"))
    na_prob_thresh: float | None = flag(None, f"SQuAD v2.0 only: a question whose no-answer probability exceeds this "
                                        f"counts as answered no answer [default: {NA_PROB_THRESH}, the official; "
                                        f"without --na_prob_file every probability is 0].", FINITE_FLOAT,
                                        aliases=("--na-prob-thresh", "-t"))
    out_file: str | None = flag(None, "Also write the scores here.", OutputPath(dir_okay=False),
                                aliases=("--out-file", "-o"))


def evaluate_to_file(flags: EvaluateFlags) -> Scores:
    """evaluate_files() on evaluate_squad.py's files, the scores also written to --out_file when it is given."""
    if flags.out_file is not None:
        check_not_input(flags.out_file, (flags.data_file, flags.pred_file, flags.na_prob_file), "--out_file")
    scores = evaluate_files(flags.data_file, flags.pred_file, flags.na_prob_file, flags.na_prob_thresh)
    if flags.out_file is not None:
        write_json(flags.out_file, scores)
    return scores
