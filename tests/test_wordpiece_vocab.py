"""mecab_bert/corpus/wordpiece_vocab.py: a WordPiece vocab counted over MeCab morphemes, from plain text or
WikiExtractor output."""

from conftest import ROOT

import tokenization
from mecab_bert.corpus import wordpiece_vocab

SAMPLE = ROOT / "data" / "sample_text_ko.txt"
WIKI = """<doc id="1" url="https://ko.wikipedia.org/wiki?curid=1" title="사과">
사과
사과나무에서 사과가 떨어졌다. 사과나무에서 새가 울었다.

사과는 맛있다.
</doc>
<doc id="2" url="https://ko.wikipedia.org/wiki?curid=2" title="제목만">
제목만
</doc>
"""


def test_iter_text_lines_drops_tags_titles_and_blank_lines():
    lines = list(wordpiece_vocab.iter_text_lines(WIKI.splitlines()))
    assert lines == ["사과나무에서 사과가 떨어졌다. 사과나무에서 새가 울었다.", "사과는 맛있다."]
    assert list(wordpiece_vocab.iter_text_lines(["첫 문장.", "", "둘째 문서."])) == ["첫 문장.", "둘째 문서."]


def test_vocab_layout_and_continuations(tmp_path):
    vocab, summary = wordpiece_vocab.build_vocab([str(SAMPLE)], wordpiece_vocab.VocabSettings(
        vocab_size=1500, min_frequency=1, num_unused=3), progress=False)
    assert vocab[:8] == [*tokenization.SPECIAL_TOKENS, "[unused0]", "[unused1]", "[unused2]"]
    assert len(vocab) == len(set(vocab)) == summary.vocab_size == 1500
    assert not any("\ue000" in token for token in vocab)
    assert "##" not in vocab
    # Later morphemes are continuations: particles and endings appear with "##".
    assert {"##은", "##는", "##를", "##다"} <= set(vocab)
    path = tmp_path / "vocab.txt"
    wordpiece_vocab.write_vocab(vocab, str(path))
    tokenizer = tokenization.FullTokenizer(path)
    tokens = [t for line in SAMPLE.read_text(encoding="utf-8").splitlines() for t in tokenizer.tokenize(line)]
    assert tokens.count("[UNK]") == 0


def test_wikiextractor_input(tmp_path):
    path = tmp_path / "wiki_00"
    path.write_text(WIKI, encoding="utf-8")
    vocab, summary = wordpiece_vocab.build_vocab([str(path)], wordpiece_vocab.VocabSettings(
        vocab_size=200, min_frequency=1, num_unused=0), progress=False)
    assert summary.lines == 2
    assert "제목만" not in vocab and "##에서" in vocab
