"""SQuAD/KorQuAD pipeline ceiling and speed, printed as JSON.

- Featurization speed (questions/s, one process): read + tokenize each context once + windows, on KorQuAD
  1.0 dev (mecab, vocab/kowiki-32k.txt) and SQuAD 1.1 dev (wordpiece). The first pass of a fresh tokenizer
  (its piece cache empty) and a second pass are both reported.
- The oracle: every question's gold answer span goes through featurization and post-processing as if a
  model had predicted it perfectly, then the official metric scores it. This is the ceiling of the pipeline
  before any learning. Every failure is listed with its reason. Targets (issue 5): KorQuAD dev EM >= 99.9
  and F1 >= 99.95 with MeCab, SQuAD dev EM >= 99.5 with WordPiece; featurization >= 5,000 KorQuAD
  questions/s (Google's read + featurize: about 530/s). Also: KorQuAD with the plain WordPiece tokenizer,
  and what --strip_josa does to the oracle.

SQuAD is English: with the Korean vocab its words break into so many pieces that long answers pass
max_answer_length (30 tokens), so SQuAD is also run with an English vocab (16k, our build_vocab.py in
wordpiece mode over the SQuAD dev contexts themselves: no model learns from it, it only sets the grain).

    python bench/bench_squad.py [--data_dir ../shared/data]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

import tokenization
from mecab_bert.corpus import wordpiece_vocab
from mecab_bert.tasks import squad, squad_metrics

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


def featurize_timed(path: Path, tokenizer_mode: str, vocab: Path = VOCAB) -> dict:
    tokenizer = tokenization.FullTokenizer(vocab, True, tokenizer_mode)
    tokenizer.tokenize("warm up")  # compiles the character classes, outside the timing
    times, dataset = [], None
    for _ in range(2):
        start = time.perf_counter()
        dataset = squad.featurize(str(path), tokenizer, squad.FeatureConfig(), True, False)
        times.append(time.perf_counter() - start)
    questions = len(dataset.examples)
    return {"questions": questions, "features": len(dataset.features),
            "first_pass_questions_per_s": round(questions / times[0]),
            "second_pass_questions_per_s": round(questions / times[1])}


def failure_reason(dataset: squad.Dataset, index: int, span, prediction: str, config: squad.PredictConfig
                   ) -> str:
    example = dataset.examples[index]
    if span is None:
        return "the gold answer is not in its context"
    if span.inside:
        return "an answer boundary falls inside a word piece"
    if span.last - span.first + 1 > config.max_answer_length:
        return f"the answer is longer than max_answer_length ({config.max_answer_length} tokens)"
    features = [f for f, e in enumerate(dataset.features.example_index) if e == index]
    if not any(dataset.features.doc_start[f] <= span.first and span.last < dataset.features.doc_start[f] +
               dataset.features.doc_length[f] for f in features):
        return "no window holds the whole answer"
    if not prediction:
        return "the windows that hold the answer do not give its first token the most context"
    return f"normalization: gold {example.answers[0][0]!r}, cut from the context {prediction!r}"


def english_vocab(squad: Path, work_dir: Path) -> Path:
    """A 16k WordPiece vocab over the SQuAD contexts (build_vocab.py, wordpiece mode)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    corpus, vocab = work_dir / "squad_contexts.txt", work_dir / "squad-en-16k.txt"
    contexts = [p["context"] for a in json.loads(squad.read_text(encoding="utf-8"))["data"] for p in a["paragraphs"]]
    corpus.write_text("\n".join(" ".join(c.split()) for c in contexts) + "\n", encoding="utf-8")
    tokens, _ = wordpiece_vocab.build_vocab([str(corpus)], wordpiece_vocab.VocabSettings(
        vocab_size=16000, tokenizer="wordpiece"), progress=False)
    wordpiece_vocab.write_vocab(tokens, str(vocab))
    return vocab


def oracle(path: Path, tokenizer_mode: str, strip_josa: bool = False, vocab: Path = VOCAB) -> dict:
    tokenizer = tokenization.FullTokenizer(vocab, True, tokenizer_mode)
    dataset = squad.featurize(str(path), tokenizer, squad.FeatureConfig(), False, False)
    config = squad.PredictConfig()
    starts, ends = squad.gold_logits(dataset)
    predictions, _, _ = squad.best_spans(dataset, starts, ends, config)
    if strip_josa:
        strip = squad.JosaStripper()
        predictions = {qid: strip(answer) for qid, answer in predictions.items()}
    scores = squad_metrics.evaluate(dataset.data, predictions)
    spans = squad.gold_answer_spans(dataset)
    exact = squad_metrics.korquad_exact if dataset.data["version"].startswith("KorQuAD") else \
        squad_metrics.squad_v1_exact
    failures = []
    for index, example in enumerate(dataset.examples):
        prediction = predictions[example.qas_id]
        if not any(exact(prediction, text) for text, _ in example.answers):
            failures.append({"id": example.qas_id, "gold": example.answers[0][0], "predicted": prediction,
                             "reason": failure_reason(dataset, index, spans[index], prediction, config)})
    return {"exact_match": round(scores["exact_match"], 3), "f1": round(scores["f1"], 3),
            "failures": len(failures), "failure_list": failures}


@click.command()
@click.option("--data_dir", type=click.Path(exists=True, path_type=Path), default=ROOT.parent / "shared" / "data",
              show_default=True)
@click.option("--work_dir", type=click.Path(path_type=Path), default=Path("/tmp/mecab-bert-bench"), show_default=True)
def main(data_dir: Path, work_dir: Path) -> None:
    korquad, squad = data_dir / "korquad" / "KorQuAD_v1.0_dev.json", data_dir / "squad" / "dev-v1.1.json"
    english = english_vocab(squad, work_dir)
    report = {
        "featurization": {"korquad_dev_mecab": featurize_timed(korquad, "mecab"),
                          "squad_dev_wordpiece_english_vocab": featurize_timed(squad, "wordpiece", english)},
        "oracle": {"korquad_dev_mecab": oracle(korquad, "mecab"),
                   "korquad_dev_mecab_strip_josa": oracle(korquad, "mecab", strip_josa=True),
                   "korquad_dev_wordpiece": oracle(korquad, "wordpiece"),
                   "squad_dev_wordpiece_english_vocab": oracle(squad, "wordpiece", vocab=english),
                   "squad_dev_wordpiece_kowiki_vocab": oracle(squad, "wordpiece")},
    }
    for name in ("korquad_dev_mecab_strip_josa", "korquad_dev_wordpiece", "squad_dev_wordpiece_kowiki_vocab"):
        report["oracle"][name]["failure_list"] = report["oracle"][name]["failure_list"][:20]
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
