from click.testing import CliRunner
from conftest import ROOT

import build_vocab
import tokenization

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
    lines = list(build_vocab.iter_text_lines(WIKI.splitlines()))
    assert lines == ["사과나무에서 사과가 떨어졌다. 사과나무에서 새가 울었다.", "사과는 맛있다."]
    assert list(build_vocab.iter_text_lines(["첫 문장.", "", "둘째 문서."])) == ["첫 문장.", "둘째 문서."]


def test_vocab_layout_and_continuations(tmp_path):
    vocab, summary = build_vocab.build_vocab([str(SAMPLE)], vocab_size=1500, min_frequency=1, num_unused=3,
                                             progress=False)
    assert vocab[:8] == [*tokenization.SPECIAL_TOKENS, "[unused0]", "[unused1]", "[unused2]"]
    assert len(vocab) == len(set(vocab)) == summary.vocab_size == 1500
    assert not any("\ue000" in token for token in vocab)
    assert "##" not in vocab
    # Later morphemes are continuations: particles and endings appear with "##".
    assert {"##은", "##는", "##를", "##다"} <= set(vocab)
    path = tmp_path / "vocab.txt"
    build_vocab.write_vocab(vocab, str(path))
    tokenizer = tokenization.FullTokenizer(path)
    tokens = [t for line in SAMPLE.read_text(encoding="utf-8").splitlines() for t in tokenizer.tokenize(line)]
    assert tokens.count("[UNK]") == 0


def test_same_input_same_file_with_any_worker_count(tmp_path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"vocab{workers}.txt"
        result = CliRunner().invoke(build_vocab.main, [
            "--input_file", str(SAMPLE), "--output_file", str(out), "--vocab_size", "800", "--min_frequency", "1",
            "--num_workers", str(workers)])
        assert result.exit_code == 0, result.output
        assert "Wrote 800 tokens" in result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_wikiextractor_input(tmp_path):
    path = tmp_path / "wiki_00"
    path.write_text(WIKI, encoding="utf-8")
    vocab, summary = build_vocab.build_vocab([str(path)], vocab_size=200, min_frequency=1, num_unused=0,
                                             progress=False)
    assert summary.lines == 2
    assert "제목만" not in vocab and "##에서" in vocab


def test_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("첫 줄.\n".encode() + b"\xff\xfe broken\n")
    out = tmp_path / "vocab.txt"
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(path), "--output_file", str(out)])
    assert result.exit_code != 0
    assert f"{path}:2: not valid UTF-8" in result.output
    assert not out.exists()


def test_missing_input_is_an_error(tmp_path):
    result = CliRunner().invoke(build_vocab.main, ["--input_file", str(tmp_path / "nope*.txt"),
                                                   "--output_file", str(tmp_path / "v.txt")])
    assert result.exit_code != 0
    assert "matches no file" in result.output
