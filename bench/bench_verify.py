"""What verifying the shards costs, printed as JSON.

Before its first step, run_pretraining verifies every shard against its manifest (record bounds and sha256,
create_pretraining_data.verify_shards, called by pretraining.load_data). This bench makes shards of the
prepared Korean Wikipedia (../shared/data/kowiki wiki_00..wiki_45 through prepare_corpus.py, as
bench/learning_check.sh does: vocab/kowiki-32k.txt, --max_seq_length 128, --dupe_factor 2; made once and kept
in --work_dir) and reports:
- the verification alone (median of --repeats; the page cache is warm: the shards were just written or read);
- which share of the shards the first optimizer step already reads (why verifying ahead of the reader in the
  background would not start training any sooner);
- training throughput with and without it, side by side: each round times load_data with verification, load_data
  without, and --steps optimizer steps of configs/bert_small.json at batch 32 on the CPU (fp32, the model,
  optimizer and batches of run_pretraining); tokens/s = the real tokens of those steps / (load_data + steps).
  The steps are shared by both arms, so the CPU's noise (other processes) does not masquerade as a difference.

    python bench/bench_verify.py [--kowiki ../shared/data/kowiki] [--work_dir /tmp/mecab-bert-bench]
"""

from __future__ import annotations

import glob
import json
import statistics
import time
from pathlib import Path

import click
import numpy as np
import torch
from bench_create_data import prepared_corpus
from bench_pretrain import Ours

import modeling
from mecab_bert.files import file_sha256
from mecab_bert.pretraining_data import creation, shard_format
from mecab_bert.runs import devices
from mecab_bert.tasks import pretraining

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
CONFIG = ROOT / "configs" / "bert_small.json"
BATCH = 32


def make_shards(kowiki: Path, work_dir: Path) -> Path:
    """The shards of wiki_00..wiki_45, made once (the folder is reused while its manifest is intact)."""
    shards = work_dir / "verify_shards"
    if not (shards / shard_format.MANIFEST).is_file():
        prepared = prepared_corpus(kowiki, work_dir)
        inputs = sorted(glob.glob(str(prepared / "wiki_[0-3]*")) + glob.glob(str(prepared / "wiki_4[0-5]")))
        creation.create_pretraining_data(creation.RunSettings(input_file=",".join(inputs), output_dir=str(shards),
                                                    vocab_file=str(VOCAB), dupe_factor=2, num_workers=2,
                                                    overwrite=True), progress=False)
    return shards


def seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


@click.command()
@click.option("--kowiki", type=click.Path(path_type=Path), default=ROOT.parent / "shared" / "data" / "kowiki",
              show_default=True)
@click.option("--work_dir", type=click.Path(path_type=Path), default=Path("/tmp/mecab-bert-bench"), show_default=True)
@click.option("--repeats", default=5, show_default=True, help="Timings of the verification alone.")
@click.option("--rounds", default=3, show_default=True, help="Rounds of load_data (with, without) and steps.")
@click.option("--steps", default=30, show_default=True, help="Optimizer steps per round.")
def main(kowiki: Path, work_dir: Path, repeats: int, rounds: int, steps: int) -> None:
    if not glob.glob(str(kowiki / "wiki_*")):
        print(json.dumps({"skipped": f"{kowiki} has no wiki_* files (../shared/data is not here)"}))
        return
    data_dir = make_shards(kowiki, work_dir)
    spec = pretraining.DataSpec(128, 20, 32000, file_sha256(VOCAB))
    shards = shard_format.load_shards(data_dir, verify=False)
    shard_bytes = sum((data_dir / entry.file).stat().st_size for entry in shards.entries)
    verify_s = statistics.median(seconds(lambda: shard_format.verify_shards([shards])) for _ in range(repeats))
    data = pretraining.load_data(str(data_dir), spec, 1, verify=False)
    first_step = data.order.step_indices(0, BATCH, BATCH, devices.Distributed())[0]
    touched = len(np.unique(np.searchsorted(data.offsets, first_step, side="right") - 1))
    tokens = int(data.stream(0, steps * BATCH)["input_length"].sum())
    model = Ours(modeling.BertConfig.from_json_file(CONFIG), torch.device("cpu"), "fp32")
    batches = [data.step_batches(step, BATCH, BATCH, devices.Distributed())[0] for step in range(steps)]
    model.step(batches[0])  # warm-up: the first step allocates
    timings: dict[str, list[float]] = {"with_verification": [], "without": [], "steps": []}
    for _ in range(rounds):
        for name, verify in (("with_verification", True), ("without", False)):
            timings[name].append(seconds(lambda v=verify: pretraining.load_data(str(data_dir), spec, 1, v)))
        timings["steps"].append(seconds(lambda: [model.step(batch) for batch in batches]))
    total = {name: statistics.median(load + step for load, step in zip(timings[name], timings["steps"], strict=True))
             for name in ("with_verification", "without")}
    print(json.dumps({
        "data": {"input": "kowiki wiki_00..wiki_45 (prepare_corpus.py), vocab/kowiki-32k.txt, max_seq_length 128, "
                          "dupe_factor 2", "shards": len(shards.entries), "bytes": shard_bytes,
                 "instances": shards.num_instances},
        "verification": {"seconds_median": round(verify_s, 3), "mb_per_s": round(shard_bytes / 1e6 / verify_s),
                         "repeats": repeats, "page_cache": "warm"},
        "shards_read_by_step_1": f"{touched} of {len(shards.entries)}",
        "training": {"config": "configs/bert_small.json", "batch": BATCH, "steps": steps, "device": "cpu",
                     "threads": torch.get_num_threads(), "precision": "fp32", "tokens": tokens, "rounds": rounds,
                     "seconds": {name: [round(t, 3) for t in values] for name, values in timings.items()},
                     "tokens_per_s_median": {name: round(tokens / t) for name, t in total.items()},
                     "slowdown": round(total["with_verification"] / total["without"] - 1, 4)},
    }, indent=2))


if __name__ == "__main__":
    main()
