import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from badinput import assert_one_line_error, run_as_script
from conftest import ROOT, SHARED_DATA
from tiny_bert import (
    ATOL,
    BATCH,
    SEQ,
    TINY,
    classifier_inputs,
    encoder_inputs,
    make_inputs,
    max_diff,
    perturbed,
    pretraining_logits,
)

import modeling
from mecab_bert.checkpoints import loading
from modeling import BertConfig, BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification, BertModel
from text_input import InputError


def hf_twin(transformers, ours, **config_overrides):
    """The same model in transformers, with our weights loaded strictly."""
    hf_config = transformers.BertConfig(**ours.config.to_dict(), **config_overrides)
    if isinstance(ours, BertModel):
        theirs = transformers.BertModel(hf_config, add_pooling_layer=ours.pooler is not None)
    else:
        theirs = getattr(transformers, type(ours).__name__)(hf_config)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return theirs.eval()


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
# Sequence classification: the model and Hugging Face parity


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
        "BertModel", "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification",
        "BertForTokenClassification"}
    assert set(loading._HEADS) == {
        "bert.pooler.", "cls.predictions.", "cls.seq_relationship.", "qa_outputs.", "classifier."}


def test_token_classification_parity(transformers):
    """Hugging Face's BertForTokenClassification on the same weights: logits, and the loss over labeled tokens
    (IGNORED_LABEL at [CLS], padding and the like), to ATOL."""
    ours = perturbed(modeling.BertForTokenClassification(TINY, num_labels=5, label_names=tuple("OABCD")))
    theirs = hf_twin(transformers, ours, num_labels=5)
    encoder, _ = classifier_inputs(5, seed=3)
    labels = torch.randint(0, 5, encoder["input_ids"].shape, generator=torch.Generator().manual_seed(0))
    labels[:, 0] = modeling.IGNORED_LABEL
    labels[encoder["attention_mask"] == 0] = modeling.IGNORED_LABEL
    with torch.no_grad():
        output = ours(**encoder, labels=labels)
        hf = theirs(**encoder, labels=labels)
    assert max_diff(output.logits, hf.logits) < ATOL
    assert abs(output.loss.item() - hf.loss.item()) < ATOL
    head = modeling.token_classification_loss(output.logits, labels)
    assert head.count.item() == (labels != modeling.IGNORED_LABEL).sum().item()
    assert ours.hf_config()["id2label"] == {str(i): name for i, name in enumerate("OABCD")}


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
