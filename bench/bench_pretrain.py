"""Pretraining step throughput, printed as JSON.

CPU (default): training tokens/s of our BertForPreTraining (masked positions gathered before the vocab
projection, Google's AdamWeightDecay) beside transformers' BertForPreTraining (sdpa attention, vocab logits
at every position, torch AdamW) on the same batches: hidden 256, 4 layers, 4 heads, intermediate 1024,
vocab 32,000, seq 128, batch 32, 20 predictions, fp32. Steps alternate A B A B; the ratio is the median of
the per-round ratios. Peak RSS is read after our warm-up (ours alone) and at the end (both).

--device cuda: sequences/s and model FLOPs utilisation of BERT-base (bert_config.json) at seq 128 in bf16
autocast, ours only (NVIDIA's BERT-large reaches ~580 seq/s on one A100 in phase 1).

    python bench/bench_pretrain.py [--device cpu|cuda] [--rounds 7] [--steps_per_round 3]
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from pathlib import Path

import click
import torch

import modeling
import optimization
from mecab_bert.runs import batching, devices
from mecab_bert.tasks import pretraining

ROOT = Path(__file__).resolve().parents[1]

SMALL = dict(vocab_size=32000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
# Dense bf16 tensor-core peak, by device name (for model FLOPs utilisation).
PEAK_BF16_TFLOPS = {"H100 SXM": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0,
                    "A100": 312.0}


def synthetic_batch(batch: int, seq: int, predictions: int, vocab: int, generator: torch.Generator
                    ) -> batching.Batch:
    """Full-length pairs (A and B of 63 and 62 tokens), `predictions` masked positions each."""
    positions = torch.stack([torch.randperm(seq - 2, generator=generator)[:predictions].sort().values + 1
                             for _ in range(batch)])
    return {
        "input_ids": torch.randint(5, vocab, (batch, seq), generator=generator),
        "token_type_ids": (torch.arange(seq) >= seq // 2).long().expand(batch, seq).clone(),
        "attention_mask": torch.ones(batch, seq, dtype=torch.long),
        "masked_lm_positions": positions,
        "masked_lm_ids": torch.randint(5, vocab, (batch, predictions), generator=generator),
        "masked_lm_weights": torch.ones(batch, predictions),
        "next_sentence_labels": torch.randint(0, 2, (batch,), generator=generator),
    }


class Ours:
    def __init__(self, config: modeling.BertConfig, device: torch.device, precision: str):
        self.model = modeling.BertForPreTraining(config).to(device).train()
        self.optimizer = optimization.create_optimizer(self.model, "adamw", 1e-4)
        self.task, self.device, self.precision = pretraining.PretrainingTask(), device, precision

    def step(self, batch: batching.Batch) -> None:
        with devices.autocast(self.device, self.precision):
            sums, _ = self.task.loss_sums(self.model, batch)
        (sums / (self.task.divisors(batch).to(self.device) + 1e-5)).sum().backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class Theirs:
    def __init__(self, config: modeling.BertConfig):
        import transformers

        hf_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items()}, attn_implementation="sdpa")
        self.model = transformers.BertForPreTraining(hf_config).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.01)

    def step(self, batch: batching.Batch) -> None:
        labels = torch.full_like(batch["input_ids"], -100)
        labels.scatter_(1, batch["masked_lm_positions"], batch["masked_lm_ids"])
        output = self.model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                            attention_mask=batch["attention_mask"], labels=labels,
                            next_sentence_label=batch["next_sentence_labels"])
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def timed(step, batches: list[batching.Batch], device: torch.device) -> float:
    """Median seconds per step over `batches`."""
    times = []
    for batch in batches:
        start = time.perf_counter()
        step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_cpu(rounds: int, steps_per_round: int) -> dict:
    torch.manual_seed(0)
    config = modeling.BertConfig(**SMALL)
    generator = torch.Generator().manual_seed(1)
    batches = [synthetic_batch(32, 128, 20, config.vocab_size, generator) for _ in range(steps_per_round)]
    device = torch.device("cpu")
    ours = Ours(config, device, "fp32")
    timed(ours.step, batches[:2], device)
    rss_ours = rss_mb()
    theirs = Theirs(config) if _has_transformers() else None
    if theirs is not None:
        timed(theirs.step, batches[:2], device)
    ours_s, theirs_s = [], []
    for _ in range(rounds):
        ours_s.append(timed(ours.step, batches, device))
        if theirs is not None:
            theirs_s.append(timed(theirs.step, batches, device))
    tokens = 32 * 128
    report = {
        "device": "cpu", "threads": torch.get_num_threads(), "config": {**SMALL, "seq": 128, "batch": 32,
                                                                          "predictions": 20, "precision": "fp32"},
        "ours": {"tokens_per_s": round(tokens / statistics.median(ours_s)),
                 "step_s_median": round(statistics.median(ours_s), 4), "peak_rss_mb": round(rss_ours)},
    }
    if theirs is not None:
        report["transformers"] = {"tokens_per_s": round(tokens / statistics.median(theirs_s)),
                                  "step_s_median": round(statistics.median(theirs_s), 4)}
        report["peak_rss_mb_both"] = round(rss_mb())
        report["ratio_median"] = round(statistics.median(t / o for t, o in zip(theirs_s, ours_s, strict=True)), 3)
    return report


def model_flops_per_sequence(config: modeling.BertConfig, seq: int, predictions: int) -> float:
    """Training FLOPs (3x forward) of one sequence: the dense layers, attention scores and values, the
    pooler, and the masked-LM head at `predictions` positions."""
    h, layers = config.hidden_size, config.num_hidden_layers
    dense = 2 * seq * layers * (4 * h * h + 2 * h * config.intermediate_size)
    attention = 2 * layers * 2 * seq * seq * h
    head = 2 * predictions * (h * h + h * config.vocab_size) + 2 * h * h
    return 3.0 * (dense + attention + head)


def bench_cuda(rounds: int, steps_per_round: int, batch_size: int, compile_model: bool) -> dict:
    device = torch.device("cuda")
    torch.manual_seed(0)
    config = modeling.BertConfig.from_json_file(ROOT / "bert_config.json")
    generator = torch.Generator().manual_seed(1)
    batches = [batching.to_device(synthetic_batch(batch_size, 128, 20, config.vocab_size, generator), device)
               for _ in range(steps_per_round)]
    ours = Ours(config, device, "bf16")
    if compile_model:
        ours.model = torch.compile(ours.model)
    timed(ours.step, batches, device)
    seconds = statistics.median(timed(ours.step, batches, device) for _ in range(rounds))
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    achieved = model_flops_per_sequence(config, 128, 20) * batch_size / seconds / 1e12
    return {
        "device": name, "config": "bert_config.json (BERT-base, vocab 32000)", "seq": 128, "batch": batch_size,
        "precision": "bf16 autocast", "torch_compile": compile_model, "sequences_per_s": round(batch_size / seconds, 1),
        "step_s_median": round(seconds, 4), "model_tflops": round(achieved, 1),
        "mfu": round(achieved / peak, 3) if peak else None, "peak_bf16_tflops_assumed": peak,
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def _has_transformers() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


@click.command()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--rounds", default=7, show_default=True)
@click.option("--steps_per_round", default=3, show_default=True)
@click.option("--batch_size", default=256, show_default=True, help="CUDA only.")
@click.option("--compile", "compile_model", is_flag=True, help="CUDA only: torch.compile the model.")
def main(device: str, rounds: int, steps_per_round: int, batch_size: int, compile_model: bool) -> None:
    if device == "cpu":
        report = bench_cpu(rounds, steps_per_round)
    else:
        report = bench_cuda(rounds, steps_per_round, batch_size, compile_model)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
