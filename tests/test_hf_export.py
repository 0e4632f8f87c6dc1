"""mecab_bert/checkpoints/hf_export.py: an export is a whole Hugging Face directory (its tokenizer tokenizes as
FullTokenizer, through transformers' AutoTokenizer; its model loads in transformers and in our loader), and it
replaces only an earlier export."""

import errno
import json
import os
import pickle
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, run_as_script, snapshot
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA
from hf_directories import KOWIKI_TINY, KOWIKI_VOCAB, SAMPLE_QA, SAMPLE_VOCAB, export, foreign_bert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_bert import (
    ATOL,
    TINY,
    classifier_inputs,
    encoder_inputs,
    make_inputs,
    max_diff,
    perturbed,
    pretraining_logits,
)

import modeling
import run_squad
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export, loading
from mecab_bert.files import file_sha256
from mecab_bert.tasks import fine_tuning
from mecab_bert.tokenizer_settings import TokenizerSettings
from modeling import BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification
from text_input import InputError


def korquad_texts() -> list[str]:
    path = SHARED_DATA / "korquad" / "KorQuAD_v1.0_dev.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [text for article in data for p in article["paragraphs"]
            for text in (p["context"], *(qa["question"] for qa in p["qas"]))]


def auto_tokenizer(directory):
    return pytest.importorskip("transformers").AutoTokenizer.from_pretrained(directory, trust_remote_code=True)


def offset_differences(full_tokenizer, theirs, text):
    """(ours, theirs) spans that differ, for a text whose ids are equal."""
    ours = [(start, end) for _, start, end in full_tokenizer.tokenize_with_offsets(text)]
    spans = theirs(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [(a, tuple(b)) for a, b in zip(ours, spans, strict=True) if a != tuple(b)]


def only_dropped_characters_differ(text, differences) -> bool:
    """The one documented offset difference: FullTokenizer's span of a token also covers characters it drops (an
    accent lower-casing strips, a format character) where tokenizers cannot widen a character's alignment, so
    transformers' span is the part of it without them."""
    def dropped(char: str) -> bool:  # what cleaning drops, and accents (only lower-casing exports differ there)
        return unicodedata.category(char) in ("Cc", "Cf", "Mn") or char in "\x00\ufffd"

    return all(a[0] <= b[0] < b[1] <= a[1] and all(map(dropped, text[a[0]:b[0]] + text[b[1]:a[1]]))
               for a, b in differences)


# --- the exported tokenizer ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode, do_lower_case", [("mecab", True), ("wordpiece", True), ("wordpiece", False)])
def test_auto_tokenizer_equals_full_tokenizer_on_every_korquad_text(tmp_path, mode, do_lower_case):
    """Every KorQuAD 1.0 dev context and question: the same ids; the same offsets in mecab mode, and in wordpiece
    mode but where lower-casing strips an accent at the end of a token."""
    out = export(tmp_path, do_lower_case, mode)
    theirs = auto_tokenizer(out)
    ours = TokenizerSettings(str(KOWIKI_VOCAB), do_lower_case, mode).full_tokenizer(check_case=False)
    texts = korquad_texts()
    encoded = theirs(texts, add_special_tokens=False, return_offsets_mapping=True)
    different_ids = [text for text, ids in zip(texts, encoded["input_ids"], strict=True) if ids != ours.encode(text)]
    assert different_ids == []
    for text, spans in zip(texts, encoded["offset_mapping"], strict=True):
        differences = [(a[1:], tuple(b)) for a, b in zip(ours.tokenize_with_offsets(text), spans, strict=True)
                       if a[1:] != tuple(b)]
        if mode == "mecab":
            assert differences == [], text[:60]
        else:
            assert only_dropped_characters_differ(text, differences), (text[:60], differences)


# Hangul, conjoining Jamo, accents precomposed and not, Greek sigma, controls, format and private-use characters,
# Indic vowel signs NFC would compose, CJK (Extension E too), characters newer than tokenizers' Unicode tables,
# odd white space. The vocab holds some of them, so a wrong split shows in the ids, not as [UNK] on both sides.
SPECIMENS = ["ো", "\u09c7", "\u09be", "\ue000", "ς", "σ", "ʰ", "\u0345", "\u061d", "\U0002b820", "\U0002b920",
             "ᆨ", "ᄒ", "ᆞ"]
ALPHABET = st.sampled_from([
    *"사과나무에서 떨어졌다한국어각가abcXYZéÉüßİıΣΑЖж東京日本,.!?()[]#@-'\" 0123456789😀", *SPECIMENS,
    "e\u0301", "a\u0308", "\u0347", "\u200b", "\u200d", "\u00ad", "\u0890", "\ufff9", "\ufe00", "\ufffd",
    "\x00", "\x14", "\x7f", "\x84", "\u3000", "\u00a0", "\u2028", "\t", "\n"])
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    vocab = folder / "vocab-plus.txt"
    known = set(KOWIKI_VOCAB.read_text(encoding="utf-8").splitlines())
    extra = [token for specimen in SPECIMENS for token in (specimen, "##" + specimen) if token not in known]
    vocab.write_text(KOWIKI_VOCAB.read_text(encoding="utf-8") + "".join(f"{t}\n" for t in extra), encoding="utf-8")
    config = modeling.BertConfig(vocab_size=32000 + len(extra), hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32)
    return {(mode, lower): (auto_tokenizer(export(folder, lower, mode, vocab, modeling.BertForPreTraining(config),
                                                  name=f"{mode}-{lower}")),
                            TokenizerSettings(str(vocab), lower, mode).full_tokenizer(False))
            for mode, lower in (("mecab", True), ("wordpiece", True), ("wordpiece", False))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_auto_tokenizer_equals_full_tokenizer_on_random_text(exported, text):
    for theirs, ours in exported.values():
        assert theirs(text, add_special_tokens=False)["input_ids"] == ours.encode(text)
        assert only_dropped_characters_differ(text, offset_differences(ours, theirs, text))


def test_special_tokens_in_a_text_are_transformers_own(transformers, tmp_path):
    """The one deliberate difference in ids: "[MASK]" written in a text is the mask token (fill-mask needs it),
    where FullTokenizer reads it as text, as Google's does."""
    out = export(tmp_path, True, "mecab")
    tokenizer = auto_tokenizer(out)
    assert tokenizer("사과[MASK]", add_special_tokens=False)["input_ids"][-1] == tokenizer.mask_token_id
    fill = transformers.pipeline("fill-mask", model=str(out), tokenizer=tokenizer)
    assert len(fill("사과나무에서 [MASK]가 떨어졌다.")) == 5


def test_the_export_is_a_whole_hugging_face_directory(transformers, tmp_path):
    out = export(tmp_path, True, "mecab")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "special_tokens_map.json", "text_input.py",
        "tokenization.py", "tokenization_mecab_bert.py", "tokenizer_config.json", "vocab.txt"]
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o644"}
    # The code is this repository's own, byte for byte: not a second copy to keep in step.
    assert set(hf_export.CODE_FILES) == {"tokenization.py", "text_input.py", "tokenization_mecab_bert.py"}
    for name in hf_export.CODE_FILES:
        assert (out / name).read_bytes() == (ROOT / name).read_bytes()
    tokenizer = auto_tokenizer(out)
    assert type(tokenizer).__name__ == "MecabBertTokenizer"
    assert tokenizer.model_max_length == KOWIKI_TINY.max_position_embeddings
    assert json.loads((out / "special_tokens_map.json").read_text()) == {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    long_text = "사과나무에서 사과가 떨어졌다. " * 100
    encoded = tokenizer(long_text, truncation=True)
    # truncation=True stops at the model's positions
    assert len(encoded["input_ids"]) == KOWIKI_TINY.max_position_embeddings
    model = transformers.AutoModelForPreTraining.from_pretrained(out)
    with torch.no_grad():
        model(**tokenizer(long_text, truncation=True, return_tensors="pt"))
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "trust_remote_code=True" in card and "mecab-python3" in card and "| steps | 7 |" in card
    assert file_sha256(KOWIKI_VOCAB) in card


def test_the_mecab_tokenizer_pickles_and_saves(tmp_path):
    tokenizer = auto_tokenizer(export(tmp_path, True, "mecab"))
    text = "사과나무에서 사과가 떨어졌다."
    expected = tokenizer(text, return_offsets_mapping=True)
    assert pickle.loads(pickle.dumps(tokenizer))(text, return_offsets_mapping=True) == expected  # datasets.map
    tokenizer.save_pretrained(tmp_path / "saved")
    assert not (tmp_path / "saved" / "tokenizer.json").exists()  # it could not hold the MeCab step
    assert auto_tokenizer(tmp_path / "saved")(text, return_offsets_mapping=True) == expected


def test_the_export_needs_nothing_of_this_repository(transformers, tmp_path):
    """A user without this repository (its modules made unimportable) loads, saves and reloads the tokenizer."""
    out = export(tmp_path, True, "mecab")
    script = tmp_path / "user.py"
    script.write_text(f"""import json, sys
for name in {list(hf_export.CODE_FILES)!r} + ["mecab_bert"]:
    sys.modules[name.removesuffix(".py")] = None
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained({str(out)!r}, trust_remote_code=True)
tokenizer.save_pretrained({str(tmp_path / "saved")!r})
again = AutoTokenizer.from_pretrained({str(tmp_path / "saved")!r}, trust_remote_code=True)
text = "사과나무에서 사과가 떨어졌다."
print(json.dumps([tokenizer(text, add_special_tokens=False)["input_ids"], again(text)["input_ids"]]))
""", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ids, with_specials = json.loads(done.stdout.splitlines()[-1])
    expected = TokenizerSettings(str(KOWIKI_VOCAB), True, "mecab").full_tokenizer().encode(
        "사과나무에서 사과가 떨어졌다.")
    assert ids == expected and with_specials[1:-1] == expected


def test_pairs_and_windows_are_transformers_own(tmp_path):
    tokenizer = auto_tokenizer(export(tmp_path, True, "mecab"))
    question, context = "무엇이 떨어졌나?", "사과나무에서 사과가 떨어졌다. " * 20
    windows = tokenizer(question, context, truncation="only_second", max_length=40, stride=10,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(windows["input_ids"]) > 2
    for ids, types, spans in zip(windows["input_ids"], windows["token_type_ids"], windows["offset_mapping"],
                                 strict=True):
        sep = ids.index(tokenizer.sep_token_id)
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert set(types[:sep + 1]) == {0} and set(types[sep + 1:]) == {1}
        context_ids = ids[sep + 1:-1]
        pieces = [context[start:end] for start, end in spans[sep + 1:-1]]
        assert [tokenizer.convert_ids_to_tokens(i).removeprefix("##") for i in context_ids] == pieces


# --- run_squad: the export and run_squad agree, window for window ---------------------------------------


@pytest.mark.slow
def test_run_squad_export_gives_run_squads_logits_through_transformers(transformers, tmp_path, monkeypatch):
    """AutoModelForQuestionAnswering + AutoTokenizer on the export: the windows transformers' tokenizer cuts
    (stride set to Google's doc_stride) hold run_squad's ids, and the model's start/end logits equal run_squad's."""
    config = modeling.BertConfig(vocab_size=4000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128)
    init = hf_export.export_hf(modeling.BertForPreTraining(config), tmp_path / "init",
                               TokenizerSettings(str(SAMPLE_VOCAB), True, "mecab"), hf_export.ModelCard("a"))
    captured = {}
    real_predict = fine_tuning.predict

    def capture(model, data, batch_size, runtime):
        captured["features"], captured["logits"] = data, real_predict(model, data, batch_size, runtime)
        return captured["logits"]

    monkeypatch.setattr(fine_tuning, "predict", capture)
    max_seq_length, doc_stride, max_query_length = 96, 32, 64
    result = CliRunner().invoke(run_squad.main, [
        "--init_checkpoint", str(init), "--output_dir", str(tmp_path / "squad"), "--do_train",
        "--train_file", str(SAMPLE_QA), "--num_train_epochs", "1", "--train_batch_size", "16", "--do_predict",
        "--predict_file", str(SAMPLE_QA), "--max_seq_length", str(max_seq_length), "--doc_stride", str(doc_stride),
        "--max_query_length", str(max_query_length), "--export_hf", str(tmp_path / "export"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    tokenizer = auto_tokenizer(tmp_path / "export")
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path / "export").eval()
    features, logits = captured["features"], captured["logits"]
    rows = []
    for article in json.loads(SAMPLE_QA.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                question = tokenizer(qa["question"], add_special_tokens=False)["input_ids"][:max_query_length]
                max_tokens_for_doc = max_seq_length - len(question) - 3
                assert len(question) < max_query_length  # run_squad would cut it, transformers would not
                windows = tokenizer(qa["question"], paragraph["context"], truncation="only_second",
                                    max_length=max_seq_length, stride=max_tokens_for_doc - doc_stride,
                                    return_overflowing_tokens=True)
                rows += windows["input_ids"]
    assert len(rows) == len(features.input_ids)
    for row, (ids, mask) in enumerate(zip(features.input_ids, features.attention_mask, strict=True)):
        assert rows[row] == ids[mask == 1].tolist(), row
    with torch.no_grad():
        for first in range(0, len(rows), 64):
            batch = tokenizer.pad({"input_ids": rows[first:first + 64]}, padding="max_length",
                                  max_length=max_seq_length, return_tensors="pt")
            types = torch.from_numpy(features.token_type_ids[first:first + 64]).long()
            output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=types)
            real = batch["attention_mask"].numpy() == 1
            for theirs, ours in ((output.start_logits, logits.start_logits), (output.end_logits, logits.end_logits)):
                assert np.abs(theirs.numpy()[real] - ours[first:first + 64][real]).max() <= 1e-5


def test_replacing_an_export_never_deletes_a_folder_under_an_exports_file_name(tmp_path):
    out = export(tmp_path, True, "wordpiece")
    (out / "README.md").unlink()
    (out / "README.md").mkdir()
    (out / "README.md" / "thesis.txt").write_text("precious")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="holds files an export does not"):
        hf_export.export_hf(modeling.BertForPreTraining(KOWIKI_TINY), out, TokenizerSettings(
            str(KOWIKI_VOCAB), True, "wordpiece"), hf_export.ModelCard("again"), overwrite=True)
    assert snapshot(tmp_path) == before


def squad_export(tmp_path, init, name, *flags):
    result = CliRunner().invoke(run_squad.main, [
        "--init_checkpoint", str(init), "--output_dir", str(tmp_path / f"{name}-run"), "--do_train",
        "--train_file", str(SAMPLE_QA), "--num_train_epochs", "0.1", "--max_seq_length", "64", "--doc_stride", "32",
        "--export_hf", str(tmp_path / name), "--device", "cpu", *flags])
    assert result.exit_code == 0, result.output
    return tmp_path / name


@pytest.mark.slow
def test_re_exporting_keeps_the_directorys_own_tokenizer_files(transformers, tmp_path):
    """A cased BERT directory saved by transformers: fine-tuned here with no tokenizer flag (wordpiece, cased, its
    vocab), exported with its own tokenizer files (model_max_length set to the model's positions); our mecab
    export re-exported is written afresh, this repository's code included."""
    cased = foreign_bert(tmp_path, False)
    out = squad_export(tmp_path, cased, "from-foreign")
    assert (out / "vocab.txt").read_bytes() == (cased / "vocab.txt").read_bytes()
    theirs = json.loads((cased / "tokenizer_config.json").read_text())
    assert json.loads((out / "tokenizer_config.json").read_text()) == {**theirs, "model_max_length": 128,
                                                                         "tokenizer_mode": "wordpiece"}
    # The export, in turn, starts a run with no flag (its record says wordpiece, cased).
    assert tokenizer_settings.resolve_tokenizer(None, None, None, str(out)) == TokenizerSettings(
        str(out / "vocab.txt"), False, "wordpiece")
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    text = "Apple 사과나무에서 Seoul"
    assert transformers.AutoTokenizer.from_pretrained(out)(text)["input_ids"] == \
        transformers.AutoTokenizer.from_pretrained(cased)(text)["input_ids"]

    small = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)
    ours = export(tmp_path, True, "mecab", vocab=SAMPLE_VOCAB, model=modeling.BertForPreTraining(small), name="ours")
    again = squad_export(tmp_path, ours, "again")
    for name in ("tokenizer_config.json", "vocab.txt", *hf_export.CODE_FILES):
        assert (again / name).read_bytes() == (ours / name).read_bytes(), name


# --- a WordPiece export: loaded by transformers and by our loader; only an earlier export replaced -------


@pytest.fixture
def vocab_file(write_vocab):
    return write_vocab([f"piece{i}" for i in range(TINY.vocab_size - 5)])


WORDPIECE_EXPORT = ["README.md", "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                    "tokenizer_config.json", "vocab.txt"]


def export_wordpiece(model, vocab_file, out_dir, **kwargs):
    """export_hf with Google's uncased WordPiece tokenizer over `vocab_file`."""
    settings = tokenizer_settings.TokenizerSettings(str(vocab_file), True, "wordpiece")
    return hf_export.export_hf(model, out_dir, settings, hf_export.ModelCard("a test"), **kwargs)


def test_export_hf_round_trip(transformers, tmp_path, vocab_file):
    ours = perturbed(BertForPreTraining(TINY))
    out = export_wordpiece(ours, vocab_file, tmp_path / "export" / "hf")
    assert sorted(path.name for path in out.iterdir()) == WORDPIECE_EXPORT
    assert [path.name for path in out.parent.iterdir()] == ["hf"]  # no staging directory left behind
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert" and config["architectures"] == ["BertForPreTraining"]
    assert config["pad_token_id"] == 0 and config["layer_norm_eps"] == TINY.layer_norm_eps
    assert (out / "vocab.txt").read_bytes() == vocab_file.read_bytes()

    theirs, info = transformers.BertForPreTraining.from_pretrained(out, output_loading_info=True)
    assert {key: list(value) for key, value in info.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    inputs = make_inputs()
    every_position, nsp_logits = pretraining_logits(ours, inputs)
    with torch.no_grad():
        hf = theirs.eval()(input_ids=inputs["input_ids"], **encoder_inputs(inputs))
    assert max_diff(every_position, hf.prediction_logits) < ATOL
    assert max_diff(nsp_logits, hf.seq_relationship_logits) < ATOL

    # And back: our loader reads the export.
    reloaded = BertForPreTraining(TINY).eval()
    report = loading.load_pretrained(reloaded, out)
    assert report.initialized == () and report.unused == ()
    for ours_value, reloaded_value in zip(
        pretraining_logits(ours, inputs), pretraining_logits(reloaded, inputs), strict=True
    ):
        assert torch.equal(ours_value, reloaded_value)

    with pytest.raises(InputError, match="not empty"):
        export_wordpiece(ours, vocab_file, out)
    qa = BertForQuestionAnswering(TINY)
    export_wordpiece(qa, vocab_file, out, overwrite=True)
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    assert sorted(path.name for path in out.parent.iterdir()) == ["hf"]


def test_export_hf_refuses_a_folder_with_other_files(tmp_path, vocab_file):
    out = tmp_path / "models"
    out.mkdir()
    (out / "config.json").write_text("{}", encoding="utf-8")
    (out / "thesis.pdf").write_bytes(b"a week of work")
    before = snapshot(tmp_path)
    result = run_as_script(
        lambda: export_wordpiece(BertForPreTraining(TINY), vocab_file, out, overwrite=True)
    )
    assert_one_line_error(result, f"Error: {out}: ", "thesis.pdf", "--export_hf")
    assert snapshot(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["models", "vocab.txt"]  # no staging folder left


def test_export_hf_replaces_an_old_export_only(tmp_path, vocab_file):
    out = export_wordpiece(BertForPreTraining(TINY), vocab_file, tmp_path / "hf")
    (out / ".model.safetensors.~1a2b3c4d.tmp").write_text("a killed write", encoding="utf-8")
    with pytest.raises(InputError, match=f"{out}: not empty; pass --export_hf to replace it"):
        export_wordpiece(BertForPreTraining(TINY), vocab_file, out)
    export_wordpiece(BertForQuestionAnswering(TINY), vocab_file, out, overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == WORDPIECE_EXPORT
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf", "vocab.txt"]
    # Readable by others, as a model to share should be (safetensors alone would leave the weights 0600).
    assert (out / "model.safetensors").stat().st_mode & 0o044 == 0o044
    # An empty folder is no export to protect.
    (tmp_path / "empty").mkdir()
    export_wordpiece(BertForQuestionAnswering(TINY), vocab_file, tmp_path / "empty")
    assert (tmp_path / "empty" / "model.safetensors").is_file()


@pytest.mark.parametrize("kind", ["downloaded with its tokenizer", "same three files, not ours"])
def test_export_hf_never_replaces_a_downloaded_model(tmp_path, vocab_file, kind):
    out = tmp_path / "klue-bert"
    out.mkdir()
    names = ["config.json", "model.safetensors", "vocab.txt"]
    if kind == "downloaded with its tokenizer":
        names += ["tokenizer_config.json", "special_tokens_map.json"]
    for name in names:
        (out / name).write_text("theirs", encoding="utf-8")
    before = snapshot(tmp_path)
    result = run_as_script(
        lambda: export_wordpiece(BertForPreTraining(TINY), vocab_file, out, overwrite=True))
    assert_one_line_error(result, str(out), "--export_hf replaces only an earlier export")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("failure", ["missing-vocab", "disk-full"])
def test_failed_export_leaves_the_old_one_whole(tmp_path, vocab_file, monkeypatch, failure):
    out = export_wordpiece(BertForPreTraining(TINY), vocab_file, tmp_path / "hf")
    before = snapshot(tmp_path)
    vocab = vocab_file
    if failure == "missing-vocab":
        vocab = tmp_path / "nope.txt"
    else:
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device", str(out))

        monkeypatch.setattr(os, "fsync", full)
    result = run_as_script(lambda: export_wordpiece(BertForQuestionAnswering(TINY), vocab, out, overwrite=True))
    assert_one_line_error(result, "Error: ", str(vocab) if failure == "missing-vocab" else "the disk is full")
    assert snapshot(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf", "vocab.txt"]


@pytest.mark.parametrize("label_names", [("negative", "neutral", "positive"), ()])
def test_export_classifier_loads_in_hugging_face(transformers, tmp_path, vocab_file, label_names):
    ours = perturbed(BertForSequenceClassification(TINY, num_labels=3, label_names=label_names))
    out = export_wordpiece(ours, vocab_file, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    names = list(label_names) or ["LABEL_0", "LABEL_1", "LABEL_2"]
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": names[0], "1": names[1], "2": names[2]}
    assert config["label2id"] == {name: index for index, name in enumerate(names)}
    assert config["problem_type"] == "single_label_classification"

    theirs, info = transformers.AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert type(theirs).__name__ == "BertForSequenceClassification"
    assert {key: list(value) for key, value in info.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    assert theirs.config.num_labels == 3 and theirs.config.id2label == dict(enumerate(names))
    assert theirs.config.problem_type == "single_label_classification"
    encoder, _ = classifier_inputs(3)
    with torch.no_grad():
        assert max_diff(ours(**encoder).logits, theirs.eval()(**encoder).logits) < ATOL

    reloaded = BertForSequenceClassification(TINY, num_labels=3, label_names=label_names).eval()
    report = loading.load_pretrained(reloaded, out)
    assert report.initialized == () and report.unused == ()
    with torch.no_grad():
        assert torch.equal(ours(**encoder).logits, reloaded(**encoder).logits)


def test_export_regression_config(tmp_path, vocab_file):
    out = export_wordpiece(BertForSequenceClassification(TINY, num_labels=1), vocab_file, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert (config["id2label"], config["label2id"], config["problem_type"]) == (
        {"0": "LABEL_0"}, {"LABEL_0": 0}, "regression")
