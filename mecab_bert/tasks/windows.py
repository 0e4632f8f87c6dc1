# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Google's sliding windows over a text longer than a sequence, and the window where each token has the most context:
run_squad's contexts and run_ner's sentences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def doc_windows(length: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """Google's sliding windows (start, length) over a context of `length` tokens."""
    windows = []
    start = 0
    while start < length or not windows:
        size = min(length - start, max_tokens_for_doc)
        windows.append((start, size))
        if start + size >= length:
            break
        start += min(size, doc_stride)
    return windows


def max_context_window(windows: Sequence[tuple[int, int]], length: int) -> np.ndarray:
    """For each context token, the window where it has the most context (Google's _check_is_max_context:
    score = min(left, right context) + 0.01 * window length; the first window wins ties).

    Google's example: in "the man went to the store and bought a gallon of milk", windows B "to the store and
    bought" and C "and bought a gallon of" both hold "bought": B gives it 4 left and 0 right context, C 1 left
    and 3 right, so C (min 1 > min 0) is its max-context window.
    """
    best = np.full(length, -1, dtype=np.int64)
    best_score = np.full(length, -np.inf)
    for index, (start, size) in enumerate(windows):
        positions = np.arange(start, start + size)
        score = np.minimum(positions - start, start + size - 1 - positions) + 0.01 * size
        better = score > best_score[start:start + size]
        best_score[start:start + size][better] = score[better]
        best[start:start + size][better] = index
    return best
