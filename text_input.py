# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Text a user hands over: InputError, and UTF-8 lines whose errors name the file and line.

The standard library only: tokenization.py imports it, and both travel with an exported model (see
tokenization_mecab_bert.py), where transformers loads them without this repository's other dependencies.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator


class InputError(ValueError):
    """A problem with an input: the message names the file (and the line or field)."""


def read_utf8_lines(
    path: str | os.PathLike, unicode_errors: str = "strict", counts: collections.Counter | None = None
) -> Iterator[str]:
    """Yields the lines of a UTF-8 text file without their line endings (and without a leading BOM); see
    decode_utf8_lines. UTF-16 text (a UTF-16 byte order mark) is an InputError saying so."""
    with open(path, "rb") as reader:
        if reader.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff"):  # peek, not read + seek: a pipe cannot seek
            raise InputError(f"{path}: UTF-16 text (it starts with a UTF-16 byte order mark); convert it to UTF-8, "
                             f"e.g. iconv -f UTF-16 -t UTF-8")
        yield from decode_utf8_lines(reader, str(path), unicode_errors, counts)


def decode_utf8_lines(
    raw_lines: Iterable[bytes], name: str, unicode_errors: str = "strict", counts: collections.Counter | None = None
) -> Iterator[str]:
    """Decodes lines of bytes (a file, standard input) as UTF-8, without line endings or a leading BOM.

    Raises InputError naming `name` and the 1-based line for invalid UTF-8 (unless unicode_errors is
    "replace": then U+FFFD, and counts["replaced_lines"] goes up), for a NUL byte (a binary file) and for a carriage
    return inside a line: a line ends at LF (a CRLF's CR goes with it), so a file whose lines end in CR alone (old
    Mac) would be read as one line.
    counts["bytes"] follows the bytes read, for progress bars.
    """
    counts = counts if counts is not None else collections.Counter()
    for number, raw in enumerate(raw_lines, start=1):
        counts["bytes"] += len(raw)
        if b"\x00" in raw:
            raise InputError(f"{name}:{number}: a NUL byte: this looks like a binary file, not text")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if unicode_errors != "replace":
                raise InputError(f"{name}:{number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte "
                                 f"{error.start + 1} of the line)") from None
            counts["replaced_lines"] += 1
            line = raw.decode("utf-8", errors="replace")
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.rstrip("\r\n")
        if "\r" in line:
            raise InputError(f"{name}:{number}: a carriage return inside the line: lines must end in LF or CRLF "
                             f"(convert the file's line endings, e.g. tr '\\r' '\\n')")
        yield line
