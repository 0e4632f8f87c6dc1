"""The whole pipeline as a user meets it: the Makefile targets the README gives."""

import json
import subprocess

import pytest
from conftest import ROOT


def make(*arguments, timeout=900):
    return subprocess.run(["make", "--no-print-directory", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_make_demo_runs_data_pretrain_squad_and_prints_scores(tmp_path):
    done = make("demo", f"OUT={tmp_path}", "STEPS=30", "EPOCHS=1", "NUM_WORKERS=1", "DEVICE=cpu")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    demo = tmp_path / "demo"
    assert (demo / "data" / "manifest.json").exists()
    assert (demo / "pretrain" / "ckpt-00000030.pt").exists() and (demo / "pretrain" / "eval_results.txt").exists()
    scores = json.loads((demo / "squad" / "eval_results.json").read_text())
    assert {"exact_match", "f1"} <= scores.keys()
    assert json.dumps(scores) in done.stdout
    for where in ("data: ", "pretraining: ", "squad: ", "demo: "):
        assert where in done.stdout
    # Re-running a stage whose inputs have not changed is harmless: data is not made again, pretraining
    # finds its last step done.
    again = make("data", "pretrain", f"OUT={demo}", "STEPS=30", "BATCH=16", "DEVICE=cpu")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "create_pretraining_data.py" not in again.stdout
    assert "Nothing to train" in again.stderr


def test_round_trip_through_hugging_face(tmp_path):
    """Pretrain a few steps -> export -> transformers gives the same logits -> run_squad starts from it."""
    transformers = pytest.importorskip("transformers")
    import numpy as np
    import torch
    from click.testing import CliRunner

    import modeling
    import run_pretraining
    import run_squad
    from mecab_bert.checkpoints import loading
    from mecab_bert.pretraining_data import creation, shard_format
    from mecab_bert.runs import checkpointing
    from mecab_bert.tasks import pretraining

    vocab, sample_qa = ROOT / "vocab" / "sample-4k.txt", ROOT / "data" / "sample_korquad.json"
    creation.create_pretraining_data(creation.RunSettings(input_file=str(ROOT / "data" / "sample_text_ko.txt"),
                                                output_dir=str(tmp_path / "data"), vocab_file=str(vocab),
                                                max_seq_length=64, max_predictions_per_seq=10, dupe_factor=1),
                                progress=False)
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps({"vocab_size": 4000, "hidden_size": 32, "num_hidden_layers": 2,
                                  "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}))
    pretrained = CliRunner().invoke(run_pretraining.main, [
        "--bert_config_file", str(config), "--input_file", str(tmp_path / "data"), "--output_dir",
        str(tmp_path / "pretrain"), "--vocab_file", str(vocab), "--max_seq_length", "64",
        "--max_predictions_per_seq", "10", "--do_train", "--num_train_steps", "4", "--num_warmup_steps", "1",
        "--train_batch_size", "8", "--device", "cpu", "--export_hf", str(tmp_path / "hf")])
    assert pretrained.exit_code == 0, pretrained.output

    ours = modeling.BertForPreTraining(modeling.BertConfig.from_json_file(config)).eval()
    ours.load_state_dict(checkpointing.load_checkpoint(loading.checkpoints(tmp_path / "pretrain")[-1])["model"])
    theirs = transformers.BertForPreTraining.from_pretrained(tmp_path / "hf").eval()
    batch = pretraining.records_to_batch(np.asarray(shard_format.load_shards(tmp_path / "data").arrays[0][:3]))
    with torch.no_grad():
        expected = theirs(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                          attention_mask=batch["attention_mask"])
        got = ours(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                   attention_mask=batch["attention_mask"])
    assert torch.allclose(expected.prediction_logits, got.mlm_logits, atol=1e-5)
    assert torch.allclose(expected.seq_relationship_logits, got.nsp_logits, atol=1e-5)

    squad = CliRunner().invoke(run_squad.main, [
        "--vocab_file", str(tmp_path / "hf" / "vocab.txt"), "--init_checkpoint", str(tmp_path / "hf"),
        "--output_dir", str(tmp_path / "squad"), "--do_predict", "--predict_file", str(sample_qa),
        "--max_seq_length", "96", "--doc_stride", "48", "--device", "cpu"])
    assert squad.exit_code == 0, squad.output
    assert "loaded" in squad.output and "qa_outputs" in squad.output  # the QA head starts fresh
    assert json.loads((tmp_path / "squad" / "predictions.json").read_text())
