# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Pretrains BERT (masked LM + next sentence prediction) on the shards of create_pretraining_data.py.

Google's flags and defaults. On CUDA when present (bf16 autocast by default), else on CPU in fp32;
`torchrun --nproc_per_node=N run_pretraining.py ...` trains on N processes (NCCL on CUDA, gloo on CPU).
`--train_batch_size` is the batch of one optimizer step, over all processes and accumulation steps, so
the same flags train the same model on any number of processes.

Restarting with the same --output_dir resumes from its newest checkpoint, exactly: the checkpoint holds
the model, the optimizer, the schedule and the step, and the batches and the dropout seed of a step are
pure functions of (--seed, step).
"""

from __future__ import annotations

import sys

import click

from mecab_bert.cli import Command, flag_options, user_errors
from mecab_bert.runs import devices
from mecab_bert.tasks import pretraining


@click.command(cls=Command)
@flag_options(pretraining.PretrainingFlags)
def main(**flags) -> None:
    """Pretrain BERT (masked LM + next sentence prediction) from create_pretraining_data.py shards."""
    with user_errors(devices.TrainingError):
        pretraining.run(pretraining.PretrainingFlags(**flags))


if __name__ == "__main__":
    sys.exit(main())
