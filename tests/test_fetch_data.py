import hashlib
import json
import re

import pytest
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT

import fetch_data

SAMPLE_QA = ROOT / "data" / "sample_korquad.json"


def remote_for(path, sha256=None, questions=158):
    return fetch_data.Remote(path.resolve().as_uri(), sha256, questions, fetch_data.QUESTIONS)


def test_fetch_checks_and_keeps(tmp_path):
    digest = hashlib.sha256(SAMPLE_QA.read_bytes()).hexdigest()
    paths = fetch_data.fetch("korquad", tmp_path / "dest", {"qa.json": remote_for(SAMPLE_QA, digest)})
    assert paths[0].read_bytes() == SAMPLE_QA.read_bytes()
    # Present files are not fetched again.
    assert fetch_data.fetch("korquad", tmp_path / "dest", {"qa.json": remote_for(tmp_path / "missing")}) == paths


def test_a_wrong_file_is_refused_and_not_kept(tmp_path):
    with pytest.raises(fetch_data.InputError, match="sha256"):
        fetch_data.fetch("korquad", tmp_path, {"qa.json": remote_for(SAMPLE_QA, "0" * 64)})
    with pytest.raises(fetch_data.InputError, match="158 questions, expected 60407"):
        fetch_data.fetch("korquad", tmp_path, {"qa.json": remote_for(SAMPLE_QA, None, 60407)})
    with pytest.raises(fetch_data.InputError, match="download failed"):
        fetch_data.fetch("korquad", tmp_path, {"qa.json": remote_for(tmp_path / "missing")})
    assert list(tmp_path.iterdir()) == []


def test_pinned_hashes_match_the_shared_dev_sets():
    shared = ROOT.parent / "shared" / "data"
    for dataset, folder, name in (("korquad", "korquad", "KorQuAD_v1.0_dev.json"), ("squad", "squad", "dev-v1.1.json")):
        path = shared / folder / name
        if not path.exists():
            pytest.skip(f"{path} not present")
        fetch_data.check(name, path.read_bytes(), fetch_data.DATASETS[dataset][name])
        assert json.loads(path.read_bytes())["data"]


# --- Files already there: checked as a download is, reported, never deleted ----------------------------------------


def sample_remotes():
    """A train file checked by its question count and a dev file by its sha256, both "downloaded" from the sample."""
    return {"train.json": remote_for(SAMPLE_QA),
            "dev.json": remote_for(SAMPLE_QA, hashlib.sha256(SAMPLE_QA.read_bytes()).hexdigest())}


def test_present_files_are_checked_before_any_download(tmp_path):
    (tmp_path / "dev.json").write_bytes(b"")
    before = snapshot(tmp_path)
    with pytest.raises(fetch_data.InputError, match=f"^{re.escape(str(tmp_path / 'dev.json'))}: sha256 .*; remove it"):
        fetch_data.fetch("korquad", tmp_path, sample_remotes())
    assert snapshot(tmp_path) == before  # the bad file kept, train.json (first in order) not downloaded
    (tmp_path / "dev.json").write_bytes(SAMPLE_QA.read_bytes())
    assert [p.name for p in fetch_data.fetch("korquad", tmp_path, sample_remotes())] == ["train.json", "dev.json"]
    assert (tmp_path / "train.json").read_bytes() == SAMPLE_QA.read_bytes()


def test_the_reported_case_garbage_train_and_empty_dev(tmp_path, monkeypatch):
    """`fetch_data.py --dest fd` with the real addresses: both files are there, so nothing is downloaded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fd").mkdir()
    (tmp_path / "fd" / "KorQuAD_v1.0_train.json").write_bytes(b"garbage")
    (tmp_path / "fd" / "KorQuAD_v1.0_dev.json").write_bytes(b"")
    before = snapshot(tmp_path)
    result = CliRunner().invoke(fetch_data.main, ["--dest", "fd"])
    assert assert_one_line_error(result) == (
        "Error: fd/KorQuAD_v1.0_train.json: not a SQuAD-format JSON file (Expecting value: line 1 column 1 (char 0)); "
        "remove it to download it again")
    assert "ready" not in result.output and snapshot(tmp_path) == before


SAMPLE_SHA256 = hashlib.sha256(SAMPLE_QA.read_bytes()).hexdigest()
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(("files", "args", "line"), [
    pytest.param({"train.json": b"garbage"}, [],
                 "Error: fd/train.json: not a SQuAD-format JSON file (Expecting value: line 1 column 1 (char 0)); "
                 "remove it to download it again", id="train garbage"),
    pytest.param({"dev.json": b""}, [],
                 f"Error: fd/dev.json: sha256 {EMPTY_SHA256} is not the expected {SAMPLE_SHA256}; remove it to "
                 f"download it again", id="dev empty"),
    pytest.param({"train.json": b'{"version": "1.1", "data": []}'}, [],
                 "Error: fd/train.json: 0 questions, expected 158; remove it to download it again",
                 id="train another count"),
    pytest.param({"train.json": b'{"data": [{"paragraphs": [{"qas": 7}]}]}'}, [],
                 "Error: fd/train.json: not a SQuAD-format JSON file (object of type 'int' has no len()); remove it "
                 "to download it again", id="train qas a number"),
    pytest.param({"train.json": b"[" * 100_000}, [],
                 "Error: fd/train.json: not a SQuAD-format JSON file (nested too deeply); remove it to download it "
                 "again",
                 id="train nested too deep"),
    pytest.param({"train.json": None}, [], "Error: fd/train.json: Is a directory", id="train a folder"),
    pytest.param({}, ["--dest", "dest.txt"], "Error: Invalid value for '--dest': Directory 'dest.txt' is a file. "
                 "(see --help)", id="dest a file"),
])
def test_bad_present_files_are_one_line_and_kept(tmp_path, monkeypatch, files, args, line):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(fetch_data.DATASETS, "korquad", sample_remotes())
    (tmp_path / "fd").mkdir()
    (tmp_path / "dest.txt").write_text("notes\n")
    for name, content in files.items():
        if content is None:
            (tmp_path / "fd" / name).mkdir()
        else:
            (tmp_path / "fd" / name).write_bytes(content)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(fetch_data.main, ["--dest", "fd", *args])
    assert assert_one_line_error(result) == line
    assert snapshot(tmp_path) == before  # the bad file kept, nothing downloaded beside it


def test_pinned_classifier_files_match_the_shared_ones():
    shared = ROOT.parent / "shared" / "data" / "kornlu"
    if not shared.is_dir():
        pytest.skip(f"{shared} not present")
    checked = 0
    for dataset in ("korsts", "kornli"):
        for name, remote in fetch_data.DATASETS[dataset].items():
            if (shared / name).exists():
                fetch_data.check(name, (shared / name).read_bytes(), remote)
                checked += 1
    assert checked == 5


def test_a_text_file_is_checked_by_its_lines(tmp_path):
    source = tmp_path / "source.tsv"
    source.write_text("sentence1\tsentence2\tgold_label\na\tb\tneutral\n", encoding="utf-8")
    remote = fetch_data.Remote(source.as_uri(), None, 3)
    with pytest.raises(fetch_data.InputError, match=r"data\.tsv: 2 lines, expected 3"):
        fetch_data.fetch("kornli", tmp_path / "dest", {"data.tsv": remote})
    assert not (tmp_path / "dest" / "data.tsv").exists()
    fetched = fetch_data.fetch("kornli", tmp_path / "dest", {"data.tsv": fetch_data.Remote(source.as_uri(), None, 2)})
    assert fetched[0].read_bytes() == source.read_bytes()


def test_pinned_klue_files_match_the_shared_ones():
    shared = ROOT.parent / "shared" / "data" / "klue"
    if not shared.is_dir():
        pytest.skip(f"{shared} not present")
    checked = 0
    for dataset in ("klue-sts", "klue-nli", "klue-ner", "ynat"):
        for name, remote in fetch_data.DATASETS[dataset].items():
            assert remote.url.endswith(f"/klue_benchmark/{dataset}-v1.1/{name}")
            if (shared / name).exists():
                fetch_data.check(name, (shared / name).read_bytes(), remote)  # the sha256 and the count
                checked += 1
    assert checked == 3


def test_klue_files_are_counted_by_records_and_sentences(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"guid": "a"}, {"guid": "b"}]), encoding="utf-8")
    fetched = fetch_data.fetch("ynat", tmp_path / "dest", {"ynat.json": fetch_data.Remote(
        records.as_uri(), None, 2, fetch_data.RECORDS)})
    assert fetched[0].read_bytes() == records.read_bytes()
    with pytest.raises(fetch_data.InputError, match=r"^x\.json: 2 records, expected 3$"):
        fetch_data.check("x.json", records.read_bytes(), fetch_data.Remote("", None, 3, fetch_data.RECORDS))
    with pytest.raises(fetch_data.InputError, match=r"^x\.json: not a KLUE JSON file \(the top level is not an array "
                                                    r"of records\)$"):
        fetch_data.check("x.json", b'{"data": []}', fetch_data.Remote("", None, 0, fetch_data.RECORDS))
    # KLUE-NER: comment lines, then a sentence's lines; a blank line between sentences (a space is a line of its own).
    ner = "## comment\n## klue-ner-v1_dev_00000\t<가:PS>\n가\tB-PS\n \tO\n\n## klue-ner-v1_dev_00001\t나\n나\tO\n\n"
    sentences = fetch_data.Remote("", None, 2, fetch_data.SENTENCES)
    fetch_data.check("ner.tsv", ner.encode(), sentences)
    with pytest.raises(fetch_data.InputError, match=r"^ner\.tsv: 1 sentences, expected 2$"):
        fetch_data.check("ner.tsv", ner.split("\n\n")[0].encode(), sentences)
