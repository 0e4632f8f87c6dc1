# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Files as every script writes and reads them: input globs, JSON with file:line errors, atomic and durable
output (files and whole folders, swapped in only when complete), temporaries a kill left, sha256.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from text_input import InputError, read_utf8_lines


def input_patterns(spec: str) -> list[str]:
    """The files and glob patterns of a comma-separated --input_file list, in order."""
    return [p.strip() for p in spec.split(",") if p.strip()]


def expand_input_files(spec: str) -> list[str]:
    """Expands a comma-separated list of files and glob patterns, in order, without duplicates. Raises InputError if a
    pattern matches no file or names a folder."""
    paths: list[str] = []
    for pattern in input_patterns(spec):
        # A file whose name holds glob characters (`notes[1].txt`) is itself, not a pattern.
        matches = [pattern] if os.path.isfile(pattern) else sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matches:
            if glob.has_magic(pattern):
                raise InputError(f"{pattern}: matches no file")
            if os.path.isdir(pattern):
                raise InputError(f"{pattern}: is a folder (give its files, e.g. '{pattern}/*')")
            check_input(pattern)
            raise InputError(f"{pattern}: no such file")
        paths.extend(path for path in matches if path not in paths)
    if not paths:
        raise InputError("no input file given")
    return paths


def read_json(path: str | os.PathLike, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """The JSON value of a UTF-8 file (a BOM allowed), or an InputError naming the file (and line): UTF-16,
    invalid UTF-8, invalid JSON, nesting too deep, or a ValueError of `object_pairs_hook` (a key twice)."""
    check_input(path)
    text = "\n".join(read_utf8_lines(path))
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})") from None
    except RecursionError:  # brackets nested thousands deep
        raise InputError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def check_input(path: str | os.PathLike, flag: str = "") -> None:
    """An input that is a pipe or a device would block open() for ever, or be read once where a run reads it
    again (its sha256, a resume); a symlink loop would pass for a missing file (or a folder without a vocab): an
    InputError saying what it is, before it is opened. A missing file or a folder is left to open() to name."""
    named = f"{flag + ' ' if flag else ''}{path}"
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(f"{named}: a symlink loop (it points, at last, to itself)") from None
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError(f"{named}: not a regular file (a pipe or a device); give a file")


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


def listing(names: Iterable[str], limit: int = 20) -> str:
    """Names sorted and comma-separated for a message: the first `limit`, then how many more ("a, b and 3 more")."""
    ordered = sorted(names)
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


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
    """Opens a temporary file beside `path` and moves it to `path` when the block succeeds. The file and then its folder
    are fsync'ed around the rename, so after a crash or a power loss `path` is either the old file or the whole new one.
    On an exception the temporary file is removed and `path` is left as it was."""
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
        cause = disk_error(error)
        if cause is not None and (cause is not error or cause.filename is None):  # a full disk names no file
            raise OSError(cause.errno, cause.strerror, str(path)) from error
        raise


# How Rust's std::io::Error ends its message, as safetensors passes it on: "... (os error 28)".
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def disk_error(error: BaseException) -> OSError | None:
    """The disk's error (an OSError with an errno) under a failed write, or None where there is none. A full disk
    reaches us as an OSError, or under what a library raised over it: torch.save's RuntimeError ("[enforce fail
    at inline_container.cc] unexpected pos ...") has the OSError as its context; safetensors' SafetensorError says
    "(os error 28)" in its message alone."""
    if isinstance(error, OSError):
        return error if error.errno is not None else None
    if isinstance(error, RuntimeError):
        context = error.__cause__ or error.__context__
        while context is not None:
            if isinstance(context, OSError) and context.errno is not None:
                return context
            context = context.__cause__ or context.__context__
    if isinstance(error, Exception) and not isinstance(error, ValueError):  # an InputError quotes user text
        match = _RUST_OS_ERROR.search(str(error))
        if match:
            return OSError(int(match.group(1)), os.strerror(int(match.group(1))))
    return None


def _missing_folders(path: str) -> list[str]:
    """The folders above the file `path` that do not exist yet, outermost first; InputError if one of them is a file."""
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
    removes them again (those it left empty), so that a failed run leaves no new folder behind. InputError if one of
    the folders above a path is a file.
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
    found = Path(directory).glob(".*.tmp") if Path(directory).is_dir() else []
    removed = [path for path in found if TEMPORARY_NAME.fullmatch(path.name)]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
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
def atomic_directory(path: str | os.PathLike, replace: bool, owns: Callable[[str], bool], flag: str) -> Iterator[Path]:
    """Builds a folder under a temporary name beside `path`, and swaps it in for `path` when the block succeeds.

    An existing `path` is replaced only with `replace` (else InputError naming `flag`), and only if every
    name in it is one this output writes (`owns(name)`): a folder that holds anything else is never
    deleted. The old folder stays whole until the new one is complete and on disk. On an exception the
    temporary folder is removed and `path` is left as it was.
    """
    # Through a symlink the folder it points to is replaced, and the link stays.
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    _check_replaceable(target, replace, owns, flag)
    with missing_folders_made([str(target)]), _only_writer(target):
        _clean_up_after_a_kill(target)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.~", suffix=".tmp", dir=target.parent))
        except OSError as error:  # a read-only folder: name the output, not the temporary
            raise OSError(error.errno, error.strerror, str(target)) from None
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; an output is meant to be shared
            yield staging
            _sync_tree(staging)
            _swap_in(staging, target)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            cause = disk_error(error)
            inside = str(cause.filename or "").startswith(str(staging)) if cause is not None else False
            if cause is not None and (inside or cause is not error):
                # Name the file as the user knows it, not inside a temporary folder they never asked for (or the
                # output, where the library that failed named none).
                named = target.joinpath(*(part[1:].rsplit(".", 2)[0] if part.endswith(".tmp") else part
                                          for part in Path(cause.filename).relative_to(staging).parts)) \
                    if inside else target
                raise OSError(cause.errno, cause.strerror, str(named)) from None
            raise


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str, named: Path | None = None) -> Iterator[None]:
    """Holds an exclusive lock on the file `path` (made if missing) for the block; another process holding it is
    InputError(busy), at once. `named`: the path an OSError opening it names (an output, not its lock file)."""
    try:
        lock = open(path, "a")  # noqa: SIM115 (closed by the with below, once opened)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(named or path)) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(busy) from None
        yield


@contextlib.contextmanager
def _only_writer(target: Path) -> Iterator[None]:
    """Holds `.<name>.lock` beside `target` while its successor is built: a second run writing the same output
    would take the first one's temporary folder for a killed run's and remove it."""
    lock_path = target.parent / f".{target.name}.lock"
    with exclusive_lock(lock_path, f"{target}: another run is writing it now; wait for it to end, or choose another "
                                   f"output", named=target):
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)


def _check_replaceable(target: Path, replace: bool, owns: Callable[[str], bool], flag: str) -> None:
    """atomic_directory's rule: only an empty folder, or with `replace` one that holds only this output's files."""
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not replace:
            raise InputError(f"{target}: not empty; pass {flag} to replace it")
        foreign = sorted(p.name for p in target.iterdir() if not owns(p.name))
        if foreign:
            raise InputError(f"{target}: holds files this script did not write ({', '.join(foreign[:5])}); "
                             f"{flag} replaces only its own output: move them, or choose another folder")


def _swap_in(staging: Path, target: Path) -> None:
    """Puts the complete folder `staging` in place of `target`; an old `target` stays whole until then, and is
    put back if this is interrupted between the two renames (a kill there: see _clean_up_after_a_kill)."""
    if not target.exists():
        os.replace(staging, target)
        fsync_path(target.parent)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.~old", suffix=".tmp", dir=target.parent))
    try:
        os.replace(target, retired / target.name)
        os.replace(staging, target)
        fsync_path(target.parent)
    except BaseException:
        if (retired / target.name).exists() and not target.exists():
            os.replace(retired / target.name, target)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


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
