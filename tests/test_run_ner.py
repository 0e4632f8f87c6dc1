"""run_ner.py and mecab_bert/tasks/ner.py: entities to token tags and back through the offsets, windows over long
sentences, a run that trains, scores and predicts character spans, and its export in transformers."""

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA

import modeling
import run_ner
from mecab_bert.checkpoints import loading
from mecab_bert.tasks import ner, ner_data
from mecab_bert.tasks.ner_data import Entity, Sentence
from mecab_bert.tokenizer_settings import TokenizerSettings

VOCAB = ROOT / "vocab" / "sample-4k.txt"
NAMES = ["김철수", "이영희", "박민수"]
PLACES = ["서울", "부산", "제주도"]
TEMPLATES = ["{p}에서 {n}씨가 사과를 샀다.", "{n}은 어제 {p}에 갔다.", "오늘 {n}와 함께 {p}를 걸었다."]


def make_sentence(index: int, rng: random.Random) -> Sentence:
    """A sentence with a person (PS) and a place (LC), their spans found in the text."""
    name, place = rng.choice(NAMES), rng.choice(PLACES)
    text = rng.choice(TEMPLATES).format(n=name, p=place)
    spans = sorted([(text.index(name), len(name), "PS"), (text.index(place), len(place), "LC")])
    return Sentence(f"s{index}", text, tuple(Entity(start, start + size, label) for start, size, label in spans))


def write_jsonl(path, sentences):
    path.write_text("".join(json.dumps({"id": s.id, "text": s.text, "entities": [
        {"start": e.start, "end": e.end, "label": e.label} for e in s.entities]}, ensure_ascii=False) + "\n"
        for s in sentences), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    rng = random.Random(0)
    sentences = [make_sentence(i, rng) for i in range(24)]
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        write_jsonl(folder / name, sentences)
    return folder


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.json"
    path.write_text(json.dumps({"vocab_size": 4000, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                "intermediate_size": 64, "max_position_embeddings": 64,
                                "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    return path


def args(data_dir, config_file, out, *extra):
    return ["--task_name", "jsonl", "--data_dir", str(data_dir), "--vocab_file", str(VOCAB), "--bert_config_file",
            str(config_file), "--output_dir", str(out), "--max_seq_length", "32", "--train_batch_size", "8",
            "--learning_rate", "3e-3", "--num_train_epochs", "30", "--warmup_proportion", "0", "--device", "cpu",
            *map(str, extra)]


@pytest.mark.parametrize("mode", ["mecab", "wordpiece"])
def test_gold_tags_through_windows_come_back_as_the_gold_characters(mode):
    """The oracle through the run's own features: gold tags as logits, sentences cut into many short windows, every
    entity back at its characters (none is cut here: names and places are whole tokens in both modes)."""
    tokenizer = TokenizerSettings(str(VOCAB), True, mode).full_tokenizer()
    rng = random.Random(1)
    sentences = [Sentence(f"long{i}", " ".join(s.text for s in parts), tuple(
        Entity(e.start + offset, e.end + offset, e.label) for s, offset in zip(
            parts, np.cumsum([0, *[len(p.text) + 1 for p in parts[:-1]]]), strict=True) for e in s.entities))
        for i, parts in enumerate([[make_sentence(j, rng) for j in range(k)] for k in (1, 4, 9)])]
    tags = ner_data.tag_names(("LC", "PS"))
    features = ner.convert_sentences(sentences, tokenizer, tags, max_seq_length=12, doc_stride=3)
    assert features.stats.windows > len(sentences)
    logits = np.where(features.labels[..., None] == np.arange(len(tags)), 10.0, 0.0)
    predicted = ner.predicted_entities(features, logits, tags)
    if mode == "mecab":  # names and places are morphemes of their own: every entity comes back
        assert features.stats.cut == 0 and predicted == [s.entities for s in sentences]
    else:  # "김철수씨가" is one word of WordPiece pieces that cut the name: such an entity is counted, and lost
        exact = sum(len(set(found) & set(s.entities)) for found, s in zip(predicted, sentences, strict=True))
        assert features.stats.cut > 0 and exact == sum(len(s.entities) for s in sentences) - features.stats.cut


def test_a_run_trains_scores_and_predicts_character_spans(tmp_path, data_dir, config_file):
    out = tmp_path / "out"
    result = CliRunner().invoke(run_ner.main, args(data_dir, config_file, out, "--do_train", "--do_eval",
                                                   "--do_predict"))
    assert result.exit_code == 0, result.output
    assert "entities cut inside a token: 0" in result.output
    results = json.loads((out / "eval_results.json").read_text())
    assert results["eval_f1"] > 90 and results["eval_char_macro_f1"] > 90, results  # it learns 3 names, 3 places
    lines = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 24 and set(lines[0]) == {"id", "text", "entities"}
    for line in lines:
        assert all(line["text"][e["start"]:e["end"]] == e["text"] for e in line["entities"])
    assert "eval_f1 = " in (out / "eval_results.txt").read_text()
    # Predicting again into the run's folder takes its checkpoint, and writes the same spans.
    before = (out / "test_predictions.jsonl").read_text(encoding="utf-8")
    again = CliRunner().invoke(run_ner.main, args(data_dir, config_file, out, "--do_predict"))
    assert again.exit_code == 0, again.output
    assert (out / "test_predictions.jsonl").read_text(encoding="utf-8") == before
    # So does a prediction into another folder from the run as --init_checkpoint: its run.json names the types.
    other = tmp_path / "other"
    again = CliRunner().invoke(run_ner.main, [*args(data_dir, config_file, other, "--do_predict"), "--init_checkpoint",
                                              str(out)])
    assert again.exit_code == 0, again.output
    assert (other / "test_predictions.jsonl").read_text(encoding="utf-8") == before


def test_a_training_file_without_entities_and_a_prediction_without_types_are_one_line(tmp_path, config_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_jsonl(empty / "train.jsonl", [Sentence(f"s{i}", "아무 것도 없다.", ()) for i in range(3)])
    write_jsonl(empty / "test.jsonl", [Sentence("s0", "아무 것도 없다.", ())])
    out = tmp_path / "out"
    result = CliRunner().invoke(run_ner.main, args(empty, config_file, out, "--do_train"))
    assert_one_line_error(result, "train.jsonl", "no entity in its 3 sentences")
    result = CliRunner().invoke(run_ner.main, args(empty, config_file, out, "--do_predict"))
    assert_one_line_error(result, "has no fixed entity types")
    assert not out.exists()


def test_an_entity_type_the_model_does_not_tag_is_one_line(tmp_path, data_dir, config_file):
    """KLUE-NER's model tags six types: a dev file with another is refused before anything is written."""
    bad = tmp_path / "bad"
    bad.mkdir()
    rng = random.Random(2)
    sentences = [make_sentence(i, rng) for i in range(4)]
    write_jsonl(bad / "train.jsonl", sentences)
    odd = Sentence("odd", sentences[0].text, (Entity(0, 2, "XX"),))
    write_jsonl(bad / "dev.jsonl", [*sentences, odd])
    out = tmp_path / "out"
    result = CliRunner().invoke(run_ner.main, args(bad, config_file, out, "--do_train", "--do_eval"))
    assert_one_line_error(result, "dev.jsonl:5", "unknown entity type", "XX")
    assert not out.exists()


@pytest.mark.parametrize("mode", ["wordpiece", "mecab"])
def test_the_export_is_a_token_classifier_whose_pipeline_finds_the_same_spans(tmp_path, data_dir, config_file, mode):
    """AutoModelForTokenClassification and AutoTokenizer on the export give the run's ids and logits; transformers'
    token-classification pipeline (aggregation_strategy="simple") returns the character spans run_ner.py
    --do_predict wrote."""
    transformers = pytest.importorskip("transformers")
    out, export = tmp_path / "out", tmp_path / "hf"
    result = CliRunner().invoke(run_ner.main, args(data_dir, config_file, out, "--do_train", "--do_predict",
                                                   "--tokenizer", mode, "--export_hf", export))
    assert result.exit_code == 0, result.output
    model = transformers.AutoModelForTokenClassification.from_pretrained(export).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(export, trust_remote_code=mode == "mecab")
    assert model.config.id2label[0] == "O" and set(model.config.id2label.values()) == {"O", "B-LC", "I-LC", "B-PS",
                                                                                       "I-PS"}
    predicted = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    ours = modeling.create_model(modeling.BertForTokenClassification, modeling.BertConfig.from_json_file(config_file),
                                 num_labels=5, label_names=tuple(model.config.id2label[i] for i in range(5)))
    loading.load_pretrained(ours, loading.checkpoints(out)[-1])
    ours.eval()
    ids = TokenizerSettings(str(VOCAB), True, mode).full_tokenizer().encode(predicted[0]["text"])
    encoded = tokenizer(predicted[0]["text"], return_tensors="pt")
    assert encoded["input_ids"][0, 1:-1].tolist() == ids
    with torch.no_grad():
        np.testing.assert_allclose(model(**encoded).logits.numpy(), ours(encoded["input_ids"]).logits.numpy(),
                                   atol=1e-5)
    tagger = transformers.pipeline("token-classification", model=model, tokenizer=tokenizer,
                                   aggregation_strategy="simple")
    for line in predicted:
        found = [{"start": g["start"], "end": g["end"], "label": g["entity_group"], "text": line["text"][g["start"]:
                  g["end"]]} for g in tagger(line["text"])]
        assert found == line["entities"], line["text"]
    assert sum(len(line["entities"]) for line in predicted) >= 40  # the spans compared are real ones
    # The export predicts as run_ner's model too: its entity types from its id2label, its tokenizer from its files.
    again = tmp_path / "again"
    result = CliRunner().invoke(run_ner.main, ["--task_name", "jsonl", "--data_dir", str(data_dir), "--do_predict",
                                               "--init_checkpoint", str(export), "--output_dir", str(again),
                                               "--max_seq_length", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (again / "test_predictions.jsonl").read_text(encoding="utf-8") == (
        out / "test_predictions.jsonl").read_text(encoding="utf-8")
    if mode == "wordpiece":
        return
    # Into the run's own folder the run is the model, whatever --init_checkpoint says (Google's Estimator).
    before = (out / "test_predictions.jsonl").read_text(encoding="utf-8")
    result = CliRunner().invoke(run_ner.main, [*args(data_dir, config_file, out, "--do_predict"), "--init_checkpoint",
                                               str(export)])
    assert result.exit_code == 0, result.output
    assert f"--init_checkpoint {export} not used" in result.output
    assert (out / "test_predictions.jsonl").read_text(encoding="utf-8") == before
    # A tagger whose id2label is not O, B-X, I-X, ... in order is one line naming its config.json.
    shuffled = Path(shutil.copytree(export, tmp_path / "shuffled"))
    config = json.loads((shuffled / "config.json").read_text(encoding="utf-8"))
    names = [config["id2label"][str(i)] for i in range(5)]
    names = names[1:] + names[:1]  # O last, as some taggers have it
    config.update(id2label={str(i): name for i, name in enumerate(names)},
                  label2id={name: i for i, name in enumerate(names)})
    (shuffled / "config.json").write_text(json.dumps(config), encoding="utf-8")
    result = CliRunner().invoke(run_ner.main, ["--task_name", "jsonl", "--data_dir", str(data_dir), "--do_predict",
                                               "--init_checkpoint", str(shuffled), "--output_dir",
                                               str(tmp_path / "never"), "--max_seq_length", "32", "--device", "cpu"])
    assert_one_line_error(result, str(shuffled / "config.json"), "is not the tags O, B-<type>, I-<type>")
    assert not (tmp_path / "never").exists()


def test_a_classifier_runs_head_is_left_out_of_a_tagger(tmp_path, data_dir, config_file):
    """run_classifier's classifier (here of as many labels, so the shapes agree) never starts run_ner's: the run.json
    beside the checkpoint says which script trained it; the encoder loads, the head starts fresh, the line says so."""
    run = tmp_path / "classifier_run"
    run.mkdir()
    config = modeling.BertConfig.from_json_file(config_file)
    classifier = modeling.BertForSequenceClassification(config, num_labels=5)
    torch.save({"model": classifier.state_dict(), "step": 3}, run / "ckpt-00000003.pt")
    (run / "run.json").write_text(json.dumps({"script": "run_classifier", "task_name": "kornli"}))
    out = tmp_path / "out"
    result = CliRunner().invoke(run_ner.main, [*args(data_dir, config_file, out, "--do_train", "--num_train_epochs",
                                                     "1"), "--init_checkpoint", str(run)])
    assert result.exit_code == 0, result.output
    assert "left out, to start fresh: classifier.bias, classifier.weight" in result.output
    assert "was fine-tuned by run_classifier" in result.output


@pytest.mark.slow
def test_klue_ner_dev_sentences_train_score_and_predict(tmp_path, config_file):
    """KLUE-NER's own file format through run_ner.py: its first 64 dev sentences to train, the next 32 to score and
    predict; the cut count is the tokenizer's, and every predicted span is text of its sentence."""
    path = SHARED_DATA / "klue" / "klue-ner-v1.1_dev.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    lines = path.read_text(encoding="utf-8").split("\n")
    heads = [i for i, line in enumerate(lines) if re.match(r"## \S+\t", line)]
    for name, first, last in (("klue-ner-v1.1_train.tsv", 0, 64), ("klue-ner-v1.1_dev.tsv", 64, 96)):
        (tmp_path / name).write_text("\n".join(lines[:heads[0]] + lines[heads[first]:heads[last]]), encoding="utf-8")
    out = tmp_path / "out"
    arguments = [*args(tmp_path, config_file, out, "--do_train", "--do_eval", "--do_predict", "--num_train_epochs",
                       "1", "--max_seq_length", "64")]
    arguments[1] = "KLUE-NER"  # --task_name, in any case
    result = CliRunner().invoke(run_ner.main, arguments)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "eval_results.json").read_text())
    assert {"eval_precision", "eval_recall", "eval_f1", "eval_macro_f1", "eval_char_macro_f1",
            "eval_entities_cut"} <= set(results)
    sentences = ner_data.processors["klue-ner"].read(tmp_path / "klue-ner-v1.1_dev.tsv")
    predicted = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in predicted] == [s.id for s in sentences]
    assert all(line["text"][e["start"]:e["end"]] == e["text"] and e["label"] in ner_data.processors["klue-ner"].labels
               for line in predicted for e in line["entities"])


@pytest.mark.parametrize(("id2label", "words"), [
    (["O", "B-", "I-"], "is empty"),
    (["O", "B-P\tS", "I-P\tS"], "holds U+0009"),
    (["O", "B-LC", "I-LC", "B-LC", "I-LC"], "appears twice"),
    (["B-LC", "I-LC", "O"], "is not the tags O, B-<type>, I-<type>"),
])
def test_a_models_entity_types_follow_the_data_files_rules(tmp_path, id2label, words):
    """Types read from a tagger's id2label become tag names and eval_results.txt lines as a data file's do: the same
    rules, one line naming the config.json, before any prediction."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"id2label": dict(enumerate(id2label))}), encoding="utf-8")
    with pytest.raises(ner.InputError, match=re.escape(str(config))) as error:
        ner._model_labels(config)
    assert words in str(error.value)
