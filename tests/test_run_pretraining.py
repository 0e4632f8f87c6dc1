import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from badinput import assert_one_line_error, snapshot
from click.testing import CliRunner
from conftest import ROOT
from torchrun import CPU_ENV, torchrun_nodes

import create_pretraining_data
import modeling
import run_pretraining
import tokenization
from mecab_bert.checkpoints import loading
from mecab_bert.pretraining_data import creation, shard_format
from mecab_bert.runs import batching, checkpointing, devices, run_folder
from mecab_bert.tasks import pretraining

SAMPLE = ROOT / "data" / "sample_text_ko.txt"
SAMPLE_VOCAB = ROOT / "vocab" / "sample-4k.txt"
TINY = {"vocab_size": 4000, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
        "initializer_range": 0.02}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "shards"
    creation.create_pretraining_data(creation.RunSettings(
        input_file=str(SAMPLE), output_dir=str(out), vocab_file=str(SAMPLE_VOCAB), max_seq_length=64,
        max_predictions_per_seq=10, dupe_factor=2, instances_per_shard=300), progress=False)
    return out


def write_config(tmp_path, **overrides):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**TINY, **overrides}))
    return path


def args(config, data_dir, output_dir, *extra):
    return ["--bert_config_file", str(config), "--input_file", str(data_dir), "--output_dir", str(output_dir),
            "--max_seq_length", "64", "--max_predictions_per_seq", "10", "--train_batch_size", "8",
            "--learning_rate", "1e-3", "--num_warmup_steps", "2", "--device", "cpu", *map(str, extra)]


def run_cli(*arguments):
    return CliRunner().invoke(run_pretraining.main, list(arguments))


def metrics(output_dir):
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def final_parameters(output_dir):
    newest = loading.checkpoints(output_dir)[-1]
    return checkpointing.load_checkpoint(newest)["model"]


# --- data ----------------------------------------------------------------------------------------------


def test_batches_follow_the_records(data_dir):
    shards = shard_format.load_shards(data_dir)
    records = shards.records()[:4]
    batch = pretraining.records_to_batch(records)
    for row, record in enumerate(records):
        n, a, k = int(record["input_length"]), int(record["segment_a_length"]), int(record["num_predictions"])
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (64 - n)
        assert batch["token_type_ids"][row].tolist() == [0] * a + [1] * (n - a) + [0] * (64 - n)
        assert batch["masked_lm_weights"][row].tolist() == [1.0] * k + [0.0] * (10 - k)
        assert batch["input_ids"][row].tolist() == record["input_ids"].tolist()
    assert batch["input_ids"].dtype == torch.long


def test_processes_split_each_step_and_the_stream_is_reproducible(data_dir):
    data = pretraining.PretrainingData([shard_format.load_shards(data_dir)], seed=3)
    single = data.step_batches(5, 8, 8, devices.Distributed())[0]["input_ids"]
    parts = [data.step_batches(5, 8, 2, devices.Distributed(rank, 2))
             for rank in range(2)]  # 2 processes x 2 accumulation steps x 2 sequences
    rebuilt = torch.cat([parts[rank][m]["input_ids"] for m in range(2) for rank in range(2)])
    assert torch.equal(rebuilt, single)
    again = pretraining.PretrainingData([shard_format.load_shards(data_dir)], seed=3)
    assert torch.equal(again.step_batches(5, 8, 8, devices.Distributed())[0]["input_ids"], single)
    # Each epoch is a permutation of every instance; the next epoch is another one.
    every = sorted(r.tobytes() for r in shard_format.load_shards(data_dir).records())
    first, second = data.stream(0, data.size), data.stream(data.size, data.size)
    assert sorted(r.tobytes() for r in first) == every == sorted(r.tobytes() for r in second)
    assert first.tobytes() != second.tobytes()


def test_prefetch_yields_in_order_and_joins_its_thread_on_close():
    """The background thread must be gone when the consumer stops: one still inside torch at interpreter
    exit aborts a finished run with status 134."""
    started = threading.Event()

    def make(index):
        started.set()
        time.sleep(0.05)  # still working when the consumer closes
        return index

    batches = batching.prefetch(make, 3)
    assert [next(batches) for _ in range(3)] == [3, 4, 5]
    started.wait()
    before = threading.active_count()
    batches.close()
    assert threading.active_count() == before - 1


# --- the run -------------------------------------------------------------------------------------------


def test_train_eval_checkpoints_and_metrics(tmp_path, data_dir):
    out = tmp_path / "run"
    result = run_cli(*args(write_config(tmp_path), data_dir, out, "--do_train", "--do_eval", "--num_train_steps",
                           "12", "--save_checkpoints_steps", "4", "--keep_checkpoints", "2", "--log_every", "3",
                           "--max_eval_steps", "5"))
    assert result.exit_code == 0, result.output
    assert [p.name for p in loading.checkpoints(out)] == ["ckpt-00000008.pt", "ckpt-00000012.pt"]
    logged = metrics(out)
    assert [m["step"] for m in logged] == [3, 6, 9, 12]
    assert {"loss", "lr", "masked_lm_accuracy", "next_sentence_accuracy", "tokens_per_s"} <= logged[0].keys()
    lines = (out / "eval_results.txt").read_text().splitlines()
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == sorted(["global_step", "loss", "masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
                           "next_sentence_loss"])
    assert "global_step = 12" in lines
    assert json.loads((out / "bert_config.json").read_text())["hidden_size"] == 32


def test_learning_lowers_the_loss(tmp_path, data_dir):
    out = tmp_path / "run"
    result = run_cli(*args(write_config(tmp_path), data_dir, out, "--do_train", "--num_train_steps", "60",
                           "--log_every", "10", "--learning_rate", "3e-3"))
    assert result.exit_code == 0, result.output
    logged = metrics(out)
    assert logged[-1]["masked_lm_loss"] < logged[0]["masked_lm_loss"] - 1.0


def test_the_layout_is_the_datas_when_its_flags_are_not_given(tmp_path, data_dir):
    """--max_seq_length and --max_predictions_per_seq default to the manifest's (64 and 10 here, not Google's 128
    and 20), and the run records them as if given."""
    base = args(write_config(tmp_path), data_dir, tmp_path / "given", "--do_train", "--num_train_steps", "2")
    layout = base.index("--max_seq_length")
    assert base[layout:layout + 4] == ["--max_seq_length", "64", "--max_predictions_per_seq", "10"]
    assert run_cli(*base).exit_code == 0
    bare = [*base[:layout], *base[layout + 4:]]
    bare[bare.index(str(tmp_path / "given"))] = str(tmp_path / "bare")
    result = run_cli(*bare)
    assert result.exit_code == 0, result.output
    recorded = [json.loads((tmp_path / name / "run.json").read_text()) for name in ("given", "bare")]
    assert recorded[1]["max_seq_length"] == 64 and recorded[1]["max_predictions_per_seq"] == 10
    assert recorded[0] == recorded[1]
    assert torch.equal(final_parameters(tmp_path / "given")["cls.predictions.bias"],
                       final_parameters(tmp_path / "bare")["cls.predictions.bias"])


def test_manifest_mismatch_is_one_clear_error(tmp_path, data_dir):
    config = write_config(tmp_path)
    result = run_cli(*args(config, data_dir, tmp_path / "a", "--do_train", "--num_train_steps", "2")[:-2],
                     "--device", "cpu", "--max_seq_length", "32")
    assert result.exit_code == 1
    assert "manifest.json: does not match this run: max_seq_length is 64 in the data, 32 in the flags" in result.output
    other_vocab = tmp_path / "other-vocab.txt"  # as many tokens, one of them different
    other_vocab.write_text(SAMPLE_VOCAB.read_text(encoding="utf-8").replace("\n[MASK]\n", "\n[MASK]\n새말\n", 1)
                           .rsplit("\n", 2)[0] + "\n", encoding="utf-8")
    result = run_cli(*args(config, data_dir, tmp_path / "b", "--do_train", "--vocab_file", other_vocab))
    assert result.exit_code == 1 and "another vocab than --vocab_file" in result.output, result.output
    kowiki = ROOT / "vocab" / "kowiki-32k.txt"
    result = run_cli(*args(config, data_dir, tmp_path / "b", "--do_train", "--vocab_file", kowiki))
    assert_one_line_error(result, str(kowiki), "32000 tokens", "vocab_size 4000")
    small = write_config(tmp_path, vocab_size=100)
    result = run_cli(*args(small, data_dir, tmp_path / "c", "--do_train"))
    assert result.exit_code == 1 and "the model's vocab_size is 100" in result.output
    assert not loading.checkpoints(tmp_path / "a")


def test_non_finite_loss_stops_naming_the_step(tmp_path, data_dir):
    out = tmp_path / "run"
    result = run_cli(*args(write_config(tmp_path), data_dir, out, "--do_train", "--num_train_steps", "30",
                           "--num_warmup_steps", "0", "--learning_rate", "1e30", "--log_every", "1"))
    assert result.exit_code == 1
    assert "the loss is nan at step" in result.output or "the loss is inf at step" in result.output
    assert not loading.checkpoints(out)


def test_batch_size_must_divide(tmp_path, data_dir):
    result = run_cli(*args(write_config(tmp_path), data_dir, tmp_path / "r", "--do_train",
                           "--gradient_accumulation_steps", "3"))
    assert result.exit_code == 1 and "not divisible" in result.output


def test_gradient_accumulation_gives_the_same_step(tmp_path, data_dir):
    config = write_config(tmp_path, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    for name, accumulation in (("plain", "1"), ("accumulated", "4")):
        result = run_cli(*args(config, data_dir, tmp_path / name, "--do_train", "--num_train_steps", "5",
                               "--gradient_accumulation_steps", accumulation))
        assert result.exit_code == 0, result.output
    plain, accumulated = final_parameters(tmp_path / "plain"), final_parameters(tmp_path / "accumulated")
    assert max((plain[k] - accumulated[k]).abs().max().item() for k in plain) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("nodes, per_node", [(1, 2), (2, 1)])
def test_two_gloo_processes_equal_one_with_the_combined_batch(tmp_path, data_dir, nodes, per_node):
    """Two processes on one node, or one on each of two nodes (two torchrun agents, c10d rendezvous): the
    same weights and losses as one process with the combined batch."""
    config = write_config(tmp_path, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    common = args(config, data_dir, "OUT", "--do_train", "--num_train_steps", "6", "--log_every", "1")
    single = [sys.executable, str(ROOT / "run_pretraining.py"), *common]
    single[single.index("OUT")] = str(tmp_path / "one")
    subprocess.run(single, check=True, env=CPU_ENV, capture_output=True)
    common[common.index("OUT")] = str(tmp_path / "two")
    torchrun_nodes(ROOT / "run_pretraining.py", nodes, per_node, [str(part) for part in common])
    one, two = final_parameters(tmp_path / "one"), final_parameters(tmp_path / "two")
    assert one.keys() == two.keys()
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-6
    assert [m["loss"] for m in metrics(tmp_path / "one")] == pytest.approx(
        [m["loss"] for m in metrics(tmp_path / "two")], abs=1e-5)


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit(tmp_path, data_dir):
    config = write_config(tmp_path)
    command = [sys.executable, str(ROOT / "run_pretraining.py"),
               *args(config, data_dir, "OUT", "--do_train", "--num_train_steps", "40", "--log_every", "1",
                     "--save_checkpoints_steps", "5")]

    def with_output(name):
        return [str(tmp_path / name) if part == "OUT" else part for part in command]

    subprocess.run(with_output("straight"), check=True, env=CPU_ENV, capture_output=True)
    process = subprocess.Popen(with_output("killed"), env=CPU_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / "killed" / "ckpt-00000010.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = loading.checkpoints(tmp_path / "killed")[-1]
    assert killed_at.name != "ckpt-00000040.pt"
    subprocess.run(with_output("killed"), check=True, env=CPU_ENV, capture_output=True)
    straight, resumed = metrics(tmp_path / "straight"), metrics(tmp_path / "killed")
    assert [m["step"] for m in resumed] == list(range(1, 41))
    assert [m["loss"] for m in resumed] == [m["loss"] for m in straight]
    one, two = final_parameters(tmp_path / "straight"), final_parameters(tmp_path / "killed")
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_a_resume_over_hundreds_of_shards_lands_on_the_same_data(tmp_path):
    """One instance a shard (253 shards): a run cut back to its step-2 checkpoint and run again draws the same
    batches as the straight run, to the bit."""
    data = tmp_path / "shards"
    creation.create_pretraining_data(creation.RunSettings(
        input_file=str(SAMPLE), output_dir=str(data), vocab_file=str(SAMPLE_VOCAB), max_seq_length=64,
        max_predictions_per_seq=10, dupe_factor=1, instances_per_shard=1), progress=False)
    assert len(shard_format.load_shards(data).arrays) > 200
    config = write_config(tmp_path)
    flags = ("--do_train", "--num_train_steps", "6", "--save_checkpoints_steps", "2", "--log_every", "1")
    result = run_cli(*args(config, data, tmp_path / "straight", *flags))
    assert result.exit_code == 0, result.output
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for step in (4, 6):
        (tmp_path / "resumed" / f"ckpt-{step:08d}.pt").unlink()
    result = run_cli(*args(config, data, tmp_path / "resumed", *flags))
    assert result.exit_code == 0, result.output
    assert "ckpt-00000002.pt (step 2)" in result.output
    assert [m["step"] for m in metrics(tmp_path / "resumed")] == list(range(1, 7))
    assert [m["loss"] for m in metrics(tmp_path / "resumed")] == [m["loss"] for m in metrics(tmp_path / "straight")]
    one, two = final_parameters(tmp_path / "straight"), final_parameters(tmp_path / "resumed")
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_export_hf_loads_in_transformers(tmp_path, data_dir):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "run"
    result = run_cli(*args(write_config(tmp_path), data_dir, out, "--do_train", "--num_train_steps", "3",
                           "--vocab_file", SAMPLE_VOCAB, "--export_hf", tmp_path / "hf"))
    assert result.exit_code == 0, result.output
    hf = transformers.BertForPreTraining.from_pretrained(tmp_path / "hf").eval()
    ours = modeling.BertForPreTraining(modeling.BertConfig(**TINY)).eval()
    ours.load_state_dict(final_parameters(out))
    ids = torch.from_numpy(np.asarray(shard_format.load_shards(data_dir).arrays[0][:2]["input_ids"]).astype(np.int64))
    with torch.no_grad():
        expected = hf(input_ids=ids).prediction_logits
        got = ours(ids).mlm_logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert (tmp_path / "hf" / "vocab.txt").read_text() == SAMPLE_VOCAB.read_text()
    # The tokenizer the data was made with (its manifest: mecab, lower-cased), and a card with the run's numbers.
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf", trust_remote_code=True)
    full_tokenizer = tokenization.FullTokenizer(SAMPLE_VOCAB, True, "mecab")
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()][:50]
    assert tokenizer(lines, add_special_tokens=False)["input_ids"] == [full_tokenizer.encode(t) for t in lines]
    card = (tmp_path / "hf" / "README.md").read_text(encoding="utf-8")
    assert "| steps | 3 |" in card and "masked_lm_accuracy" in card and "| tokenizer | mecab" in card


def test_nothing_to_do_is_an_error(tmp_path, data_dir):
    result = run_cli(*args(write_config(tmp_path), data_dir, tmp_path / "r"))
    assert result.exit_code == 1 and "nothing to do" in result.output


def test_resolve_precision_defaults():
    assert devices.resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(devices.TrainingError, match="fp16 needs a CUDA device"):
        devices.resolve_precision("fp16", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(devices.TrainingError, match="no CUDA device"):
            devices.resolve_device("cuda")


def test_plot_draws_the_curves(tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    import plot

    out = tmp_path / "run"
    assert run_cli(*args(write_config(tmp_path), data_dir, out, "--do_train", "--num_train_steps", "4",
                         "--log_every", "1")).exit_code == 0
    result = CliRunner().invoke(plot.main, ["--output_dir", str(out), "--out_file", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = CliRunner().invoke(plot.main, ["--output_dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "metrics.jsonl: no such file" in missing.output
    with (out / "metrics.jsonl").open("a") as log:
        log.write('{"step": 5, "lo')  # a run cut in the middle of a line still plots
    assert [r["step"] for r in plot.read_metrics(out)] == [1, 2, 3, 4]
    (out / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    assert_one_line_error(CliRunner().invoke(plot.main, ["--output_dir", str(out)]), "metrics.jsonl:2: not JSON")


# --- the run folder: nothing stale, nothing lost --------------------------------------------------------


def short_run(config, data_dir, out, *extra):
    return run_cli(*args(config, data_dir, out, "--do_train", "--num_train_steps", "4", "--save_checkpoints_steps",
                         "2", "--log_every", "1", *extra))


def diverging_run(config, data_dir, out, *extra):
    """A run whose loss turns non-finite at once: it dies before its first checkpoint."""
    return run_cli(*args(config, data_dir, out, "--do_train", "--num_train_steps", "30", "--num_warmup_steps", "0",
                         "--learning_rate", "1e30", "--log_every", "1", *extra))


def test_a_run_resumes_only_itself(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    before = snapshot(out)
    line = assert_one_line_error(short_run(config, data_dir, out, "--learning_rate", "2e-3"),
                                 str(out), "learning_rate: 0.001 then, 0.002 now", "--overwrite_output_dir")
    assert "Traceback" not in line and snapshot(out) == before  # bert_config.json and run.json untouched
    wider = tmp_path / "wider.json"
    wider.write_text(json.dumps({**TINY, "intermediate_size": 128}))
    assert_one_line_error(short_run(wider, data_dir, out), "bert_config.intermediate_size: 64 then, 128 now",
                          "--overwrite_output_dir")
    assert snapshot(out) == before
    # The same flags resume (nothing left to train); --overwrite_output_dir starts afresh.
    assert short_run(config, data_dir, out).exit_code == 0 and snapshot(out)["ckpt-00000004.pt"] == \
        before["ckpt-00000004.pt"]
    result = short_run(config, data_dir, out, "--learning_rate", "2e-3", "--overwrite_output_dir")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["learning_rate"] == 2e-3
    assert not (out / run_folder.PREVIOUS_RUN).exists()  # dropped once the new run had its first checkpoint
    assert [m["step"] for m in metrics(out)] == [1, 2, 3, 4]


def test_other_data_is_another_run(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    other = tmp_path / "other"
    creation.create_pretraining_data(creation.RunSettings(
        input_file=str(SAMPLE), output_dir=str(other), vocab_file=str(SAMPLE_VOCAB), max_seq_length=64,
        max_predictions_per_seq=10, dupe_factor=1, random_seed=7), progress=False)
    before = snapshot(out)
    assert_one_line_error(short_run(config, other, out), "data: [")
    assert snapshot(out) == before


def test_checkpoints_without_a_run_record_are_not_resumed_blindly(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    (out / "run.json").unlink()
    assert_one_line_error(short_run(config, data_dir, out), "no run.json", "--overwrite_output_dir")


def test_a_killed_overwrite_keeps_the_old_run_until_the_first_checkpoint(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    old = snapshot(out)
    result = diverging_run(config, data_dir, out, "--overwrite_output_dir")
    assert result.exit_code == 1 and "the loss is" in result.output  # died before its first checkpoint
    old_checkpoints = {k: v for k, v in old.items() if k.startswith("ckpt-")}
    kept = snapshot(out / run_folder.PREVIOUS_RUN)
    assert {k: v for k, v in kept.items() if k.startswith("ckpt-")} == old_checkpoints
    # A second try that dies early too must not push the kept run out for the first try's leftovers.
    assert diverging_run(config, data_dir, out, "--learning_rate", "1e29", "--overwrite_output_dir").exit_code == 1
    kept = snapshot(out / run_folder.PREVIOUS_RUN)
    assert {k: v for k, v in kept.items() if k.startswith("ckpt-")} == old_checkpoints


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_newest_checkpoint_falls_back_to_an_intact_one(tmp_path, data_dir, damage):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    newest = out / "ckpt-00000004.pt"
    content = newest.read_bytes()
    newest.write_bytes({"empty": b"", "truncated": content[:len(content) // 2], "garbage": os.urandom(999)}[damage])
    (out / ".ckpt-00000006.pt.~deadbeef.tmp").write_bytes(b"half a checkpoint")
    with (out / "metrics.jsonl").open("a") as log:
        log.write('{"step": 5, "lo')  # torn by a power cut
    with pytest.warns(UserWarning, match=r"ckpt-00000004.pt: cannot be read \(.*(empty|truncated|not a weights)"):
        result = short_run(config, data_dir, out)
    assert result.exit_code == 0, result.output
    assert "resumed from" in result.output and "ckpt-00000002.pt" in result.output
    assert [m["step"] for m in metrics(out)] == [1, 2, 3, 4]
    assert checkpointing.load_checkpoint(newest)["step"] == 4  # written again, whole
    assert (out / "ckpt-00000004.pt.damaged").exists()  # the damaged one kept aside, for a look
    assert not list(out.glob(".*.tmp"))


def test_a_folder_whose_every_checkpoint_is_damaged_stops(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    for checkpoint in loading.checkpoints(out):
        checkpoint.write_bytes(b"")
    with pytest.warns(UserWarning, match="cannot be read"):
        result = short_run(config, data_dir, out)
    assert_one_line_error(result, str(out), "none of its checkpoints can be read", "--overwrite_output_dir")
    again = short_run(config, data_dir, out)  # and the next try too: not a silent restart from step 0
    assert_one_line_error(again, "none of its checkpoints can be read")


def test_eval_only_into_a_new_folder_and_export_checked_first(tmp_path, data_dir):
    config = write_config(tmp_path)
    result = run_cli(*args(config, data_dir, tmp_path / "baseline", "--do_eval", "--max_eval_steps", "1"))
    assert result.exit_code == 0 and "initialized at random: " in result.output  # a baseline, said out loud
    result = run_cli(*args(config, data_dir, tmp_path / "typo", "--export_hf", tmp_path / "hf", "--vocab_file",
                           SAMPLE_VOCAB))
    assert_one_line_error(result, "no checkpoint to export, and no --init_checkpoint")  # never random weights
    assert not (tmp_path / "typo").exists() and not (tmp_path / "hf").exists()
    assert short_run(config, data_dir, tmp_path / "trained").exit_code == 0
    result = run_cli(*args(config, data_dir, tmp_path / "eval", "--do_eval", "--max_eval_steps", "2",
                           "--init_checkpoint", tmp_path / "trained"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "eval" / "eval_results.txt").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = short_run(config, data_dir, tmp_path / "run", "--export_hf", mine, "--vocab_file", SAMPLE_VOCAB)
    assert_one_line_error(result, str(mine), "notes.txt")
    assert not (tmp_path / "run").exists()  # refused before any training


def test_a_full_disk_while_saving_keeps_the_last_checkpoint(tmp_path, data_dir, monkeypatch):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device", "ckpt")

    monkeypatch.setattr(os, "fsync", full)
    before = {k: v for k, v in snapshot(out).items() if k.startswith("ckpt-")}
    assert_one_line_error(short_run(config, data_dir, out, "--overwrite_output_dir"), "No space left on device")
    assert not list(out.glob(".*.tmp"))
    assert {k.split("/")[-1]: v for k, v in snapshot(out).items() if "ckpt-" in k} == before


@pytest.mark.parametrize(("flags", "names"), [
    (["--train_batch_size", "0"], ["--train_batch_size", "0"]),
    (["--num_train_steps", "-1"], ["--num_train_steps"]),
    (["--learning_rate", "0"], ["--learning_rate"]),
    (["--gradient_accumulation_steps", "0"], ["--gradient_accumulation_steps"]),
    (["--save_checkpoints_steps", "0"], ["--save_checkpoints_steps"]),
    (["--max_seq_length", "70000"], ["--max_seq_length 70000", "max_position_embeddings"]),
    (["--max_seq_length", "0"], ["--max_seq_length"]),
    (["--device", "tpu"], ["--device"]),
    (["--input_file", "/nonexistent/data"], ["/nonexistent/data"]),
])
def test_bad_flags_are_one_line(tmp_path, data_dir, flags, names):
    out = tmp_path / "run"
    assert_one_line_error(short_run(write_config(tmp_path), data_dir, out, *flags), *names)
    assert not out.exists()


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_output_dir_that_cannot_be_one_is_one_line(tmp_path, data_dir, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "a file" else blocker / "run"
    assert_one_line_error(short_run(write_config(tmp_path), data_dir, out), str(blocker))
    assert blocker.read_text() == "not a folder"


def test_rerunning_the_old_command_after_a_failed_overwrite_brings_the_old_run_back(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    old = snapshot(out)
    failed = diverging_run(config, data_dir, out, "--overwrite_output_dir")
    assert failed.exit_code == 1
    result = short_run(config, data_dir, out)  # the first run's own command: it is restored, not refused
    assert result.exit_code == 0, result.output
    assert "Nothing to train" in result.output and not (out / run_folder.PREVIOUS_RUN).exists()
    assert {k: v for k, v in snapshot(out).items() if k.startswith("ckpt-")} == \
        {k: v for k, v in old.items() if k.startswith("ckpt-")}


def test_a_second_run_into_a_busy_folder_stops_at_once(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    with run_folder.run_dir_lock(out, enabled=True):  # as a run in another process holds it
        assert_one_line_error(short_run(config, data_dir, out), str(out), "another run is training in this folder")
    assert not loading.checkpoints(out)
    assert short_run(config, data_dir, out).exit_code == 0  # released with its holder


GOOD_METRICS = '{"step": 1, "loss": 9.5, "masked_lm_accuracy": 0.01}\n'


@pytest.mark.parametrize(("metrics", "out_file", "line"), [
    pytest.param(GOOD_METRICS + '{"step": 2, "loss": [1, 2]}\n', "c.png",
                 "Error: run/metrics.jsonl:2: loss must be a finite number, not [1, 2]", id="loss an array"),
    pytest.param(GOOD_METRICS + '{"step": 2, "masked_lm_accuracy": "0.5"}\n', "c.png",
                 'Error: run/metrics.jsonl:2: masked_lm_accuracy must be a finite number, not "0.5"', id="a string"),
    pytest.param(GOOD_METRICS + '{"step": 2, "loss": NaN}\n', "c.png",
                 "Error: run/metrics.jsonl:2: loss must be a finite number, not NaN", id="loss NaN"),
    pytest.param(GOOD_METRICS + '{"step": 2, "loss": ' + "9" * 400 + "}\n", "c.png",
                 "Error: run/metrics.jsonl:2: loss must be a finite number, not " + "9" * 57 + "...",
                 id="loss beyond a float"),
    pytest.param('{"step": "1", "loss": 9.5}\n', "c.png",
                 'Error: run/metrics.jsonl:1: step must be an integer >= 0, not "1"', id="step a string"),
    pytest.param('{"step": true, "loss": 9.5}\n', "c.png",
                 "Error: run/metrics.jsonl:1: step must be an integer >= 0, not true", id="step true"),
    pytest.param('{"loss": 9.5}\n' + GOOD_METRICS, "c.png", "Error: run/metrics.jsonl:1: step is missing",
                 id="no step"),
    pytest.param('[1, 2]\n' + GOOD_METRICS, "c.png",
                 "Error: run/metrics.jsonl:1: not a metrics record (a JSON object with a step)", id="an array"),
    pytest.param('{"step": 1, "learning_rate": 0.1}\n', "c.png",
                 "Error: run/metrics.jsonl: nothing to plot: no loss, no masked_lm_accuracy, no next_sentence_accuracy "
                 "(its records have only learning_rate, step)", id="no plottable key"),
    pytest.param("", "c.png", "Error: run/metrics.jsonl: nothing to plot: no loss, no masked_lm_accuracy, no "
                 "next_sentence_accuracy (it has no record yet)", id="empty"),
    pytest.param(GOOD_METRICS, "x.txt", None, id="out_file txt"),
    pytest.param(GOOD_METRICS, "", "Error: Invalid value for '--out_file': an empty path (see --help)",
                 id="out_file empty"),
])
def test_plot_bad_metrics_and_out_file_are_one_line(tmp_path, monkeypatch, metrics, out_file, line):
    pytest.importorskip("matplotlib")
    import plot

    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text(metrics)
    (tmp_path / "c.png").write_bytes(b"old curves")
    before = snapshot(tmp_path)
    result = CliRunner().invoke(plot.main, ["--output_dir", "run", "--out_file", out_file])
    if line is None:  # matplotlib's list of formats varies with its version
        assert_one_line_error(result, "Error: x.txt: --out_file must end in a format matplotlib writes (", "png",
                              "pdf", "svg", "), not .txt")
    else:
        assert assert_one_line_error(result) == line
    assert snapshot(tmp_path) == before  # c.png as it was, no temporary left
    if metrics == GOOD_METRICS:  # the flag was the only fault: the same run plots to a format matplotlib writes
        assert CliRunner().invoke(plot.main, ["--output_dir", "run", "--out_file", "c.svg"]).exit_code == 0
        assert (tmp_path / "c.svg").read_text().startswith("<?xml")


def test_a_run_that_died_before_its_first_checkpoint_does_not_block_the_corrected_one(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    failed = diverging_run(config, data_dir, out)
    assert failed.exit_code == 1 and not loading.checkpoints(out)
    result = short_run(config, data_dir, out)  # the typo fixed: no --overwrite_output_dir needed
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["learning_rate"] == 1e-3


def test_a_full_disk_right_after_an_overwrite_moved_the_old_run_aside_loses_nothing(tmp_path, data_dir, monkeypatch):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    old = {k: v for k, v in snapshot(out).items() if k.startswith("ckpt-")}
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert_one_line_error(short_run(config, data_dir, out, "--learning_rate", "2e-3", "--overwrite_output_dir"),
                          "run.json: No space left on device")
    monkeypatch.setattr(os, "fsync", real_fsync)
    result = short_run(config, data_dir, out)  # the old command: the old run is brought back, not replaced
    assert result.exit_code == 0 and "Nothing to train" in result.output, result.output
    assert {k: v for k, v in snapshot(out).items() if k.startswith("ckpt-")} == old


def test_a_finished_run_whose_checkpoints_were_deleted_is_still_not_replaced_silently(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out, "--do_eval", "--max_eval_steps", "1").exit_code == 0
    for checkpoint in loading.checkpoints(out):
        checkpoint.unlink()  # to save space; eval_results.txt is still worth keeping
    before = snapshot(out)
    assert_one_line_error(short_run(config, data_dir, out, "--learning_rate", "2e-3"), "learning_rate")
    assert snapshot(out) == before


def test_a_run_that_fails_after_taking_the_lock_leaves_no_folder(tmp_path, data_dir):
    out = tmp_path / "new" / "run"
    result = short_run(write_config(tmp_path), data_dir, out, "--gradient_accumulation_steps", "3")
    assert_one_line_error(result, "not divisible")
    assert not (tmp_path / "new").exists()


def test_export_hf_holding_the_output_dir_is_refused_before_training(tmp_path, data_dir):
    out = tmp_path / "exports" / "run"
    result = short_run(write_config(tmp_path), data_dir, out, "--export_hf", tmp_path / "exports", "--vocab_file",
                       SAMPLE_VOCAB)
    assert_one_line_error(result, "--export_hf", "holds it")
    assert not (tmp_path / "exports").exists()


def test_evaluating_a_folder_without_run_json_uses_its_checkpoint_and_never_sets_good_ones_aside(tmp_path, data_dir):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert short_run(config, data_dir, out).exit_code == 0
    (out / "run.json").unlink()  # a folder made before runs recorded themselves
    result = run_cli(*args(config, data_dir, out, "--do_eval", "--max_eval_steps", "1"))
    assert result.exit_code == 0 and "resumed from" in result.output and "ckpt-00000004.pt" in result.output
    wider = tmp_path / "wider.json"
    wider.write_text(json.dumps({**TINY, "intermediate_size": 128}))
    before = snapshot(out)
    result = run_cli(*args(wider, data_dir, out, "--do_eval", "--max_eval_steps", "1"))
    assert_one_line_error(result, "ckpt-00000004.pt: not a checkpoint of this model and flags")
    assert snapshot(out) == before  # nothing renamed *.damaged


def test_export_hf_onto_the_init_checkpoint_is_refused(tmp_path, data_dir):
    config = write_config(tmp_path)
    assert short_run(config, data_dir, tmp_path / "a", "--export_hf", tmp_path / "hf", "--vocab_file",
                     SAMPLE_VOCAB).exit_code == 0
    before = snapshot(tmp_path / "hf")
    result = short_run(config, data_dir, tmp_path / "b", "--init_checkpoint", tmp_path / "hf", "--export_hf",
                       tmp_path / "hf", "--vocab_file", SAMPLE_VOCAB)
    assert_one_line_error(result, "--export_hf", "an output or an input of this run")
    assert snapshot(tmp_path / "hf") == before


def test_a_hugging_face_init_checkpoint_with_another_tokenizer_than_the_data_is_refused(tmp_path, data_dir):
    """The data was made with mecab, lower-cased, over the sample vocab: a directory whose tokenizer says otherwise
    would learn other ids."""
    config = write_config(tmp_path)
    assert short_run(config, data_dir, tmp_path / "a", "--export_hf", tmp_path / "hf", "--vocab_file",
                     SAMPLE_VOCAB).exit_code == 0
    settings = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    (tmp_path / "hf" / "tokenizer_config.json").write_text(json.dumps({**settings, "tokenizer_mode": "wordpiece"}))
    result = short_run(config, data_dir, tmp_path / "b", "--init_checkpoint", tmp_path / "hf")
    assert_one_line_error(result, "manifest.json: the data was tokenized with mecab (do_lower_case True)",
                          "with wordpiece")
    assert not (tmp_path / "b").exists()
    (tmp_path / "hf" / "tokenizer_config.json").write_text(json.dumps(settings))
    assert short_run(config, data_dir, tmp_path / "c", "--init_checkpoint", tmp_path / "hf").exit_code == 0


def test_an_export_takes_its_tokenizer_only_from_the_data_the_run_trained_on(tmp_path, data_dir):
    """Exporting a finished run (no --do_train): --input_file must be its data, and --vocab_file the data's vocab,
    since the export's tokenizer comes from them."""
    config = write_config(tmp_path)
    assert short_run(config, data_dir, tmp_path / "run").exit_code == 0
    other = tmp_path / "other"
    creation.create_pretraining_data(creation.RunSettings(
        input_file=str(SAMPLE), output_dir=str(other), vocab_file=str(SAMPLE_VOCAB), max_seq_length=64,
        max_predictions_per_seq=10, dupe_factor=1, instances_per_shard=300), progress=False)
    export_only = ["--bert_config_file", config, "--output_dir", tmp_path / "run", "--max_seq_length", "64",
                   "--max_predictions_per_seq", "10", "--export_hf", tmp_path / "hf"]
    result = run_cli("--input_file", other, "--vocab_file", SAMPLE_VOCAB, *export_only)
    assert_one_line_error(result, "data")
    another = tmp_path / "another-vocab.txt"
    another.write_text(SAMPLE_VOCAB.read_text(encoding="utf-8").replace("\n", "\nextra\n", 1), encoding="utf-8")
    result = run_cli("--input_file", data_dir, "--vocab_file", another, *export_only)
    assert_one_line_error(result, "--vocab_file", "not the vocab")
    assert not (tmp_path / "hf").exists()
    assert run_cli("--input_file", data_dir, "--vocab_file", SAMPLE_VOCAB, *export_only).exit_code == 0
    # Its card reports what the run recorded, not this command's defaults.
    recorded = json.loads((tmp_path / "run" / run_folder.RUN_FILE).read_text())
    card = (tmp_path / "hf" / "README.md").read_text(encoding="utf-8")
    assert f"| train_batch_size | {recorded['train_batch_size']} |" in card and "| steps | 4 |" in card
    # An export of --init_checkpoint as it is (no run folder) claims no training at all.
    result = run_cli("--input_file", data_dir, "--vocab_file", SAMPLE_VOCAB, "--bert_config_file", config,
                     "--output_dir", tmp_path / "none", "--max_seq_length", "64", "--max_predictions_per_seq", "10",
                     "--init_checkpoint", tmp_path / "hf", "--export_hf", tmp_path / "again")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "again" / "README.md").read_text(encoding="utf-8")
    assert f"| init_checkpoint | {tmp_path / 'hf'} |" in card and "train_batch_size" not in card


def test_training_into_a_folder_holding_an_evaluation_asks_first(tmp_path, data_dir):
    config = write_config(tmp_path)
    assert short_run(config, data_dir, tmp_path / "trained").exit_code == 0
    out = tmp_path / "run"
    assert run_cli(*args(config, data_dir, out, "--do_eval", "--max_eval_steps", "1", "--init_checkpoint",
                         tmp_path / "trained")).exit_code == 0
    before = snapshot(out)
    assert_one_line_error(short_run(config, data_dir, out), "holds the outputs of an earlier run (eval_results.txt)",
                          "--overwrite_output_dir")
    assert snapshot(out) == before


def test_data_of_unknown_tokens_stops_the_run(tmp_path):
    """Data made with --max_unk_rate 1 from a vocab of the special tokens alone: its manifest's count says so."""
    special = tmp_path / "special.txt"
    special.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    creation.create_pretraining_data(creation.RunSettings(
        input_file=str(SAMPLE), output_dir=str(tmp_path / "data"), vocab_file=str(special), max_seq_length=64,
        max_predictions_per_seq=10, dupe_factor=1, max_unk_rate=1.0), progress=False)
    result = run_cli(*args(write_config(tmp_path), tmp_path / "data", tmp_path / "out", "--do_train",
                           "--num_train_steps", "2"))
    assert_one_line_error(result, f"--input_file {tmp_path / 'data'} (its manifests)", "[UNK] 100.00% of",
                          "more than --max_unk_rate 0.1")
    assert not (tmp_path / "out").exists()
    result = run_cli(*args(write_config(tmp_path), tmp_path / "data", tmp_path / "out", "--do_train",
                           "--num_train_steps", "2", "--max_unk_rate", "1"))
    assert result.exit_code == 0, result.output
    assert "data: tokenized with mecab (do_lower_case True); [UNK] 100.00% of" in result.output


# --- Google's README, as written ---------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "named"), [("shard-00000.npy", "shard-00000.npy"),
                                              ("shard-*.npy", "shard-00000.npy"), ("manifest.json", "manifest.json")])
def test_a_shard_file_for_input_file_names_its_data_directory(tmp_path, data_dir, given, named):
    out = tmp_path / "run"
    result = short_run(write_config(tmp_path), data_dir / given, out)
    assert_one_line_error(result, f"{data_dir / named} is a file of the data directory {data_dir}: give the "
                                  f"directory ({data_dir}), not a file in it")
    assert not out.exists()


def test_googles_readme_commands_run_as_written(tmp_path, monkeypatch):
    """Google's README's create_pretraining_data.py and run_pretraining.py commands, absl spellings and all (the
    paths ours, the model tiny, fewer steps): --output_file names the data folder that --input_file then reads."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(SAMPLE, tmp_path / "sample_text.txt")
    config = write_config(tmp_path, max_position_embeddings=128)
    created = CliRunner().invoke(create_pretraining_data.main, [
        "--input_file=./sample_text.txt", "--output_file=tf_examples.tfrecord", f"--vocab_file={SAMPLE_VOCAB}",
        "--do_lower_case=True", "--max_seq_length=128", "--max_predictions_per_seq=20", "--masked_lm_prob=0.15",
        "--random_seed=12345", "--dupe_factor=1"])
    assert created.exit_code == 0, created.output
    trained = run_cli("--input_file=tf_examples.tfrecord", "--output_dir=pretraining_output", "--do_train=True",
                      "--do_eval=True", f"--bert_config_file={config}", "--train_batch_size=8", "--max_seq_length=128",
                      "--max_predictions_per_seq=20", "--num_train_steps=2", "--num_warmup_steps=1",
                      "--learning_rate=2e-5", "--use_tpu=False", "--device=cpu", "--max_eval_steps=2")
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "pretraining_output" / "ckpt-00000002.pt").is_file()
    assert "global_step = 2" in (tmp_path / "pretraining_output" / "eval_results.txt").read_text()
