# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Turns a Wikipedia dump, or WikiExtractor output, into BERT pretraining text.

The output is the input format of Google BERT's `create_pretraining_data.py`: one sentence per line and a
blank line after every document (after the last one too, so that files read one after another, as
`create_pretraining_data.py` reads its inputs, never merge the last document of a file with the first of
the next).

The input is what WikiExtractor writes: for each article a `<doc id=".." url=".." title="..">` line, the
title line, the paragraphs (one per line, blank lines in between) and a `</doc>` line. Tags and title
lines are dropped, each paragraph is split into sentences with MeCab (mecab-ko-dic), and documents left
with no sentence are dropped. Every output is written beside its path and renamed into place once all of
them are complete: after a failure every old output is as it was.

A MediaWiki dump (`kowiki-latest-pages-articles.xml.bz2`) is read through wiki_dump.py: each article is
extracted by WikiExtractor (its command's defaults) and split in the same worker process, in the dump's
order, into WikiExtractor's file layout, so that the output is byte for byte what WikiExtractor's command
and then this script on its files would write (`prepare_dump`).

Korean sentence splitting (`find_sentence_ends`): MeCab tags each paragraph once (a huge one in
windows, so that memory stays bounded: `tagged_sentence_ends`). A sentence ends after a
sentence-final ending (a tag with an `EF` part: `다`, `까`, `요`, ... in `EF`, `VCP+EF`, `XSV+EF`) followed
directly by `.`, `?` or `!` and any closing quotes and brackets (`했다.")`, `했다".`), unless the sentence
visibly goes on (`"좋다."라고`, `"..." 하였다`) or the mark is inside a short quotation or parenthesis
that the sentence embeds (`"머리를 내놓아라. 그러지 않으면 구워서 먹으리"라는 노래`). Sentences that end
with a noun (`무술 훈련교본. 자세한`) end there when a space follows. Periods after numbers and Latin
letters (`3.14`, `U.S.`, `1. 개요`) never end a sentence. In random kowiki paragraphs the rule makes a
mistake in about 2 paragraphs in 100, mostly boundaries with no punctuation: see
`bench/sentence_split_sample.py`.

Usage:
  python prepare_corpus.py --input_file kowiki-latest-pages-articles.xml.bz2 --output_dir prepared/
  python prepare_corpus.py --input_file 'kowiki/wiki_*' --output_dir prepared/
  python prepare_corpus.py --input_file a.txt,b.txt --output_file corpus.txt
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
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import click
import tqdm

import wiki_dump
from script_utils import (
    OUTPUT_PATH,
    WORKERS,
    Command,
    InputError,
    atomic_directory,
    create_temporary,
    expand_input_files,
    fsync_path,
    input_patterns,
    missing_folders_made,
    ordered_map,
    read_utf8_lines,
    start_worker,
    user_errors,
)
from tokenization import MECAB_MAX_CHARS, Morpheme, PosTagger

# C0 controls but the tab (they include the separators above and the line breaks of `str.splitlines`),
# DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL_CHARS_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

# Marks that end a sentence. MeCab tags them SF, but SY before a number (`이다. 2016년`), and it glues
# runs of punctuation into one morpheme (`!"`), so the rule looks at characters, not tags.
_SENTENCE_FINAL_CHARS = frozenset(".?!。？！")

# Closing quotes and brackets that stay with the sentence they follow (`했다.")`).
_CLOSING_CHARS = frozenset("\"'”’」』)]}）］｝》〉>≫»")

# Brackets and quotes, matched by `find_bracket_pairs`. Straight quotes have no direction: one opens
# after white space, an opening bracket or a separator in `_QUOTE_OPENING_CONTEXT`, and closes otherwise.
_BRACKET_PAIRS = dict(zip("([{（［｛“‘「『《〈<≪«", ")]}）］｝”’」』》〉>≫»", strict=True))
_STRAIGHT_QUOTES = frozenset("\"'")
_BRACKET_CHAR_RE = re.compile(f"[{re.escape(''.join(_BRACKET_PAIRS) + ''.join(_BRACKET_PAIRS.values()))}\"']")
_QUOTE_OPENING_CONTEXT = frozenset(",:;·")
_OPENING_QUOTES = frozenset("\"'“‘「『")
_CLOSING_QUOTES = frozenset("\"'”’」』")

# A pair longer than this does not keep its sentences together: a long quotation is split into its
# sentences, which keeps lines short and limits the harm of a quote matched wrongly.
_MAX_UNSPLIT_PAIR_CHARS = 200

# How far a parenthesis right after an ending may reach (`이다(1766~1787). 두 번째는`), and how long a
# citation after a sentence may be (`... 하여라.” (15:31). 속죄일에는`).
_MAX_TRAILING_PARENTHESIS_CHARS = 200
_MAX_CITATION_CHARS = 30

# A word that ends with two Hangul syllables can end a sentence without an ending (`무술 훈련교본.`).
_HANGUL_WORD_END_RE = re.compile("[\uac00-\ud7a3]{2}$")
_HANGUL_SYLLABLE_RE = re.compile("[\uac00-\ud7a3]")

# Separators that cannot start a sentence (`않는다.","일부다처를 행하고 있다."는 비판`).
_NON_INITIAL_CHARS = frozenset(",;:、，；：")

# Tags that cannot start a sentence: particles (J*), endings (E*), suffixes (XS*), the copula (VCP).
# Directly after the punctuation (`"좋다."라고`) they mean that the sentence goes on. After a space they
# do so only after a closing quote (`"..." 라고`): elsewhere they are mostly MeCab mistaking the first
# word of the next sentence (`되었다. 이어`, `하였다. 고조선`).
_NON_INITIAL_TAG_PREFIXES = ("J", "E", "XS", "VCP")

# After a closing quote and a space, these say that the quotation is reported speech inside the
# sentence: `"..." 하였다`, `'...' 한다`, `"..." 하자`.
_REPORTING_VERB_TAG_PREFIXES = ("VV", "VX", "XSV")
_REPORTING_VERBS = ("하", "했", "한다")

# The quotative particle, which goes on with the sentence even after a space: `것이다. 라고 평가하였다`.
_QUOTATIVE_WORDS = ("라고", "라는", "라며")
_QUOTATIVE_TAG_PREFIXES = ("JKQ", "VCP", "E")

_VISIBLE_CHAR_RE = re.compile(r"\S")

# A sentence end this close to the end of a window is not trusted when tagging in windows: brackets,
# citations and parentheses look at most some 450 characters ahead (`_MAX_UNSPLIT_PAIR_CHARS` and the
# like), and MeCab may tag the last words of a window otherwise than with what follows.
_UNSETTLED_CHARS = 1000

_DOC_START_RE = re.compile(r"^<doc(\s[^>]*)?>$")
_DOC_END = "</doc>"


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
        return CorpusStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(CorpusStats))
        )


def remove_control_characters(text: str) -> str:
    """Removes control characters (but the tab) and Unicode line/paragraph separators from `text`."""
    return _CONTROL_CHARS_RE.sub("", text)


def is_sentence_final_ending(morpheme: Morpheme) -> bool:
    """True for a morpheme that can end a sentence when a sentence-final mark follows it.

    That is a morpheme whose tag has a sentence-final ending part (`EF`, `VCP+EF`, `XSV+EF`, ...: `다`,
    `까`, `자`, `요`, ...) or ends with a nominalizing ending (`ETN`: `함`, `됨`), or any morpheme whose
    surface ends with `다`: before a number or a bracket MeCab often tags the final `다` as a connective
    ending (`이다. 2016년` is `이/VCP 다/EC ./SY`), and words it does not know come as `UNKNOWN`
    (`이르렀다`).
    """
    parts = morpheme.tag.split("+")
    return "EF" in parts or parts[-1] == "ETN" or morpheme.surface.endswith("다")


def find_bracket_pairs(text: str) -> list[tuple[int, int]]:
    """Returns the (open, close) character offsets of the matched brackets and quotes in `text`.

    Each kind of bracket is matched on its own, innermost first; a closer with no opener and an opener
    never closed are left out. A straight quote (`"` or `'`) opens when it starts the text or follows
    white space, an opening bracket or a separator (`,"일부다처`) and is not followed by white space; it
    closes when it follows something else and no Latin letter or digit follows it (not `don't`, `'04`).
    A run of straight quotes (`""양식장에`) counts as one.
    """
    closers = {close: open_ for open_, close in _BRACKET_PAIRS.items()}
    stacks: dict[str, list[int]] = {}
    pairs = []
    for match in _BRACKET_CHAR_RE.finditer(text):
        k = match.start()
        c = match.group()
        previous = text[k - 1] if k else " "
        following = text[k + 1] if k + 1 < len(text) else " "
        if c in _STRAIGHT_QUOTES:
            if previous == c:
                continue
            if previous.isspace() or previous in _BRACKET_PAIRS or previous in _QUOTE_OPENING_CONTEXT:
                if not following.isspace():
                    stacks.setdefault(c, []).append(k)
            elif stacks.get(c) and not (following.isascii() and following.isalnum()):
                pairs.append((stacks[c].pop(), k))
        elif c in _BRACKET_PAIRS:
            stacks.setdefault(c, []).append(k)
        elif c in closers and stacks.get(closers[c]):
            pairs.append((stacks[closers[c]].pop(), k))
    return sorted(pairs)


def _skip_trailing_parenthesis(text: str, pos: int) -> int:
    """Returns the offset after a parenthesis that opens at `pos` and closes soon, else `pos`."""
    if not text.startswith("(", pos):
        return pos
    depth = 0
    for k in range(pos, min(len(text), pos + _MAX_TRAILING_PARENTHESIS_CHARS)):
        if text[k] == "(":
            depth += 1
        elif text[k] == ")":
            depth -= 1
            if depth == 0:
                return k + 1
    return pos


def _end_of_final_punctuation(text: str, pos: int) -> int | None:
    """Returns the end of the run of marks and closers at `pos` if it has a sentence-final mark."""
    end = pos
    has_final_mark = False
    while end < len(text) and (text[end] in _SENTENCE_FINAL_CHARS or text[end] in _CLOSING_CHARS):
        has_final_mark = has_final_mark or text[end] in _SENTENCE_FINAL_CHARS
        end += 1
    return end if has_final_mark else None


def _skip_trailing_citation(text: str, pos: int) -> int:
    """Returns the offset after a short parenthesis that belongs to the sentence ending at `pos`, or `pos`.

    That is a parenthesis at `pos` or after white space, with no sentence-final mark in it, followed by
    a final mark (`하여라.” (15:31). 속죄일에는`) or by white space or the end of the text (`계기가 된다.
    (→21개조 요구) 일본이`), and not an enumerator such as `(1)` or `(가)` (it must hold two Hangul
    syllables or four characters).
    """
    start = pos
    while start < len(text) and text[start].isspace():
        start += 1
    if not text.startswith("(", start):
        return pos
    close = text.find(")", start, start + _MAX_CITATION_CHARS)
    if close < 0:
        return pos
    inside = text[start + 1 : close]
    if any(c in _SENTENCE_FINAL_CHARS or c == "(" for c in inside):
        return pos
    end = _end_of_final_punctuation(text, close + 1)
    if end is not None:
        return end
    is_enumerator = len(inside) < 4 and len(_HANGUL_SYLLABLE_RE.findall(inside)) < 2
    if is_enumerator or not (close + 1 == len(text) or text[close + 1].isspace()):
        return pos
    return close + 1


def _next_visible_char(text: str, pos: int) -> str:
    """Returns the first character at or after `pos` that is not white space, or "" if there is none."""
    match = _VISIBLE_CHAR_RE.search(text, pos)
    return match.group() if match else ""


def _continues_sentence(following: Morpheme, after_quote: bool) -> bool:
    """True if `following`, the morpheme after a candidate boundary, shows that the sentence goes on.

    A separator (`,`, `;`, `:`) always goes on: `"...않는다." ,"...있다."는 비판`. With no space before
    it, a particle, an ending, a suffix or the copula goes on (`"좋다."라고`). After a space, such tags
    are mostly MeCab mistaking the first word of a sentence (`되었다. 이어`), and only the quotative
    `라고`, `라는`, `라며` goes on (`따랐던 것이다. 라고 평가하였다`), except after a closing quote, where
    speech is reported: `"..." 고 했다`, `"..." 하였다`, `"..." 등의`.
    """
    if following.surface.lstrip()[:1] in _NON_INITIAL_CHARS:
        return True
    if not following.surface[:1].isspace():
        return following.tag.startswith(_NON_INITIAL_TAG_PREFIXES)
    word = following.surface.strip()
    if word.startswith(_QUOTATIVE_WORDS) and following.tag.startswith(_QUOTATIVE_TAG_PREFIXES):
        return True
    if not after_quote:
        return False
    return (
        (following.tag.startswith(_NON_INITIAL_TAG_PREFIXES) and not following.tag.startswith("JKS"))
        or (following.tag.startswith(_REPORTING_VERB_TAG_PREFIXES) and word.startswith(_REPORTING_VERBS))
        or (following.tag == "NNB" and word == "등")
    )


def _keeps_together(
    text: str, pair: tuple[int, int], sentence_start: int, starts: Mapping[int, Morpheme]
) -> bool:
    """True if no sentence may end inside `pair`, the offsets of matched brackets or quotes.

    Short brackets keep their content together. So does a short quotation, unless it stands alone: it
    starts the sentence (at `sentence_start`) and what follows it does not go on with it (`다음과 같이
    비판하였다. "A다. B다." 이러한 경향은`); then its sentences are sentences of the paragraph.
    """
    open_, close = pair
    if close - open_ > _MAX_UNSPLIT_PAIR_CHARS:
        return False
    if text[open_] not in _OPENING_QUOTES or text[sentence_start:open_].strip():
        return True
    after = close + 1
    while after < len(text) and (text[after] in _SENTENCE_FINAL_CHARS or text[after] in _CLOSING_CHARS):
        after += 1
    if after == len(text):
        return False
    following = starts.get(after)
    return following is None or _continues_sentence(following, after_quote=True)


def find_sentence_ends(text: str, morphemes: Sequence[Morpheme]) -> list[int]:
    """Returns the character offsets in `text` at which its sentences end (the last is `len(text)`).

    A sentence ends after a sentence-final ending (see `is_sentence_final_ending`) followed, with no
    white space in between, by a run of sentence-final marks and closing quotes and brackets that has
    at least one mark (`다.`, `다?!`, `다."`, `다".`, `다.)`), possibly after a short parenthesis
    (`이다(1766~1787).`), together with a short parenthesis after it (`하여라.” (15:31).`, see
    `_skip_trailing_citation`). A word that ends with two Hangul syllables but no ending ends one the
    same way (`무술 훈련교본. 자세한`: a sentence that ends with a noun) if white space follows the
    run, and so do any other ending (`위원이 됐고. 2005년에는`) and a counter after a number (`전사자는
    20,129명. 미국측`); another single syllable does not (`판. 검사`, `가. 나.`). Periods after numbers
    and Latin letters (`3.14`, `U.S.`, `1. 개요`) never end one.

    It does not end there when what follows goes on with the sentence (see `_continues_sentence`:
    `"좋다."라고`, `"..." 하였다`, `"...다.", "...다."는`), nor inside a pair of brackets or quotes that
    keeps its content together (see `_keeps_together`: `"내놓아라. 그러지 않으면 구워서 먹으리"라는`).

    Args:
      text: a paragraph with no control characters.
      morphemes: `PosTagger.tag(text)`: their surfaces, concatenated, are a prefix of `text`.
    """
    starts = {}
    offset = 0
    for morpheme in morphemes:
        starts[offset] = morpheme
        offset += len(morpheme.surface)
    pairs = find_bracket_pairs(text)
    ends = []
    offset = 0
    for k, morpheme in enumerate(morphemes):
        offset += len(morpheme.surface)
        if is_sentence_final_ending(morpheme):
            needs_space = False
        elif (
            _HANGUL_WORD_END_RE.search(morpheme.surface)
            or morpheme.tag.rpartition("+")[2].startswith("E")
            or (morpheme.tag == "NNBC" and k > 0 and morphemes[k - 1].tag == "SN")
        ):
            needs_space = True
        else:
            continue
        end = _end_of_final_punctuation(text, _skip_trailing_parenthesis(text, offset))
        if end is None or end == len(text) or (ends and ends[-1] >= end):
            continue
        if needs_space and not text[end].isspace():
            continue
        end = _skip_trailing_citation(text, end)
        if _next_visible_char(text, end) in _NON_INITIAL_CHARS:
            continue
        following = starts.get(end)
        if following is not None and _continues_sentence(following, text[end - 1] in _CLOSING_QUOTES):
            continue
        sentence_start = ends[-1] if ends else 0
        if any(
            open_ < end <= close and _keeps_together(text, (open_, close), sentence_start, starts)
            for open_, close in pairs
        ):
            continue
        ends.append(end)
    if not ends or ends[-1] < len(text):
        ends.append(len(text))
    return ends


def _safe_cut(text: str, start: int, stop: int) -> int:
    """Returns where to cut `text` at or before `stop`, as late as possible in the second half of
    `text[start:stop]`: before white space, else after a run of sentence-final marks and closers
    (`했다.그는`), else at `stop` (a text with neither, such as one long run of syllables)."""
    marks = _SENTENCE_FINAL_CHARS | _CLOSING_CHARS
    for cut in range(stop, (start + stop) // 2, -1):
        if text[cut].isspace() or (text[cut - 1] in marks and text[cut] not in marks):
            return cut
    return stop


def tagged_sentence_ends(text: str, tagger: PosTagger, max_chars: int = MECAB_MAX_CHARS) -> list[int]:
    """Returns `find_sentence_ends(text, tagger.tag(text))`, tagging a text longer than `max_chars` in windows.

    MeCab's lattice takes some 2.6 KiB a character of text without spaces: one call on a 5 MB paragraph
    peaked at 2.8 GiB (kowiki text without its spaces) to 5.2 GiB (one syllable repeated). Windows of at
    most `max_chars` (the tokenizer's bound, 64 Ki characters: some 170 MiB of lattice) keep the whole run
    under 300 MiB (bench/bench_prepare_memory.py). No kowiki paragraph comes near the bound (the longest
    has 3,400 characters), so only hostile or broken input is tagged in windows.

    Each window starts where its predecessor's last sentence ends, ignoring ends in its last
    `_UNSETTLED_CHARS` characters (one there may depend on text beyond the window: a closing quote, a
    citation, the next word); those are found again by the next window, with what follows them. So the
    ends are those of the whole text, unless MeCab tags the first words of a window otherwise without the
    sentence before them (never seen on kowiki text; see the tests). A window with no end before its last
    `_UNSETTLED_CHARS` characters keeps all its ends, and is cut at white space, else after punctuation,
    else anywhere (`_safe_cut`): a sentence that long is broken there.

    If MeCab changes the text (never seen), a text or window is kept whole: sentences must be exact
    substrings.
    """
    ends: list[int] = []
    start = 0
    while True:
        is_last = len(text) - start <= max_chars
        window = text[start:] if is_last else text[start : _safe_cut(text, start, start + max_chars)]
        morphemes = tagger.tag(window)
        if window.startswith("".join(m.surface for m in morphemes)):
            window_ends = find_sentence_ends(window, morphemes)
        else:
            window_ends = [len(window)]
        if not is_last:
            window_ends = [e for e in window_ends if e <= len(window) - _UNSETTLED_CHARS] or window_ends
        ends.extend(start + end for end in window_ends)
        if is_last:
            return ends
        start = ends[-1]


def split_sentences(paragraph: str, tagger: PosTagger, max_chars: int = MECAB_MAX_CHARS) -> list[str]:
    """Splits a paragraph into sentences with the rule of `find_sentence_ends`.

    Args:
      paragraph: one line of text.
      tagger: a tokenization.PosTagger.
      max_chars: the most characters tagged in one MeCab call (see `tagged_sentence_ends`).

    Returns:
      The non-empty sentences, stripped of white space at both ends. Each is an exact substring of
      `remove_control_characters(paragraph)` (which is `paragraph` itself when it has no control
      characters): white space inside a sentence is kept as it is.
    """
    text = remove_control_characters(paragraph)
    sentences = []
    start = 0
    for end in tagged_sentence_ends(text, tagger, max_chars):
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    return sentences


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


def write_documents(
    documents: Iterable[list[str]], tagger: PosTagger, out: IO[str], progress: tqdm.tqdm | None = None
) -> CorpusStats:
    """Splits the paragraphs of `documents` into sentences and writes them to `out`.

    Each document with a sentence is written as one sentence per line followed by a blank line; the
    others are dropped (counted in `empty_documents`). `progress`, if given, is advanced by one for
    each document read. The returned stats have `files == 0`.
    """
    stats = CorpusStats()
    for paragraphs in documents:
        sentences = [s for paragraph in paragraphs for s in split_sentences(paragraph, tagger)]
        if sentences:
            out.write("\n".join(sentences))
            out.write("\n\n")
            stats += CorpusStats(
                documents=1,
                paragraphs=len(paragraphs),
                sentences=len(sentences),
                chars=sum(len(s) for s in sentences),
            )
        else:
            stats += CorpusStats(empty_documents=1)
        if progress is not None:
            progress.update(1)
    return stats


def prepare_files(
    input_paths: Sequence[str], out: IO[str], tagger: PosTagger, progress: tqdm.tqdm | None = None
) -> CorpusStats:
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


def write_output(
    job: Job, temporary: str, tagger: PosTagger | None = None, progress: tqdm.tqdm | None = None
) -> CorpusStats:
    """Runs `prepare_files` on `job` into the file `temporary` (made by `atomic_outputs`) and fsyncs it.

    Without a `tagger`, with one of its own, so that it can run in a worker process. On failure the
    temporary is removed (in the worker), and an error in writing names the output, not the temporary.
    """
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
    """Yields a temporary file beside each of `paths` (making missing folders), and renames each onto its
    path when the block succeeds: every output or none, where `atomic_output` does one.

    The block writes and fsyncs the temporaries; the folders are fsync'ed after the renames. On an
    exception every temporary is removed, and every folder made for them, so that `paths` are left as they
    were. (A rename fails only if the folder is changed meanwhile; the outputs renamed before it stay.)
    """
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
    """Returns one output path in `output_dir` per input: its path below the folder where the wildcards of
    `patterns` (the --input_file list) begin, so the layout does not depend on what the glob matched.

    `kowiki/*/wiki_*` gives `AA/wiki_00`, `AB/wiki_00`, ... (kept apart, and in a folder even when only
    `AA` exists); `kowiki/wiki_*` gives `wiki_00`, ...
    """
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
    """Extracts one article with WikiExtractor and splits it into sentences, as prepare_files would its file.

    An article WikiExtractor fails on (an exception in its wikitext parser, or text that is not Unicode: it
    unescapes `&amp;#xD800;` twice into a lone surrogate, which its own command cannot write either) is left
    out and reported, not fatal: one page of millions must not end an hour's run, nor be lost without a word.
    """
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
    """The initializer of a dump's worker processes (see script_utils.start_worker)."""
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
    a worker in flight), in the dump's order. Forked workers share the templates' memory with this process.
    """
    if num_workers <= 1:
        yield from (prepare_page(extraction, page, tagger) for page in pages)
        return
    batches = ordered_map(_prepare_pages, wiki_dump.batches(iter(pages)), num_workers,
                          initializer=_start_dump_worker, initargs=(extraction,))
    yield from itertools.chain.from_iterable(batches)


@contextlib.contextmanager
def dump_output(output_path: str, to_folder: bool, max_file_bytes: int) -> Iterator[Callable[[int, str], None]]:
    """Yields `write(extracted_bytes, text)` into one file, or into a folder in WikiExtractor's layout.

    The folder is built beside `output_path` and swapped in when the block succeeds (atomic_directory): an
    earlier output there is replaced whole, so no file of a longer earlier run is left behind, and a folder
    holding anything but that layout (`AA/wiki_00`, ...: wiki_dump.is_layout_folder) is refused before any work.
    """
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
    return (
        f"Read {stats.files:,} files and wrote {stats.documents:,} documents, {stats.paragraphs:,} "
        f"paragraphs, {stats.sentences:,} sentences and {stats.chars:,} chars to {destination} "
        f"({stats.empty_documents:,} documents without text dropped) in {seconds:.1f} s "
        f"({rate:,.0f} chars/s)."
    )


def run_jobs(jobs: Sequence[Job], num_workers: int) -> CorpusStats:
    """Runs the jobs, in `num_workers` processes if more than one, with a progress bar: all or nothing.

    Every output is written to a temporary file beside it, and they are all renamed into place only when
    every job has succeeded (`atomic_outputs`), so that a failure leaves every output as it was, not the
    first ones new and the others old. The bar counts documents in one process and files in several.
    On Ctrl-C (or SIGTERM) the parent stops its workers (script_utils.ordered_map), says "Aborted!" (not a
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


@click.command(cls=Command)
@click.option(
    "--input_file",
    required=True,
    help="WikiExtractor output (a comma-separated list of files or glob patterns), or one MediaWiki dump "
    "(.xml, .xml.bz2, .xml.gz; needs the wikidump extra).",
)
@click.option("--output_file", default=None, type=OUTPUT_PATH, help="Write everything to this one file.")
@click.option(
    "--output_dir",
    default=None,
    type=OUTPUT_PATH,
    help="Write one output file per input file here, at its path under the inputs' common folder; they "
    "replace earlier ones only once all of them are complete. From a dump: WikiExtractor's files (AA/wiki_00, "
    "...), the whole folder replaced at the end.",
)
@click.option(
    "--num_workers",
    default=1,
    show_default=True,
    type=WORKERS,
    help="Processes to run with --output_dir (one file each at a time), or on a dump (articles in batches).",
)
def main(input_file: str, output_file: str | None, output_dir: str | None, num_workers: int) -> None:
    """Turns WikiExtractor output or a Wikipedia dump into BERT pretraining text: a sentence per line, documents
    apart."""
    if (output_file is None) == (output_dir is None):
        raise click.UsageError("give exactly one of --output_file and --output_dir")
    start = time.perf_counter()
    with user_errors(RuntimeError):  # MeCab not installed, a worker process that died
        input_paths = expand_input_files(input_file)
        dumps = [path for path in input_paths if wiki_dump.is_dump(path)]
        output = output_file or output_dir
        assert output is not None
        if dumps:
            if len(input_paths) > 1:
                raise InputError(f"{dumps[0]}: a dump goes alone in --input_file (it was given with "
                                 f"{len(input_paths) - 1} other files)")
            if os.path.realpath(output) == os.path.realpath(dumps[0]):
                raise InputError(f"{output}: the output would overwrite the input dump")
            stats = prepare_dump(dumps[0], output, output_dir is not None, num_workers)
        else:
            if output_file is not None:
                jobs = [Job(input_paths, output_file)]
            else:
                output_paths = output_paths_for(input_paths, output, input_patterns(input_file))
                jobs = [Job([i], o) for i, o in zip(input_paths, output_paths, strict=True)]
            inputs = {os.path.realpath(p) for p in input_paths}
            for job in jobs:
                if os.path.realpath(job.output_path) in inputs:
                    raise InputError(f"{job.output_path}: the output would overwrite an input file")
            stats = run_jobs(jobs, num_workers)
    if stats.files_without_documents:  # with others that hold documents, so a mistake in a list or a glob
        skipped = stats.files_without_documents
        click.echo(f"Warning: no <doc ...> block in {len(skipped)} of {stats.files} input files, not WikiExtractor "
                   f"output, so nothing of them was written: {', '.join(skipped[:3])}"
                   f"{' ...' if len(skipped) > 3 else ''}", err=True)
    if stats.failed_pages:
        failed = stats.failed_pages
        click.echo(f"Warning: WikiExtractor failed on {len(failed)} articles, which were left out: "
                   f"{', '.join(failed[:3])}{' ...' if len(failed) > 3 else ''}", err=True)
    click.echo(format_summary(stats, time.perf_counter() - start, output))


if __name__ == "__main__":
    main()
