"""hf_export: an export is a whole Hugging Face directory (its tokenizer tokenizes as FullTokenizer, through
transformers' AutoTokenizer), and a run that starts from a Hugging Face directory takes its tokenizer settings."""

import json
import os
import pickle
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modeling
import run_squad
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export
from mecab_bert.files import file_sha256
from mecab_bert.tasks import fine_tuning
from mecab_bert.tokenizer_settings import TokenizerSettings
from text_input import InputError

transformers = pytest.importorskip("transformers")

KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
SAMPLE_QA = ROOT / "data" / "sample_korquad.json"
TINY = modeling.BertConfig(vocab_size=32000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=96)


def export(tmp_path, do_lower_case=True, mode="mecab", vocab=KOWIKI_VOCAB, model=None, name="hf"):
    settings = TokenizerSettings(str(vocab), do_lower_case, mode)
    model = model or modeling.BertForPreTraining(TINY)
    return hf_export.export_hf(model, tmp_path / name, settings, hf_export.ModelCard("a test", {"steps": 7}))


def korquad_texts() -> list[str]:
    path = SHARED_DATA / "korquad" / "KorQuAD_v1.0_dev.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [text for article in data for p in article["paragraphs"]
            for text in (p["context"], *(qa["question"] for qa in p["qas"]))]


def auto_tokenizer(directory):
    return transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=True)


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


def test_special_tokens_in_a_text_are_transformers_own(tmp_path):
    """The one deliberate difference in ids: "[MASK]" written in a text is the mask token (fill-mask needs it),
    where FullTokenizer reads it as text, as Google's does."""
    out = export(tmp_path, True, "mecab")
    tokenizer = auto_tokenizer(out)
    assert tokenizer("사과[MASK]", add_special_tokens=False)["input_ids"][-1] == tokenizer.mask_token_id
    fill = transformers.pipeline("fill-mask", model=str(out), tokenizer=tokenizer)
    assert len(fill("사과나무에서 [MASK]가 떨어졌다.")) == 5


def test_the_export_is_a_whole_hugging_face_directory(tmp_path):
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
    assert tokenizer.model_max_length == TINY.max_position_embeddings
    assert json.loads((out / "special_tokens_map.json").read_text()) == {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    long_text = "사과나무에서 사과가 떨어졌다. " * 100
    encoded = tokenizer(long_text, truncation=True)
    assert len(encoded["input_ids"]) == TINY.max_position_embeddings  # truncation=True stops at the model's positions
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


def test_the_export_needs_nothing_of_this_repository(tmp_path):
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
def test_run_squad_export_gives_run_squads_logits_through_transformers(tmp_path, monkeypatch):
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


# --- settings travel in --------------------------------------------------------------------------------


def foreign_bert(tmp_path, do_lower_case, tokenizer_class="BertTokenizer", name="foreign"):
    """A Hugging Face BERT directory as transformers saves one, with its own tokenizer files (not ours) over the
    sample vocab plus a few capitalized words (a cased vocab)."""
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


def rewrite_vocab(folder, tokens):
    """Gives a foreign directory another vocab.txt (and drops the tokenizer.json that would contradict it)."""
    (folder / "vocab.txt").write_text("".join(f"{token}\n" for token in tokens), encoding="utf-8")
    (folder / "tokenizer.json").unlink(missing_ok=True)


def test_unset_flags_take_the_directorys_tokenizer(tmp_path):
    small = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)
    ours = export(tmp_path, True, "mecab", vocab=SAMPLE_VOCAB, model=modeling.BertForPreTraining(small))
    assert tokenizer_settings.resolve_tokenizer(None, None, None, str(ours)) == TokenizerSettings(
        str(ours / "vocab.txt"), True, "mecab")
    cased = foreign_bert(tmp_path, False)
    assert tokenizer_settings.resolve_tokenizer(None, None, None, str(cased)) == TokenizerSettings(
        str(cased / "vocab.txt"), False, "wordpiece")
    # The same vocab under another name, and flags that agree: no conflict.
    same = tmp_path / "same.txt"
    same.write_bytes((cased / "vocab.txt").read_bytes())
    assert tokenizer_settings.resolve_tokenizer(str(same), False, "wordpiece", str(cased)) == TokenizerSettings(
        str(same), False, "wordpiece")
    # No directory: the defaults.
    assert tokenizer_settings.resolve_tokenizer(str(SAMPLE_VOCAB), None, None, None) == TokenizerSettings(
        str(SAMPLE_VOCAB), True, "mecab")


def test_a_directory_that_does_not_record_a_setting_takes_the_flag(tmp_path):
    """A foreign BERT directory records its case, not MeCab (it cannot): --tokenizer mecab is the user's to give,
    for a Korean BERT trained on MeCab-split text and saved as a plain BertTokenizer."""
    cased = foreign_bert(tmp_path, False)
    assert tokenizer_settings.resolve_tokenizer(None, None, "mecab", str(cased)).tokenizer == "mecab"


@pytest.mark.parametrize("flags, named", [
    ((None, True, None), "--do_lower_case True contradicts"),
    ((None, None, "wordpiece"), "--tokenizer wordpiece contradicts"),
    ((str(KOWIKI_VOCAB), None, None), "differs from"),
])
def test_flags_that_contradict_the_directory_are_one_line(tmp_path, flags, named):
    small = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)
    ours = export(tmp_path, False, "mecab", vocab=SAMPLE_VOCAB, model=modeling.BertForPreTraining(small))
    with pytest.raises(InputError, match=named) as error:
        tokenizer_settings.resolve_tokenizer(*flags, str(ours))
    assert "\n" not in str(error.value) and str(ours) in str(error.value)


def test_an_export_made_before_exports_recorded_their_tokenizer_asks_for_the_flags(tmp_path):
    small = modeling.BertConfig(vocab_size=4000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)
    old = export(tmp_path, True, "mecab", vocab=SAMPLE_VOCAB, model=modeling.BertForPreTraining(small))
    for name in ("tokenizer_config.json", "special_tokens_map.json", "README.md", *hf_export.CODE_FILES):
        (old / name).unlink()
    with pytest.raises(InputError, match="pass --tokenizer and --do_lower_case"):
        tokenizer_settings.resolve_tokenizer(None, None, None, str(old))
    assert tokenizer_settings.resolve_tokenizer(None, True, "mecab", str(old)) == TokenizerSettings(
        str(old / "vocab.txt"), True, "mecab")


def test_a_directorys_case_that_contradicts_its_vocab_names_its_config(tmp_path):
    folder = foreign_bert(tmp_path, False)
    rewrite_vocab(folder, SAMPLE_VOCAB.read_text(encoding="utf-8").splitlines())  # uncased
    with pytest.raises(InputError, match=r"tokenizer_config\.json: do_lower_case False does not fit the vocab"):
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))


def test_a_flag_that_contradicts_the_directory_stops_the_script_before_anything_is_written(tmp_path):
    cased = foreign_bert(tmp_path, False)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(run_squad.main, [
        "--init_checkpoint", str(cased), "--output_dir", str(tmp_path / "out"), "--do_train", "--train_file",
        str(SAMPLE_QA), "--do_lower_case", "True"])
    assert_one_line_error(result, "--do_lower_case True contradicts", str(cased))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("config, named", [
    ({"tokenizer_class": "XLMRobertaTokenizer"}, "XLMRobertaTokenizer"),
    ({"do_lower_case": "yes"}, "do_lower_case"),
    ({"tokenizer_mode": "bpe"}, "tokenizer_mode"),
    ({"do_lower_case": False, "strip_accents": True}, "strip_accents"),
    ({"do_lower_case": True, "strip_accents": False}, "strip_accents"),
    ({"tokenize_chinese_chars": False}, "tokenize_chinese_chars"),
    ({"never_split": ["[FOO]"]}, "never_split"),
    ([], "not a JSON object"),
])
def test_a_tokenizer_this_repository_cannot_reproduce_is_refused(tmp_path, config, named):
    folder = foreign_bert(tmp_path, False)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=named) as error:
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))
    assert "\n" not in str(error.value)


def test_a_vocab_of_hangul_decomposed_into_jamo_is_refused(tmp_path):
    """Multilingual-uncased's vocab: Google's uncased tokenizer learned Hangul as Jamo (bert#135); tokenizing
    Hangul whole here would make every Korean word [UNK]."""
    folder = foreign_bert(tmp_path, True)
    tokens = [*(folder / "vocab.txt").read_text(encoding="utf-8").splitlines(), "\u1100", "##\u1161"]
    tokens = [token for token in tokens if not any("\uac00" <= char <= "\ud7a3" for char in token)]
    rewrite_vocab(folder, tokens)
    with pytest.raises(InputError, match="bert#135"):
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))
    with pytest.raises(InputError, match="bert#135"):  # its vocab beside a TensorFlow checkpoint, say
        tokenizer_settings.resolve_tokenizer(str(folder / "vocab.txt"), None, "wordpiece", None)
    # Nor is such a model exported (convert_tf_checkpoint --do_lower_case on multilingual-uncased) with a tokenizer
    # that would tokenize Hangul whole.
    with pytest.raises(InputError, match="bert#135"):
        hf_export.tokenizer_files(TokenizerSettings(str(folder / "vocab.txt"), True, "wordpiece"), 128)


@pytest.mark.parametrize("damage, named", [
    ("special", "cls_token"),
    ("added_json", "added_tokens.json"),
    ("added_decoder", "added tokens"),
    ("swapped", "disagree"),
    ("bad_ids", "ids are not 0, 1, 2"),
])
def test_foreign_tokenizer_files_this_repository_cannot_follow_are_one_line(tmp_path, damage, named):
    """Special tokens of its own, added tokens (ids the model may not have), a tokenizer.json whose vocab is not
    vocab.txt's: each would make the run, or its export, tokenize otherwise than the directory says."""
    folder = foreign_bert(tmp_path, False)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    saved = json.loads((folder / "tokenizer.json").read_text())
    if damage == "special":
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "cls_token": "[unused1]"}))
    elif damage == "added_json":
        (folder / "added_tokens.json").write_text(json.dumps({"[NEW]": 4000}))
    elif damage == "added_decoder":
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "added_tokens_decoder": {
            "4000": {"content": "[NEW]", "special": False}}}))
    else:
        vocab = saved["model"]["vocab"]
        first, second = "Apple", "Seoul"
        vocab[first], vocab[second] = (vocab[second], vocab[first]) if damage == "swapped" else ("x", vocab[first])
        (folder / "tokenizer.json").write_text(json.dumps(saved))
    with pytest.raises(InputError, match=named) as error:
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))
    assert "\n" not in str(error.value)


def test_a_directory_without_vocab_txt_checks_vocab_file_against_its_tokenizer_json(tmp_path):
    """transformers 5 saves tokenizer.json only: --vocab_file must hold its tokens in its order."""
    folder = foreign_bert(tmp_path, False)
    tokens = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {
        token: index for index, token in enumerate(tokens)}}}), encoding="utf-8")
    with pytest.raises(InputError, match="pass --vocab_file"):
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))
    with pytest.raises(InputError, match=r"not the vocab of --init_checkpoint's tokenizer\.json"):
        tokenizer_settings.resolve_tokenizer(str(SAMPLE_VOCAB), None, None, str(folder))
    right = tmp_path / "right.txt"
    right.write_text("".join(f"{token}\n" for token in tokens), encoding="utf-8")
    assert tokenizer_settings.resolve_tokenizer(str(right), None, None, str(folder)).vocab_file == str(right)


@pytest.mark.parametrize("name", ["tokenizer_config.json", "vocab.txt"])
def test_a_tokenizer_file_that_is_a_folder_is_refused(tmp_path, name):
    folder = foreign_bert(tmp_path, False)
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(InputError, match=f"{name}: not a regular file"):
        tokenizer_settings.resolve_tokenizer(None, None, None, str(folder))


def test_replacing_an_export_never_deletes_a_folder_under_an_exports_file_name(tmp_path):
    out = export(tmp_path, True, "wordpiece")
    (out / "README.md").unlink()
    (out / "README.md").mkdir()
    (out / "README.md" / "thesis.txt").write_text("precious")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="holds files an export does not"):
        hf_export.export_hf(modeling.BertForPreTraining(TINY), out, TokenizerSettings(
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
def test_re_exporting_keeps_the_directorys_own_tokenizer_files(tmp_path):
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
