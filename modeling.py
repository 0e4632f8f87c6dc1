# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The BERT model (Google's `modeling.py`) in PyTorch, with Hugging Face's parameter names.

The module tree is the checkpoint format: every `state_dict` key is the key Hugging Face's `BertModel`,
`BertForPreTraining`, `BertForQuestionAnswering`, `BertForSequenceClassification` and `BertForTokenClassification`
use (`bert.encoder.layer.0.attention.self.query.weight`, `self.LayerNorm` and all), so a checkpoint goes both ways
without a conversion table: `load_pretrained` reads ours, Hugging Face's and older conversions of Google's;
`hf_export.export_hf` writes a directory that `transformers.BertForPreTraining.from_pretrained` (or the model's own
class) loads with no missing or unexpected key. The model classes are `MODEL_CLASSES`: each names the heads it adds.

Each head's loss is one function (`masked_lm_loss`, `next_sentence_loss`, `span_loss`,
`sequence_classification_loss`, `token_classification_loss`) returning a `HeadLoss`: the models' forwards and the
training loops both use it.

Dimensions used in the comments and docstrings:

    B = batch size
    T = sequence length
    H = hidden size
    N = number of attention heads (H/N = size of one head)
    I = intermediate (feed-forward) size
    P = masked LM predictions per sequence
    V = vocabulary size
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mecab_bert.files import read_json, shown, unique_keys
from text_input import InputError

# Hugging Face's names for the activations (transformers' ACT2FN). "gelu" is the exact erf form of Google's
# first modeling.py, which its released checkpoints were trained with; the tanh approximation that Google's
# code switched to later is "gelu_new" (transformers' "gelu_fast" and "gelu_pytorch_tanh" are the same function).
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_python": F.gelu,
    "gelu_new": functools.partial(F.gelu, approximate="tanh"),
    "gelu_fast": functools.partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": functools.partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}

# Keys of Google's multilingual and Chinese bert_config.json that Google's own code never reads.
_GOOGLE_IGNORED_KEYS = frozenset({"directionality", "pooler_fc_size", "pooler_num_attention_heads",
                                  "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type"})

# Google's attention mask fill: a padded key gets -10000 added to its score. Unlike -inf it keeps a row
# with every key padded finite (uniform attention) instead of NaN, and it fits in float16.
_MASK_FILL = -10000.0

# The float fields of BertConfig that are probabilities, in [0, 1); every other float field must be > 0.
_PROBABILITIES = frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob"})


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The model's shape: the keys of Google's `bert_config.json` (Hugging Face's `config.json` uses the same)."""

    vocab_size: int  # rows of the word embedding; at least the number of lines of vocab.txt
    hidden_size: int = 768  # H: width of every token's vector between layers
    num_hidden_layers: int = 12  # Transformer blocks
    num_attention_heads: int = 12  # N: must divide hidden_size
    intermediate_size: int = 3072  # I: width of the feed-forward layer inside each block (4 H)
    hidden_act: str = "gelu"  # feed-forward and MLM transform activation; "gelu" is exact (erf)
    hidden_dropout_prob: float = 0.1  # dropout on embeddings and on each sub-layer's output
    attention_probs_dropout_prob: float = 0.1  # dropout on the attention probabilities
    max_position_embeddings: int = 512  # longest sequence the position table covers
    type_vocab_size: int = 2  # segment ids: 0 = sentence A, 1 = sentence B
    initializer_range: float = 0.02  # std of the normal init of every weight matrix
    layer_norm_eps: float = 1e-12  # Google's LayerNorm epsilon (not in Google's json, Hugging Face adds it)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise InputError(problem)

    def _problem(self) -> str | None:
        """What is wrong with the values (a wrong JSON type, a size below 1, ...), naming the key, or None."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            # bool is an int to Python, but `true` is no size; nor are "768" or 768.0 (signs of a wrong file).
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if field.name == "type_vocab_size":  # every script feeds sentence pairs: segment ids 0 and 1
                valid, wanted = number and isinstance(value, int) and value >= 2, "an integer >= 2"
            elif field.type == "int":
                # 2**31: past that an embedding cannot be indexed, and nothing of that size is built here anyway.
                valid, wanted = number and isinstance(value, int) and 1 <= value < 2**31, "an integer in [1, 2**31)"
            elif field.name in _PROBABILITIES:
                valid, wanted = number and 0.0 <= value < 1.0, "a number in [0, 1)"
            elif field.type == "float":
                valid, wanted = number and math.isfinite(value) and value > 0.0, "a number > 0"
            else:  # hidden_act, the one str field
                valid, wanted = isinstance(value, str) and value in _ACTIVATIONS, f"one of {sorted(_ACTIVATIONS)}"
            if not valid:
                return f"{field.name} must be {wanted}, not {shown(value)}"
        if self.hidden_size % self.num_attention_heads:
            return (f"hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                    f"({self.num_attention_heads})")
        return None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "<dict>") -> BertConfig:
        """Builds a config from a `bert_config.json` dict or a Hugging Face `config.json` dict. A Hugging Face config
        (it has "model_type" or "architectures") carries many keys BERT does not use (architectures, pad_token_id,
        use_cache, ...): those are ignored. Anywhere else an unknown key is most likely a typo, so it is an error. Every
        error is an InputError whose message starts with `source` and names the key and the value."""
        if not isinstance(values, Mapping):
            raise InputError(f"{source}: a config is a JSON object ({{...}}), not {shown(values)}")
        fields = dataclasses.fields(cls)
        names = {field.name for field in fields}
        if "model_type" in values or "architectures" in values:
            if values.get("model_type", "bert") != "bert":
                raise InputError(f"{source}: model_type is {shown(values['model_type'])}, not \"bert\"")
            if values.get("position_embedding_type", "absolute") != "absolute":
                raise InputError(f"{source}: only absolute position embeddings are supported, not "
                                 f"position_embedding_type {shown(values['position_embedding_type'])}")
        else:
            unknown = sorted(set(values) - names - _GOOGLE_IGNORED_KEYS)
            if unknown:
                raise InputError(f"{source}: unknown config keys {unknown}; the known keys are {sorted(names)}")
        missing = [field.name for field in fields if field.default is dataclasses.MISSING and field.name not in values]
        if missing:
            raise InputError(f"{source}: missing config keys {missing}")
        try:
            return cls(**{key: value for key, value in values.items() if key in names})
        except InputError as error:
            raise InputError(f"{source}: {error}") from None

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> BertConfig:
        """Reads a `bert_config.json` or a Hugging Face `config.json`: UTF-8 JSON (a BOM is allowed), one object.
        Anything else (not UTF-8, not JSON, a key given twice, a bad value) is an InputError naming the file; a file
        that cannot be read is an OSError naming it."""
        return cls.from_dict(read_json(path, object_pairs_hook=unique_keys), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


ModelT = TypeVar("ModelT", bound="BertPreTrainedModel")


def create_model(model_class: type[ModelT], config: BertConfig, **kwargs: Any) -> ModelT:
    """model_class(config, **kwargs) (e.g. num_labels), or one InputError when a config's sizes are more than
    this machine can build."""
    try:
        return model_class(config, **kwargs)
    except (RuntimeError, MemoryError, OverflowError) as error:
        raise InputError(f"a model of hidden_size {config.hidden_size}, {config.num_hidden_layers} layers and "
                         f"vocab_size {config.vocab_size} cannot be built here ({type(error).__name__}: "
                         f"{str(error)[:120]})") from None


def check_vocab_fits(config: BertConfig, vocab_size: int, vocab_file: str | os.PathLike,
                     config_source: str | os.PathLike) -> None:
    """Raises InputError naming both files when the vocab has more tokens than the model has embedding rows. Token ids
    run to vocab_size - 1 and index the word embedding (config.vocab_size rows): a larger vocab would index past it. A
    smaller vocab is fine (Google's configs round vocab_size up)."""
    if vocab_size > config.vocab_size:
        raise InputError(f"{vocab_file} has {vocab_size} tokens but {config_source} has vocab_size {config.vocab_size}:"
                         f" ids from {config.vocab_size} on would index past the word embedding; use a config with "
                         f"vocab_size >= {vocab_size}")


def init_weights(module: nn.Module, initializer_range: float) -> None:
    """Hugging Face's `_init_weights`: N(0, initializer_range) for every Linear and Embedding weight, zero
    biases, LayerNorm weight 1 and bias 0. (Google draws from a normal truncated at 2 std; the difference
    does not matter for training.)"""
    for child in module.modules():
        if isinstance(child, (nn.Linear, nn.Embedding)):
            nn.init.normal_(child.weight, mean=0.0, std=initializer_range)
        if isinstance(child, nn.Linear) and child.bias is not None:
            nn.init.zeros_(child.bias)
        elif isinstance(child, nn.LayerNorm):
            nn.init.ones_(child.weight)
            nn.init.zeros_(child.bias)


class BertEmbeddings(nn.Module):
    """Word + position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        # No padding_idx (Hugging Face sets one): Google's embedding table has none, and the [PAD] row
        # still gets gradients through the tied output projection anyway.
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        """input_ids, token_type_ids: long [B, T] -> float [B, T, H]."""
        seq_length = input_ids.size(1)
        if seq_length > self.position_embeddings.num_embeddings:
            raise ValueError(f"sequence length {seq_length} > max_position_embeddings "
                             f"{self.position_embeddings.num_embeddings}")
        # Positions are made here rather than kept in a buffer, so no position_ids key enters the state_dict.
        position_ids = torch.arange(seq_length, device=input_ids.device)  # (T,)
        embeddings = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)  # (T, H), broadcast over B
        )
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    """Multi-head self-attention: one `scaled_dot_product_attention` call over all heads."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.dropout_prob = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: Tensor, attention_bias: Tensor | None) -> Tensor:
        """hidden_states: float [B, T, H]; attention_bias: float [B, 1, 1, T] added to the scores, or None.
        Returns the heads' outputs side by side, float [B, T, H]."""
        batch_size, seq_length, hidden_size = hidden_states.shape

        def split_heads(x: Tensor) -> Tensor:
            return x.view(batch_size, seq_length, self.num_heads, self.head_size).transpose(1, 2)  # (B, N, T, H/N)

        query = split_heads(self.query(hidden_states))
        key = split_heads(self.key(hidden_states))
        value = split_heads(self.value(hidden_states))
        if attention_bias is not None:
            # Under autocast the projections come out in half precision; the mask must match them.
            attention_bias = attention_bias.to(query.dtype)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_bias, dropout_p=self.dropout_prob if self.training else 0.0
        )  # (B, N, T, H/N); the scale is Google's 1/sqrt(H/N)
        return context.transpose(1, 2).reshape(batch_size, seq_length, hidden_size)  # (B, T, H)


class BertSelfOutput(nn.Module):
    """Projection of the attention heads, dropout, residual, LayerNorm (post-LN, as in Google's BERT)."""

    def __init__(self, config: BertConfig, input_size: int | None = None):
        super().__init__()
        self.dense = nn.Linear(input_size or config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Tensor, input_tensor: Tensor) -> Tensor:
        """hidden_states: the sub-layer's output, float [B, T, H] (BertOutput: [B, T, I]); input_tensor: its input,
        float [B, T, H] -> float [B, T, H]."""
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: Tensor, attention_bias: Tensor | None) -> Tensor:
        """float [B, T, H] -> float [B, T, H]."""
        return self.output(self.self(hidden_states, attention_bias), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = _ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: Tensor) -> Tensor:
        """float [B, T, H] -> float [B, T, I]."""
        return self.activation(self.dense(hidden_states))


class BertOutput(BertSelfOutput):
    """The feed-forward layer's projection from I back to H, dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__(config, input_size=config.intermediate_size)


class BertLayer(nn.Module):
    """One Transformer block: self-attention, then the feed-forward layer, each with residual + LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: Tensor, attention_bias: Tensor | None) -> Tensor:
        """float [B, T, H] -> float [B, T, H]."""
        attention_output = self.attention(hidden_states, attention_bias)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: Tensor, attention_bias: Tensor | None) -> Tensor:
        """float [B, T, H] -> float [B, T, H]."""
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_bias)
        return hidden_states


class BertPooler(nn.Module):
    """tanh(dense(hidden state of [CLS])): the sentence vector the NSP head reads."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, sequence_output: Tensor) -> Tensor:
        """float [B, T, H] -> float [B, H]."""
        return torch.tanh(self.dense(sequence_output[:, 0]))


class BertModelOutput(NamedTuple):
    sequence_output: Tensor  # float [B, T, H], the last layer
    pooled_output: Tensor | None  # float [B, H], None without a pooler


class BertPreTrainedModel(nn.Module):
    """What every model class shares (Hugging Face's name): its config, its heads, its Hugging Face config. A new model
    class sets `heads` and joins `MODEL_CLASSES`; loading and export follow from those."""

    # state_dict prefixes, in BertFor* naming, of the layers this class puts on top of the encoder: a
    # checkpoint may lack them (they keep their fresh init) or carry them for a model that has none (unused).
    heads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config

    def hf_config(self) -> dict[str, Any]:
        """The entries of Hugging Face's config.json that depend on the class, not on BertConfig."""
        # The architecture is the class name, as our class names are Hugging Face's.
        return {"architectures": [type(self).__name__]}

    def check_hf_config(self, values: Mapping[str, Any], state_keys: Collection[str], source: str) -> None:
        """Raises ValueError when a Hugging Face config.json (`values`, read from `source`) says that the
        weights named by `state_keys` mean something else to this model. Only a classifier has such a case."""


class BertModel(BertPreTrainedModel):
    """The encoder: embeddings, `num_hidden_layers` Transformer blocks and (optionally) the pooler."""

    heads = ("bert.pooler.",)

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        init_weights(self, config.initializer_range)

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None) -> BertModelOutput:
        """input_ids: long [B, T]; token_type_ids: long [B, T] (None = all sentence A); attention_mask:
        [B, T], 1 for a real token and 0 for padding (None = no padding)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        attention_bias = None
        if attention_mask is not None:
            # (B, T) -> (B, 1, 1, T): the same key mask for every head and every query.
            attention_bias = (1.0 - attention_mask[:, None, None, :].float()) * _MASK_FILL
        sequence_output = self.encoder(self.embeddings(input_ids, token_type_ids), attention_bias)
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BertModelOutput(sequence_output, pooled_output)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = _ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """float [..., H] -> float [..., H]."""
        return self.LayerNorm(self.activation(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """The masked LM head: transform, then the output projection onto the vocabulary. `decoder.weight` is tied to the
    word embeddings by `BertForPreTraining` (Google projects with the embedding table) and `decoder.bias` *is* `bias`,
    Google's output_bias. Each of these tensors is in the state_dict under both of its names, because Hugging Face's
    state_dict has both."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states: Tensor) -> Tensor:
        """float [..., H] -> logits float [..., V]."""
        return self.decoder(self.transform(hidden_states))


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)


def gather_indexes(sequence_output: Tensor, positions: Tensor) -> Tensor:
    """Google's `gather_indexes`: the vectors at `positions`, float [B, T, H], long [B, P] -> float [B, P, H]. P is
    fixed by the data (max_predictions_per_seq, padded with position 0 and weight 0), so the shape is static and only P
    of the T positions pay for the V-wide projection."""
    index = positions.unsqueeze(-1).expand(-1, -1, sequence_output.size(-1))  # (B, P, H)
    return sequence_output.gather(1, index)


class HeadLoss(NamedTuple):
    """One head's loss over a batch, as the training loop and the metrics both need it."""

    loss: Tensor  # float [], Google's / Hugging Face's mean: what the model's forward returns as its loss
    total: Tensor  # float [], the loss summed over the items (MLM: weighted by masked_lm_weights); has grad
    count: Tensor  # float [], what `loss` divides `total` by, from the labels alone (items; MLM: sum of weights)
    # float [], detached: the number of correct items (MLM: the sum of the weights of correct predictions).
    # Regression has no correct items: there it is the sum of squared errors, so correct / count is the MSE.
    correct: Tensor


def _item_count(labels: Tensor) -> Tensor:
    """float [], the number of items of labels [B, ...]: made on the device, so no host-to-device copy."""
    return torch.full((), float(labels.size(0)), device=labels.device)


def _hits(logits: Tensor, labels: Tensor) -> Tensor:
    """float [...], 1 where the argmax of logits [..., C] is the label of labels long [...], else 0; detached."""
    return (logits.detach().argmax(-1) == labels).float()


def masked_lm_loss(logits: Tensor, label_ids: Tensor, label_weights: Tensor) -> HeadLoss:
    """Google's masked LM loss: sum(weights * cross-entropy) / (sum(weights) + 1e-5).

    logits: float [B, P, V]; label_ids: long [B, P]; label_weights: float [B, P], 0 on padded predictions.
    The 1e-5 keeps a batch without a single prediction at loss 0 instead of NaN. (Hugging Face's loss is the
    plain mean over the real predictions: total / count.)
    """
    # float32 even under bf16 autocast: a softmax over V classes needs the mantissa.
    per_position = F.cross_entropy(logits.float().flatten(0, 1), label_ids.flatten(), reduction="none")  # (B*P,)
    weights = label_weights.float().flatten()
    total, count = (weights * per_position).sum(), weights.sum()
    correct = (weights * _hits(logits, label_ids).flatten()).sum()
    return HeadLoss(total / (count + 1e-5), total, count, correct)


def next_sentence_loss(logits: Tensor, labels: Tensor) -> HeadLoss:
    """The next sentence loss: logits float [B, 2], labels long [B] (0 = B follows A, 1 = B is random)."""
    return _cross_entropy_loss(logits, labels)


def _cross_entropy_loss(logits: Tensor, labels: Tensor) -> HeadLoss:
    """Softmax cross-entropy of logits float [B, C] against labels long [B]; loss is exactly F.cross_entropy's
    mean (bit for bit, as Hugging Face computes it), total its sum."""
    logits = logits.float()
    total = F.cross_entropy(logits, labels, reduction="sum")
    return HeadLoss(F.cross_entropy(logits, labels), total, _item_count(labels), _hits(logits, labels).sum())


def _squared_error_loss(predictions: Tensor, labels: Tensor) -> HeadLoss:
    """Mean squared error of predictions float [B] against labels [B]; correct is the detached sum of squares."""
    predictions, labels = predictions.float(), labels.float()
    total = F.mse_loss(predictions, labels, reduction="sum")
    return HeadLoss(F.mse_loss(predictions, labels), total, _item_count(labels), total.detach())


def span_loss(start_logits: Tensor, end_logits: Tensor, start_positions: Tensor, end_positions: Tensor,
              attention_mask: Tensor | None = None) -> HeadLoss:
    """Google's run_squad loss: per item, the mean of the start and end cross-entropies over its positions.

    start_logits, end_logits: float [B, T]; start_positions, end_positions: long [B]; attention_mask: [B, T], 1 at
    real tokens. loss is the mean over the batch, computed as Google and Hugging Face do ((mean start CE + mean end
    CE) / 2), but over real tokens only where they take the softmax over padding too: an answer never starts in
    padding, and a loss that reads padding would depend on how far a batch is padded (training.unpad). An item is
    correct when both its argmax start and its argmax end are the labels.
    """
    start_logits, end_logits = start_logits.float(), end_logits.float()
    if attention_mask is not None:
        padding = attention_mask == 0
        start_logits = start_logits.masked_fill(padding, torch.finfo(torch.float32).min)
        end_logits = end_logits.masked_fill(padding, torch.finfo(torch.float32).min)
    start, end = _cross_entropy_loss(start_logits, start_positions), _cross_entropy_loss(end_logits, end_positions)
    correct = _hits(start_logits, start_positions) * _hits(end_logits, end_positions)  # (B,), both ends right
    return HeadLoss((start.loss + end.loss) / 2, (start.total + end.total) / 2, start.count, correct.sum())


# The label of a token no loss reads ([CLS], [SEP], padding): Hugging Face's and PyTorch's ignore_index.
IGNORED_LABEL = -100


def token_classification_loss(logits: Tensor, labels: Tensor) -> HeadLoss:
    """Hugging Face's BertForTokenClassification loss: the softmax cross-entropy of logits float [B, T, C] against
    labels long [B, T], over the tokens whose label is not IGNORED_LABEL (loss their mean, count their number)."""
    logits, labels = logits.float().flatten(0, -2), labels.flatten()
    read = labels != IGNORED_LABEL
    total = F.cross_entropy(logits, labels, ignore_index=IGNORED_LABEL, reduction="sum")
    count = read.sum().float()
    return HeadLoss(total / count.clamp(min=1), total, count, (_hits(logits, labels) * read).sum())


def sequence_classification_loss(logits: Tensor, labels: Tensor) -> HeadLoss:
    """Hugging Face's BertForSequenceClassification loss for logits float [B, num_labels] and labels [B]. num_labels 1
    is problem_type "regression": the mean squared error of logits[:, 0] against float labels (correct is then the sum
    of squared errors, see HeadLoss). Otherwise "single_label_classification": the softmax cross-entropy against long
    labels."""
    if logits.size(-1) == 1:
        return _squared_error_loss(logits[:, 0], labels)
    return _cross_entropy_loss(logits, labels)


class PreTrainingOutput(NamedTuple):
    mlm_logits: Tensor  # float [B, P, V] (or [B, T, V] without masked_lm_positions)
    nsp_logits: Tensor  # float [B, 2]; class 0 = B follows A, 1 = B is random
    loss: Tensor | None = None  # float [], mlm_loss + nsp_loss (or whichever has labels)
    mlm_loss: Tensor | None = None  # float [], Google's weighted mean over the real predictions
    nsp_loss: Tensor | None = None  # float [], mean over the batch
    # Detached sums for accuracy without a GPU sync per step: mlm_correct / mlm_weight, nsp_correct / B.
    mlm_correct: Tensor | None = None  # float [], sum of the weights of correct predictions
    mlm_weight: Tensor | None = None  # float [], sum of masked_lm_weights
    nsp_correct: Tensor | None = None  # float [], number of correct NSP predictions


class BertForPreTraining(BertPreTrainedModel):
    """BERT with the masked LM and next sentence prediction heads (Google's `run_pretraining.py` model)."""

    heads = ("cls.predictions.", "cls.seq_relationship.")

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        init_weights(self.cls, config.initializer_range)
        # Tied after init_weights, so the embedding keeps the draw BertModel gave it.
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                masked_lm_positions: Tensor | None = None, masked_lm_ids: Tensor | None = None,
                masked_lm_weights: Tensor | None = None, next_sentence_labels: Tensor | None = None
                ) -> PreTrainingOutput:
        """input_ids, token_type_ids, attention_mask: [B, T] as in `BertModel`. masked_lm_positions: long [B, P], the
        positions to predict (None = every position, P = T, which is what Hugging Face's prediction_logits are).
        masked_lm_ids: long [B, P], the original tokens there; masked_lm_weights: float [B, P], 1 for a real prediction
        and 0 for padding (None = all 1). next_sentence_labels: long [B]. Losses are computed for the labels given."""
        sequence_output, pooled_output = self.bert(input_ids, token_type_ids=token_type_ids,
                                                   attention_mask=attention_mask)
        if masked_lm_positions is not None:
            sequence_output = gather_indexes(sequence_output, masked_lm_positions)  # (B, P, H)
        mlm_logits = self.cls.predictions(sequence_output)  # (B, P, V)
        nsp_logits = self.cls.seq_relationship(pooled_output)  # (B, 2)
        losses = {}
        if masked_lm_ids is not None:
            if masked_lm_weights is None:
                masked_lm_weights = torch.ones_like(masked_lm_ids, dtype=torch.float)
            mlm = masked_lm_loss(mlm_logits, masked_lm_ids, masked_lm_weights)
            losses.update(mlm_loss=mlm.loss, mlm_correct=mlm.correct, mlm_weight=mlm.count)
        if next_sentence_labels is not None:
            nsp = next_sentence_loss(nsp_logits, next_sentence_labels)
            losses.update(nsp_loss=nsp.loss, nsp_correct=nsp.correct)
        total = [losses[name] for name in ("mlm_loss", "nsp_loss") if name in losses]
        return PreTrainingOutput(mlm_logits, nsp_logits, loss=sum(total) if total else None, **losses)


class QuestionAnsweringOutput(NamedTuple):
    start_logits: Tensor  # float [B, T]
    end_logits: Tensor  # float [B, T]
    loss: Tensor | None = None  # float [], mean of the start and end cross-entropies

    per_token = ("start_logits", "end_logits")  # fields with a value for every token (see fine_tuning.predict)


class BertForQuestionAnswering(BertPreTrainedModel):
    """BERT with a span head (Google's `run_squad.py` model): a start and an end logit for every token."""

    heads = ("qa_outputs.",)

    def __init__(self, config: BertConfig):
        super().__init__(config)
        # No pooler: the span head reads every token, and Hugging Face's checkpoint has no pooler either.
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        init_weights(self.qa_outputs, config.initializer_range)

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                start_positions: Tensor | None = None, end_positions: Tensor | None = None) -> QuestionAnsweringOutput:
        """input_ids, token_type_ids, attention_mask: [B, T] as in `BertModel`; start_positions,
        end_positions: long [B], token indexes of the answer span (both needed for the loss)."""
        sequence_output = self.bert(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[0]
        logits = self.qa_outputs(sequence_output)  # (B, T, 2)
        start_logits, end_logits = logits.unbind(-1)  # (B, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions, attention_mask).loss
        return QuestionAnsweringOutput(start_logits, end_logits, loss)


class SequenceClassifierOutput(NamedTuple):
    logits: Tensor  # float [B, num_labels]
    loss: Tensor | None = None  # float [], see sequence_classification_loss


def default_label_names(num_labels: int) -> tuple[str, ...]:
    """Hugging Face's names for labels nobody named: LABEL_0, LABEL_1, ..."""
    return tuple(f"LABEL_{index}" for index in range(num_labels))


class BertClassifier(BertPreTrainedModel):
    """What the sequence and token classifiers share: a linear classifier over `num_labels` labels on top of the
    encoder. label_names, if given, are the names of labels 0, 1, ...: exported as Hugging Face's id2label, and
    checked against the id2label of a Hugging Face checkpoint on load. Not a model class itself."""

    heads = ("classifier.",)

    def __init__(self, config: BertConfig, num_labels: int, label_names: tuple[str, ...], add_pooling_layer: bool):
        super().__init__(config)
        _check_labels(num_labels, label_names)
        self.num_labels = num_labels
        self.label_names = tuple(label_names)
        self.bert = BertModel(config, add_pooling_layer=add_pooling_layer)
        # Hugging Face's classifier_dropout defaults to hidden_dropout_prob; export_hf leaves it at that default.
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        init_weights(self.classifier, config.initializer_range)

    def hf_config(self) -> dict[str, Any]:
        names = self.label_names or default_label_names(self.num_labels)
        return {
            **super().hf_config(),
            "id2label": {str(index): name for index, name in enumerate(names)},
            "label2id": {name: index for index, name in enumerate(names)},
        }

    def check_hf_config(self, values: Mapping[str, Any], state_keys: Collection[str], source: str) -> None:
        """A classifier trained on other labels than this model's label_names would be silently wrong: that
        is a ValueError. Hugging Face's default names (LABEL_0, ...) say nothing, so they pass."""
        file_names = hf_label_names(values, source)
        if not self.label_names or file_names is None or not any(key.startswith(self.heads) for key in state_keys):
            return
        if file_names not in (self.label_names, default_label_names(len(file_names))):
            raise ValueError(f"{source}: its classifier was trained on the labels {list(file_names)}, but this "
                             f"model's labels are {list(self.label_names)}")


class BertForSequenceClassification(BertClassifier):
    """BERT with a classifier on the pooled [CLS] vector (Google's `run_classifier.py` model). num_labels 1 is a
    regression (one score per sequence, mean squared error); more is a classification (softmax cross-entropy)."""

    def __init__(self, config: BertConfig, num_labels: int = 2, label_names: tuple[str, ...] = ()):
        super().__init__(config, num_labels, label_names, add_pooling_layer=True)

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                labels: Tensor | None = None) -> SequenceClassifierOutput:
        """input_ids, token_type_ids, attention_mask: [B, T] as in `BertModel`; labels: [B], long class ids
        (float scores when num_labels is 1), for the loss."""
        pooled_output = self.bert(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[1]
        logits = self.classifier(self.dropout(pooled_output))  # (B, num_labels)
        loss = sequence_classification_loss(logits, labels).loss if labels is not None else None
        return SequenceClassifierOutput(logits, loss)

    def hf_config(self) -> dict[str, Any]:
        return {**super().hf_config(),
                "problem_type": "regression" if self.num_labels == 1 else "single_label_classification"}


class TokenClassifierOutput(NamedTuple):
    logits: Tensor  # float [B, T, num_labels]
    loss: Tensor | None = None  # float [], see token_classification_loss

    per_token = ("logits",)  # fields with a value for every token (see fine_tuning.predict)


class BertForTokenClassification(BertClassifier):
    """BERT with a classifier on every token (Hugging Face's BertForTokenClassification, for named entities): each
    token's vector instead of the pooled [CLS] one, so no pooler, as Hugging Face's."""

    def __init__(self, config: BertConfig, num_labels: int = 2, label_names: tuple[str, ...] = ()):
        super().__init__(config, num_labels, label_names, add_pooling_layer=False)

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                labels: Tensor | None = None) -> TokenClassifierOutput:
        """input_ids, token_type_ids, attention_mask: [B, T] as in `BertModel`; labels: long [B, T] tag ids,
        IGNORED_LABEL where no loss is read."""
        sequence_output = self.bert(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[0]
        logits = self.classifier(self.dropout(sequence_output))  # (B, T, num_labels)
        loss = token_classification_loss(logits, labels).loss if labels is not None else None
        return TokenClassifierOutput(logits, loss)


def _check_labels(num_labels: int, label_names: tuple[str, ...]) -> None:
    """Raises InputError unless num_labels >= 1 and label_names is empty or num_labels distinct strings."""
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise InputError(f"num_labels must be an integer >= 1, not {shown(num_labels)}")
    names = list(label_names)
    distinct = all(isinstance(name, str) for name in names) and len(set(names)) == len(names)
    if names and (len(names) != num_labels or not distinct):
        raise InputError(f"label_names must be {num_labels} distinct strings (num_labels), not {shown(names)}")


def hf_label_names(values: Mapping[str, Any], source: str) -> tuple[str, ...] | None:
    """The label names of a Hugging Face config.json's id2label ({"0": name, "1": name, ...}), or None without one."""
    id2label = values.get("id2label")
    if id2label is None:
        return None
    ids = [str(index) for index in range(len(id2label))] if isinstance(id2label, dict) else []
    if not ids or set(id2label) != set(ids) or not all(isinstance(name, str) for name in id2label.values()):
        raise InputError(f"{source}: id2label must map \"0\", \"1\", ... to label names, not {shown(id2label)}")
    return tuple(id2label[index] for index in ids)


# Hugging Face's _tied_weights_keys: aliases in the state_dict that are the same tensor as the value.
TIED_KEYS = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}

# Every model class: the architectures export_hf writes (our class names are Hugging Face's) and load_pretrained
# reads. A new class joins here, with its `heads`; nothing else lists them.
MODEL_CLASSES: tuple[type[BertPreTrainedModel], ...] = (
    BertModel, BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification)
