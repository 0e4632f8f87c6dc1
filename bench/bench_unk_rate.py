"""The [UNK] rate of vocabs that fit the text and of vocabs that do not, printed as JSON: what --max_unk_rate's
default (tokenizer_settings.MAX_UNK_RATE) is chosen between.

Each row tokenizes the first --lines non-empty text lines of a corpus (WikiExtractor's <doc> lines left out) as
create_pretraining_data does and counts the [UNK] among the tokens. The vocabs: vocab/kowiki-32k.txt (the shipped
one), vocab/sample-4k.txt (built from the 120 KB sample: too small, but a real Korean vocab), a vocab that
build_vocab.py makes from Google's English sample_text.txt (another language), and the five special tokens alone.

    python bench/bench_unk_rate.py [--kowiki ../shared/data/kowiki/wiki_00]
                                   [--english ../shared/data/google/sample_text.txt]
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import click

import tokenization
from mecab_bert.corpus import wordpiece_vocab
from text_input import read_utf8_lines

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def unk_rate(vocab: Path, corpus: Path, mode: str, lines: int) -> dict[str, float | int]:
    """The share of [UNK] among the tokens of the corpus's first `lines` text lines."""
    tokenizer = tokenization.FullTokenizer(str(vocab), True, mode, check_case=False)
    unknown, tokens, hits = tokenizer.vocab["[UNK]"], 0, 0
    text = (line for line in read_utf8_lines(corpus) if line.strip() and not line.startswith("<"))
    for line in itertools.islice(text, lines):
        ids = tokenizer.encode(line)
        tokens += len(ids)
        hits += ids.count(unknown)
    return {"unk_percent": round(100 * hits / max(tokens, 1), 3), "tokens": tokens}


@click.command()
@click.option("--kowiki", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=SHARED / "kowiki" / "wiki_00")
@click.option("--english", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=SHARED / "google" / "sample_text.txt")
@click.option("--lines", default=3000, show_default=True)
def main(kowiki: Path, english: Path, lines: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        english_vocab, special = Path(work) / "english.txt", Path(work) / "special.txt"
        tokens, _ = wordpiece_vocab.build_vocab([str(english)], wordpiece_vocab.VocabSettings(), progress=False)
        wordpiece_vocab.write_vocab(tokens, str(english_vocab))
        special.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
        rows = {
            "kowiki-32k on Korean Wikipedia (mecab)": (ROOT / "vocab" / "kowiki-32k.txt", kowiki, "mecab"),
            "kowiki-32k on Korean Wikipedia (wordpiece)": (ROOT / "vocab" / "kowiki-32k.txt", kowiki, "wordpiece"),
            "sample-4k on Korean Wikipedia (mecab)": (ROOT / "vocab" / "sample-4k.txt", kowiki, "mecab"),
            "sample-4k on Korean Wikipedia (wordpiece)": (ROOT / "vocab" / "sample-4k.txt", kowiki, "wordpiece"),
            "kowiki-32k on English (mecab)": (ROOT / "vocab" / "kowiki-32k.txt", english, "mecab"),
            "a vocab of English text on Korean Wikipedia": (english_vocab, kowiki, "mecab"),
            "the special tokens alone on Korean Wikipedia": (special, kowiki, "mecab"),
        }
        print(json.dumps({name: unk_rate(*row, lines) for name, row in rows.items()}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
