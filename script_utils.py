# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""What the scripts share: input globs, UTF-8 lines with file:line errors, atomic and durable output (files
and whole folders), sha256, one-line errors, and boolean flags that read like Google's (`--do_lower_case`,
`--do_lower_case=False`)."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import errno
import glob
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from text_input import InputError as InputError
from text_input import decode_utf8_lines as decode_utf8_lines
from text_input import read_utf8_lines as read_utf8_lines

# What every script reports as one line (bad data, flags, files, a full or read-only disk), never a traceback.
# EOFError: torch.load and numpy raise it on an empty or truncated file (click would print a bare "Aborted!").
# MemoryError: a batch or model too large for this machine.
USER_ERRORS = (InputError, ValueError, OSError, EOFError, MemoryError)


def describe_error(error: BaseException) -> str:
    """One line for a user error: an OSError names its file and says what the disk said."""
    if isinstance(error, OSError):
        text = f"{error.filename}: {error.strerror or error}" if error.filename is not None else str(error)
        if error.errno == errno.ENOSPC:
            text += " (the disk is full; nothing was replaced)"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            text += " (cannot write or read there; nothing was replaced)"
    elif isinstance(error, MemoryError):
        text = f"out of memory ({error or 'a batch or a model too large for this machine'}); lower the batch size"
    elif isinstance(error, EOFError):
        text = f"a file ended early (empty or truncated): {error}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


@contextlib.contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turns USER_ERRORS (and `kinds`) raised in the block into click's one-line "Error: ..." and exit 1."""
    try:
        yield
    except (*USER_ERRORS, WorkerDiedError, *kinds) as error:
        raise click.ClickException(describe_error(error)) from None


def input_patterns(spec: str) -> list[str]:
    """The files and glob patterns of a comma-separated --input_file list, in order."""
    return [p.strip() for p in spec.split(",") if p.strip()]


def expand_input_files(spec: str) -> list[str]:
    """Expands a comma-separated list of files and glob patterns, in order, without duplicates.

    Raises InputError if a pattern matches no file or names a folder.
    """
    paths: list[str] = []
    for pattern in input_patterns(spec):
        # A file whose name holds glob characters (`notes[1].txt`) is itself, not a pattern.
        matches = [pattern] if os.path.isfile(pattern) else sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matches:
            if glob.has_magic(pattern):
                raise InputError(f"{pattern}: matches no file")
            if os.path.isdir(pattern):
                raise InputError(f"{pattern}: is a folder (give its files, e.g. '{pattern}/*')")
            if os.path.exists(pattern):
                raise InputError(f"{pattern}: not a regular file (a pipe or a device); give a file")
            raise InputError(f"{pattern}: no such file")
        paths.extend(path for path in matches if path not in paths)
    if not paths:
        raise InputError("no input file given")
    return paths


def read_json(path: str | os.PathLike, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
              ) -> Any:
    """The JSON value of a UTF-8 file (a BOM allowed), or an InputError naming the file (and line): UTF-16,
    invalid UTF-8, invalid JSON, nesting too deep, or a ValueError of `object_pairs_hook` (a key twice)."""
    text = "\n".join(read_utf8_lines(path))
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})") from None
    except RecursionError:  # brackets nested thousands deep
        raise InputError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a key given twice is an error (json keeps the last one without a word)."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in values:
            raise ValueError(f"key {shown(key)} appears twice")
        values[key] = value
    return values


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], flag: str) -> None:
    """InputError when an output would replace one of the inputs (the same file by any path)."""
    target = os.path.realpath(output)
    for path in inputs:
        if path is not None and os.path.realpath(path) == target:
            raise InputError(f"{output}: {flag} would overwrite the input {path}")


def check_holds_none(folder: str | os.PathLike, paths: Iterable[str | os.PathLike | None], flag: str) -> None:
    """InputError when an output folder that is replaced whole (an export) is, or holds, one of `paths` (the
    run's outputs and inputs)."""
    for path in filter(None, paths):
        if Path(path).resolve().is_relative_to(Path(folder).resolve()):
            raise InputError(f"{flag} {folder} is {path} or holds it (an output or an input of this run): an export "
                             f"replaces its folder whole, so name a folder of its own")


def shown(value: Any, limit: int = 60) -> str:
    """A value as JSON writes it (so "768" keeps its quotes and true stays true), cut short for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def fsync_path(path: str | os.PathLike) -> None:
    """Makes a file's bytes, or a folder's names (a rename, a new file), survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_temporary(path: str | os.PathLike) -> tuple[int, str]:
    """A new file beside `path` (`.name.<random>.tmp`, cleaned up by remove_temporaries), opened for writing."""
    directory, name = os.path.split(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a file")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{path}: {directory} is a file, not a folder")
    temporary = os.path.join(directory, f".{name}.~{secrets.token_hex(4)}.tmp")
    try:
        return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
    except OSError as error:  # name the output, not a temporary the user never asked for
        raise OSError(error.errno, error.strerror, str(path)) from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Opens a temporary file beside `path` and moves it to `path` when the block succeeds.

    The file and then its folder are fsync'ed around the rename, so after a crash or a power loss `path` is
    either the old file or the whole new one. On an exception the temporary file is removed and `path` is
    left as it was.
    """
    if os.path.islink(path):  # a symlink stays a link: the file it points to is replaced
        path = os.path.realpath(path)
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        # A device or a pipe (/dev/stdout, /dev/null): written to, never replaced by a regular file.
        with open(path, "wb") if binary else open(path, "w", encoding="utf-8", newline="\n") as writer:
            yield writer
        return
    fd, temporary = create_temporary(path)
    try:
        with open(fd, "wb") if binary else open(fd, "w", encoding="utf-8", newline="\n") as writer:
            yield writer
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, path)
        fsync_path(os.path.dirname(os.path.abspath(path)))
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename is None:  # a full disk names no file: name it
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise


def _missing_folders(path: str) -> list[str]:
    """The folders above the file `path` that do not exist yet, outermost first.

    Raises:
      InputError: if one of the folders above `path` is a file.
    """
    folder = os.path.dirname(os.path.normpath(path)) or "."
    missing = []
    while not os.path.isdir(folder):
        if os.path.exists(folder):
            raise InputError(f"{path}: {folder} is a file, not a folder")
        missing.append(folder)
        folder = os.path.dirname(folder) or "."
    return missing[::-1]


@contextlib.contextmanager
def missing_folders_made(paths: Iterable[str]) -> Iterator[list[str]]:
    """Makes the folders missing above each of `paths` and yields them, outermost first; when the block fails,
    removes them again (those it left empty), so that a failed run leaves no new folder behind.

    Raises:
      InputError: if one of the folders above a path is a file.
    """
    made: list[str] = []
    try:
        for path in paths:
            for folder in _missing_folders(path):
                os.mkdir(folder)
                made.append(folder)
        yield made
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise


def write_json(path: str | os.PathLike, value: Any) -> None:
    """`value` as indented UTF-8 JSON (Korean kept readable), written atomically."""
    with atomic_output(path) as writer:
        json.dump(value, writer, ensure_ascii=False, indent=2)
        writer.write("\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8 text, written atomically."""
    with atomic_output(path) as writer:
        writer.write(text)


# What create_temporary and atomic_directory name their temporaries: `.name.~<8 random characters>.tmp` (and
# `.name.~old<8>.tmp` for a folder being replaced); the `~` keeps a user's `.backup.20240101.tmp` theirs.
TEMPORARY_NAME = re.compile(r"\..+\.~(old)?[a-z0-9_]{8}\.tmp")


def remove_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Removes what a killed atomic write left in `directory` (`.name.<random>.tmp` files and folders); other
    hidden files, even ones ending in .tmp, are the user's."""
    removed = []
    found = Path(directory).glob(".*.tmp") if Path(directory).is_dir() else []
    for path in (p for p in found if TEMPORARY_NAME.fullmatch(p.name)):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _sync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(os.path.join(folder, name))
        fsync_path(folder)


def _clean_up_after_a_kill(target: Path) -> None:
    """What a killed atomic_directory left beside target: an old folder set aside mid-swap goes back in place
    (when nothing took its place), then this target's own temporaries go."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.~(old)?[a-z0-9_]{{8}}\.tmp")
    leftovers = [p for p in target.parent.glob(".*.tmp") if pattern.fullmatch(p.name)]
    for leftover in leftovers:
        if leftover.name.startswith(f".{target.name}.~old") and (leftover / target.name).exists() \
                and not target.exists():
            os.replace(leftover / target.name, target)
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, replace: bool, owns: Callable[[str], bool], flag: str
                     ) -> Iterator[Path]:
    """Builds a folder under a temporary name beside `path`, and swaps it in for `path` when the block succeeds.

    An existing `path` is replaced only with `replace` (else InputError naming `flag`), and only if every
    name in it is one this output writes (`owns(name)`): a folder that holds anything else is never
    deleted. The old folder stays whole until the new one is complete and on disk. On an exception the
    temporary folder is removed and `path` is left as it was.
    """
    # Through a symlink the folder it points to is replaced, and the link stays.
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not replace:
            raise InputError(f"{target}: not empty; pass {flag} to replace it")
        foreign = sorted(p.name for p in target.iterdir() if not owns(p.name))
        if foreign:
            raise InputError(f"{target}: holds files this script did not write ({', '.join(foreign[:5])}); "
                             f"{flag} replaces only its own output: move them, or choose another folder")
    # The folders made for it are removed again if it fails: a failed run leaves nothing behind.
    with missing_folders_made([str(target)]):
        _clean_up_after_a_kill(target)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.~", suffix=".tmp", dir=target.parent))
        except OSError as error:  # a read-only folder: name the output, not the temporary
            raise OSError(error.errno, error.strerror, str(target)) from None
        retired: Path | None = None
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; an output is meant to be shared
            yield staging
            _sync_tree(staging)
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.~old", suffix=".tmp", dir=target.parent))
                os.replace(target, retired / target.name)
                os.replace(staging, target)
                fsync_path(target.parent)
                shutil.rmtree(retired)
            else:
                os.replace(staging, target)
                fsync_path(target.parent)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if retired is not None and (retired / target.name).exists() and not target.exists():
                os.replace(retired / target.name, target)  # interrupted between the two renames: put the old one back
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
            if isinstance(error, OSError) and str(error.filename or "").startswith(str(staging)):
                # Name the file as the user knows it, not inside a temporary folder they never asked for.
                inside = Path(error.filename).relative_to(staging)
                named = target.joinpath(*(part[1:].rsplit(".", 2)[0] if part.endswith(".tmp") else part
                                          for part in inside.parts))
                raise OSError(error.errno, error.strerror, str(named)) from None
            raise


def start_worker(parent: int) -> None:
    """The start of every worker process of a script (a process pool's initializer, with `os.getpid()` of the
    script): Ctrl-C stops the script alone, which then winds the pool down (not a traceback from every idle
    worker), and on Linux the worker dies with the script (PR_SET_PDEATHSIG), so that a script killed outright
    (SIGTERM, SIGKILL, the OOM killer) leaves no worker waiting forever, nor the shared memory it holds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the script's own handler (Command.invoke), copied by fork
    # Forked while the script held both back (_signals_held): a SIGTERM sent since then kills it now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent:  # the script died before prctl took effect
            os._exit(1)


class WorkerDiedError(RuntimeError):
    """A worker process of a script died (killed by a signal, or out of memory): one line, like bad input."""


def ordered_map(function: Callable[[Any], Any], items: Iterable[Any], num_workers: int,
                initializer: Callable[..., None] = start_worker, initargs: tuple = ()) -> Iterator[Any]:
    """`map(function, items)` in `num_workers` forked processes, in order, with at most two items a worker in
    flight, so that reading never runs ahead of writing by more.

    `initializer(os.getpid(), *initargs)` starts each worker; it must call start_worker. Fork, so that workers
    share what the script has read (templates, a vocab) without pickling it. On an exception, Ctrl-C and SIGTERM
    included, the workers are stopped at once (a worker stuck on one item must not hold the script), the items
    are dropped, and the exception goes on. A worker that dies (killed, out of memory) is a WorkerDiedError.
    """
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    try:
        # A signal while the pool forks its workers would land in an at-fork hook, which swallows it (the run
        # then went on, or hung at exit): held back until the workers have started, then raised here.
        with _signals_held():
            pool = concurrent.futures.ProcessPoolExecutor(
                num_workers, mp_context=multiprocessing.get_context("fork"), initializer=initializer,
                initargs=(os.getpid(), *initargs))
            items = iter(items)
            pending: collections.deque[concurrent.futures.Future] = collections.deque()
            for item in itertools.islice(items, 1):
                pending.append(pool.submit(function, item))  # the first submit forks every worker
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * num_workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except concurrent.futures.process.BrokenProcessPool:
        _stop_workers(pool)
        raise WorkerDiedError("a worker process died (killed by a signal, or out of memory); nothing was replaced"
                         ) from None
    except BaseException:
        if pool is not None:
            _stop_workers(pool)
        raise
    else:
        assert pool is not None
        pool.shutdown(wait=True)


# What _signals_held holds back: Ctrl-C, and SIGTERM (which Command.invoke makes a Ctrl-C).
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Holds Ctrl-C and SIGTERM back for the block and raises them at its end. The mask, so that forked workers
    start with them blocked (start_worker unblocks them); a recording handler too, because another thread
    (tqdm's monitor) takes a signal this thread blocks, and Python then runs the handler in this thread anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    handlers = {number: signal.getsignal(number) for number in _HELD}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        for number, handler in handlers.items():
            if callable(handler):
                signal.signal(number, lambda signum, frame: caught.append(signum))
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for number in dict.fromkeys(caught):
        handler = handlers[number]
        if callable(handler):
            handler(number, None)  # raises KeyboardInterrupt


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor, grace: float = 5.0) -> None:
    """Cancels what is queued and terminates the workers (what Python 3.14's terminate_workers does), without
    leaving the pool's manager thread waiting for ever on a result a terminated worker was writing.

    This reads the executor's private attributes (3.10-3.13 have them): the standard library has no way to
    stop a pool's workers before 3.14.
    """
    workers = dict(pool._processes or {})  # shutdown forgets them
    manager, results = pool._executor_manager_thread, pool._result_queue
    if pool._call_queue is not None:  # 3.10: its feeder thread may be blocked on a pipe no worker reads any more
        pool._call_queue.cancel_join_thread()
    with contextlib.suppress(RuntimeError):  # a signal as the pool started: "cannot join thread before it is started"
        pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers.values():
        with contextlib.suppress(ValueError, OSError):  # already closed, already gone
            worker.terminate()
    for worker in workers.values():
        with contextlib.suppress(ValueError, OSError):
            worker.join(grace)
            if worker.is_alive():
                worker.kill()
                worker.join()
    # A worker killed while it wrote a result leaves the manager thread in recv() for the rest: with the last
    # write end closed it gets EOF, marks the pool broken and ends (else the exit would join it for ever).
    if results is not None:
        results._writer.close()
    if manager is not None and manager.is_alive():
        manager.join()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes. A pipe cannot be read a second time (it would hash as empty, or block): an
    InputError."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{path}: not a regular file (a pipe?); its sha256 goes into the run's record, which needs "
                         f"a file it can read again: save it to a file first")
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FiniteFloat(click.FloatRange):
    """A float flag within a range; NaN and infinity are refused (a range check lets NaN through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class OutputPath(click.Path):
    """click.Path for a path to write to: an empty string (the current folder, or a file named '') is refused."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("an empty path", param, ctx)
        return super().convert(value, param, ctx)


# Flag types: a value out of range is click's one-line error naming the flag.
POSITIVE = click.IntRange(min=1)
FLOAT32_MAX = 3.4e38  # a rate the optimizer's float32 state can hold (a larger one overflows inside torch)
NON_NEGATIVE = click.IntRange(min=0)
# --num_workers: processes are forked all at once, so a typo of a huge number must not fork-bomb the machine.
WORKERS = click.IntRange(min=1, max=1024)
SEED = click.IntRange(0, 2**63 - 1)  # what numpy's and torch's seeding take
POSITIVE_FLOAT = FiniteFloat(min=0, min_open=True)
FINITE_FLOAT = FiniteFloat()
PROBABILITY = FiniteFloat(0, 1)
OUTPUT_PATH = OutputPath()


class Command(click.Command):
    """click's command, with usage errors (a bad flag value, a missing flag) on one line too: click prints the
    usage and a hint above them, so the line that names the flag would not be the first."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        terminate = signal.getsignal(signal.SIGTERM)
        # Not in a distributed run (torchrun, srun): its launcher stops the other processes with SIGTERM when one
        # fails, and one blocked in a collective would then wait out the launcher's grace period instead of dying.
        if (threading.current_thread() is threading.main_thread() and terminate == signal.SIG_DFL
                and "TORCHELASTIC_RUN_ID" not in os.environ and int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1):
            signal.signal(signal.SIGTERM, _interrupt_on_terminate)
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _one_line(error) from None
        finally:
            if signal.getsignal(signal.SIGTERM) is _interrupt_on_terminate:
                signal.signal(signal.SIGTERM, terminate)


def _interrupt_on_terminate(signum: int, frame: Any) -> None:
    """SIGTERM (`kill`, `timeout`, Slurm, docker stop) as Ctrl-C: the script cleans up (temporaries, workers,
    an earlier output put back) and says "Aborted!", instead of dying with its temporaries left behind. A
    second SIGTERM ends it at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt


def _one_line(error: click.UsageError) -> click.UsageError:
    error.ctx = None
    error.message = f"{error.message.rstrip()} (see --help)".lstrip()  # MissingParameter adds its own text
    return error


def bool_option(name: str, default: bool, help_text: str):
    """A click option that takes `--flag`, `--flag=True` and `--flag=False`, like Google's absl flags."""
    return click.option(name, type=click.BOOL, default=default, is_flag=False, flag_value=True, show_default=True,
                        help=help_text)


# --- flags, each declared once -------------------------------------------------------------------------
# A script's flags are a frozen dataclass whose fields are the flags: `flag()` gives a field its default, type and
# help, and `flag_options(Flags)` turns the fields into the click command's options. The default is written
# only there; the flags every training script takes are TrainingFlags, inherited by each script's own.


@dataclasses.dataclass(frozen=True)
class _FlagSpec:
    help: str
    type: click.ParamType | None


def flag(default: Any = dataclasses.MISSING, help: str = "", type: click.ParamType | None = None) -> Any:
    """A flags-dataclass field that is also the option `--<field name>`; no default makes the flag required.
    A bool default, or the type click.BOOL (a `bool | None` flag, None when not given), makes a Google-style
    boolean (`--do_train`, `--do_train=False`)."""
    return dataclasses.field(default=default, metadata={"flag": _FlagSpec(help, type)})


def flag_options(flags_class: type) -> Callable[[Callable], Callable]:
    """Decorates a click command with one option per field of `flags_class`, so that `main(**flags)` can build
    `flags_class(**flags)`. --help lists the script's own flags first, then those it shares (fine-tuning, then
    the loop's): each field where the most derived class declares it."""
    fields = {field.name: field for field in dataclasses.fields(flags_class)}
    names = dict.fromkeys(name for cls in flags_class.__mro__ for name in vars(cls).get("__annotations__", {})
                          if name in fields)
    ordered = [fields[name] for name in names]

    def decorate(command: Callable) -> Callable:
        for field in reversed(ordered):
            spec: _FlagSpec = field.metadata["flag"]
            name, required = f"--{field.name}", field.default is dataclasses.MISSING
            if isinstance(field.default, bool) or spec.type is click.BOOL:  # bool, or bool | None (unset)
                command = bool_option(name, field.default, spec.help)(command)
            elif required:  # no default at all: click (>= 8.3) would take an explicit None for one
                command = click.option(name, type=spec.type, required=True, help=spec.help)(command)
            else:
                command = click.option(name, type=spec.type, default=field.default,
                                       show_default=field.default is not None, help=spec.help)(command)
        return command

    return decorate


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingFlags:
    """The flags of every training script (run_pretraining, run_squad, run_classifier): one loop setting is one
    field here. Google's names; a script overrides a default by declaring the field again."""

    output_dir: str = flag(type=OutputPath(), help="The run folder: checkpoints, metrics.jsonl, run.json and the "
                           "script's results (eval_results, predictions).")
    init_checkpoint: str | None = flag(None, "Start from these weights: our checkpoint (or a run's output directory: "
                                       "its newest checkpoint) or a Hugging Face BERT directory; a checkpoint of "
                                       "--output_dir's own run, when there is one, is resumed instead.")
    do_train: bool = flag(False, "Train.")
    train_batch_size: int = flag(32, "Sequences per optimizer step, over all processes and accumulation steps.",
                                 click.IntRange(1, 2**31 - 1))
    learning_rate: float = flag(5e-5, "The peak learning rate (linear warmup, then linear decay to 0).",
                                FiniteFloat(min=0, max=FLOAT32_MAX, min_open=True))
    optimizer: str = flag("adamw", "adamw (Google's AdamWeightDecay) or lamb.", click.Choice(["adamw", "lamb"]))
    weight_decay: float = flag(0.01, "Decoupled weight decay, not applied to biases and LayerNorm (Google's).",
                               FiniteFloat(0, FLOAT32_MAX))
    gradient_accumulation_steps: int = flag(1, "", POSITIVE)
    save_checkpoints_steps: int = flag(1000, "", POSITIVE)
    keep_checkpoints: int = flag(3, "How many of the newest checkpoints to keep.", POSITIVE)
    log_every: int = flag(10, "Steps between metrics.jsonl lines.", POSITIVE)
    device: str = flag("auto", "auto: CUDA when present.", click.Choice(["auto", "cpu", "cuda"]))
    precision: str = flag("auto", "auto: bf16 on a CUDA device that supports it, else fp32.",
                          click.Choice(["auto", "fp32", "bf16", "fp16"]))
    compile: bool = flag(False, "torch.compile the model (about 30% faster on an H100; slow to start on CPU).")
    unpad: bool = flag(True, "Cut every batch to its longest sequence, and predict in batches of like length: no "
                             "work on padding, the same results. False: every batch at --max_seq_length.")
    seed: int = flag(12345, "", SEED)
    export_hf: str | None = flag(None, "Also write the trained model here as a Hugging Face directory (replacing only "
                                 "an earlier export).", OutputPath())
    overwrite_output_dir: bool = flag(False, "Start afresh in an --output_dir that holds another run (its files are "
                                      "kept in .previous_run/ until the first new checkpoint). Without it a run "
                                      "resumes only itself.")
