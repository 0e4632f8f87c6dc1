"""Tests for prepare_corpus.py (mecab_bert/corpus/preparation.py): WikiExtractor reading and the CLI."""

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import KOWIKI_DIR
from interrupt import interrupt

import prepare_corpus
import text_input
from mecab_bert.corpus import preparation

WIKI_SNIPPET = """\
<doc id="5" url="https://ko.wikipedia.org/wiki?curid=5" title="지미 카터">
지미 카터

지미 카터는 조지아주에서 태어났다. 그는 해군에 들어가 승무원으로 일하였다.
   \t
1976년 대통령 선거에 출마하여 당선되었다.
</doc>
<doc id="9" url="https://ko.wikipedia.org/wiki?curid=9" title="빈 문서">
빈 문서

</doc>
<doc id="10" url="https://ko.wikipedia.org/wiki?curid=10" title="수학">
수학

  수학은 수와 양을 연구하는 학문이다.\x20\x20
</doc>
"""

EXPECTED_OUTPUT = """\
지미 카터는 조지아주에서 태어났다.
그는 해군에 들어가 승무원으로 일하였다.
1976년 대통령 선거에 출마하여 당선되었다.

수학은 수와 양을 연구하는 학문이다.

"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_iter_documents_drops_tags_titles_blank_lines_and_empty_documents():
    documents = list(preparation.iter_wikiextractor_documents(WIKI_SNIPPET.splitlines()))
    assert documents == [
        [
            "지미 카터는 조지아주에서 태어났다. 그는 해군에 들어가 승무원으로 일하였다.",
            "1976년 대통령 선거에 출마하여 당선되었다.",
        ],
        ["수학은 수와 양을 연구하는 학문이다."],
    ]


def test_iter_documents_keep_empty_and_unclosed_blocks():
    lines = ['<doc id="1" title="a">', "a", "", "</doc>", "stray line", '<doc id="2">', "b", "본문이다."]
    assert list(preparation.iter_wikiextractor_documents(lines, keep_empty=True)) == [[], ["본문이다."]]
    assert list(preparation.iter_wikiextractor_documents(lines)) == [["본문이다."]]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_memory_stays_bounded_on_a_huge_paragraph_without_spaces(tmp_path):
    """200,000 syllables in one paragraph: tagged in one MeCab call, the run peaked at 680 MiB; in windows
    of 64 Ki characters it peaks at 270 MiB (bench/bench_prepare_memory.py measures 5 MB)."""
    text = "가" * 200_000
    input_path = _write(tmp_path / "wiki_00", f'<doc id="1" url="u" title="t">\nt\n\n{text}\n</doc>\n')
    output_path = tmp_path / "out.txt"
    # VmHWM, not ru_maxrss: the latter keeps the RSS of the pytest process this one was forked from.
    code = (
        "import re, sys, prepare_corpus\n"
        "try:\n    prepare_corpus.main(sys.argv[1:])\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "--input_file", str(input_path), "--output_file", str(output_path)],
        capture_output=True, text=True, check=True, cwd=Path(prepare_corpus.__file__).parent,
    )
    peak_mib = int(run.stdout.split()[-1]) / 1024
    assert peak_mib < 450, f"peak RSS {peak_mib:.0f} MiB"
    assert output_path.read_text(encoding="utf-8").replace("\n", "") == text


def _run(args):
    return CliRunner().invoke(prepare_corpus.main, args)


def test_cli_output_file(tmp_path):
    input_path = _write(tmp_path / "wiki_00", WIKI_SNIPPET)
    output_path = tmp_path / "out" / "corpus.txt"
    result = _run(["--input_file", str(input_path), "--output_file", str(output_path)])
    assert result.exit_code == 0, result.output
    assert output_path.read_text(encoding="utf-8") == EXPECTED_OUTPUT
    assert re.search(
        r"Read 1 files and wrote 2 documents, 3 paragraphs, 4 sentences and \d+ chars", result.output
    )
    assert "1 documents without text dropped" in result.output
    assert os.listdir(output_path.parent) == ["corpus.txt"]


def test_cli_output_dir_keeps_inputs_apart(tmp_path):
    _write(tmp_path / "text" / "AA" / "wiki_00", WIKI_SNIPPET)
    _write(tmp_path / "text" / "AB" / "wiki_00", WIKI_SNIPPET)
    pattern = str(tmp_path / "text" / "*" / "wiki_*")
    for num_workers in ("1", "2"):
        output_dir = tmp_path / f"prepared_{num_workers}"
        result = _run(
            ["--input_file", pattern, "--output_dir", str(output_dir), "--num_workers", num_workers]
        )
        assert result.exit_code == 0, result.output
        assert "Read 2 files and wrote 4 documents" in result.output
        for name in ("AA", "AB"):
            assert (output_dir / name / "wiki_00").read_text(encoding="utf-8") == EXPECTED_OUTPUT


def test_output_dir_layout_follows_the_pattern_not_the_matches(tmp_path):
    """One WikiExtractor folder or several, `text/*/wiki_*` puts each file under its folder's name; the
    next stage's `out/*/wiki_*` finds them either way."""
    _write(tmp_path / "text" / "AA" / "wiki_00", WIKI_SNIPPET)
    _write(tmp_path / "flat" / "wiki_00", WIKI_SNIPPET)
    for pattern, expected in (("text/*/wiki_*", "AA/wiki_00"), ("text/AA/wiki_*", "wiki_00"),
                              ("flat/wiki_*", "wiki_00"), ("flat/wiki_00", "wiki_00")):
        output_dir = tmp_path / "out" / pattern.replace("/", "_").replace("*", "x")
        result = _run(["--input_file", str(tmp_path / pattern), "--output_dir", str(output_dir)])
        assert result.exit_code == 0, result.output
        assert (output_dir / expected).read_text(encoding="utf-8") == EXPECTED_OUTPUT, pattern
    assert preparation.output_paths_for(["a/x/f", "b/g"], "out", ["a/*/f", "b/g"]) == ["out/a/x/f", "out/b/g"]


def test_cli_comma_separated_inputs_in_order(tmp_path):
    first = _write(tmp_path / "b.txt", '<doc id="1">\n제목\n첫째 문서이다.\n</doc>\n')
    second = _write(tmp_path / "a.txt", '<doc id="2">\n제목\n둘째 문서이다.\n</doc>\n')
    output_path = tmp_path / "corpus.txt"
    result = _run(["--input_file", f"{first},{second},{first}", "--output_file", str(output_path)])
    assert result.exit_code == 0, result.output
    assert output_path.read_text(encoding="utf-8") == "첫째 문서이다.\n\n둘째 문서이다.\n\n"


GOOD_DOCUMENT = '<doc id="1" url="u" title="t">\nt\n\n그는 학생이다. 그녀는 교사이다.\n</doc>\n'
GOOD_OUTPUT = "그는 학생이다.\n그녀는 교사이다.\n\n"

# What in/wiki_01 holds in a case of the matrix (in/wiki_00 is always GOOD_DOCUMENT).
SECOND_INPUTS = {
    "good": GOOD_DOCUMENT.encode(),
    "invalid UTF-8": '<doc id="2">\n제목\n'.encode() + b"\xff\xfe broken\n</doc>\n",
    "UTF-16": GOOD_DOCUMENT.encode("utf-16"),
    "NUL byte": b'<doc id="2">\n\x00\n</doc>\n',
    "plain text": "그는 학생이다.\n그녀는 교사이다.\n\n다른 문서이다.\n".encode(),
}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The current folder: in/wiki_00 (a good input), and out/wiki_00, out/wiki_01 and corpus.txt from an
    earlier run, which a failed run must leave as they are."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "in" / "wiki_00", GOOD_DOCUMENT)
    _write(tmp_path / "out" / "wiki_00", "earlier output 0\n\n")
    _write(tmp_path / "out" / "wiki_01", "earlier output 1\n\n")
    _write(tmp_path / "corpus.txt", "earlier corpus\n\n")
    return tmp_path


def _disk_full_after(calls: int):
    """Makes os.fsync fail as on a full disk after `calls` calls: the first outputs were complete."""

    def install(monkeypatch):
        fsync, done = os.fsync, []

        def full(fd: int) -> None:
            if len(done) == calls:
                raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel reports it: no file name
            done.append(fd)
            fsync(fd)

        monkeypatch.setattr(os, "fsync", full)

    return install


def _read_only_after(calls: int):
    """Makes creating a temporary file fail as in a read-only folder after `calls` calls."""

    def install(monkeypatch):
        create, done = preparation.create_temporary, []

        def refuse(path: str) -> tuple[int, str]:
            if len(done) == calls:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            done.append(path)
            return create(path)

        monkeypatch.setattr(preparation, "create_temporary", refuse)

    return install


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_dir())


TO_DIR = ["--input_file", "in/wiki_*", "--output_dir", "out"]
TO_FILE = ["--input_file", "in/wiki_*", "--output_file", "corpus.txt"]


@pytest.mark.parametrize(
    ("second_input", "args", "names", "failure"),
    [
        pytest.param(None, ["--input_file", "in/missing", "--output_file", "corpus.txt"],
                     ["in/missing: no such file"], None, id="missing input"),
        pytest.param(None, ["--input_file", "in/nothing_*", "--output_dir", "out"],
                     ["in/nothing_*: matches no file"], None, id="pattern matching nothing"),
        pytest.param(None, ["--input_file", "in", "--output_dir", "out"], ["in: is a folder"], None,
                     id="input is a folder"),
        pytest.param(None, ["--input_file", ",", "--output_dir", "out"], ["no input file given"], None,
                     id="empty input list"),
        pytest.param("invalid UTF-8", TO_DIR, ["in/wiki_01:3: not valid UTF-8"], None,
                     id="invalid UTF-8 in a later file, --output_dir"),
        pytest.param("invalid UTF-8", [*TO_DIR, "--num_workers", "2"], ["in/wiki_01:3: not valid UTF-8"], None,
                     id="invalid UTF-8 in a later file, --output_dir, 2 workers"),
        pytest.param("invalid UTF-8", TO_FILE, ["in/wiki_01:3: not valid UTF-8"], None,
                     id="invalid UTF-8 in a later file, --output_file"),
        pytest.param("UTF-16", TO_DIR, ["in/wiki_01: UTF-16 text", "iconv"], None, id="UTF-16 input"),
        pytest.param("NUL byte", TO_DIR, ["in/wiki_01:2: a NUL byte"], None, id="NUL byte"),
        pytest.param(None, ["--input_file", "in/wiki_00", "--output_file", "out"], ["out: is a folder"], None,
                     id="output file is a folder"),
        pytest.param(None, ["--input_file", "in/wiki_00", "--output_file", "corpus.txt/new.txt"],
                     ["corpus.txt/new.txt:", "corpus.txt is a file, not a folder"], None, id="output under a file"),
        pytest.param(None, ["--input_file", "in/wiki_00", "--output_dir", "corpus.txt/new"],
                     ["corpus.txt/new/wiki_00:", "corpus.txt is a file, not a folder"], None,
                     id="output folder under a file"),
        pytest.param(None, ["--input_file", "in/wiki_00", "--output_dir", "in"],
                     ["in/wiki_00: the output would overwrite an input file"], None, id="output over an input"),
        pytest.param("good", [*TO_DIR, "--num_workers", "0"], ["--num_workers", "0 is not in the range"], None,
                     id="--num_workers 0"),
        pytest.param("good", TO_DIR, ["out/wiki_01: No space left on device", "disk is full"],
                     _disk_full_after(1), id="disk full at the second output, --output_dir"),
        pytest.param("good", TO_FILE, ["corpus.txt: No space left on device", "disk is full"],
                     _disk_full_after(0), id="disk full, --output_file"),
        pytest.param("good", TO_DIR, ["out/wiki_01: Permission denied", "cannot write"], _read_only_after(1),
                     id="read-only at the second output, --output_dir"),
        pytest.param("good", TO_FILE, ["corpus.txt: Permission denied", "cannot write"], _read_only_after(0),
                     id="read-only, --output_file"),
        pytest.param("good", ["--input_file", "in/wiki_*"], ["--output_file", "--output_dir"], None,
                     id="neither output"),
        pytest.param("good", [*TO_DIR, "--output_file", "corpus.txt"], ["--output_file", "--output_dir"], None,
                     id="both outputs"),
        pytest.param("plain text", ["--input_file", "in/wiki_01", "--output_file", "corpus.txt"],
                     ["in/wiki_01: no <doc ...> block", "needs no prepare_corpus.py", "build_vocab.py"], None,
                     id="plain text, --output_file"),
        pytest.param("plain text", ["--input_file", "in/wiki_01", "--output_dir", "out"],
                     ["in/wiki_01: no <doc ...> block", "create_pretraining_data.py read it directly"], None,
                     id="plain text, --output_dir"),
        pytest.param("plain text", ["--input_file", "in/wiki_01,corpus.txt", "--output_dir", "new/out",
                                    "--num_workers", "2"],
                     ["in/wiki_01 and 1 more: no <doc ...> block"], None,
                     id="plain text, --output_dir in new folders, 2 workers"),
    ],
)  # fmt: skip
def test_bad_input(workspace, monkeypatch, second_input, args, names, failure):
    """One line naming the file or flag, and every earlier output, file and folder as it was: no output
    replaced, no temporary file or new folder left."""
    if second_input is not None:
        (workspace / "in" / "wiki_01").write_bytes(SECOND_INPUTS[second_input])
    before, folders = snapshot(workspace), _folders(workspace)
    if failure is not None:
        failure(monkeypatch)
    assert_one_line_error(_run(args), *names)
    assert snapshot(workspace) == before
    assert _folders(workspace) == folders


@pytest.mark.parametrize("num_workers", ["1", "2"])
def test_output_dir_replaces_every_earlier_output(workspace, num_workers):
    (workspace / "in" / "wiki_01").write_bytes(SECOND_INPUTS["good"])
    result = _run([*TO_DIR, "--num_workers", num_workers])
    assert result.exit_code == 0, result.output
    outputs = sorted((workspace / "out").iterdir())  # each earlier output replaced, no temporary left
    assert [(p.name, p.read_text(encoding="utf-8")) for p in outputs] == [("wiki_00", GOOD_OUTPUT),
                                                                          ("wiki_01", GOOD_OUTPUT)]


@pytest.mark.parametrize("num_workers", ["1", "2"])
def test_inputs_without_documents_among_others_are_named_in_a_warning(workspace, num_workers):
    (workspace / "in" / "wiki_01").write_bytes(SECOND_INPUTS["plain text"])
    result = CliRunner().invoke(prepare_corpus.main, [*TO_DIR, "--num_workers", num_workers])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == ("Warning: no <doc ...> block in 1 of 2 input files, not WikiExtractor "
                                              "output, so nothing of them was written: in/wiki_01")
    assert [(p.name, p.read_text(encoding="utf-8")) for p in sorted((workspace / "out").iterdir())] == [
        ("wiki_00", GOOD_OUTPUT), ("wiki_01", "")]


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_quietly_and_keeps_every_earlier_output(workspace):
    """Two workers are done and idle (where an interrupt used to print their tracebacks) while one still works."""
    _write(workspace / "in" / "wiki_00", WIKI_SNIPPET * 6000)  # a second of work
    for name in ("wiki_01", "wiki_02"):
        _write(workspace / "in" / name, WIKI_SNIPPET)
    before = snapshot(workspace)
    result = interrupt("prepare_corpus.py", [*TO_DIR, "--num_workers", "3"], workers=3)
    assert result.returncode != 0 and "Aborted!" in result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.seconds < 10 and result.left_running == 0
    assert snapshot(workspace) == before  # every earlier output whole, no temporary file left


def test_a_failed_job_removes_its_temporary_in_its_process(tmp_path, tagger):
    bad = tmp_path / "bad"
    bad.write_bytes(SECOND_INPUTS["invalid UTF-8"])
    temporary = _write(tmp_path / ".out.~1234abcd.tmp", "")
    job = preparation.Job([str(bad)], str(tmp_path / "out"))
    with pytest.raises(text_input.InputError, match="not valid UTF-8"):
        preparation.write_output(job, str(temporary), tagger)
    assert os.listdir(tmp_path) == ["bad"]


@pytest.mark.slow
def test_kowiki_file(tmp_path, tagger):
    path = KOWIKI_DIR / "wiki_00"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    output_path = tmp_path / "wiki_00"
    with open(output_path, "w", encoding="utf-8") as out:
        stats = preparation.prepare_files([str(path)], out, tagger)
    documents = output_path.read_text(encoding="utf-8").split("\n\n")
    assert documents.pop() == ""
    assert stats.files == 1
    assert stats.documents == len(documents) > 100
    assert stats.documents + stats.empty_documents == path.read_text(encoding="utf-8").count("<doc ")
    lines = [line for document in documents for line in document.split("\n")]
    assert stats.sentences == len(lines) > stats.paragraphs > stats.documents
    assert all(line and line == line.strip() for line in lines)
    assert stats.chars == sum(len(line) for line in lines)
    # Most sentences end like Korean sentences do.
    assert sum(line.endswith(("다.", "다.”", '다."', ")")) for line in lines) > 0.8 * len(lines)


def test_output_file_through_a_symlink_or_onto_a_pipe(tmp_path):
    source = _write(tmp_path / "wiki_00", '<doc id="1" url="u" title="t">\nt\n\n첫 문장이다. 둘째 문장이다.\n</doc>\n')
    real = _write(tmp_path / "real.txt", "old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    result = CliRunner().invoke(prepare_corpus.main, ["--input_file", str(source), "--output_file", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("첫 문장이다.")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    result = CliRunner().invoke(prepare_corpus.main, ["--input_file", str(source), "--output_file", str(pipe)])
    assert_one_line_error(result, str(pipe), "not a regular file")
    assert not pipe.is_file()
