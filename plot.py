# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Draws the loss and accuracy curves of one or more training runs (their metrics.jsonl) to a PNG.

    python plot.py --output_dir out/pretrain [--output_dir out/other ...] --out_file curves.png

Needs matplotlib (`pip install -e ".[plot]"`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from script_utils import Command, InputError, atomic_output, user_errors

PANELS = (("loss", "training loss"), ("masked_lm_accuracy", "masked LM accuracy"),
          ("next_sentence_accuracy", "next sentence accuracy"))


def read_metrics(output_dir: str | Path) -> list[dict]:
    """The records of output_dir/metrics.jsonl; a clear error when there is none."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: no such file (has this run logged a step yet?)")
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):  # a run being written, or one a crash cut in the middle of a line
                break
            raise InputError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(records[-1], dict) or not isinstance(records[-1].get("step"), int):
            raise InputError(f"{path}:{number}: not a metrics record (a JSON object with a step)")
    return records


def plot_runs(runs: dict[str, list[dict]], out_file: str | Path) -> Path:
    """One panel per metric any run has, one line per run; returns the PNG's path."""
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
        figure.savefig(writer, dpi=120, format=Path(out_file).suffix.lstrip(".").lower() or "png")
    plt.close(figure)
    return Path(out_file)


@click.command(cls=Command)
@click.option("--output_dir", "output_dirs", multiple=True, required=True,
              help="A run's --output_dir (with metrics.jsonl); repeat to compare runs.")
@click.option("--out_file", default="curves.png", show_default=True, help="The PNG to write.")
def main(output_dirs: tuple[str, ...], out_file: str) -> None:
    """Plot loss and accuracy curves from metrics.jsonl."""
    with user_errors(ImportError):
        path = plot_runs({d: read_metrics(d) for d in output_dirs}, out_file)
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
