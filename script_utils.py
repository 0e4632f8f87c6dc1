# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""What the scripts share: input globs, UTF-8 lines with file:line errors, atomic output, sha256, and
boolean flags that read like Google's (`--do_lower_case`, `--do_lower_case=False`)."""

from __future__ import annotations

import collections
import contextlib
import glob
import hashlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

import click


class InputError(ValueError):
    """A problem with an input: the message names the file (and the line or field)."""


def input_patterns(spec: str) -> list[str]:
    """The files and glob patterns of a comma-separated --input_file list, in order."""
    return [p.strip() for p in spec.split(",") if p.strip()]


def expand_input_files(spec: str) -> list[str]:
    """Expands a comma-separated list of files and glob patterns, in order, without duplicates.

    Raises InputError if a pattern matches no file or names a folder.
    """
    paths: list[str] = []
    for pattern in input_patterns(spec):
        matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matches:
            if glob.has_magic(pattern):
                raise InputError(f"{pattern}: matches no file")
            if os.path.isdir(pattern):
                raise InputError(f"{pattern}: is a folder (give its files, e.g. '{pattern}/*')")
            raise InputError(f"{pattern}: no such file")
        paths.extend(path for path in matches if path not in paths)
    if not paths:
        raise InputError("no input file given")
    return paths


def read_utf8_lines(
    path: str, unicode_errors: str = "strict", counts: collections.Counter | None = None
) -> Iterator[str]:
    """Yields the lines of a UTF-8 text file without their line endings (and without a leading BOM).

    Raises InputError naming the file and the 1-based line for invalid UTF-8 (unless unicode_errors is
    "replace": then U+FFFD, and counts["replaced_lines"] goes up) and for a NUL byte (a binary file).
    counts["bytes"] follows the bytes read, for progress bars.
    """
    counts = counts if counts is not None else collections.Counter()
    with open(path, "rb") as reader:
        for number, raw in enumerate(reader, start=1):
            counts["bytes"] += len(raw)
            if b"\x00" in raw:
                raise InputError(f"{path}:{number}: a NUL byte: this looks like a binary file, not text")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                if unicode_errors != "replace":
                    raise InputError(f"{path}:{number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte "
                                     f"{error.start + 1} of the line)") from None
                counts["replaced_lines"] += 1
                line = raw.decode("utf-8", errors="replace")
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield line.rstrip("\r\n")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Opens a temporary file beside `path` and moves it to `path` when the block succeeds.

    On an exception the temporary file is removed and `path` is left as it was, so a reader never sees
    half a file.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "wb") if binary else open(fd, "w", encoding="utf-8", newline="\n") as writer:
            yield writer
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bool_option(name: str, default: bool, help_text: str):
    """A click option that takes `--flag`, `--flag=True` and `--flag=False`, like Google's absl flags."""
    return click.option(name, type=click.BOOL, default=default, is_flag=False, flag_value=True, show_default=True,
                        help=help_text)
