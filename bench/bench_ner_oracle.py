"""The NER oracle, printed as JSON: gold entities -> token tags -> entities -> characters with no model, the best a
model can score once labels go through tokens, in both tokenizer modes, by this project's rule (token_tags: a token
takes its first character's tag, by offsets) and by KLUE-baseline's (first_character_tags: the same, found by
counting token lengths, and every token of a word holding an [UNK] takes the word's first tag).

    python bench/bench_ner_oracle.py [--data ../shared/data/klue/klue-ner-v1.1_dev.tsv] [--vocab vocab/kowiki-32k.txt]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

import tokenization
from mecab_bert.tasks import ner_data, ner_metrics

ROOT = Path(__file__).resolve().parents[1]
KLUE_DEV = ROOT.parent / "shared" / "data" / "klue" / "klue-ner-v1.1_dev.tsv"


def rule_row(scores: ner_metrics.RuleScores) -> dict[str, float]:
    return {**{key: round(scores.entity[key], 2) for key in ("precision", "recall", "f1", "macro_f1")},
            "char_macro_f1": round(scores.char_macro_f1, 2)}


def oracle_row(sentences: list[ner_data.Sentence], vocab: Path, mode: str, do_lower_case: bool,
               labels: tuple[str, ...] | None) -> dict:
    start = time.perf_counter()
    result = ner_metrics.oracle(sentences, tokenization.FullTokenizer(vocab, do_lower_case, mode), labels)
    return {"entities": result.entities, "cut": result.cut, "uncovered": result.uncovered,
            "uncut_percent": round(result.uncut_percent, 2), "framed_percent": round(result.framed_percent, 2),
            "tokens": result.tokens, "unk_words": result.unk_words,
            "offsets": rule_row(result.offsets), "klue_first_character": rule_row(result.first_character),
            "seconds": round(time.perf_counter() - start, 1)}


@click.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=KLUE_DEV)
@click.option("--task_name", type=click.Choice(sorted(ner_data.processors)), default="klue-ner", show_default=True)
@click.option("--vocab", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ROOT / "vocab" / "kowiki-32k.txt")
@click.option("--do_lower_case/--nodo_lower_case", default=True, show_default=True)
def main(data: Path, task_name: str, vocab: Path, do_lower_case: bool) -> None:
    processor = ner_data.processors[task_name]
    sentences = processor.read(data)
    rows = {mode: oracle_row(sentences, vocab, mode, do_lower_case, processor.labels)
            for mode in ("mecab", "wordpiece")}
    print(json.dumps({"data": str(data), "sentences": len(sentences), "vocab": str(vocab),
                      "do_lower_case": do_lower_case, "modes": rows}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
