# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""prepare_corpus.py's pipeline: WikiExtractor files, or a MediaWiki dump (through wiki_dump), into one sentence a
line and a blank line after every document, every output swapped in only once all of them are complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import io
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import click
import tqdm

from mecab_bert.cli import INPUT_PATTERNS, OUTPUT_PATH, WORKERS, flag
from mecab_bert.corpus import wiki_dump
from mecab_bert.corpus.sentence_splitter import split_sentences
from mecab_bert.files import (
    atomic_directory,
    create_temporary,
    expand_input_files,
    fsync_path,
    input_patterns,
    missing_folders_made,
)
from mecab_bert.workers import ordered_map, start_worker
from text_input import InputError, read_utf8_lines
from tokenization import PosTagger

_DOC_START_RE = re.compile(r"^<doc(\s[^>]*)?>$")
_DOC_END = "</doc>"


@dataclasses.dataclass(frozen=True)
class PrepareFlags:
    """prepare_corpus.py's flags."""

    input_file: str = flag(help="WikiExtractor output (a comma-separated list of files or glob patterns), or one "
                           "MediaWiki dump (.xml, .xml.bz2, .xml.gz; needs the wikidump extra).", type=INPUT_PATTERNS)
    output_file: str | None = flag(None, "Write everything to this one file.", OUTPUT_PATH)
    output_dir: str | None = flag(None, "Write one output file per input file here, at its path under the inputs' "
                                  "common folder; they replace earlier ones only once all of them are complete. From "
                                  "a dump: WikiExtractor's files (AA/wiki_00, ...), the whole folder replaced at the "
                                  "end.", OUTPUT_PATH)
    num_workers: int = flag(1, "Processes to run with --output_dir (one file each at a time), or on a dump (articles "
                            "in batches).", WORKERS)


@dataclasses.dataclass(frozen=True)
class CorpusStats:
    """Counts of a conversion: `empty_documents` were dropped for having no sentence, the rest written;
    `files_without_documents` are the inputs with no `<doc ...>` block at all (not WikiExtractor output);
    `failed_pages` the titles of a dump's articles WikiExtractor could not extract (reported, not written)."""

    files: int = 0
    documents: int = 0
    empty_documents: int = 0
    paragraphs: int = 0
    sentences: int = 0
    chars: int = 0
    files_without_documents: tuple[str, ...] = ()
    failed_pages: tuple[str, ...] = ()

    def __add__(self, other: CorpusStats) -> CorpusStats:
        return CorpusStats(*(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(CorpusStats)))


def iter_wikiextractor_documents(lines: Iterable[str], keep_empty: bool = False) -> Iterator[list[str]]:
    """Yields the paragraphs of each document in WikiExtractor output.

    Args:
      lines: the lines of a WikiExtractor file, with or without their line endings.
      keep_empty: also yield an empty list for each document with no paragraph (a title only).

    Yields:
      For each `<doc ...>` ... `</doc>` block, its paragraphs: its lines stripped of white space at both
      ends, less the tags, the title line (the first non-blank line after `<doc ...>`) and blank lines.
      Lines outside blocks are ignored; a block left open by a new `<doc ...>` line or by the end of the
      input ends there.
    """
    paragraphs: list[str] | None = None
    title_seen = False
    for line in lines:
        stripped = line.strip()
        if _DOC_START_RE.match(stripped) or stripped == _DOC_END:
            if paragraphs or (keep_empty and paragraphs is not None):
                yield paragraphs
            paragraphs = [] if stripped != _DOC_END else None
            title_seen = False
        elif paragraphs is not None and stripped:
            if title_seen:
                paragraphs.append(stripped)
            else:
                title_seen = True
    if paragraphs or (keep_empty and paragraphs is not None):
        yield paragraphs


def write_documents(documents: Iterable[list[str]], tagger: PosTagger, out: IO[str],
                    progress: tqdm.tqdm | None = None) -> CorpusStats:
    """Splits the paragraphs of `documents` into sentences and writes them to `out`. Each document with a sentence is
    written as one sentence per line followed by a blank line; the others are dropped (counted in `empty_documents`).
    `progress`, if given, is advanced by one for each document read. The returned stats have `files == 0`."""
    stats = CorpusStats()
    for paragraphs in documents:
        sentences = [s for paragraph in paragraphs for s in split_sentences(paragraph, tagger)]
        if sentences:
            out.write("\n".join(sentences))
            out.write("\n\n")
            stats += CorpusStats(documents=1, paragraphs=len(paragraphs), sentences=len(sentences),
                                 chars=sum(len(s) for s in sentences))
        else:
            stats += CorpusStats(empty_documents=1)
        if progress is not None:
            progress.update(1)
    return stats


def prepare_files(input_paths: Sequence[str], out: IO[str], tagger: PosTagger,
                  progress: tqdm.tqdm | None = None) -> CorpusStats:
    """Converts WikiExtractor files, one after another, into pretraining text written to `out`.

    Raises:
      InputError: if an input is not UTF-8 text.
    """
    stats = CorpusStats()
    for path in input_paths:
        if progress is not None:
            progress.set_postfix_str(os.path.basename(path), refresh=False)
        documents = iter_wikiextractor_documents(read_utf8_lines(path), keep_empty=True)
        file_stats = write_documents(documents, tagger, out, progress)
        if file_stats.documents + file_stats.empty_documents == 0:
            file_stats += CorpusStats(files_without_documents=(path,))
        stats += file_stats + CorpusStats(files=1)
    return stats


def not_wikiextractor_output(input_paths: Sequence[str]) -> InputError:
    """The error for inputs none of which holds a `<doc ...>` block: most likely text that is ready already."""
    named = input_paths[0] + (f" and {len(input_paths) - 1} more" if len(input_paths) > 1 else "")
    return InputError(f"{named}: no <doc ...> block, so not WikiExtractor output; plain text (a sentence a line, "
                      f"a blank line between documents) needs no prepare_corpus.py: build_vocab.py and "
                      f"create_pretraining_data.py read it directly")


@dataclasses.dataclass(frozen=True)
class Job:
    """Input files converted, one after another, into one output file."""

    input_paths: Sequence[str]
    output_path: str


def write_output(job: Job, temporary: str, tagger: PosTagger | None = None,
                 progress: tqdm.tqdm | None = None) -> CorpusStats:
    """Runs `prepare_files` on `job` into the file `temporary` (made by `atomic_outputs`) and fsyncs it. Without a
    `tagger`, with one of its own, so that it can run in a worker process. On failure the temporary is removed (in the
    worker), and an error in writing names the output, not the temporary."""
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as out:
            stats = prepare_files(job.input_paths, out, tagger or PosTagger(), progress)
            out.flush()
            os.fsync(out.fileno())
        return stats
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename in (None, temporary):
            error.filename = job.output_path  # a failed write or fsync names no file (ENOSPC, EIO)
        raise


def _write_output_job(job_and_temporary: tuple[Job, str]) -> CorpusStats:
    """write_output in a worker process."""
    return write_output(*job_and_temporary)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str]) -> Iterator[list[str]]:
    """Yields a temporary file beside each of `paths` (making missing folders), and renames each onto its path when the
    block succeeds: every output or none, where `atomic_output` does one. The block writes and fsyncs the temporaries;
    the folders are fsync'ed after the renames. On an exception every temporary is removed, and every folder made for
    them, so that `paths` are left as they were. (A rename fails only if the folder is changed meanwhile; the outputs
    renamed before it stay.)"""
    # Through a symlink the file it points to is replaced; a device or a pipe cannot be replaced atomically.
    paths = [os.path.realpath(path) if os.path.islink(path) else path for path in paths]
    for path in paths:
        if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
            raise InputError(f"{path}: not a regular file (a device or a pipe); write to a file")
    with missing_folders_made(paths) as made:
        temporaries: list[str] = []
        try:
            for path in paths:
                fd, temporary = create_temporary(path)
                os.close(fd)
                temporaries.append(temporary)
            yield temporaries
            for temporary, path in zip(temporaries, paths, strict=True):
                os.replace(temporary, path)
            # The renames and the folders made live in these folders: the outputs' and those above made ones.
            for folder in dict.fromkeys(os.path.dirname(os.path.abspath(path)) for path in [*paths, *made]):
                fsync_path(folder)
        except BaseException:
            for temporary in temporaries:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(temporary)
            raise


def output_paths_for(input_paths: Sequence[str], output_dir: str, patterns: Sequence[str]) -> list[str]:
    """Returns one output path in `output_dir` per input: its path below the folder where the wildcards of `patterns`
    (the --input_file list) begin, so the layout does not depend on what the glob matched. `kowiki/*/wiki_*` gives
    `AA/wiki_00`, `AB/wiki_00`, ... (kept apart, and in a folder even when only `AA` exists); `kowiki/wiki_*` gives
    `wiki_00`, ..."""
    roots = []
    for pattern in patterns:
        folders = Path(pattern).parts[:-1]
        fixed = next((i for i, part in enumerate(folders) if glob.has_magic(part)), len(folders))
        roots.append(os.path.abspath(os.path.join(".", *folders[:fixed])))
    root = os.path.commonpath(roots)  # every match of a pattern lies below its root
    return [os.path.join(output_dir, os.path.relpath(os.path.abspath(p), root)) for p in input_paths]


@dataclasses.dataclass(frozen=True)
class PreparedPage:
    """A dump's article extracted and split: the size of its extracted text (WikiExtractor's file layout counts
    it, so a dump and WikiExtractor's own output of it give the same files), the text written for it, and
    the title of an article WikiExtractor failed on (then nothing is written)."""

    extracted_bytes: int
    text: str
    stats: CorpusStats
    failed_title: str | None = None


def prepare_page(extraction: wiki_dump.Extraction, page: wiki_dump.Page, tagger: PosTagger) -> PreparedPage:
    """Extracts one article with WikiExtractor and splits it into sentences, as prepare_files would its file. An article
    WikiExtractor fails on (an exception in its wikitext parser, or text that is not Unicode: it unescapes
    `&amp;#xD800;` twice into a lone surrogate, which its own command cannot write either) is left out and reported, not
    fatal: one page of millions must not end an hour's run, nor be lost without a word."""
    try:
        extracted = wiki_dump.extract_page(extraction, page)
        extracted_bytes = len(extracted.encode("utf-8"))
    except Exception:  # anything the third-party parser raises on one page's wikitext
        return PreparedPage(0, "", CorpusStats(), failed_title=page.title)
    out = io.StringIO()
    documents = iter_wikiextractor_documents(wiki_dump.extracted_lines(extracted), keep_empty=True)
    stats = write_documents(documents, tagger, out)
    return PreparedPage(extracted_bytes, out.getvalue(), stats)


# A dump's worker process: what every page is extracted with, and the process's own MeCab (set by its initializer).
_dump_worker: tuple[wiki_dump.Extraction, PosTagger] | None = None


def _start_dump_worker(parent: int, extraction: wiki_dump.Extraction) -> None:
    """The initializer of a dump's worker processes (see workers.start_worker)."""
    global _dump_worker  # one per worker process: how a process pool carries per-process state
    start_worker(parent)
    _dump_worker = (extraction, PosTagger())


def _prepare_pages(pages: Sequence[wiki_dump.Page]) -> list[PreparedPage]:
    """prepare_page over a batch, in a worker process."""
    assert _dump_worker is not None
    extraction, tagger = _dump_worker
    return [prepare_page(extraction, page, tagger) for page in pages]


def prepared_pages(extraction: wiki_dump.Extraction, pages: Iterable[wiki_dump.Page], num_workers: int,
                   tagger: PosTagger) -> Iterator[PreparedPage]:
    """prepare_page over `pages`, in `num_workers` forked processes if more than one (in batches, at most two
    a worker in flight), in the dump's order. Forked workers share the templates' memory with this process."""
    if num_workers <= 1:
        yield from (prepare_page(extraction, page, tagger) for page in pages)
        return
    batches = ordered_map(_prepare_pages, wiki_dump.batches(iter(pages)), num_workers,
                          initializer=_start_dump_worker, initargs=(extraction,))
    yield from itertools.chain.from_iterable(batches)


@contextlib.contextmanager
def dump_output(output_path: str, to_folder: bool, max_file_bytes: int) -> Iterator[Callable[[int, str], None]]:
    """Yields `write(extracted_bytes, text)` into one file, or into a folder in WikiExtractor's layout. The folder is
    built beside `output_path` and swapped in when the block succeeds (atomic_directory): an earlier output there is
    replaced whole, so no file of a longer earlier run is left behind, and a folder holding anything but that layout
    (`AA/wiki_00`, ...: wiki_dump.is_layout_folder) is refused before any work."""
    if not to_folder:
        with atomic_outputs([output_path]) as [temporary], open(temporary, "w", encoding="utf-8", newline="\n") as out:

            def write(_: int, text: str) -> None:
                try:
                    out.write(text)
                except OSError as error:  # a full disk names no file
                    raise OSError(error.errno, error.strerror, output_path) from None

            yield write
            out.flush()
            os.fsync(out.fileno())
        return

    def owns(name: str) -> bool:
        return wiki_dump.is_layout_folder(os.path.join(output_path, name))

    with atomic_directory(output_path, replace=True, owns=owns, flag="--output_dir") as staging:
        layout = wiki_dump.FileLayout(str(staging), max_file_bytes)
        try:
            yield layout.write
        finally:
            layout.close()


def prepare_dump(path: str, output_path: str, to_folder: bool, num_workers: int,
                 max_file_bytes: int = wiki_dump.FILE_BYTES) -> CorpusStats:
    """Turns a MediaWiki XML dump into pretraining text: what WikiExtractor's command (its defaults) and then
    prepare_files would write, byte for byte (but for wiki_dump's two deliberate differences), without the
    intermediate files, in one pass after the template pass. With `to_folder`, the files are WikiExtractor's
    (`AA/wiki_00`, ...; a new one before one would pass `max_file_bytes` of extracted text), all replaced
    together. `failed_pages` names the articles WikiExtractor failed on, which were left out.

    Raises:
      InputError: a file that is not a whole MediaWiki dump (wiki_dump.DumpLines), a dump with no article, or
        an output folder that holds the dump or other files.
    """
    if to_folder and os.path.realpath(path).startswith(os.path.join(os.path.realpath(output_path), "")):
        raise InputError(f"{output_path}: holds the dump {path}, and the folder is replaced whole; choose another "
                         f"--output_dir")
    tagger = PosTagger()  # MeCab missing is one line now, not after the template pass, nor in every worker
    site = wiki_dump.read_site_info(path)
    stats, failed = CorpusStats(files=1), []
    bar = functools.partial(tqdm.tqdm, unit=" chars", unit_scale=True, disable=None)
    with dump_output(output_path, to_folder, max_file_bytes) as write, contextlib.ExitStack() as templates:
        with bar(desc="templates (pass 1 of 2)") as progress:
            extraction = templates.enter_context(wiki_dump.extraction(path, site, progress.update))
        with bar(desc="articles (pass 2 of 2)") as progress:
            pages = wiki_dump.iter_pages(path, extraction, progress.update)
            for page in prepared_pages(extraction, pages, num_workers, tagger):
                write(page.extracted_bytes, page.text)
                stats += page.stats
                if page.failed_title is not None:
                    failed.append(page.failed_title)
        if stats.documents + stats.empty_documents == 0:
            raise InputError(f"{path}: no article in the dump (no page of namespace 0 that is not a redirect)"
                             if not failed else f"{path}: WikiExtractor failed on every article ({len(failed):,})")
    return dataclasses.replace(stats, failed_pages=tuple(failed))


def format_summary(stats: CorpusStats, seconds: float, destination: str) -> str:
    """Returns the one-paragraph summary printed at the end of a run."""
    rate = stats.chars / seconds if seconds > 0 else 0.0
    return (f"Read {stats.files:,} files and wrote {stats.documents:,} documents, {stats.paragraphs:,} "
            f"paragraphs, {stats.sentences:,} sentences and {stats.chars:,} chars to {destination} "
            f"({stats.empty_documents:,} documents without text dropped) in {seconds:.1f} s ({rate:,.0f} chars/s).")


def run_jobs(jobs: Sequence[Job], num_workers: int) -> CorpusStats:
    """Runs the jobs, in `num_workers` processes if more than one, with a progress bar: all or nothing.

    Every output is written to a temporary file beside it, and they are all renamed into place only when
    every job has succeeded (`atomic_outputs`), so that a failure leaves every output as it was, not the
    first ones new and the others old. The bar counts documents in one process and files in several.
    On Ctrl-C (or SIGTERM) the parent stops its workers (workers.ordered_map), says "Aborted!" (not a
    traceback from every worker), and removes every temporary.

    Raises:
      InputError, OSError: from the first job that fails, or from an output that cannot be written;
        InputError too when no input holds a `<doc ...>` block (`not_wikiextractor_output`).
    """
    stats = CorpusStats()
    with atomic_outputs([job.output_path for job in jobs]) as temporaries:
        if num_workers <= 1 or len(jobs) <= 1:
            tagger = PosTagger()
            with tqdm.tqdm(unit=" docs", desc="documents", disable=None) as progress:
                for job, temporary in zip(jobs, temporaries, strict=True):
                    stats += write_output(job, temporary, tagger, progress)
        else:
            with tqdm.tqdm(total=len(jobs), unit=" files", desc="files", disable=None) as progress:
                # On Ctrl-C the workers are stopped before the temporaries are removed (ordered_map).
                for job_stats in ordered_map(_write_output_job, zip(jobs, temporaries, strict=True),
                                             min(num_workers, len(jobs))):
                    stats += job_stats
                    progress.update(1)
        if stats.documents + stats.empty_documents == 0:  # an error before any output is replaced by nothing
            raise not_wikiextractor_output([path for job in jobs for path in job.input_paths])
    return stats


def prepare_corpus(flags: PrepareFlags) -> CorpusStats:
    """prepare_corpus.py: --input_file's WikiExtractor files (run_jobs) or dump (prepare_dump) into pretraining text
    at --output_file or --output_dir; InputError when the output would replace an input."""
    if (flags.output_file is None) == (flags.output_dir is None):
        raise click.UsageError("give exactly one of --output_file and --output_dir")
    input_paths = expand_input_files(flags.input_file)
    dumps = [path for path in input_paths if wiki_dump.is_dump(path)]
    output = flags.output_file or flags.output_dir
    assert output is not None
    if dumps:
        if len(input_paths) > 1:
            raise InputError(f"{dumps[0]}: a dump goes alone in --input_file (it was given with "
                             f"{len(input_paths) - 1} other files)")
        if os.path.realpath(output) == os.path.realpath(dumps[0]):
            raise InputError(f"{output}: the output would overwrite the input dump")
        return prepare_dump(dumps[0], output, flags.output_dir is not None, flags.num_workers)
    if flags.output_file is not None:
        jobs = [Job(input_paths, flags.output_file)]
    else:
        output_paths = output_paths_for(input_paths, output, input_patterns(flags.input_file))
        jobs = [Job([i], o) for i, o in zip(input_paths, output_paths, strict=True)]
    inputs = {os.path.realpath(p) for p in input_paths}
    for job in jobs:
        if os.path.realpath(job.output_path) in inputs:
            raise InputError(f"{job.output_path}: the output would overwrite an input file")
    return run_jobs(jobs, flags.num_workers)


def warning_lines(stats: CorpusStats) -> Iterator[str]:
    """The lines that warn of inputs left out: files without documents (with others that hold documents, so a mistake
    in a list or a glob), and a dump's articles WikiExtractor failed on."""
    if stats.files_without_documents:
        skipped = stats.files_without_documents
        yield (f"Warning: no <doc ...> block in {len(skipped)} of {stats.files} input files, not WikiExtractor "
               f"output, so nothing of them was written: {', '.join(skipped[:3])}{' ...' if len(skipped) > 3 else ''}")
    if stats.failed_pages:
        failed = stats.failed_pages
        yield (f"Warning: WikiExtractor failed on {len(failed)} articles, which were left out: "
               f"{', '.join(failed[:3])}{' ...' if len(failed) > 3 else ''}")
