"""How a transformers user's tokenizer compares with the one the model was trained with (FullTokenizer).

    python bench/bench_export_tokenizer.py [--korquad ../shared/data/korquad/KorQuAD_v1.0_dev.json]

Exports a tiny model over vocab/kowiki-32k.txt in each tokenizer mode, then tokenizes every KorQuAD 1.0 dev
context and question with: AutoTokenizer on the export (what a user does), AutoTokenizer on a directory holding
only config.json and vocab.txt (what exports held before they carried their tokenizer), and transformers'
BertTokenizer(strip_accents=False) (an expert's guess). Prints JSON: texts whose ids differ from FullTokenizer's,
texts whose offsets differ, the [UNK] share, and texts per second.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import click

import modeling
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


def texts_of(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [text for article in data for p in article["paragraphs"]
            for text in (p["context"], *(qa["question"] for qa in p["qas"]))]


def compare(name: str, tokenizer, reference, texts: list[str], unk_id: int) -> dict:
    start = time.perf_counter()
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    seconds = time.perf_counter() - start
    ids_differ = offsets_differ = unknown = total = 0
    for text, ids, spans in zip(texts, encoded["input_ids"], encoded["offset_mapping"], strict=True):
        expected = reference.tokenize_with_offsets(text)
        ids_differ += ids != reference.convert_tokens_to_ids([t for t, _, _ in expected])
        offsets_differ += [tuple(s) for s in spans] != [(s, e) for _, s, e in expected]
        unknown += ids.count(unk_id)
        total += len(ids)
    return {"tokenizer": name, "texts": len(texts), "ids_differ": ids_differ, "offsets_differ": offsets_differ,
            "unk_percent": round(100 * unknown / max(total, 1), 2), "texts_per_s": round(len(texts) / seconds, 1)}


@click.command()
@click.option("--korquad", default=str(ROOT.parent / "shared" / "data" / "korquad" / "KorQuAD_v1.0_dev.json"))
def main(korquad: str) -> None:
    import transformers

    texts = texts_of(Path(korquad))
    config = modeling.BertConfig(vocab_size=32000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("mecab", "wordpiece"):
            settings = tokenizer_settings.TokenizerSettings(str(VOCAB), True, mode)
            out = hf_export.export_hf(modeling.BertForPreTraining(config), Path(folder) / mode, settings,
                                      hf_export.ModelCard("bench"))
            reference = settings.full_tokenizer()
            unk = reference.vocab["[UNK]"]
            start = time.perf_counter()
            for text in texts:
                reference.tokenize_with_offsets(text)
            rows.append({"tokenizer": f"FullTokenizer ({mode})", "texts_per_s":
                         round(len(texts) / (time.perf_counter() - start), 1)})
            user = transformers.AutoTokenizer.from_pretrained(out, trust_remote_code=True)
            rows.append(compare(f"AutoTokenizer(export, {mode})", user, reference, texts, unk))
            if mode == "mecab":
                bare = Path(folder) / "bare"
                bare.mkdir()
                for name in ("config.json", "vocab.txt"):
                    shutil.copyfile(out / name, bare / name)
                rows.append(compare("AutoTokenizer(config.json + vocab.txt only)",
                                    transformers.AutoTokenizer.from_pretrained(bare), reference, texts, unk))
                guess = transformers.BertTokenizer(vocab=str(VOCAB), do_lower_case=True, strip_accents=False)
                rows.append(compare("BertTokenizer(strip_accents=False)", guess, reference, texts, unk))
    print(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
