"""extract_features.py: Google's JSON lines of each token's hidden states at --layers, with character offsets; the
values are the model's (ours, transformers', TensorFlow's); hostile input and flags are one line."""

import json

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT, checkpoint_dir, google_uncased
from test_cli import test_every_boolean_flag_takes_absl_no_spelling as check_absl_no_spelling
from test_cli import test_every_path_flag_refuses_a_symlink_loop_in_one_line as check_symlink_loops
from tiny_bert import perturbed

import extract_features
import modeling
from mecab_bert.tasks import features
from mecab_bert.tasks.classification import truncated_lengths

SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
CONFIG = modeling.BertConfig(vocab_size=3967, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=128)
KOREAN = ["세종대왕은 1443년에 훈민정음을 창제하였다.",
          "당시 백성들은 한자를 배우기 어려워 ||| 자신의 뜻을 글로 나타내지 못하는 경우가 많았다.",
          "",
          "세종은 이러한 현실을 안타깝게 여겨"]
GOOGLE_EXAMPLE = "Who was Jim Henson ? ||| Jim Henson was a puppeteer"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A run folder of ours (its checkpoint and bert_config.json) holding a perturbed BertForPreTraining."""
    folder = tmp_path_factory.mktemp("run")
    model = perturbed(modeling.BertForPreTraining(CONFIG))
    torch.save({"model": model.state_dict()}, folder / "ckpt-00000001.pt")
    (folder / "bert_config.json").write_text(CONFIG.to_json_string())
    return folder, model


def run(tmp_path, lines, *flags, init, vocab=SAMPLE_VOCAB, text=None):
    """extract_features.py on `lines` (or on the bytes `text`); returns (the click result, the output's records)."""
    source, output = tmp_path / "input.txt", tmp_path / "out" / "features.jsonl"
    source.write_bytes(text if text is not None else "".join(f"{line}\n" for line in lines).encode())
    arguments = [f"--input_file={source}", f"--output_file={output}", f"--init_checkpoint={init}", *flags]
    if vocab is not None:
        arguments.append(f"--vocab_file={vocab}")
    result = CliRunner().invoke(extract_features.main, arguments)
    done = result.exit_code == 0
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()] if done else []
    return result, records


def reference_layers(bert, record, vocab):
    """float [L, n, H]: every encoder layer's output over one record's tokens, the model's layers called one by one."""
    ids = torch.tensor([[vocab[feature["token"]] for feature in record["features"]]])
    segments = torch.tensor([[feature["segment"] for feature in record["features"]]])
    hidden, outputs = bert.embeddings(ids, segments), []
    with torch.no_grad():
        for layer in bert.encoder.layer:
            hidden = layer(hidden, None)
            outputs.append(hidden[0])
        assert torch.equal(outputs[-1], bert(ids, token_type_ids=segments).sequence_output[0])
    return torch.stack(outputs).numpy()


def written_layers(record):
    """float [K, n, H] of a record, and the K layer indexes."""
    indexes = [layer["index"] for layer in record["features"][0]["layers"]]
    values = np.array([[layer["values"] for layer in feature["layers"]] for feature in record["features"]])
    return values.transpose(1, 0, 2), indexes


def test_googles_structure_with_offsets_added(tmp_path, pretrained):
    result, records = run(tmp_path, KOREAN, "--layers=-1,0", init=pretrained[0])
    assert result.exit_code == 0, result.output
    assert [record["linex_index"] for record in records] == [0, 1, 2, 3]
    written = (tmp_path / "out" / "features.jsonl").read_text(encoding="utf-8")
    assert written.startswith('{"linex_index": 0, "features": [{"token": "[CLS]", "start": null, "end": null, '
                              '"segment": 0, "layers": [{"index": -1, "values": [')  # json.dumps' separators, Google's
    for record in records:
        assert list(record) == ["linex_index", "features"]
        for feature in record["features"]:
            assert list(feature) == ["token", "start", "end", "segment", "layers"]
            google = {key: feature[key] for key in ("token", "layers")}  # what Google writes, in its order
            assert [list(layer) for layer in google["layers"]] == [["index", "values"]] * 2
            assert [layer["index"] for layer in google["layers"]] == [-1, 0]
            for layer in google["layers"]:
                assert len(layer["values"]) == CONFIG.hidden_size
                assert all(round(value, 6) == value for value in layer["values"])
    # An empty line is Google's [CLS] [SEP], and keeps the n-th output line the n-th input line's.
    assert [feature["token"] for feature in records[2]["features"]] == ["[CLS]", "[SEP]"]
    assert "4 lines (1 pairs" in result.stdout and "1 without a token" in result.stdout
    assert result.stderr.startswith("tokenizer: mecab")


def test_values_are_the_models_layers(tmp_path, pretrained):
    folder, model = pretrained
    result, records = run(tmp_path, KOREAN, "--layers=-1,-2,-3,0,1", "--batch_size=3", init=folder)
    assert result.exit_code == 0, result.output
    vocab = {token: i for i, token in enumerate(SAMPLE_VOCAB.read_text(encoding="utf-8").splitlines())}
    for record in records:
        ours = reference_layers(model.bert, record, vocab)
        values, indexes = written_layers(record)
        assert indexes == [-1, -2, -3, 0, 1]
        assert np.abs(values - ours[indexes]).max() < 2e-6  # rounding to 6 places, and padding in the batch
        assert np.abs(values[0] - values[3]).max() > 1e-3  # -1 is the last layer, 0 the first: not the same


def test_values_equal_transformers_hidden_states(tmp_path, pretrained):
    transformers = pytest.importorskip("transformers")
    folder, model = pretrained
    theirs = transformers.BertModel(transformers.BertConfig(**CONFIG.to_dict()))
    theirs.load_state_dict(model.bert.state_dict(), strict=True)
    result, records = run(tmp_path, KOREAN, "--layers=-1,-2,-3", init=folder)
    assert result.exit_code == 0, result.output
    vocab = {token: i for i, token in enumerate(SAMPLE_VOCAB.read_text(encoding="utf-8").splitlines())}
    for record in records:
        ids = torch.tensor([[vocab[feature["token"]] for feature in record["features"]]])
        segments = torch.tensor([[feature["segment"] for feature in record["features"]]])
        with torch.no_grad():
            hidden = theirs.eval()(ids, token_type_ids=segments, output_hidden_states=True).hidden_states
        encoder = torch.stack(hidden[1:])[:, 0].numpy()  # hidden_states[0] is the embeddings: none of Google's
        values, indexes = written_layers(record)
        assert np.abs(values - encoder[indexes]).max() < 1e-5


def test_a_pair_is_two_segments_truncated_by_googles_rule(tmp_path, pretrained):
    line = "세종대왕은 1443년에 훈민정음을 창제하였다. ||| 백성"
    _, whole_records = run(tmp_path, [line], init=pretrained[0])
    whole = [feature["token"] for feature in whole_records[0]["features"]]
    result, records = run(tmp_path, [line], "--max_seq_length=10", init=pretrained[0])
    assert result.exit_code == 0, result.output
    tokens = [feature["token"] for feature in records[0]["features"]]
    segments = [feature["segment"] for feature in records[0]["features"]]
    first_sep = tokens.index("[SEP]")
    assert len(tokens) == 10 and tokens[-1] == "[SEP]"
    assert segments == [0] * (first_sep + 1) + [1] * (10 - first_sep - 1)
    assert "1 truncated" in result.stdout
    # Google's _truncate_seq_pair keeps the short text whole and cuts the long one's end.
    length_a = whole.index("[SEP]") - 1
    length_b = len(whole) - length_a - 3
    kept_a, kept_b = truncated_lengths(length_a, length_b, 10 - 3)
    assert kept_b == length_b == 1
    assert tokens == ["[CLS]", *whole[1:1 + kept_a], "[SEP]", *whole[length_a + 2:length_a + 2 + kept_b], "[SEP]"]


def test_offsets_point_into_the_line(tmp_path, pretrained):
    lines = [*KOREAN, "  앞뒤  공백과\t탭 |||  두 번째 글  "]
    result, records = run(tmp_path, lines, init=pretrained[0])
    assert result.exit_code == 0, result.output
    for line, record in zip(lines, records, strict=True):
        marker = line.find("|||")
        for feature in record["features"]:
            token, start, end = feature["token"], feature["start"], feature["end"]
            if token in ("[CLS]", "[SEP]"):
                assert start is None and end is None
                continue
            # [UNK] spans the word it stands for.
            assert line[start:end] == token.removeprefix("##") or (token == "[UNK]" and line[start:end].strip())
            assert feature["segment"] == (0 <= marker < start)


def test_google_readme_example_on_googles_checkpoint(tmp_path):
    """Google's README command (its --layers cut to the two layers of this model) on a checkpoint in Google's layout:
    Google's tokens, as transformers' BertTokenizerFast gives them, and its segments."""
    folder = google_uncased()
    result, records = run(tmp_path, [GOOGLE_EXAMPLE], f"--bert_config_file={folder / 'bert_config.json'}",
                          "--layers=-1,-2", "--max_seq_length=128", "--batch_size=8",
                          init=folder / "bert_model.ckpt", vocab=folder / "vocab.txt")
    assert result.exit_code == 0, result.output
    assert "tokenizer: wordpiece (Google's" in result.stderr
    tokens = [feature["token"] for feature in records[0]["features"]]
    assert " ".join(tokens) == "[CLS] who was jim henson ? [SEP] jim henson was a puppet ##eer [SEP]"
    transformers = pytest.importorskip("transformers")
    theirs = transformers.BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)
    encoded = theirs(*GOOGLE_EXAMPLE.split(" ||| "))
    assert tokens == theirs.convert_ids_to_tokens(encoded["input_ids"])
    assert [feature["segment"] for feature in records[0]["features"]] == encoded["token_type_ids"]
    assert [layer["index"] for layer in records[0]["features"][0]["layers"]] == [-1, -2]


def test_the_last_layer_is_tensorflows_sequence_output():
    """Google's layer -1 over TensorFlow's reference batch, caught as extract_features catches it."""
    folder = checkpoint_dir("bert_tiny")
    reference = np.load(folder / "reference.npz")
    config = features.model_config(None, str(folder / "bert_model.ckpt"))
    model = features.load_model(str(folder / "bert_model.ckpt"), config, torch.device("cpu"))
    batch = {"input_ids": torch.from_numpy(reference["input_ids"]).long(),
             "token_type_ids": torch.from_numpy(reference["segment_ids"]).long(),
             "attention_mask": torch.from_numpy(reference["input_mask"]).long()}
    last = features.encoder_layers(model, batch, [-1])[0].numpy()
    real = reference["input_mask"].astype(bool)
    assert np.abs(last[real] - reference["sequence_output"][real]).max() < 1e-5


BAD_INPUTS = [
    pytest.param("세종\n".encode() + b"\xff" + "백성\n".encode(), [], ["input.txt:2:", "not valid UTF-8"],
                 id="invalid UTF-8"),
    pytest.param("세종\n".encode("utf-16"), [], ["input.txt", "UTF-16"], id="UTF-16"),
    pytest.param(b"a\nb\x00c\n", [], ["input.txt:2:", "NUL byte"], id="NUL byte"),
    pytest.param(b"a\nb\rc\n", [], ["input.txt:2:", "carriage return"], id="lone carriage return"),
    pytest.param("세종 ||| 백성\n가 ||| 나 ||| 다\n".encode(), [], ["input.txt:2:", "2 times |||"],
                 id="two pair marks"),
    pytest.param("세종 |||  \n".encode(), [], ["input.txt:1:", "no text after |||"], id="nothing after |||"),
    pytest.param("|||백성\n".encode(), [], ["input.txt:1:", "no text before |||"], id="nothing before |||"),
    pytest.param(b"", [], ["input.txt: no lines"], id="empty file"),
    pytest.param(b"a\n", ["--layers=-1,-5"], ["--layers -1,-5", "4 layers", "-5"], id="layer out of range"),
    pytest.param(b"a\n", ["--layers=4"], ["--layers 4", "4 layers"], id="layer 4 of 0-3"),
    pytest.param(b"a\n", ["--layers=-1,last"], ["--layers", "not comma-separated integers"], id="layers not ints"),
    pytest.param(b"a\n", ["--layers="], ["--layers", "not comma-separated integers"], id="layers empty"),
    pytest.param(b"a\n", ["--max_seq_length=129"], ["--max_seq_length 129", "max_position_embeddings (128)"],
                 id="longer than the positions"),
    pytest.param(b"a\n", ["--max_seq_length=2"], ["--max_seq_length"], id="no room for [CLS] a [SEP] b [SEP]"),
    pytest.param(b"a\n", ["--batch_size=0"], ["--batch_size"], id="batch size 0"),
    pytest.param(b"a\n", ["--output_file={input}"], ["--output_file", "would overwrite the input"],
                 id="output over the input"),
    pytest.param(b"a\n", ["--vocab_file={kowiki}"], ["kowiki-32k.txt", "vocab"], id="a vocab larger than the model's"),
    pytest.param(b"a\n", ["--use_tpu=True"], ["--use_tpu", "no TPU path"], id="use_tpu"),
]


@pytest.mark.parametrize(("text", "flags", "words"), BAD_INPUTS)
def test_bad_inputs_are_one_line(tmp_path, pretrained, text, flags, words):
    output = tmp_path / "out" / "features.jsonl"
    output.parent.mkdir()
    output.write_text("an earlier output\n")
    values = {"input": tmp_path / "input.txt", "kowiki": ROOT / "vocab" / "kowiki-32k.txt"}
    flags = [flag.format(**values) for flag in flags]
    vocab = None if any(flag.startswith("--vocab_file") for flag in flags) else SAMPLE_VOCAB
    before = snapshot(tmp_path / "out")
    result, _ = run(tmp_path, [], *flags, init=pretrained[0], vocab=vocab, text=text)
    assert_one_line_error(result, *words)
    assert snapshot(tmp_path / "out") == before


def test_a_model_without_a_config_names_the_flag(tmp_path, pretrained):
    result, _ = run(tmp_path, ["a"], init=tmp_path / "typo")
    assert_one_line_error(result, "typo: no such file or folder")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "weights.pt").write_bytes((pretrained[0] / "ckpt-00000001.pt").read_bytes())
    result, _ = run(tmp_path, ["a"], init=bare / "weights.pt")
    assert_one_line_error(result, "no model config", "--bert_config_file")
    result, records = run(tmp_path, ["a"], f"--bert_config_file={pretrained[0] / 'bert_config.json'}",
                          init=bare / "weights.pt")
    assert result.exit_code == 0 and len(records) == 1, result.output


def test_a_failure_while_writing_leaves_the_earlier_output(tmp_path, pretrained, monkeypatch):
    """The output is written atomically: a full disk (or a kill) after some lines leaves the earlier file whole."""
    output = tmp_path / "out" / "features.jsonl"
    output.parent.mkdir()
    output.write_text("an earlier output\n")
    before = snapshot(tmp_path / "out")
    real, calls = features.encoder_layers, []

    def fill_the_disk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(features, "encoder_layers", fill_the_disk)
    result, _ = run(tmp_path, KOREAN, "--batch_size=1", init=pretrained[0])
    assert_one_line_error(result, "features.jsonl", "the disk is full")
    assert snapshot(tmp_path / "out") == before


def test_lines_parse_as_one_text_or_a_pair():
    assert features.parse_line(0, "세종 ||| 백성", "f:1") == features.InputLine(0, "세종 ||| 백성", (0, 3), (6, 9))
    assert features.parse_line(4, "a|||b", "f:5").b == (4, 5)  # Google would read "a | | | b" as one text
    assert features.parse_line(2, "", "f:3") == features.InputLine(2, "", (0, 0), None)


def test_the_batch_changes_nothing_but_the_last_digit(tmp_path, pretrained):
    one, alone = run(tmp_path, KOREAN, "--batch_size=1", "--use_one_hot_embeddings=True", init=pretrained[0])
    assert one.exit_code == 0, one.output
    _, together = run(tmp_path, KOREAN, init=pretrained[0])
    assert len(together) == len(KOREAN)
    for a, b in zip(alone, together, strict=True):
        assert [f["token"] for f in a["features"]] == [f["token"] for f in b["features"]]
        assert np.abs(written_layers(a)[0] - written_layers(b)[0]).max() <= 2e-6


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_one_line(tmp_path, pretrained):
    result, _ = run(tmp_path, ["a"], "--device=cuda", init=pretrained[0])
    assert_one_line_error(result, "--device cuda", "no CUDA device")


def test_the_command_line_rules_of_every_script(tmp_path):
    """test_cli's checks of every script: each path flag refuses a symlink loop in one line; --noX for each boolean."""
    check_symlink_loops(tmp_path, "extract_features")
    check_absl_no_spelling("extract_features")
