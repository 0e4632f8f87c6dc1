import collections
import copy
import errno
import functools
import json
import os
import random
import re
import string
import sys
from collections import Counter
from dataclasses import dataclass

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import SHARED_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

import evaluate_squad
from mecab_bert import files
from mecab_bert.tasks import squad_data, squad_metrics
from text_input import InputError

TOLERANCE = 1e-9

# --- Reference renderings of the official scripts -----------------------------------------------------------------
# Written out as the official code reads (names, argument order, arithmetic and control flow kept; only the file
# reading, argparse and plotting left out), so that evaluate_squad is checked against the definitions themselves.

# SQuAD evaluate-v1.1.py


def v11_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def v11_f1_score(prediction, ground_truth):
    prediction_tokens = v11_normalize_answer(prediction).split()
    ground_truth_tokens = v11_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def v11_exact_match_score(prediction, ground_truth):
    return (v11_normalize_answer(prediction) == v11_normalize_answer(ground_truth))


def v11_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def v11_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    message = 'Unanswered question ' + qa['id'] + ' will receive score 0.'
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += v11_metric_max_over_ground_truths(v11_exact_match_score, prediction, ground_truths)
                f1 += v11_metric_max_over_ground_truths(v11_f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {'exact_match': exact_match, 'f1': f1}


# KorQuAD evaluate-v1.0.py


def kq_normalize_answer(s):
    def remove_(text):
        ''' 불필요한 기호 제거 '''
        text = re.sub("'", " ", text)
        text = re.sub('"', " ", text)
        text = re.sub('《', " ", text)
        text = re.sub('》', " ", text)
        text = re.sub('<', " ", text)
        text = re.sub('>', " ", text)
        text = re.sub('〈', " ", text)
        text = re.sub('〉', " ", text)
        text = re.sub("\\(", " ", text)
        text = re.sub("\\)", " ", text)
        text = re.sub("‘", " ", text)
        text = re.sub("’", " ", text)
        return text

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_punc(lower(remove_(s))))


def kq_f1_score(prediction, ground_truth):
    prediction_tokens = kq_normalize_answer(prediction).split()
    ground_truth_tokens = kq_normalize_answer(ground_truth).split()

    # F1 by character
    prediction_Char = []  # noqa: N806
    for tok in prediction_tokens:
        now = [a for a in tok]
        prediction_Char.extend(now)

    ground_truth_Char = []  # noqa: N806
    for tok in ground_truth_tokens:
        now = [a for a in tok]
        ground_truth_Char.extend(now)

    common = Counter(prediction_Char) & Counter(ground_truth_Char)
    num_same = sum(common.values())
    if num_same == 0:
        return 0

    precision = 1.0 * num_same / len(prediction_Char)
    recall = 1.0 * num_same / len(ground_truth_Char)
    f1 = (2 * precision * recall) / (precision + recall)

    return f1


def kq_exact_match_score(prediction, ground_truth):
    return (kq_normalize_answer(prediction) == kq_normalize_answer(ground_truth))


def kq_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def kq_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    message = 'Unanswered question ' + qa['id'] + ' will receive score 0.'
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += kq_metric_max_over_ground_truths(kq_exact_match_score, prediction, ground_truths)
                f1 += kq_metric_max_over_ground_truths(kq_f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total
    return {'exact_match': exact_match, 'f1': f1}


# SQuAD evaluate-v2.0.py


def v20_make_qid_to_has_ans(dataset):
    qid_to_has_ans = {}
    for article in dataset:
        for p in article['paragraphs']:
            for qa in p['qas']:
                qid_to_has_ans[qa['id']] = bool(qa['answers'])
    return qid_to_has_ans


def v20_normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r'\b(a|an|the)\b', re.UNICODE)
        return re.sub(regex, ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def v20_get_tokens(s):
    if not s:
        return []
    return v20_normalize_answer(s).split()


def v20_compute_exact(a_gold, a_pred):
    return int(v20_normalize_answer(a_gold) == v20_normalize_answer(a_pred))


def v20_compute_f1(a_gold, a_pred):
    gold_toks = v20_get_tokens(a_gold)
    pred_toks = v20_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def v20_get_raw_scores(dataset, preds):
    exact_scores = {}
    f1_scores = {}
    for article in dataset:
        for p in article['paragraphs']:
            for qa in p['qas']:
                qid = qa['id']
                gold_answers = [a['text'] for a in qa['answers'] if v20_normalize_answer(a['text'])]
                if not gold_answers:
                    # For unanswerable questions, only correct answer is empty string
                    gold_answers = ['']
                if qid not in preds:
                    print('Missing prediction for %s' % qid)  # noqa: UP031
                    continue
                a_pred = preds[qid]
                # Take max over all gold answers
                exact_scores[qid] = max(v20_compute_exact(a, a_pred) for a in gold_answers)
                f1_scores[qid] = max(v20_compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def v20_apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
    new_scores = {}
    for qid, s in scores.items():
        pred_na = na_probs[qid] > na_prob_thresh
        if pred_na:
            new_scores[qid] = float(not qid_to_has_ans[qid])
        else:
            new_scores[qid] = s
    return new_scores


def v20_make_eval_dict(exact_scores, f1_scores, qid_list=None):
    if not qid_list:
        total = len(exact_scores)
        return collections.OrderedDict([
            ('exact', 100.0 * sum(exact_scores.values()) / total),
            ('f1', 100.0 * sum(f1_scores.values()) / total),
            ('total', total),
        ])
    else:
        total = len(qid_list)
        return collections.OrderedDict([
            ('exact', 100.0 * sum(exact_scores[k] for k in qid_list) / total),
            ('f1', 100.0 * sum(f1_scores[k] for k in qid_list) / total),
            ('total', total),
        ])


def v20_merge_eval(main_eval, new_eval, prefix):
    for k in new_eval:
        main_eval['%s_%s' % (prefix, k)] = new_eval[k]  # noqa: UP031


def v20_find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for i, qid in enumerate(qid_list):  # noqa: B007
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            if preds[qid]:  # noqa: SIM108
                diff = -1
            else:
                diff = 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def v20_find_all_best_thresh(main_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans):
    best_exact, exact_thresh = v20_find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
    best_f1, f1_thresh = v20_find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
    main_eval['best_exact'] = best_exact
    main_eval['best_exact_thresh'] = exact_thresh
    main_eval['best_f1'] = best_f1
    main_eval['best_f1_thresh'] = f1_thresh


def v20_main(dataset, preds, na_probs=None, na_prob_thresh=1.0):
    """main() of evaluate-v2.0.py, with the loaded files as arguments (na_probs None: no --na-prob-file)."""
    na_prob_file = na_probs is not None
    if not na_prob_file:
        na_probs = {k: 0.0 for k in preds}
    qid_to_has_ans = v20_make_qid_to_has_ans(dataset)  # maps qid to True/False
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = v20_get_raw_scores(dataset, preds)
    exact_thresh = v20_apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = v20_apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    out_eval = v20_make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        has_ans_eval = v20_make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids)
        v20_merge_eval(out_eval, has_ans_eval, 'HasAns')
    if no_ans_qids:
        no_ans_eval = v20_make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids)
        v20_merge_eval(out_eval, no_ans_eval, 'NoAns')
    if na_prob_file:
        v20_find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans)
    return out_eval


# --- Helpers --------------------------------------------------------------------------------------------------------


def v20_reference(dataset, preds, na_probs=None, na_prob_thresh=1.0):
    """v20_main; where predictions are missing (the official main() then fails with a KeyError in make_eval_dict),
    v20_main on the answered questions only (our extension): the top level is the same as the official one (which
    leaves missing ones out), each group and the best thresholds are over the answered questions."""
    answered = {qa['id'] for article in dataset for p in article['paragraphs'] for qa in p['qas'] if qa['id'] in preds}
    if answered == set(v20_make_qid_to_has_ans(dataset)):
        return v20_main(dataset, preds, na_probs, na_prob_thresh)
    with pytest.raises(KeyError):
        v20_main(dataset, preds, na_probs, na_prob_thresh)
    answered_dataset = [{'paragraphs': [{'qas': [qa for p in article['paragraphs'] for qa in p['qas']
                                                 if qa['id'] in preds]}]} for article in dataset]
    return v20_main(answered_dataset, preds, na_probs, na_prob_thresh)


def assert_same_scores(ours, reference):
    """The official keys in the official order, each within TOLERANCE, then our two counts of prediction ids."""
    assert list(ours) == [*reference, "missing_predictions", "foreign_predictions"]
    for key, value in reference.items():
        assert abs(ours[key] - value) <= TOLERANCE, (key, ours[key], value)


def make_data(version, golds, impossible=()):
    """A one-article SQuAD-format object: question "q{i}" has the gold answers golds[i]."""
    qas = [{"id": f"q{i}", "question": "?", "answers": [{"text": t, "answer_start": 0} for t in texts],
            **({"is_impossible": not texts} if version == "v2.0" else {})}
           for i, texts in enumerate(golds)]
    return {"version": version, "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


def check_against_reference(data, predictions, na_probs=None, na_prob_thresh=None):
    """evaluate() equals the official script that data["version"] names (v2.0: with --na-prob-thresh
    `na_prob_thresh`, None for its default), and counts missing and foreign ids."""
    version = data["version"]
    qids = [qa["id"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    if version == "v2.0":
        reference = v20_reference(data["data"], predictions, na_probs,
                                  1.0 if na_prob_thresh is None else na_prob_thresh)
    elif version.startswith("KorQuAD_v1.0"):
        reference = {**kq_evaluate(data["data"], predictions), "total": len(qids)}  # its local `total`
    else:
        reference = {**v11_evaluate(data["data"], predictions), "total": len(qids)}  # its local `total`
    ours = squad_metrics.evaluate(data, predictions, na_probs, na_prob_thresh)
    assert_same_scores(ours, reference)
    assert ours["missing_predictions"] == sum(qid not in predictions for qid in qids)
    assert ours["foreign_predictions"] == len(set(predictions) - set(qids))
    return ours


# --- Hand-written edge cases ------------------------------------------------------------------------------------------

V1_GOLDS = [
    ["Denver Broncos", "The Denver Broncos"],  # articles
    ["Super Bowl 50"],  # partial credit
    ["Paris"],  # empty prediction
    ["..."],  # punctuation-only gold
    ["Paris"],  # punctuation-only prediction
    ["서울 the Seoul"],  # mixed Korean/English; "the" glued to Hangul is no article
    ["new york"],  # repeated tokens
    ["x"],  # missing prediction
    ["an apple", "apple pie", "Apple Inc."],  # several golds: exact from one, F1 from another
    ["ÉCOLE"],  # non-ASCII lower case
    ["the"],  # gold that normalizes to nothing
]
V1_PREDICTIONS = {
    "q0": "the denver broncos.", "q1": "Super Bowl", "q2": "", "q3": "", "q4": "?!",
    "q5": "the서울 Seoul", "q6": "new new york", "q8": "apple", "q9": "école", "q10": "a",
    "extra": "not in the data",
}

KORQUAD_GOLDS = [
    ["1989년 2월 15일"],  # particle appended
    ["《토지》"],  # brackets removed
    ["1989년"],  # brackets in the prediction become a space: no exact match, char F1 1
    ["The Beatles"],  # no article removal in KorQuAD
    ["..."],  # punctuation-only gold
    ["토지"],  # empty prediction
    ["토지"],  # “ ” are not in the list of quotes, nor in string.punctuation
    ["서울특별시"],  # white space is ignored by char F1 only
    ["BTS"],  # lower case, Korean particle
    ["박경리"],  # missing prediction
    ["‘토지’", "대하소설"],  # several golds; ‘ ’ are in the list
]
KORQUAD_PREDICTIONS = {
    "q0": "1989년 2월 15일에", "q1": "토지", "q2": "(1989)년", "q3": "Beatles", "q4": "", "q5": "",
    "q6": "“토지”", "q7": "서울 특별시", "q8": "bts는", "q10": "토지는", "extra": "x",
}

V2_GOLDS = [
    ["Denver Broncos", "The Denver Broncos"],
    ["Super Bowl 50"],
    [],  # unanswerable, predicted ""
    [],  # unanswerable, predicted an answer
    [],  # unanswerable, predicted "the": normalizes to "" so scores 1, yet a non-empty prediction for thresholds
    ["..."],  # answerable by its answers list, but its only gold normalizes to nothing: gold [""]
    ["...", "Paris"],  # the punctuation-only gold is dropped
    ["서울 the Seoul"],
    ["Paris"],  # empty prediction for an answerable question
]
V2_PREDICTIONS = {
    "q0": "the denver broncos.", "q1": "Super Bowl", "q2": "", "q3": "Broncos", "q4": "the", "q5": "",
    "q6": "", "q7": "서울 Seoul", "q8": "", "extra": "x",
}
V2_NA_PROBS = {  # ties (stable order matters), values over the 1.0 threshold, an id not in the data
    "extra": 0.0, "q4": 0.2, "q1": 0.2, "q0": 0.2, "q2": 1.5, "q3": 0.9, "q5": 1.0, "q6": 3.0, "q7": 0.1, "q8": 0.9,
}


def test_squad_v1_edge_cases():
    data = make_data("1.1", V1_GOLDS)
    ours = check_against_reference(data, V1_PREDICTIONS)
    assert ours["missing_predictions"] == 1 and ours["foreign_predictions"] == 1  # q7; "extra"
    # Only q7 is answered: the 10 others count 0 in a mean over all 11 questions.
    assert squad_metrics.evaluate(data, {"q7": "x"}) == {"exact_match": 100 / 11, "f1": 100 / 11, "total": 11,
                                                          "missing_predictions": 10, "foreign_predictions": 0}


def test_squad_v1_definitions():
    assert squad_metrics.normalize_answer("The  Denver, Broncos!") == "denver broncos"
    assert squad_metrics.normalize_answer("the서울 an") == "the서울"  # \b sees Hangul as a word character
    assert squad_metrics.squad_v1_f1("Super Bowl", "Super Bowl 50") == pytest.approx(0.8)
    # The official v1.1 quirk: an empty prediction matches a punctuation-only gold exactly, with F1 0.
    assert squad_metrics.squad_v1_exact("", "...") == 1 and squad_metrics.squad_v1_f1("", "...") == 0
    assert squad_metrics.evaluate(make_data("1.1", [["..."]]), {"q0": ""}) == {
        "exact_match": 100.0, "f1": 0.0, "total": 1, "missing_predictions": 0, "foreign_predictions": 0}


def test_korquad_edge_cases():
    data = make_data("KorQuAD_v1.0_dev", KORQUAD_GOLDS)
    check_against_reference(data, KORQUAD_PREDICTIONS)
    check_against_reference(data, {})
    assert squad_metrics.normalize_korquad_answer("《토지》의 The 작가.") == "토지 의 the 작가"
    assert squad_metrics.korquad_exact("(1989)년", "1989년") == 0
    assert squad_metrics.korquad_f1("(1989)년", "1989년") == 1
    assert squad_metrics.korquad_f1("1989년 2월 15일에", "1989년 2월 15일") == pytest.approx(20 / 21)


def test_korquad_version_is_a_prefix():
    golds, predictions = [["The Beatles"]], {"q0": "Beatles"}
    # KorQuAD keeps "The": no exact match; SQuAD v1.1 drops it.
    assert squad_metrics.evaluate(make_data("KorQuAD_v1.0", golds), predictions)["exact_match"] == 0.0
    assert squad_metrics.evaluate(make_data("KorQuAD_v1.0_train", golds), predictions)["exact_match"] == 0.0
    assert squad_metrics.evaluate(make_data("v1.1", golds), predictions)["exact_match"] == 100.0


def test_squad_v2_edge_cases():
    data = make_data("v2.0", V2_GOLDS)
    ours = check_against_reference(data, V2_PREDICTIONS)
    assert list(ours) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                          "NoAns_exact", "NoAns_f1", "NoAns_total", "missing_predictions", "foreign_predictions"]
    ours = check_against_reference(data, V2_PREDICTIONS, V2_NA_PROBS)
    assert list(ours)[-6:-2] == ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]
    # "the" for an unanswerable question scores 1 (it normalizes to ""), yet thresholds count it as an answer.
    assert squad_metrics.squad_v2_exact("", "the") == 1 and squad_metrics.squad_v2_f1("", "the") == 1


def test_squad_v2_missing_predictions_are_left_out():
    data = make_data("v2.0", V2_GOLDS)
    predictions = {qid: text for qid, text in V2_PREDICTIONS.items() if qid not in ("q1", "q3")}
    ours = check_against_reference(data, predictions)
    assert ours["total"] == 7 and ours["HasAns_total"] + ours["NoAns_total"] == 7 and ours["missing_predictions"] == 2
    check_against_reference(data, predictions, V2_NA_PROBS)
    # Only unanswerable questions answered: no HasAns group.
    assert "HasAns_exact" not in check_against_reference(data, {"q2": "", "q3": "x"})
    with pytest.raises(InputError, match="no question of the data has a prediction"):
        squad_metrics.evaluate(data, {})


def test_squad_v2_partial_predictions_score_within_100():
    """3 of 10 questions answered: the best thresholds are over the answered ones too (the official start from
    every unanswerable question of the data, divided by the answered ones, gave best_exact 200 here)."""
    data = make_data("v2.0", [["Paris"], ["Busan"], ["Seoul"], ["Rome"], ["Oslo"], [], [], [], [], []])
    predictions = {"q0": "Paris", "q1": "Busan port", "q5": "x"}  # right; F1 2/3; an answer to an unanswerable one
    na_probs = {f"q{i}": 0.1 * (i + 1) for i in range(10)}  # q0 0.1, q1 0.2, q5 0.6
    ours = check_against_reference(data, predictions, na_probs)
    percent = {key: value for key, value in ours.items() if key.endswith(("exact", "f1"))}
    assert len(percent) == 8 and all(0 <= value <= 100 for value in percent.values()), percent
    # By hand: raw exact q0 1, q1 0, q5 0; F1 q0 1, q1 2/3, q5 0. Thresholds: start at 1 (q5 predicted
    # unanswerable), answer q0 (+1, exact and F1), q1 (+0 exact, +2/3 F1), q5 (-1).
    expected = {"exact": 100 / 3, "f1": 100 * (5 / 3) / 3, "total": 3,
                "HasAns_exact": 50.0, "HasAns_f1": 100 * (5 / 3) / 2, "HasAns_total": 2,
                "NoAns_exact": 0.0, "NoAns_f1": 0.0, "NoAns_total": 1,
                "best_exact": 100 * 2 / 3, "best_exact_thresh": na_probs["q0"],
                "best_f1": 100 * (8 / 3) / 3, "best_f1_thresh": na_probs["q1"],
                "missing_predictions": 7, "foreign_predictions": 0}
    assert list(ours) == list(expected)
    assert all(abs(ours[key] - value) <= TOLERANCE for key, value in expected.items()), ours


def test_squad_v2_groups_appear_only_when_not_empty():
    ours = check_against_reference(make_data("v2.0", [["Paris"], ["Seoul"]]), {"q0": "paris", "q1": ""})
    assert list(ours) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                          "missing_predictions", "foreign_predictions"]


def test_squad_v2_threshold_applies_above_one():
    data = make_data("v2.0", [["Paris"], []])
    predictions = {"q0": "Paris", "q1": "Paris"}
    ours = squad_metrics.evaluate(data, predictions, {"q0": 1.0, "q1": 1.5})
    # q1 is over 1.0: counted as predicted unanswerable, hence right; q0 at exactly 1.0 keeps its answer.
    assert ours["exact"] == 100.0 and ours["NoAns_exact"] == 100.0
    assert (ours["best_exact"], ours["best_exact_thresh"]) == (100.0, 1.0)
    with pytest.raises(InputError, match="none for question 'q1'"):
        squad_metrics.evaluate(data, predictions, {"q0": 0.5})
    with pytest.raises(InputError, match=r"only to SQuAD v2\.0 data"):
        squad_metrics.evaluate(make_data("1.1", [["Paris"]]), predictions, {"q0": 0.5})


def test_squad_v2_threshold_is_the_official_na_prob_thresh():
    """evaluate-v2.0.py --na-prob-thresh: any threshold, with or without no-answer probabilities (then every one is
    0.0, so only a negative threshold answers "" everywhere); the best thresholds do not depend on it."""
    data = make_data("v2.0", V2_GOLDS)
    default = check_against_reference(data, V2_PREDICTIONS, V2_NA_PROBS)
    for threshold in (-1.0, 0.0, 0.2, 0.9, 1.5, 2.5, 3.0):
        ours = check_against_reference(data, V2_PREDICTIONS, V2_NA_PROBS, threshold)
        assert {key: ours[key] for key in ours if key.startswith("best_")} == \
            {key: default[key] for key in default if key.startswith("best_")}
        check_against_reference(data, V2_PREDICTIONS, None, threshold)
    # At the highest probability (3.0) none exceeds it: the scores without probabilities.
    without = squad_metrics.evaluate(data, V2_PREDICTIONS)
    assert {key: value for key, value in squad_metrics.evaluate(data, V2_PREDICTIONS, V2_NA_PROBS, 3.0).items()
            if not key.startswith("best_")} == without
    assert squad_metrics.evaluate(data, V2_PREDICTIONS, None, -0.5)["HasAns_exact"] == 0.0  # all "no answer"
    with pytest.raises(InputError, match=r"^data: a no-answer threshold \(--na_prob_thresh\) applies only to SQuAD "
                                         r"v2\.0 data, not '1\.1'$"):
        squad_metrics.evaluate(make_data("1.1", [["Paris"]]), {"q0": "Paris"}, None, 1.0)


def test_bad_data_is_a_clear_error():
    with pytest.raises(InputError, match=r"^data: version is missing: it names the metric"):
        squad_metrics.evaluate({"data": []}, {})
    with pytest.raises(InputError, match=r"^data: the data has no question"):
        squad_metrics.evaluate({"version": "1.1", "data": []}, {})
    with pytest.raises(InputError, match=r"^dev\.json: question 'q0' has no answer"):
        squad_metrics.evaluate(make_data("1.1", [[]]), {"q0": ""}, source="dev.json")
    data = make_data("1.1", [["a"]])
    del data["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    with pytest.raises(InputError, match=re.escape("data: data[0].paragraphs[0].qas[0].answers is missing "
                                                   "(question 'q0')")):
        squad_metrics.evaluate(data, {})
    data["data"][0]["paragraphs"][0]["qas"][0]["id"] = 7
    with pytest.raises(InputError, match=re.escape("data: data[0].paragraphs[0].qas[0].id must be a string, not 7")):
        squad_metrics.evaluate(data, {})


# --- Random predictions against the references -------------------------------------------------------------------

PIECES = ["the", "The", "a", "an", "서울", "서울은", "Seoul", "Paris", "1989년", "15일", ".", ",", "!", "《", "》",
          "(", ")", "’", "‘", "“", "<", " ", "é", "İ", "denver", "Broncos"]
SYNTHETIC_GOLDS = [["Denver Broncos", "the Broncos"], ["《서울》", "서울은"], ["1989년 15일"], ["..."],
                   ["a Paris", "Paris."], ["(Seoul)"], ["é", "İ"], []]
ANSWER_TEXTS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=5).map(" ".join),
    st.lists(st.sampled_from(PIECES), max_size=5).map("".join),
    st.sampled_from([t for texts in SYNTHETIC_GOLDS for t in texts]),
)
MAYBE_ANSWERS = st.lists(st.one_of(st.none(), ANSWER_TEXTS), min_size=len(SYNTHETIC_GOLDS),
                         max_size=len(SYNTHETIC_GOLDS))


def as_predictions(texts):
    return {f"q{i}": text for i, text in enumerate(texts) if text is not None}


@settings(max_examples=150, deadline=None)
@given(texts=MAYBE_ANSWERS)
def test_v1_and_korquad_match_the_official_scripts_on_random_predictions(texts):
    for version in ("1.1", "KorQuAD_v1.0_dev"):
        check_against_reference(make_data(version, SYNTHETIC_GOLDS[:-1]), as_predictions(texts[:-1]))


@settings(max_examples=150, deadline=None)
@given(texts=MAYBE_ANSWERS, probs=st.lists(st.sampled_from([0.0, 0.2, 0.5, 1.0, 1.0001, 3.0]),
                                           min_size=len(SYNTHETIC_GOLDS), max_size=len(SYNTHETIC_GOLDS)),
       threshold=st.sampled_from([-0.5, 0.0, 0.2, 0.5, 2.0]))
def test_v2_matches_the_official_script_on_random_predictions(texts, probs, threshold):
    predictions = as_predictions(texts)
    if not predictions:
        return
    data = make_data("v2.0", SYNTHETIC_GOLDS)
    check_against_reference(data, predictions)
    # In reverse id order: ties must keep this order (the official sort is stable), not the ids' order.
    na_probs = {f"q{i}": p for i, p in reversed(list(enumerate(probs)))}
    check_against_reference(data, predictions, na_probs)
    check_against_reference(data, predictions, na_probs, threshold)
    check_against_reference(data, predictions, None, threshold)


# --- The real dev sets --------------------------------------------------------------------------------------------


@functools.cache
def shared_json(name):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with open(path, encoding="utf-8") as reader:
        return json.load(reader)


def perturbed_predictions(data, suffixes, seed=0):
    """Predictions made from the gold answers: some exact, truncated, with a particle, decorated, empty, missing."""
    rng = random.Random(seed)
    predictions = {}
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold = rng.choice(qa["answers"])["text"] if qa["answers"] else "the"
                choice = rng.randrange(8)
                if choice == 7:
                    continue  # missing
                predictions[qa["id"]] = [
                    gold, gold[: len(gold) // 2], gold + rng.choice(suffixes), "", f"({gold.upper()})",
                    f"The {gold}.", rng.choice(paragraph["context"].split()),
                ][choice]
    return predictions


def test_korquad_dev_set():
    data = shared_json("korquad/KorQuAD_v1.0_dev.json")
    questions = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    gold = {qa["id"]: qa["answers"][0]["text"] for qa in questions}
    assert check_against_reference(data, gold) == {"exact_match": 100.0, "f1": 100.0, "total": len(questions),
                                                   "missing_predictions": 0, "foreign_predictions": 0}
    ours = check_against_reference(data, perturbed_predictions(data, ["은", "는", "에서", "의", "이다"]))
    assert 20 < ours["exact_match"] < ours["f1"] < 80


def test_squad_v1_dev_set():
    data = shared_json("squad/dev-v1.1.json")
    questions = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    assert check_against_reference(data, {qa["id"]: qa["answers"][0]["text"] for qa in questions}) == {
        "exact_match": 100.0, "f1": 100.0, "total": len(questions), "missing_predictions": 0, "foreign_predictions": 0}
    ours = check_against_reference(data, perturbed_predictions(data, ["은", "'s", " in 1990", "!"]))
    assert 20 < ours["exact_match"] < ours["f1"] < 80


def squad_v2_from_v1(data, every=3):
    """SQuAD v1.1 dev as v2.0: every `every`-th question made unanswerable (is_impossible, no answers)."""
    data = copy.deepcopy(data)
    data["version"] = "v2.0"
    questions = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    for qa in questions[::every]:
        qa["is_impossible"], qa["plausible_answers"], qa["answers"] = True, qa["answers"], []
    return data


def test_squad_v2_from_v1_dev_set():
    data = squad_v2_from_v1(shared_json("squad/dev-v1.1.json"))
    rng = random.Random(1)
    questions = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    predictions = perturbed_predictions(data, ["'s", " in 1990"], seed=2)
    complete = {qa["id"]: predictions.get(qa["id"], "") for qa in questions}
    # No-answer probabilities in [0, 2) on a coarse grid, so that ties and the 1.0 threshold both occur.
    na_probs = {qa["id"]: rng.randrange(40) / 20 for qa in questions}
    check_against_reference(data, complete)
    for preds in (complete, predictions):
        ours = check_against_reference(data, preds, na_probs)
        assert 0.0 <= ours["best_f1_thresh"] < 2.0 and ours["best_exact"] <= ours["best_f1"]
        assert ours["NoAns_total"] > 3000 and ours["HasAns_total"] > 6000


# --- The command ------------------------------------------------------------------------------------------------------


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_cli_prints_the_scores(tmp_path):
    data = make_data("v2.0", V2_GOLDS)
    data_file = write_json(tmp_path / "dev.json", data)
    pred_file = write_json(tmp_path / "pred.json", V2_PREDICTIONS)
    na_file = write_json(tmp_path / "null_odds.json", V2_NA_PROBS)
    out_file = tmp_path / "scores.json"
    result = CliRunner().invoke(evaluate_squad.main, [data_file, pred_file, "--na_prob_file", na_file,
                                                      "--out_file", str(out_file)])
    assert result.exit_code == 0, result.output
    expected = squad_metrics.evaluate(data, V2_PREDICTIONS, V2_NA_PROBS)
    assert json.loads(result.stdout) == expected == json.loads(out_file.read_text())
    assert result.stderr == "Prediction for extra ignored: no such question in " + data_file + "\n"
    assert squad_metrics.evaluate_files(data_file, pred_file, na_file) == expected


# evaluate-v2.0.py's spellings of our flags: (ours, its long one, its short one).
SPELLINGS = [("--na_prob_file", "--na-prob-file", "-n"), ("--na_prob_thresh", "--na-prob-thresh", "-t"),
             ("--out_file", "--out-file", "-o")]


def test_the_official_spellings_are_ours(tmp_path):
    """evaluate-v2.0.py's command line (`data pred -n na_probs -t 0.5 -o out`, and --verbose/-v, which it takes and
    never reads) prints and writes what ours does, and that is the official script's output for those flags."""
    data = make_data("v2.0", V2_GOLDS)
    data_file = write_json(tmp_path / "dev.json", data)
    pred_file = write_json(tmp_path / "pred.json", V2_PREDICTIONS)
    na_file = write_json(tmp_path / "null_odds.json", V2_NA_PROBS)
    outputs = []
    for spelling, verbose in zip(range(3), ([], ["--verbose"], ["-v"]), strict=True):
        out_file = tmp_path / f"scores-{spelling}.json"
        flags = [name[spelling] for name in SPELLINGS]
        result = CliRunner().invoke(evaluate_squad.main, [data_file, pred_file, flags[0], na_file, flags[1], "0.5",
                                                          flags[2], str(out_file), *verbose])
        assert result.exit_code == 0, result.output
        outputs.append((result.stdout, out_file.read_text(encoding="utf-8")))
    assert outputs[0] == outputs[1] == outputs[2]
    scores = json.loads(outputs[0][0])
    assert scores == json.loads(outputs[0][1]) == squad_metrics.evaluate(data, V2_PREDICTIONS, V2_NA_PROBS, 0.5)
    assert_same_scores(scores, v20_main(data["data"], V2_PREDICTIONS, V2_NA_PROBS, na_prob_thresh=0.5))
    default = squad_metrics.evaluate(data, V2_PREDICTIONS, V2_NA_PROBS)
    assert (scores["HasAns_exact"], scores["NoAns_exact"]) != (default["HasAns_exact"], default["NoAns_exact"])


def test_help_lists_both_spellings():
    result = CliRunner().invoke(evaluate_squad.main, ["--help"])
    for names in SPELLINGS:
        assert re.search(rf"{names[2]}, {names[0]}, {names[1]} ", result.stdout), names


# --- Bad input: one line naming the file and the field, nothing damaged ---------------------------------------------

FOLDER = object()  # a file entry that is a folder


@dataclass(frozen=True)
class Link:
    """A file entry that is a symbolic link to `target`."""

    target: str

DEV_V1 = make_data("1.1", [["Paris"], ["Seoul"]])
DEV_V2 = make_data("v2.0", [["Paris"], []])
PREDICTIONS = {"q0": "Paris", "q1": "Seoul"}
OLD_SCORES = b'{"exact_match": 12.5}\n'


def with_qa(data, **changes):
    """`data` with its first question changed (a field set to None is removed)."""
    data = copy.deepcopy(data)
    qa = data["data"][0]["paragraphs"][0]["qas"][0]
    qa.update(changes)
    for name in [name for name, value in changes.items() if value is None]:
        del qa[name]
    return data


def with_duplicate_id(data):
    data = copy.deepcopy(data)
    data["data"].append({"title": "u", "paragraphs": [{"context": "c", "qas": [
        {"id": "q0", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]})
    return data


def full_disk(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device", "scores.json")

    monkeypatch.setattr(os, "fsync", fsync)


def read_only(monkeypatch):
    def create_temporary(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "create_temporary", create_temporary)


def bad(case_id, files, line, args=(), out_file="scores.json", inject=None):
    """A case: files over the good ones (JSON values, bytes, FOLDER, a Link, None: absent), extra args, --out_file, a
    failure to inject, and the exact error line ({here}: the folder it runs in)."""
    return pytest.param(files, list(args), out_file, inject, line, id=case_id)


BAD_INPUTS = [
    bad("data missing", {"dev.json": None}, "Error: dev.json: No such file or directory"),
    bad("data a folder", {"dev.json": FOLDER},
        "Error: Invalid value for 'DATA_FILE': File 'dev.json' is a directory. (see --help)"),
    bad("data UTF-16", {"dev.json": json.dumps(DEV_V1).encode("utf-16")},
        "Error: dev.json: UTF-16 text (it starts with a UTF-16 byte order mark); convert it to UTF-8, e.g. iconv -f "
        "UTF-16 -t UTF-8"),
    bad("data invalid UTF-8", {"dev.json": b'{"version": "1.1",\n "data": ["\xff"]}'},
        "Error: dev.json:2: not valid UTF-8 (byte 0xff at byte 12 of the line)"),
    bad("data invalid JSON", {"dev.json": b'{"version": "1.1", "data": [}'},
        "Error: dev.json: not valid JSON (line 1 column 29: Expecting value)"),
    bad("data empty", {"dev.json": b""}, "Error: dev.json: not valid JSON (line 1 column 1: Expecting value)"),
    bad("no version", {"dev.json": {"data": DEV_V1["data"]}},
        'Error: dev.json: version is missing: it names the metric ("KorQuAD_v1.0_dev", "1.1" or "v2.0")'),
    bad("version a number", {"dev.json": {**DEV_V1, "version": 1.1}},
        "Error: dev.json: version must be a string, not 1.1"),
    bad("top level an array", {"dev.json": [DEV_V1]}, "Error: dev.json: the top level must be an object, not an array"),
    bad("no data", {"dev.json": {"version": "1.1"}}, "Error: dev.json: data is missing"),
    bad("paragraphs a string", {"dev.json": {"version": "1.1", "data": [{"paragraphs": "x"}]}},
        'Error: dev.json: data[0].paragraphs must be an array, not "x"'),
    bad("question a string", {"dev.json": {"version": "1.1", "data": [{"paragraphs": [{"qas": ["q0"]}]}]}},
        'Error: dev.json: data[0].paragraphs[0].qas[0] must be an object, not "q0"'),
    bad("id a number", {"dev.json": with_qa(DEV_V1, id=7)},
        "Error: dev.json: data[0].paragraphs[0].qas[0].id must be a string, not 7"),
    bad("no answers", {"dev.json": with_qa(DEV_V1, answers=None)},
        "Error: dev.json: data[0].paragraphs[0].qas[0].answers is missing (question 'q0')"),
    bad("answer text a number", {"dev.json": with_qa(DEV_V1, answers=[{"text": 7, "answer_start": 0}])},
        "Error: dev.json: data[0].paragraphs[0].qas[0].answers[0].text must be a string, not 7 (question 'q0')"),
    bad("answer an array", {"dev.json": with_qa(DEV_V1, answers=[["Paris", 0]])},
        "Error: dev.json: data[0].paragraphs[0].qas[0].answers[0] must be an object, not an array (question 'q0')"),
    bad("duplicate ids", {"dev.json": with_duplicate_id(DEV_V1)},
        "Error: dev.json: question id 'q0' appears twice: data[0].paragraphs[0].qas[0] and "
        "data[1].paragraphs[0].qas[0] (scores and predictions are keyed by id)"),
    bad("v1.1 question without answer", {"dev.json": with_qa(DEV_V1, answers=[])},
        "Error: dev.json: question 'q0' has no answer (for SQuAD v2.0 data, version must be 'v2.0')"),
    bad("data key twice in a question", {"dev.json": b'{"version": "1.1", "data": [{"paragraphs": [{"qas": [{"id": '
        b'"q0", "answers": [{"text": "Paris"}], "id": "q1"}]}]}]}'}, 'Error: dev.json: key "id" appears twice'),
    bad("predictions missing", {"pred.json": None}, "Error: pred.json: No such file or directory"),
    bad("prediction id twice", {"pred.json": b'{"q0": "Paris", "q1": "Seoul", "q0": "Rome"}'},
        'Error: pred.json: key "q0" appears twice'),
    bad("predictions an array", {"pred.json": ["Paris"]},
        "Error: pred.json: must be a JSON object {question id: an answer string}, not an array"),
    bad("prediction a number", {"pred.json": {"q0": "Paris", "q1": 3}},
        "Error: pred.json: question 'q1': must be an answer string, not 3"),
    bad("prediction null", {"pred.json": {"q0": None}},
        "Error: pred.json: question 'q0': must be an answer string, not null"),
    bad("predictions invalid JSON", {"pred.json": b'{"q0": "Paris",}'},
        "Error: pred.json: not valid JSON (line 1 column 16: Expecting property name enclosed in double quotes)"),
    bad("v2.0 nothing predicted", {"dev.json": DEV_V2, "pred.json": {}},
        "Error: dev.json: no question of the data has a prediction"),
    bad("na_prob on v1.1", {"null.json": {"q0": 0.5, "q1": 0.5}},
        "Error: null.json: no-answer probabilities apply only to SQuAD v2.0 data, and dev.json has version '1.1'",
        args=["--na_prob_file", "null.json"]),
    bad("na_prob missing an id", {"dev.json": DEV_V2, "null.json": {"q0": 0.5}},
        "Error: null.json: no probability for question 'q1'", args=["--na_prob_file", "null.json"]),
    bad("na_prob true", {"dev.json": DEV_V2, "null.json": {"q0": True, "q1": 0.5}},
        "Error: null.json: question 'q0': must be a number, not true", args=["--na_prob_file", "null.json"]),
    bad("na_prob NaN", {"dev.json": DEV_V2, "null.json": b'{"q0": NaN, "q1": 0.5}'},
        "Error: null.json: question 'q0': must be a number, not NaN", args=["--na_prob_file", "null.json"]),
    bad("na_prob id twice", {"dev.json": DEV_V2, "null.json": b'{"q0": 0.5, "q1": 0.5, "q1": 0.2}'},
        'Error: null.json: key "q1" appears twice', args=["--na_prob_file", "null.json"]),
    bad("na_prob file a folder", {"dev.json": DEV_V2, "null.json": FOLDER},
        "Error: Invalid value for '--na_prob_file': File 'null.json' is a directory. (see --help)",
        args=["--na_prob_file", "null.json"]),
    bad("na_prob file a folder, official spelling", {"dev.json": DEV_V2, "null.json": FOLDER},
        "Error: Invalid value for '--na_prob_file': File 'null.json' is a directory. (see --help)",
        args=["-n", "null.json"]),
    bad("na_prob_thresh on v1.1", {}, "Error: dev.json: a no-answer threshold (--na_prob_thresh) applies only to "
        "SQuAD v2.0 data, not '1.1'", args=["--na-prob-thresh", "0.5"]),
    bad("na_prob_thresh not a number", {"dev.json": DEV_V2},
        "Error: Invalid value for '--na_prob_thresh': 'x' is not a valid float range. (see --help)", args=["-t", "x"]),
    bad("na_prob_thresh NaN", {"dev.json": DEV_V2},
        "Error: Invalid value for '--na_prob_thresh': 'nan' is not a finite number (see --help)", args=["-t", "nan"]),
    bad("plots asked for", {"dev.json": DEV_V2}, "Error: Invalid value for '--out-image-dir': precision-recall plots "
        "are not drawn here; evaluate-v2.0.py draws them (see --help)", args=["-p", "images"]),
    bad("out_file a folder", {"out": FOLDER},
        "Error: Invalid value for '--out_file': File 'out' is a directory. (see --help)", out_file="out"),
    bad("out_file empty", {}, "Error: Invalid value for '--out_file': an empty path (see --help)", out_file=""),
    bad("out_file the data", {}, "Error: dev.json: --out_file would overwrite the input dev.json", out_file="dev.json"),
    bad("out_file the predictions by another path", {"sub": FOLDER},
        "Error: sub/../pred.json: --out_file would overwrite the input pred.json", out_file="sub/../pred.json"),
    bad("out_file a link to the na_prob file", {"dev.json": DEV_V2, "null.json": {"q0": 0.5, "q1": 0.5},
                                                 "link.json": Link("null.json")},
        "Error: link.json: --out_file would overwrite the input null.json", args=["--na_prob_file", "null.json"],
        out_file="link.json"),
    bad("out_file under a file", {}, "Error: dev.json/scores.json: {here}/dev.json is a file, not a folder",
        out_file="dev.json/scores.json"),
    bad("out_file disk full", {}, "Error: scores.json: No space left on device (the disk is full; nothing was "
        "replaced)", inject=full_disk),
    bad("out_file read-only", {}, "Error: scores.json: Permission denied (cannot write or read there; nothing was "
        "replaced)", inject=read_only),
]


def write_files(root, files):
    for name, value in files.items():
        path = root / name
        if value is FOLDER:
            path.mkdir()
        elif isinstance(value, Link):
            path.symlink_to(value.target)
        elif isinstance(value, bytes):
            path.write_bytes(value)
        elif value is not None:
            path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize(("files", "args", "out_file", "inject", "line"), BAD_INPUTS)
def test_bad_input_is_one_line_and_damages_nothing(tmp_path, monkeypatch, files, args, out_file, inject, line):
    monkeypatch.chdir(tmp_path)
    contents = {"dev.json": DEV_V1, "pred.json": PREDICTIONS, "scores.json": OLD_SCORES, **files}
    write_files(tmp_path, contents)
    if inject is not None:
        inject(monkeypatch)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(evaluate_squad.main, ["dev.json", "pred.json", "--out_file", out_file, *args])
    assert assert_one_line_error(result) == line.replace("{here}", str(tmp_path))
    assert result.stdout == ""  # no scores printed
    assert snapshot(tmp_path) == before  # scores.json as it was, no temporary file left


def test_byte_order_marks_are_accepted(tmp_path):
    files = {"dev.json": DEV_V2, "pred.json": {"q0": "Paris", "q1": ""}, "null.json": {"q0": 0.1, "q1": 2.0}}
    for name, value in files.items():
        (tmp_path / name).write_text("\ufeff" + json.dumps(value), encoding="utf-8")
    result = CliRunner().invoke(evaluate_squad.main, [str(tmp_path / "dev.json"), str(tmp_path / "pred.json"),
                                                      "--na_prob_file", str(tmp_path / "null.json")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == squad_metrics.evaluate(*files.values())


def test_scores_on_a_full_disk_keep_the_old_file(tmp_path, monkeypatch):
    """The matrix's disk-full case, also through atomic_output's real file: the old scores stay whole."""
    out_file = tmp_path / "scores.json"
    out_file.write_bytes(OLD_SCORES)
    write_files(tmp_path, {"dev.json": DEV_V1, "pred.json": PREDICTIONS})
    full_disk(monkeypatch)
    result = CliRunner().invoke(evaluate_squad.main, [str(tmp_path / "dev.json"), str(tmp_path / "pred.json"),
                                                      "--out_file", str(out_file)])
    assert_one_line_error(result, "No space left on device")
    assert out_file.read_bytes() == OLD_SCORES and sorted(os.listdir(tmp_path)) == ["dev.json", "pred.json",
                                                                                     "scores.json"]


# --- Missing and foreign predictions: warned and counted ----------------------------------------------------------


def test_missing_and_foreign_predictions_are_warned_and_counted(capsys):
    data = make_data("1.1", [["Paris"]] * 13)
    predictions = {"q0": "Paris", "elsewhere": "Seoul"}
    scores = squad_metrics.evaluate(data, predictions, source="dev.json")
    # The official arithmetic: 1 of 13 right; the counts beside it.
    assert scores == {"exact_match": 100 / 13, "f1": 100 / 13, "total": 13, "missing_predictions": 12,
                      "foreign_predictions": 1}
    assert capsys.readouterr().err.splitlines() == [
        *(f"Unanswered question q{i} will receive score 0." for i in range(1, 11)),
        "... and 2 more unanswered questions (each receives score 0)",
        "Prediction for elsewhere ignored: no such question in dev.json",
    ]


def test_v2_missing_predictions_are_warned_in_its_words(capsys):
    data = make_data("v2.0", [["Paris"], [], ["Seoul"]])
    scores = squad_metrics.evaluate(data, {"q0": "Paris"})
    assert (scores["total"], scores["missing_predictions"], scores["foreign_predictions"]) == (1, 2, 0)
    assert capsys.readouterr().err.splitlines() == ["Missing prediction for q1", "Missing prediction for q2"]


def test_full_coverage_is_silent(capsys):
    squad_metrics.evaluate(make_data("KorQuAD_v1.0_dev", [["서울"]]), {"q0": "서울"})
    assert capsys.readouterr().err == ""


def test_foreign_warnings_are_capped(capsys):
    predictions = {"q0": "Paris", **{f"x{i}": "" for i in range(25)}}
    assert squad_metrics.evaluate(make_data("1.1", [["Paris"]]), predictions)["foreign_predictions"] == 25
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[-1] == "... and 15 more predictions ignored (no such questions in data)"


# --- The one reader ---------------------------------------------------------------------------------------------


def test_read_squad_file_gives_paragraphs_questions_and_places(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text("\ufeff" + json.dumps(with_duplicate_id(DEV_V1)).replace('"q0"', '"a"', 1), encoding="utf-8")
    squad = squad_data.read_squad_file(str(path))
    assert squad.version == "1.1" and squad.source == str(path)
    assert [q.id for q in squad.questions] == ["a", "q1", "q0"]
    assert [len(p.questions) for p in squad.paragraphs] == [2, 1]
    assert squad.questions[2].place.path == "data[1].paragraphs[0].qas[0]" and squad.questions[2].answers == ("Paris",)
    assert squad.paragraphs[1].record["context"] == "c"
