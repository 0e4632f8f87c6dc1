"""Pretraining-data throughput and memory: instances/s, input MB/s and peak RSS, printed as JSON.

Runs create_pretraining_data on the prepared Korean Wikipedia (all 48 files of ../shared/data/kowiki,
put through prepare_corpus.py first and cached) with vocab/kowiki-32k.txt, --max_seq_length 128 and
--dupe_factor 5, for --num_workers 1 and 2, and on 12 of the files with one worker to show that memory
does not grow with the corpus. Each run is a fresh interpreter, so its peak RSS is its own.

Targets (issue 3): >= 14,000 instances/s with 2 workers and >= 7,000 with one (Google's script: about
1,400/s on one core), peak RSS under 400 MB, and the same (+-10%) on 12 files as on 48.

    python bench/bench_create_data.py [--kowiki ../shared/data/kowiki] [--work_dir /tmp/mecab-bert-bench]
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import click

from mecab_bert.pretraining_data import creation, shard_format

ROOT = Path(__file__).resolve().parents[1]


def prepared_corpus(kowiki: Path, work_dir: Path) -> Path:
    """prepare_corpus.py's output for every kowiki file, made once and kept in work_dir."""
    prepared = work_dir / "kowiki_prepared"
    if len(glob.glob(str(prepared / "wiki_*"))) < 48:
        subprocess.run([sys.executable, str(ROOT / "prepare_corpus.py"), "--input_file", str(kowiki / "wiki_*"),
                        "--output_dir", str(prepared), "--num_workers", "2"], check=True)
    return prepared


def one_run(settings: creation.RunSettings) -> dict:
    summary = creation.create_pretraining_data(settings, progress=False)
    return {
        "instances": summary.stats["instances"],
        "seconds": round(summary.seconds, 2),
        "instances_per_s": round(summary.stats["instances"] / summary.seconds),
        "input_mb": round(summary.input_bytes / 1e6, 1),
        "input_mb_per_s": round(summary.input_bytes / 1e6 / summary.seconds, 2),
        "peak_rss_mb_largest_process": round(summary.peak_rss_mb),
    }


def run_fresh(settings: creation.RunSettings) -> dict:
    """Runs in a new interpreter, so peak RSS is this run's alone."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(one_run, settings).result()


@click.command()
@click.option("--kowiki", type=click.Path(exists=True, path_type=Path),
              default=ROOT.parent / "shared" / "data" / "kowiki", show_default=True)
@click.option("--work_dir", type=click.Path(path_type=Path), default=Path("/tmp/mecab-bert-bench"), show_default=True)
def main(kowiki: Path, work_dir: Path) -> None:
    prepared = prepared_corpus(kowiki, work_dir)
    files = sorted(glob.glob(str(prepared / "wiki_*")))
    runs = {}
    for name, inputs, workers in [("48_files_1_worker", files, 1), ("48_files_2_workers", files, 2),
                                  ("12_files_1_worker", files[:12], 1)]:
        output_dir = work_dir / f"shards_{name}"
        settings = creation.RunSettings(input_file=",".join(inputs), output_dir=str(output_dir),
                                   vocab_file=str(ROOT / "vocab" / "kowiki-32k.txt"), dupe_factor=5,
                                   num_workers=workers, overwrite=True)
        runs[name] = run_fresh(settings)
        runs[name]["shards_sha256"] = [s["sha256"] for s in shard_format.load_shards(output_dir).manifest["shards"]]
        shutil.rmtree(output_dir)
    same_bytes = runs["48_files_1_worker"]["shards_sha256"] == runs["48_files_2_workers"]["shards_sha256"]
    for run in runs.values():
        del run["shards_sha256"]
    rss_48, rss_12 = runs["48_files_1_worker"]["peak_rss_mb_largest_process"], \
        runs["12_files_1_worker"]["peak_rss_mb_largest_process"]
    print(json.dumps({
        "flags": {"max_seq_length": 128, "dupe_factor": 5, "vocab": "vocab/kowiki-32k.txt", "tokenizer": "mecab"},
        "runs": runs,
        "same_bytes_1_and_2_workers": same_bytes,
        "rss_ratio_48_to_12_files": round(rss_48 / rss_12, 3),
        "speedup_over_google_1400_per_s": {name: round(run["instances_per_s"] / 1400, 1) for name, run in runs.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
