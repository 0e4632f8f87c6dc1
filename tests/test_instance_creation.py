"""mecab_bert/pretraining_data/instance_creation.py: Google's training instances (segments, [CLS]/[SEP], 80/10/10
masking, whole-word masking, short targets, random next sentences) as pure functions of the documents and an rng."""

import random
import time
from array import array

import numpy as np

from mecab_bert.pretraining_data import instance_creation

# A synthetic vocab for the statistics: ids 0-4 special, then words; odd ids >= 100 are "##" tokens.
SYNTHETIC = instance_creation.Vocabulary(size=1000, cls_id=2, sep_id=3, mask_id=4,
                                           continues_word=bytes(1 if i >= 100 and i % 2 else 0 for i in range(1000)))


def synthetic_documents(rng: random.Random, count: int, sentences: int) -> list[instance_creation.Document]:
    return [[array("H", [rng.randrange(5, 1000) for _ in range(rng.randint(8, 30))]) for _ in range(sentences)]
            for _ in range(count)]


def all_instances(documents, config, seed=1):
    rng = random.Random(seed)
    return [instance for index in range(len(documents))
            for instance in instance_creation.create_instances_from_document(documents, index, config, SYNTHETIC, rng)]


def unmasked(instance: instance_creation.TrainingInstance) -> list[int]:
    tokens = list(instance.input_ids)
    for position, label in zip(instance.masked_lm_positions, instance.masked_lm_ids, strict=True):
        tokens[position] = label
    return tokens


def occurs_in(needle: list[int], documents) -> bool:
    text = "," + ",".join(map(str, needle)) + ","
    return any(text in "," + ",".join(str(t) for s in d for t in s) + "," for d in documents)


def test_truncate_seq_pair_trims_the_longer_side_and_is_linear():
    rng = random.Random(0)
    a, b = instance_creation.truncate_seq_pair(list(range(10)), list(range(100, 103)), 8, rng)
    assert len(a) + len(b) == 8 and b == [100, 101, 102]
    assert a == list(range(a[0], a[0] + 5))  # a contiguous run: trimmed from the ends only
    start = time.perf_counter()
    a, b = instance_creation.truncate_seq_pair(list(range(100_000)), [1, 2], 125, rng)
    assert len(a) + len(b) == 125 and time.perf_counter() - start < 2.0


def test_instances_have_google_structure_and_true_labels():
    rng = random.Random(3)
    documents = synthetic_documents(rng, 40, 20)
    config = instance_creation.InstanceConfig(max_seq_length=64, max_predictions_per_seq=10)
    for instance in all_instances(documents, config):
        tokens = unmasked(instance)
        n, a = len(tokens), instance.segment_a_length
        assert n <= 64 and 3 <= a < n
        assert tokens[0] == SYNTHETIC.cls_id and tokens[a - 1] == SYNTHETIC.sep_id and tokens[-1] == SYNTHETIC.sep_id
        assert SYNTHETIC.cls_id not in tokens[1:] and tokens.count(SYNTHETIC.sep_id) == 2
        positions = instance.masked_lm_positions
        assert positions == sorted(set(positions)) and 1 <= len(positions) <= 10
        assert not {0, a - 1, n - 1} & set(positions)
        segment_a, segment_b = tokens[1:a - 1], tokens[a:n - 1]
        assert occurs_in(segment_a, documents) and occurs_in(segment_b, documents)
        if not instance.is_random_next and not instance.truncated:
            assert occurs_in(segment_a + segment_b, documents)


def test_statistics_over_many_instances():
    rng = random.Random(7)
    documents = synthetic_documents(rng, 900, 60)
    config = instance_creation.InstanceConfig()
    instances = all_instances(documents, config, seed=11)
    assert len(instances) >= 10_000
    non_special = sum(len(i.input_ids) - 3 for i in instances)
    predictions = [(i.input_ids[p], label) for i in instances for p, label in zip(i.masked_lm_positions,
                                                                                    i.masked_lm_ids, strict=True)]
    assert abs(len(predictions) / non_special - 0.15) < 0.01
    masked = sum(token == SYNTHETIC.mask_id for token, _ in predictions) / len(predictions)
    kept = sum(token == label for token, label in predictions) / len(predictions)
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 and abs(1 - masked - kept - 0.1) < 0.02
    # A one-sentence chunk always takes a random next (Google's rule), and short targets make many of
    # them, so the 50% holds where targets are full.
    full_length = all_instances(documents, instance_creation.InstanceConfig(short_seq_prob=0.0), seed=12)
    assert len(full_length) >= 10_000
    random_next = sum(i.is_random_next for i in full_length) / len(full_length)
    assert abs(random_next - 0.5) < 0.03


def test_short_target_share_follows_short_seq_prob():
    rng = random.Random(5)
    targets = [instance_creation.choose_target_seq_length(125, 0.1, rng) for _ in range(20_000)]
    short = [t for t in targets if t < 125]
    assert abs(len(short) / len(targets) - 0.1) < 0.01
    assert min(short) >= 2 and abs(sum(short) / len(short) - 63.5) < 3  # uniform over [2, 125]


def test_full_targets_fill_every_sequence_but_a_documents_last():
    rng = random.Random(6)
    documents = synthetic_documents(rng, 200, 30)
    draw = random.Random(9)
    full = instance_creation.InstanceConfig(short_seq_prob=0.0)
    for index in range(len(documents)):
        instances = instance_creation.create_instances_from_document(documents, index, full, SYNTHETIC, draw)
        assert all(len(i.input_ids) == 128 for i in instances[:-1] if not i.is_random_next)
    always_short = instance_creation.InstanceConfig(short_seq_prob=1.0)
    instances = all_instances(documents, always_short)
    assert sum(len(i.input_ids) == 128 for i in instances) / len(instances) < 0.2


def test_whole_word_masking_never_masks_part_of_a_word():
    rng = random.Random(2)
    documents = synthetic_documents(rng, 100, 20)
    config = instance_creation.InstanceConfig(do_whole_word_mask=True)
    words_seen = 0
    for instance in all_instances(documents, config):
        tokens = unmasked(instance)
        masked = set(instance.masked_lm_positions)
        for start, end in instance_creation.candidate_words(tokens, config, SYNTHETIC):
            covered = masked & set(range(start, end))
            assert not covered or covered == set(range(start, end))
            words_seen += end - start > 1 and bool(covered)
    assert words_seen > 100  # multi-token words were masked, whole


def test_record_dtype_is_the_smallest_unsigned():
    config = instance_creation.InstanceConfig()
    assert instance_creation.record_dtype(config, 256)["input_ids"].base == np.uint8
    assert instance_creation.record_dtype(config, 32000)["input_ids"].base == np.uint16
    assert instance_creation.record_dtype(config, 70000)["input_ids"].base == np.uint32
