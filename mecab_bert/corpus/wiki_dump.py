# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A MediaWiki XML dump (`kowiki-latest-pages-articles.xml.bz2`) as the text WikiExtractor writes for it.

prepare_corpus.py reads a dump through this module: the pages come out of the dump one by one, and each is
extracted by the maintained WikiExtractor (`pip install wikiextractor==3.1.0`, the `wikidump` extra) with
the settings of its own command's defaults (`python -m wikiextractor.WikiExtractor DUMP`: templates
expanded, links dropped, HTML-safe, empty articles kept), into the same `<doc ...>` text and the same
`AA/wiki_00` file layout (a new file before one would pass 1 MiB of extracted text, 100 files a folder).

The version is pinned: this reads WikiExtractor's functions (`collect_pages`, `load_templates`,
`Extractor`), not its command line, and they changed shape between 3.0 and 3.1. WikiExtractor is AGPL-3.0;
it is imported, never copied, and installed only by the extra.

Two differences from the command, both deliberate: articles whose title starts with the template namespace's name
(`틀니`) are kept (see iter_pages), and an article WikiExtractor fails on is left out and reported instead of ending the
run. As in the command, `{{CURRENTYEAR}}` and the other clock words expand to the time (and time zone) of the run.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import io
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from text_input import InputError

# A dump's name: `.xml`, compressed or not, and the split dumps' `.xml-p1p82407.bz2`.
DUMP_NAME = re.compile(r".*\.xml(-p\d+p\d+)?(\.bz2|\.gz)?", re.IGNORECASE | re.DOTALL)

# WikiExtractor's command defaults: `--bytes 1M` and NextFile.filesPerDir; its folder names (AA ... ZZ) run out
# after 676 folders.
FILE_BYTES = 1024**2
FILES_PER_FOLDER = 100
MAX_FILES = 26 * 26 * FILES_PER_FOLDER

INSTALL_HINT = "pip install 'wikiextractor==3.1.0' (or pip install -e '.[wikidump]')"


def is_dump(path: str) -> bool:
    """Whether `path` is named as a MediaWiki XML dump (`.xml`, `.xml.bz2`, `.xml.gz`, `.xml-p1p82407.bz2`)."""
    return DUMP_NAME.fullmatch(os.path.basename(path)) is not None


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


def _open_text(path: str) -> IO[str]:
    """The dump decompressed by its name's ending (any case) and decoded as WikiExtractor's decode_open does:
    UTF-8, universal newlines."""
    name = path.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8")
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


class DumpLines:
    """The lines of a dump, as WikiExtractor reads them, with the number of the last line read (for errors). Iterating
    raises InputError naming the file (and the line) for a file that is not valid bzip2/gzip/UTF-8, and for a dump that
    stops before its closing `</mediawiki>` (a download cut short). `progress`, if given, is called with the characters
    read every few thousand lines."""

    def __init__(self, path: str, progress: Callable[[int], object] | None = None) -> None:
        self.path = path
        self.progress = progress or (lambda chars: None)
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        last, chars, ended = "", 0, False
        try:
            with _open_text(self.path) as reader:
                for line in reader:
                    self.number += 1
                    chars += len(line)
                    if not self.number % 4096:
                        self.progress(chars)
                        chars = 0
                    if line.strip():
                        last = line
                        ended = ended or "</mediawiki>" in line  # `</page></mediawiki>`, a comment after it
                    yield line
        except UnicodeDecodeError as error:
            # Text is decoded in blocks ahead of the lines handed out: the line is where the block starts.
            raise InputError(f"{self.path}: not valid UTF-8 at or after line {self.number + 1:,} ({error.reason}); "
                             f"a MediaWiki dump is UTF-8 (or the compressed file is damaged)") from None
        except (EOFError, OSError, zlib.error) as error:  # bz2: EOFError when cut, OSError when invalid
            if isinstance(error, OSError) and error.filename is not None:
                raise  # the file itself cannot be opened or read: the OSError names it
            raise InputError(f"{self.path}: cannot be decompressed after line {self.number:,} ({error}); download "
                             f"it again") from None
        self.progress(chars)
        if not last:
            raise InputError(f"{self.path}: not a MediaWiki XML dump (it is empty)")
        if not ended:
            raise InputError(f"{self.path}: ends before </mediawiki> (its last line is {last.strip()[:60]!r}): the "
                             f"dump is incomplete; download it again")

@contextlib.contextmanager
def _read_by_wikiextractor(lines: DumpLines) -> Iterator[None]:
    """Turns an exception of WikiExtractor's readers on a malformed dump (a page without a title, ...) into an
    InputError naming the dump and the line."""
    try:
        yield
    except InputError:
        raise
    except Exception as error:  # what a third-party parser raises on text it does not expect
        raise InputError(f"{lines.path}:{lines.number}: not a well-formed MediaWiki dump (WikiExtractor: "
                         f"{type(error).__name__}: {str(error)[:100]})") from None


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What a dump's `<siteinfo>` tells the extractor: its URL base and namespaces."""

    urlbase: str
    namespaces: frozenset[str]
    template_namespace: str  # key 10: "틀" in kowiki, "Template" in enwiki


def read_site_info(path: str) -> SiteInfo:
    """Reads the `<siteinfo>` at the head of a dump, as WikiExtractor's process_dump does: an InputError if the file
    does not start with `<mediawiki` (after an XML declaration and a byte order mark) or has no `</siteinfo>`."""
    tag_re = _wikiextractor().tagRE
    urlbase, template_namespace, namespaces = "", "", {"Template"}
    lines = iter(DumpLines(path))
    with contextlib.closing(lines):
        first = ""
        for line in lines:
            first = line.lstrip("\ufeff").strip()
            if first and not first.startswith("<?xml"):
                break
        if not first.startswith("<mediawiki"):
            start = f"it starts with {first[:60]!r}" if first else "it is empty"
            raise InputError(f"{path}: not a MediaWiki XML dump ({start}, not <mediawiki ...>)")
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
    lines = DumpLines(path, progress)
    with _read_by_wikiextractor(lines):
        # Without a namespace 10 in <siteinfo>, it takes the first title with a colon for the templates' prefix.
        _, prefix = wikiextractor.load_templates(lines, blob_builder=templates, redirects_blob_builder=redirects,
                                                 template_prefix=prefix)
    settings = {
        "templatePrefix": prefix, "knownNamespaces": set(site.namespaces), "keepLinks": False,
        "HtmlFormatting": False, "to_json": False, "to_text": False, "discard_empty": False,
        "ignored_tag_patterns": [*_DEFAULT_IGNORED_TAG_PATTERNS, ignoreTag("a")],
    }
    with (template_blob.compact_blobs(*templates.finish()) as (template_view, _),
          template_blob.compact_blobs(*redirects.finish()) as (redirect_view, _)):
        yield Extraction(site.urlbase, template_view, redirect_view, settings)


def iter_pages(path: str, extraction: Extraction, progress: Callable[[int], object] | None = None) -> Iterator[Page]:
    """Yields the dump's articles in order: those of namespace 0 that are not redirects, as WikiExtractor's
    collect_pages, but for one deliberate difference: collect_pages also drops the articles whose title starts
    with the template namespace's name (`틀니`, `틀린 그림 찾기`; its test lacks the colon), and these are kept.
    InputError as DumpLines, and for a dump WikiExtractor cannot read.
    """
    wikiextractor = _wikiextractor()
    lines = DumpLines(path, progress)
    # collect_pages reads the template namespace from a module global, which its own command sets from
    # <siteinfo>. Here it is the templates' prefix, colon included (or a title no page has, for a dump with no
    # template namespace), so that only template pages match; the global is put back when the pages are read.
    saved = wikiextractor.templateNamespace
    wikiextractor.templateNamespace = extraction.settings["templatePrefix"] or "\0"
    try:
        with _read_by_wikiextractor(lines):
            for page_id, revid, title, page_lines in wikiextractor.collect_pages(lines):
                yield Page(page_id, revid, title, page_lines)
    finally:
        wikiextractor.templateNamespace = saved


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
        self.close()
        index = len(self.paths)
        if index >= MAX_FILES:
            raise InputError(f"{self.root}: the dump fills more than {MAX_FILES:,} files of {self.max_bytes:,} "
                             f"bytes, all WikiExtractor's layout names (AA/wiki_00 to ZZ/wiki_99); write it "
                             f"with --output_file")
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
        try:
            self._file.write(text)
        except OSError as error:  # a full disk names no file
            raise OSError(error.errno, error.strerror, self.paths[-1]) from None
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


def is_layout_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder prepare_corpus writes (`AA`, ... holding only files `wiki_00`, ...), which a
    new output may replace; anything else in an output folder is the user's, WikiExtractor's own output of the
    same layout included (its files start with `<doc `, which prepared text never does)."""
    folder = Path(path)
    return (re.fullmatch("[A-Z]{2}", folder.name) is not None and folder.is_dir() and not folder.is_symlink()
            and all(re.fullmatch(r"wiki_\d\d", entry.name) and entry.is_file() and not entry.is_symlink()
                    and not _starts_with(entry, b"<doc ") for entry in folder.iterdir()))


def _starts_with(path: Path, prefix: bytes) -> bool:
    with open(path, "rb") as reader:
        return reader.read(len(prefix)) == prefix
