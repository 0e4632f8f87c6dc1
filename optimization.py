# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Optimizers and the learning-rate schedule of Google's `optimization.py`, in PyTorch.

    optimizer = create_optimizer(model, "adamw", learning_rate=1e-4, weight_decay=0.01)
    scheduler = linear_warmup_decay(optimizer, num_warmup_steps=10_000, num_training_steps=1_000_000)
    ...
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # Google clips by global norm at 1.0
    # (with float16 and a GradScaler, scaler.unscale_(optimizer) first; bfloat16 needs no scaler)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)

`AdamWeightDecay` is Google's AdamWeightDecayOptimizer, `Lamb` adds LAMB's per-parameter trust ratio for large
batches. Both keep their state under torch's names (exp_avg, exp_avg_sq, step) and update every parameter of a group
with torch._foreach_* ops: a handful of kernels per group instead of a handful per parameter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

# Google's exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"].
_NO_DECAY_SUBSTRINGS = ("LayerNorm", "layer_norm")


def decays(name: str) -> bool:
    """True if the parameter called `name` gets weight decay: not a bias, not a LayerNorm parameter."""
    return not (name.endswith("bias") or any(part in name for part in _NO_DECAY_SUBSTRINGS))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The trainable parameters in two groups, {"params", "weight_decay"}: decayed, then not decayed. Chosen by name, as
    Google does; a tied parameter (the MLM decoder and the word embeddings) appears once, under its first name. An empty
    group is left out."""
    groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups[decays(name)].append(param)
    by_rate = ((groups[True], weight_decay), (groups[False], 0.0))
    return [{"params": params, "weight_decay": rate} for params, rate in by_rate if params]


class AdamWeightDecay(torch.optim.Optimizer):
    """Google's AdamWeightDecayOptimizer.

    For each parameter p with gradient g, at step t (from 1):

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        update = m / (sqrt(v) + eps)            if not bias_correction (Google's)
        update = m_hat / (sqrt(v_hat) + eps)    if bias_correction (Adam's),
                 with m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t)
        p -= lr * (update + weight_decay * p)

    The decay term uses p before the step and never enters the moments, so it is not L2 regularization.
    Google's defaults: eps 1e-6 (Adam's is 1e-8) and no bias correction (Google's code leaves it out; the
    warmup from lr 0 covers the first steps, where it would matter). Pass `param_groups(model,
    weight_decay)` as params for Google's exclusions; plain params all get `weight_decay`.
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.01,
                 bias_correction: bool = False):
        if lr < 0.0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if eps < 0.0 or weight_decay < 0.0:
            raise ValueError(f"eps and weight_decay must be >= 0, got {eps} and {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "bias_correction": bias_correction})

    def _adam_updates(self, group: dict) -> tuple[list[Tensor], list[Tensor]]:
        """Advances the moments of the group's parameters with gradients; returns them and their updates
        (Adam's direction plus weight_decay * p), before the learning rate."""
        params = [param for param in group["params"] if param.grad is not None]
        if not params:
            return [], []
        if any(param.grad.is_sparse for param in params):
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        states = [self.state[param] for param in params]
        for param, state in zip(params, states, strict=True):
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["step"] += 1
        grads = [param.grad for param in params]
        exp_avgs = [state["exp_avg"] for state in states]
        exp_avg_sqs = [state["exp_avg_sq"] for state in states]
        beta1, beta2 = group["betas"]

        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)  # m += (1 - beta1) * (g - m)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        denominators = torch._foreach_sqrt(exp_avg_sqs)
        # Parameters added to the group later have fewer steps, so the bias correction is per parameter.
        steps = [state["step"] for state in states]
        if group["bias_correction"]:
            torch._foreach_div_(denominators, [math.sqrt(1.0 - beta2**step) for step in steps])
        torch._foreach_add_(denominators, group["eps"])
        updates = torch._foreach_div(exp_avgs, denominators)
        if group["bias_correction"]:
            torch._foreach_div_(updates, [1.0 - beta1**step for step in steps])
        if group["weight_decay"]:
            torch._foreach_add_(updates, params, alpha=group["weight_decay"])
        return params, updates

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, updates = self._adam_updates(group)
            if params:
                self._apply(group, params, updates)
        return loss

    def _apply(self, group: dict, params: list[Tensor], updates: list[Tensor]) -> None:
        torch._foreach_add_(params, updates, alpha=-group["lr"])


class Lamb(AdamWeightDecay):
    """LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"): AdamWeightDecay's update,
    scaled per parameter by the trust ratio ||p|| / ||update|| (1 when either norm is 0):

        p -= lr * trust_ratio * (adam_update + weight_decay * p)

    As in TensorFlow Addons' LAMB and NVIDIA's FusedLAMB (use_nvlamb=False), the trust ratio applies only
    to groups with weight decay, so biases and LayerNorm parameters take plain Adam steps; `always_adapt`
    applies it everywhere. Bias correction is on by default here, as in both of those.
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.01,
                 bias_correction: bool = True, always_adapt: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         bias_correction=bias_correction)
        self.always_adapt = always_adapt

    def _apply(self, group: dict, params: list[Tensor], updates: list[Tensor]) -> None:
        if group["weight_decay"] or self.always_adapt:
            # Norms and ratios stay on the device: no sync per parameter.
            param_norms = torch.stack(torch._foreach_norm(params))
            update_norms = torch.stack(torch._foreach_norm(updates))
            ratios = torch.where((param_norms > 0) & (update_norms > 0), param_norms / update_norms,
                                 torch.ones_like(param_norms))
            torch._foreach_mul_(updates, list(ratios.unbind()))
        torch._foreach_add_(params, updates, alpha=-group["lr"])


def create_optimizer(model: nn.Module, name: str, learning_rate: float, weight_decay: float = 0.01, *,
                     betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, bias_correction: bool | None = None
                     ) -> AdamWeightDecay:
    """Google's optimizer for `model`: "adamw" (AdamWeightDecay) or "lamb", with biases and LayerNorm
    parameters excluded from weight decay. bias_correction=None takes the optimizer's default (off for
    adamw, as Google; on for lamb)."""
    optimizers = {"adamw": AdamWeightDecay, "lamb": Lamb}
    if name not in optimizers:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(optimizers)}")
    options = {} if bias_correction is None else {"bias_correction": bias_correction}
    return optimizers[name](
        param_groups(model, weight_decay), lr=learning_rate, betas=betas, eps=eps, weight_decay=weight_decay, **options
    )


def _warmup_decay_factor(step: int, num_warmup_steps: int, num_training_steps: int) -> float:
    if step < num_warmup_steps:
        return step / num_warmup_steps
    # Google decays from step 0, not from the end of warmup: warmup overrides the first steps of the line.
    return max(0.0, 1.0 - step / num_training_steps)


def linear_warmup_decay(optimizer: torch.optim.Optimizer, num_warmup_steps: int, num_training_steps: int) -> LambdaLR:
    """Google's schedule: lr * step / num_warmup_steps while step < num_warmup_steps, then
    lr * (1 - step / num_training_steps) (polynomial decay, power 1, to 0 at num_training_steps).

    As in Google's code the decay line starts at step 0, so after warmup the factor is
    1 - num_warmup_steps / num_training_steps, not 1 (Hugging Face's linear schedule restarts the line at
    the end of warmup). Step 0 has lr 0, as Google's first step does.
    """
    if num_training_steps <= 0 or not 0 <= num_warmup_steps <= num_training_steps:
        raise ValueError(
            f"need 0 <= num_warmup_steps <= num_training_steps and num_training_steps > 0, "
            f"got {num_warmup_steps} and {num_training_steps}"
        )
    return LambdaLR(optimizer, functools.partial(_warmup_decay_factor, num_warmup_steps=num_warmup_steps,
                                                 num_training_steps=num_training_steps))
