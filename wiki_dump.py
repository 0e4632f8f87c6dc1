# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A MediaWiki XML dump (`kowiki-latest-pages-articles.xml.bz2`) as the text WikiExtractor writes for it.

prepare_corpus.py reads a dump through this module: the pages come out of the dump one by one, and each is
extracted by the maintained WikiExtractor (`pip install wikiextractor==3.1.0`, the `wikidump` extra) with
the settings of its own command's defaults (`python -m wikiextractor.WikiExtractor DUMP`: templates
expanded, links dropped, HTML-safe, empty articles kept), into the same `<doc ...>` text and the same
`AA/wiki_00` file layout (a new file before one would pass 1 MiB of extracted text, 100 files a folder).

The version is pinned: this reads WikiExtractor's functions (`collect_pages`, `load_templates`,
`Extractor`), not its command line, and they changed shape between 3.0 and 3.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from text_input import InputError

# The names a dump may have: WikiExtractor opens .bz2 and .gz by their extension, anything else as plain XML.
DUMP_SUFFIXES = (".xml", ".xml.bz2", ".xml.gz")

# WikiExtractor's command defaults: `--bytes 1M` and NextFile.filesPerDir.
FILE_BYTES = 1024**2
FILES_PER_FOLDER = 100

INSTALL_HINT = "pip install 'wikiextractor==3.1.0' (or pip install -e '.[wikidump]')"


def is_dump(path: str) -> bool:
    """Whether `path` is named as a MediaWiki XML dump (`.xml`, `.xml.bz2`, `.xml.gz`)."""
    return path.lower().endswith(DUMP_SUFFIXES)


def _wikiextractor() -> Any:
    """The WikiExtractor module, or an InputError saying how to install it (an optional extra)."""
    try:
        from wikiextractor import WikiExtractor
    except ImportError:
        raise InputError(f"reading a Wikipedia dump needs WikiExtractor: {INSTALL_HINT}") from None
    if WikiExtractor.__version__ != "3.1.0":
        raise InputError(f"wikiextractor {WikiExtractor.__version__} is installed; this reads dumps with 3.1.0: "
                         f"{INSTALL_HINT}")
    return WikiExtractor


def dump_lines(path: str, progress: Callable[[int], object] | None = None) -> Iterator[str]:
    """Yields the lines of a dump, decompressed and decoded as WikiExtractor reads them (universal newlines).

    `progress`, if given, is called with the characters read every few thousand lines.

    Raises:
      InputError: naming `path`, for a file that is not valid bzip2/gzip/UTF-8, and for a dump that stops
        before its closing `</mediawiki>` (a download cut short).
    """
    decode_open = _wikiextractor().decode_open
    last = ""
    chars = 0
    try:
        with decode_open(path) as reader:
            for number, line in enumerate(reader, start=1):
                chars += len(line)
                if progress is not None and number % 4096 == 0:
                    progress(chars)
                    chars = 0
                if line.strip():
                    last = line
                yield line
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid UTF-8 ({error.reason}); a MediaWiki dump is UTF-8") from None
    except (EOFError, OSError) as error:  # a cut bzip2 stream is an EOFError, a bad one an OSError
        if isinstance(error, OSError) and error.filename is not None:
            raise
        raise InputError(f"{path}: cannot be decompressed ({error}); download it again") from None
    if progress is not None:
        progress(chars)
    if last.strip() != "</mediawiki>":
        raise InputError(f"{path}: ends before </mediawiki> (last line {last.strip()[:60]!r}): the dump is "
                         f"incomplete; download it again")


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What a dump's `<siteinfo>` tells the extractor: its URL base and namespaces."""

    urlbase: str
    namespaces: frozenset[str]
    template_namespace: str  # key 10: "틀" in kowiki, "Template" in enwiki


def read_site_info(path: str) -> SiteInfo:
    """Reads the `<siteinfo>` at the head of a dump, as WikiExtractor's process_dump does.

    Raises:
      InputError: if the file does not start with `<mediawiki` or has no `</siteinfo>`.
    """
    tag_re = _wikiextractor().tagRE
    urlbase, template_namespace, namespaces = "", "", {"Template"}
    lines = dump_lines(path)
    with contextlib.closing(lines):
        first = next((line for line in lines if line.strip()), "")
        if not first.lstrip().startswith("<mediawiki"):
            raise InputError(f"{path}: not a MediaWiki XML dump (it starts with {first.strip()[:60]!r}, not "
                             f"<mediawiki ...>)")
        for line in lines:
            match = tag_re.search(line)
            if not match:
                continue
            tag = match.group(2)
            if tag == "base":
                urlbase = match.group(3)[: match.group(3).rfind("/")]
            elif tag == "namespace":
                namespaces.add(match.group(3))
                if 'key="10"' in line:
                    template_namespace = match.group(3)
            elif tag == "/siteinfo":
                return SiteInfo(urlbase, frozenset(namespaces), template_namespace)
    raise InputError(f"{path}: no </siteinfo> at its head, so not a MediaWiki XML dump")


@dataclasses.dataclass(frozen=True)
class Page:
    """One article of a dump: its ids, title and wikitext lines, as WikiExtractor's collect_pages yields it."""

    id: str
    revid: str
    title: str
    lines: list[str]


@dataclasses.dataclass(frozen=True)
class Extraction:
    """What every page is extracted with: the dump's templates and redirects (shared memory, read-only, so
    that forked workers share one copy) and the Extractor settings of WikiExtractor's command defaults."""

    urlbase: str
    templates: Any
    redirects: Any
    settings: dict[str, Any]


@contextlib.contextmanager
def extraction(path: str, site: SiteInfo, progress: Callable[[int], object] | None = None) -> Iterator[Extraction]:
    """Reads the dump's templates (a first pass over the whole dump, as WikiExtractor does unless told
    `--no-templates`) and yields the Extraction that expands them; the shared memory is freed on exit."""
    wikiextractor = _wikiextractor()
    from wikiextractor import template_blob
    from wikiextractor.extract import _DEFAULT_IGNORED_TAG_PATTERNS, ignoreTag

    templates, redirects = template_blob.StreamingTemplateBlobBuilder(), template_blob.StreamingTemplateBlobBuilder()
    prefix = f"{site.template_namespace}:" if site.template_namespace else ""
    _, prefix = wikiextractor.load_templates(dump_lines(path, progress), blob_builder=templates,
                                             redirects_blob_builder=redirects, template_prefix=prefix)
    settings = {
        "templatePrefix": prefix, "knownNamespaces": set(site.namespaces), "keepLinks": False,
        "HtmlFormatting": False, "to_json": False, "to_text": False, "discard_empty": False,
        "ignored_tag_patterns": [*_DEFAULT_IGNORED_TAG_PATTERNS, ignoreTag("a")],
    }
    with (template_blob.compact_blobs(*templates.finish()) as (template_view, _),
          template_blob.compact_blobs(*redirects.finish()) as (redirect_view, _)):
        yield Extraction(site.urlbase, template_view, redirect_view, settings)


def iter_pages(path: str, site: SiteInfo, progress: Callable[[int], object] | None = None) -> Iterator[Page]:
    """Yields the dump's articles in order: namespace 0, not redirects, as WikiExtractor's collect_pages.

    Raises:
      InputError: as dump_lines.
    """
    wikiextractor = _wikiextractor()
    # collect_pages skips the pages whose titles start with this module global, which its own command sets
    # from <siteinfo>; left empty, it would skip every page.
    wikiextractor.templateNamespace = site.template_namespace
    for page_id, revid, title, lines in wikiextractor.collect_pages(dump_lines(path, progress)):
        yield Page(page_id, revid, title, lines)


def extract_page(extraction: Extraction, page: Page) -> str:
    """The text WikiExtractor writes for `page`: `<doc id=".." url=".." title="..">`, the title, the
    paragraphs and `</doc>`."""
    from wikiextractor.extract import Extractor

    out = io.StringIO()
    Extractor(page.id, page.revid, extraction.urlbase, page.title, page.lines, templates=extraction.templates,
              redirects=extraction.redirects, **extraction.settings).extract(out, html_safe=True)
    return out.getvalue()


def extracted_lines(text: str) -> list[str]:
    """The lines of extracted text as prepare_corpus reads them back from a file (read_utf8_lines: split at
    "\\n" only, line endings stripped)."""
    return [line.rstrip("\r\n") for line in text.split("\n")]


class FileLayout:
    """WikiExtractor's output files under `root`: AA/wiki_00 ... AA/wiki_99, AB/wiki_00, ...

    Each page's text goes to the current file unless the page's extracted size would take that file past
    `max_bytes`; then a new file starts first (as OutputSplitter.reserve, so a page larger than a file
    leaves an empty file before it, and the first file exists even for a dump with no article).
    """

    def __init__(self, root: str, max_bytes: int = FILE_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.paths: list[str] = []
        self._file: IO[str] | None = None
        self._size = 0
        self._next_file()

    def _next_file(self) -> None:
        if self._file is not None:
            self._file.close()
        index = len(self.paths)
        folder = index // FILES_PER_FOLDER
        name = f"{chr(ord('A') + folder // 26 % 26)}{chr(ord('A') + folder % 26)}/wiki_{index % FILES_PER_FOLDER:02d}"
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._file = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed by close())
        self._size = 0
        self.paths.append(path)

    def write(self, extracted_bytes: int, text: str) -> None:
        """Writes `text` (what became of a page whose extracted text is `extracted_bytes` long)."""
        if self._size + extracted_bytes > self.max_bytes:
            self._next_file()
        assert self._file is not None
        self._file.write(text)
        self._size += extracted_bytes

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def batches(pages: Iterator[Page], max_pages: int = 64, max_chars: int = 1 << 20) -> Iterator[Sequence[Page]]:
    """Groups pages for worker processes: up to `max_pages`, or fewer when their wikitext passes `max_chars`."""
    batch: list[Page] = []
    chars = 0
    for page in pages:
        batch.append(page)
        chars += sum(len(line) for line in page.lines)
        if len(batch) >= max_pages or chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


# The folders of FileLayout (a marker of what prepare_corpus wrote from a dump, for replacing it).
LAYOUT_FOLDER = re.compile(r"[A-Z]{2}")
