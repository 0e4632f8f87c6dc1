"""Scale rehearsal (issue 14): a corpus of any size through prepare -> build_vocab -> create_pretraining_data.

The 48 kowiki files are copied until the corpus has the size asked (each copy's documents shuffled and renamed,
in WikiExtractor's layout), then each stage runs as its real command line, with the whole process tree's memory
sampled every 0.2 s; the shards are opened as run_pretraining does before step 1. Prints JSON per stage.
Measured at 0.5 and 2 GB, with the projections for kowiki and 20 GB: bench/RESULTS.md, "Scale rehearsal".

Usage:
  python bench/bench_scale.py --size_gb 2 --work_dir /tmp/scale/2
"""

from __future__ import annotations

import collections
import functools
import glob
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

import text_input

ROOT = Path(__file__).resolve().parents[1]
KOWIKI = ROOT.parent / "shared" / "data" / "kowiki"
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1e6
DISK_GB_PER_S = 2.0  # an assumed NVMe read rate, for the projections of run_pretraining's shard verification

_DOC_RE = re.compile(r'<doc id="([^"]*)" url="[^"]*" title="(.*)">')


# --- the synthetic corpus ------------------------------------------------------------------------------


def read_wikiextractor(path: Path) -> list[tuple[str, str, list[str]]]:
    """(id, title, paragraphs) of each document of a WikiExtractor file; a paragraph is a non-blank line."""
    documents = []
    current: tuple[str, str, list[str]] | None = None
    title_seen = False
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _DOC_RE.fullmatch(line)
        if match:
            current, title_seen = (match.group(1), match.group(2), []), False
        elif line == "</doc>":
            if current is not None:
                documents.append(current)
            current = None
        elif current is not None and line.strip():
            if title_seen:
                current[2].append(line)
            else:
                title_seen = True
    return documents


def perturbed_copy(documents: list[tuple[str, str, list[str]]], copy: int, source: int) -> str:
    """Copy `copy` of a source file as WikiExtractor writes it: the documents in another order, each with its
    paragraphs in another order, a new id and a new title; deterministic in (copy, source). The text itself is
    the real Korean of the source, so MeCab, the vocab and the tokenizer see realistic words."""
    rng = random.Random(f"bench_scale:{copy}:{source}")
    order = list(documents)
    rng.shuffle(order)
    parts = []
    for doc_id, title, paragraphs in order:
        new_id = copy * 100_000_000 + int(doc_id) if doc_id.isdigit() else f"{copy}-{doc_id}"
        new_title = f"{title} ({copy})"
        shuffled = list(paragraphs)
        rng.shuffle(shuffled)
        body = "".join(f"{p}\n\n" for p in shuffled)
        parts.append(f'<doc id="{new_id}" url="https://ko.wikipedia.org/wiki?curid={new_id}" title="{new_title}">\n'
                     f"{new_title}\n\n{body}</doc>\n")
    return "".join(parts)


def wikiextractor_path(root: Path, index: int) -> Path:
    """WikiExtractor's layout: 100 files a folder, AA/wiki_00 ... AA/wiki_99, AB/wiki_00, ..."""
    folder = index // 100
    return root / f"{chr(65 + folder // 26)}{chr(65 + folder % 26)}" / f"wiki_{index % 100:02d}"


@functools.cache
def _parsed_source(path: str) -> list[tuple[str, str, list[str]]]:
    return read_wikiextractor(Path(path))


def _write_copy(job: tuple[str, int, int, Path]) -> tuple[int, int, int]:
    """Writes one perturbed file; returns its bytes, chars and documents (in a worker process)."""
    source_path, copy, source, path = job
    documents = _parsed_source(source_path)
    text = perturbed_copy(documents, copy, source)
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data), len(text), len(documents)


def build_corpus(root: Path, size_bytes: int, num_workers: int) -> dict:
    """Writes perturbed copies of the kowiki files under `root` until they hold at least `size_bytes`.

    In worker processes, so that this process stays small: a child's ru_maxrss starts from the size of the
    process that forked it."""
    sources = sorted(str(p) for p in KOWIKI.glob("wiki_*"))
    if not sources:
        raise click.ClickException(f"{KOWIKI}: no wiki_* files (the kowiki sample is needed)")
    source_bytes = [os.path.getsize(p) for p in sources]
    count, planned = 0, 0
    while planned < size_bytes:  # the copies are within a few bytes of their sources' sizes
        planned += source_bytes[count % len(sources)]
        count += 1
    jobs = [(sources[i % len(sources)], i // len(sources), i % len(sources), wikiextractor_path(root, i))
            for i in range(count)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(num_workers) as pool:
        # Each worker parses each source once (cached) and writes its copies.
        written = pool.map(_write_copy, jobs, chunksize=max(1, len(jobs) // (4 * num_workers)))
    return {"files": count, "bytes": sum(w[0] for w in written), "chars": sum(w[1] for w in written),
            "documents": sum(w[2] for w in written), "copies": math.ceil(count / len(sources)),
            "seconds": round(time.perf_counter() - start, 1)}


# --- running a stage and sampling its memory -----------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as reader:
                found.extend(int(child) for child in reader.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (/proc/PID/task/TID/children)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def _status_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as reader:
            for line in reader:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def _rollup_kib(pid: int) -> tuple[int, int] | None:
    """(Pss_Anon, Rss - Anonymous) in KiB from /proc/PID/smaps_rollup: the anonymous memory, shared pages
    (copy-on-write after fork, within this tree only) split among their sharers, and the file-backed resident
    pages (the MeCab dictionary, mapped shards), which other processes on the machine may share too."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as reader:
            for line in reader:
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if "Pss_Anon" not in fields:
        return None
    return fields["Pss_Anon"], fields.get("Rss", 0) - fields.get("Anonymous", 0)


def _cpu_seconds(pid: int, reaped: bool = False) -> float | None:
    """utime + stime of the process itself, from /proc/PID/stat; with `reaped`, of its reaped children instead."""
    try:
        with open(f"/proc/{pid}/stat") as reader:
            fields = reader.read().rsplit(")", 1)[1].split()
        first = 13 if reaped else 11
        return (int(fields[first]) + int(fields[first + 1])) / CLOCK_TICKS
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _read_chars(pid: int) -> int:
    """Bytes the process has read (rchar of /proc/PID/io: files and pipes, from the page cache or not)."""
    try:
        with open(f"/proc/{pid}/io") as reader:
            for line in reader:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


class TreeSampler(threading.Thread):
    """Every `interval` s: the RSS (VmRSS) of a process and every descendant, their anonymous PSS and file-backed
    RSS (smaps_rollup: the tree's own footprint is the sum of the first and the largest of the second, which does
    not count the shared MeCab dictionary once per process), and the parent's CPU time. Keeps the peaks (of the
    sum over the tree, of the largest process, of the parent, of the largest worker) and a time series."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.start_time = time.perf_counter()
        self.stop_event = threading.Event()
        self.series: list[tuple[float, float, float, float, float]] = []  # t, sum RSS, parent RSS, tree, cpu
        self.peak = collections.Counter()
        self.parent_cpu = 0.0
        self.max_processes = 0
        self.load_averages: list[float] = []
        # (t, CPU seconds of the tree, bytes it has read, load average, processes): the cost along the run.
        self.progress: list[tuple[float, float, int, float, int]] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def sample(self) -> None:
        t = time.perf_counter() - self.start_time
        load = os.getloadavg()[0]
        self.load_averages.append(load)
        tree = process_tree(self.pid)
        rss = {pid: kib for pid in tree if (kib := _status_kib(pid)) is not None}
        if not rss:
            return
        rollups = {pid: r for pid in rss if (r := _rollup_kib(pid)) is not None}
        self.max_processes = max(self.max_processes, len(rss))
        cpu = _cpu_seconds(self.pid)
        if cpu is not None:
            self.parent_cpu = cpu
            tree_cpu = cpu + (_cpu_seconds(self.pid, reaped=True) or 0.0) + sum(
                _cpu_seconds(pid) or 0.0 for pid in rss if pid != self.pid)
            self.progress.append((t, tree_cpu, sum(_read_chars(pid) for pid in rss), load, len(rss)))
        parent_rss = rss.get(self.pid, 0)
        workers = [kib for pid, kib in rss.items() if pid != self.pid]
        worker_anon = [r[0] for pid, r in rollups.items() if pid != self.pid]
        values = {
            "sum_rss": sum(rss.values()), "max_rss": max(rss.values()), "parent_rss": parent_rss,
            "worker_rss": max(workers, default=0),
            # The tree's own footprint: its anonymous memory, and its file-backed pages once (the largest set).
            "tree": sum(r[0] for r in rollups.values()) + max((r[1] for r in rollups.values()), default=0),
            "parent_anon": rollups.get(self.pid, (0, 0))[0], "worker_anon": max(worker_anon, default=0),
        }
        for key, value in values.items():
            self.peak[key] = max(self.peak[key], value)
        self.series.append((t, values["sum_rss"] / 1024, parent_rss / 1024, values["tree"] / 1024,
                            self.parent_cpu))

    def peaks_mb(self, until: float | None = None, since: float = 0.0) -> dict:
        """Peaks in MiB over the whole run, or over the samples in [since, until] (sum RSS and parent RSS)."""
        if until is None and since == 0.0:
            return {f"peak_{key}_mib": round(value / 1024) for key, value in sorted(self.peak.items())}
        window = [s for s in self.series if since <= s[0] <= (until if until is not None else math.inf)]
        return {"peak_sum_rss_mib": round(max((s[1] for s in window), default=0)),
                "peak_parent_rss_mib": round(max((s[2] for s in window), default=0))}

    def cost_by_quarter(self) -> dict:
        """CPU seconds per MB read, and MB/s of wall time, in each quarter of the bytes read (up to the most read:
        the tree loses the count of a worker that has exited), with the mean load average of the machine in each:
        a cost per byte that grows along one run would show here, whatever else the machine ran meanwhile."""
        # From when every worker runs (what the start-up read, modules and vocab, left behind) to the most read.
        start = next((i for i, s in enumerate(self.progress) if s[4] == self.max_processes), 0)
        end = max(range(len(self.progress)), key=lambda i: self.progress[i][2]) if self.progress else 0
        samples = self.progress[start:end + 1]
        if len(samples) < 8:
            return {}
        first, last = samples[0][2], samples[-1][2]
        marks = [first + (last - first) * q / 4 for q in range(5)]
        cut = [next(s for s in samples if s[2] >= mark) for mark in marks]
        result: dict[str, list[float]] = {"cpu_s_per_mb_read": [], "mb_read_per_s": [], "load_average": []}
        for a, b in itertools.pairwise(cut):
            megabytes = max(b[2] - a[2], 1) / MB
            result["cpu_s_per_mb_read"].append(round((b[1] - a[1]) / megabytes, 3))
            result["mb_read_per_s"].append(round(megabytes / max(b[0] - a[0], 1e-9), 2))
            window = [s[3] for s in samples if a[0] <= s[0] <= b[0]]
            result["load_average"].append(round(sum(window) / len(window), 1))
        return result

    def parent_cpu_at(self, t: float) -> float:
        before = [s[4] for s in self.series if s[0] <= t]
        return before[-1] if before else 0.0

    def profile(self, points: int = 12) -> str:
        """"seconds: sum RSS/parent RSS MiB" at `points` times spread over the run: memory that grows within a run
        shows here."""
        if not self.series:
            return ""
        last = len(self.series) - 1
        chosen = sorted({round(i * last / (points - 1)) for i in range(points)})
        return ", ".join(f"{self.series[i][0]:.0f}s: {self.series[i][1]:.0f}/{self.series[i][2]:.0f}"
                         for i in chosen)


class _Reader(threading.Thread):
    """Reads a pipe to the end, keeping the bytes and the time of the last chunk read."""

    def __init__(self, pipe, start_time: float):
        super().__init__(daemon=True)
        self.pipe, self.start_time = pipe, start_time
        self.chunks: list[bytes] = []
        self.last_time = 0.0

    def run(self) -> None:
        fd = self.pipe.fileno()
        while chunk := os.read(fd, 65536):
            self.chunks.append(chunk)
            self.last_time = time.perf_counter() - self.start_time

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def run_stage(name: str, command: list[str], log_dir: Path) -> dict:
    """Runs one stage's command line from the repository root; returns its wall time, CPU time, memory and output.

    Memory: the tree of the stage's process and its workers is sampled every 0.2 s (TreeSampler), and
    ru_maxrss comes from wait4 (the largest of the process and its reaped workers).
    """
    click.echo(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(command)}", err=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    sampler = TreeSampler(process.pid)
    sampler.start_time = start
    readers = [_Reader(process.stdout, start), _Reader(process.stderr, start)]
    for thread in (sampler, *readers):
        thread.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop_event.set()
    sampler.join()
    for reader in readers:
        reader.join()
    stdout, stderr = readers[0].text(), readers[1].text()
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{name}.stdout").write_text(stdout, encoding="utf-8")
    (log_dir / f"{name}.stderr").write_text(stderr, encoding="utf-8")
    if process.returncode:
        raise click.ClickException(f"{name} failed ({process.returncode}): {stderr[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    click.echo(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:.1f} s", err=True)
    return {
        "seconds": round(seconds, 1),
        "cpu_s": round(cpu, 1),
        "parent_cpu_s": round(sampler.parent_cpu, 1),
        "workers_cpu_s": round(cpu - sampler.parent_cpu, 1),
        # Below the number of workers when other processes compete for the cores (the load average says how many).
        "cores_used": round(cpu / seconds, 2),
        "load_average_mean": round(sum(sampler.load_averages) / max(len(sampler.load_averages), 1), 1),
        **sampler.peaks_mb(),
        "ru_maxrss_mib": round(usage.ru_maxrss / 1024),
        "max_processes": sampler.max_processes,
        "rss_profile_sum_parent_mib": sampler.profile(),
        "by_quarter_of_bytes_read": sampler.cost_by_quarter(),
        "_sampler": sampler,
        "_stdout": stdout,
        "_last_stderr_s": readers[1].last_time,
    }


def git_commit() -> str:
    """The repository's HEAD (read only): the code a stage ran, when others commit meanwhile."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip()


def public(result: dict) -> dict:
    return {key: value for key, value in result.items() if not key.startswith("_")}


def tree_bytes(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


# --- the stages ------------------------------------------------------------------------------------------


def stage_prepare(corpus: Path, prepared: Path, num_workers: int, logs: Path, corpus_info: dict) -> dict:
    result = run_stage("prepare", [PYTHON, "prepare_corpus.py", "--input_file", f"{corpus}/*/wiki_*",
                                   "--output_dir", str(prepared), "--num_workers", str(num_workers)], logs)
    match = re.search(r"Read ([\d,]+) files and wrote ([\d,]+) documents, ([\d,]+) paragraphs, ([\d,]+) sentences "
                      r"and ([\d,]+) chars", result["_stdout"])
    if not match:
        raise click.ClickException(f"prepare: no summary in {result['_stdout'][-500:]!r}")
    files, documents, paragraphs, sentences, chars = map(_int, match.groups())
    outputs = glob.glob(f"{prepared}/*/wiki_*")
    seconds = result["seconds"]
    return {
        "input_files": files, "input_bytes": corpus_info["bytes"], "input_chars": corpus_info["chars"],
        "output_bytes": tree_bytes(outputs), "output_chars": chars, "documents": documents,
        "paragraphs": paragraphs, "sentences": sentences,
        "mb_per_s": round(corpus_info["bytes"] / MB / seconds, 3),
        "chars_per_s": round(corpus_info["chars"] / seconds),
        "chars_per_cpu_s": round(corpus_info["chars"] / result["cpu_s"]),
        **public(result),
    }


def stage_vocab(prepared: Path, vocab: Path, num_workers: int, logs: Path) -> dict:
    result = run_stage("build_vocab", [PYTHON, "build_vocab.py", "--input_file", f"{prepared}/*/wiki_*",
                                       "--output_file", str(vocab), "--num_workers", str(num_workers)], logs)
    match = re.search(r"Wrote (\d+) tokens to .*?: (\d+) files, (\d+) lines, (\d+) chars, (\d+) pre-tokenized units",
                      result["_stdout"])
    if not match:
        raise click.ClickException(f"build_vocab: no summary in {result['_stdout'][-500:]!r}")
    size, files, lines, chars, units = map(int, match.groups())
    sampler: TreeSampler = result["_sampler"]
    # The pre-tokenizing bar (stderr) closes when the count is done; the merge loop after it writes nothing.
    counted = result["_last_stderr_s"]
    seconds = result["seconds"]
    parent_cpu_counting = sampler.parent_cpu_at(counted)
    return {
        "input_files": files, "input_bytes": tree_bytes(glob.glob(f"{prepared}/*/wiki_*")), "input_chars": chars,
        "lines": lines, "units": units, "vocab_size": size,
        "pre_tokenize_s": round(counted, 1), "merge_s": round(seconds - counted, 1),
        "pre_tokenize_chars_per_s": round(chars / counted),
        "parent_cpu_pre_tokenize_s": round(parent_cpu_counting, 1),
        "merge_cpu_s": round(sampler.parent_cpu - parent_cpu_counting, 1),
        "pre_tokenize_memory": sampler.peaks_mb(until=counted),
        "merge_memory": sampler.peaks_mb(since=counted),
        "mb_per_s": round(tree_bytes(glob.glob(f"{prepared}/*/wiki_*")) / MB / seconds, 3),
        "chars_per_s": round(chars / seconds),
        **public(result),
    }


def stage_data(prepared: Path, vocab: Path, out: Path, max_seq_length: int, max_predictions: int, dupe_factor: int,
               num_workers: int, logs: Path, glob_pattern: str = "*/wiki_*", loader: bool = True,
               input_chars: int | None = None) -> dict:
    name = f"create_pretraining_data_{max_seq_length}" + ("" if loader else f"_dupe{dupe_factor}")
    if out.exists():
        shutil.rmtree(out)
    result = run_stage(name, [PYTHON, "create_pretraining_data.py", "--input_file", f"{prepared}/{glob_pattern}",
                              "--output_dir", str(out), "--vocab_file", str(vocab),
                              "--max_seq_length", str(max_seq_length), "--max_predictions_per_seq",
                              str(max_predictions), "--dupe_factor", str(dupe_factor),
                              "--num_workers", str(num_workers)], logs)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    totals = manifest["totals"]
    sizes = sorted((out / shard["file"]).stat().st_size for shard in manifest["shards"])
    counts = sorted(shard["instances"] for shard in manifest["shards"])
    seconds = result["seconds"]
    return {
        "max_seq_length": max_seq_length, "max_predictions_per_seq": max_predictions, "dupe_factor": dupe_factor,
        "input_bytes": totals["input_bytes"], "documents": totals["documents"], "sentences": totals["sentences"],
        "tokens": totals["tokens"], "instances": totals["instances"],
        "truncated_pct": round(100 * totals["truncated"] / max(totals["instances"], 1), 1),
        "random_next_pct": round(100 * totals["random_next"] / max(totals["instances"], 1), 1),
        "shards": len(sizes), "shard_bytes": {"total": sum(sizes), "min": sizes[0], "median": sizes[len(sizes) // 2],
                                              "max": sizes[-1]},
        "shard_instances": {"min": counts[0], "median": counts[len(counts) // 2], "max": counts[-1]},
        "record_bytes": sizes[-1] // max(counts[-1], 1),
        **({"input_chars": input_chars, "chars_per_s": round(input_chars / seconds),
            "chars_per_cpu_s": round(input_chars / result["cpu_s"])} if input_chars else {}),
        "mb_per_s": round(totals["input_bytes"] / MB / seconds, 3),
        "tokens_per_s": round(totals["tokens"] / seconds),
        "instances_per_s": round(totals["instances"] / seconds),
        "tokens_per_cpu_s": round(totals["tokens"] / result["cpu_s"]),
        **public(result),
        **({"loader": stage_loader(out, logs, f"loader_{max_seq_length}")} if loader else {}),
    }


def stage_loader(out: Path, logs: Path, name: str) -> dict:
    """time_loader in a process of its own: its memory (the shards it maps and reads count as RSS) is measured
    too, and this process never imports torch nor maps the shards."""
    result = run_stage(name, [PYTHON, str(Path(__file__).resolve()), "--time_loader", str(out)], logs)
    return {**json.loads(result["_stdout"]), "seconds": result["seconds"], "peak_rss_mib": result["peak_max_rss_mib"],
            "peak_anon_mib": result["peak_parent_anon_mib"]}


def time_loader(out: Path) -> dict:
    """What run_pretraining does before step 1 (as bench/bench_many_shards.py): open the manifest and map every
    shard (no data read), then open again and verify every shard (bounds and sha256, one thread a shard, at most
    a thread a core), then the first step's batch of 256. The shards were just written, so the page cache is warm;
    then the shards' own pages are dropped from the page cache (fsync, posix_fadvise DONTNEED: nothing else is
    evicted) and the open and verify is timed again, reading from disk."""
    from bench_many_shards import time_start

    from mecab_bert.tasks import pretraining

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    flags = manifest["flags"]
    spec = pretraining.DataSpec(flags["max_seq_length"], flags["max_predictions_per_seq"],
                                    manifest["vocab"]["size"], None)
    opened, verified, first_batch, unverified, data = time_start(out, spec)
    unverified_size = unverified.size
    data_bytes = sum(p.stat().st_size for p in out.glob("shard-*.npy"))
    del data, unverified
    for path in out.glob("shard-*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    start = time.perf_counter()
    data = pretraining.load_data(str(out), spec, seed=12345)
    cold = time.perf_counter() - start
    return {"open_manifests_s": round(opened, 3), "open_and_verify_s": round(verified, 2),
            "open_and_verify_cold_s": round(cold, 2), "verify_cold_gb_per_s": round(data_bytes / 1e9 / cold, 2),
            "verify_gb_per_s": round(data_bytes / 1e9 / max(verified - opened, 1e-9), 2),
            "first_step_batch_s": round(first_batch, 4), "instances": data.size, "shard_bytes": data_bytes,
            "same_size_unverified": unverified_size == data.size}


# --- calibration on the real files: what the synthetic copies cannot show ------------------------------


def _units_of_file(path: str) -> set:
    from mecab_bert.corpus import wordpiece_vocab

    lines = list(wordpiece_vocab.iter_text_lines(text_input.read_utf8_lines(path)))
    return set(wordpiece_vocab._count_batch(lines, True, "mecab"))


def _chunk_bytes(files: list[str], docs_per_chunk: int = 1000) -> dict:
    """What one chunk of `docs_per_chunk` documents takes in create_pretraining_data's parent while it is in
    flight (Python objects, traced) and through the pipe (pickled)."""
    import pickle
    import tracemalloc

    from mecab_bert.pretraining_data import creation

    tracemalloc.start()
    chunks = creation.chunk_documents(creation.read_documents(files, "strict", collections.Counter()), docs_per_chunk)
    chunk = next(chunks)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"docs": len(chunk[0]), "text_bytes": chunk[1], "python_bytes": traced,
            "pickled_bytes": len(pickle.dumps(chunk[0], protocol=pickle.HIGHEST_PROTOCOL))}


def calibrate(work: Path, num_workers: int, max_predictions_512: int) -> dict:
    """On the 48 real kowiki files (prepared once):

    - build_vocab.py on the first 6, 12, 24 and 48 files: its merge loop's time and memory against the distinct
      pre-tokenized units (the keys of its count, the words it merges), which a Heaps' law fit (distinct =
      K * chars^beta) over the same prefixes carries to other sizes. The synthetic copies repeat the same words,
      so the scale runs show neither.
    - create_pretraining_data.py at 128 and 512 with --dupe_factor 1 and 2: the cost of one more round.
    - the memory of one chunk of documents in create_pretraining_data's parent (2 per worker are in flight).
    """
    prepared = work / "prepared-real"
    logs = work / "logs"
    if not prepared.exists():
        run_stage("prepare_real", [PYTHON, "prepare_corpus.py", "--input_file", f"{KOWIKI}/wiki_*",
                                   "--output_dir", str(prepared), "--num_workers", str(num_workers)], logs)
    files = sorted(glob.glob(f"{prepared}/wiki_*"))
    prefixes = []
    for n in (6, 12, 24, len(files)):
        result = run_stage(f"build_vocab_real_{n}", [PYTHON, "build_vocab.py", "--input_file", ",".join(files[:n]),
                                                     "--output_file", str(work / f"vocab-real-{n}.txt"),
                                                     "--num_workers", str(num_workers)], logs)
        sampler: TreeSampler = result["_sampler"]
        counted = result["_last_stderr_s"]
        chars = int(re.search(r"lines, (\d+) chars", result["_stdout"]).group(1))
        prefixes.append({"files": n, "chars": chars, "seconds": result["seconds"], "pre_tokenize_s": round(counted, 1),
                         "merge_s": round(result["seconds"] - counted, 1),
                         "merge_cpu_s": round(sampler.parent_cpu - sampler.parent_cpu_at(counted), 1),
                         "pre_tokenize_memory": sampler.peaks_mb(until=counted),
                         "merge_memory": sampler.peaks_mb(since=counted)})
    vocab = work / f"vocab-real-{len(files)}.txt"
    dupes = {}
    for length, predictions in ((128, 20), (512, max_predictions_512)):
        for dupe in (1, 2):
            out = work / f"data-{length}-{dupe}"
            data = stage_data(prepared, vocab, out, length, predictions, dupe, num_workers, logs, glob_pattern="wiki_*",
                              loader=False)
            dupes[f"{length}_dupe{dupe}"] = {key: data[key] for key in (
                "seconds", "cpu_s", "parent_cpu_s", "instances", "record_bytes", "peak_parent_rss_mib",
                "peak_parent_anon_mib", "peak_worker_anon_mib", "peak_tree_mib", "documents")}
            shutil.rmtree(out)
    # Last, in this process: what it holds would otherwise count in the ru_maxrss of the children it starts.
    chunk = _chunk_bytes(files)
    with multiprocessing.get_context("fork").Pool(num_workers) as pool:
        per_file = pool.map(_units_of_file, files, chunksize=1)
    seen: set = set()
    for n, units in enumerate(per_file, start=1):
        seen.update(units)
        for prefix in prefixes:
            if prefix["files"] == n:
                prefix["distinct_units"] = len(seen)
    xs = [math.log(p["chars"]) for p in prefixes]
    ys = [math.log(p["distinct_units"]) for p in prefixes]
    beta, k = _fit(xs, ys)
    gamma, _ = _fit([math.log(p["distinct_units"]) for p in prefixes],
                    [math.log(max(p["merge_cpu_s"], 0.1)) for p in prefixes])
    return {"heaps_beta": round(beta, 3), "heaps_k": round(math.exp(k), 3), "merge_cpu_exponent": round(gamma, 2),
            "prefixes": prefixes, "create_pretraining_data": dupes, "chunk": chunk}


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = slope * x + intercept."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return slope, mean_y - slope * mean_x


# --- projections ------------------------------------------------------------------------------------------


def _averaged(runs: list[dict]) -> dict:
    """One run from several of the same size: CPU times averaged (they vary by some 10% from run to run on a shared
    machine), memory and sizes the largest seen."""
    merged = json.loads(json.dumps(runs[0]))
    for name, stage in merged["stages"].items():
        for key in ("cpu_s", "parent_cpu_s", "merge_cpu_s", "parent_cpu_pre_tokenize_s"):
            if key in stage:
                stage[key] = sum(run["stages"][name][key] for run in runs) / len(runs)
        for key in ("peak_tree_mib", "peak_worker_anon_mib"):
            stage[key] = max(run["stages"][name][key] for run in runs)
    return merged


def project(runs: list[dict], calibration: dict, sizes_gb: tuple[float, ...], cores: tuple[int, ...],
            dupe_factors: tuple[int, ...]) -> str:
    """Markdown tables of projected time and memory per stage, from scale runs of one size and the calibration.

    Time: each stage's CPU seconds per input byte, measured (CPU time: wall time here depends on what else the
    machine runs), spread over N cores, unless the stage's parent process, which works alone (it reads, feeds the
    workers, gathers and merges their results), needs longer: max(cpu / N, parent cpu) times the size ratio (a
    `*` marks a time bound by the parent). Plus build_vocab's merge loop, serial, which grows with the distinct
    units (the calibration's Heaps' law and merge exponent), not with the bytes. create_pretraining_data at dupe d:
    cpu(1) * (1 + (d - 1) * r), r the measured cost of one more round (the text is tokenized once), the parent's
    likewise. The loader: the shards' bytes over the measured verify rate of one thread (warm page cache) times N
    threads, which a disk caps below that rate (see the loader's cold numbers).
    Memory: the measured footprint of the tree (peak_tree_mib), plus a worker's anonymous memory for each worker
    beyond the measured ones; build_vocab's parent grows by the distinct units (the calibration's MiB per unit,
    for the count and for the merge); create_pretraining_data's parent holds up to 2 chunks a worker in flight
    (their documents, and at dupe d their d rounds of records: an upper bound), and each worker its d rounds
    twice (the rounds and their concatenation).
    """
    run = _averaged(runs)
    stages, measured_bytes = run["stages"], run["corpus"]["bytes"]
    prepare, vocab = stages["prepare"], stages["build_vocab"]
    chars_per_byte = prepare["output_chars"] / prepare["input_bytes"]
    prefixes = calibration["prefixes"]
    real, base = prefixes[-1], prefixes[0]
    beta, k, gamma = calibration["heaps_beta"], calibration["heaps_k"], calibration["merge_cpu_exponent"]

    def mib_per_unit(phase: str) -> float:
        return ((real[phase]["peak_parent_rss_mib"] - base[phase]["peak_parent_rss_mib"])
                / (real["distinct_units"] - base["distinct_units"]))

    def extra_workers(stage: dict, n: int) -> float:  # MiB
        return (n - (stage["max_processes"] - 1)) * stage["peak_worker_anon_mib"]

    def timed(cpu: float, parent: float, n: int) -> tuple[float, bool]:
        return max(cpu / n, parent), parent > cpu / n

    columns = ["prepare", "build_vocab"] + [f"data_{length}_dupe{d}" for length in (128, 512) for d in dupe_factors]
    rows = []
    for size in sizes_gb:
        scale = size * 1e9 / measured_bytes
        units = k * (size * 1e9 * chars_per_byte) ** beta
        more_units = units - real["distinct_units"]
        for n in cores:
            row: dict = {"size": size, "cores": n, "units": units}
            row["prepare"] = (*timed(prepare["cpu_s"] * scale, prepare["parent_cpu_s"] * scale, n),
                              prepare["peak_tree_mib"] + extra_workers(prepare, n))
            counting, bound = timed((vocab["cpu_s"] - vocab["merge_cpu_s"]) * scale,
                                    vocab["parent_cpu_pre_tokenize_s"] * scale, n)
            row["merge"] = real["merge_cpu_s"] * (units / real["distinct_units"]) ** gamma
            count_mib = (vocab["peak_tree_mib"] + extra_workers(vocab, n)
                         + mib_per_unit("pre_tokenize_memory") * more_units)
            merge_mib = real["merge_memory"]["peak_parent_rss_mib"] + mib_per_unit("merge_memory") * more_units
            row["build_vocab"] = (counting + row["merge"], bound, max(count_mib, merge_mib))
            for length in (128, 512):
                data = stages[f"create_pretraining_data_{length}"]
                one, two = (calibration["create_pretraining_data"][f"{length}_dupe{d}"] for d in (1, 2))
                round_cost = (two["cpu_s"] - one["cpu_s"]) / one["cpu_s"]
                parent_round_cost = (two["parent_cpu_s"] - one["parent_cpu_s"]) / one["parent_cpu_s"]
                round_mib = data["instances"] / (data["documents"] / 1000) * data["record_bytes"] / 2**20
                chunk_mib = calibration["chunk"]["python_bytes"] / 2**20
                measured_in_flight = 2 * (data["max_processes"] - 1)
                loader = data["loader"]
                per_thread = loader["shard_bytes"] / 1e9 / max(loader["open_and_verify_s"], 1e-9) / min(
                    2, data["shards"])
                for d in dupe_factors:
                    cpu = data["cpu_s"] * (1 + (d - 1) * round_cost) * scale
                    parent = data["parent_cpu_s"] * (1 + (d - 1) * parent_round_cost) * scale
                    in_flight = 2 * n * (chunk_mib + d * round_mib) - measured_in_flight * (chunk_mib + round_mib)
                    mib = data["peak_tree_mib"] + extra_workers(data, n) + in_flight + n * 2 * (d - 1) * round_mib
                    shard_gb = data["shard_bytes"]["total"] * d * scale / 1e9
                    row[f"data_{length}_dupe{d}"] = (*timed(cpu, parent, n), mib)
                    row[f"shards_{length}_dupe{d}"] = (shard_gb, shard_gb / (per_thread * n),
                                                       shard_gb / min(per_thread * n, DISK_GB_PER_S))
            rows.append(row)
    header = ("| corpus | cores | prepare | build_vocab (its merge loop) | "
              + " | ".join(f"data {length}, dupe {d}" for length in (128, 512) for d in dupe_factors) + " |\n"
              + "|---" * (2 + len(columns)) + "|")
    time_lines, memory_lines, shard_lines = [header], [header], [
        "| corpus | cores | " + " | ".join(f"{length}, dupe {d}" for length in (128, 512) for d in dupe_factors)
        + " |\n" + "|---" * (2 + 2 * len(dupe_factors)) + "|"]
    for row in rows:
        lead = f"| {row['size']:g} GB | {row['cores']} | "
        cells = [_duration(row[c][0]) + ("*" if row[c][1] else "") for c in columns]
        cells[1] += f" ({_duration(row['merge'])})"
        time_lines.append(lead + " | ".join(cells) + " |")
        memory_lines.append(lead + " | ".join(f"{row[c][2] / 1024:.1f}" for c in columns) + " |")
        shard_lines.append(lead + " | ".join("{:.0f} GB, {} ({})".format(
            *row[f"shards_{length}_dupe{d}"][:1], *map(_duration, row[f"shards_{length}_dupe{d}"][1:]))
            for length in (128, 512) for d in dupe_factors) + " |")
    units = ", ".join(f"{row['size']:g} GB: {row['units'] / 1e6:.2f} M" for row in rows[::len(cores)])
    return ("Time (wall; * bound by the stage's serial parent process):\n\n" + "\n".join(time_lines)
            + "\n\nPeak memory of the process tree (GiB):\n\n" + "\n".join(memory_lines)
            + "\n\nShards, and run_pretraining's open + verify before step 1 (one thread a shard, up to one a core, "
            f"at the measured rate of a thread on a warm page cache; in brackets from a disk of {DISK_GB_PER_S:g} "
            "GB/s):\n\n" + "\n".join(shard_lines)
            + f"\n\nDistinct pre-tokenized units (Heaps' law, beta {beta}): {units}\n")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


# --- the command ------------------------------------------------------------------------------------------


@click.command()
@click.option("--size_gb", type=float, default=0.5, show_default=True,
              help="Corpus size in GB (10^9 bytes of WikiExtractor files; at least this much).")
@click.option("--work_dir", type=click.Path(path_type=Path), default=None,
              help="Where the corpus and outputs go [default: /tmp/scale/<size_gb>].")
@click.option("--num_workers", type=int, default=2, show_default=True)
@click.option("--dupe_factor", type=int, default=1, show_default=True,
              help="create_pretraining_data's --dupe_factor (small to keep the time down; the default is 10).")
@click.option("--max_predictions_512", type=int, default=80, show_default=True,
              help="--max_predictions_per_seq at 512 (the README's recipe; 20 at 128 is the default).")
@click.option("--keep", is_flag=True, help="Keep the corpus, the prepared text and the shards.")
@click.option("--calibrate", "calibrate_run", is_flag=True,
              help="Instead: on the real kowiki files, build_vocab's merge loop against the distinct units, and "
              "the cost of a round of create_pretraining_data (see calibrate()).")
@click.option("--time_loader", "time_loader_dir", type=click.Path(exists=True, path_type=Path), default=None,
              hidden=True,
              help="Internal: time run_pretraining's data loading of this output directory, print JSON.")
@click.option("--project", "project_files", default=None,
              help="Instead: print the projection tables from the result.json of scale runs (those of the largest "
              "size given, averaged) and of --calibrate (comma-separated files).")
def main(size_gb, work_dir, num_workers, dupe_factor, max_predictions_512, keep, calibrate_run, time_loader_dir,
         project_files):
    if time_loader_dir:
        click.echo(json.dumps(time_loader(time_loader_dir)))
        return
    if project_files:
        loaded = [json.loads(Path(p).read_text(encoding="utf-8")) for p in project_files.split(",")]
        calibration = next(r for r in loaded if "heaps_beta" in r)
        largest = max(r["size_gb"] for r in loaded if "stages" in r)
        runs = [r for r in loaded if "stages" in r and r["size_gb"] == largest]
        click.echo(project(runs, calibration, (0.7, 20.0), (16, 64), (1, 10)))
        return
    if calibrate_run:
        work = work_dir or Path("/tmp/scale/calibrate")
        work.mkdir(parents=True, exist_ok=True)
        result = calibrate(work, num_workers, max_predictions_512)
        (work / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        click.echo(json.dumps(result, indent=1))
        return
    commit_at_start = git_commit()
    work = work_dir or Path(f"/tmp/scale/{size_gb:g}")
    if work.resolve().is_relative_to(ROOT):
        raise click.ClickException(f"{work}: inside the repository; the outputs are large, put them elsewhere")
    corpus, prepared, logs = work / "wiki", work / "prepared", work / "logs"
    vocab = work / "vocab.txt"
    work.mkdir(parents=True, exist_ok=True)
    for old in (corpus, prepared):
        if old.exists():
            shutil.rmtree(old)
    click.echo(f"[{time.strftime('%H:%M:%S')}] corpus: {size_gb} GB under {corpus}", err=True)
    corpus_info = build_corpus(corpus, int(size_gb * 1e9), num_workers)
    stages = {"prepare": stage_prepare(corpus, prepared, num_workers, logs, corpus_info)}
    if not keep:
        shutil.rmtree(corpus)
    stages["build_vocab"] = stage_vocab(prepared, vocab, num_workers, logs)
    for length, predictions in ((128, 20), (512, max_predictions_512)):
        out = work / f"data-{length}"
        stages[f"create_pretraining_data_{length}"] = stage_data(
            prepared, vocab, out, length, predictions, dupe_factor, num_workers, logs,
            input_chars=stages["build_vocab"]["input_chars"])
        if not keep:
            shutil.rmtree(out)
    if not keep:
        shutil.rmtree(prepared)
    result = {"size_gb": size_gb, "commit_at_start": commit_at_start, "commit_at_end": git_commit(),
              "num_workers": num_workers, "cores": os.cpu_count(),
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "corpus": corpus_info, "stages": stages}
    (work / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    click.echo(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
