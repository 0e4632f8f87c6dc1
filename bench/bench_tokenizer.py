"""Tokenizer throughput: chars/s and tokens/s, single process, over every KorQuAD dev context.

Runs `mecab` and `wordpiece` modes of FullTokenizer, a character-by-character rendering of Google's
pure-Python FullTokenizer (mecab_bert/testing/google_tokenization.py), and, when transformers is installed, its Rust
BertTokenizer, on the same text and vocab, alternating A B C D A B C D so load on the machine hits all
alike; reports medians and ratios. Ours cache the word pieces of each morpheme, so the first pass of a
fresh tokenizer (empty cache, as on new text) is reported beside the median of later passes. Prints
JSON.

    python bench/bench_tokenizer.py [--data ../shared/data/korquad/KorQuAD_v1.0_dev.json] [--repeats 5]
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import click

import tokenization
from mecab_bert.testing import google_tokenization

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "korquad" / "KorQuAD_v1.0_dev.json"


def load_contexts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as reader:
        data = json.load(reader)["data"]
    return [paragraph["context"] for article in data for paragraph in article["paragraphs"]]


def rust_tokenizer(vocab_file: Path, do_lower_case: bool) -> Callable[[str], list[str]] | None:
    """transformers' Rust BertTokenizer on our vocab, or None without transformers.

    Its accent stripping is turned off: it would decompose Hangul into Jamo, which no vocab entry
    matches, and every Korean word would be one cheap [UNK].
    """
    try:
        from transformers import BertTokenizer
    except ImportError:
        return None
    vocab = tokenization.load_vocab(vocab_file)
    rust = BertTokenizer(vocab=dict(vocab), do_lower_case=do_lower_case, strip_accents=False)
    return lambda text: rust.tokenize(text)


def time_pass(tokenize: Callable[[str], list[str]], contexts: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = sum(len(tokenize(context)) for context in contexts)
    return time.perf_counter() - start, tokens


@click.command()
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=DEFAULT_DATA, show_default=True)
@click.option("--vocab_file", type=click.Path(exists=True, path_type=Path),
              default=ROOT / "vocab" / "kowiki-32k.txt", show_default=True)
@click.option("--do_lower_case", type=click.BOOL, default=True, show_default=True)
@click.option("--repeats", default=5, show_default=True, help="Timed passes per tokenizer after the first.")
def main(data: Path, vocab_file: Path, do_lower_case: bool, repeats: int) -> None:
    contexts = load_contexts(data)
    chars = sum(map(len, contexts))
    candidates: dict[str, Callable[[str], list[str]]] = {
        # check_case off: a speed comparison may run the cased code path on the uncased vocab.
        mode: tokenization.FullTokenizer(vocab_file, do_lower_case, tokenizer=mode, check_case=False).tokenize
        for mode in ("mecab", "wordpiece")
    }
    vocab = tokenization.load_vocab(vocab_file)
    candidates["google_reference"] = lambda text: google_tokenization.full_tokenize(text, vocab, do_lower_case)
    rust = rust_tokenizer(vocab_file, do_lower_case)
    if rust is not None:
        candidates["rust_bert_tokenizer"] = rust
    first = {name: time_pass(tokenize, contexts) for name, tokenize in candidates.items()}
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, tokenize in candidates.items():
            seconds[name].append(time_pass(tokenize, contexts)[0])
    results = {}
    for name in candidates:
        median = statistics.median(seconds[name])
        results[name] = {
            "chars_per_s": round(chars / median),
            "tokens_per_s": round(first[name][1] / median),
            "tokens": first[name][1],
            "first_pass_chars_per_s": round(chars / first[name][0]),
            "median_s": round(median, 4),
        }
    report = {
        "data": str(data),
        "contexts": len(contexts),
        "chars": chars,
        "vocab_file": str(vocab_file),
        "do_lower_case": do_lower_case,
        "repeats": repeats,
        "results": results,
    }
    for baseline in ("google_reference", "rust_bert_tokenizer"):
        if baseline in seconds:
            report[f"speedup_over_{baseline}"] = {
                mode: round(statistics.median(b / o for b, o in zip(seconds[baseline], seconds[mode], strict=True)), 3)
                for mode in ("mecab", "wordpiece")
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
