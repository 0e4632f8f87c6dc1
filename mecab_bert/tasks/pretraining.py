# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""run_pretraining.py's task: masked LM + next sentence prediction on the shards of create_pretraining_data.py,
read in a seeded order, with Google's loss and eval metrics, and the run that trains, evaluates and exports.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import Tensor, nn

import modeling
import tokenization
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import loading
from mecab_bert.cli import INPUT_PATH, INPUT_PATTERNS, NON_NEGATIVE, POSITIVE, flag
from mecab_bert.files import file_sha256, input_patterns
from mecab_bert.pretraining_data import shard_format
from mecab_bert.runs import batching, checkpointing, devices, loop, run_folder, skeleton
from mecab_bert.runs.loop import TrainingFlags
from text_input import InputError


def resolve_data_dirs(spec: str) -> list[Path]:
    """--input_file: comma-separated data directories or glob patterns matching them."""
    dirs: list[Path] = []
    for pattern in input_patterns(spec):
        matches = sorted(p for p in glob.glob(pattern) if os.path.isdir(p)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            for path in sorted(glob.glob(pattern)):  # files (shards?): named with their folder
                shard_format.check_not_a_file(path)
            raise InputError(f"{pattern}: matches no data directory")
        dirs.extend(Path(m) for m in matches if Path(m) not in dirs)
    if not dirs:
        raise InputError("--input_file names no data directory")
    return dirs


@dataclass(frozen=True)
class DataSpec:
    """What the model and flags expect of the shards."""

    max_seq_length: int
    max_predictions_per_seq: int
    vocab_size: int  # the model's; the data's vocab must fit in it
    vocab_sha256: str | None  # of --vocab_file, when given


def load_data(input_file: str, spec: DataSpec, seed: int, verify: bool = True) -> PretrainingData:
    """The data directories of --input_file (or --eval_input_file), each checked against this run, then every
    shard verified against its manifest (shard_format.verify_shards; `verify=False` only to measure what that costs).

    The manifests are compared with the run first, so a wrong flag is reported at once; then all shards are
    read in parallel before the first step: the shuffled order touches every shard within the first steps,
    so verifying ahead of the reader would not start training any sooner.
    """
    return checked_data(read_manifests(input_file), spec, seed, verify)


def checked_data(shard_sets: Sequence[shard_format.Shards], spec: DataSpec, seed: int, verify: bool = True
                 ) -> PretrainingData:
    """load_data over data directories whose manifests are already read (read_manifests)."""
    for shards in shard_sets:
        check_manifest(shards, spec)
    vocabularies = {shards.manifest["vocab"]["sha256"]: shards.manifest_path for shards in shard_sets}
    if len(vocabularies) > 1:
        raise InputError(f"{' and '.join(map(str, vocabularies.values()))}: the data was made with different vocabs "
                         f"(vocab.sha256 differs); train on data of one vocab")
    if verify:
        shard_format.verify_shards(shard_sets)
    return PretrainingData(shard_sets, seed)


def check_manifest(shards: shard_format.Shards, spec: DataSpec) -> None:
    """One clear error when the data was made for another model or other flags."""
    manifest, where = shards.manifest, shards.manifest_path
    problems = []
    if shards.max_seq_length != spec.max_seq_length:
        problems.append(f"max_seq_length is {shards.max_seq_length} in the data, {spec.max_seq_length} in the flags")
    if shards.max_predictions_per_seq != spec.max_predictions_per_seq:
        problems.append(f"max_predictions_per_seq is {shards.max_predictions_per_seq} in the data, "
                        f"{spec.max_predictions_per_seq} in the flags")
    if shards.vocab_size > spec.vocab_size:
        problems.append(f"the data's vocab has {shards.vocab_size} tokens, the model's vocab_size is {spec.vocab_size}")
    if spec.vocab_sha256 is not None and manifest["vocab"]["sha256"] != spec.vocab_sha256:
        problems.append("the data was made with another vocab than --vocab_file (sha256 differs)")
    if problems:
        raise InputError(f"{where}: does not match this run: {'; '.join(problems)}")


class PretrainingData:
    """Memory-mapped shards of one or more data directories, read in a seeded random order (see
    batching.ShuffledStream): a resumed run reads exactly what an uninterrupted one would."""

    def __init__(self, shard_sets: Sequence[shard_format.Shards], seed: int):
        self.manifests = [shards.manifest for shards in shard_sets]
        self.arrays = [array for shards in shard_sets for array in shards.arrays]
        self.offsets = np.cumsum([0] + [len(a) for a in self.arrays])
        self.size = int(self.offsets[-1])
        if self.size == 0:
            raise InputError("the data has no instances")
        self.order = batching.ShuffledStream(self.size, seed)

    def records(self, indices: np.ndarray) -> np.ndarray:
        """The records at global instance indices, in that order."""
        shard_of = np.searchsorted(self.offsets, indices, side="right") - 1
        out = np.empty(len(indices), dtype=self.arrays[0].dtype)
        for shard in np.unique(shard_of):
            where = shard_of == shard
            out[where] = self.arrays[shard][indices[where] - self.offsets[shard]]
        return out

    def stream(self, start: int, count: int) -> np.ndarray:
        """Records at stream positions [start, start + count)."""
        return self.records(self.order.indices(start, count))

    def __len__(self) -> int:
        return self.size

    def batch(self, indices: np.ndarray) -> batching.Batch:
        return records_to_batch(self.records(indices))

    def step_batches(self, step: int, train_batch_size: int, micro: int, distributed: devices.Distributed
                     ) -> list[batching.Batch]:
        """This process's micro-batches of one optimizer step, as loop.fit reads them."""
        return batching.step_batches(self, self.order, step, train_batch_size, micro, distributed)


def records_to_batch(records: np.ndarray) -> batching.Batch:
    """Shard records -> the model's inputs as CPU tensors: long [B, T] ids, segments and mask, long [B, P]
    positions and labels, float [B, P] weights, long [B] next-sentence labels."""
    lengths = torch.from_numpy(records["input_length"].astype(np.int64))[:, None]
    a_lengths = torch.from_numpy(records["segment_a_length"].astype(np.int64))[:, None]
    counts = torch.from_numpy(records["num_predictions"].astype(np.int64))[:, None]
    positions = torch.arange(records["input_ids"].shape[1])[None, :]
    return {
        "input_ids": torch.from_numpy(records["input_ids"].astype(np.int64)),
        "token_type_ids": ((positions >= a_lengths) & (positions < lengths)).long(),
        "attention_mask": (positions < lengths).long(),
        "masked_lm_positions": torch.from_numpy(records["masked_lm_positions"].astype(np.int64)),
        "masked_lm_ids": torch.from_numpy(records["masked_lm_ids"].astype(np.int64)),
        "masked_lm_weights": (torch.arange(records["masked_lm_ids"].shape[1])[None, :] < counts).float(),
        "next_sentence_labels": torch.from_numpy(records["next_sentence_label"].astype(np.int64)),
    }


class PretrainingTask:
    """Masked LM + next sentence: Google's loss (modeling's heads), as sums over predictions and over sequences."""

    def divisors(self, batch: batching.Batch) -> Tensor:
        weights = batch["masked_lm_weights"]
        return torch.stack([weights.sum(), weights.new_tensor(float(len(weights)))])

    def loss_sums(self, model: nn.Module, batch: batching.Batch) -> loop.LossSums:
        output = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                       attention_mask=batch["attention_mask"], masked_lm_positions=batch["masked_lm_positions"])
        mlm = modeling.masked_lm_loss(output.mlm_logits, batch["masked_lm_ids"], batch["masked_lm_weights"])
        nsp = modeling.next_sentence_loss(output.nsp_logits, batch["next_sentence_labels"])
        metrics = {"masked_lm_loss": mlm.total.detach(), "masked_lm_accuracy": mlm.correct,
                   "next_sentence_loss": nsp.total.detach(), "next_sentence_accuracy": nsp.correct}
        return loop.LossSums(torch.stack([mlm.total, nsp.total]), metrics)

    def metric_divisors(self) -> dict[str, int]:
        return {"masked_lm_loss": 0, "masked_lm_accuracy": 0, "next_sentence_loss": 1, "next_sentence_accuracy": 1}


@torch.no_grad()
def evaluate(model: nn.Module, data: PretrainingData, batch_size: int, max_steps: int, runtime: devices.Runtime
             ) -> dict[str, float]:
    """Google's eval metrics over the first max_steps batches, in order: masked_lm_accuracy and
    masked_lm_loss (weighted by the predictions), next_sentence_accuracy and next_sentence_loss."""
    model.eval()
    task, totals, divisors = PretrainingTask(), {}, torch.zeros(2)
    end = min(data.size, batch_size * max_steps)
    for start in range(0, end, batch_size):
        batch = runtime.to_device(data.batch(np.arange(start, min(start + batch_size, end))))
        with devices.autocast(runtime.device, runtime.precision):
            _, metrics = task.loss_sums(model, batch)
        divisors += task.divisors(batch).cpu()
        for key, value in metrics.items():
            totals[key] = totals.get(key, 0.0) + float(value)
    results = {key: totals[key] / max(float(divisors[index]), 1e-9)
               for key, index in task.metric_divisors().items()}
    results["loss"] = results["masked_lm_loss"] + results["next_sentence_loss"]
    return results


@dataclass(frozen=True, kw_only=True)
class PretrainingFlags(TrainingFlags):
    """Google's run_pretraining.py flags, with the loop's (TrainingFlags)."""

    bert_config_file: str = flag(help="The model's bert_config.json (or a Hugging Face config.json).", type=INPUT_PATH)
    input_file: str = flag(help="Data directories of create_pretraining_data.py: comma-separated, or glob patterns.",
                            type=INPUT_PATTERNS)
    vocab_file: str | None = flag(None, "Checked against the data's vocab; needed by --export_hf.", type=INPUT_PATH)
    max_seq_length: int | None = flag(None, "The data's, checked when given (default: the data's).", POSITIVE)
    max_predictions_per_seq: int | None = flag(None, "The data's, checked when given (default: the data's).",
                                               POSITIVE)
    do_eval: bool = flag(False, "Evaluate on --eval_input_file (or --input_file); writes eval_results.txt.")
    eval_input_file: str | None = flag(None, "Data directories for --do_eval.", type=INPUT_PATTERNS)
    eval_batch_size: int = flag(8, "", POSITIVE)
    num_train_steps: int = flag(100000, "", POSITIVE)
    num_warmup_steps: int = flag(10000, "", NON_NEGATIVE)
    max_eval_steps: int = flag(100, "", POSITIVE)


def check_init_tokenizer(flags: PretrainingFlags, shard_sets: Sequence[shard_format.Shards]) -> None:
    """A Hugging Face --init_checkpoint learned the ids its own tokenizer gives: data tokenized otherwise (another
    mode, case or vocab, as its manifest says) would train it on other ids, so it is an error naming both."""
    if not flags.init_checkpoint or not (Path(flags.init_checkpoint) / "config.json").is_file():
        return
    found = tokenizer_settings.directory_tokenizer(flags.init_checkpoint)
    if found is None:
        return
    mode, lower = recorded_tokenizer(shard_sets)
    where = shard_sets[0].manifest_path
    if (found.tokenizer or mode, lower if found.do_lower_case is None else found.do_lower_case) != (mode, lower):
        raise InputError(f"{where}: the data was tokenized with {mode} (do_lower_case {lower}), --init_checkpoint "
                         f"{found.directory} with {found.tokenizer or mode} (do_lower_case {found.do_lower_case}): "
                         f"make the data with the model's settings")
    if found.vocab_file and shard_sets[0].manifest["vocab"]["sha256"] != file_sha256(found.vocab_file):
        raise InputError(f"{where}: the data was made with another vocab than {found.vocab_file}, the vocab of "
                         f"--init_checkpoint")


def data_unknown_tokens(shard_sets: Sequence[shard_format.Shards]) -> tokenizer_settings.UnknownTokens | None:
    """The [UNK] among the tokens the data was made from, as its manifests count them (None: data made before
    they did)."""
    totals = [shards.manifest.get("totals") for shards in shard_sets]
    counts = [(t.get("unk_tokens"), t.get("tokens")) for t in totals if isinstance(t, dict)]
    if len(counts) < len(totals) or not all(type(n) is int for pair in counts for n in pair):
        return None
    return tokenizer_settings.UnknownTokens(sum(u for u, _ in counts), sum(n for _, n in counts))


def read_manifests(input_file: str) -> list[shard_format.Shards]:
    """The data directories of --input_file with their manifests, checked (their shards are not verified)."""
    return [shard_format.load_shards(directory, verify=False) for directory in resolve_data_dirs(input_file)]


def recorded_tokenizer(shard_sets: Sequence[shard_format.Shards]) -> tuple[str, bool]:
    """(tokenizer, do_lower_case) the data was made with, as its manifests record: one for all of them."""
    recorded = {}
    for shards in shard_sets:
        settings = shards.manifest.get("tokenizer")
        if not isinstance(settings, dict) or settings.get("tokenizer") not in tokenizer_settings.TOKENIZER_MODES \
                or not isinstance(settings.get("do_lower_case"), bool):
            raise InputError(f"{shards.manifest_path}: no tokenizer record (made by an older "
                             f"create_pretraining_data.py?): remake the data")
        recorded.setdefault((settings["tokenizer"], settings["do_lower_case"]), shards.manifest_path)
    if len(recorded) > 1:
        raise InputError(f"{' and '.join(map(str, recorded.values()))}: the data was tokenized with different "
                         f"settings (tokenizer, do_lower_case); train on data of one tokenizer")
    return next(iter(recorded))


def data_tokenizer(flags: PretrainingFlags, shard_sets: Sequence[shard_format.Shards]
                   ) -> tokenizer_settings.TokenizerSettings:
    """How the data was tokenized (its manifests say), over --vocab_file: what an export's tokenizer must do."""
    if not flags.vocab_file:
        raise InputError("--export_hf needs --vocab_file (it goes into the Hugging Face directory)")
    if shard_sets[0].manifest["vocab"]["sha256"] != file_sha256(flags.vocab_file):
        raise InputError(f"--vocab_file {flags.vocab_file}: not the vocab {shard_sets[0].manifest_path} was made with "
                         f"(sha256 differs)")
    mode, lower = recorded_tokenizer(shard_sets)
    return tokenizer_settings.TokenizerSettings(flags.vocab_file, lower, mode)


def data_identity(manifest: dict[str, Any]) -> str:
    """The sha256 of a data directory's shards (their sha256s, in order), the vocab and the instance layout,
    from its (checked) manifest: the same data made with other --num_workers or into another folder is the
    same data."""
    identity = [[shard["sha256"] for shard in manifest["shards"]], manifest["vocab"], manifest["record_dtype"]]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def run(flags: PretrainingFlags, progress: bool = True) -> dict[str, float]:
    """Trains, evaluates and exports as the flags say (skeleton.run); returns the last metrics (training, then
    eval)."""
    return skeleton.run(flags, PretrainingRun, {"--do_eval": flags.do_eval}, progress)


class PretrainingRun:
    """run_pretraining.py's part of the run (skeleton.Script): the shards, masked LM + next sentence, eval."""

    name = "run_pretraining"
    outputs = ("eval_results.txt",)
    task = PretrainingTask()
    card_flags = ("init_checkpoint", "max_seq_length", "max_predictions_per_seq", "train_batch_size", "learning_rate",
                  "optimizer")

    def __init__(self, flags: PretrainingFlags, is_main: bool):
        if flags.num_warmup_steps > flags.num_train_steps:
            raise InputError(f"--num_warmup_steps {flags.num_warmup_steps} is more than --num_train_steps "
                             f"{flags.num_train_steps}")
        self.shard_sets = read_manifests(flags.input_file)
        check_init_tokenizer(flags, self.shard_sets)
        unknown = data_unknown_tokens(self.shard_sets)
        if unknown is not None:
            unknown.check(f"--input_file {flags.input_file} (its manifests)", flags.max_unk_rate)
        if is_main:
            recorded = self.tokenizer_identity()
            made = f"tokenized with {recorded['tokenizer']} (do_lower_case {recorded['do_lower_case']})" \
                if recorded else "made before manifests recorded their tokenizer"
            click.echo(f"data: {made}" + (f"; {unknown.describe()} of the text" if unknown else ""), err=True)
        # The layout is the data's: Google's flags for it are checked against the manifests when given.
        layout = self.shard_sets[0]
        self.flags = dataclasses.replace(
            flags, max_seq_length=flags.max_seq_length or layout.max_seq_length,
            max_predictions_per_seq=flags.max_predictions_per_seq or layout.max_predictions_per_seq)
        self.is_main = is_main
        # On every process: a bad export fails them all, not rank 0 alone (the others would wait).
        self.export_tokenizer = data_tokenizer(self.flags, self.shard_sets) if flags.export_hf else None

    def model_config(self, init: str | None) -> modeling.BertConfig:
        return modeling.BertConfig.from_json_file(self.flags.bert_config_file)

    def vocab_size(self) -> int | None:
        return len(tokenization.load_vocab(self.flags.vocab_file)) if self.flags.vocab_file else None

    def vocab(self) -> skeleton.Vocab:
        shards = self.shard_sets[0]  # checked_data refuses data of several vocabs
        return skeleton.Vocab(shards.manifest["vocab"]["sha256"], f"the vocab of --input_file {shards.directory}")

    def input_files(self) -> list[tuple[str, str | None]]:
        return [("--vocab_file", self.flags.vocab_file),
                *(("--input_file", str(shards.directory)) for shards in self.shard_sets)]

    def read(self, config: modeling.BertConfig, init: str | None) -> skeleton.Inputs:
        flags = self.flags
        spec = DataSpec(flags.max_seq_length, flags.max_predictions_per_seq, config.vocab_size,
                        file_sha256(flags.vocab_file) if flags.vocab_file else None)
        data = checked_data(self.shard_sets, spec, flags.seed) if flags.do_train else None
        eval_data = None
        if flags.do_eval and self.is_main:
            if flags.eval_input_file:
                eval_data = load_data(flags.eval_input_file, spec, flags.seed)
            else:
                eval_data = data if data is not None else checked_data(self.shard_sets, spec, flags.seed)
        return skeleton.Inputs(data, eval_data)

    def create_model(self, config: modeling.BertConfig) -> nn.Module:
        return modeling.create_model(modeling.BertForPreTraining, config)

    def start(self, model: nn.Module, report: loading.LoadReport | None, predicting: str) -> skeleton.Start:
        # An export takes its tokenizer from --input_file's manifests: it must be the data the run trained on.
        output_dir, exporting = Path(self.flags.output_dir), bool(self.flags.export_hf)
        identity = {"bert_config": model.config.to_dict(),
                    "data": [data_identity(shards.manifest) for shards in self.shard_sets] if exporting else []}
        compare = ["bert_config", "data"] if exporting else ["bert_config"]
        restored = checkpointing.restore_model(model, output_dir, identity, compare, self.is_main)
        if restored is not None:
            return skeleton.Start(f"resumed from {restored.checkpoint} (step {restored.step})", restored.step, True)
        if report is not None:
            return skeleton.Start(report.summary(), 0, False)
        if exporting:  # a mistyped --output_dir would put random weights over a good export
            raise InputError(f"{output_dir}: no checkpoint to export, and no --init_checkpoint: --export_hf "
                             f"without --do_train needs a model, never a random one")
        return skeleton.Start(f"initialized at random: {output_dir} has no checkpoint and there is no "
                              f"--init_checkpoint (the baseline of an untrained model)", 0, False)

    def schedule(self, train: loop.TrainingData) -> skeleton.Schedule:
        return skeleton.Schedule(self.flags.num_train_steps, self.flags.num_warmup_steps)

    def identity(self, init: str | None) -> dict[str, Any]:
        return {
            "data": [data_identity(shards.manifest) for shards in self.shard_sets],
            "vocab_sha256": self.vocab().sha256,  # what a fine-tuning run from its checkpoints checks its vocab by
            **self.tokenizer_identity(),  # and takes its tokenizer from
            "init_checkpoint": loading.file_identity(init),
            **{name: getattr(self.flags, name) for name in (
                "max_seq_length", "max_predictions_per_seq", "train_batch_size", "learning_rate", "num_train_steps",
                "num_warmup_steps", "optimizer", "weight_decay", "seed")},
        }

    def tokenizer_identity(self) -> dict[str, Any]:
        """How the data was tokenized, as its manifests record it (nothing for data made before they did)."""
        if not all(isinstance(shards.manifest.get("tokenizer"), dict) for shards in self.shard_sets):
            return {}
        mode, lower = recorded_tokenizer(self.shard_sets)
        return {"tokenizer": mode, "do_lower_case": lower}

    def train_results(self, metrics: dict[str, float]) -> dict[str, float]:
        return metrics

    def predict(self, model: nn.Module, data: PretrainingData, runtime: devices.Runtime, step: int
                ) -> dict[str, float]:
        results = evaluate(model, data, self.flags.eval_batch_size, self.flags.max_eval_steps, runtime)
        output_dir = Path(self.flags.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        run_folder.write_eval_results(output_dir / "eval_results.txt", results, step)
        click.echo("".join(f"  {k} = {v:.4f}\n" for k, v in sorted(results.items())) +
                   f"eval results in {output_dir / 'eval_results.txt'}", err=True)
        return {f"eval_{k}": v for k, v in results.items()}

    def export(self, step: int, trained: bool) -> skeleton.Export:
        totals = [shards.manifest.get("totals", {}) for shards in self.shard_sets]
        facts = {"data": self.flags.input_file, "instances": sum(t.get("instances", 0) for t in totals),
                 "documents": sum(t.get("documents", 0) for t in totals), "steps": step}
        return skeleton.Export(self.export_tokenizer,
                               "BERT pretrained with run_pretraining.py (masked LM and next sentence)", facts)
