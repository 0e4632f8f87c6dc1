"""Hugging Face directories for the export and tokenizer-settings tests: ours (`export`) and one that transformers
saved with its own tokenizer files (`foreign_bert`)."""

import json

import pytest
from conftest import ROOT

import modeling
from mecab_bert.checkpoints import hf_export
from mecab_bert.tokenizer_settings import TokenizerSettings

KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
SAMPLE_QA = ROOT / "data" / "sample_korquad.json"
KOWIKI_TINY = modeling.BertConfig(vocab_size=32000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=96)


def export(tmp_path, do_lower_case=True, mode="mecab", vocab=KOWIKI_VOCAB, model=None, name="hf"):
    settings = TokenizerSettings(str(vocab), do_lower_case, mode)
    model = model or modeling.BertForPreTraining(KOWIKI_TINY)
    return hf_export.export_hf(model, tmp_path / name, settings, hf_export.ModelCard("a test", {"steps": 7}))


def foreign_bert(tmp_path, do_lower_case, tokenizer_class="BertTokenizer", name="foreign"):
    """A Hugging Face BERT directory as transformers saves one, with its own tokenizer files (not ours) over the
    sample vocab plus a few capitalized words (a cased vocab)."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / name
    tokens = [*SAMPLE_VOCAB.read_text(encoding="utf-8").splitlines(), "Apple", "Seoul", "Korea"]
    config = transformers.BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    transformers.BertForPreTraining(config).save_pretrained(folder)
    tokenizer = transformers.BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=do_lower_case)
    tokenizer.save_pretrained(folder)
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    values = json.loads((folder / "tokenizer_config.json").read_text())
    values["tokenizer_class"] = tokenizer_class
    (folder / "tokenizer_config.json").write_text(json.dumps(values))
    return folder
