"""mecab_bert/runs/loop.py: the training loop's config checks, its checkpoint state, the metrics log a resume trims,
the per-step seed, the non-finite checks, the summary line, and `fit` on a toy task: a run stopped after its
checkpoint and resumed ends on the weights of the run that went straight through, to the bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import modeling
from mecab_bert.checkpoints.loading import MAX_STEPS
from mecab_bert.runs import checkpointing, loop, run_folder
from mecab_bert.runs.batching import Batch
from mecab_bert.runs.devices import Distributed, Runtime, TrainingError
from mecab_bert.runs.loop import LossSums, MetricsLog, TrainConfig, TrainingFlags, TrainState
from text_input import InputError

CPU = Runtime(torch.device("cpu"), "fp32", Distributed(), progress=False)
# Dropout on: a resume is exact only if each step draws its dropout from (seed, step) alone.
CONFIG = modeling.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=16, max_position_embeddings=16)
SEQ = 12


def config(output_dir="unused", num_train_steps=4, **overrides) -> TrainConfig:
    """The toy run: 4 sequences a step, a metrics line every step, a checkpoint every 2 steps, 1 warmup step."""
    flags = TrainingFlags(output_dir=str(output_dir), **{"train_batch_size": 4, "learning_rate": 1e-2, "log_every": 1,
                                                         "save_checkpoints_steps": 2, "device": "cpu", **overrides})
    return TrainConfig(flags, num_train_steps, 1, {"task": "toy", "seed": flags.seed}, run_folder.owns_run_file)


def tiny_state(model: nn.Module | None = None, step: int = 0) -> TrainState:
    model = model or nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return TrainState(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1)), None,
                      step)


# --- TrainConfig ---------------------------------------------------------------------------------------------------


def test_more_steps_than_a_checkpoint_can_name_is_refused():
    assert config(num_train_steps=MAX_STEPS).num_train_steps == MAX_STEPS
    with pytest.raises(InputError) as error:
        config(num_train_steps=MAX_STEPS + 1)
    assert str(error.value) == ("100000000 training steps: more than 99999999 (the checkpoints' 8-digit step); lower "
                                "--num_train_steps or --num_train_epochs")


def test_micro_batch_size_divides_the_batch_among_processes_and_accumulation_steps():
    accumulating = config(train_batch_size=32, gradient_accumulation_steps=4)
    assert [accumulating.micro_batch_size(world) for world in (1, 2, 4, 8)] == [8, 4, 2, 1]
    with pytest.raises(TrainingError) as error:
        accumulating.micro_batch_size(3)
    assert str(error.value) == ("--train_batch_size 32 is not divisible by the number of processes (3) times "
                                "--gradient_accumulation_steps (4)")
    with pytest.raises(TrainingError, match=r"number of processes \(16\)"):
        accumulating.micro_batch_size(16)  # 32 / 64: no whole sequence per micro-batch


# --- TrainState and unwrap -----------------------------------------------------------------------------------------


def take_steps(state: TrainState, steps: int) -> None:
    generator = torch.Generator().manual_seed(state.step)
    for _ in range(steps):
        state.model(torch.randn(5, 3, generator=generator)).square().sum().backward()
        state.optimizer.step()
        state.scheduler.step()
        state.optimizer.zero_grad()
        state.step += 1


def test_train_state_round_trips_through_a_checkpoint(tmp_path):
    trained = tiny_state()
    take_steps(trained, 3)
    torch.save(trained.state_dict(), tmp_path / "ckpt.pt")
    restored = tiny_state()
    restored.load_state_dict(checkpointing.load_checkpoint(tmp_path / "ckpt.pt"))
    assert restored.step == 3 and restored.scheduler.last_epoch == 3
    assert all(torch.equal(a, b) for a, b in zip(trained.model.parameters(), restored.model.parameters(), strict=True))
    # The optimizer's moments came along: the next steps are the same steps.
    take_steps(trained, 2)
    take_steps(restored, 2)
    assert all(torch.equal(a, b) for a, b in zip(trained.model.parameters(), restored.model.parameters(), strict=True))
    assert restored.scheduler.get_last_lr() == trained.scheduler.get_last_lr() == [pytest.approx(0.1 / 6)]


def test_a_wrapped_models_checkpoint_holds_the_bare_models_names():
    model = nn.Linear(3, 2)
    wrapped = nn.DataParallel(nn.DataParallel(model))  # as DistributedDataParallel wraps: .module
    assert loop.unwrap(wrapped) is model and loop.unwrap(model) is model
    state = tiny_state(wrapped)
    assert list(state.state_dict()["model"]) == ["weight", "bias"]
    assert state.state_dict()["scaler"] is None
    bare = tiny_state()
    bare.load_state_dict(state.state_dict())
    assert torch.equal(bare.model.weight, model.weight)


# --- MetricsLog ----------------------------------------------------------------------------------------------------


def test_a_resume_drops_the_lines_logged_after_its_checkpoint_and_a_torn_line(tmp_path):
    lines = [json.dumps({"step": step, "loss": 1 / step}) for step in range(1, 6)]
    torn = '{"step": 6, "lo'  # a crash in the middle of a write
    text = "\n".join([*lines[:3], "[3]", '{"loss": 2}', *lines[3:], torn])  # and lines that are no record
    (tmp_path / "metrics.jsonl").write_text(text, encoding="utf-8")
    log = MetricsLog(str(tmp_path), resume_step=3, enabled=True)
    assert (tmp_path / "metrics.jsonl").read_text(encoding="utf-8") == "".join(f"{line}\n" for line in lines[:3])
    log.write({"step": 4, "loss": 0.5})
    log.close()
    assert (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines() == [*lines[:3],
                                                                                     '{"step": 4, "loss": 0.5}']


def test_only_rank_0_writes_metrics(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 9}\n', encoding="utf-8")
    log = MetricsLog(str(tmp_path), resume_step=0, enabled=False)
    log.write({"step": 1, "loss": 0.5})
    log.close()
    assert (tmp_path / "metrics.jsonl").read_text(encoding="utf-8") == '{"step": 9}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


# --- step_seed -----------------------------------------------------------------------------------------------------


def test_step_seed_is_a_pure_function_of_seed_rank_and_step():
    seeds = {(seed, rank, step): loop.step_seed(seed, rank, step)
             for seed in (0, 12345) for rank in (0, 1, 7) for step in (0, 1, 10**6)}
    assert len(set(seeds.values())) == len(seeds)  # every process and step draws its own dropout
    assert all(isinstance(value, int) and 0 <= value < 2**32 for value in seeds.values())
    torch.manual_seed(1)
    np.random.seed(1)
    assert {key: loop.step_seed(*key) for key in seeds} == seeds  # whatever the global generators hold
    # And it draws from neither of them.
    assert torch.equal(torch.rand(3), torch.rand(3, generator=torch.Generator().manual_seed(1)))
    assert np.random.random() == np.random.RandomState(1).random_sample()


# --- non-finite losses and weights ---------------------------------------------------------------------------------


def test_a_non_finite_loss_names_the_first_step_it_appeared_at():
    loop._check_finite([])
    loop._check_finite([(5, torch.tensor(2.0)), (6, torch.tensor(1.0))])
    with pytest.raises(TrainingError) as error:
        loop._check_finite([(5, torch.tensor(2.0)), (6, torch.tensor(float("nan"))), (7, torch.tensor(float("inf")))])
    assert str(error.value) == ("the loss is nan at step 6: stopping (lower --learning_rate, or use --precision fp32 / "
                                "bf16)")
    with pytest.raises(TrainingError, match="the loss is -inf at step 8: stopping"):
        loop._check_finite([(8, torch.tensor(float("-inf"), dtype=torch.bfloat16))])


def test_non_finite_weights_are_never_saved():
    state = tiny_state(step=7)
    loop._check_finite_weights(state)
    with torch.no_grad():
        state.model.bias[1] = float("inf")
    with pytest.raises(TrainingError) as error:
        loop._check_finite_weights(state)
    assert str(error.value) == ("the weights are NaN or infinite after step 7: stopping without saving them (lower "
                                "--learning_rate, or use --precision fp32 / bf16)")


# --- the summary line ----------------------------------------------------------------------------------------------


def test_the_summary_says_what_was_trained():
    run = config("runs/a", num_train_steps=100, train_batch_size=32)
    assert loop._summary(run, 100, 100, 0.0, {}) == "Nothing to train: runs/a is at step 100 of 100."
    metrics = {"step": 60, "loss": 1.23456, "lr": 1e-4, "mlm_accuracy": 0.5, "tokens_per_s": 999.0}
    assert loop._summary(run, 40, 60, 8.0, metrics) == (
        "Trained 20 steps (40 -> 60 of 100) of 32 sequences in 8.0 s (80.0 sequences/s); last logged: loss 1.2346, "
        "mlm_accuracy 0.5000. Checkpoints and metrics.jsonl in runs/a/")


# --- fit on a toy task ---------------------------------------------------------------------------------------------


class ToyData:
    """16 sequences of 3 to 12 tokens, a label each; batch `poison_at` (a count of batch calls) has a NaN scale."""

    def __init__(self, poison_at: int | None = None, stop_at: int | None = None):
        generator = torch.Generator().manual_seed(0)
        lengths = torch.randint(3, SEQ + 1, (16,), generator=generator)
        self.attention_mask = (torch.arange(SEQ) < lengths[:, None]).long()
        self.input_ids = torch.randint(5, CONFIG.vocab_size, (16, SEQ), generator=generator) * self.attention_mask
        self.labels = torch.randint(0, 2, (16,), generator=generator)
        self.poison_at, self.stop_at, self.calls = poison_at, stop_at, 0

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: np.ndarray) -> Batch:
        self.calls += 1  # one call a step: one process, one micro-batch
        if self.calls == self.stop_at:
            raise RuntimeError("the machine went down")  # as a run killed after its checkpoint
        rows = torch.from_numpy(indices)
        scale = torch.full((len(rows),), float("nan") if self.calls == self.poison_at else 1.0)
        return {"input_ids": self.input_ids[rows], "token_type_ids": torch.zeros_like(self.input_ids[rows]),
                "attention_mask": self.attention_mask[rows], "labels": self.labels[rows], "scale": scale}


class ToyTask:
    """Sequence classification: one loss sum (the cross-entropy over the sequences), divided by the sequences."""

    def divisors(self, batch: Batch) -> torch.Tensor:
        return torch.tensor([float(len(batch["labels"]))])

    def loss_sums(self, model: nn.Module, batch: Batch) -> LossSums:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"])
        head = modeling.sequence_classification_loss(output.logits, batch["labels"])
        return LossSums(head.total[None] * batch["scale"].mean(), {"accuracy": head.correct})

    def metric_divisors(self) -> dict[str, int]:
        return {"accuracy": 0}


def tiny_model() -> modeling.BertForSequenceClassification:
    torch.manual_seed(0)
    return modeling.BertForSequenceClassification(CONFIG, num_labels=2)


def logged(output_dir) -> list[dict]:
    """metrics.jsonl without the wall-clock tokens_per_s."""
    lines = (output_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in lines]


def test_a_resumed_run_ends_on_the_straight_runs_weights(tmp_path, capsys):
    straight = tiny_model()
    result = loop.fit(ToyTask(), straight, ToyData(), config(tmp_path / "straight"), CPU)
    assert (result.start_step, result.step) == (0, 4) and set(result.metrics) == {
        "step", "loss", "lr", "accuracy", "tokens_per_s"}
    assert sorted(p.name for p in (tmp_path / "straight").iterdir()) == [
        ".lock", "bert_config.json", "ckpt-00000002.pt", "ckpt-00000004.pt", "metrics.jsonl", "run.json"]

    out = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="the machine went down"):
        loop.fit(ToyTask(), tiny_model(), ToyData(stop_at=3), config(out), CPU)
    assert [p.name for p in checkpointing.checkpoints(out)] == ["ckpt-00000002.pt"]
    resumed = modeling.BertForSequenceClassification(CONFIG, num_labels=2)  # weights the checkpoint replaces
    result = loop.fit(ToyTask(), resumed, ToyData(), config(out), CPU)
    assert (result.start_step, result.step) == (2, 4)
    assert "resumed from" in capsys.readouterr().err
    theirs = straight.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in resumed.state_dict().items())
    assert logged(out) == logged(tmp_path / "straight")  # steps 1 and 2 of the first try, 3 and 4 of the second

    again = loop.fit(ToyTask(), resumed, ToyData(), config(out), CPU)
    assert (again.start_step, again.step, again.metrics) == (4, 4, {})
    assert capsys.readouterr().err.splitlines()[-1] == f"Nothing to train: {out} is at step 4 of 4."


def test_a_non_finite_loss_stops_the_run_before_its_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="the loss is nan at step 3: stopping"):
        loop.fit(ToyTask(), tiny_model(), ToyData(poison_at=3), config(tmp_path), CPU)
    assert [p.name for p in checkpointing.checkpoints(tmp_path)] == ["ckpt-00000002.pt"]
    assert [line["step"] for line in logged(tmp_path)] == [1, 2]
