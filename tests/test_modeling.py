import dataclasses
import errno
import json
import os
import pickle
import random

import click
import pytest
import torch
import torch.nn.functional as F
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA

import modeling
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export, loading
from mecab_bert.cli import user_errors
from modeling import BertConfig, BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification, BertModel
from text_input import InputError

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
    with pytest.raises(ValueError, match=r'hidden_act must be one of .*, not "swiglu"'):
        dataclasses.replace(TINY, hidden_act="swiglu")
    with pytest.raises(ValueError, match=r"missing config keys \['vocab_size'\]"):
        BertConfig.from_dict({"hidden_size": 32})
    with pytest.raises(ValueError, match="model_type"):
        BertConfig.from_dict({**TINY.to_dict(), "model_type": "roberta"})
    with pytest.raises(ValueError, match="absolute"):
        BertConfig.from_dict({**TINY.to_dict(), "model_type": "bert", "position_embedding_type": "relative_key"})


def test_shared_tf_checkpoint_configs_load():
    """Google's bert_config.json (no layer_norm_eps) as TensorFlow's own BERT runs wrote them."""
    paths = sorted((SHARED_DATA / "tf_checkpoints").glob("*/bert_config.json"))
    if not paths:
        pytest.skip(f"{SHARED_DATA / 'tf_checkpoints'} not present")
    for path in paths:
        config = BertConfig.from_json_file(path)
        assert config.layer_norm_eps == 1e-12 and config.hidden_size % config.num_attention_heads == 0, path


def run_as_script(action) -> click.testing.Result:
    """Runs `action` the way every script runs its work: inside user_errors, which prints one "Error:" line."""

    @click.command()
    def command():
        with user_errors():
            action()

    return CliRunner().invoke(command, [])


_INT_FIELDS = [field.name for field in dataclasses.fields(BertConfig) if field.type == "int"]
# (changes to TINY's config, the text the one error line must hold besides the file's name)
BAD_CONFIG_VALUES = [
    *[({name: 0}, [f"{name} must be an integer {'>= 2' if name == 'type_vocab_size' else 'in [1, 2**31)'}, not 0"])
      for name in _INT_FIELDS],
    ({"type_vocab_size": 1}, ["type_vocab_size must be an integer >= 2, not 1"]),
    ({"vocab_size": 10**30}, ["vocab_size must be an integer in [1, 2**31), not 1000000000000000000000000000000"]),
    ({"num_hidden_layers": -2}, ["num_hidden_layers must be an integer in [1, 2**31), not -2"]),
    ({"hidden_size": "768"}, ['hidden_size must be an integer in [1, 2**31), not "768"']),
    ({"hidden_size": 32.0}, ["hidden_size must be an integer in [1, 2**31), not 32.0"]),
    ({"num_attention_heads": True}, ["num_attention_heads must be an integer in [1, 2**31), not true"]),
    ({"vocab_size": None}, ["vocab_size must be an integer in [1, 2**31), not null"]),
    ({"initializer_range": "0.02"}, ['initializer_range must be a number > 0, not "0.02"']),
    ({"initializer_range": 0}, ["initializer_range must be a number > 0, not 0"]),
    ({"initializer_range": float("inf")}, ["initializer_range must be a number > 0, not Infinity"]),
    ({"layer_norm_eps": -1e-12}, ["layer_norm_eps must be a number > 0, not -1e-12"]),
    ({"layer_norm_eps": float("nan")}, ["layer_norm_eps must be a number > 0, not NaN"]),
    ({"hidden_dropout_prob": 1.0}, ["hidden_dropout_prob must be a number in [0, 1), not 1.0"]),
    ({"hidden_dropout_prob": -0.1}, ["hidden_dropout_prob must be a number in [0, 1), not -0.1"]),
    ({"attention_probs_dropout_prob": "0.1"}, ['attention_probs_dropout_prob must be a number in [0, 1), not "0.1"']),
    ({"attention_probs_dropout_prob": False}, ["attention_probs_dropout_prob must be a number in [0, 1), not false"]),
    ({"hidden_act": 5}, ["hidden_act must be one of", "not 5"]),
    ({"hidden_act": "swiglu"}, ["hidden_act must be one of", '"swiglu"']),
    ({"num_attention_heads": 3}, ["hidden_size (32) is not a multiple of num_attention_heads (3)"]),
    ({"num_layers": 2}, ["unknown config keys ['num_layers']"]),
    ({"model_type": "roberta"}, ['model_type is "roberta"']),
]
BAD_CONFIG_FILES = [  # (case, file bytes, what the one error line must hold besides the file's name)
    ("empty", b"", [": not valid JSON (line 1 column 1: Expecting value)"]),
    ("trailing-comma", b'{"vocab_size": 100,}', [": not valid JSON (line 1 column 20"]),
    ("a-list", b"[100, 32]", ["a config is a JSON object ({...}), not [100, 32]"]),
    ("a-string", b'"bert"', ['not "bert"']),
    ("no-vocab_size", b'{"hidden_size": 32}', ["missing config keys ['vocab_size']"]),
    ("key-twice", b'{"vocab_size": 100, "vocab_size": 200}', ['key "vocab_size" appears twice']),
    ("latin-1", b'{"vocab_size": 100, "hidden_act": "g\xe9lu"}', [":1: not valid UTF-8 (byte 0xe9 at byte 37"]),
    ("utf-16", '{"vocab_size": 100}'.encode("utf-16"), ["UTF-16 text (it starts with a UTF-16 byte order"]),
    ("nested", b"[" * 100_000, ["nested too deeply"]),
]


@pytest.mark.parametrize(
    ("content", "names"),
    [(json.dumps({**TINY.to_dict(), **changes}).encode(), names) for changes, names in BAD_CONFIG_VALUES]
    + [(content, names) for _, content, names in BAD_CONFIG_FILES],
    ids=[next(iter(changes)) + "=" + json.dumps(next(iter(changes.values()))) for changes, _ in BAD_CONFIG_VALUES]
    + [case for case, _, _ in BAD_CONFIG_FILES],
)
def test_bad_config_is_one_line_naming_the_file(tmp_path, content, names):
    path = tmp_path / "configs" / "x.json"
    path.parent.mkdir()
    path.write_bytes(content)
    assert_one_line_error(run_as_script(lambda: BertConfig.from_json_file(path)), f"Error: {path}", *names)
    with pytest.raises(InputError):  # a ValueError for callers outside click
        BertConfig.from_json_file(path)


def test_missing_or_folder_config_is_one_line(tmp_path):
    for path in (tmp_path / "nope.json", tmp_path):
        assert_one_line_error(run_as_script(lambda path=path: BertConfig.from_json_file(path)), f"Error: {path}: ")


def test_config_accepts_a_bom_and_an_integer_dropout(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({**TINY.to_dict(), "hidden_dropout_prob": 0}).encode())
    assert BertConfig.from_json_file(path) == dataclasses.replace(TINY, hidden_dropout_prob=0.0)


def test_check_vocab_fits():
    for vocab_size in (50, TINY.vocab_size):  # Google's configs may round vocab_size up
        modeling.check_vocab_fits(TINY, vocab_size, "vocab.txt", "configs/x.json")
    with pytest.raises(InputError) as raised:
        modeling.check_vocab_fits(TINY, TINY.vocab_size + 1, "vocab/big.txt", "configs/x.json")
    message = str(raised.value)
    assert message.startswith("vocab/big.txt has 101 tokens but configs/x.json has vocab_size 100")
    assert "\n" not in message


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
    # Google's cross-entropies, over each row's real tokens only (padding is never an answer).
    padding = inputs["attention_mask"] == 0
    start_logits, end_logits = (logits.masked_fill(padding, -torch.inf) for logits in output[:2])
    expected = (F.cross_entropy(start_logits, start) + F.cross_entropy(end_logits, end)) / 2
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    unmasked = (F.cross_entropy(output.start_logits, start) + F.cross_entropy(output.end_logits, end)) / 2
    assert output.loss.item() < unmasked.item()  # the masking is real: these inputs have padding


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


WORDPIECE_EXPORT = ["README.md", "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                    "tokenizer_config.json", "vocab.txt"]


def export(model, vocab_file, out_dir, **kwargs):
    """export_hf with Google's uncased WordPiece tokenizer over `vocab_file`."""
    settings = tokenizer_settings.TokenizerSettings(str(vocab_file), True, "wordpiece")
    return hf_export.export_hf(model, out_dir, settings, hf_export.ModelCard("a test"), **kwargs)


def test_export_hf_round_trip(transformers, tmp_path, vocab_file):
    ours = perturbed(BertForPreTraining(TINY))
    out = export(ours, vocab_file, tmp_path / "export" / "hf")
    assert sorted(path.name for path in out.iterdir()) == WORDPIECE_EXPORT
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
    report = loading.load_pretrained(reloaded, out)
    assert report.initialized == () and report.unused == ()
    for ours_value, reloaded_value in zip(
        pretraining_logits(ours, inputs), pretraining_logits(reloaded, inputs), strict=True
    ):
        assert torch.equal(ours_value, reloaded_value)

    with pytest.raises(InputError, match="not empty"):
        export(ours, vocab_file, out)
    qa = BertForQuestionAnswering(TINY)
    export(qa, vocab_file, out, overwrite=True)
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


# ---------------------------------------------------------------------------------------------------------
# Files that are not weights: one line naming the file, nothing unpickled


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


# ---------------------------------------------------------------------------------------------------------
# export_hf replaces an old export only


def test_export_hf_refuses_a_folder_with_other_files(tmp_path, vocab_file):
    out = tmp_path / "models"
    out.mkdir()
    (out / "config.json").write_text("{}", encoding="utf-8")
    (out / "thesis.pdf").write_bytes(b"a week of work")
    before = snapshot(tmp_path)
    result = run_as_script(
        lambda: export(BertForPreTraining(TINY), vocab_file, out, overwrite=True)
    )
    assert_one_line_error(result, f"Error: {out}: ", "thesis.pdf", "--export_hf")
    assert snapshot(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["models", "vocab.txt"]  # no staging folder left


def test_export_hf_replaces_an_old_export_only(tmp_path, vocab_file):
    out = export(BertForPreTraining(TINY), vocab_file, tmp_path / "hf")
    (out / ".model.safetensors.~1a2b3c4d.tmp").write_text("a killed write", encoding="utf-8")
    with pytest.raises(InputError, match=f"{out}: not empty; pass --export_hf to replace it"):
        export(BertForPreTraining(TINY), vocab_file, out)
    export(BertForQuestionAnswering(TINY), vocab_file, out, overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == WORDPIECE_EXPORT
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf", "vocab.txt"]
    # Readable by others, as a model to share should be (safetensors alone would leave the weights 0600).
    assert (out / "model.safetensors").stat().st_mode & 0o044 == 0o044
    # An empty folder is no export to protect.
    (tmp_path / "empty").mkdir()
    export(BertForQuestionAnswering(TINY), vocab_file, tmp_path / "empty")
    assert (tmp_path / "empty" / "model.safetensors").is_file()


@pytest.mark.parametrize("kind", ["downloaded with its tokenizer", "same three files, not ours"])
def test_export_hf_never_replaces_a_downloaded_model(tmp_path, vocab_file, kind):
    out = tmp_path / "klue-bert"
    out.mkdir()
    names = ["config.json", "model.safetensors", "vocab.txt"]
    if kind == "downloaded with its tokenizer":
        names += ["tokenizer_config.json", "special_tokens_map.json"]
    for name in names:
        (out / name).write_text("theirs", encoding="utf-8")
    before = snapshot(tmp_path)
    result = run_as_script(
        lambda: export(BertForPreTraining(TINY), vocab_file, out, overwrite=True))
    assert_one_line_error(result, str(out), "--export_hf replaces only an earlier export")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("failure", ["missing-vocab", "disk-full"])
def test_failed_export_leaves_the_old_one_whole(tmp_path, vocab_file, monkeypatch, failure):
    out = export(BertForPreTraining(TINY), vocab_file, tmp_path / "hf")
    before = snapshot(tmp_path)
    vocab = vocab_file
    if failure == "missing-vocab":
        vocab = tmp_path / "nope.txt"
    else:
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device", str(out))

        monkeypatch.setattr(os, "fsync", full)
    result = run_as_script(lambda: export(BertForQuestionAnswering(TINY), vocab, out, overwrite=True))
    assert_one_line_error(result, "Error: ", str(vocab) if failure == "missing-vocab" else "the disk is full")
    assert snapshot(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf", "vocab.txt"]


# ---------------------------------------------------------------------------------------------------------
# Losses: one function per head, against plain PyTorch


def plain_cross_entropy(logits, labels):
    """float [N], -log softmax(logits)[label] of logits [N, C], labels [N], written out."""
    return -(logits.float().log_softmax(-1).gather(1, labels[:, None])[:, 0])


def random_logits(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), requires_grad=True)


def assert_head_loss(head, loss, total, count, correct):
    assert head.loss.item() == pytest.approx(loss, rel=1e-6)
    assert head.total.item() == pytest.approx(total, rel=1e-6)
    assert head.count.item() == count and head.correct.item() == pytest.approx(correct, rel=1e-6)
    assert head.total.requires_grad and not head.correct.requires_grad and not head.count.requires_grad
    assert all(value.shape == () and value.dtype == torch.float32 for value in head)


def test_masked_lm_loss_is_googles_weighted_mean():
    logits = random_logits(BATCH, 4, TINY.vocab_size)
    ids = make_inputs()["masked_lm_ids"]
    weights = torch.tensor([[1.0, 0.5, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    ids[0, :2] = logits[0, :2].argmax(-1)  # two correct predictions, one of them at half weight
    per_position = plain_cross_entropy(logits.flatten(0, 1), ids.flatten()).view(BATCH, 4)
    total = (weights * per_position).sum().item()
    hits = (logits.argmax(-1) == ids).float()
    head = modeling.masked_lm_loss(logits, ids, weights)
    assert_head_loss(head, total / (8.5 + 1e-5), total, 8.5, (weights * hits).sum().item())
    assert head.correct.item() >= 1.5
    # No real prediction at all: loss 0, not NaN (Google's + 1e-5).
    empty = modeling.masked_lm_loss(logits, ids, torch.zeros_like(weights))
    assert (empty.loss.item(), empty.total.item(), empty.count.item(), empty.correct.item()) == (0.0, 0.0, 0.0, 0.0)


def test_next_sentence_loss_is_the_mean_cross_entropy():
    logits, labels = random_logits(5, 2), torch.tensor([0, 1, 1, 0, 1])
    head = modeling.next_sentence_loss(logits, labels)
    assert torch.equal(head.loss, F.cross_entropy(logits, labels))  # bit for bit, as Hugging Face's
    correct = (logits.argmax(-1) == labels).sum().item()
    assert_head_loss(head, plain_cross_entropy(logits, labels).mean().item(),
                     plain_cross_entropy(logits, labels).sum().item(), 5, correct)


def test_span_loss_is_the_mean_of_start_and_end():
    start_logits, end_logits = random_logits(4, SEQ, seed=1), random_logits(4, SEQ, seed=2)
    best_start, best_end = start_logits.argmax(-1), end_logits.argmax(-1)
    # Item 0 right at both ends, item 1 only at its start, item 2 only at its end, item 3 at neither.
    start = torch.stack([best_start[0], best_start[1], (best_start[2] + 1) % SEQ, (best_start[3] + 1) % SEQ])
    end = torch.stack([best_end[0], (best_end[1] + 1) % SEQ, best_end[2], (best_end[3] + 1) % SEQ])
    per_item = (plain_cross_entropy(start_logits, start) + plain_cross_entropy(end_logits, end)) / 2
    head = modeling.span_loss(start_logits, end_logits, start, end)
    assert_head_loss(head, per_item.mean().item(), per_item.sum().item(), 4, 1)
    today = (F.cross_entropy(start_logits, start) + F.cross_entropy(end_logits, end)) / 2
    assert torch.equal(head.loss, today)


def test_sequence_classification_loss():
    logits, labels = random_logits(5, 3), torch.tensor([0, 2, 1, 2, 0])
    head = modeling.sequence_classification_loss(logits, labels)
    assert torch.equal(head.loss, F.cross_entropy(logits, labels))
    assert_head_loss(head, plain_cross_entropy(logits, labels).mean().item(),
                     plain_cross_entropy(logits, labels).sum().item(), 5, (logits.argmax(-1) == labels).sum().item())
    # One label: a regression, mean squared error; correct holds the sum of squared errors.
    scores, targets = random_logits(5, 1, seed=3), torch.tensor([0.5, 1.0, -2.0, 3.0, 0.0])
    squares = ((scores[:, 0] - targets) ** 2).sum().item()
    regression = modeling.sequence_classification_loss(scores, targets)
    assert_head_loss(regression, squares / 5, squares, 5, squares)
    assert torch.equal(regression.loss, torch.nn.MSELoss()(scores.squeeze(), targets.squeeze()))  # Hugging Face's


def test_losses_are_float32_under_bf16():
    logits = random_logits(BATCH, 4, TINY.vocab_size).detach().bfloat16()
    inputs = make_inputs()
    heads = [
        modeling.masked_lm_loss(logits, inputs["masked_lm_ids"], inputs["masked_lm_weights"]),
        modeling.next_sentence_loss(logits[:, 0, :2], inputs["next_sentence_labels"]),
        modeling.span_loss(logits[:, 0], logits[:, 1], torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])),
        modeling.sequence_classification_loss(logits[:, 0, :1], torch.tensor([0.5, 1.0, 2.0])),
    ]
    assert all(value.dtype == torch.float32 for head in heads for value in head)
    reference = F.cross_entropy(logits[:, 0, :2].float(), inputs["next_sentence_labels"])
    assert torch.equal(heads[1].loss, reference)


def classifier_inputs(num_labels, seed=0):
    """make_inputs' encoder inputs and labels for a classifier: class ids, or float scores for num_labels 1."""
    inputs = make_inputs(seed=seed)
    labels = torch.tensor([0.5, -1.0, 2.5]) if num_labels == 1 else torch.tensor([2, 0, 1]) % num_labels
    return {key: inputs[key] for key in ("input_ids", "token_type_ids", "attention_mask")}, labels


def test_model_loss_is_the_head_functions_loss():
    inputs = make_inputs()
    pretraining = perturbed(BertForPreTraining(TINY))
    qa = perturbed(BertForQuestionAnswering(TINY))
    start, end = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 3])
    with torch.no_grad():
        output = pretraining(**inputs)
        mlm = modeling.masked_lm_loss(output.mlm_logits, inputs["masked_lm_ids"], inputs["masked_lm_weights"])
        nsp = modeling.next_sentence_loss(output.nsp_logits, inputs["next_sentence_labels"])
        spans = qa(inputs["input_ids"], **encoder_inputs(inputs), start_positions=start, end_positions=end)
        span = modeling.span_loss(spans.start_logits, spans.end_logits, start, end, inputs["attention_mask"])
    assert torch.equal(output.loss, mlm.loss + nsp.loss)
    pairs = [(output.mlm_loss, mlm.loss), (output.mlm_correct, mlm.correct), (output.mlm_weight, mlm.count),
             (output.nsp_loss, nsp.loss), (output.nsp_correct, nsp.correct)]
    assert all(torch.equal(field, expected) for field, expected in pairs)
    assert torch.equal(spans.loss, span.loss)
    for num_labels in (3, 1):
        classifier = perturbed(BertForSequenceClassification(TINY, num_labels=num_labels))
        encoder, labels = classifier_inputs(num_labels)
        with torch.no_grad():
            classified = classifier(**encoder, labels=labels)
        assert classified.logits.shape == (BATCH, num_labels)
        assert torch.equal(classified.loss, modeling.sequence_classification_loss(classified.logits, labels).loss)
        assert classifier(**encoder).loss is None


# ---------------------------------------------------------------------------------------------------------
# Sequence classification: the model, Hugging Face parity, export and load


def test_sequence_classification_model():
    model = modeling.create_model(BertForSequenceClassification, TINY, num_labels=3, label_names=("a", "b", "c"))
    assert (model.num_labels, model.label_names, model.classifier.out_features) == (3, ("a", "b", "c"), 3)
    assert model.bert.pooler is not None and model.dropout.p == TINY.hidden_dropout_prob
    assert torch.equal(model.classifier.bias, torch.zeros(3))
    assert abs(model.classifier.weight.std().item() - TINY.initializer_range) < 0.01
    encoder, labels = classifier_inputs(3)
    model(**encoder, labels=labels).loss.backward()
    assert [name for name, param in model.named_parameters() if param.grad is None] == []
    for num_labels, label_names, message in [
        (0, (), "num_labels must be an integer >= 1, not 0"),
        (True, (), "num_labels must be an integer >= 1, not true"),
        (3, ("a", "b"), 'label_names must be 3 distinct strings (num_labels), not ["a", "b"]'),
        (2, ("a", "a"), "label_names must be 2 distinct strings"),
    ]:
        with pytest.raises(InputError) as raised:
            BertForSequenceClassification(TINY, num_labels=num_labels, label_names=label_names)
        assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_model_classes_give_heads_and_architectures():
    assert {model_class.__name__ for model_class in modeling.MODEL_CLASSES} == {
        "BertModel", "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification"}
    assert set(loading._HEADS) == {
        "bert.pooler.", "cls.predictions.", "cls.seq_relationship.", "qa_outputs.", "classifier."}


@pytest.mark.parametrize(("num_labels", "problem_type"), [(3, "single_label_classification"), (1, "regression")])
def test_sequence_classification_parity(transformers, num_labels, problem_type):
    ours = perturbed(BertForSequenceClassification(TINY, num_labels=num_labels))
    theirs = hf_twin(transformers, ours, num_labels=num_labels, problem_type=problem_type)
    encoder, labels = classifier_inputs(num_labels, seed=2)
    with torch.no_grad():
        output = ours(**encoder, labels=labels)
        hf = theirs(**encoder, labels=labels)
    print("classifier", num_labels, max_diff(output.logits, hf.logits))
    assert max_diff(output.logits, hf.logits) < ATOL
    assert abs(output.loss.item() - hf.loss.item()) < ATOL


@pytest.mark.parametrize("label_names", [("negative", "neutral", "positive"), ()])
def test_export_classifier_loads_in_hugging_face(transformers, tmp_path, vocab_file, label_names):
    ours = perturbed(BertForSequenceClassification(TINY, num_labels=3, label_names=label_names))
    out = export(ours, vocab_file, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    names = list(label_names) or ["LABEL_0", "LABEL_1", "LABEL_2"]
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": names[0], "1": names[1], "2": names[2]}
    assert config["label2id"] == {name: index for index, name in enumerate(names)}
    assert config["problem_type"] == "single_label_classification"

    theirs, info = transformers.AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert type(theirs).__name__ == "BertForSequenceClassification"
    assert {key: list(value) for key, value in info.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    assert theirs.config.num_labels == 3 and theirs.config.id2label == dict(enumerate(names))
    assert theirs.config.problem_type == "single_label_classification"
    encoder, _ = classifier_inputs(3)
    with torch.no_grad():
        assert max_diff(ours(**encoder).logits, theirs.eval()(**encoder).logits) < ATOL

    reloaded = BertForSequenceClassification(TINY, num_labels=3, label_names=label_names).eval()
    report = loading.load_pretrained(reloaded, out)
    assert report.initialized == () and report.unused == ()
    with torch.no_grad():
        assert torch.equal(ours(**encoder).logits, reloaded(**encoder).logits)


def test_export_regression_config(tmp_path, vocab_file):
    out = export(BertForSequenceClassification(TINY, num_labels=1), vocab_file, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert (config["id2label"], config["label2id"], config["problem_type"]) == (
        {"0": "LABEL_0"}, {"LABEL_0": 0}, "regression")


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
