import io
import itertools
import math

import pytest
import torch
from torch import nn

import optimization
from modeling import BertConfig, BertForPreTraining
from optimization import AdamWeightDecay, Lamb, create_optimizer, linear_warmup_decay, param_groups

GRADS = [[0.5, -1.0, 0.25], [0.1, 0.3, -2.0], [-0.4, 0.0, 1.0]]
START = [1.0, -2.0, 0.5]


def adam_by_hand(weights, grads, lr, weight_decay, bias_correction, beta1=0.9, beta2=0.999, eps=1e-6):
    """Google's AdamWeightDecayOptimizer, one float at a time; Adam's bias correction when asked."""
    weights = list(weights)
    m = [0.0] * len(weights)
    v = [0.0] * len(weights)
    for step, grad in enumerate(grads, start=1):
        for i, g in enumerate(grad):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1**step) if bias_correction else m[i]
            v_hat = v[i] / (1 - beta2**step) if bias_correction else v[i]
            update = m_hat / (math.sqrt(v_hat) + eps)
            weights[i] -= lr * (update + weight_decay * weights[i])
    return weights


def run(optimizer, param, grads):
    for grad in grads:
        param.grad = torch.tensor(grad, dtype=param.dtype)
        optimizer.step()
    return param.tolist()


@pytest.mark.parametrize("bias_correction", [False, True])
def test_adam_weight_decay_matches_hand_computation(bias_correction):
    param = nn.Parameter(torch.tensor(START, dtype=torch.float64))
    optimizer = AdamWeightDecay([param], lr=0.1, weight_decay=0.01, bias_correction=bias_correction)
    got = run(optimizer, param, GRADS)
    assert got == pytest.approx(adam_by_hand(START, GRADS, 0.1, 0.01, bias_correction), abs=1e-12)


def test_google_first_step_by_hand():
    # Without bias correction the first step is about lr * 0.1 / sqrt(0.001) = 3.16 lr, whatever the gradient.
    param = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    run(AdamWeightDecay([param], lr=0.1, weight_decay=0.01), param, [[0.5]])
    m, v = 0.1 * 0.5, 0.001 * 0.25
    assert param.item() == pytest.approx(1.0 - 0.1 * (m / (math.sqrt(v) + 1e-6) + 0.01 * 1.0), abs=1e-12)
    assert param.item() == pytest.approx(0.68279, abs=1e-5)


def test_bias_corrected_is_torch_adamw():
    ours = nn.Parameter(torch.tensor(START, dtype=torch.float64))
    theirs = nn.Parameter(torch.tensor(START, dtype=torch.float64))
    run(AdamWeightDecay([ours], lr=0.1, weight_decay=0.01, bias_correction=True), ours, GRADS)
    run(torch.optim.AdamW([theirs], lr=0.1, eps=1e-6, weight_decay=0.01), theirs, GRADS)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(2, 2)
        self.LayerNorm = nn.LayerNorm(2)
        self.layer_norm = nn.LayerNorm(2)


def test_no_decay_for_biases_and_layer_norm():
    assert [optimization.decays(name) for name in ("dense.weight", "dense.bias", "LayerNorm.weight")] == [
        True,
        False,
        False,
    ]
    block = Block()
    with torch.no_grad():
        for param in block.parameters():
            param.fill_(2.0)
    groups = param_groups(block, 0.01)
    assert [group["weight_decay"] for group in groups] == [0.01, 0.0]
    assert groups[0]["params"] == [block.dense.weight]
    optimizer = AdamWeightDecay(groups, lr=0.1)
    for param in block.parameters():
        param.grad = torch.zeros_like(param)
    optimizer.step()
    # A zero gradient leaves Adam's update at 0, so only the decay moves a parameter: 2 - 0.1 * 0.01 * 2.
    assert block.dense.weight.flatten().tolist() == pytest.approx([1.998] * 4, abs=1e-7)
    for param in (block.dense.bias, block.LayerNorm.weight, block.LayerNorm.bias, block.layer_norm.weight):
        assert param.tolist() == [2.0, 2.0]


def test_bert_groups():
    model = BertForPreTraining(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2))
    names = {id(param): name for name, param in model.named_parameters()}
    decayed, not_decayed = ([names[id(param)] for param in group["params"]] for group in param_groups(model, 0.01))
    assert "bert.embeddings.word_embeddings.weight" in decayed and "cls.seq_relationship.weight" in decayed
    assert all(name.endswith("bias") or "LayerNorm" in name for name in not_decayed)
    assert all(not name.endswith("bias") and "LayerNorm" not in name for name in decayed)
    assert len(decayed) + len(not_decayed) == len(names)  # the tied decoder counted once


def test_lamb_trust_ratio_by_hand():
    weight = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))  # norm 5
    bias = nn.Parameter(torch.tensor([0.5], dtype=torch.float64))
    zero = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    groups = [{"params": [weight, zero], "weight_decay": 0.01}, {"params": [bias], "weight_decay": 0.0}]
    optimizer = Lamb(groups, lr=0.1)
    weight.grad = torch.tensor([1.0, -2.0], dtype=torch.float64)
    zero.grad = torch.tensor([1.0, 1.0], dtype=torch.float64)
    bias.grad = torch.tensor([0.2], dtype=torch.float64)
    optimizer.step()

    # Step 1 with bias correction: m_hat = g and v_hat = g * g, so Adam's direction is g / (|g| + eps).
    def adam(g):
        return g / (abs(g) + 1e-6)

    update = [adam(1.0) + 0.01 * 3.0, adam(-2.0) + 0.01 * 4.0]
    ratio = 5.0 / math.hypot(*update)
    assert weight.tolist() == pytest.approx([3.0 - 0.1 * ratio * update[0], 4.0 - 0.1 * ratio * update[1]], abs=1e-12)
    assert ratio == pytest.approx(5.0 / math.hypot(1.03, -0.96), rel=1e-5)
    # ||p|| = 0: trust ratio 1, a plain Adam step.
    assert zero.tolist() == pytest.approx([-0.1 * adam(1.0)] * 2, abs=1e-12)
    # No decay, no trust ratio (TensorFlow Addons and NVIDIA's default).
    assert bias.tolist() == pytest.approx([0.5 - 0.1 * adam(0.2)], abs=1e-12)


def test_lamb_always_adapt():
    bias = nn.Parameter(torch.tensor([0.5, 0.5], dtype=torch.float64))
    optimizer = Lamb([{"params": [bias], "weight_decay": 0.0}], lr=0.1, always_adapt=True)
    bias.grad = torch.tensor([0.2, -0.1], dtype=torch.float64)
    optimizer.step()
    update = [0.2 / (0.2 + 1e-6), -0.1 / (0.1 + 1e-6)]
    ratio = math.hypot(0.5, 0.5) / math.hypot(*update)
    assert bias.tolist() == pytest.approx([0.5 - 0.1 * ratio * u for u in update], abs=1e-12)


def lrs(num_warmup_steps, num_training_steps, last_step):
    param = nn.Parameter(torch.zeros(1))
    optimizer = AdamWeightDecay([param], lr=1.0)
    scheduler = linear_warmup_decay(optimizer, num_warmup_steps, num_training_steps)
    values = []
    for _ in range(last_step + 1):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values, scheduler


def test_google_warmup_then_linear_decay():
    values, scheduler = lrs(10, 100, 120)
    assert values[0] == 0.0  # Google's first step runs at lr 0
    assert values[5] == pytest.approx(0.5)  # mid-warmup
    assert values[9] == pytest.approx(0.9)
    assert values[10] == pytest.approx(0.9)  # end of warmup: the decay line started at step 0
    assert values[55] == pytest.approx(0.45)  # mid-decay
    assert values[100] == 0.0 and values[120] == 0.0
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))
    # The schedule resumes from its state_dict.
    resumed = linear_warmup_decay(AdamWeightDecay([nn.Parameter(torch.zeros(1))], lr=1.0), 10, 100)
    resumed.load_state_dict(scheduler.state_dict())
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert lrs(0, 4, 4)[0] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(ValueError):
        linear_warmup_decay(AdamWeightDecay([nn.Parameter(torch.zeros(1))]), 10, 5)


@pytest.mark.parametrize("optimizer_class", [AdamWeightDecay, Lamb])
def test_state_dict_round_trip(optimizer_class):
    def fresh(values):
        params = [nn.Parameter(torch.tensor(values[0])), nn.Parameter(torch.tensor(values[1]))]
        groups = [{"params": params[:1], "weight_decay": 0.01}, {"params": params[1:], "weight_decay": 0.0}]
        return params, optimizer_class(groups, lr=0.01, bias_correction=True)

    def step(params, optimizer, seed):
        generator = torch.Generator().manual_seed(seed)
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator)
        optimizer.step()

    params, optimizer = fresh([[1.0, 2.0, -1.0], [0.5, -0.5]])
    step(params, optimizer, 0)
    step(params, optimizer, 1)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)  # as a checkpoint holds it, read back without unpickling code
    buffer.seek(0)
    restored_params, restored = fresh([param.tolist() for param in params])
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    step(params, optimizer, 2)
    step(restored_params, restored, 2)
    for a, b in zip(params, restored_params, strict=True):
        assert torch.equal(a, b)
    assert restored.state[restored_params[0]]["step"] == 3


def test_create_optimizer():
    model = Block()
    adamw = create_optimizer(model, "adamw", learning_rate=1e-4)
    assert type(adamw) is AdamWeightDecay and not adamw.param_groups[0]["bias_correction"]
    assert [group["weight_decay"] for group in adamw.param_groups] == [0.01, 0.0]
    assert adamw.param_groups[0]["eps"] == 1e-6 and adamw.param_groups[0]["lr"] == 1e-4
    lamb = create_optimizer(model, "lamb", learning_rate=1e-3, weight_decay=0.02)
    assert type(lamb) is Lamb and lamb.param_groups[0]["bias_correction"]
    assert create_optimizer(model, "lamb", 1e-3, bias_correction=False).param_groups[0]["bias_correction"] is False
    with pytest.raises(ValueError, match="'sgd'"):
        create_optimizer(model, "sgd", learning_rate=1e-4)
