"""mecab_bert/tokenizer_settings.py: a run that starts from a Hugging Face directory takes its tokenizer settings;
flags that contradict it, and tokenizers this repository cannot reproduce, are one line."""

import json

import numpy as np
import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from hf_directories import KOWIKI_VOCAB, SAMPLE_QA, SAMPLE_VOCAB, export, foreign_bert

import modeling
import run_squad
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import hf_export
from mecab_bert.tokenizer_settings import Recorded, TokenizerSettings, resolve_tokenizer
from text_input import InputError

pytest.importorskip("transformers")


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


def test_a_vocab_of_hangul_decomposed_into_jamo_tokenizes_as_googles(tmp_path):
    """Multilingual-uncased's vocab: Google's uncased tokenizer learned Hangul as Jamo (bert#135), so Hangul is
    decomposed as Google's and transformers' tokenizers do, from the directory, from a bare vocab beside a
    TensorFlow checkpoint, and in the export, which transformers loads as a plain BertTokenizer."""
    transformers = pytest.importorskip("transformers")
    folder = foreign_bert(tmp_path, True)
    tokens = [*(folder / "vocab.txt").read_text(encoding="utf-8").splitlines(), "\u1100", "##\u1161", "##\u11ab"]
    tokens = [token for token in tokens if not any("\uac00" <= char <= "\ud7a3" for char in token)]
    rewrite_vocab(folder, tokens)
    text = "간 간다 Café 간"
    reference = transformers.BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)
    expected = reference(text, add_special_tokens=False, return_offsets_mapping=True)
    for settings in (tokenizer_settings.resolve_tokenizer(None, None, None, str(folder)),
                     tokenizer_settings.resolve_tokenizer(str(folder / "vocab.txt"), None, "wordpiece", None)):
        assert settings.jamo and "Hangul decomposed into Jamo" in settings.describe()
        ids, starts, ends = settings.full_tokenizer().encode_with_offsets(text)
        assert ids.tolist() == expected["input_ids"] and "\u1100" in reference.convert_ids_to_tokens(ids.tolist())
        assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [tuple(o) for o in expected["offset_mapping"]]
    # Its own files tokenize as its model learned (transformers decomposes Hangul too): an export carries them on.
    assert tokenizer_settings.carried_tokenizer(str(folder), settings) == folder
    # Exported with our own files, it is a plain BertTokenizer, with sentence B's segment ids.
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    files = hf_export.tokenizer_files(TokenizerSettings(str(folder / "vocab.txt"), True, "wordpiece"), 128)
    for name, content in files.items():
        (export_dir / name).write_bytes(content)
    (export_dir / "config.json").write_text(json.dumps({"model_type": "bert"}))
    loaded = transformers.AutoTokenizer.from_pretrained(export_dir)
    assert "Bert" in type(loaded).__name__
    assert loaded(text, "간다")["input_ids"] == reference(text, "간다")["input_ids"]
    assert loaded(text, "간다")["token_type_ids"] == reference(text, "간다")["token_type_ids"]


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


@pytest.mark.parametrize(("unknown", "tokens", "refused"), [
    (10, 100, False), (11, 100, True),  # --max_unk_rate 0.1: above it, not at it
    (9, 50, False),  # a rate of 18% over 50 tokens says little of a vocab
    (50, 50, True),  # but every token [UNK] does, however few
    (0, 0, False),
])
def test_unknown_tokens_stop_a_run_above_the_rate(unknown, tokens, refused):
    counted = tokenizer_settings.UnknownTokens(unknown, tokens)
    if refused:
        with pytest.raises(InputError, match=r"^train.tsv: \[UNK\] .*% of \d+ tokens, more than --max_unk_rate 0.1: "
                                             r"the vocab does not fit the text"):
            counted.check("train.tsv", 0.1)
    else:
        counted.check("train.tsv", 0.1)
    counted.check("train.tsv", 1.0)  # --max_unk_rate 1 lets anything through


def test_unknown_tokens_of_features_count_the_text_alone():
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}
    input_ids = np.array([[2, 1, 4, 3, 1, 3, 0], [2, 4, 3, 4, 3, 1, 1]])  # the second row padded with [UNK]s' id
    mask = np.array([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0]])
    assert tokenizer_settings.UnknownTokens.of_features(input_ids, mask, vocab) == \
        tokenizer_settings.UnknownTokens(2, 5)


def test_a_run_recorded_before_runs_recorded_their_tokenizer_keeps_mecab_or_asks(tmp_path):
    """A pretraining run.json without tokenizer and do_lower_case was made when mecab was the default: with a vocab
    of ours it stays mecab; with one laid out as Google's ([unusedN] before [UNK]), which now takes WordPiece, what
    that run did is unknowable, so --tokenizer is asked for; a flag given decides, since nothing recorded
    contradicts it. A complete record binds."""
    ours, googles = tmp_path / "ours.txt", tmp_path / "googles.txt"
    ours.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "사과", "##나무"]) + "\n")
    googles.write_text("\n".join(["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "사과", "##나무"]) + "\n")
    assert resolve_tokenizer(str(googles), None, None, None).tokenizer == "wordpiece"
    old = Recorded.of({"script": "run_pretraining", "max_seq_length": 128}, "pre/run.json")
    assert old is not None and old.tokenizer is None
    settings = resolve_tokenizer(str(ours), None, None, None, old)
    assert (settings.tokenizer, settings.do_lower_case) == ("mecab", True) and "the default then" in settings.why
    with pytest.raises(InputError, match=r"pre/run\.json was written before runs recorded.*--tokenizer"):
        resolve_tokenizer(str(googles), None, None, None, old)
    settings = resolve_tokenizer(str(googles), False, "wordpiece", None, old)
    assert (settings.tokenizer, settings.do_lower_case, settings.why) == ("wordpiece", False, "as --tokenizer says")
    recorded = Recorded.of({"tokenizer": "wordpiece", "do_lower_case": True}, "pre/run.json")
    with pytest.raises(InputError, match=r"--tokenizer mecab contradicts pre/run\.json"):
        resolve_tokenizer(str(googles), None, "mecab", None, recorded)
