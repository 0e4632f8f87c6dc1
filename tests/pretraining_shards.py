"""A small output of create_pretraining_data.py and ways to alter it, shared by the tests of the script, of the
shard reader (shard_format) and of the data loader (tasks/pretraining.load_data). A pytest plugin (see conftest), for
its fixtures: small_corpus, earlier_output and data."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

import create_pretraining_data
from mecab_bert.files import file_sha256
from mecab_bert.pretraining_data import shard_format
from mecab_bert.pretraining_data.shard_format import MANIFEST

SAMPLE = ROOT / "data" / "sample_text_ko.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"


def run_cli(*args: str):
    return CliRunner().invoke(create_pretraining_data.main, [str(a) for a in args])


# A few documents of the sample: enough for several shards, fast enough for a run per matrix case.
SMALL_ARGS = ["--dupe_factor", "1", "--instances_per_shard", "12"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:120]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def earlier_output(tmp_path_factory, small_corpus) -> Path:
    """An output of an earlier run (several shards), to copy where a case may damage it."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    result = run_cli("--input_file", small_corpus, "--output_dir", out, "--vocab_file", SAMPLE_VOCAB, *SMALL_ARGS,
                     "--random_seed", "1")
    assert result.exit_code == 0, result.output
    assert len(shard_format.load_shards(out).arrays) >= 3
    return out


@pytest.fixture
def data(tmp_path, earlier_output) -> Path:
    """A copy of a small output, to tamper with."""
    return Path(shutil.copytree(earlier_output, tmp_path / "data"))


def edit_manifest(change: Callable[[dict], None], seal: bool = True) -> Callable[[Path], None]:
    """Changes the manifest; `seal`: with its checksum made anew, as a crafted manifest would be, so that the check
    of what was changed is the one that must catch it."""
    def edit(directory: Path) -> None:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        change(manifest)
        manifest = shard_format.sealed(manifest) if seal else manifest
        (directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return edit


def rehash(directory: Path) -> None:
    """The manifest gets shard 0's new sha256, as if the shard had been written so: the bounds check alone must
    catch what was changed."""
    edit_manifest(lambda m: m["shards"][0].update(sha256=file_sha256(directory / "shard-00000.npy")))(directory)


def edit_record(field: str, value: int, index: int = 0, keep_sha256: bool = False) -> Callable[[Path], None]:
    """Sets `field` (element `index` of an array field) of record 3 in shard 0 to `value`."""
    def edit(directory: Path) -> None:
        records = np.load(directory / "shard-00000.npy", mmap_mode="r+")
        if records[field].ndim == 2:
            records[field][3, index] = value
        else:
            records[field][3] = value
        records.flush()
        del records
        if not keep_sha256:
            rehash(directory)
    return edit
