# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Batches: the order a data set is read in (`ShuffledStream`, a pure function of (seed, step)), the micro-batches
of a step, batches cut to their longest sequence (`unpad`) or grouped by length, made ahead in a thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from mecab_bert.runs.devices import Distributed
    from mecab_bert.runs.loop import TrainingData


Batch = dict[str, Tensor]


class ShuffledStream:
    """The order in which a data set of `size` items is read: epoch after epoch, each a permutation drawn
    from (seed, epoch).

    Step s takes stream positions [s * B, (s + 1) * B) (B = the batch of one optimizer step); inside it,
    micro-batch m of process r is the r-th slice of the m-th part. Nothing depends on history.
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed
        self._permutation: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._permutation is None or self._permutation[0] != epoch:
            self._permutation = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        return self._permutation[1]

    def indices(self, start: int, count: int) -> np.ndarray:
        """The items at stream positions [start, start + count)."""
        positions = np.arange(start, start + count)
        epochs = positions // self.size
        return np.concatenate([self.permutation(int(e))[positions[epochs == e] % self.size]
                               for e in np.unique(epochs)])

    def step_indices(self, step: int, batch_size: int, micro: int, distributed: Distributed) -> list[np.ndarray]:
        """This process's micro-batches of one optimizer step, as item indices."""
        per_micro = micro * distributed.world_size
        first = step * batch_size + distributed.rank * micro
        return [self.indices(first + m * per_micro, micro) for m in range(batch_size // per_micro)]


def prefetch(make: Callable[[int], Any], first: int, depth: int = 2) -> Iterator[Any]:
    """Yields make(first), make(first + 1), ... computed `depth` ahead in a background thread, which is
    joined when the generator closes: a thread still inside torch when the interpreter exits aborts the
    process ("terminate called without an active exception") after the run's work is done."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        index = first
        while not stop.is_set():
            try:
                item = (make(index), None)
            except Exception as error:  # handed to the consumer, raised there
                item = (None, error)
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            index += 1

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            yield item
    finally:
        stop.set()
        thread.join()


def step_batches(data: TrainingData, order: ShuffledStream, step: int, batch_size: int, micro: int,
                 distributed: Distributed) -> list[Batch]:
    """This process's micro-batches of one optimizer step: a pure function of (the order's seed, step)."""
    return [data.batch(indices) for indices in order.step_indices(step, batch_size, micro, distributed)]


MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def int64_rows(source: object, names: Collection[str], indices: np.ndarray) -> Batch:
    """Rows `indices` of the integer arrays `names` of `source` (stored narrow, int8/int32) as int64 CPU tensors,
    the dtype embedding lookups and cross-entropy targets take."""
    return {name: torch.from_numpy(getattr(source, name)[indices].astype(np.int64)) for name in names}


def unpad(batch: Batch) -> Batch:
    """The batch with its [B, T] model inputs cut to its longest sequence (attention_mask's longest row).

    The columns cut are padding in every row: attention never reads a padded key, positions keep their indexes,
    and every head reads real tokens only (the span loss masks padding), so every output at a real token, every
    loss and every gradient is the padded batch's, to float rounding, for a fraction of the work. Other fields
    (labels, masked positions: they index real tokens) stay as they are.
    """
    mask = batch["attention_mask"]
    length = int(mask.sum(1).max()) if len(mask) else mask.shape[1]
    if length == mask.shape[1]:
        return batch
    return {key: value[:, :length] if key in MODEL_INPUTS else value for key, value in batch.items()}


def length_groups(batch: Batch, groups: int = 4) -> list[Batch]:
    """The batch's rows in up to `groups` batches of like length (longest first), each cut to its longest (unpad).

    A training step's loss is a sum over rows, so the groups' loss sums and gradients add up to the batch's,
    while a CPU computes about the real tokens instead of B times the longest row (sequences are rarely all long:
    KorQuAD's windows at 384 are 77% full).
    """
    order = torch.argsort(batch["attention_mask"].sum(1), descending=True, stable=True)
    return [unpad({key: value[rows] for key, value in batch.items()}) for rows in order.tensor_split(groups)
            if len(rows)]


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
