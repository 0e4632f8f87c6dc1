"""The pretraining loader alone, in sequences/s: can it keep up with a GPU's step rate? Printed as JSON.

Makes shards from the first --files kowiki files at 128 (create_pretraining_data), then times what
run_pretraining reads for each optimizer step and nothing else: the shuffled order, the memory-mapped records,
and their conversion into the batch tensors (PretrainingData.step_batches), for --steps steps of --batch. The
target is the step rate of the fastest GPU run measured here (bench/RESULTS.md: BERT-base, seq 128, bf16,
--compile on an H100: 4,133 sequences/s): the loader must be several times faster, on one CPU core.

    python bench/bench_loader.py [--data_dir ../shared/data] [--files 4] [--steps 200] [--batch 256]
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import click

from mecab_bert.pretraining_data import creation
from mecab_bert.runs import devices
from mecab_bert.tasks import pretraining

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
GPU_SEQUENCES_PER_S = 4133  # bench/RESULTS.md, H100, BERT-base, seq 128, bf16, --compile


@click.command()
@click.option("--data_dir", type=click.Path(exists=True, path_type=Path), default=ROOT.parent / "shared" / "data")
@click.option("--files", default=4, show_default=True, help="kowiki files to make shards of.")
@click.option("--steps", default=200, show_default=True)
@click.option("--batch", default=256, show_default=True)
@click.option("--repeats", default=3, show_default=True)
def main(data_dir: Path, files: int, steps: int, batch: int, repeats: int) -> None:
    sources = sorted((data_dir / "kowiki").rglob("wiki_*"))[:files]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "shards"
        creation.create_pretraining_data(creation.RunSettings(
            input_file=",".join(map(str, sources)), output_dir=str(out), vocab_file=str(VOCAB), max_seq_length=128,
            dupe_factor=1), progress=False)
        spec = pretraining.DataSpec(128, 20, 32000, None)
        data = pretraining.load_data(str(out), spec, seed=12345)
        distributed = devices.Distributed()
        times = []
        for repeat in range(repeats):
            start = time.perf_counter()
            for step in range(repeat * steps, (repeat + 1) * steps):
                data.step_batches(step, batch, 1, distributed)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        rate = steps * batch / seconds
        print(json.dumps({
            "instances": data.size, "steps": steps, "batch": batch, "median_s": round(seconds, 3),
            "loader_sequences_per_s": round(rate), "gpu_sequences_per_s": GPU_SEQUENCES_PER_S,
            "headroom": round(rate / GPU_SEQUENCES_PER_S, 1),
        }, indent=1))


if __name__ == "__main__":
    main()
