import json
from pathlib import Path

import pytest

import tokenization

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
KOWIKI_DIR = SHARED_DATA / "kowiki"  # WikiExtractor's output of the Korean Wikipedia
TF_CHECKPOINTS = SHARED_DATA / "tf_checkpoints"  # written by TensorFlow with Google's modeling.py
GOOGLE_UNCASED = SHARED_DATA / "google" / "uncased_L-2_H-32_A-2"  # Google's layout, BERT-Base uncased's real vocab

pytest_plugins = ["pretraining_shards"]  # its fixtures: a small output of create_pretraining_data.py

UNCASED = [f"{a}{b}" for a in "abcdefghij" for b in "abcde"]  # 50 tokens with Latin letters, no capital


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tagger():
    return tokenization.PosTagger()


def vocab_bytes(*tokens: str) -> bytes:
    """A vocab file's bytes: the special tokens, then `tokens`, one a line."""
    return "".join(f"{t}\n" for t in [*tokenization.SPECIAL_TOKENS, *tokens]).encode()


@pytest.fixture
def write_vocab(tmp_path):
    """Writes a vocab file (special tokens first) and returns its path."""

    def write(tokens, name="vocab.txt"):
        path = tmp_path / name
        path.write_bytes(vocab_bytes(*tokens))
        return path

    return write


def checkpoint_dir(name: str):
    """A folder TensorFlow wrote with Google's modeling.py, or a pytest skip when ../shared/data lacks it."""
    path = TF_CHECKPOINTS / name
    if not (path / "bert_model.ckpt.index").is_file():
        pytest.skip(f"{path} not present")
    return path


def google_uncased() -> Path:
    """Google's uncased checkpoint folder (TensorFlow's files, BERT-Base uncased's vocab), or a pytest skip."""
    if not (GOOGLE_UNCASED / "vocab.txt").is_file():
        pytest.skip(f"{GOOGLE_UNCASED} not present")
    return GOOGLE_UNCASED


def shared_contexts(name: str, questions: bool = False) -> list[str]:
    """Every context (and with `questions`, every question after its context) of a shared SQuAD-format file, or a
    pytest skip when ../shared/data is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with open(path, encoding="utf-8") as reader:
        data = json.load(reader)["data"]
    return [text for article in data for p in article["paragraphs"]
            for text in [p["context"], *(q["question"] for q in p["qas"] if questions)]]
