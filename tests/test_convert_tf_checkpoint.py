"""convert_tf_checkpoint.py: a TensorFlow checkpoint of Google's BERT written as a Hugging Face directory that
computes what TensorFlow computed; what is not a checkpoint, or a folder that is not an export, is refused."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from conftest import checkpoint_dir, google_uncased

import convert_tf_checkpoint


def test_the_converter_writes_a_hugging_face_directory_that_matches_tensorflow(tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = checkpoint_dir("bert_tiny")
    out = tmp_path / "hf"
    result = CliRunner().invoke(convert_tf_checkpoint.main, ["--tf_checkpoint", str(folder / "bert_model.ckpt"),
                                                             "--output_dir", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                     "special_tokens_map.json", "tokenizer.json",
                                                     "tokenizer_config.json", "vocab.txt"]
    model = transformers.BertForPreTraining.from_pretrained(out).eval()
    reference = np.load(folder / "reference.npz")
    with torch.no_grad():
        output = model(input_ids=torch.from_numpy(reference["input_ids"]).long(),
                       token_type_ids=torch.from_numpy(reference["segment_ids"]).long(),
                       attention_mask=torch.from_numpy(reference["input_mask"]).long(), output_hidden_states=True)
    sequence_output = output.hidden_states[-1].numpy()
    assert np.abs(sequence_output - reference["sequence_output"]).max() <= 1e-5
    positions = torch.from_numpy(reference["masked_lm_positions"]).long()
    logits = output.prediction_logits.gather(1, positions[..., None].expand(-1, -1, output.prediction_logits.size(-1)))
    assert np.abs(F.log_softmax(logits, -1).numpy() - reference["mlm_log_probs"]).max() <= 1e-5
    assert np.abs(F.log_softmax(output.seq_relationship_logits, -1).numpy() - reference["nsp_log_probs"]).max() <= 1e-5


def test_googles_uncased_checkpoint_converts_to_a_plain_bert_tokenizer(tmp_path):
    """BERT-Base uncased's vocab holds Hangul only as Jamo: the export's tokenizer is transformers' own BertTokenizer
    (no remote code), with the ids of Google's tokenizer on English and Korean, and the model learned those ids."""
    transformers = pytest.importorskip("transformers")
    folder = google_uncased()
    out = tmp_path / "hf"
    result = CliRunner().invoke(convert_tf_checkpoint.main, ["--tf_checkpoint", str(folder), "--output_dir", str(out)])
    assert result.exit_code == 0, result.output
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    reference = transformers.BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)
    texts = ("Who was Jim Henson?", "짐 헨슨은 누구였나?", "Café 50th 한국어")
    assert "Bert" in type(tokenizer).__name__ and "auto_map" not in (out / "tokenizer_config.json").read_text()
    assert tokenizer(*texts[:2])["input_ids"] == reference(*texts[:2])["input_ids"]
    assert tokenizer(texts[2])["input_ids"] == reference(texts[2])["input_ids"]
    assert "Hangul decomposed into Jamo" in (out / "README.md").read_text(encoding="utf-8")
    assert transformers.BertForPreTraining.from_pretrained(out).config.vocab_size == len(reference)


def test_the_converter_refuses_what_is_not_a_checkpoint(tmp_path):
    result = CliRunner().invoke(convert_tf_checkpoint.main, ["--tf_checkpoint", str(tmp_path / "nothing.ckpt"),
                                                             "--output_dir", str(tmp_path / "hf")])
    assert result.exit_code == 1 and "not a TensorFlow checkpoint" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "hf").exists()


def test_the_converter_never_replaces_a_folder_that_is_not_an_export(tmp_path):
    folder = checkpoint_dir("bert_tiny")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(convert_tf_checkpoint.main, ["--tf_checkpoint", str(folder / "bert_model.ckpt"),
                                                             "--output_dir", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "--output_dir replaces only an earlier export" in result.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
