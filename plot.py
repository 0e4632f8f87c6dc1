# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Draws the loss and accuracy curves of one or more training runs (their metrics.jsonl) to an image.

    python plot.py --output_dir out/pretrain [--output_dir out/other ...] --out_file curves.png

The --out_file suffix picks the format (png, pdf, svg, ...: any that matplotlib writes; png without one).
Needs matplotlib (`pip install -e ".[plot]"`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mecab_bert.cli import INPUT_PATH, OUTPUT_PATH, Command, flag, flag_options, user_errors
from mecab_bert.files import atomic_output, shown
from text_input import InputError

PANELS = (("loss", "training loss"), ("masked_lm_accuracy", "masked LM accuracy"),
          ("next_sentence_accuracy", "next sentence accuracy"))
PLOTTED = tuple(key for key, _ in PANELS)
# How many of a file's keys an error lists when none of them is one to plot.
KEYS_SHOWN = 10


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float: matplotlib could not place it either
        return False


def check_record(record: Any, where: str) -> dict:
    """`record` if it is a metrics record: a JSON object with a step (an integer >= 0) and each plotted value a
    finite number, or absent; InputError naming `where` (file:line) and the field otherwise."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: not a metrics record (a JSON object with a step)")
    if "step" not in record:
        raise InputError(f"{where}: step is missing")
    step = record["step"]
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 2**63:
        raise InputError(f"{where}: step must be an integer >= 0, not {shown(step)}")
    for key in PLOTTED:
        if key in record and not _is_finite_number(record[key]):
            raise InputError(f"{where}: {key} must be a finite number, not {shown(record[key])}")
    return record


def read_metrics(output_dir: str | Path) -> list[dict]:
    """The records of output_dir/metrics.jsonl, each checked (see check_record); InputError naming the file (and
    line) when there is none, when a line is no record, or when no record has a value to plot."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: no such file (has this run logged a step yet?)")
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:  # RecursionError: brackets nested thousands deep
            if number == len(lines):  # a run being written, or one a crash cut in the middle of a line
                break
            raise InputError(f"{path}:{number}: not JSON ({getattr(error, 'msg', error)})") from None
        records.append(check_record(record, f"{path}:{number}"))
    if not any(key in record for record in records for key in PLOTTED):
        keys = sorted({key for record in records for key in record})
        has = (f"its records have only {', '.join(keys[:KEYS_SHOWN])}{', ...' if len(keys) > KEYS_SHOWN else ''}"
               if records else "it has no record yet")
        raise InputError(f"{path}: nothing to plot: no {', no '.join(PLOTTED)} ({has})")
    return records


def image_format(out_file: str | Path) -> str:
    """The format `out_file` is written in: its suffix, png without one; InputError naming --out_file when
    matplotlib writes no such format (it would fail only after drawing, without naming the flag)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    suffix = Path(out_file).suffix.lstrip(".").lower() or "png"
    formats = FigureCanvasAgg.get_supported_filetypes()
    if suffix not in formats:
        raise InputError(f"{out_file}: --out_file must end in a format matplotlib writes ({', '.join(sorted(formats))})"
                         f", not .{suffix}")
    return suffix


def plot_runs(runs: dict[str, list[dict]], out_file: str | Path) -> Path:
    """One panel per metric any run has, one line per run, in the format out_file's suffix names; returns its path."""
    file_format = image_format(out_file)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, title) for key, title in PANELS if any(key in r for records in runs.values() for r in records)]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for axis, (key, title) in zip(axes[0], panels, strict=True):
        for name, records in runs.items():
            points = [(r["step"], r[key]) for r in records if key in r]
            axis.plot([s for s, _ in points], [v for _, v in points], label=name)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    with atomic_output(out_file, binary=True) as writer:
        figure.savefig(writer, dpi=120, format=file_format)
    plt.close(figure)
    return Path(out_file)


@dataclass(frozen=True)
class PlotFlags:
    output_dir: tuple[str, ...] = flag(help="A run's --output_dir (with metrics.jsonl); repeat to compare runs.",
                                       multiple=True, type=INPUT_PATH)
    out_file: str = flag("curves.png", "The image to write: its suffix picks the format (png, pdf, svg, ...).",
                         OUTPUT_PATH)


@click.command(cls=Command)
@flag_options(PlotFlags)
def main(**values) -> None:
    """Plot loss and accuracy curves from metrics.jsonl."""
    flags = PlotFlags(**values)
    with user_errors(ImportError):
        path = plot_runs({d: read_metrics(d) for d in flags.output_dir}, flags.out_file)
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
