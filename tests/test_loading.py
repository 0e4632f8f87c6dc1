"""mecab_bert/checkpoints/loading.py: weights from our checkpoints, Hugging Face directories and legacy files, into
any of the model classes; files that are not weights are one line naming them, and nothing is unpickled."""

import dataclasses
import json
import pickle
import random

import pytest
import torch
from badinput import assert_one_line_error, run_as_script, snapshot
from safetensors.torch import save_file
from tiny_bert import (
    ATOL,
    TINY,
    classifier_inputs,
    encoder_inputs,
    make_inputs,
    max_diff,
    perturbed,
    pretraining_logits,
)

from mecab_bert.checkpoints import loading
from mecab_bert.runs import run_folder
from modeling import (
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from text_input import InputError


def test_load_hugging_face_directory(transformers, tmp_path):
    theirs = perturbed(transformers.BertForPreTraining(transformers.BertConfig(**TINY.to_dict())))
    theirs.save_pretrained(tmp_path / "safetensors")
    # transformers 5 writes safetensors only; an older one wrote pytorch_model.bin, tied aliases included.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_bytes((tmp_path / "safetensors" / "config.json").read_bytes())
    torch.save(theirs.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    assert "cls.predictions.decoder.weight" in torch.load(tmp_path / "bin" / "pytorch_model.bin")

    inputs = make_inputs()
    with torch.no_grad():
        hf = theirs(input_ids=inputs["input_ids"], **encoder_inputs(inputs))
    for name in ("safetensors", "bin"):
        ours = BertForPreTraining(TINY).eval()
        report = loading.load_pretrained(ours, tmp_path / name)
        assert report.initialized == () and report.unused == ()
        assert len(report.loaded) == len(ours.state_dict()) - 2  # the two tied aliases ride along
        every_position, nsp_logits = pretraining_logits(ours, inputs)
        assert max_diff(every_position, hf.prediction_logits) < ATOL, name
        assert max_diff(nsp_logits, hf.seq_relationship_logits) < ATOL, name


def test_load_our_checkpoint_and_legacy_names(tmp_path):
    source = perturbed(BertForPreTraining(TINY))
    expected = source.state_dict()
    checkpoint = tmp_path / "ckpt.pt"
    torch.save({"model": expected, "step": 7, "optimizer": {"state": {}, "param_groups": []}}, checkpoint)

    legacy = {}
    for key, value in expected.items():
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy[f"module._orig_mod.{key}"] = value
    legacy["module._orig_mod.bert.embeddings.position_ids"] = torch.arange(TINY.max_position_embeddings)[None]
    torch.save(legacy, tmp_path / "legacy.bin")
    assert any(key.endswith("LayerNorm.gamma") for key in legacy)

    for path in (checkpoint, tmp_path / "legacy.bin"):
        model = BertForPreTraining(TINY)
        report = loading.load_pretrained(model, path)
        assert report.initialized == () and report.unused == ()
        loaded = model.state_dict()
        assert all(torch.equal(loaded[key], expected[key]) for key in expected), path


def test_load_between_pretraining_and_question_answering(tmp_path):
    pretrained = perturbed(BertForPreTraining(TINY))
    torch.save({"model": pretrained.state_dict()}, tmp_path / "pretraining.pt")
    qa = BertForQuestionAnswering(TINY)
    report = loading.load_pretrained(qa, tmp_path / "pretraining.pt")
    assert report.initialized == ("qa_outputs.bias", "qa_outputs.weight")
    heads = {key for key in pretrained.state_dict() if key.startswith(("cls.", "bert.pooler."))}
    assert set(report.unused) == heads - {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert "qa_outputs.weight" in report.summary()
    for key, value in qa.bert.state_dict().items():
        assert torch.equal(value, pretrained.bert.state_dict()[key]), key

    torch.save(perturbed(qa).state_dict(), tmp_path / "qa.pt")
    report = loading.load_pretrained(BertForPreTraining(TINY), tmp_path / "qa.pt")
    assert {key.split(".")[0] + "." + key.split(".")[1] for key in report.initialized} == {
        "cls.predictions",
        "cls.seq_relationship",
        "bert.pooler",
    }
    assert report.unused == ("qa_outputs.bias", "qa_outputs.weight")

    # BertModel layout (no "bert." prefix) in either direction.
    torch.save(pretrained.bert.state_dict(), tmp_path / "encoder.pt")
    report = loading.load_pretrained(BertForPreTraining(TINY), tmp_path / "encoder.pt")
    assert all(key.startswith("cls.") for key in report.initialized) and report.unused == ()
    encoder = BertModel(TINY)
    report = loading.load_pretrained(encoder, tmp_path / "pretraining.pt")
    assert report.initialized == () and all(key.startswith("cls.") for key in report.unused)
    assert "embeddings.word_embeddings.weight" in report.loaded


def test_load_errors(tmp_path):
    state = perturbed(BertForPreTraining(TINY)).state_dict()

    def attempt(tensors, match, model=None):
        path = tmp_path / "bad.pt"
        torch.save(tensors, path)
        with pytest.raises(ValueError, match=match):
            loading.load_pretrained(model or BertForPreTraining(TINY), path)

    bigger = BertForPreTraining(dataclasses.replace(TINY, vocab_size=101)).state_dict()
    attempt(bigger, r"shape mismatch: .*word_embeddings.weight: \(101, 32\) in the file, \(100, 32\) in the model")
    deeper = BertForPreTraining(dataclasses.replace(TINY, num_hidden_layers=3)).state_dict()
    attempt(deeper, r"unexpected keys \[bert\.encoder\.layer\.2\.")
    attempt({k: v for k, v in state.items() if k != "bert.encoder.layer.1.output.dense.bias"}, r"missing keys \[bert")
    # A head that is there in part is not a head to initialize.
    attempt({k: v for k, v in state.items() if k != "cls.seq_relationship.bias"}, r"missing keys \[cls\.seq_rel")
    attempt({**state, "cls.predictions.decoder.weight": torch.zeros(100, 32)}, "differs from")
    attempt({**state, "bert.extra.weight": torch.zeros(1)}, r"unexpected keys \[bert\.extra\.weight\]")


def test_load_refuses_pickled_objects_and_other_configs(tmp_path, transformers):
    path = tmp_path / "evil.pt"
    torch.save({"model": BertForPreTraining(TINY).state_dict(), "config": TINY}, path)
    with pytest.raises(InputError, match="not a weights file: it holds pickled Python objects"):
        loading.load_pretrained(BertForPreTraining(TINY), path)

    theirs = transformers.BertForPreTraining(transformers.BertConfig(**{**TINY.to_dict(), "hidden_act": "gelu_new"}))
    theirs.save_pretrained(tmp_path / "hf")
    with pytest.raises(ValueError, match="hidden_act: 'gelu_new' in the file, 'gelu' here"):
        loading.load_pretrained(BertForPreTraining(TINY), tmp_path / "hf")
    with pytest.raises(InputError, match=r"neither model\.safetensors nor pytorch_model\.bin"):
        loading.load_pretrained(BertForPreTraining(TINY), tmp_path)


class Planted:
    """Unpickling this creates `marker`: a stand-in for a pickle that runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def written(path, content):
    """Writes `content` (bytes, or any object through torch.save) to `path` and returns `path`."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def torch_bytes(tmp_path):
    return written(tmp_path / "good.pt", {"model": BertForQuestionAnswering(TINY).state_dict()}).read_bytes()


def safetensors_bytes(tmp_path):
    from safetensors.torch import save_file

    save_file({"qa_outputs.bias": torch.zeros(2)}, tmp_path / "good.safetensors")
    return (tmp_path / "good.safetensors").read_bytes()


def hf_folder(tmp_path, weights_name=None, weights=b""):
    """A Hugging Face directory with a good config.json, and `weights` as its weights file if named."""
    folder = tmp_path / "hf"
    folder.mkdir()
    written(folder / "config.json", TINY.to_json_string().encode())
    return written(folder / weights_name, weights) if weights_name else folder


# case -> (writes the file or folder under tmp_path and returns its path, what the one line must say)
BAD_WEIGHTS = {
    "torch.save-of-an-object": (
        lambda tmp: written(tmp / "w.pt", Planted(tmp / "ran")),
        "not a weights file: it holds pickled Python objects",
    ),
    "torch.save-with-a-config-object": (
        lambda tmp: written(tmp / "w.pt", {"model": {}, "config": TINY}),
        "not a weights file: it holds pickled Python objects",
    ),
    "pickle.dumps-of-an-object": (
        lambda tmp: written(tmp / "w.bin", pickle.dumps(Planted(tmp / "ran"))),
        "not a weights file: it holds pickled Python objects",
    ),
    "pickle-of-an-int": (
        lambda tmp: written(tmp / "w.bin", pickle.dumps(5, protocol=2)),
        "not a readable weights file (truncated or corrupt)",
    ),
    "torch.save-of-a-tensor": (
        lambda tmp: written(tmp / "w.pt", torch.zeros(3)),
        "not a weights file: neither a state_dict nor a checkpoint",
    ),
    "empty": (lambda tmp: written(tmp / "w.pt", b""), "empty file, not a weights file"),
    "truncated": (
        lambda tmp: written(tmp / "w.pt", torch_bytes(tmp)[:5000]),
        "not a readable weights file (truncated or corrupt)",
    ),
    "first-10-bytes": (
        lambda tmp: written(tmp / "w.pt", torch_bytes(tmp)[:10]),
        "not a readable weights file (truncated or corrupt)",
    ),
    "random-bytes": (
        lambda tmp: written(tmp / "w.pt", b"\x00" + random.Random(0).randbytes(4096)),
        "not a weights file (neither a PyTorch file nor safetensors)",
    ),
    "text": (
        lambda tmp: written(tmp / "w.pt", b"[PAD]\n[UNK]\n"),
        "not a weights file (neither a PyTorch file nor safetensors)",
    ),
    "safetensors-truncated": (
        lambda tmp: written(tmp / "w.safetensors", safetensors_bytes(tmp)[:-3]),
        "not a readable safetensors file, corrupt or truncated",
    ),
    "safetensors-bad-header": (
        lambda tmp: written(tmp / "w.safetensors", b"\xff" * 8 + b"{}"),
        "not a readable safetensors file, corrupt or truncated",
    ),
    "safetensors-empty": (
        lambda tmp: written(tmp / "w.safetensors", b""),
        "not a readable safetensors file, corrupt or truncated",
    ),
    "folder-without-weights": (hf_folder, "a folder with neither model.safetensors nor pytorch_model.bin"),
    "folder-with-empty-safetensors": (
        lambda tmp: hf_folder(tmp, "model.safetensors"),
        "not a readable safetensors file",
    ),
    "folder-with-truncated-bin": (
        lambda tmp: hf_folder(tmp, "pytorch_model.bin", torch_bytes(tmp)[:-100]),
        "not a readable weights file (truncated or corrupt)",
    ),
    "missing": (lambda tmp: tmp / "nope.pt", "no such file or folder"),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_file_is_one_line_naming_it(tmp_path, case):
    make, message = BAD_WEIGHTS[case]
    named = make(tmp_path)
    # A weights file inside a folder is given as the folder, as --init_checkpoint takes a Hugging Face directory.
    given = named.parent if named.parent.name == "hf" else named
    before = snapshot(tmp_path)
    model = BertForQuestionAnswering(TINY)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    result = run_as_script(lambda: loading.load_pretrained(model, given))
    line = assert_one_line_error(result, f"Error: {named}: ", message)
    assert "weights_only" not in result.output and "unpickl" not in line.lower()
    assert not (tmp_path / "ran").exists()  # the planted pickle never ran
    assert snapshot(tmp_path) == before
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_load_hugging_face_classifier(transformers, tmp_path):
    hf_config = transformers.BertConfig(**TINY.to_dict(), id2label={0: "neg", 1: "pos"})
    theirs = perturbed(transformers.BertForSequenceClassification(hf_config))
    theirs.save_pretrained(tmp_path / "hf")
    encoder, _ = classifier_inputs(2)
    with torch.no_grad():
        expected = theirs(**encoder).logits
    for label_names in (("neg", "pos"), ()):  # the same labels, or a model that names none
        ours = BertForSequenceClassification(TINY, label_names=label_names).eval()
        report = loading.load_pretrained(ours, tmp_path / "hf")
        assert report.initialized == () and report.unused == ()
        with torch.no_grad():
            assert max_diff(ours(**encoder).logits, expected) < ATOL


def test_load_classifier_heads(tmp_path):
    pretrained = perturbed(BertForPreTraining(TINY))
    torch.save({"model": pretrained.state_dict()}, tmp_path / "pretraining.pt")
    classifier = BertForSequenceClassification(TINY, num_labels=3)
    report = loading.load_pretrained(classifier, tmp_path / "pretraining.pt")
    assert report.initialized == ("classifier.bias", "classifier.weight")
    assert torch.equal(classifier.bert.pooler.dense.weight, pretrained.bert.pooler.dense.weight)
    # A question answering checkpoint has no pooler: it keeps its init too.
    torch.save(perturbed(BertForQuestionAnswering(TINY)).state_dict(), tmp_path / "qa.pt")
    report = loading.load_pretrained(BertForSequenceClassification(TINY), tmp_path / "qa.pt")
    assert set(report.initialized) == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight",
                                       "classifier.bias"}
    assert report.unused == ("qa_outputs.bias", "qa_outputs.weight")
    # A classifier of another number of labels is no head to initialize.
    torch.save(classifier.state_dict(), tmp_path / "three.pt")
    with pytest.raises(ValueError, match=r"shape mismatch: .*classifier\.\w+: \(3.*in the file, \(2.*in the model"):
        loading.load_pretrained(BertForSequenceClassification(TINY), tmp_path / "three.pt")


def test_load_classifier_of_other_labels_is_an_error(transformers, tmp_path):
    theirs = transformers.BertForSequenceClassification(
        transformers.BertConfig(**TINY.to_dict(), id2label={0: "neg", 1: "pos"}))
    theirs.save_pretrained(tmp_path / "hf")
    ours = BertForSequenceClassification(TINY, label_names=("pos", "neg"))
    with pytest.raises(ValueError) as raised:
        loading.load_pretrained(ours, tmp_path / "hf")
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "hf" / "config.json")) and "\n" not in message
    assert "['neg', 'pos']" in message and "['pos', 'neg']" in message
    # Hugging Face's default names say nothing about the labels; nor does a file without classifier weights.
    (tmp_path / "hf" / "config.json").write_text(json.dumps({
        **json.loads((tmp_path / "hf" / "config.json").read_text()), "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}))
    loading.load_pretrained(ours, tmp_path / "hf")
    encoder = transformers.BertModel(transformers.BertConfig(**TINY.to_dict(), id2label={0: "neg", 1: "pos"}))
    encoder.save_pretrained(tmp_path / "encoder")
    report = loading.load_pretrained(ours, tmp_path / "encoder")
    assert report.initialized == ("classifier.bias", "classifier.weight")
    (tmp_path / "encoder" / "config.json").write_text(json.dumps({**TINY.to_dict(), "model_type": "bert",
                                                                  "id2label": ["neg", "pos"]}))
    with pytest.raises(InputError, match=r'config\.json: id2label must map "0", "1", \.\.\. to label names'):
        loading.load_pretrained(ours, tmp_path / "encoder")


@pytest.mark.parametrize("route", ["run.json", "config.json"])
def test_a_head_trained_for_another_job_is_left_out(tmp_path, route):
    """run_ner's classifier and run_classifier's share their name (and here their shape): a token classifier's
    weights must not start a sequence classifier's head, whether the run.json beside the checkpoint or a Hugging
    Face config.json says whose they are. The encoder loads; the head keeps its fresh init, and the report says why."""
    source = perturbed(BertForTokenClassification(TINY, num_labels=2))
    if route == "run.json":
        path = tmp_path / "ckpt-00000010.pt"
        torch.save({"model": source.state_dict(), "step": 10}, path)
        (tmp_path / "run.json").write_text(json.dumps({"script": "run_ner"}))
        trained_for = run_folder.trained_for(path, "run_classifier")
        assert run_folder.trained_for(path, "run_ner") is None  # its own script's head is its to judge
    else:
        path = tmp_path / "hf"
        path.mkdir()
        (path / "config.json").write_text(json.dumps({**TINY.to_dict(), **source.hf_config()}))
        save_file({key: value.contiguous() for key, value in source.state_dict().items()}, path / "model.safetensors")
        trained_for = None
    fresh = BertForSequenceClassification(TINY, num_labels=2)
    fresh_head = fresh.classifier.weight.detach().clone()
    report = loading.load_pretrained(fresh, path, trained_for)
    assert report.foreign and "left out" in report.summary()
    assert report.left_out == ("classifier.bias", "classifier.weight")
    assert set(report.initialized) == {"bert.pooler.dense.bias", "bert.pooler.dense.weight"}  # (the tagger has none)
    assert report.fresh("classifier.weight") and not report.fresh("bert.embeddings.word_embeddings.weight")
    assert torch.equal(fresh.classifier.weight, fresh_head)
    layer = "bert.encoder.layer.0.output.dense.weight"
    assert torch.equal(fresh.state_dict()[layer], source.state_dict()[layer])
    # The same file into its own kind of model loads the head.
    same = BertForTokenClassification(TINY, num_labels=2)
    report = loading.load_pretrained(same, path)
    assert report.foreign is None and torch.equal(same.classifier.weight, source.classifier.weight)


def test_only_a_head_the_file_holds_for_another_job_is_left_out(tmp_path):
    """Another class with no head of this model's name leaves nothing out and says nothing; a masked-LM directory
    (klue/bert-base's class) keeps its MLM head for continued pretraining; the pooler is never another job's."""
    source = perturbed(BertForPreTraining(TINY))
    for architecture in ("BertForPreTraining", "BertForMaskedLM"):
        path = tmp_path / architecture
        path.mkdir()
        (path / "config.json").write_text(json.dumps({**TINY.to_dict(), "architectures": [architecture]}))
        save_file({key: value.clone() for key, value in source.state_dict().items()}, path / "model.safetensors")
        pretraining = BertForPreTraining(TINY)
        report = loading.load_pretrained(pretraining, path)
        assert report.left_out == () and report.foreign is None and report.initialized == (), architecture
        classifier = BertForSequenceClassification(TINY, num_labels=2)
        report = loading.load_pretrained(classifier, path)
        assert report.left_out == () and "left out" not in report.summary()
        assert torch.equal(classifier.bert.pooler.dense.weight, source.bert.pooler.dense.weight)
