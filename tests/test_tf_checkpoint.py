import dataclasses
import os
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA, checkpoint_dir

import modeling
from mecab_bert.checkpoints import loading, tf_checkpoint
from text_input import InputError


def pretraining_model(folder, **changes) -> modeling.BertForPreTraining:
    config = dataclasses.replace(modeling.BertConfig.from_json_file(folder / "bert_config.json"), **changes)
    return modeling.BertForPreTraining(config).eval()


def copy_checkpoint(folder, tmp_path):
    """A writable copy of a checkpoint's two files, so they can be damaged."""
    for name in ("bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001"):
        shutil.copyfile(folder / name, tmp_path / name)
        os.chmod(tmp_path / name, 0o644)
    return tmp_path / "bert_model.ckpt"


def assert_one_line(error: pytest.ExceptionInfo, *names) -> None:
    message = str(error.value)
    assert "\n" not in message
    for name in names:
        assert str(name) in message, f"{name!r} not in {message!r}"


@pytest.mark.parametrize("name", ["bert_tiny", "bert_tiny_adam"])
def test_outputs_match_tensorflow(name):
    folder = checkpoint_dir(name)
    # TensorFlow ran Google's current modeling.py, whose gelu is the tanh approximation (the graph in
    # bert_model.ckpt.meta has Pow under intermediate/dense, no Erf), though bert_config.json says "gelu" (with the
    # exact erf gelu the MLM log-probs differ by 1.05e-5 on bert_tiny): config_for reads it from the graph.
    config = modeling.BertConfig.from_json_file(folder / "bert_config.json")
    assert config.hidden_act == "gelu"
    config = tf_checkpoint.config_for(folder / "bert_model.ckpt", config)
    assert config.hidden_act == "gelu_new"
    model = modeling.BertForPreTraining(config).eval()
    report = loading.load_pretrained(model, folder / "bert_model.ckpt")
    assert report.initialized == ()
    reference = np.load(folder / "reference.npz")
    inputs = {
        key: torch.from_numpy(reference[key]).long() for key in reference.files if reference[key].dtype.kind == "i"
    }
    with torch.no_grad():
        sequence_output, pooled_output = model.bert(
            inputs["input_ids"], token_type_ids=inputs["segment_ids"], attention_mask=inputs["input_mask"]
        )
        output = model(
            inputs["input_ids"],
            token_type_ids=inputs["segment_ids"],
            attention_mask=inputs["input_mask"],
            masked_lm_positions=inputs["masked_lm_positions"],
        )
    ours = {
        "sequence_output": sequence_output,
        "pooled_output": pooled_output,
        "mlm_log_probs": F.log_softmax(output.mlm_logits, dim=-1),
        "nsp_log_probs": F.log_softmax(output.nsp_logits, dim=-1),
    }
    for key, value in ours.items():
        difference = (value - torch.from_numpy(reference[key])).abs().max().item()
        print(f"{name} {key}: max abs difference {difference:.3g}")
        assert difference <= 1e-5, key


def test_adam_slots_and_global_step_are_skipped():
    folder = checkpoint_dir("bert_tiny_adam")
    checkpoint = tf_checkpoint.read_index(folder / "bert_model.ckpt")
    assert "global_step" in checkpoint.entries
    assert any(name.endswith("/adam_m") for name in checkpoint.entries)
    state = tf_checkpoint.load_tf_bert(folder / "bert_model.ckpt")
    assert len(state) == 46
    assert all(tensor.dtype == torch.float32 for tensor in state.values())


def test_names_and_layout():
    folder = checkpoint_dir("bert_tiny")
    prefix = folder / "bert_model.ckpt"
    checkpoint = tf_checkpoint.read_index(prefix)
    state = tf_checkpoint.load_tf_bert(prefix)
    kernel = tf_checkpoint.read_tensor(checkpoint, "bert/encoder/layer_1/intermediate/dense/kernel")  # [H, I]
    assert torch.equal(state["bert.encoder.layer.1.intermediate.dense.weight"], torch.from_numpy(kernel.T.copy()))
    output_weights = tf_checkpoint.read_tensor(checkpoint, "cls/seq_relationship/output_weights")  # [2, H]
    assert torch.equal(state["cls.seq_relationship.weight"], torch.from_numpy(output_weights.copy()))
    assert state["cls.predictions.bias"].shape == (120,)
    assert "bert.embeddings.LayerNorm.weight" in state


@pytest.mark.parametrize(
    ("tf_name", "expected"),
    [
        ("bert/encoder/layer_11/attention/self/query/kernel", "bert.encoder.layer.11.attention.self.query.weight"),
        ("bert/encoder/layer_0/output/LayerNorm/beta", "bert.encoder.layer.0.output.LayerNorm.bias"),
        ("bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight"),
        ("bert/pooler/dense/bias", "bert.pooler.dense.bias"),
        ("cls/predictions/transform/LayerNorm/gamma", "cls.predictions.transform.LayerNorm.weight"),
        ("cls/squad/output_weights", "qa_outputs.weight"),
        ("output_bias", "classifier.bias"),
        ("bert/encoder/layer_0/attention/self/query/gamma", None),
        ("bert/embeddings/LayerNorm/kernel", None),
        ("some/other/kernel", None),
    ],
)
def test_hf_name(tf_name, expected):
    assert tf_checkpoint.hf_name(tf_name) == expected


@pytest.mark.parametrize("form", ["prefix", "index", "folder"])
def test_path_forms(form):
    folder = checkpoint_dir("bert_tiny")
    path = {"prefix": folder / "bert_model.ckpt", "index": folder / "bert_model.ckpt.index", "folder": folder}[form]
    report = loading.load_pretrained(pretraining_model(folder), path)
    assert report.source == str(folder / "bert_model.ckpt.index")


def test_folder_with_two_checkpoints_is_ambiguous(tmp_path):
    (tmp_path / "model.ckpt-100.index").write_bytes(b"")
    (tmp_path / "model.ckpt-200.index").write_bytes(b"")
    with pytest.raises(InputError) as error:
        tf_checkpoint.checkpoint_prefix(tmp_path)
    assert_one_line(error, tmp_path, "model.ckpt-100.index", "model.ckpt-200.index")


def test_truncated_data_file(tmp_path):
    prefix = copy_checkpoint(checkpoint_dir("bert_tiny"), tmp_path)
    data = tmp_path / "bert_model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(InputError) as error:
        loading.load_pretrained(pretraining_model(checkpoint_dir("bert_tiny")), prefix)
    assert_one_line(error, data, "truncated")


def test_corrupt_data_fails_its_checksum(tmp_path):
    prefix = copy_checkpoint(checkpoint_dir("bert_tiny"), tmp_path)
    data = tmp_path / "bert_model.ckpt.data-00000-of-00001"
    damaged = bytearray(data.read_bytes())
    damaged[100] ^= 0xFF
    data.write_bytes(bytes(damaged))
    with pytest.raises(InputError) as error:
        tf_checkpoint.load_tf_bert(prefix)
    assert_one_line(error, data, "checksum")


def test_missing_shard(tmp_path):
    prefix = copy_checkpoint(checkpoint_dir("bert_tiny"), tmp_path)
    data = tmp_path / "bert_model.ckpt.data-00000-of-00001"
    data.unlink()
    with pytest.raises(InputError) as error:
        tf_checkpoint.load_tf_bert(prefix)
    assert_one_line(error, data, "missing shard")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda index: index[:-1] + b"\x00", "bad magic"),
        (lambda index: index[:20], "truncated"),
        (lambda index: index[:100] + bytes([index[100] ^ 0xFF]) + index[101:], "checksum"),
        (lambda index: b"", "truncated"),
    ],
)
def test_bad_index(tmp_path, damage, words):
    prefix = copy_checkpoint(checkpoint_dir("bert_tiny"), tmp_path)
    index = tmp_path / "bert_model.ckpt.index"
    index.write_bytes(damage(index.read_bytes()))
    with pytest.raises(InputError) as error:
        loading.load_pretrained(pretraining_model(checkpoint_dir("bert_tiny")), prefix)
    assert_one_line(error, index, words)


def test_unknown_variable_is_listed(tmp_path, monkeypatch):
    prefix = copy_checkpoint(checkpoint_dir("bert_tiny"), tmp_path)
    read_index = tf_checkpoint.read_index

    def with_extra(path):
        checkpoint = read_index(path)
        entry = checkpoint.entries["bert/pooler/dense/bias"]
        return checkpoint._replace(entries={**checkpoint.entries, "bert/pooler/extra/kernel": entry})

    monkeypatch.setattr(tf_checkpoint, "read_index", with_extra)
    with pytest.raises(InputError) as error:
        tf_checkpoint.load_tf_bert(prefix)
    assert_one_line(error, tmp_path / "bert_model.ckpt.index", "bert/pooler/extra/kernel")


def test_crc32c_matches_the_standard_check_value():
    # The CRC-32C catalogue's check value for b"123456789" is 0xE3069283; masked as TensorFlow stores it.
    crc = 0xE3069283
    assert tf_checkpoint.masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    data = os.urandom(200_000)  # long enough for the vectorized path, with a tail
    assert tf_checkpoint._crc_register(data, 0xFFFFFFFF) == tf_checkpoint._crc_serial(data, 0xFFFFFFFF)


def test_a_google_checkpoint_starts_a_fine_tuning_run_and_is_recorded(tmp_path):
    """--init_checkpoint .../bert_model.ckpt (Google's prefix) in a training script: loaded, and run.json records the
    sha256 of its .index and .data files, so a resume from other weights is refused."""
    import json

    from click.testing import CliRunner

    import run_classifier

    source = SHARED_DATA / "tf_checkpoints" / "bert_tiny"
    if not source.is_dir():
        pytest.skip(f"{source} not present")
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"
    rows = [f"main\tf\t2012\t{i:04d}\t{i % 6}.0\tthe man is {i}\ta man" for i in range(8)]
    (tmp_path / "sts-train.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    # The test checkpoint's vocab is synthetic (tok0, tok1, ...): every token of the text is [UNK], as allowed.
    result = CliRunner().invoke(run_classifier.main, [
        "--task_name", "korsts", "--data_dir", str(tmp_path), "--vocab_file", str(source / "vocab.txt"),
        "--tokenizer", "wordpiece", "--init_checkpoint", str(source / "bert_model.ckpt"), "--output_dir",
        str(tmp_path / "out"), "--do_train", "--max_seq_length", "16", "--device", "cpu", "--max_unk_rate", "1"])
    assert result.exit_code == 0, result.output
    assert "bert_model.ckpt.index" in result.output
    recorded = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["init_checkpoint"]
    assert sorted(recorded) == ["bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index"]


def test_the_graph_tells_the_gelu(tmp_path):
    folder = checkpoint_dir("bert_tiny")
    prefix = copy_checkpoint(folder, tmp_path)
    config = modeling.BertConfig.from_json_file(folder / "bert_config.json")
    assert tf_checkpoint.config_for(prefix, config) == config  # no .meta beside it: the config stands
    (tmp_path / "bert_model.ckpt.meta").write_bytes(b"...bert/encoder/layer_0/intermediate/dense/Erf...")
    assert tf_checkpoint.config_for(prefix, config).hidden_act == "gelu"
    (tmp_path / "bert_model.ckpt.meta").write_bytes((folder / "bert_model.ckpt.meta").read_bytes())
    assert tf_checkpoint.config_for(prefix, config).hidden_act == "gelu_new"
    assert tf_checkpoint.config_for(prefix, dataclasses.replace(config, hidden_act="relu")).hidden_act == "relu"
    assert tf_checkpoint.config_for(tmp_path / "elsewhere.pt", config) == config  # not a Google checkpoint
