# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""How a run tokenizes: `TokenizerSettings` (vocab, case, mode) and their resolution from the flags and what the run
starts from (`resolve_tokenizer`): a flag left unset takes what a Hugging Face directory or a run of ours records, and
a flag that contradicts it is an error naming both; Google's checkpoints and vocabs get Google's WordPiece.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tokenization
from mecab_bert.cli import PROBABILITY, flag
from mecab_bert.files import file_sha256, read_json, shown
from text_input import InputError

EXPORT_MARK = {"format": "pt", "exported_by": "mecab-bert"}

# FullTokenizer's modes (--tokenizer): WordPiece inside MeCab's morphemes, or Google's own pre-tokenization.
MECAB, WORDPIECE = TOKENIZER_MODES = ("mecab", "wordpiece")
DO_LOWER_CASE = True  # every script's --do_lower_case, and a run's when neither its flags nor its checkpoint say

# Tokenizer classes that are BERT's WordPiece, which FullTokenizer(tokenizer="wordpiece") reproduces.
_WORDPIECE_CLASSES = (None, "BertTokenizer", "BertTokenizerFast")

# The share of [UNK] above which a vocab does not fit the text (--max_unk_rate). Measured on 3,000 lines of Korean
# Wikipedia (bench/bench_unk_rate.py): vocab/kowiki-32k.txt 0.01%; a 4k vocab built from the 120 KB sample 5.0%
# (mecab), 5.2% (wordpiece); a vocab built from English text 88.5%; the five special tokens alone 100%.
MAX_UNK_RATE = 0.1

_UNK_EVIDENCE = 100  # tokens

SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]"}

# Google's vocabs reserve [unusedN] tokens ahead of [UNK] (BERT-Base: [PAD] [unused0]-[unused98] [UNK]; multilingual:
# [PAD] [unused1]-[unused99] [UNK]); build_vocab.py writes the five special tokens first, and its [unusedN] after them.
# A vocab with [unusedN] before [UNK] is Google's, made for its WordPiece tokenizer.
_GOOGLE_UNUSED = re.compile(r"\[unused\d+\]")


@dataclass(frozen=True)
class TokenizerSettings:
    """How a model's text was tokenized: what FullTokenizer takes (with a vocab that holds Hangul only as Jamo it
    decomposes Hangul as Google does: tokenization.hangul_as_jamo)."""

    vocab_file: str
    do_lower_case: bool
    tokenizer: str  # one of TOKENIZER_MODES
    why: str = field(default="", compare=False)  # where the mode came from, for the run's first lines

    def full_tokenizer(self, check_case: bool = True) -> tokenization.FullTokenizer:
        """The tokenizer these settings describe (check_case=False: a vocab of the other case on purpose)."""
        return tokenization.FullTokenizer(self.vocab_file, self.do_lower_case, self.tokenizer, check_case=check_case)

    @functools.cached_property
    def jamo(self) -> bool:
        """Whether Hangul is decomposed into Jamo, as Google's uncased tokenizer made the vocab."""
        return tokenization.hangul_as_jamo(tokenization.load_vocab(self.vocab_file), self.do_lower_case)

    def describe(self) -> str:
        """The line a run starts with: which tokenizer, and why."""
        hangul = ("Hangul decomposed into Jamo as Google's uncased tokenizer does (the vocab holds Hangul only as Jamo)"
                  if self.jamo else "Hangul whole")
        why = f" ({self.why})" if self.why else ""
        return f"tokenizer: {self.tokenizer}{why}, do_lower_case {self.do_lower_case}, {hangul}"


@dataclass(frozen=True)
class Recorded:
    """What a run of ours recorded of its tokenizer (its run.json), for a run that starts from it."""

    tokenizer: str | None  # None (and do_lower_case None): a run recorded before runs recorded their tokenizer
    do_lower_case: bool | None
    where: str  # the run.json, as a message names it

    @classmethod
    def of(cls, record: dict[str, Any], where: str) -> Recorded | None:
        """From a run.json's values: its tokenizer and case, or neither where it was written before runs recorded
        them; None where the values are neither (not a record of that kind)."""
        mode, lower = record.get("tokenizer"), record.get("do_lower_case")
        if mode in TOKENIZER_MODES and isinstance(lower, bool):
            return cls(mode, lower, where)
        if "tokenizer" not in record and "do_lower_case" not in record:
            return cls(None, None, where)
        return None


@dataclass(frozen=True)
class DirectoryTokenizer:
    """What a Hugging Face directory says of its tokenizer; None where it says nothing."""

    directory: Path
    config_file: Path  # tokenizer_config.json (it may not exist)
    vocab_file: str | None
    do_lower_case: bool | None
    tokenizer: str | None  # recorded by our exports only; any other BERT directory is Google's WordPiece
    ours: bool  # an export of this project (its tokenizer_config.json, or model.safetensors, says)
    saved_vocab: list[str] | None = None  # without vocab.txt: tokenizer.json's WordPiece tokens, in id order


def max_unk_rate_flag() -> Any:
    """--max_unk_rate, the same flag for every script that reads text into ids (UnknownTokens.check)."""
    return flag(MAX_UNK_RATE, "Stop when more than this share of the tokens read are [UNK]: the vocab does not fit "
                              "the text (another language, or another model's vocab).", PROBABILITY)


@dataclass(frozen=True)
class UnknownTokens:
    """How many of the tokens read are [UNK]: where a vocab that does not fit the text shows first."""

    unknown: int
    tokens: int  # [CLS], [SEP] and padding not counted

    def describe(self) -> str:
        return f"[UNK] {100 * self.unknown / max(self.tokens, 1):.2f}% of {self.tokens} tokens"

    def check(self, what: str, max_rate: float) -> None:
        """InputError naming `what` (the text and the vocab) when more than max_rate of the tokens are [UNK]: of at
        least _UNK_EVIDENCE tokens (fewer say little of a vocab), or of any number when every one is."""
        enough = self.tokens >= _UNK_EVIDENCE or self.unknown == self.tokens
        if self.tokens and enough and self.unknown > max_rate * self.tokens:
            raise InputError(f"{what}: {self.describe()}, more than --max_unk_rate {max_rate:g}: the vocab does not "
                             f"fit the text (another language, or another model's vocab?); pass --max_unk_rate 1 to "
                             f"go on all the same")

    @classmethod
    def of_features(cls, input_ids: np.ndarray, attention_mask: np.ndarray, vocab: dict[str, int]) -> UnknownTokens:
        """The [UNK] among padded sequences' tokens (but [CLS] and [SEP])."""
        real = attention_mask.astype(bool) & ~np.isin(input_ids, [vocab["[CLS]"], vocab["[SEP]"]])
        return cls(int((real & (input_ids == vocab["[UNK]"])).sum()), int(real.sum()))


def _regular_file(path: Path) -> bool:
    """Whether `path` is there; a folder, FIFO or device under a tokenizer file's name is an InputError."""
    if not path.exists():
        return False
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    return True


# Keys of transformers' BertTokenizer whose non-default values FullTokenizer cannot reproduce, with the values
# it can (strip_accents: Google's default follows do_lower_case, and tokenization.py strips exactly then).
_REPRODUCIBLE = {"tokenize_chinese_chars": (None, True), "do_basic_tokenize": (None, True), "never_split": (None, [])}


def directory_tokenizer(directory: str | os.PathLike) -> DirectoryTokenizer | None:
    """What a Hugging Face directory's tokenizer files say (None: it holds none, and is not our export).

    Ours record `tokenizer_mode`; any other directory's tokenizer is BERT's WordPiece, with its
    tokenizer_config.json's do_lower_case (transformers' default: True). A tokenizer FullTokenizer cannot
    reproduce (another kind, such as SentencePiece, or BertTokenizer options it lacks) is an InputError.
    """
    directory = Path(directory)
    config_path, vocab = directory / "tokenizer_config.json", directory / "vocab.txt"
    has_config, has_vocab = _regular_file(config_path), _regular_file(vocab)
    ours = is_export(directory / "model.safetensors")
    if not (has_config or has_vocab or ours):
        return None
    values = read_json(config_path) if has_config else {}
    if not isinstance(values, dict):
        raise InputError(f"{config_path}: not a JSON object")
    ours = ours or "tokenizer_mode" in values
    mode = values.get("tokenizer_mode")
    lower = values.get("do_lower_case", True) if has_config else None
    if mode not in (None, *TOKENIZER_MODES):
        raise InputError(f"{config_path}: tokenizer_mode {shown(mode)}: expected \"mecab\" or \"wordpiece\"")
    if lower is not None and not isinstance(lower, bool):
        raise InputError(f"{config_path}: do_lower_case {shown(lower)}: expected true or false")
    if not ours:
        _check_reproducible(directory, values, lower)
    saved = directory / "tokenizer.json"
    tokens = _wordpiece_vocab(saved) if _regular_file(saved) else None
    if has_vocab:
        vocab_tokens = list(tokenization.load_vocab(vocab))
        if tokens is not None and tokens != vocab_tokens:
            raise InputError(f"{saved}: its WordPiece vocab is not {vocab} (tokens or their order differ): the "
                             f"directory's tokenizer files disagree")
        tokens = None
    return DirectoryTokenizer(directory, config_path, str(vocab) if has_vocab else None, lower, mode, ours, tokens)


def _check_reproducible(directory: Path, values: dict[str, Any], lower: bool | None) -> None:
    """A foreign directory's tokenizer files describe a tokenizer FullTokenizer(tokenizer="wordpiece") reproduces:
    BERT's WordPiece, with options it has, Google's special tokens and no added ones."""
    config_path = directory / "tokenizer_config.json"
    if values.get("tokenizer_class") not in _WORDPIECE_CLASSES:
        raise InputError(f"{config_path}: tokenizer_class {shown(values['tokenizer_class'])} is not BERT's WordPiece "
                         f"(BertTokenizer), the only tokenizer this repository can reproduce")
    unsupported = [key for key, allowed in _REPRODUCIBLE.items() if key in values and values[key] not in allowed]
    if values.get("strip_accents") not in (None, lower):
        unsupported.append("strip_accents")
    if unsupported:
        key = unsupported[0]
        raise InputError(f"{config_path}: {key} {shown(values[key])} (with do_lower_case {lower}): this repository's "
                         f"tokenizer cannot do that (it strips accents exactly when it lower-cases, splits CJK "
                         f"characters, and never keeps words whole)")
    _check_special_tokens(directory, values)


def _check_special_tokens(directory: Path, values: dict[str, Any]) -> None:
    """Google's special tokens, in tokenizer_config.json and special_tokens_map.json, and no added ones."""
    config_path, special_map = directory / "tokenizer_config.json", directory / "special_tokens_map.json"
    for path, declared in ((config_path, values), (special_map, read_json(special_map) if _regular_file(special_map)
                                                   else {})):
        for key, token in (declared.items() if isinstance(declared, dict) else ()):
            content = token.get("content") if isinstance(token, dict) else token
            if key in SPECIAL_TOKENS and content != SPECIAL_TOKENS[key]:
                raise InputError(f"{path}: {key} {shown(content)}: this repository's tokenizer uses Google's "
                                 f"{SPECIAL_TOKENS[key]}")
    added = [token.get("content") if isinstance(token, dict) else token
             for token in (values.get("added_tokens_decoder") or {}).values()]
    extra = [token for token in added if token not in SPECIAL_TOKENS.values()]
    if _regular_file(directory / "added_tokens.json") or extra:
        where = config_path if extra else directory / "added_tokens.json"
        raise InputError(f"{where}: added tokens ({shown(extra or 'added_tokens.json')}), which this repository's "
                         f"tokenizer never produces")


def _wordpiece_vocab(path: Path) -> list[str] | None:
    """The tokens, in id order, of a tokenizer.json's WordPiece model (what transformers 5 saves instead of
    vocab.txt); None when it holds none. Ids that are not 0, 1, ... each once are an InputError."""
    values = read_json(path)
    model = values.get("model") if isinstance(values, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) and model.get("type") == "WordPiece" else None
    if not isinstance(vocab, dict):
        return None
    ids = list(vocab.values())
    if not all(type(i) is int for i in ids) or sorted(ids) != list(range(len(ids))):
        raise InputError(f"{path}: model.vocab ids are not 0, 1, 2, ... each once")
    return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


def resolve_tokenizer(vocab_file: str | None, do_lower_case: bool | None, tokenizer: str | None,
                      init_checkpoint: str | None, recorded: Recorded | None = None) -> TokenizerSettings:
    """The run's tokenizer settings from its flags (None: not given) and what it starts from. A flag left unset takes
    what that records, else the default: do_lower_case True; the mode

      - of a Hugging Face --init_checkpoint: what our export recorded, else Google's WordPiece;
      - of a run of ours (`recorded`: the run.json beside --init_checkpoint, or of the run in --output_dir that a
        prediction continues or a training resumes): what it recorded (one recorded before runs recorded their
        tokenizer: mecab, the default then, see _settings_before_records);
      - of a Google TensorFlow --init_checkpoint: Google's WordPiece;
      - of a bare vocab: Google's WordPiece for one of Google's ([unusedN] tokens before [UNK], which build_vocab.py
        never writes), else mecab.

    A flag that contradicts what the directory or the run records is an InputError naming both, and so is a vocab
    whose casing contradicts the directory's do_lower_case."""
    found = None
    if init_checkpoint and (Path(init_checkpoint) / "config.json").is_file():
        found = directory_tokenizer(init_checkpoint)
    if found is not None:
        return _directory_settings(found, vocab_file, do_lower_case, tokenizer)
    if vocab_file is None:
        raise InputError("no vocab: pass --vocab_file (or an --init_checkpoint Hugging Face directory with a "
                         "vocab.txt)")
    lower = DO_LOWER_CASE if do_lower_case is None else do_lower_case
    if recorded is not None and recorded.tokenizer is None:
        return _settings_before_records(vocab_file, lower, tokenizer, init_checkpoint, recorded.where)
    if recorded is not None:
        for name, given, theirs in (("--do_lower_case", do_lower_case, recorded.do_lower_case),
                                    ("--tokenizer", tokenizer, recorded.tokenizer)):
            if given is not None and given != theirs:
                raise InputError(f"{name} {given} contradicts {recorded.where}, which records "
                                 f"{name.removeprefix('--')} {theirs}: leave {name} out to take it")
        return TokenizerSettings(vocab_file, recorded.do_lower_case, recorded.tokenizer,
                                 f"{recorded.where} records it")
    mode, why = (tokenizer, "as --tokenizer says") if tokenizer else _default_mode(vocab_file, init_checkpoint)
    return TokenizerSettings(vocab_file, lower, mode, why)


def _settings_before_records(vocab_file: str, do_lower_case: bool, tokenizer: str | None, init_checkpoint: str | None,
                             where: str) -> TokenizerSettings:
    """resolve_tokenizer from a run recorded before runs recorded their tokenizer. Its data was tokenized with
    mecab, the default then, unless --tokenizer wordpiece was given; a vocab laid out as Google's, which would take
    WordPiece now, leaves that unknowable, so --tokenizer is asked for rather than guessed."""
    if tokenizer:
        return TokenizerSettings(vocab_file, do_lower_case, tokenizer, "as --tokenizer says")
    mode, why = _default_mode(vocab_file, init_checkpoint)
    if mode != MECAB:
        raise InputError(f"{where} was written before runs recorded their tokenizer, when mecab was the default, "
                         f"but now the default is {mode} ({why}): pass --tokenizer as that run's data was made "
                         f"(mecab or wordpiece)")
    return TokenizerSettings(vocab_file, do_lower_case, MECAB, f"{where} was written before runs recorded their "
                                                               f"tokenizer: mecab, the default then")


def is_googles_vocab(vocab: dict[str, int]) -> bool:
    """Whether a vocab is laid out as Google's are: [unusedN] tokens ahead of [UNK] (see _GOOGLE_UNUSED)."""
    return any(_GOOGLE_UNUSED.fullmatch(token) for token in itertools.islice(vocab, vocab.get("[UNK]", 0)))


def _default_mode(vocab_file: str, init_checkpoint: str | None) -> tuple[str, str]:
    """(mode, why) where neither --tokenizer nor what the run starts from says (resolve_tokenizer)."""
    if init_checkpoint:
        from mecab_bert.checkpoints.tf_checkpoint import checkpoint_prefix  # torch: only where a checkpoint is given

        if checkpoint_prefix(Path(init_checkpoint)) is not None:
            return WORDPIECE, f"Google's: --init_checkpoint {init_checkpoint} is a Google TensorFlow checkpoint"
    if is_googles_vocab(tokenization.load_vocab(vocab_file)):
        return WORDPIECE, f"Google's: --vocab_file {vocab_file} is Google's, with [unusedN] tokens before [UNK]"
    return MECAB, "the default for a vocab built here; --tokenizer wordpiece for Google's"


def _directory_settings(found: DirectoryTokenizer, vocab_file: str | None, do_lower_case: bool | None,
                        tokenizer: str | None) -> TokenizerSettings:
    """resolve_tokenizer with a Hugging Face --init_checkpoint: the flags given must agree with its files."""
    if found.ours and found.tokenizer is None and (tokenizer is None or do_lower_case is None):
        raise InputError(f"--init_checkpoint {found.directory}: an export made before exports recorded their "
                         f"tokenizer: pass --tokenizer and --do_lower_case as it was trained")
    for name, given, theirs in (("--do_lower_case", do_lower_case, found.do_lower_case),
                                ("--tokenizer", tokenizer, found.tokenizer)):
        if given is not None and theirs is not None and given != theirs:
            raise InputError(f"{name} {given} contradicts --init_checkpoint {found.directory}, whose "
                             f"{found.config_file.name} has {name.removeprefix('--')} {theirs}: leave {name} out to "
                             f"take it")
    vocab = _directory_vocab(found, vocab_file)
    lower = next(value for value in (do_lower_case, found.do_lower_case, DO_LOWER_CASE) if value is not None)
    why = ("as --tokenizer says" if tokenizer else f"--init_checkpoint {found.directory} records it" if found.tokenizer
           else f"Google's: --init_checkpoint {found.directory} is a Hugging Face BERT not made here")
    settings = TokenizerSettings(vocab, lower, tokenizer or found.tokenizer or WORDPIECE, why)
    if do_lower_case is None and found.do_lower_case is not None:
        try:
            tokenization.check_case_matches_vocab(tokenization.load_vocab(vocab), vocab, settings.do_lower_case)
        except InputError as error:
            raise InputError(f"{found.config_file}: do_lower_case {found.do_lower_case} does not fit the vocab: "
                             f"{error}") from None
    return settings


def _directory_vocab(found: DirectoryTokenizer, vocab_file: str | None) -> str:
    """--vocab_file, which must be the directory's vocab, or the directory's vocab.txt."""
    if vocab_file and found.vocab_file and file_sha256(vocab_file) != file_sha256(found.vocab_file):
        raise InputError(f"--vocab_file {vocab_file} differs from {found.vocab_file}, the vocab of --init_checkpoint: "
                         f"leave --vocab_file out to take it")
    vocab = vocab_file or found.vocab_file
    if vocab is None:
        raise InputError(f"--init_checkpoint {found.directory} has no vocab.txt (transformers 5 saves only "
                         f"tokenizer.json): pass --vocab_file")
    if found.saved_vocab is not None and list(tokenization.load_vocab(vocab)) != found.saved_vocab:
        raise InputError(f"--vocab_file {vocab} is not the vocab of --init_checkpoint's tokenizer.json "
                         f"({found.directory / 'tokenizer.json'}): its tokens or their order differ")
    return vocab


def carried_tokenizer(init_checkpoint: str | None, settings: TokenizerSettings) -> Path | None:
    """The Hugging Face --init_checkpoint whose own tokenizer files an export carries on (None: write ours).

    A foreign BERT directory with this run's vocab and settings, cased, or uncased with a vocab of Jamo (then
    transformers' decomposing of Hangul is what its model learned): its files are what its model and its users know.
    They tokenize as the run did but for characters transformers' BertTokenizer treats otherwise than tokenization.py
    (it drops private-use and unassigned ones, and its Unicode tables are older). Never ours (an export writes this
    repository's code and files afresh), nor a foreign uncased one with Hangul whole in its vocab (transformers'
    lower-casing would decompose it, bert#135; the export writes ours).
    """
    if not init_checkpoint or not (Path(init_checkpoint) / "config.json").is_file():
        return None
    found = directory_tokenizer(init_checkpoint)
    if found is None or found.ours or found.do_lower_case != settings.do_lower_case or found.vocab_file is None:
        return None
    if settings.tokenizer != WORDPIECE or (settings.do_lower_case and not settings.jamo):
        return None
    return found.directory if file_sha256(found.vocab_file) == file_sha256(settings.vocab_file) else None


def is_export(weights: Path) -> bool:
    """Whether `weights` is a model.safetensors that export_hf wrote (its metadata says so)."""
    if not weights.is_file():
        return False
    from safetensors import safe_open  # installed wherever a safetensors file is read or written

    try:
        with safe_open(weights, "pt") as reader:
            return (reader.metadata() or {}).get("exported_by") == EXPORT_MARK["exported_by"]
    except Exception:  # missing, truncated, not safetensors: in any case not ours
        return False
