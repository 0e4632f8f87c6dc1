"""Pretraining start-up with thousands of shards, printed as JSON.

Makes pretraining data of the whole prepared Korean Wikipedia (--corpus: prepare_corpus.py's output, as
bench/learning_check.sh writes it) at 128 with small shards (--instances_per_shard), so that there are
thousands of them, then times what run_pretraining does before its first step: open every manifest, check it
against the run, verify every shard (record bounds and sha256), and read the first step's batch.

    python bench/bench_many_shards.py [--corpus /tmp/lc/kowiki] [--instances_per_shard 50]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click

from mecab_bert.pretraining_data import creation, shard_format
from mecab_bert.runs import devices
from mecab_bert.tasks import pretraining

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


def time_start(out: Path, spec) -> tuple[float, float, float, object, object]:
    """What run_pretraining does with its data before step 1, timed: open the manifests (no verification), open
    and verify every shard, and the first step's batch of 256; with the two loaded data sets."""
    start = time.perf_counter()
    unverified = pretraining.load_data(str(out), spec, seed=12345, verify=False)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    data = pretraining.load_data(str(out), spec, seed=12345)
    verified = time.perf_counter() - start
    start = time.perf_counter()
    data.step_batches(0, 256, 1, devices.Distributed())
    return opened, verified, time.perf_counter() - start, unverified, data


@click.command()
@click.option("--corpus", type=click.Path(exists=True, path_type=Path), default=Path("/tmp/lc/kowiki"))
@click.option("--instances_per_shard", default=50, show_default=True)
@click.option("--num_workers", default=2, show_default=True)
def main(corpus: Path, instances_per_shard: int, num_workers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "shards"
        start = time.perf_counter()
        creation.create_pretraining_data(creation.RunSettings(
            input_file=str(corpus / "wiki_*"), output_dir=str(out), vocab_file=str(VOCAB),
            max_seq_length=128, dupe_factor=1, instances_per_shard=instances_per_shard, num_workers=num_workers),
            progress=False)
        created = time.perf_counter() - start
        shards = [out / entry["file"] for entry in shard_format.load_shards(out, verify=False).manifest["shards"]]
        sizes = [p.stat().st_size for p in shards]
        spec = pretraining.DataSpec(128, 20, 32000, None)
        opened, verified, first_batch, unverified, data = time_start(out, spec)
        print(json.dumps({
            "instances": data.size, "shards": len(shards), "shard_bytes_median": sorted(sizes)[len(sizes) // 2],
            "data_bytes": sum(sizes), "create_s": round(created, 1),
            "open_manifests_s": round(opened, 3), "open_and_verify_s": round(verified, 3),
            "first_step_batch_s": round(first_batch, 4), "same_size_unverified": unverified.size == data.size,
        }, indent=1))


if __name__ == "__main__":
    main()
