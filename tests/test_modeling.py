import dataclasses
import json
import pickle

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT

import modeling
from modeling import BertConfig, BertForPreTraining, BertForQuestionAnswering, BertModel

TINY = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
)
BATCH, SEQ = 3, 16
ATOL = 1e-5


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


def perturbed(model, seed=0):
    """Adds noise to every parameter, LayerNorm and biases included, so that a swapped, skipped or
    misplaced parameter changes the outputs; returns the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    return model.eval()


def make_inputs(config=TINY, seed=0):
    """A padded batch: lengths 16, 11 and 6, two segments each, 4 prediction slots (some padding)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([SEQ, 11, 6])
    positions = torch.arange(SEQ)
    attention_mask = (positions < lengths[:, None]).long()
    input_ids = torch.randint(5, config.vocab_size, (BATCH, SEQ), generator=generator) * attention_mask
    token_type_ids = ((positions >= lengths[:, None] // 2) & attention_mask.bool()).long()
    masked_lm_weights = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    masked_lm_positions = torch.tensor([[1, 5, 9, 14], [2, 3, 10, 0], [1, 4, 0, 0]])
    masked_lm_ids = torch.randint(5, config.vocab_size, (BATCH, 4), generator=generator) * masked_lm_weights.long()
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "masked_lm_positions": masked_lm_positions,
        "masked_lm_ids": masked_lm_ids,
        "masked_lm_weights": masked_lm_weights,
        "next_sentence_labels": torch.tensor([0, 1, 0]),
    }


def encoder_inputs(inputs):
    return {key: inputs[key] for key in ("token_type_ids", "attention_mask")}


def hf_twin(transformers, ours, **config_overrides):
    """The same model in transformers, with our weights loaded strictly."""
    hf_config = transformers.BertConfig(**ours.config.to_dict(), **config_overrides)
    if isinstance(ours, BertModel):
        theirs = transformers.BertModel(hf_config, add_pooling_layer=ours.pooler is not None)
    else:
        theirs = getattr(transformers, type(ours).__name__)(hf_config)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return theirs.eval()


def max_diff(a, b):
    return (a - b).abs().max().item()


def pretraining_logits(model, inputs):
    """(mlm logits at every position [B, T, V], nsp logits [B, 2]) of our model."""
    with torch.no_grad():
        output = model(inputs["input_ids"], **encoder_inputs(inputs))
    return output.mlm_logits, output.nsp_logits


# ---------------------------------------------------------------------------------------------------------
# BertConfig


def test_shipped_configs():
    base = BertConfig.from_json_file(ROOT / "bert_config.json")
    assert base == BertConfig(vocab_size=32000)
    with open(ROOT / "vocab" / "kowiki-32k.txt", encoding="utf-8") as reader:
        assert sum(1 for _ in reader) == base.vocab_size
    tiny = BertConfig.from_json_file(ROOT / "configs" / "bert_tiny.json")
    assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.num_attention_heads, tiny.intermediate_size) == (
        64,
        2,
        2,
        256,
    )
    with open(ROOT / "vocab" / "sample-4k.txt", encoding="utf-8") as reader:
        assert sum(1 for _ in reader) <= tiny.vocab_size
    small = BertConfig.from_json_file(ROOT / "configs" / "bert_small.json")
    assert (small.hidden_size, small.num_hidden_layers, small.vocab_size) == (256, 4, 32000)


def test_config_json_round_trip(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(TINY.to_json_string(), encoding="utf-8")
    assert BertConfig.from_json_file(path) == TINY
    assert BertConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(dataclasses.FrozenInstanceError):
        TINY.hidden_size = 64


def test_config_reads_hugging_face_and_google_extras(tmp_path):
    hf = {
        **TINY.to_dict(),
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
        "pad_token_id": 0,
        "torch_dtype": "float32",
        "transformers_version": "4.40.0",
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(hf), encoding="utf-8")
    assert BertConfig.from_json_file(path) == TINY
    # Google's multilingual bert_config.json: no layer_norm_eps, pooler_* keys Google never reads.
    google = {key: value for key, value in TINY.to_dict().items() if key != "layer_norm_eps"}
    google.update(directionality="bidi", pooler_fc_size=768, pooler_type="first_token_transform")
    assert BertConfig.from_dict(google) == TINY


def test_config_errors(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**TINY.to_dict(), "hidden_layers": 3, "num_heads": 2}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bert_config\.json.*\['hidden_layers', 'num_heads'\]"):
        BertConfig.from_json_file(path)
    with pytest.raises(ValueError, match="not a multiple of num_attention_heads"):
        dataclasses.replace(TINY, num_attention_heads=3)
    with pytest.raises(ValueError, match="hidden_act 'swiglu'"):
        dataclasses.replace(TINY, hidden_act="swiglu")
    with pytest.raises(ValueError, match=r"missing config keys \['vocab_size'\]"):
        BertConfig.from_dict({"hidden_size": 32})
    with pytest.raises(ValueError, match="model_type"):
        BertConfig.from_dict({**TINY.to_dict(), "model_type": "roberta"})
    with pytest.raises(ValueError, match="absolute"):
        BertConfig.from_dict({**TINY.to_dict(), "model_type": "bert", "position_embedding_type": "relative_key"})


# ---------------------------------------------------------------------------------------------------------
# The model on its own


def test_state_dict_keys_match_hugging_face(transformers):
    pairs = [
        (BertForPreTraining(TINY), None),
        (BertForQuestionAnswering(TINY), None),
        (BertModel(TINY), True),
        (BertModel(TINY, add_pooling_layer=False), False),
    ]
    hf_config = transformers.BertConfig(**TINY.to_dict())
    for ours, pooling in pairs:
        cls = getattr(transformers, type(ours).__name__)
        theirs = cls(hf_config) if pooling is None else cls(hf_config, add_pooling_layer=pooling)
        ours_shapes = {key: tuple(value.shape) for key, value in ours.state_dict().items()}
        theirs_shapes = {key: tuple(value.shape) for key, value in theirs.state_dict().items()}
        assert ours_shapes == theirs_shapes, type(ours).__name__


def test_decoder_is_tied_to_the_word_embeddings():
    model = BertForPreTraining(TINY)
    state = model.state_dict()
    assert "cls.predictions.bias" in state and "cls.predictions.decoder.bias" in state
    for dtype in (None, torch.float64):
        if dtype is not None:
            model = model.to(dtype)
        model.load_state_dict(perturbed(BertForPreTraining(TINY)).state_dict())
        assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
        assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    # A tied parameter is one parameter: the optimizer sees it once.
    names = [name for name, _ in model.named_parameters()]
    assert "cls.predictions.decoder.weight" not in names and "cls.predictions.decoder.bias" not in names


def test_init_follows_hugging_face():
    model = BertForPreTraining(dataclasses.replace(TINY, vocab_size=4000, initializer_range=0.05))
    embedding = model.bert.embeddings.word_embeddings.weight
    assert abs(embedding.std().item() - 0.05) < 0.005
    assert torch.equal(model.cls.predictions.bias, torch.zeros(4000))
    layer = model.bert.encoder.layer[0]
    assert torch.equal(layer.attention.self.query.bias, torch.zeros(32))
    assert torch.equal(layer.output.LayerNorm.weight, torch.ones(32))


def test_gathered_mlm_logits_are_those_at_the_positions():
    model = perturbed(BertForPreTraining(TINY))
    inputs = make_inputs()
    every_position, _ = pretraining_logits(model, inputs)
    with torch.no_grad():
        gathered = model(
            inputs["input_ids"], **encoder_inputs(inputs), masked_lm_positions=inputs["masked_lm_positions"]
        ).mlm_logits
    index = inputs["masked_lm_positions"]
    assert gathered.shape == (BATCH, 4, TINY.vocab_size)
    torch.testing.assert_close(gathered, every_position[torch.arange(BATCH)[:, None], index], rtol=0, atol=ATOL)


def test_padding_does_not_reach_real_tokens():
    model = perturbed(BertModel(TINY))
    inputs = make_inputs()
    mask = inputs["attention_mask"].bool()
    other_ids = torch.where(mask, inputs["input_ids"], torch.full_like(inputs["input_ids"], 42))
    with torch.no_grad():
        a = model(inputs["input_ids"], **encoder_inputs(inputs)).sequence_output
        b = model(other_ids, **encoder_inputs(inputs)).sequence_output
        # Google's -10000 fill: a row with no real token at all stays finite.
        empty = model(inputs["input_ids"], attention_mask=torch.zeros_like(inputs["attention_mask"]))
    torch.testing.assert_close(a[mask], b[mask], rtol=0, atol=ATOL)
    assert not torch.allclose(a[~mask], b[~mask])
    assert torch.isfinite(empty.sequence_output).all()


def test_dropout_only_in_training():
    model = perturbed(BertModel(TINY))
    input_ids = make_inputs()["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(input_ids).sequence_output, model(input_ids).sequence_output)
        model.train()
        assert not torch.equal(model(input_ids).sequence_output, model(input_ids).sequence_output)


def test_without_pooler_and_too_long_inputs():
    model = BertModel(TINY, add_pooling_layer=False)
    sequence_output, pooled_output = model(torch.zeros(2, 5, dtype=torch.long))
    assert sequence_output.shape == (2, 5, 32) and pooled_output is None
    with pytest.raises(ValueError, match="max_position_embeddings 64"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_google_masked_lm_loss_and_counts():
    model = perturbed(BertForPreTraining(TINY))
    inputs = make_inputs()
    with torch.no_grad():
        output = model(**inputs)
    log_probs = output.mlm_logits.log_softmax(-1)
    ids, weights = inputs["masked_lm_ids"], inputs["masked_lm_weights"]
    numerator = sum(-weights[b, p].item() * log_probs[b, p, ids[b, p]].item() for b in range(BATCH) for p in range(4))
    expected = numerator / (weights.sum().item() + 1e-5)
    assert output.mlm_loss.item() == pytest.approx(expected, rel=1e-5)
    nsp = F.cross_entropy(output.nsp_logits, inputs["next_sentence_labels"])
    assert output.nsp_loss.item() == pytest.approx(nsp.item(), rel=1e-6)
    assert output.loss.item() == pytest.approx(expected + nsp.item(), rel=1e-5)
    correct = (output.mlm_logits.argmax(-1) == ids).float()
    assert output.mlm_correct.item() == (correct * weights).sum().item()
    assert output.mlm_weight.item() == 9.0
    nsp_correct = (output.nsp_logits.argmax(-1) == inputs["next_sentence_labels"]).sum().item()
    assert output.nsp_correct.item() == nsp_correct
    # No real prediction at all: loss 0, not NaN (Google's + 1e-5).
    with torch.no_grad():
        empty = model(**{**inputs, "masked_lm_weights": torch.zeros_like(weights)})
    assert empty.mlm_loss.item() == 0.0


def test_every_parameter_gets_a_gradient():
    inputs = make_inputs()
    pretraining = BertForPreTraining(TINY)
    pretraining(**inputs).loss.backward()
    qa = BertForQuestionAnswering(TINY)
    qa(
        inputs["input_ids"],
        **encoder_inputs(inputs),
        start_positions=torch.tensor([1, 2, 3]),
        end_positions=torch.tensor([4, 5, 3]),
    ).loss.backward()
    for model in (pretraining, qa):
        assert [name for name, param in model.named_parameters() if param.grad is None] == []


def test_question_answering_loss():
    model = perturbed(BertForQuestionAnswering(TINY))
    inputs = make_inputs()
    start, end = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 3])
    with torch.no_grad():
        output = model(inputs["input_ids"], **encoder_inputs(inputs), start_positions=start, end_positions=end)
    assert output.start_logits.shape == output.end_logits.shape == (BATCH, SEQ)
    expected = (F.cross_entropy(output.start_logits, start) + F.cross_entropy(output.end_logits, end)) / 2
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Parity with Hugging Face transformers


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_pretraining_parity(transformers, hidden_act, attn_implementation):
    ours = perturbed(BertForPreTraining(dataclasses.replace(TINY, hidden_act=hidden_act)))
    theirs = hf_twin(transformers, ours, attn_implementation=attn_implementation)
    inputs = make_inputs()
    with torch.no_grad():
        sequence_output, pooled_output = ours.bert(inputs["input_ids"], **encoder_inputs(inputs))
        every_position, nsp_logits = pretraining_logits(ours, inputs)
        gathered = ours(**inputs)
        hf_base = theirs.bert(**{key: inputs[key] for key in ("input_ids", "token_type_ids", "attention_mask")})
        # Hugging Face's MLM labels: -100 everywhere but at the real predictions.
        labels = torch.full_like(inputs["input_ids"], -100)
        real = inputs["masked_lm_weights"].bool()
        rows = torch.arange(BATCH)[:, None].expand(-1, 4)
        labels[rows[real], inputs["masked_lm_positions"][real]] = inputs["masked_lm_ids"][real]
        hf = theirs(
            input_ids=inputs["input_ids"],
            token_type_ids=inputs["token_type_ids"],
            attention_mask=inputs["attention_mask"],
            labels=labels,
            next_sentence_label=inputs["next_sentence_labels"],
        )
    hf_gathered = hf.prediction_logits[rows, inputs["masked_lm_positions"]]
    diffs = {
        "last_hidden_state": max_diff(sequence_output, hf_base.last_hidden_state),  # padded positions too
        "pooler_output": max_diff(pooled_output, hf_base.pooler_output),
        "prediction_logits": max_diff(every_position, hf.prediction_logits),
        "gathered_mlm_logits": max_diff(gathered.mlm_logits, hf_gathered),
        "seq_relationship_logits": max_diff(nsp_logits, hf.seq_relationship_logits),
    }
    print(hidden_act, attn_implementation, diffs)
    assert max(diffs.values()) < ATOL, diffs
    hf_nsp_loss = F.cross_entropy(hf.seq_relationship_logits, inputs["next_sentence_labels"])
    assert abs(gathered.nsp_loss.item() - hf_nsp_loss.item()) < ATOL
    # Hugging Face's MLM loss is the plain mean; Google's divides by (number of predictions + 1e-5).
    count = real.sum().item()
    google_as_mean = gathered.mlm_loss.item() * (count + 1e-5) / count
    assert abs(google_as_mean + gathered.nsp_loss.item() - hf.loss.item()) < ATOL


def test_question_answering_parity(transformers):
    ours = perturbed(BertForQuestionAnswering(TINY))
    theirs = hf_twin(transformers, ours)
    inputs = make_inputs(seed=1)
    with torch.no_grad():
        output = ours(inputs["input_ids"], **encoder_inputs(inputs))
        hf = theirs(input_ids=inputs["input_ids"], **encoder_inputs(inputs))
    diffs = {
        "start_logits": max_diff(output.start_logits, hf.start_logits),
        "end_logits": max_diff(output.end_logits, hf.end_logits),
    }
    print("qa", diffs)
    assert max(diffs.values()) < ATOL, diffs


# ---------------------------------------------------------------------------------------------------------
# Export and load


@pytest.fixture
def vocab_file(write_vocab):
    return write_vocab([f"piece{i}" for i in range(TINY.vocab_size - 5)])


def test_export_hf_round_trip(transformers, tmp_path, vocab_file):
    ours = perturbed(BertForPreTraining(TINY))
    out = modeling.export_hf(ours, TINY, vocab_file, tmp_path / "export" / "hf")
    assert sorted(path.name for path in out.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    assert [path.name for path in out.parent.iterdir()] == ["hf"]  # no staging directory left behind
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert" and config["architectures"] == ["BertForPreTraining"]
    assert config["pad_token_id"] == 0 and config["layer_norm_eps"] == TINY.layer_norm_eps
    assert (out / "vocab.txt").read_bytes() == vocab_file.read_bytes()

    theirs, info = transformers.BertForPreTraining.from_pretrained(out, output_loading_info=True)
    assert {key: list(value) for key, value in info.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    inputs = make_inputs()
    every_position, nsp_logits = pretraining_logits(ours, inputs)
    with torch.no_grad():
        hf = theirs.eval()(input_ids=inputs["input_ids"], **encoder_inputs(inputs))
    assert max_diff(every_position, hf.prediction_logits) < ATOL
    assert max_diff(nsp_logits, hf.seq_relationship_logits) < ATOL

    # And back: our loader reads the export.
    reloaded = BertForPreTraining(TINY).eval()
    report = modeling.load_pretrained(reloaded, out)
    assert report.initialized == () and report.unused == ()
    for ours_value, reloaded_value in zip(
        pretraining_logits(ours, inputs), pretraining_logits(reloaded, inputs), strict=True
    ):
        assert torch.equal(ours_value, reloaded_value)

    with pytest.raises(FileExistsError):
        modeling.export_hf(ours, TINY, vocab_file, out)
    qa = BertForQuestionAnswering(TINY)
    modeling.export_hf(qa, TINY, vocab_file, out, overwrite=True)
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    assert sorted(path.name for path in out.parent.iterdir()) == ["hf"]


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
        report = modeling.load_pretrained(ours, tmp_path / name)
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
        report = modeling.load_pretrained(model, path)
        assert report.initialized == () and report.unused == ()
        loaded = model.state_dict()
        assert all(torch.equal(loaded[key], expected[key]) for key in expected), path


def test_load_between_pretraining_and_question_answering(tmp_path):
    pretrained = perturbed(BertForPreTraining(TINY))
    torch.save({"model": pretrained.state_dict()}, tmp_path / "pretraining.pt")
    qa = BertForQuestionAnswering(TINY)
    report = modeling.load_pretrained(qa, tmp_path / "pretraining.pt")
    assert report.initialized == ("qa_outputs.bias", "qa_outputs.weight")
    heads = {key for key in pretrained.state_dict() if key.startswith(("cls.", "bert.pooler."))}
    assert set(report.unused) == heads - {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert "qa_outputs.weight" in report.summary()
    for key, value in qa.bert.state_dict().items():
        assert torch.equal(value, pretrained.bert.state_dict()[key]), key

    torch.save(perturbed(qa).state_dict(), tmp_path / "qa.pt")
    report = modeling.load_pretrained(BertForPreTraining(TINY), tmp_path / "qa.pt")
    assert {key.split(".")[0] + "." + key.split(".")[1] for key in report.initialized} == {
        "cls.predictions",
        "cls.seq_relationship",
        "bert.pooler",
    }
    assert report.unused == ("qa_outputs.bias", "qa_outputs.weight")

    # BertModel layout (no "bert." prefix) in either direction.
    torch.save(pretrained.bert.state_dict(), tmp_path / "encoder.pt")
    report = modeling.load_pretrained(BertForPreTraining(TINY), tmp_path / "encoder.pt")
    assert all(key.startswith("cls.") for key in report.initialized) and report.unused == ()
    encoder = BertModel(TINY)
    report = modeling.load_pretrained(encoder, tmp_path / "pretraining.pt")
    assert report.initialized == () and all(key.startswith("cls.") for key in report.unused)
    assert "embeddings.word_embeddings.weight" in report.loaded


def test_load_errors(tmp_path):
    state = perturbed(BertForPreTraining(TINY)).state_dict()

    def attempt(tensors, match, model=None):
        path = tmp_path / "bad.pt"
        torch.save(tensors, path)
        with pytest.raises(ValueError, match=match):
            modeling.load_pretrained(model or BertForPreTraining(TINY), path)

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
    with pytest.raises(pickle.UnpicklingError):
        modeling.load_pretrained(BertForPreTraining(TINY), path)

    theirs = transformers.BertForPreTraining(transformers.BertConfig(**{**TINY.to_dict(), "hidden_act": "gelu_new"}))
    theirs.save_pretrained(tmp_path / "hf")
    with pytest.raises(ValueError, match="hidden_act: 'gelu_new' in the file, 'gelu' here"):
        modeling.load_pretrained(BertForPreTraining(TINY), tmp_path / "hf")
    with pytest.raises(FileNotFoundError, match=r"neither model\.safetensors nor pytorch_model\.bin"):
        modeling.load_pretrained(BertForPreTraining(TINY), tmp_path)
