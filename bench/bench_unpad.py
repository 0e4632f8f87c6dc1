"""Padded against unpadded batches on this machine's CPU, side by side in one run, printed as JSON.

- KorQuAD 1.0 dev features (mecab, vocab/kowiki-32k.txt) at --max_seq_length 384 and 512: their fill (real
  tokens / padded tokens), run_squad's training step (forward + backward of the span loss, batch 16, the same
  batches in both modes) and prediction (fine_tuning.predict, batch 32) in features/s.
- KLUE-NER dev sentences (mecab, kowiki-32k) at 128, run_ner's default: their fill, run_ner's training step (token
  classification loss, batch 16) and prediction (batch 32) in features/s.
- Pretraining instances made from the first kowiki file at 128: their fill, and run_pretraining's training step
  (MLM + NSP, batch 32) in tokens/s (padded tokens counted, as a padded run computes them).

The model is configs/bert_small.json (hidden 256 x 4 layers) with dropout off, fp32. Each measurement is the
median of --repeats passes; padded and unpadded passes alternate, so the machine's noise falls on both.

    python bench/bench_unpad.py [--data_dir ../shared/data] [--features 384] [--repeats 3] [--cases squad,ner,...]
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

import modeling
import tokenization
from mecab_bert.pretraining_data import creation, shard_format
from mecab_bert.runs import batching, devices, loop
from mecab_bert.tasks import fine_tuning, ner, ner_data, pretraining, squad

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
PADDED = devices.Runtime(torch.device("cpu"), "fp32", devices.Distributed(), progress=False, unpad=False)
UNPADDED = dataclasses.replace(PADDED, unpad=True)


def config() -> modeling.BertConfig:
    base = modeling.BertConfig.from_json_file(ROOT / "configs" / "bert_small.json")
    return dataclasses.replace(base, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def side_by_side(measure: Callable[[devices.Runtime], float], repeats: int) -> dict:
    """Median seconds of `measure` in each mode, alternating, and the speed-up."""
    times: dict[str, list[float]] = {"padded": [], "unpadded": []}
    for _ in range(repeats):
        for name, runtime in (("padded", PADDED), ("unpadded", UNPADDED)):
            times[name].append(measure(runtime))
    padded, unpadded = statistics.median(times["padded"]), statistics.median(times["unpadded"])
    return {"padded_s": round(padded, 3), "unpadded_s": round(unpadded, 3), "speedup": round(padded / unpadded, 2)}


def train_steps(task: loop.Task, model: torch.nn.Module, batches: list[batching.Batch]
                ) -> Callable[[devices.Runtime], float]:
    def measure(runtime: devices.Runtime) -> float:
        model.train()
        start = time.perf_counter()
        for batch in batches:
            model.zero_grad()
            for piece in runtime.pieces(batch):  # as loop._one_step computes a micro-batch
                sums, _ = task.loss_sums(model, piece)
                sums.sum().backward()
        return time.perf_counter() - start
    return measure


def features_case(features: Any, model: torch.nn.Module, task: loop.Task, count: int,
                  repeats: int) -> dict:
    """`count` features drawn at random: their fill, a training pass (batch 16) and a prediction (batch 32), padded
    against unpadded, in features/s."""
    mask = features.attention_mask
    rng = np.random.default_rng(0)
    rows = rng.choice(len(mask), size=min(count, len(mask)), replace=False)
    batches = [features.batch(rows[first:first + 16]) for first in range(0, len(rows), 16)]

    class Subset:
        def __len__(self) -> int:
            return len(rows)

        def batch(self, indices: np.ndarray) -> batching.Batch:
            return features.batch(rows[indices], with_labels=False)

    def predict(runtime: devices.Runtime) -> float:
        start = time.perf_counter()
        fine_tuning.predict(model, Subset(), 32, runtime)
        return time.perf_counter() - start

    train = side_by_side(train_steps(task, model, batches), repeats)
    prediction = side_by_side(predict, repeats)
    return {
        "max_seq_length": mask.shape[1], "features": len(rows), "fill": round(float(mask[rows].mean()), 3),
        "train": {**train, "unpadded_features_per_s": round(len(rows) / train["unpadded_s"], 1)},
        "predict": {**prediction, "unpadded_features_per_s": round(len(rows) / prediction["unpadded_s"], 1)},
    }


def squad_case(data_dir: Path, max_seq_length: int, count: int, repeats: int) -> dict:
    tokenizer = tokenization.FullTokenizer(VOCAB, True, "mecab")
    path = data_dir / "korquad" / "KorQuAD_v1.0_dev.json"
    dataset = squad.featurize(str(path), tokenizer, squad.FeatureConfig(max_seq_length=max_seq_length),
                              True, False)
    model = modeling.create_model(modeling.BertForQuestionAnswering, config())
    return features_case(dataset.features, model, squad.SquadTask(), count, repeats)


def ner_case(data_dir: Path, count: int, repeats: int) -> dict:
    tokenizer = tokenization.FullTokenizer(VOCAB, True, "mecab")
    processor = ner_data.processors["klue-ner"]
    tags = ner_data.tag_names(processor.labels)
    sentences = processor.read(data_dir / "klue" / "klue-ner-v1.1_dev.tsv")
    features = ner.convert_sentences(sentences, tokenizer, tags, 128, ner.NerFlags.doc_stride)
    model = modeling.create_model(modeling.BertForTokenClassification, config(), num_labels=len(tags),
                                  label_names=tags)
    return features_case(features, model, ner.NerTask(), count, repeats)


def pretraining_case(data_dir: Path, count: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        source = sorted((data_dir / "kowiki").rglob("wiki_*"))[0]
        out = Path(folder) / "shards"
        creation.create_pretraining_data(creation.RunSettings(input_file=str(source), output_dir=str(out),
                                                    vocab_file=str(VOCAB), max_seq_length=128, dupe_factor=1),
                                    progress=False)
        records = np.concatenate([np.asarray(array) for array in shard_format.load_shards(out).arrays])[:count]
    batches = [pretraining.records_to_batch(records[first:first + 32]) for first in range(0, len(records), 32)]
    model = modeling.create_model(modeling.BertForPreTraining, config())
    result = side_by_side(train_steps(pretraining.PretrainingTask(), model, batches), repeats)
    tokens = len(records) * 128
    return {"max_seq_length": 128, "instances": len(records),
            "fill": round(float(records["input_length"].mean() / 128), 3),
            "train": {**result, "padded_tokens_per_s_padded": round(tokens / result["padded_s"]),
                      "padded_tokens_per_s_unpadded": round(tokens / result["unpadded_s"])}}


@click.command()
@click.option("--data_dir", type=click.Path(exists=True, path_type=Path), default=ROOT.parent / "shared" / "data")
@click.option("--features", default=384, show_default=True, help="KorQuAD features (and pretraining instances).")
@click.option("--repeats", default=3, show_default=True)
@click.option("--cases", default="squad,ner,pretraining", show_default=True, help="Which workloads, comma-separated.")
def main(data_dir: Path, features: int, repeats: int, cases: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    runs = {"squad": lambda: [squad_case(data_dir, length, features, repeats) for length in (384, 512)],
            "ner": lambda: ner_case(data_dir, features, repeats),
            "pretraining": lambda: pretraining_case(data_dir, features, repeats)}
    unknown = sorted(set(cases.split(",")) - set(runs))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: choose from {', '.join(runs)}", param_hint="--cases")
    report = {"torch_threads": torch.get_num_threads(),
              **{name: runs[name]() for name in cases.split(",")}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
