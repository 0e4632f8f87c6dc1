"""Peak memory of prepare_corpus.py on hostile input: one huge paragraph with no white space.

Writes a WikiExtractor file holding one document whose one paragraph is `--megabytes` MB of Korean without
white space (the kowiki text with its white space removed, or one syllable repeated with `--text syllable`),
runs `prepare_corpus.py --output_file` on it in a subprocess and reports that process's peak RSS
(`ru_maxrss` of the finished child), its time and what it wrote (sentences, sha256). `--script` runs another
version, e.g. the committed one: `git show HEAD:prepare_corpus.py > /tmp/old.py` (it is run from the
repository root, so it imports this tree's modules). Prints JSON.

    python bench/bench_prepare_memory.py [--megabytes 5] [--text kowiki|syllable] [--script prepare_corpus.py]
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
KOWIKI = ROOT.parent / "shared" / "data" / "kowiki"
# Stands in for kowiki when it is absent: sentences with endings and periods, as in an article.
FALLBACK_TEXT = "지미카터는조지아주에서태어났다.그는해군에들어가승무원으로일하였다.1976년대통령선거에출마하여당선됐다."


def hostile_paragraph(size: int, text: str) -> str:
    """About `size` bytes of UTF-8 Korean without white space, as one line."""
    if text == "syllable":
        return "가" * (size // 3)
    files = sorted(glob.glob(str(KOWIKI / "wiki_*")))
    source = "".join(Path(f).read_text(encoding="utf-8") for f in files[:8]) if files else FALLBACK_TEXT
    source = re.sub(r"<[^>]*>|\s+", "", source)
    repeated = source * (size // len(source.encode()) + 1)
    return repeated.encode()[:size].decode(errors="ignore")


def peak_rss_run(command: list[str]) -> tuple[float, int]:
    """Runs `command` to completion; returns its seconds and its peak RSS in bytes (Linux: ru_maxrss in KiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise click.ClickException("a previous child had a higher peak: run one measurement per process")
    return seconds, peak * 1024


@click.command()
@click.option("--megabytes", default=5.0, show_default=True, help="Size of the paragraph in MB (10^6 bytes).")
@click.option("--text", type=click.Choice(["kowiki", "syllable"]), default="kowiki", show_default=True)
@click.option("--script", default=str(ROOT / "prepare_corpus.py"), show_default=True, help="The script to run.")
def main(megabytes: float, text: str, script: str) -> None:
    paragraph = hostile_paragraph(int(megabytes * 1e6), text)
    with tempfile.TemporaryDirectory() as work:
        input_path = Path(work) / "wiki_00"
        input_path.write_text(f'<doc id="1" url="u" title="t">\nt\n\n{paragraph}\n</doc>\n', encoding="utf-8")
        output_path = Path(work) / "out.txt"
        seconds, peak = peak_rss_run([sys.executable, script, "--input_file", str(input_path),
                                      "--output_file", str(output_path)])
        output = output_path.read_text(encoding="utf-8")
    lines = output.splitlines()
    print(json.dumps({
        "script": script,
        "text": text,
        "paragraph_bytes": len(paragraph.encode()),
        "paragraph_chars": len(paragraph),
        "peak_rss_mib": round(peak / 2**20),
        "seconds": round(seconds, 1),
        "sentences": sum(1 for line in lines if line),
        "longest_line_chars": max(map(len, lines)),
        "output_sha256": hashlib.sha256(output.encode()).hexdigest(),
    }, indent=2))


if __name__ == "__main__":
    main()
