"""Checks for the bad-input matrices: one line naming the culprit, a non-zero exit, no traceback, nothing
damaged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
from click.testing import CliRunner

from mecab_bert.cli import user_errors


def error_line(result) -> str:
    """The one "Error: ..." line of a click result that failed cleanly; fails the test otherwise."""
    assert result.exit_code not in (0, None), f"exit status 0:\n{result.output}"
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}:\n{result.output}"
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"expected one Error: line:\n{result.output}"
    return errors[0]


def assert_one_line_error(result, *names: str) -> str:
    """The run failed with one error line that names each of `names` (a file, a line, a flag, a field)."""
    line = error_line(result)
    for name in names:
        assert str(name) in line, f"{name!r} not in {line!r}"
    return line


def snapshot(root: str | Path) -> dict[str, str]:
    """Every file below `root` (hidden ones too) with the sha256 of its bytes: to assert nothing changed."""
    root = Path(root)
    if not root.exists():
        return {}
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_as_script(action) -> click.testing.Result:
    """Runs `action` the way every script runs its work: inside user_errors, which prints one "Error:" line."""

    @click.command()
    def command():
        with user_errors():
            action()

    return CliRunner().invoke(command, [])
