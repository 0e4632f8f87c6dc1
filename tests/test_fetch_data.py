import hashlib
import json

import pytest
from conftest import ROOT

import fetch_data

SAMPLE_QA = ROOT / "data" / "sample_korquad.json"


def remote_for(path, sha256=None, questions=158):
    return fetch_data.Remote(path.resolve().as_uri(), sha256, questions)


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
