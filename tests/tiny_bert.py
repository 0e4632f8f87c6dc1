"""A tiny BERT and a padded batch for it, shared by the model, loader and export tests."""

import torch

from modeling import BertConfig

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


def max_diff(a, b):
    return (a - b).abs().max().item()


def pretraining_logits(model, inputs):
    """(mlm logits at every position [B, T, V], nsp logits [B, 2]) of our model."""
    with torch.no_grad():
        output = model(inputs["input_ids"], **encoder_inputs(inputs))
    return output.mlm_logits, output.nsp_logits


def classifier_inputs(num_labels, seed=0):
    """make_inputs' encoder inputs and labels for a classifier: class ids, or float scores for num_labels 1."""
    inputs = make_inputs(seed=seed)
    labels = torch.tensor([0.5, -1.0, 2.5]) if num_labels == 1 else torch.tensor([2, 0, 1]) % num_labels
    return {key: inputs[key] for key in ("input_ids", "token_type_ids", "attention_mask")}, labels
