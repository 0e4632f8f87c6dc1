"""Tests for wiki_dump.py and prepare_corpus.py on a MediaWiki dump: the same bytes as WikiExtractor's own
command followed by prepare_corpus.py, and one-line errors for what is not a whole dump."""

from __future__ import annotations

import bz2
import gzip
import html
import random
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner

import prepare_corpus
import wiki_dump

pytest.importorskip("wikiextractor", reason="the wikidump extra (wikiextractor) is not installed")

SITEINFO = """\
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="ko">
  <siteinfo>
    <sitename>위키백과</sitename>
    <dbname>kowiki</dbname>
    <base>https://ko.wikipedia.org/wiki/%EB%8C%80%EB%AC%B8</base>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">위키백과</namespace>
      <namespace key="10" case="first-letter">틀</namespace>
      <namespace key="14" case="first-letter">분류</namespace>
      <namespace key="828" case="first-letter">모듈</namespace>
    </namespaces>
  </siteinfo>
"""

ARTICLE = """\
'''대한민국'''(大韓民國)은 [[동아시아]]의 [[한반도|한반도에]] 있는 나라이다. {{나라|대한민국|동아시아}} \
수도는 [[서울특별시]]이다.

== 역사 ==
1948년 8월 15일 정부가 수립되었다. "좋다."라고 말했다. 자세한 것은 [https://example.org 누리집]에 있다.

{| class="wikitable"
|-
! 연도 !! 인구
|-
| 2020 || 5178만
|}

* 목록 하나
* 목록 둘
<ref>출처</ref><!-- 주석 -->사과나무에서 사과가 열린다. 맛이 좋다! 먹어 보았니?

[[분류:대한민국]]"""


def _page(page_id: int, title: str, text: str, ns: int = 0, redirect: str | None = None) -> str:
    redirect_tag = f'    <redirect title="{html.escape(redirect)}" />\n' if redirect else ""
    body = (f'      <text bytes="{len(text.encode())}" xml:space="preserve">{html.escape(text, quote=False)}</text>\n'
            if text else '      <text bytes="0" />\n')
    return (f"  <page>\n    <title>{html.escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
            f"{redirect_tag}    <revision>\n      <id>{page_id}00</id>\n      <model>wikitext</model>\n"
            f"{body}    </revision>\n  </page>\n")


def dump_text(long_articles: int = 40) -> str:
    """A small kowiki-like dump: a template and an article that uses it (with links, a table, a list, a
    reference and a comment), a redirect, an empty article, a page of another namespace, and long articles
    that fill several 200 KiB files."""
    rng = random.Random(0)
    pages = [
        _page(1, "틀:나라", "{{{1}}}는 {{{2|아시아}}}에 있는 나라이다.", ns=10),
        _page(2, "대한민국", ARTICLE),
        _page(3, "한국", "#넘겨주기 [[대한민국]]", redirect="대한민국"),
        _page(4, "빈 문서", ""),
        _page(5, "위키백과:대문", "이 글은 위키백과 이름공간에 있다.", ns=4),
    ]
    for i in range(long_articles):
        sentences = " ".join(f"{rng.choice(['서울', '부산', '대구'])}은 {rng.randint(1, 9999)}년에 세워진 "
                             f"도시{rng.randint(0, 99)}이다." for _ in range(rng.randint(20, 600)))
        pages.append(_page(100 + i, f"도시 {i}", f"{sentences}\n\n{{{{나라|나라{i}}}}}"))
    return SITEINFO + "".join(pages) + "</mediawiki>\n"


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "kowiki-test-pages-articles.xml"
    path.write_text(dump_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def extracted(dump, tmp_path_factory) -> Path:
    """What WikiExtractor's own command writes (200 KiB files, its smallest), then prepare_corpus.py on it."""
    root = tmp_path_factory.mktemp("extracted")
    subprocess.run([sys.executable, "-m", "wikiextractor.WikiExtractor", str(dump), "-o", str(root / "text"),
                    "-b", "200K", "--processes", "1", "-q"], check=True)
    result = CliRunner().invoke(prepare_corpus.main, ["--input_file", str(root / "text" / "*" / "wiki_*"),
                                                      "--output_dir", str(root / "prepared")])
    assert result.exit_code == 0, result.output
    return root / "prepared"


def _run(*args: str):
    return CliRunner().invoke(prepare_corpus.main, list(args))


def _concatenated(folder: Path) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in sorted(folder.rglob("wiki_*")))


@pytest.mark.parametrize(("compress", "num_workers"), [(None, 1), ("bz2", 2)])
def test_dump_gives_the_files_of_wikiextractor_then_prepare_corpus(dump, extracted, tmp_path, compress, num_workers):
    path = dump
    if compress == "bz2":
        path = tmp_path / f"{dump.name}.bz2"
        path.write_bytes(bz2.compress(dump.read_bytes()))
    stats = prepare_corpus.prepare_dump(str(path), str(tmp_path / "out"), True, num_workers, 200 * 1024)
    assert len(snapshot(extracted)) >= 3  # the layout is tested across files
    assert snapshot(tmp_path / "out") == snapshot(extracted)
    # Two articles that WikiExtractor writes (a long one and 대한민국, its template expanded and its table
    # dropped), one empty article; the redirect and the other namespace are not articles.
    assert stats.empty_documents == 1 and stats.documents == 41 and not stats.failed_pages
    text = (tmp_path / "out" / "AA" / "wiki_00").read_text(encoding="utf-8")
    assert "대한민국는 동아시아에 있는 나라이다." in text and "위키백과 이름공간" not in text
    assert '"좋다."라고 말했다.' in text and "5178만" not in text and "누리집" in text


def test_cli_dump_to_one_file_and_default_layout(dump, extracted, tmp_path):
    gz = tmp_path / f"{dump.name}.gz"
    gz.write_bytes(gzip.compress(dump.read_bytes()))
    result = _run("--input_file", str(gz), "--output_file", str(tmp_path / "corpus.txt"), "--num_workers", "2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "corpus.txt").read_text(encoding="utf-8") == _concatenated(extracted)
    assert "wrote 41 documents" in result.output and "1 documents without text dropped" in result.output
    # WikiExtractor's default files are 1 MiB: the whole small dump is in AA/wiki_00.
    result = _run("--input_file", str(dump), "--output_dir", str(tmp_path / "prepared"))
    assert result.exit_code == 0, result.output
    assert list(snapshot(tmp_path / "prepared")) == ["AA/wiki_00"]
    assert (tmp_path / "prepared" / "AA" / "wiki_00").read_text(encoding="utf-8") == _concatenated(extracted)


def test_file_layout_is_wikiextractors(tmp_path):
    """FileLayout puts each page where WikiExtractor's OutputSplitter does (pages larger than a file, empty files
    and the folder after AA/wiki_99 included)."""
    from wikiextractor.WikiExtractor import NextFile, OutputSplitter

    rng = random.Random(1)
    sizes = [rng.choice([0, 1, 50, 199, 200, 201, 450]) for _ in range(400)]
    theirs = OutputSplitter(NextFile(str(tmp_path / "theirs")), max_file_size=200, compress=False)
    ours = wiki_dump.FileLayout(str(tmp_path / "ours"), max_bytes=200)
    for size in sizes:
        theirs.write("x" * size)
        ours.write(size, "y" * size)
    theirs.close()
    ours.close()
    their_files = {p: len(h) for p, h in snapshot(tmp_path / "theirs").items()}
    assert any(p.startswith("AB/") for p in their_files) and "AA/wiki_99" in their_files
    assert {p: len(h) for p, h in snapshot(tmp_path / "ours").items()} == their_files
    assert [path.stat().st_size for path in sorted((tmp_path / "ours").rglob("wiki_*"))] == \
        [path.stat().st_size for path in sorted((tmp_path / "theirs").rglob("wiki_*"))]


def test_an_article_wikiextractor_fails_on_is_reported_and_left_out(dump, monkeypatch, tmp_path):
    extract_page = wiki_dump.extract_page

    def failing(extraction, page):
        if page.title == "도시 3":
            raise RecursionError("maximum recursion depth exceeded")
        return extract_page(extraction, page)

    monkeypatch.setattr(wiki_dump, "extract_page", failing)
    result = _run("--input_file", str(dump), "--output_file", str(tmp_path / "corpus.txt"))
    assert result.exit_code == 0, result.output
    assert "WikiExtractor failed on 1 articles, which were left out: 도시 3" in result.output
    assert "wrote 40 documents" in result.output


def _cut(text: str, marker: str) -> str:
    return text[: text.index(marker)]


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("cut.xml", lambda t: _cut(t, "  <page>\n    <title>도시 30").encode(), "ends before </mediawiki>"),
        ("cut.xml.bz2", lambda t: bz2.compress(t.encode())[:-100], "cannot be decompressed"),
        ("garbage.xml.bz2", lambda t: b"BZh9" + bytes(range(256)) * 4, "cannot be decompressed"),
        ("garbage.xml.gz", lambda t: b"\x1f\x8b" + b"\x00" * 64, "cannot be decompressed"),
        ("page.xml", lambda t: b"<html><body>not a dump</body></html>\n", "not a MediaWiki XML dump"),
        ("latin1.xml", lambda t: t.replace("사과나무에서", "caf\xe9").encode("latin-1", "replace"), "not valid UTF-8"),
        ("noarticle.xml", lambda t: (SITEINFO + "</mediawiki>\n").encode(), "no article in the dump"),
    ],
)
def test_what_is_not_a_whole_dump_is_one_line_and_nothing_replaced(dump, tmp_path, name, make, expected):
    bad = tmp_path / name
    bad.write_bytes(make(dump.read_text(encoding="utf-8")))
    earlier = tmp_path / "prepared"
    assert _run("--input_file", str(dump), "--output_dir", str(earlier)).exit_code == 0
    before = snapshot(tmp_path)
    for output in (["--output_dir", str(earlier)], ["--output_file", str(tmp_path / "prepared" / "AA" / "wiki_00")]):
        assert_one_line_error(_run("--input_file", str(bad), *output, "--num_workers", "2"), str(bad), expected)
        assert snapshot(tmp_path) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, "prepared"])


def test_output_folder_is_replaced_whole_but_never_a_foreign_one(dump, tmp_path):
    out = tmp_path / "prepared"
    stale = out / "AB" / "wiki_07"  # from an earlier, longer run
    stale.parent.mkdir(parents=True)
    stale.write_text("old\n", encoding="utf-8")
    assert _run("--input_file", str(dump), "--output_dir", str(out)).exit_code == 0
    assert list(snapshot(out)) == ["AA/wiki_00"]
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert_one_line_error(_run("--input_file", str(dump), "--output_dir", str(out)), str(out), "notes.txt")
    assert snapshot(tmp_path) == before


def test_a_dump_goes_alone_and_never_over_itself(dump, tmp_path):
    other = tmp_path / "wiki_00"
    other.write_text("<doc id='1'>\n제목\n\n본문이다.\n</doc>\n", encoding="utf-8")
    assert_one_line_error(_run("--input_file", f"{dump},{other}", "--output_file", str(tmp_path / "o.txt")),
                          str(dump), "alone")
    copy = tmp_path / "copy.xml"
    copy.write_bytes(dump.read_bytes())
    before = snapshot(tmp_path)
    assert_one_line_error(_run("--input_file", str(copy), "--output_file", str(copy)), str(copy), "overwrite")
    assert snapshot(tmp_path) == before


def test_without_wikiextractor_the_error_says_how_to_install(dump, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wikiextractor", None)
    line = assert_one_line_error(_run("--input_file", str(dump), "--output_file", str(tmp_path / "o.txt")),
                                 "pip install")
    assert "wikiextractor==3.1.0" in line and not (tmp_path / "o.txt").exists()
