# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Korean sentence splitting with MeCab (mecab-ko-dic): `split_sentences`, `find_sentence_ends`.

A sentence ends after a sentence-final ending (`다`, `까`, `요`, ...) followed directly by `.`, `?` or `!` and any
closing quotes and brackets (`했다.")`), unless the sentence visibly goes on (`"좋다."라고`) or the mark is inside a
short quotation or parenthesis that the sentence embeds: the rule and its examples are `find_sentence_ends`'s. MeCab
tags each paragraph once (a huge one in windows, so that memory stays bounded: `tagged_sentence_ends`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

from tokenization import MECAB_MAX_CHARS, Morpheme, PosTagger

# C0 controls but the tab (they include the separators above and the line breaks of `str.splitlines`),
# DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL_CHARS_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

# Marks that end a sentence. MeCab tags them SF, but SY before a number (`이다. 2016년`), and it glues
# runs of punctuation into one morpheme (`!"`), so the rule looks at characters, not tags.
_SENTENCE_FINAL_CHARS = frozenset(".?!。？！")

# Closing quotes and brackets that stay with the sentence they follow (`했다.")`).
_CLOSING_CHARS = frozenset("\"'”’」』)]}）］｝》〉>≫»")
_PUNCTUATION_CHARS = _SENTENCE_FINAL_CHARS | _CLOSING_CHARS
_PUNCTUATION_RUN_RE = re.compile(f"[{re.escape(''.join(_PUNCTUATION_CHARS))}]*")

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

# Tags that cannot start a sentence: particles (J*), endings (E*), suffixes (XS*), the copula (VCP). When they
# mean that the sentence goes on: `_continues_sentence`.
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


def remove_control_characters(text: str) -> str:
    """Removes control characters (but the tab) and Unicode line/paragraph separators from `text`."""
    return _CONTROL_CHARS_RE.sub("", text)


def is_sentence_final_ending(morpheme: Morpheme) -> bool:
    """True for a morpheme that can end a sentence when a sentence-final mark follows it.

    That is a morpheme whose tag has a sentence-final ending part (`EF`, `VCP+EF`, `XSV+EF`, ...: `다`, `까`, `자`,
    `요`, ...) or ends with a nominalizing ending (`ETN`: `함`, `됨`), or any morpheme whose surface ends with `다`:
    before a number or a bracket MeCab often tags the final `다` as a connective ending (`이다. 2016년` is
    `이/VCP 다/EC ./SY`), and words it does not know come as `UNKNOWN` (`이르렀다`).
    """
    parts = morpheme.tag.split("+")
    return "EF" in parts or parts[-1] == "ETN" or morpheme.surface.endswith("다")


def find_bracket_pairs(text: str) -> list[tuple[int, int]]:
    """Returns the (open, close) character offsets of the matched brackets and quotes in `text`. Each kind of bracket is
    matched on its own, innermost first; a closer with no opener and an opener never closed are left out. A straight
    quote (`"` or `'`) opens when it starts the text or follows white space, an opening bracket or a separator
    (`,"일부다처`) and is not followed by white space; it closes when it follows something else and no Latin letter or
    digit follows it (not `don't`, `'04`). A run of straight quotes (`""양식장에`) counts as one."""
    closers = {close: open_ for open_, close in _BRACKET_PAIRS.items()}
    stacks: dict[str, list[int]] = {}
    pairs = []
    for match in _BRACKET_CHAR_RE.finditer(text):
        k, c = match.start(), match.group()
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
    if text[pos : pos + 1] not in _PUNCTUATION_CHARS:  # the common case, without a regex match
        return None
    end = _PUNCTUATION_RUN_RE.match(text, pos).end()
    return end if _SENTENCE_FINAL_CHARS.intersection(text[pos:end]) else None


def _skip_trailing_citation(text: str, pos: int) -> int:
    """Returns the offset after a short parenthesis that belongs to the sentence ending at `pos`, or `pos`.

    That is a parenthesis at `pos` or after white space, with no sentence-final mark in it, followed by a final mark
    (`하여라.” (15:31). 속죄일에는`) or by white space or the end of the text (`계기가 된다. (→21개조 요구) 일본이`),
    and not an enumerator such as `(1)` or `(가)` (it must hold two Hangul syllables or four characters).
    """
    if _next_visible_char(text, pos) != "(":
        return pos
    start = text.index("(", pos)
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

    A separator (`,`, `;`, `:`) always goes on: `"...않는다." ,"...있다."는 비판`. With no space before it, a particle,
    an ending, a suffix or the copula goes on (`"좋다."라고`). After a space, such tags are mostly MeCab mistaking the
    first word of a sentence (`되었다. 이어`, `하였다. 고조선`), and only the quotative `라고`, `라는`, `라며` goes on
    (`따랐던 것이다. 라고 평가하였다`), except after a closing quote, where speech is reported: `"..." 고 했다`,
    `"..." 하였다`, `"..." 등의`.
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
    return ((following.tag.startswith(_NON_INITIAL_TAG_PREFIXES) and not following.tag.startswith("JKS"))
            or (following.tag.startswith(_REPORTING_VERB_TAG_PREFIXES) and word.startswith(_REPORTING_VERBS))
            or (following.tag == "NNB" and word == "등"))


def _keeps_together(text: str, pair: tuple[int, int], sentence_start: int, starts: Mapping[int, Morpheme]) -> bool:
    """True if no sentence may end inside `pair`, the offsets of matched brackets or quotes. Short brackets keep their
    content together. So does a short quotation, unless it stands alone: it starts the sentence (at `sentence_start`)
    and what follows it does not go on with it (`다음과 같이 비판하였다. "A다. B다." 이러한 경향은`); then its sentences
    are sentences of the paragraph."""
    open_, close = pair
    if close - open_ > _MAX_UNSPLIT_PAIR_CHARS:
        return False
    if text[open_] not in _OPENING_QUOTES or text[sentence_start:open_].strip():
        return True
    after = _PUNCTUATION_RUN_RE.match(text, close + 1).end()
    if after == len(text):
        return False
    following = starts.get(after)
    return following is None or _continues_sentence(following, after_quote=True)


def find_sentence_ends(text: str, morphemes: Sequence[Morpheme]) -> list[int]:
    """Returns the character offsets in `text` at which its sentences end (the last is `len(text)`).

    A sentence ends after a sentence-final ending (see `is_sentence_final_ending`) followed, with no white space in
    between, by a run of sentence-final marks and closing quotes and brackets that has at least one mark (`다.`, `다?!`,
    `다."`, `다".`, `다.)`), possibly after a short parenthesis (`이다(1766~1787).`), together with a short parenthesis
    after it (`하여라.” (15:31).`, see `_skip_trailing_citation`). A word that ends with two Hangul syllables but no
    ending ends one the same way (`무술 훈련교본. 자세한`: a sentence that ends with a noun) if white space follows the
    run, and so do any other ending (`위원이 됐고. 2005년에는`) and a counter after a number (`전사자는 20,129명.
    미국측`); another single syllable does not (`판. 검사`, `가. 나.`). Periods after numbers and Latin letters (`3.14`,
    `U.S.`, `1. 개요`) never end one.

    It does not end there when what follows goes on with the sentence (see `_continues_sentence`:
    `"좋다."라고`, `"..." 하였다`, `"...다.", "...다."는`), nor inside a pair of brackets or quotes that
    keeps its content together (see `_keeps_together`: `"내놓아라. 그러지 않으면 구워서 먹으리"라는`).

    Args:
      text: a paragraph with no control characters.
      morphemes: `PosTagger.tag(text)`: their surfaces, concatenated, are a prefix of `text`.
    """
    starts, offset = {}, 0
    for morpheme in morphemes:
        starts[offset] = morpheme
        offset += len(morpheme.surface)
    pairs = find_bracket_pairs(text)
    ends, offset = [], 0
    for k, morpheme in enumerate(morphemes):
        offset += len(morpheme.surface)
        if is_sentence_final_ending(morpheme):
            needs_space = False
        elif (_HANGUL_WORD_END_RE.search(morpheme.surface) or morpheme.tag.rpartition("+")[2].startswith("E")
              or (morpheme.tag == "NNBC" and k > 0 and morphemes[k - 1].tag == "SN")):
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
        if any(open_ < end <= close and _keeps_together(text, (open_, close), sentence_start, starts)
               for open_, close in pairs):
            continue
        ends.append(end)
    if not ends or ends[-1] < len(text):
        ends.append(len(text))
    return ends


def _safe_cut(text: str, start: int, stop: int) -> int:
    """Returns where to cut `text` at or before `stop`, as late as possible in the second half of
    `text[start:stop]`: before white space, else after a run of sentence-final marks and closers
    (`했다.그는`), else at `stop` (a text with neither, such as one long run of syllables)."""
    for cut in range(stop, (start + stop) // 2, -1):
        if text[cut].isspace() or (text[cut - 1] in _PUNCTUATION_CHARS and text[cut] not in _PUNCTUATION_CHARS):
            return cut
    return stop


def tagged_sentence_ends(text: str, tagger: PosTagger, max_chars: int = MECAB_MAX_CHARS) -> list[int]:
    """Returns `find_sentence_ends(text, tagger.tag(text))`, tagging a text longer than `max_chars` in windows.

    MeCab's lattice takes some 2.6 KiB a character of text without spaces: one call on a 5 MB paragraph
    peaked at 2.8 GiB (kowiki text without its spaces) to 5.2 GiB (one syllable repeated). Windows of at
    most `max_chars` (the tokenizer's bound, 64 Ki characters: some 170 MiB of lattice) keep the whole run
    under 300 MiB (bench/bench_prepare_memory.py). No kowiki paragraph comes near the bound (the longest
    has 3,400 characters), so only hostile or broken input is tagged in windows.

    Each window starts where its predecessor's last sentence ends, ignoring ends in its last `_UNSETTLED_CHARS`
    characters (one there may depend on text beyond the window: a closing quote, a citation, the next word); those are
    found again by the next window, with what follows them. So the ends are those of the whole text, unless MeCab tags
    the first words of a window otherwise without the sentence before them (never seen on kowiki text; see the tests). A
    window with no end before its last `_UNSETTLED_CHARS` characters keeps all its ends, and is cut at white space, else
    after punctuation, else anywhere (`_safe_cut`): a sentence that long is broken there.

    If MeCab changes the text (never seen), a text or window is kept whole: sentences must be exact substrings.
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
    ends = tagged_sentence_ends(text, tagger, max_chars)
    sentences = (text[start:end].strip() for start, end in itertools.pairwise([0, *ends]))
    return [sentence for sentence in sentences if sentence]
