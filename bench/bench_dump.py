"""From a Wikipedia dump to pretraining text: `prepare_corpus.py DUMP` against WikiExtractor's command and then
`prepare_corpus.py` on its files, side by side in one run, on a dump made from the kowiki sample.

No real dump can be downloaded here, so the dump is built from the 48 kowiki files (WikiExtractor output of
Korean Wikipedia): each document becomes a page whose wikitext is its paragraphs, with the markup a real page
has around them (bold title, links, an infobox template, a table, references, categories), plus a redirect
for every tenth page; then it is bzip2-compressed as Wikimedia publishes it. Both ways run with the same
number of processes; the outputs must be the same bytes.

Reports JSON: the dump's size, the seconds, CPU seconds and peak memory (the process tree's summed RSS) of each
way, the rates (MB of XML/s, articles/s), and whether the bytes are equal.

Measured here (2 cores, 2 workers, a benchmark of another stage running alongside: two runs, rates rough):
  the dump: 12,080 articles, 55.1 MB of XML, 13.5 MB as .xml.bz2; both ways write the same bytes (48 files).
  WikiExtractor's command 10.1-25.6 s, then prepare_corpus.py 35.6-127.9 s: 45.7-153.5 s, 47.9-54.1 CPU-s,
      and 49.6 MB of intermediate files; peak memory 91 + 299 MiB (summed RSS of each process tree).
  prepare_corpus.py on the dump: 51.7-138.2 s, 49.2-53.4 CPU-s (8.8-9.8 of them the parent's: both passes
      over the XML, bzip2 and page parsing), peak 346-349 MiB; 0.88x-1.11x the two steps' time.
  So one pass costs what the two steps cost, without their intermediate files; its serial part is the
  parent's reading of the XML (~6 MB of XML per parent CPU-second, both passes), as in WikiExtractor.

Usage:
  python bench/bench_dump.py [--num_workers 2] [--copies 1] [--work_dir /tmp/bench_dump]
"""

from __future__ import annotations

import bz2
import glob
import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import click
from bench_scale import KOWIKI, PYTHON, public, read_wikiextractor, run_stage

from mecab_bert.testing.dumps import SITEINFO, page_xml

INFOBOX = """{| class="infobox"
! colspan="2" | {{{이름}}}
|-
| 분류 || {{{분류|문서}}}
|}"""


def wikitext(title: str, paragraphs: list[str], rng: random.Random) -> str:
    """A page's wikitext around its paragraphs: what WikiExtractor removes again (mostly)."""
    body = []
    for paragraph in paragraphs:
        words = paragraph.split(" ")
        if len(words) > 3:  # a link, sometimes piped
            i = rng.randrange(len(words))
            words[i] = f"[[{words[i]}]]" if rng.random() < 0.5 else f"[[{words[i]}|{words[i]}]]"
        body.append(" ".join(words) + (f"<ref>{title} 참고 문헌</ref>" if rng.random() < 0.2 else ""))
    return (f"{{{{정보상자|이름={title}}}}}\n'''{title}'''\n\n" + "\n\n".join(body)
            + f"\n\n== 같이 보기 ==\n* [[{title}]]\n\n[[분류:{title}]]")


def write_dump(path: Path, copies: int) -> dict:
    rng = random.Random(0)
    page_id, articles = 1, 0
    with bz2.open(path, "wt", encoding="utf-8") as out:
        out.write(SITEINFO)
        out.write(page_xml(page_id, "틀:정보상자", INFOBOX, ns=10))
        for copy in range(copies):
            for source in sorted(glob.glob(str(KOWIKI / "wiki_*"))):
                for _, title, paragraphs in read_wikiextractor(Path(source)):
                    page_id += 1
                    name = title if copy == 0 else f"{title} ({copy})"
                    out.write(page_xml(page_id, name, wikitext(name, paragraphs, rng)))
                    articles += 1
                    if page_id % 10 == 0:
                        page_id += 1
                        out.write(page_xml(page_id, f"{name} 넘겨주기", f"#넘겨주기 [[{name}]]", redirect=name))
        out.write("</mediawiki>\n")
    return {"articles": articles, "bz2_mb": round(path.stat().st_size / 1e6, 1)}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@click.command()
@click.option("--num_workers", default=2, show_default=True, help="Processes for both ways.")
@click.option("--copies", default=1, show_default=True, help="Copies of the kowiki sample in the dump.")
@click.option("--work_dir", default="/tmp/bench_dump", show_default=True, type=click.Path(path_type=Path))
def main(num_workers: int, copies: int, work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    dump = work_dir / "kowiki-bench-pages-articles.xml.bz2"
    start = time.perf_counter()
    info = write_dump(dump, copies)
    with bz2.open(dump, "rb") as reader:
        xml_bytes = sum(len(chunk) for chunk in iter(lambda: reader.read(1 << 20), b""))
    info.update(xml_mb=round(xml_bytes / 1e6, 1), made_s=round(time.perf_counter() - start, 1))
    logs = work_dir / "logs"
    workers = str(num_workers)
    two_step = {
        "wikiextractor": run_stage("wikiextractor", [PYTHON, "-m", "wikiextractor.WikiExtractor", str(dump), "-o",
                                                     str(work_dir / "text"), "--processes", workers, "-q"], logs),
        "prepare_corpus": run_stage("prepare_text", [PYTHON, "prepare_corpus.py", "--input_file",
                                                     str(work_dir / "text" / "*" / "wiki_*"), "--output_dir",
                                                     str(work_dir / "two_step"), "--num_workers", workers], logs),
    }
    one_pass = run_stage("prepare_dump", [PYTHON, "prepare_corpus.py", "--input_file", str(dump), "--output_dir",
                                          str(work_dir / "one_pass"), "--num_workers", workers], logs)
    two_seconds = sum(stage["seconds"] for stage in two_step.values())
    result = {
        "dump": info,
        "num_workers": num_workers,
        "two_step": {name: public(stage) for name, stage in two_step.items()},
        "two_step_seconds": round(two_seconds, 1),
        "one_pass": public(one_pass),
        "one_pass_xml_mb_per_s": round(info["xml_mb"] / one_pass["seconds"], 2),
        "one_pass_articles_per_s": round(info["articles"] / one_pass["seconds"], 1),
        "speedup": round(two_seconds / one_pass["seconds"], 2),
        "intermediate_mb": round(sum(p.stat().st_size for p in (work_dir / "text").rglob("*") if p.is_file()) / 1e6,
                                 1),
        "same_bytes": tree_digest(work_dir / "two_step") == tree_digest(work_dir / "one_pass"),
        "files": len(list((work_dir / "one_pass").rglob("wiki_*"))),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not result["same_bytes"]:
        raise SystemExit("the one-pass output differs from WikiExtractor + prepare_corpus")
    os.sync()


if __name__ == "__main__":
    main()
