import json
import random
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT
from torchrun import CPU_ENV, torchrun_nodes

import modeling
import run_squad
import tokenization
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export, loading
from mecab_bert.files import file_sha256
from mecab_bert.runs import checkpointing
from mecab_bert.tasks import fine_tuning, squad, squad_data, squad_metrics, windows
from text_input import InputError

SAMPLE_QA = ROOT / "data" / "sample_korquad.json"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


@pytest.fixture(scope="module")
def tokenizer():
    return tokenization.FullTokenizer(KOWIKI_VOCAB)


def write_squad(tmp_path, paragraphs, version="KorQuAD_v1.0", name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


def oracle_predictions(path, tokenizer, version_2=False, config=None):
    dataset = squad.featurize(str(path), tokenizer, config or squad.FeatureConfig(), False, version_2)
    starts, ends = squad.gold_logits(dataset)
    predictions, nbest, null_odds = squad.best_spans(dataset, starts, ends,
                                                         squad.PredictConfig(version_2_with_negative=version_2))
    return dataset, predictions, nbest, null_odds


# --- alignment ---------------------------------------------------------------------------------------


def test_align_answer_keeps_moves_or_gives_up():
    context = "서울은 크다. 나는 서울에서 왔다."
    assert squad.align_answer(context, "서울", 0) == (0, False)
    assert squad.align_answer(context, "서울", 9) == (11, True)  # nearest occurrence
    assert squad.align_answer(context, "부산", 3) == (None, False)


def test_answers_are_cut_exactly_from_messy_contexts(tmp_path, tokenizer):
    contexts = [
        "  세종대왕은  1443년에   훈민정음을 만들었다.  ",
        "서울에서\t부산까지는\u00a0KTX로 2시간 30분이 걸린다.",
        "제주도는\u200b한국에서 가장 큰 섬이다.\u3000인구는 약 67만 명이다.",
        "Apple\u00a0Inc.는 1976년에 세워졌다. 본사는 쿠퍼티노에 있다.",
    ]
    answers = [["1443년", "훈민정음"], ["부산", "2시간 30분"], ["가장 큰 섬", "약 67만 명"], ["1976년", "쿠퍼티노"]]
    paragraphs = [{"context": c, "qas": [{"id": f"q{i}-{j}", "question": "무엇인가?",
                                          "answers": [{"text": a, "answer_start": c.index(a)}]}
                                         for j, a in enumerate(answer_list)]}
                  for i, (c, answer_list) in enumerate(zip(contexts, answers, strict=True))]
    path = write_squad(tmp_path, paragraphs)
    _, predictions, nbest, _ = oracle_predictions(path, tokenizer)
    expected = {f"q{i}-{j}": a for i, answer_list in enumerate(answers) for j, a in enumerate(answer_list)}
    assert predictions == expected
    for qid, entries in nbest.items():
        context = contexts[int(qid[1])]
        best = entries[0]
        assert context[best["start_char"]:best["end_char"]] == best["text"] == expected[qid]
        assert abs(sum(e["probability"] for e in entries) - 1) < 1e-6
        assert {"start_logit", "end_logit"} <= best.keys()


def test_wrong_answer_start_is_fixed_or_skipped_and_counted(tmp_path):
    context = "나는 서울에서 태어나 서울에서 자랐다."
    path = write_squad(tmp_path, [{"context": context, "qas": [
        {"id": "a", "question": "어디?", "answers": [{"text": "서울", "answer_start": 0}]},
        {"id": "b", "question": "어디?", "answers": [{"text": "부산", "answer_start": 3}]},
        {"id": "c", "question": "어디?", "answers": [{"text": "서울", "answer_start": 12}]}]}])
    _, examples, stats, _ = squad.read_squad(path, is_training=True)
    assert [e.qas_id for e in examples] == ["a", "c"]
    assert examples[0].answer_span == (3, 5) and examples[1].answer_span == (12, 14)
    assert stats.fixed_answer_starts == 1 and stats.unfindable_answers == 1


def test_boundary_inside_a_piece_is_counted(tmp_path):
    vocab = tmp_path / "vocab.txt"
    pieces = ["서울시", "에", "##에", "산다", "나", "##는", "?", "어디"]
    vocab.write_text("\n".join([*tokenization.SPECIAL_TOKENS, *pieces]))
    tokenizer = tokenization.FullTokenizer(vocab, tokenizer="wordpiece")
    path = write_squad(tmp_path, [{"context": "나 서울시 산다", "qas": [
        {"id": "a", "question": "어디?", "answers": [{"text": "서울", "answer_start": 2}]}]}])
    dataset = squad.featurize(str(path), tokenizer, squad.FeatureConfig(), True, False)
    assert dataset.feature_stats.answers_inside_a_piece == 1
    assert dataset.features.start_positions[0] == dataset.features.end_positions[0] > 0


# --- windows -------------------------------------------------------------------------------------------


def google_windows(length, max_tokens_for_doc, doc_stride):
    spans, start = [], 0
    while start < length:
        size = min(length - start, max_tokens_for_doc)
        spans.append((start, size))
        if start + size == length:
            break
        start += min(size, doc_stride)
    return spans


def google_is_max_context(spans, cur, position):
    best_score, best = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, index
    return cur == best


def test_windows_and_max_context_follow_google():
    rng = random.Random(0)
    for _ in range(300):
        length, max_tokens, stride = rng.randint(1, 900), rng.randint(5, 300), rng.randint(1, 200)
        found = windows.doc_windows(length, max_tokens, stride)
        assert found == google_windows(length, max_tokens, stride)
        best = windows.max_context_window(found, length)
        for position in range(0, length, 7):
            for index in range(len(found)):
                if found[index][0] <= position < sum(found[index]):
                    assert (best[position] == index) == google_is_max_context(found, index, position)


def test_long_context_windows_still_find_every_answer(tmp_path, tokenizer):
    sentences = [f"{i}번째 문장에는 숫자 {i * 7}이 들어 있다." for i in range(120)]
    context = " ".join(sentences)
    qas = [{"id": str(i), "question": f"{i}번째 문장의 숫자는?",
            "answers": [{"text": str(i * 7), "answer_start": context.index(f"숫자 {i * 7}이") + 3}]}
           for i in range(0, 120, 9)]
    path = write_squad(tmp_path, [{"context": context, "qas": qas}])
    config = squad.FeatureConfig(max_seq_length=64, doc_stride=16, max_query_length=16)
    dataset, predictions, _, _ = oracle_predictions(path, tokenizer, config=config)
    assert len(dataset.features) > 20
    assert predictions == {qa["id"]: qa["answers"][0]["text"] for qa in qas}


def test_sample_oracle_misses_only_answers_cut_inside_a_morpheme():
    tokenizer = tokenization.FullTokenizer(SAMPLE_VOCAB)
    dataset, predictions, _, _ = oracle_predictions(SAMPLE_QA, tokenizer)
    spans = squad.gold_answer_spans(dataset)
    missed = [e.qas_id for e in dataset.examples if predictions[e.qas_id] != e.answers[0][0]]
    inside = [e.qas_id for e, span in zip(dataset.examples, spans, strict=True) if span[2]]
    assert missed == inside and len(missed) <= 2  # e.g. 경주 in 경주로, which MeCab keeps as one noun
    assert squad_metrics.evaluate(dataset.data, predictions)["f1"] > 99.5


def test_version_2_predicts_no_answer_when_null_wins(tmp_path, tokenizer):
    context = "세종대왕은 1443년에 훈민정음을 만들었다."
    path = write_squad(tmp_path, [{"context": context, "qas": [
        {"id": "yes", "question": "언제?", "is_impossible": False,
         "answers": [{"text": "1443년", "answer_start": context.index("1443년")}]},
        {"id": "no", "question": "누가 한글을 싫어했나?", "is_impossible": True, "answers": []}]}], version="v2.0")
    dataset, predictions, _, null_odds = oracle_predictions(path, tokenizer, version_2=True)
    assert predictions == {"yes": "1443년", "no": ""}
    assert null_odds["no"] > 0 > null_odds["yes"]
    assert squad_metrics.evaluate(dataset.data, predictions, null_odds)["exact"] == 100.0


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("qa", "message"), [
    ({"id": "q1", "answers": []}, "data.json: data[0].paragraphs[0].qas[0].question is missing (question 'q1')"),
    ({"id": "q1", "question": "?", "answers": [{"text": "x", "answer_start": "0"}]},
     "data.json: data[0].paragraphs[0].qas[0].answers[0].answer_start must be an integer, not \"0\" (question 'q1')"),
    ({"id": "q1", "question": "?", "answers": [{"text": "x", "answer_start": 99}]},
     "data.json: data[0].paragraphs[0].qas[0].answers[0].answer_start is 99, outside the context (length 5) "
     "(question 'q1')"),
])
def test_bad_questions_name_the_id_and_field(tmp_path, qa, message):
    path = write_squad(tmp_path, [{"context": "짧은 문맥", "qas": [qa, {"id": "ok", "question": "?", "answers": [
        {"text": "짧은", "answer_start": 0}]}]}])
    with pytest.raises(InputError, match=re.escape(message)):
        squad.read_squad(path, is_training=True)
    _, examples, stats, _ = squad.read_squad(path, is_training=True, skip_bad_examples=True)
    assert [e.qas_id for e in examples] == ["ok"] and stats.bad_examples == 1


def test_malformed_json_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"version": "1.1", "data": [', encoding="utf-8")
    result = CliRunner().invoke(run_squad.main, ["--vocab_file", str(SAMPLE_VOCAB), "--bert_config_file",
                                                 str(ROOT / "configs" / "bert_tiny.json"), "--output_dir",
                                                 str(tmp_path / "out"), "--do_predict", "--predict_file", str(path)])
    assert result.exit_code == 1 and "bad.json: not valid JSON (line 1 column 29: Expecting value)" in result.output
    assert not (tmp_path / "out" / "predictions.json").exists()


# --- josa ----------------------------------------------------------------------------------------------


def test_strip_josa_drops_trailing_particles_only():
    strip = squad.JosaStripper()
    assert strip("서울에서") == "서울"
    assert strip("학교에") == "학교"
    assert strip("대한민국의") == "대한민국"
    assert strip("세종대왕은") == "세종대왕"
    assert strip("1443년") == "1443년"
    assert strip("사과나무") == "사과나무"
    assert strip("에서") == "에서"  # nothing would be left
    assert strip("") == ""


# --- the command, end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_train_predict_and_score_from_a_hugging_face_directory(tmp_path):
    config = modeling.BertConfig(vocab_size=4000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128)
    hf_dir = hf_export.export_hf(modeling.BertForPreTraining(config), tmp_path / "hf",
                                 tokenizer_settings.TokenizerSettings(str(SAMPLE_VOCAB), True, "mecab"),
                                 hf_export.ModelCard("a"))
    out = tmp_path / "squad"
    result = CliRunner().invoke(run_squad.main, [
        "--vocab_file", str(SAMPLE_VOCAB), "--init_checkpoint", str(hf_dir), "--output_dir", str(out),
        "--do_train", "--train_file", str(SAMPLE_QA), "--do_predict", "--predict_file", str(SAMPLE_QA),
        "--max_seq_length", "96", "--doc_stride", "48", "--train_batch_size", "16", "--num_train_epochs", "0.3",
        "--learning_rate", "1e-3", "--device", "cpu", "--strip_josa"])
    assert result.exit_code == 0, result.output
    predictions = json.loads((out / "predictions.json").read_text())
    data = json.loads(SAMPLE_QA.read_text())
    assert predictions.keys() == {qa["id"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
    contexts = {qa["id"]: p["context"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    for qid, entries in nbest.items():
        for entry in entries:
            assert contexts[qid][entry["start_char"]:entry["end_char"]] == entry["text"]
    scores = json.loads((out / "eval_results.json").read_text())
    assert scores == squad_metrics.evaluate(data, predictions)
    assert json.loads(result.output.strip().splitlines()[-1]) == scores if result.output.strip().startswith(
        "{") else True
    assert len(list(out.glob("ckpt-*.pt"))) == 1  # the last one only: fine-tuning keeps one


def test_features_hold_question_and_window(tmp_path, tokenizer):
    context = "세종대왕은 1443년에 훈민정음을 만들었다."
    path = write_squad(tmp_path, [{"context": context, "qas": [
        {"id": "a", "question": "훈민정음은 언제?", "answers": [{"text": "1443년", "answer_start": 6}]}]}])
    dataset = squad.featurize(str(path), tokenizer, squad.FeatureConfig(max_seq_length=32), True, False)
    features = dataset.features
    ids = features.input_ids[0]
    question = tokenizer.encode("훈민정음은 언제?")
    assert ids[0] == tokenizer.vocab["[CLS]"] and list(ids[1:1 + len(question)]) == question
    offset, size = features.doc_offset[0], features.doc_length[0]
    assert ids[offset - 1] == ids[offset + size] == tokenizer.vocab["[SEP]"]
    assert features.token_type_ids[0, offset:offset + size + 1].all() and not features.token_type_ids[0, :offset].any()
    start, end = features.start_positions[0], features.end_positions[0]
    context_tokens = dataset.tokenized[0]
    assert context[context_tokens.starts[start - offset]:context_tokens.ends[end - offset]] == "1443년"
    assert np.array_equal(features.attention_mask[0, :offset + size + 1], np.ones(offset + size + 1))


# --- the run folder ------------------------------------------------------------------------------------


def squad_args(config_file, out, train_file, *extra):
    return ["--vocab_file", str(SAMPLE_VOCAB), "--bert_config_file", str(config_file), "--output_dir", str(out),
            "--do_train", "--train_file", str(train_file), "--max_seq_length", "64", "--doc_stride", "32",
            "--train_batch_size", "16", "--num_train_epochs", "0.1", "--device", "cpu", *map(str, extra)]


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"vocab_size": 4000, "hidden_size": 16, "num_hidden_layers": 1,
                                "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64}))
    return path


@pytest.mark.slow
def test_two_nodes_fine_tune_as_one_process_with_the_combined_batch(tmp_path):
    """run_squad on two torchrun agents (two nodes of one process, c10d rendezvous, gloo): the weights of one
    process with the combined batch."""
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"vocab_size": 4000, "hidden_size": 16, "num_hidden_layers": 1,
                                  "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64,
                                  "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    one = squad_args(config, tmp_path / "one", SAMPLE_QA, "--num_train_epochs", "0.3")
    subprocess.run([sys.executable, str(ROOT / "run_squad.py"), *one], check=True, env=CPU_ENV, capture_output=True)
    torchrun_nodes(ROOT / "run_squad.py", 2, 1, squad_args(config, tmp_path / "two", SAMPLE_QA,
                                                            "--num_train_epochs", "0.3"))
    weights = [checkpointing.load_checkpoint(loading.checkpoints(tmp_path / name)[-1])["model"]
               for name in ("one", "two")]
    assert weights[0].keys() == weights[1].keys()
    assert max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0]) < 1e-6


@pytest.mark.slow
def test_a_new_train_file_is_a_new_run_not_a_silent_resume(tmp_path, tiny_config):
    out = tmp_path / "squad"
    assert CliRunner().invoke(run_squad.main, squad_args(tiny_config, out, SAMPLE_QA)).exit_code == 0
    before = snapshot(out)
    data = json.loads(SAMPLE_QA.read_text(encoding="utf-8"))
    data["data"] = data["data"][:1]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(run_squad.main, squad_args(tiny_config, out, other))
    assert_one_line_error(result, str(out), "train_file_sha256", "--overwrite_output_dir")
    assert snapshot(out) == before  # bert_config.json and the checkpoint untouched: the run still loads
    result = CliRunner().invoke(run_squad.main, squad_args(tiny_config, out, other, "--overwrite_output_dir"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["train_file_sha256"] == file_sha256(other)
    [old_checkpoint] = [name for name in before if name.startswith("ckpt-")]
    [new_checkpoint] = [name for name in snapshot(out) if name.startswith("ckpt-")]
    assert (new_checkpoint, snapshot(out)[new_checkpoint]) != (old_checkpoint, before[old_checkpoint])


@pytest.mark.parametrize(("flags", "names"), [
    (["--max_seq_length", "70000"], ["--max_seq_length 70000", "max_position_embeddings"]),
    (["--train_batch_size", "0"], ["--train_batch_size"]),
    (["--doc_stride", "0"], ["--doc_stride"]),
    (["--warmup_proportion", "2"], ["--warmup_proportion"]),
    (["--num_train_epochs", "0"], ["--num_train_epochs"]),
    (["--vocab_file", "/nonexistent/vocab.txt"], ["/nonexistent/vocab.txt"]),
    (["--init_checkpoint", "/nonexistent/ckpt.pt"], ["/nonexistent/ckpt.pt"]),
])
def test_bad_flags_are_one_line(tmp_path, tiny_config, flags, names):
    out = tmp_path / "squad"
    assert_one_line_error(CliRunner().invoke(run_squad.main, squad_args(tiny_config, out, SAMPLE_QA, *flags)), *names)
    assert not out.exists()


def test_an_output_dir_under_a_file_is_one_line(tmp_path, tiny_config):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    result = CliRunner().invoke(run_squad.main, squad_args(tiny_config, blocker / "squad", SAMPLE_QA))
    assert_one_line_error(result, str(blocker))


# --- reading through evaluate_squad's reader: one set of rules -----------------------------------------------


def squad_file(tmp_path, qas, version="KorQuAD_v1.0", context="짧은 문맥", prefix="", encoding="utf-8"):
    path = tmp_path / "data.json"
    text = json.dumps({"version": version, "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]},
                      ensure_ascii=False)
    path.write_text(prefix + text, encoding=encoding)
    return path


GOOD_QA = {"id": "ok", "question": "?", "answers": [{"text": "짧은", "answer_start": 0}]}


def test_read_squad_accepts_a_byte_order_mark(tmp_path):
    path = squad_file(tmp_path, [GOOD_QA], prefix="\ufeff")
    contexts, examples, _, data = squad.read_squad(path, is_training=True)
    assert contexts == ["짧은 문맥"] and [e.qas_id for e in examples] == ["ok"] and data["version"] == "KorQuAD_v1.0"
    assert squad_metrics.evaluate(data, {"ok": "짧은"})["exact_match"] == 100.0


@pytest.mark.parametrize(("write", "message"), [
    (lambda p: p.write_bytes(json.dumps({"version": "1.1", "data": []}).encode("utf-16")), "data.json: UTF-16 text"),
    (lambda p: p.write_bytes(b'{"version": "1.1",\n"data": "\xff"}'), "data.json:2: not valid UTF-8"),
    (lambda p: p.write_text('{"version": "1.1", "data": [', encoding="utf-8"),
     "data.json: not valid JSON (line 1 column 29: Expecting value)"),
    (lambda p: p.write_text('{"data": []}', encoding="utf-8"), "data.json: version is missing: it names the metric"),
    (lambda p: p.write_text('{"version": "1.1", "data": {}}', encoding="utf-8"),
     "data.json: data must be an array, not an object"),
    (lambda p: p.mkdir(), "data.json: Is a directory"),
])
def test_read_squad_fails_as_evaluate_squad_does(tmp_path, write, message):
    path = tmp_path / "data.json"
    write(path)
    with pytest.raises(InputError) as caught:
        squad.read_squad(path, is_training=False, skip_bad_examples=True)
    assert str(caught.value).startswith(f"{path.parent}/{message}")
    with pytest.raises(InputError) as caught_there:
        squad_data.read_squad_file(str(path))
    assert str(caught_there.value) == str(caught.value)


@pytest.mark.parametrize("skip_bad_examples", [False, True])
def test_duplicate_ids_are_an_error_even_when_skipping(tmp_path, skip_bad_examples):
    path = squad_file(tmp_path, [GOOD_QA, {**GOOD_QA, "question": "again?"}])
    message = "data.json: question id 'ok' appears twice: data[0].paragraphs[0].qas[0] and data[0].paragraphs[0].qas[1]"
    with pytest.raises(InputError, match=re.escape(message)):
        squad.read_squad(path, is_training=False, skip_bad_examples=skip_bad_examples)


def test_answer_texts_are_the_scorers_rule_never_skipped(tmp_path):
    # A question evaluate_squad could not score fails the whole file, so that no prediction is made for nothing.
    path = squad_file(tmp_path, [GOOD_QA, {"id": "q1", "question": "?", "answers": [{"text": 3, "answer_start": 0}]}])
    with pytest.raises(InputError, match=re.escape(
            "data.json: data[0].paragraphs[0].qas[1].answers[0].text must be a string, not 3 (question 'q1')")):
        squad.read_squad(path, is_training=True, skip_bad_examples=True)


@pytest.mark.parametrize(("qa", "message"), [
    ({**GOOD_QA, "is_impossible": "false"},
     "data.json: data[0].paragraphs[0].qas[0].is_impossible must be true or false, not \"false\" (question 'ok')"),
    ({**GOOD_QA, "is_impossible": True},
     "data.json: data[0].paragraphs[0].qas[0].is_impossible is true, yet the question has answers (question 'ok')"),
    ({"id": "ok", "question": "?", "answers": []},
     "data.json: data[0].paragraphs[0].qas[0].answers is empty: a training question needs an answer"),
])
def test_version_2_questions_are_checked(tmp_path, qa, message):
    path = squad_file(tmp_path, [qa], version="v2.0")
    with pytest.raises(InputError, match=re.escape(message)):
        squad.read_squad(path, is_training=True, version_2_with_negative=True)
    _, examples, stats, _ = squad.read_squad(path, is_training=True, version_2_with_negative=True,
                                                 skip_bad_examples=True)
    assert examples == [] and stats.bad_examples == 1


def test_version_2_flag_needs_version_2_data(tmp_path):
    path = squad_file(tmp_path, [GOOD_QA], version="1.1")
    with pytest.raises(InputError, match=re.escape(
            "data.json: version is '1.1', yet --version_2_with_negative is given: it needs SQuAD 'v2.0' data")):
        squad.read_squad(path, is_training=False, version_2_with_negative=True)


def test_a_missing_context_names_its_paragraph(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"paragraphs": [{"qas": []}]}]}), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("data.json: data[0].paragraphs[0].context is missing")):
        squad.read_squad(path, is_training=False)


def test_missing_version_fails_before_predicting(tmp_path, monkeypatch):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"data": []}), encoding="utf-8")
    monkeypatch.setattr(fine_tuning, "predict", lambda *args, **kwargs: pytest.fail("predicted"))
    result = CliRunner().invoke(run_squad.main, ["--vocab_file", str(SAMPLE_VOCAB), "--bert_config_file",
                                                 str(ROOT / "configs" / "bert_tiny.json"), "--output_dir",
                                                 str(tmp_path / "out"), "--do_predict", "--predict_file", str(path),
                                                 "--device", "cpu"])
    assert_one_line_error(result, f"{path}: version is missing")
    assert not (tmp_path / "out").exists()


def test_a_vocab_larger_than_the_model_is_one_line(tmp_path):
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"vocab_size": 100, "hidden_size": 16, "num_hidden_layers": 1,
                                 "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64}))
    result = CliRunner().invoke(run_squad.main, squad_args(small, tmp_path / "squad", SAMPLE_QA))
    assert_one_line_error(result, str(SAMPLE_VOCAB), str(small), "vocab_size 100")
    assert not (tmp_path / "squad").exists()


@pytest.mark.slow
def test_prediction_alone_uses_the_fine_tuned_run_or_refuses(tmp_path, tiny_config):
    out = tmp_path / "squad"
    predict = ["--vocab_file", str(SAMPLE_VOCAB), "--bert_config_file", str(tiny_config), "--output_dir", str(out),
               "--do_predict", "--predict_file", str(SAMPLE_QA), "--max_seq_length", "64", "--doc_stride", "32",
               "--device", "cpu"]
    assert_one_line_error(CliRunner().invoke(run_squad.main, predict), "--do_predict without --do_train",
                          "--init_checkpoint")
    assert CliRunner().invoke(run_squad.main, squad_args(tiny_config, out, SAMPLE_QA)).exit_code == 0
    result = CliRunner().invoke(run_squad.main, predict)
    assert result.exit_code == 0, result.output
    assert "model: the fine-tuned" in result.output and "ckpt-" in result.output
    shuffled = tmp_path / "shuffled.txt"  # the same tokens in another order: other ids
    tokens = SAMPLE_VOCAB.read_text(encoding="utf-8").splitlines()
    shuffled.write_text("\n".join(tokens[:5] + tokens[5:][::-1]) + "\n", encoding="utf-8")
    before = snapshot(out)
    result = CliRunner().invoke(run_squad.main, [*predict, "--vocab_file", str(shuffled)])
    assert_one_line_error(result, str(out), "vocab_sha256")
    assert snapshot(out) == before
    # A test file without gold answers is predicted, and not scored.
    data = json.loads(SAMPLE_QA.read_text(encoding="utf-8"))
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = []
    unlabeled = tmp_path / "test.json"
    unlabeled.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(run_squad.main, [*predict, "--predict_file", str(unlabeled)])  # the last one counts
    assert result.exit_code == 0, result.output
    assert "not scored" in result.output and (out / "predictions.json").exists()
    assert not (out / "eval_results.json").exists()


def test_an_empty_predict_file_fails_before_any_training(tmp_path, tiny_config):
    empty = write_squad(tmp_path, [], name="empty.json")
    result = CliRunner().invoke(run_squad.main, [*squad_args(tiny_config, tmp_path / "squad", SAMPLE_QA),
                                                 "--do_predict", "--predict_file", str(empty)])
    assert_one_line_error(result, str(empty), "no questions to predict")
    assert not (tmp_path / "squad").exists()


def test_prediction_alone_into_a_pretraining_folder_is_refused(tmp_path):
    config = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, max_position_embeddings=64)
    pretrain = tmp_path / "pretrain"
    pretrain.mkdir()
    state = {"model": modeling.BertForPreTraining(config).state_dict(), "step": 4}
    torch.save(state, pretrain / "ckpt-00000004.pt")
    (pretrain / "bert_config.json").write_text(config.to_json_string())
    result = CliRunner().invoke(run_squad.main, [
        "--vocab_file", str(SAMPLE_VOCAB), "--output_dir", str(pretrain), "--bert_config_file",
        str(pretrain / "bert_config.json"), "--do_predict", "--predict_file", str(SAMPLE_QA), "--max_seq_length", "64",
        "--doc_stride", "32", "--device", "cpu"])
    assert_one_line_error(result, str(pretrain), "holds a pretraining run, not a fine-tuned one")
    assert sorted(p.name for p in pretrain.iterdir()) == ["bert_config.json", "ckpt-00000004.pt"]


# --- SQuAD 2.0 scores: what predictions.json scores, and the best thresholds over null_odds.json --------------

V2_CONTEXT = "세종대왕은 1443년에 훈민정음을 만들었다."
V2_QUESTIONS = [  # (id, question, answer), in rising null odds (see v2_logits)
    ("sure", "언제 만들었나?", "1443년"),  # -20: answered at any threshold above it
    ("trap", "누가 먹었나?", None),  # 0.25: impossible, yet a span wins at any threshold above 0.25
    ("trap2", "누가 마셨나?", None),  # 0.75: the same
    ("unsure", "무엇을 만들었나?", "훈민정음"),  # 1.5: right, above evaluate-v2.0.py's default na_prob_thresh 1.0
    ("none", "누가 싫어했나?", None),  # 20: no answer
]
# The logits v2_logits changes from the oracle's: [CLS]'s start and end, or the first context token's end logit
# (its start logit 10: a span of 10 + end).
V2_CLS_LOGIT = {"unsure": 10.75}  # null 21.5 - answer 20
V2_TRAP_END_LOGIT = {"trap": 9.75, "trap2": 9.25}  # null 20 - span 19.75 or 19.25


def v2_logits(dataset):
    """A model's logits with the null odds of V2_QUESTIONS: the oracle's (10 at the gold ends, or at [CLS] when
    impossible), changed as V2_CLS_LOGIT and V2_TRAP_END_LOGIT say."""
    starts, ends = squad.gold_logits(dataset)
    for f, example_index in enumerate(dataset.features.example_index):
        qid, offset = dataset.examples[example_index].qas_id, dataset.features.doc_offset[f]
        if qid in V2_CLS_LOGIT:
            starts[f, 0] = ends[f, 0] = V2_CLS_LOGIT[qid]
        if qid in V2_TRAP_END_LOGIT:
            starts[f, offset], ends[f, offset] = 10.0, V2_TRAP_END_LOGIT[qid]
    return starts, ends


def test_v2_eval_results_score_the_predictions_written_at_any_threshold(tmp_path, monkeypatch):
    """A rerun at --null_score_diff_threshold 2.0 (above 1.0): eval_results.json's exact/f1/HasAns/NoAns are
    evaluate-v2.0.py's scores of the predictions.json written (no na-prob file), not those with na_prob_thresh 1.0
    over null_odds.json; null_odds_best_* are evaluate-v2.0.py --na-prob-file null_odds.json's, and a rerun at
    null_odds_best_f1_thresh scores null_odds_best_f1."""
    path = write_squad(tmp_path, [{"context": V2_CONTEXT, "qas": [
        {"id": qid, "question": question, "is_impossible": answer is None,
         "answers": [{"text": answer, "answer_start": V2_CONTEXT.index(answer)}] if answer else []}
        for qid, question, answer in V2_QUESTIONS]}], version="v2.0")
    dataset = squad.featurize(str(path), tokenization.FullTokenizer(SAMPLE_VOCAB),
                              squad.FeatureConfig(max_seq_length=64, doc_stride=32), False, True)
    starts, ends = v2_logits(dataset)

    def predict(model, features, batch_size, runtime):
        assert np.array_equal(features.input_ids, dataset.features.input_ids)
        return modeling.QuestionAnsweringOutput(starts, ends)  # as fine_tuning.predict gives it: numpy arrays

    monkeypatch.setattr(fine_tuning, "predict", predict)
    config = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, max_position_embeddings=64)
    pretrain = tmp_path / "pretrain"
    pretrain.mkdir()
    torch.save({"model": modeling.BertForPreTraining(config).state_dict(), "step": 1}, pretrain / "ckpt-00000001.pt")
    (pretrain / "bert_config.json").write_text(config.to_json_string())
    data = json.loads(path.read_text(encoding="utf-8"))

    def rerun(threshold, out):
        result = CliRunner().invoke(run_squad.main, [
            "--vocab_file", str(SAMPLE_VOCAB), "--init_checkpoint", str(pretrain), "--output_dir", str(out),
            "--do_predict", "--predict_file", str(path), "--version_2_with_negative", "--null_score_diff_threshold",
            str(threshold), "--max_seq_length", "64", "--doc_stride", "32", "--device", "cpu"])
        assert result.exit_code == 0, result.output
        written = [json.loads((out / name).read_text(encoding="utf-8"))
                   for name in ("predictions.json", "null_odds.json", "eval_results.json")]
        assert json.loads(result.stdout.strip().splitlines()[-1]) == written[2]
        return (*written, result.stderr)

    predictions, null_odds, scores, log = rerun(2.0, tmp_path / "at-2")
    trap = predictions["trap"]
    assert trap and predictions == {"sure": "1443년", "trap": trap, "trap2": trap, "unsure": "훈민정음", "none": ""}
    assert null_odds == {"sure": -20.0, "trap": 0.25, "trap2": 0.75, "unsure": 1.5, "none": 20.0}
    official = squad_metrics.evaluate(data, predictions)  # evaluate-v2.0.py data predictions.json
    with_null_odds = squad_metrics.evaluate(data, predictions, null_odds)  # ... --na-prob-file null_odds.json
    assert (official["exact"], official["HasAns_exact"], official["NoAns_exact"]) == (60.0, 100.0, 100 / 3)
    assert with_null_odds["exact"] == 40.0  # "unsure" counted as no answer: not the score of predictions.json
    best = {key: with_null_odds[key] for key in ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")}
    assert best == {"best_exact": 80.0, "best_exact_thresh": -20.0, "best_f1": 80.0, "best_f1_thresh": -20.0}
    assert scores == {**official, "null_score_diff_threshold": 2.0, **{f"null_odds_{k}": v for k, v in best.items()}}
    assert ("predictions.json (--null_score_diff_threshold 2.0), scored as evaluate-v2.0.py scores it: exact 60.00 "
            "f1 60.00 (HasAns exact 100.00 f1 100.00, NoAns exact 33.33 f1 33.33); best thresholds over null_odds.json "
            "(evaluate-v2.0.py --na-prob-file): exact 80.00 at -20.0, f1 80.00 at -20.0 (--null_score_diff_threshold "
            "-20.0 predicts with the best f1)") in log
    # Google's recipe: rerun at the best threshold; predictions.json then scores what null_odds.json promised.
    _, _, again, _ = rerun(scores["null_odds_best_f1_thresh"], tmp_path / "at-best")
    assert (again["exact"], again["f1"], again["null_score_diff_threshold"]) == (80.0, 80.0, -20.0)


def test_v1_eval_results_are_the_official_scores_alone():
    data = {"version": "KorQuAD_v1.0", "data": [{"title": "t", "paragraphs": [{"context": V2_CONTEXT, "qas": [
        {"id": "q", "question": "언제?", "answers": [{"text": "1443년", "answer_start": 6}]}]}]}]}
    assert squad.eval_results(data, {"q": "1443년에"}, None, 5.0, "dev.json") == \
        squad_metrics.evaluate(data, {"q": "1443년에"}) == {"exact_match": 0.0, "f1": 100 * 10 / 11, "total": 1,
                                                             "missing_predictions": 0, "foreign_predictions": 0}


# --- Google's --verbose_logging ------------------------------------------------------------------------------


def test_each_question_skipped_or_fixed_is_noted(tmp_path):
    context = "나는 서울에서 태어나 서울에서 자랐다."
    path = write_squad(tmp_path, [{"context": context, "qas": [
        {"id": "a", "question": "어디?", "answers": [{"text": "서울", "answer_start": 0}]},
        {"id": "b", "question": "어디?", "answers": [{"text": "부산", "answer_start": 3}]},
        {"id": "c", "question": 7, "answers": [{"text": "서울", "answer_start": 3}]}]}])
    stats = squad.read_squad(path, is_training=True, skip_bad_examples=True).stats
    where = f"{path}: data[0].paragraphs[0].qas"
    assert stats.notes == [
        f"{where}[0].answers[0].answer_start is 0: the answer is at 3 (the nearest occurrence of its text) "
        f"(question 'a')",
        f"{where}[1].answers[0] '부산': could not find the answer in its context (skipped) (question 'b')",
        f"skipped: {where}[2].question must be a string, not 7 (question 'c')"]


def test_verbose_logging_prints_the_notes_as_google_prints_its_warnings(tmp_path, tiny_config):
    path = write_squad(tmp_path, [{"context": "나는 서울에서 태어났다.", "qas": [
        {"id": "b", "question": "어디?", "answers": [{"text": "부산", "answer_start": 3}]}]}])
    note = f"{path}: data[0].paragraphs[0].qas[0].answers[0] '부산': could not find the answer in its context " \
           f"(skipped) (question 'b')"
    for flags, printed in (([], False), (["--verbose_logging"], True), (["--verbose_logging=False"], False)):
        result = CliRunner().invoke(run_squad.main, squad_args(tiny_config, tmp_path / "out", path, *flags))
        assert result.exit_code == 1 and result.output.endswith(f"Error: {path}: no training features\n")
        assert (note in result.output) == printed, result.output
