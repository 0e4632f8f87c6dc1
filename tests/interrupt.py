"""Ctrl-C for the scripts that run worker processes: SIGINT to the whole process group, as a terminal sends it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT


@dataclass(frozen=True)
class Interrupted:
    returncode: int
    stderr: str
    seconds: float  # from the signal to the exit
    left_running: int  # processes of its group still alive after its exit (workers that outlived it)


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    state: str
    parent: int
    group: int


def processes() -> list[ProcessInfo]:
    """Every process, read from /proc (Linux only)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        state, parent, group = stat.rpartition(")")[2].split()[:3]  # the fields after "(name)"
        found.append(ProcessInfo(int(entry), state, int(parent), int(group)))
    return found


def interrupt(script: str, args: Sequence[str], workers: int, ready: Callable[[], bool] = lambda: True,
              timeout: float = 60) -> Interrupted:
    """Runs `script` with `args` in a process group of its own; once it has `workers` child processes (given some
    time to start working) and `ready()` holds, sends SIGINT to the group and waits for the script to exit."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("counting a script's worker processes needs Linux's /proc")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:  # not a pipe: progress bars could fill it
        process = subprocess.Popen([sys.executable, str(ROOT / script), *args], stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while sum(p.parent == process.pid for p in processes()) < workers or not ready():
                assert process.poll() is None, f"{script} ended before it could be interrupted"
                assert time.monotonic() < deadline, f"{script} did not start {workers} workers"
                time.sleep(0.05)
            time.sleep(0.5)  # the workers past their initializer, busy with a task
            assert process.poll() is None, f"{script} ended before it could be interrupted"
            os.killpg(process.pid, signal.SIGINT)
            start = time.monotonic()
            returncode = process.wait(timeout)
            seconds = time.monotonic() - start
            time.sleep(0.2)
            left_running = sum(p.group == process.pid and p.state != "Z" for p in processes())
        finally:  # whatever is left of the group: the script if a check failed, workers that outlived it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        stderr.seek(0)
        return Interrupted(returncode, stderr.read(), seconds, left_running)
