"""Tests for wiki_dump.py and prepare_corpus.py on a MediaWiki dump: the same bytes as WikiExtractor's own
command followed by prepare_corpus.py, and one-line errors for what is not a whole dump."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from interrupt import interrupt

import prepare_corpus
from mecab_bert.corpus import preparation, wiki_dump
from mecab_bert.testing.dumps import SITEINFO, page_xml

pytest.importorskip("wikiextractor", reason="the wikidump extra (wikiextractor) is not installed")

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


def dump_text(long_articles: int = 40) -> str:
    """A small kowiki-like dump: a template and an article that uses it (with links, a table, a list, a
    reference and a comment), a redirect, an empty article, a page of another namespace, and long articles
    that fill several 200 KiB files."""
    rng = random.Random(0)
    pages = [
        page_xml(1, "틀:나라", "{{{1}}}는 {{{2|아시아}}}에 있는 나라이다.", ns=10),
        page_xml(2, "대한민국", ARTICLE),
        page_xml(3, "한국", "#넘겨주기 [[대한민국]]", redirect="대한민국"),
        page_xml(4, "빈 문서", ""),
        page_xml(5, "위키백과:대문", "이 글은 위키백과 이름공간에 있다.", ns=4),
    ]
    for i in range(long_articles):
        sentences = " ".join(f"{rng.choice(['서울', '부산', '대구'])}은 {rng.randint(1, 9999)}년에 세워진 "
                             f"도시{rng.randint(0, 99)}이다." for _ in range(rng.randint(20, 600)))
        pages.append(page_xml(100 + i, f"도시 {i}", f"{sentences}\n\n{{{{나라|나라{i}}}}}"))
    return SITEINFO + "".join(pages) + "</mediawiki>\n"


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "kowiki-test-pages-articles.xml"
    path.write_text(dump_text(), encoding="utf-8")
    return path


def wikiextractor_command(dump: Path, root: Path, file_size: str = "1M") -> Path:
    """The folder WikiExtractor's own command writes for `dump`."""
    subprocess.run([sys.executable, "-m", "wikiextractor.WikiExtractor", str(dump), "-o", str(root / "text"),
                    "-b", file_size, "--processes", "1", "-q"], check=True)
    return root / "text"


def wikiextractor_then_prepare(dump: Path, root: Path, file_size: str = "1M") -> Path:
    """What WikiExtractor's own command writes for `dump`, then prepare_corpus.py on its files: the reference."""
    wikiextractor_command(dump, root, file_size)
    result = CliRunner().invoke(prepare_corpus.main, ["--input_file", str(root / "text" / "*" / "wiki_*"),
                                                      "--output_dir", str(root / "prepared")])
    assert result.exit_code == 0, result.output
    return root / "prepared"


@pytest.fixture(scope="module")
def extracted(dump, tmp_path_factory) -> Path:
    """The reference in 200 KiB files (WikiExtractor's smallest), so that the layout spans several files."""
    return wikiextractor_then_prepare(dump, tmp_path_factory.mktemp("extracted"), "200K")


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
    stats = preparation.prepare_dump(str(path), str(tmp_path / "out"), True, num_workers, 200 * 1024)
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


def _small_dump(path: Path, siteinfo: str = SITEINFO, *titles: str) -> Path:
    pages = [page_xml(1, "틀:나라", "{{{1}}}는 {{{2|아시아}}}에 있는 나라이다.", ns=10),
             page_xml(2, "대한민국", ARTICLE)]
    pages += [page_xml(10 + i, title, f"{title}은 사전에 있는 낱말이다. 자주 쓴다.") for i, title in enumerate(titles)]
    path.write_text(siteinfo + "".join(pages) + "</mediawiki>\n", encoding="utf-8")
    return path


NO_NAMESPACE_10 = SITEINFO.replace('<namespace key="10" case="first-letter">틀</namespace>', "")


@pytest.mark.parametrize(
    ("name", "transform"),
    [
        # Without a namespace 10, WikiExtractor takes the first title with a colon (after two characters at
        # least) for the templates' prefix.
        ("no-template-namespace.xml", lambda t: t.replace(SITEINFO, NO_NAMESPACE_10).replace("틀:", "Template:")),
        # An XML declaration and a byte order mark before <mediawiki>; split dumps' names; any case.
        ("declared.xml", lambda t: '\ufeff<?xml version="1.0" encoding="utf-8"?>\n' + t),
        ("kowiki-20261101-pages-articles1.xml-p1p82407", lambda t: t),
        ("UPPER.XML", lambda t: t),
        # The last page's end and the dump's on one line, and a comment after it.
        ("one-line-end.xml", lambda t: t.replace("</page>\n</mediawiki>\n", "</page></mediawiki><!-- end -->\n")),
    ],
)
def test_odd_but_valid_dumps_give_what_wikiextractor_gives(tmp_path, name, transform):
    dump = _small_dump(tmp_path / name, SITEINFO, "서울", "부산")
    dump.write_text(transform(dump.read_text(encoding="utf-8")), encoding="utf-8")
    compressed = tmp_path / f"{name}.BZ2"
    compressed.write_bytes(bz2.compress(dump.read_bytes()))
    expected = wikiextractor_then_prepare(dump, tmp_path / "reference")
    assert "대한민국는 동아시아에" in _concatenated(expected) and "부산은" in _concatenated(expected)
    for path in (dump, compressed):
        result = _run("--input_file", str(path), "--output_dir", str(tmp_path / "out"))
        assert result.exit_code == 0, result.output
        assert snapshot(tmp_path / "out") == snapshot(expected)


def test_a_one_letter_template_namespace_missing_from_siteinfo_loses_no_article(tmp_path):
    """WikiExtractor guesses no prefix from `틀:나라` (one letter before the colon) and then writes no article at
    all; every article is kept here."""
    dump = _small_dump(tmp_path / "dump.xml", NO_NAMESPACE_10, "서울")
    result = _run("--input_file", str(dump), "--output_file", str(tmp_path / "corpus.txt"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "corpus.txt").read_text(encoding="utf-8")
    assert "서울은 사전에 있는 낱말이다." in text and "대한민국(大韓民國)은" in text
    assert snapshot(wikiextractor_command(dump, tmp_path / "reference")) == {"AA/wiki_00": hashlib.sha256().hexdigest()}


def test_articles_named_like_the_template_namespace_are_kept(tmp_path):
    """WikiExtractor drops 틀니 (its test of the template namespace lacks the colon); these are kept."""
    dump = _small_dump(tmp_path / "dump.xml", SITEINFO, "틀니", "서울")
    expected = _concatenated(wikiextractor_then_prepare(dump, tmp_path / "reference"))
    result = _run("--input_file", str(dump), "--output_file", str(tmp_path / "corpus.txt"))
    assert result.exit_code == 0, result.output
    ours = (tmp_path / "corpus.txt").read_text(encoding="utf-8")
    assert "틀니은" not in expected
    assert ours == expected.replace("서울은", "틀니은 사전에 있는 낱말이다.\n자주 쓴다.\n\n서울은")


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


def test_an_article_that_unescapes_to_a_lone_surrogate_is_left_out(tmp_path):
    dump = _small_dump(tmp_path / "dump.xml", SITEINFO, "서울")
    text = dump.read_text(encoding="utf-8").replace("서울은 사전에", "서울은 &amp;#xD800; 사전에")
    dump.write_text(text, encoding="utf-8")
    for workers in ("1", "2"):
        result = _run("--input_file", str(dump), "--output_file", str(tmp_path / "corpus.txt"),
                      "--num_workers", workers)
        assert result.exit_code == 0, result.output
        assert "failed on 1 articles, which were left out: 서울" in result.output
        assert "대한민국" in (tmp_path / "corpus.txt").read_text(encoding="utf-8")


def _cut(text: str, marker: str) -> str:
    return text[: text.index(marker)]


def _damaged(data: bytes) -> bytes:
    """Compressed bytes with a run of them overwritten in the middle: the deflate stream breaks (zlib.error)."""
    middle = len(data) // 2
    return data[:middle] + bytes(range(200, 256)) * 4 + data[middle + 224:]


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
        ("empty.xml.gz", lambda t: gzip.compress(b""), "it is empty"),
        ("damaged.xml.gz", lambda t: _damaged(gzip.compress(t.encode())), "cannot be decompressed"),
        ("untitled.xml", lambda t: t.replace("<title>틀:나라</title>", "").encode(), "not a well-formed MediaWiki"),
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
    for foreign in (out / "notes.txt", out / "AA" / "mine.txt", out / "AA" / "kowiki.xml"):
        foreign.write_text("mine\n", encoding="utf-8")
        before = snapshot(tmp_path)
        assert_one_line_error(_run("--input_file", str(dump), "--output_dir", str(out)), str(out), foreign.parent.name)
        assert snapshot(tmp_path) == before
        foreign.unlink()
    # The dump itself inside the folder that would be replaced.
    inside = out / "AA" / "kowiki.xml"
    inside.write_bytes(dump.read_bytes())
    before = snapshot(tmp_path)
    assert_one_line_error(_run("--input_file", str(inside), "--output_dir", str(out)), str(out), "holds the dump")
    assert snapshot(tmp_path) == before


def test_wikiextractors_own_output_folder_is_never_replaced(dump, tmp_path):
    """WikiExtractor's files have the layout of prepared ones (AA/wiki_00) but start with `<doc `: not ours."""
    text = wikiextractor_command(dump, tmp_path)
    before = snapshot(tmp_path)
    assert_one_line_error(_run("--input_file", str(dump), "--output_dir", str(text)), str(text), "AA")
    assert snapshot(tmp_path) == before


def test_num_workers_has_a_ceiling(dump, tmp_path):
    for workers in ("1025", "99999999999999999999"):
        assert_one_line_error(_run("--input_file", str(dump), "--output_file", str(tmp_path / "o.txt"),
                                   "--num_workers", workers), "--num_workers")


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


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _children(pid: int) -> list[int]:
    """The processes a process has started, from every one of its threads (a thread may end while it is read)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_run(tmp_path, kill):
    """SIGKILL of the script (the OOM killer) takes its workers along: none is left waiting forever holding the
    templates' shared memory, which multiprocessing's resource tracker then frees. SIGTERM (kill, timeout,
    Slurm) is Ctrl-C: the script cleans up too, no temporary left beside the output."""
    dump = tmp_path / "dump.xml"
    dump.write_text(dump_text(long_articles=600), encoding="utf-8")
    shared_before = set(Path("/dev/shm").glob("psm_*"))
    output = tmp_path / "out" / "corpus.txt"
    output.parent.mkdir()
    process = subprocess.Popen([sys.executable, str(Path(prepare_corpus.__file__)), "--input_file", str(dump),
                                "--output_file", str(output), "--num_workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    deadline = time.monotonic() + 60
    while len(children) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        children = _children(process.pid)
    assert len(children) >= 2, "the run had no two workers to kill"
    time.sleep(0.3)
    process.send_signal(kill)
    _, stderr = process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while (any(_alive(pid) for pid in children) or set(Path("/dev/shm").glob("psm_*")) - shared_before) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)
    assert not set(Path("/dev/shm").glob("psm_*")) - shared_before  # the templates' memory is freed
    if kill == signal.SIGTERM:
        assert process.returncode != 0 and "Aborted!" in stderr and "Traceback" not in stderr, stderr
        assert list(output.parent.iterdir()) == []  # no temporary left


def test_ctrl_c_stops_a_worker_stuck_on_one_article(tmp_path):
    """A template that quadruples its argument, nested 30 deep, never finishes expanding (WikiExtractor's own
    command hangs on it too): Ctrl-C still ends the run at once, its workers with it, nothing replaced."""
    bomb = "x"
    for _ in range(30):
        bomb = f"{{{{가|{bomb}}}}}"
    text = dump_text(long_articles=200).replace("<title>도시 0</title>", "<title>폭탄</title>")
    text = text.replace("{{나라|나라0}}", bomb).replace("</siteinfo>\n", "</siteinfo>\n" + page_xml(
        7, "틀:가", "{{{1}}}{{{1}}}{{{1}}}{{{1}}}", ns=10))
    dump = tmp_path / "dump.xml"
    dump.write_text(text, encoding="utf-8")
    (tmp_path / "out" / "AA").mkdir(parents=True)
    (tmp_path / "out" / "AA" / "wiki_00").write_text("earlier\n", encoding="utf-8")
    before = snapshot(tmp_path)
    result = interrupt("prepare_corpus.py", ["--input_file", str(dump), "--output_dir", str(tmp_path / "out"),
                                             "--num_workers", "2"], workers=2)
    assert result.returncode != 0 and "Aborted!" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.seconds < 10 and result.left_running == 0
    assert snapshot(tmp_path) == before
