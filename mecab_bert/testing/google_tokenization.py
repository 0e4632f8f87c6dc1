# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A literal, character-by-character rendering of Google BERT's tokenization.py rules, for tests.

Slow on purpose: it follows Google's code path step by step (clean, space out CJK, split on white space,
lower-case + NFD accent stripping per word, split on punctuation, greedy WordPiece) so the fast
regex-based tokenizer can be checked against it. `keep_hangul=True` leaves Hangul syllables composed,
the one deliberate difference from Google (bert#135).
"""

from __future__ import annotations

import unicodedata


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    ranges = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
    return any(lo <= cp <= hi for lo, hi in ranges)


def _strip_accents(text: str, keep_hangul: bool) -> str:
    out = []
    for char in text:
        if keep_hangul and 0xAC00 <= ord(char) <= 0xD7A3:
            out.append(char)
            continue
        out.extend(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")
    return "".join(out)


def _split_on_punc(text: str) -> list[str]:
    output: list[list[str]] = []
    start_new_word = True
    for char in text:
        if _is_punctuation(char):
            output.append([char])
            start_new_word = True
        else:
            if start_new_word:
                output.append([])
            start_new_word = False
            output[-1].append(char)
    return ["".join(x) for x in output]


def basic_tokenize(text: str, do_lower_case: bool, keep_hangul: bool = True) -> list[str]:
    cleaned = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            continue
        cleaned.append(" " if _is_whitespace(char) else char)
    spaced = "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in cleaned)
    split_tokens = []
    for token in spaced.split():
        if do_lower_case:
            token = _strip_accents(token.lower(), keep_hangul)
        split_tokens.extend(_split_on_punc(token))
    return " ".join(split_tokens).split()


def wordpiece_tokenize(word: str, vocab: dict[str, int], max_chars: int = 100) -> list[str]:
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        current = None
        while start < end:
            substr = word[start:end]
            if start > 0:
                substr = "##" + substr
            if substr in vocab:
                current = substr
                break
            end -= 1
        if current is None:
            return ["[UNK]"]
        pieces.append(current)
        start = end
    return pieces


def full_tokenize(text: str, vocab: dict[str, int], do_lower_case: bool, keep_hangul: bool = True) -> list[str]:
    return [
        piece
        for token in basic_tokenize(text, do_lower_case, keep_hangul)
        for word in token.split()
        for piece in wordpiece_tokenize(word, vocab)
    ]
