"""mecab_bert/tasks/pretraining.py: the training data is checked against the flags and the model before training."""

import shutil
from pathlib import Path

import pytest
from pretraining_shards import edit_manifest, edit_record

from mecab_bert.pretraining_data import shard_format
from mecab_bert.tasks import pretraining
from text_input import InputError


def _spec(**changes) -> pretraining.DataSpec:
    return pretraining.DataSpec(**{"max_seq_length": 128, "max_predictions_per_seq": 20, "vocab_size": 4000,
                                       "vocab_sha256": None, **changes})


def test_load_data_checks_every_directory_before_training(tmp_path, data, earlier_output):
    instances = shard_format.load_shards(data).num_instances
    assert pretraining.load_data(str(data), _spec(), seed=1).size == instances
    with pytest.raises(InputError, match="max_seq_length is 128 in the data, 64 in the flags"):
        pretraining.load_data(str(data), _spec(max_seq_length=64), seed=1)
    with pytest.raises(InputError, match="the data's vocab has 3967 tokens, the model's vocab_size is 3000"):
        pretraining.load_data(str(data), _spec(vocab_size=3000), seed=1)
    other = Path(shutil.copytree(earlier_output, tmp_path / "other"))
    edit_manifest(lambda m: m["vocab"].update(sha256="0" * 64))(other)
    with pytest.raises(InputError, match="different vocabs"):
        pretraining.load_data(f"{data},{other}", _spec(), seed=1)
    edit_record("input_ids", 3967, index=1)(data)
    with pytest.raises(InputError, match=r"shard-00000\.npy: record 3: input_ids"):
        pretraining.load_data(str(data), _spec(), seed=1)
    assert pretraining.load_data(str(data), _spec(), seed=1, verify=False).size == instances
