# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Google's instance creation (`create_pretraining_data.py`), as pure functions over token ids: every setting and
the rng are arguments, and instances become compact records (`record_dtype`).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import tokenization

Document = list[array]  # a document: its sentences as token-id arrays

# The longest sequence a record can hold: its lengths and positions are uint16 (see record_dtype).
MAX_RECORD_LENGTH = int(np.iinfo(np.uint16).max)


@dataclass(frozen=True)
class InstanceConfig:
    """Everything that shapes the instances (Google's flags and defaults)."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    do_whole_word_mask: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """What instance creation needs of the vocab, as ids."""

    size: int
    cls_id: int
    sep_id: int
    mask_id: int
    continues_word: bytes  # continues_word[id] == 1 for "##" tokens: whole-word masking keeps them with the word

    @classmethod
    def from_vocab(cls, vocab: dict[str, int]) -> Vocabulary:
        flags = bytearray(max(vocab.values()) + 1)
        for token, index in vocab.items():
            flags[index] = token.startswith(tokenization.CONTINUATION)
        return cls(len(flags), vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"], bytes(flags))


@dataclass(frozen=True)
class TrainingInstance:
    """One [CLS] A [SEP] B [SEP] sequence, masked (Google's TrainingInstance, in ids)."""

    input_ids: list[int]
    segment_a_length: int  # [CLS], A and the first [SEP]: the tokens with segment id 0
    masked_lm_positions: list[int]  # sorted
    masked_lm_ids: list[int]  # the original ids at those positions
    is_random_next: bool
    truncated: bool


def record_dtype(config: InstanceConfig, vocab_size: int) -> np.dtype:
    """The shard layout: one record per instance.

    input_ids [max_seq_length] and masked_lm_ids [max_predictions_per_seq] in the smallest unsigned dtype that holds the
    vocab, zero-padded ([PAD] is 0); input_length and segment_a_length (segment ids are 0 for the first segment_a_length
    tokens, 1 up to input_length); masked_lm_positions; num_predictions (masked_lm_weights are 1 for the first
    num_predictions); next_sentence_label (1 = B is a random next segment, as Google).
    """
    ids = np.min_scalar_type(max(vocab_size - 1, 0))
    return np.dtype([
        ("input_ids", ids, (config.max_seq_length,)),
        ("input_length", np.uint16),
        ("segment_a_length", np.uint16),
        ("masked_lm_positions", np.uint16, (config.max_predictions_per_seq,)),
        ("masked_lm_ids", ids, (config.max_predictions_per_seq,)),
        ("num_predictions", np.uint16),
        ("next_sentence_label", np.uint8),
    ])


def truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
                      ) -> tuple[list[int], list[int]]:
    """Truncates a pair to at most `max_num_tokens`, one token at a time from the longer side. Google's rule: from the
    front or the back at random, to avoid biases. Kept as index arithmetic, so a 100,000-token sentence costs O(n), not
    O(n^2) list deletions."""
    a_start, a_end, b_start, b_end = 0, len(tokens_a), 0, len(tokens_b)
    while (a_end - a_start) + (b_end - b_start) > max_num_tokens:
        trim_a = a_end - a_start > b_end - b_start
        from_front = rng.random() < 0.5
        if trim_a:
            a_start, a_end = (a_start + 1, a_end) if from_front else (a_start, a_end - 1)
        else:
            b_start, b_end = (b_start + 1, b_end) if from_front else (b_start, b_end - 1)
    return tokens_a[a_start:a_end], tokens_b[b_start:b_end]


def candidate_words(tokens: list[int], config: InstanceConfig, vocab: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of each maskable unit: a token, or with whole-word masking a word, where every "##"
    token (a later morpheme or word piece) belongs to the word before it. [CLS] and [SEP] never."""
    specials = (vocab.cls_id, vocab.sep_id)
    words: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token in specials:
            continue
        if config.do_whole_word_mask and words and vocab.continues_word[token] and words[-1][1] == i:
            words[-1] = (words[-1][0], i + 1)
        else:
            words.append((i, i + 1))
    return words


def create_masked_lm_predictions(tokens: list[int], config: InstanceConfig, vocab: Vocabulary, rng: random.Random
                                 ) -> tuple[list[int], list[int], list[int]]:
    """Masks `tokens` ([CLS] A [SEP] B [SEP] ids) for the masked-LM task.

    Google's recipe: num_to_predict = min(max_predictions_per_seq, max(1, round(len * masked_lm_prob))); candidates
    (tokens, or whole words) are taken in random order, a word that no longer fits is skipped; each chosen token becomes
    [MASK] 80% of the time, stays 10%, and becomes a random vocab id 10%. Google shuffles all candidates and then walks
    the list; drawing them one at a time (a Fisher-Yates shuffle stopped early) gives the same distribution for a
    fraction of the random draws. Returns (masked tokens, sorted positions, original ids at those positions).
    """
    num_to_predict = min(config.max_predictions_per_seq, max(1, round(len(tokens) * config.masked_lm_prob)))
    if config.do_whole_word_mask:
        words = candidate_words(tokens, config, vocab)
    else:
        # [CLS] A [SEP] B [SEP]: every token but the three specials, as one-token words; built without a
        # Python loop because this runs for every instance.
        first_sep = tokens.index(vocab.sep_id)
        words = [*zip(range(1, first_sep), range(2, first_sep + 1), strict=True),
                 *zip(range(first_sep + 1, len(tokens) - 1), range(first_sep + 2, len(tokens)), strict=True)]
    output = list(tokens)
    positions: list[int] = []
    random_draw = rng.random
    for j in range(len(words)):
        if len(positions) >= num_to_predict:
            break
        k = j + int(random_draw() * (len(words) - j))
        words[j], words[k] = words[k], words[j]
        start, end = words[j]
        if len(positions) + end - start > num_to_predict:
            continue
        for index in range(start, end):
            if random_draw() < 0.8:
                output[index] = vocab.mask_id
            elif random_draw() >= 0.5:  # else, 10% of the time, the token stays
                output[index] = int(random_draw() * vocab.size)
            positions.append(index)
    positions.sort()
    return output, positions, [tokens[i] for i in positions]


def _segments_from(document: Document, start: int, target_length: int) -> list[int]:
    """Concatenates sentences from `start` until at least `target_length` tokens."""
    tokens: list[int] = []
    for sentence in document[start:]:
        tokens.extend(sentence)
        if len(tokens) >= target_length:
            break
    return tokens


def _pair_from_chunk(chunk: list[array], documents: Sequence[Document], document_index: int, target_seq_length: int,
                     rng: random.Random) -> tuple[list[int], list[int], bool, int]:
    """Splits accumulated sentences into A and B; returns (A, B, is_random_next, sentences given back)."""
    a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
    tokens_a = [token for sentence in chunk[:a_end] for token in sentence]
    if len(chunk) == 1 or rng.random() < 0.5:
        # A random next segment from another document. Google tries 10 times to avoid this document.
        for _ in range(10):
            random_index = rng.randint(0, len(documents) - 1)
            if random_index != document_index:
                break
        random_document = documents[random_index]
        random_start = rng.randint(0, len(random_document) - 1)
        tokens_b = _segments_from(random_document, random_start, target_seq_length - len(tokens_a))
        # The sentences after A were not used: put them back, so they are not wasted.
        return tokens_a, tokens_b, True, len(chunk) - a_end
    tokens_b = [token for sentence in chunk[a_end:] for token in sentence]
    return tokens_a, tokens_b, False, 0


def choose_target_seq_length(max_num_tokens: int, short_seq_prob: float, rng: random.Random) -> int:
    """max_num_tokens, or with probability short_seq_prob a length drawn from [2, max_num_tokens]. Google: most
    sequences are full, to use the compute; some are short, because fine-tuning sees short inputs and pretraining should
    too."""
    return rng.randint(2, max_num_tokens) if rng.random() < short_seq_prob else max_num_tokens


def create_instances_from_document(documents: Sequence[Document], document_index: int, config: InstanceConfig,
                                   vocab: Vocabulary, rng: random.Random) -> list[TrainingInstance]:
    """Creates instances from one document (Google's create_instances_from_document). Sentences are accumulated until
    they reach a target length (see choose_target_seq_length), then split at a random sentence boundary into A and B. We
    don't just concatenate all tokens into one long sequence and cut it at random: that would make next sentence
    prediction too easy."""
    document = documents[document_index]
    max_num_tokens = config.max_seq_length - 3
    target_seq_length = choose_target_seq_length(max_num_tokens, config.short_seq_prob, rng)
    instances = []
    chunk: list[array] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            tokens_a, tokens_b, is_random_next, given_back = _pair_from_chunk(
                chunk, documents, document_index, target_seq_length, rng)
            i -= given_back
            untruncated = len(tokens_a) + len(tokens_b)
            tokens_a, tokens_b = truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            tokens = [vocab.cls_id, *tokens_a, vocab.sep_id, *tokens_b, vocab.sep_id]
            masked, positions, labels = create_masked_lm_predictions(tokens, config, vocab, rng)
            instances.append(TrainingInstance(masked, len(tokens_a) + 2, positions, labels, is_random_next,
                                              untruncated > max_num_tokens))
            chunk, chunk_length = [], 0
        i += 1
    return instances


def instances_to_records(instances: Sequence[TrainingInstance], dtype: np.dtype) -> np.ndarray:
    """Packs instances into a zero-padded structured array (see `record_dtype`)."""
    records = np.zeros(len(instances), dtype=dtype)
    for record, instance in zip(records, instances, strict=True):
        record["input_ids"][: len(instance.input_ids)] = instance.input_ids
        record["input_length"] = len(instance.input_ids)
        record["segment_a_length"] = instance.segment_a_length
        record["masked_lm_positions"][: len(instance.masked_lm_positions)] = instance.masked_lm_positions
        record["masked_lm_ids"][: len(instance.masked_lm_ids)] = instance.masked_lm_ids
        record["num_predictions"] = len(instance.masked_lm_positions)
        record["next_sentence_label"] = instance.is_random_next
    return records
