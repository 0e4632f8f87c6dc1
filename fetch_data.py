# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Downloads a data set's files from their official addresses when not present: KorQuAD 1.0 or SQuAD 1.1 (train
and dev) for run_squad.py, KorSTS, KorNLI, NSMC, KLUE-STS, KLUE-NLI or YNAT for run_classifier.py, KLUE-NER.

    python fetch_data.py --dataset korquad --dest data/korquad
    python fetch_data.py --dataset korsts --dest data/korsts

Each file is checked before it is kept: its sha256 where it is pinned (KorQuAD dev, SQuAD dev, KorSTS, KorNLI's
XNLI part, KLUE's NER, STS and NLI dev), else its layout and size (KorQuAD train: 60,407 questions; a KLUE JSON file:
its records; KLUE-NER: its sentences; another text file: its lines), and it appears atomically. A file already in
--dest is checked the same way, before anything is downloaded; one that fails is reported, never deleted."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mecab_bert.cli import Command, OutputPath, flag, flag_options, user_errors
from mecab_bert.files import atomic_output
from text_input import InputError


def _squad_questions(data: Any) -> int:
    return sum(len(p["qas"]) for article in data["data"] for p in article["paragraphs"])


def _json_records(data: Any) -> int:
    if not isinstance(data, list):
        raise TypeError("the top level is not an array of records")
    return len(data)


def _text_lines(content: bytes) -> int:
    return len(content.splitlines())


def _blank_separated_blocks(content: bytes) -> int:
    """KLUE-NER's sentences: runs of lines between blank lines (the file's opening comment lines are in the first)."""
    lines = content.splitlines()
    return sum(1 for i, line in enumerate(lines) if line and (i == 0 or not lines[i - 1]))


@dataclass(frozen=True)
class Unit:
    """What a Remote's count counts, and how: `count` takes a file's bytes, or with `json` its parsed JSON value."""

    name: str  # plural, for messages: "questions"
    count: Callable[[Any], int]
    json: str | None = None  # the JSON layout, for the message when a file is not that: "SQuAD-format"


QUESTIONS = Unit("questions", _squad_questions, "SQuAD-format")
RECORDS = Unit("records", _json_records, "KLUE")
LINES = Unit("lines", _text_lines)
SENTENCES = Unit("sentences", _blank_separated_blocks)


@dataclass(frozen=True)
class Remote:
    url: str
    sha256: str | None  # None: not pinned, the count is checked instead
    count: int
    unit: Unit = LINES


_KORNLU = "https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/master"
_NSMC = "https://raw.githubusercontent.com/e9t/nsmc/master"
_KLUE = "https://raw.githubusercontent.com/KLUE-benchmark/KLUE/main/klue_benchmark"


def _klue(task: str, extension: str, train: int, dev: int, dev_sha256: str | None, unit: Unit) -> dict[str, Remote]:
    """A KLUE task's train and dev files (KLUE publishes no test labels), as klue_benchmark/<task>-v1.1/ names them."""
    return {f"{task}-v1.1_{split}.{extension}": Remote(f"{_KLUE}/{task}-v1.1/{task}-v1.1_{split}.{extension}", sha256,
                                                       count, unit)
            for split, count, sha256 in (("train", train, None), ("dev", dev, dev_sha256))}


DATASETS = {
    "korquad": {
        "KorQuAD_v1.0_train.json": Remote("https://korquad.github.io/dataset/KorQuAD_v1.0_train.json", None, 60407,
                                          QUESTIONS),
        "KorQuAD_v1.0_dev.json": Remote("https://korquad.github.io/dataset/KorQuAD_v1.0_dev.json",
                                        "25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf", 5774,
                                        QUESTIONS),
    },
    "squad": {
        "train-v1.1.json": Remote("https://rajpurkar.github.io/SQuAD-explorer/dataset/train-v1.1.json", None, 87599,
                                  QUESTIONS),
        "dev-v1.1.json": Remote("https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json",
                                "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9", 10570, QUESTIONS),
    },
    # run_classifier.py's tasks, as its processors name the files (a header line, then one example a line).
    "korsts": {
        "sts-train.tsv": Remote(f"{_KORNLU}/KorSTS/sts-train.tsv",
                                "b5aaa7f957d6ff46f4b6834a8b0f024a9234a6eefe9289aed66746b4533da3b8", 5750),
        "sts-dev.tsv": Remote(f"{_KORNLU}/KorSTS/sts-dev.tsv",
                              "d835b65b424401fbcce6be28a78159df8d61f5b19977ea7a0b83b8cb6105f393", 1501),
        "sts-test.tsv": Remote(f"{_KORNLU}/KorSTS/sts-test.tsv",
                               "13f83a3440d9db52d134eb40303ce021b03264aa338fbf2871c8786ce04d2105", 1380),
    },
    "kornli": {
        "multinli.train.ko.tsv": Remote(f"{_KORNLU}/KorNLI/multinli.train.ko.tsv", None, 392703),
        "xnli.dev.ko.tsv": Remote(f"{_KORNLU}/KorNLI/xnli.dev.ko.tsv",
                                  "821fb1c1c2e538ac2724a6132da36ffa379eb9a542ceb89243b3cf711377382c", 2491),
        "xnli.test.ko.tsv": Remote(f"{_KORNLU}/KorNLI/xnli.test.ko.tsv",
                                   "0db53cf8e182283a0d0404ec3fe1b15d1e29236d23d22082dc20d43067254b3e", 5011),
    },
    "nsmc": {
        "ratings_train.txt": Remote(f"{_NSMC}/ratings_train.txt", None, 150001),
        "ratings_test.txt": Remote(f"{_NSMC}/ratings_test.txt", None, 50001),
    },
    # KLUE v1.1: the train counts are the KLUE paper's (its table of data sizes), the dev files pinned.
    "klue-sts": _klue("klue-sts", "json", 11668, 519,
                      "b6a0ae0c370e21687f7eef0fdea872a328bb2ecbdb020c546cb870d28606bf80", RECORDS),
    "klue-nli": _klue("klue-nli", "json", 24998, 3000,
                      "0699db82be17766b26e199864e6260443e17ec6e91d1870e876419e388f245b1", RECORDS),
    "ynat": _klue("ynat", "json", 45678, 9107, None, RECORDS),
    "klue-ner": _klue("klue-ner", "tsv", 21008, 5000,
                      "0f4d5e818f7b82d299c3a87856fc40a706f5943207580ddb252397e387050a54", SENTENCES),
}


def check(name: str, content: bytes, remote: Remote) -> None:
    """Raises InputError unless `content` is the file we expect."""
    if remote.sha256 is not None and hashlib.sha256(content).hexdigest() != remote.sha256:
        raise InputError(f"{name}: sha256 {hashlib.sha256(content).hexdigest()} is not the expected {remote.sha256}")
    unit = remote.unit
    count = unit.count(content) if unit.json is None else _count_json(name, content, unit)
    if count != remote.count:
        raise InputError(f"{name}: {count} {unit.name}, expected {remote.count}")


def _count_json(name: str, content: bytes, unit: Unit) -> int:
    try:
        return unit.count(json.loads(content))
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{name}: not a {unit.json} JSON file ({error})") from None
    except RecursionError:  # brackets nested thousands deep
        raise InputError(f"{name}: not a {unit.json} JSON file (nested too deeply)") from None


def check_present(path: Path, remote: Remote) -> None:
    """check() on a file already there (a truncated download, another version, a hand-made file): InputError
    naming it. It is the user's file, so it is left for them to remove."""
    try:
        check(str(path), path.read_bytes(), remote)
    except InputError as error:
        raise InputError(f"{error}; remove it to download it again") from None


def fetch(dataset: str, dest: Path, remotes: dict[str, Remote] | None = None) -> list[Path]:
    """Checks each file of `dataset` that dest holds, then downloads and checks each one it lacks; returns the
    paths of all of them. Raises InputError naming the file that fails."""
    remotes = remotes or DATASETS[dataset]
    paths = {name: dest / name for name in remotes}
    for name, path in paths.items():  # all of them before any download, which may take minutes
        if path.exists():
            check_present(path, remotes[name])
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        if not path.exists():
            remote = remotes[name]
            click.echo(f"downloading {remote.url}", err=True)
            try:
                with urllib.request.urlopen(remote.url, timeout=60) as response:
                    content = response.read()
            except OSError as error:
                raise InputError(f"{remote.url}: download failed ({error})") from None
            check(name, content, remote)
            with atomic_output(path, binary=True) as writer:
                writer.write(content)
    return list(paths.values())


@dataclass(frozen=True)
class FetchFlags:
    dataset: str = flag("korquad", type=click.Choice(sorted(DATASETS)))
    dest: Path = flag(Path("data/korquad"), type=OutputPath(file_okay=False, path_type=Path))


@click.command(cls=Command)
@flag_options(FetchFlags)
def main(**values) -> None:
    """Download a data set's files (checking, not fetching, those already there)."""
    flags = FetchFlags(**values)
    with user_errors():
        for path in fetch(flags.dataset, flags.dest):
            click.echo(f"ready: {path}")


if __name__ == "__main__":
    main()
