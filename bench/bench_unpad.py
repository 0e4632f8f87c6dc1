"""Padded against unpadded batches on this machine's CPU, side by side in one run, printed as JSON.

- KorQuAD 1.0 dev features (mecab, vocab/kowiki-32k.txt) at --max_seq_length 384 and 512: their fill (real
  tokens / padded tokens), run_squad's training step (forward + backward of the span loss, batch 16, the same
  batches in both modes) and prediction (fine_tuning.predict, batch 32) in features/s.
- Pretraining instances made from the first kowiki file at 128: their fill, and run_pretraining's training step
  (MLM + NSP, batch 32) in tokens/s (padded tokens counted, as a padded run computes them).

The model is configs/bert_small.json (hidden 256 x 4 layers) with dropout off, fp32. Each measurement is the
median of --repeats passes; padded and unpadded passes alternate, so the machine's noise falls on both.

    python bench/bench_unpad.py [--data_dir ../shared/data] [--features 384] [--repeats 3]
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import create_pretraining_data as cpd  # noqa: E402
import fine_tuning  # noqa: E402
import modeling  # noqa: E402
import run_pretraining  # noqa: E402
import run_squad  # noqa: E402
import tokenization  # noqa: E402
import training  # noqa: E402

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
PADDED = training.Runtime(torch.device("cpu"), "fp32", training.Distributed(), progress=False, unpad=False)
UNPADDED = dataclasses.replace(PADDED, unpad=True)


def config() -> modeling.BertConfig:
    base = modeling.BertConfig.from_json_file(ROOT / "configs" / "bert_small.json")
    return dataclasses.replace(base, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def side_by_side(measure: Callable[[training.Runtime], float], repeats: int) -> dict:
    """Median seconds of `measure` in each mode, alternating, and the speed-up."""
    times: dict[str, list[float]] = {"padded": [], "unpadded": []}
    for _ in range(repeats):
        for name, runtime in (("padded", PADDED), ("unpadded", UNPADDED)):
            times[name].append(measure(runtime))
    padded, unpadded = statistics.median(times["padded"]), statistics.median(times["unpadded"])
    return {"padded_s": round(padded, 3), "unpadded_s": round(unpadded, 3), "speedup": round(padded / unpadded, 2)}


def train_steps(task: training.Task, model: torch.nn.Module, batches: list[training.Batch]
                ) -> Callable[[training.Runtime], float]:
    def measure(runtime: training.Runtime) -> float:
        model.train()
        start = time.perf_counter()
        for batch in batches:
            model.zero_grad()
            for piece in runtime.pieces(batch):  # as training._one_step computes a micro-batch
                sums, _ = task.loss_sums(model, piece)
                sums.sum().backward()
        return time.perf_counter() - start
    return measure


def squad(data_dir: Path, max_seq_length: int, count: int, repeats: int) -> dict:
    tokenizer = tokenization.FullTokenizer(VOCAB, True, "mecab")
    path = data_dir / "korquad" / "KorQuAD_v1.0_dev.json"
    dataset = run_squad.featurize(str(path), tokenizer, run_squad.FeatureConfig(max_seq_length=max_seq_length),
                                  True, False)
    features = dataset.features
    mask = features.attention_mask
    rng = np.random.default_rng(0)
    rows = rng.choice(len(mask), size=min(count, len(mask)), replace=False)
    model = modeling.create_model(modeling.BertForQuestionAnswering, config())
    batches = [features.batch(rows[first:first + 16]) for first in range(0, len(rows), 16)]

    class Subset:
        def __len__(self) -> int:
            return len(rows)

        def batch(self, indices: np.ndarray) -> training.Batch:
            return features.batch(rows[indices], with_labels=False)

    def predict(runtime: training.Runtime) -> float:
        start = time.perf_counter()
        fine_tuning.predict(model, Subset(), 32, runtime)
        return time.perf_counter() - start

    train = side_by_side(train_steps(run_squad.SquadTask(), model, batches), repeats)
    prediction = side_by_side(predict, repeats)
    return {
        "max_seq_length": max_seq_length, "features": len(rows),
        "fill": round(float(mask[rows].mean()), 3),
        "train": {**train, "unpadded_features_per_s": round(len(rows) / train["unpadded_s"], 1)},
        "predict": {**prediction, "unpadded_features_per_s": round(len(rows) / prediction["unpadded_s"], 1)},
    }


def pretraining(data_dir: Path, count: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        source = sorted((data_dir / "kowiki").rglob("wiki_*"))[0]
        out = Path(folder) / "shards"
        cpd.create_pretraining_data(cpd.RunSettings(input_file=str(source), output_dir=str(out),
                                                    vocab_file=str(VOCAB), max_seq_length=128, dupe_factor=1),
                                    progress=False)
        records = np.concatenate([np.asarray(array) for array in cpd.load_shards(out).arrays])[:count]
    batches = [run_pretraining.records_to_batch(records[first:first + 32]) for first in range(0, len(records), 32)]
    model = modeling.create_model(modeling.BertForPreTraining, config())
    result = side_by_side(train_steps(run_pretraining.PretrainingTask(), model, batches), repeats)
    tokens = len(records) * 128
    return {"max_seq_length": 128, "instances": len(records),
            "fill": round(float(records["input_length"].mean() / 128), 3),
            "train": {**result, "padded_tokens_per_s_padded": round(tokens / result["padded_s"]),
                      "padded_tokens_per_s_unpadded": round(tokens / result["unpadded_s"])}}


@click.command()
@click.option("--data_dir", type=click.Path(exists=True, path_type=Path), default=ROOT.parent / "shared" / "data")
@click.option("--features", default=384, show_default=True, help="KorQuAD features (and pretraining instances).")
@click.option("--repeats", default=3, show_default=True)
def main(data_dir: Path, features: int, repeats: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    report = {"torch_threads": torch.get_num_threads(),
              "squad": [squad(data_dir, length, features, repeats) for length in (384, 512)],
              "pretraining": pretraining(data_dir, features, repeats)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
