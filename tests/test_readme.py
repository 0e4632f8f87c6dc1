"""Every command in the README's code blocks still works as written: make targets exist (`make -n`), bash
scripts parse, and each Python script's own parser accepts the flags (the runs themselves are too big for
a test; `make demo` runs for real in test_pipeline)."""

import importlib
import re
import shlex
import subprocess

import pytest
from conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def script_arguments(words: list[str]) -> tuple[str, list[str]]:
    """(script, its arguments) of a python or torchrun command line."""
    position = next(i for i, w in enumerate(words) if w.endswith(".py"))
    return words[position], words[position + 1:]


def test_the_readme_has_commands():
    commands = readme_commands()
    assert commands[:2] == ["make demo", "make test"]
    assert len(commands) >= 15


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command(command):
    words = shlex.split(command)
    while "=" in words[0] and not words[0].startswith("-"):  # VARIABLE=value prefixes
        words = words[1:]
    if words[0] == "make":
        done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    elif words[0] == "bash":
        assert subprocess.run(["bash", "-n", words[1]], cwd=ROOT).returncode == 0
    else:
        assert words[0] in ("python", "torchrun"), command
        script, arguments = script_arguments(words)
        assert (ROOT / script).is_file(), script
        main = importlib.import_module(script.removesuffix(".py")).main
        main.make_context(script, arguments)  # raises on an unknown flag, a bad value or a missing one
