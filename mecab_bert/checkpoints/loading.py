# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""What an --init_checkpoint is, and loading one: our checkpoints (`ckpt-NNNNNNNN.pt`, or a run folder: its newest), a
bare state_dict, a Hugging Face directory or `.safetensors`, or Google's TensorFlow checkpoint (tf_checkpoint).
`load_pretrained` fills a model key for key and says what it did; nothing but tensors is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mecab_bert import files
from mecab_bert.checkpoints import tf_checkpoint
from mecab_bert.files import listing, read_json, shown, unique_keys
from modeling import MODEL_CLASSES, TIED_KEYS, BertConfig, BertModel, BertPreTrainedModel
from text_input import InputError

CHECKPOINT_PATTERN = re.compile(r"ckpt-(\d{8})\.pt")

MAX_STEPS = 10**8 - 1  # what ckpt-<8 digits>.pt can name


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The checkpoints in output_dir, oldest first."""
    found = Path(output_dir).glob("ckpt-*.pt") if Path(output_dir).is_dir() else []
    return sorted(p for p in found if CHECKPOINT_PATTERN.fullmatch(p.name))


def resolve_init_checkpoint(path: str) -> str:
    """An --init_checkpoint: a run's output directory means its newest checkpoint; a Hugging Face directory
    (with config.json) or a file stays as it is."""
    found = checkpoints(path) if Path(path).is_dir() and not (Path(path) / "config.json").exists() else []
    return str(found[-1]) if found else path


def file_identity(path: str | os.PathLike | None) -> dict[str, str] | None:
    """What a run started from: the sha256 of a weights file, or of the files of a Hugging Face folder."""
    if path is None:
        return None
    source = Path(path)
    prefix = tf_checkpoint.checkpoint_prefix(source)
    if prefix is not None:  # Google's checkpoint: a prefix naming .index and .data files
        return {p.name: files.file_sha256(p) for p in sorted(prefix.parent.glob(f"{prefix.name}.*"))
                if p.suffix != ".meta"}
    found = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    return {p.name: files.file_sha256(p) for p in found
            if p.suffix in (".json", ".safetensors", ".bin", ".pt", ".pth", ".txt") or not source.is_dir()}


# Heads that a checkpoint may lack (left as initialized) or carry for another model (left unused).
# Anything else must match key for key.
_HEADS = tuple(prefix for model_class in MODEL_CLASSES for prefix in model_class.heads)

# Buffers some versions of Hugging Face saved; ours are computed in forward.
_DROPPED_BUFFERS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")

# Config fields that do not change what a trained model computes in eval mode.
_TRAINING_ONLY_FIELDS = frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range"})


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What `load_pretrained` did, in the model's own key names."""

    source: str
    loaded: tuple[str, ...]  # keys filled from the file (tied aliases count with the key they share)
    initialized: tuple[str, ...]  # head keys the file does not have: they keep their fresh init
    unused: tuple[str, ...]  # head keys of the file that this model has no place for
    left_out: tuple[str, ...] = ()  # head keys the file has for another job (foreign_heads): they keep their fresh init
    foreign: str | None = None  # why they were left out

    def fresh(self, key: str) -> bool:
        """Whether the model's `key` kept its fresh init (the file lacks it, or had it for another job)."""
        return key in self.initialized or key in self.left_out

    def summary(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors from {self.source}"]
        if self.left_out:
            lines.append(f"left out, to start fresh: {', '.join(self.left_out)} ({self.foreign}: its head means "
                         f"something else here)")
        if self.initialized:
            lines.append(f"newly initialized (not in the checkpoint): {', '.join(self.initialized)}")
        if self.unused:
            lines.append(f"not used (no such head in this model): {', '.join(self.unused)}")
        return "\n".join(lines)


# How the two formats torch.load reads begin: a zip archive (torch >= 1.6), or a pickle stream (the legacy
# format; protocol 2 and up start with the PROTO opcode). Anything else is not worth handing to torch.load.
_TORCH_MAGICS = (b"PK\x03\x04", b"\x80")


def load_torch_file(path: Path) -> Any:
    """What torch.load finds in `path`, tensors and plain containers only, or an InputError naming the file."""
    with open(path, "rb") as reader:
        head = reader.read(4)
    if not head:
        raise InputError(f"{path}: empty file, not a weights file")
    if not head.startswith(_TORCH_MAGICS):
        raise InputError(f"{path}: not a weights file (neither a PyTorch file nor safetensors)")
    try:
        with warnings.catch_warnings():
            # A plain pickle of protocol 3+ draws a warning about the protocol, a second line before the error.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message suggests weights_only=False, that is running the file's code: never pass that on.
        raise InputError(f"{path}: not a weights file: it holds pickled Python objects, not just tensors, and such a "
                         f"file is never loaded (it could run code)") from None
    except Exception:
        # The file was just opened and read, so this is its bytes, and torch.load's failures on damaged bytes
        # have no fixed type: RuntimeError, EOFError, KeyError, even OSError (EINVAL, no file name) on a cut zip.
        raise InputError(f"{path}: not a readable weights file (truncated or corrupt)") from None


def _read_tensors(path: Path) -> tuple[dict[str, Tensor], Path]:
    """The tensors of a checkpoint file or Hugging Face directory, and the file they came from. Nothing but tensors is
    ever unpickled (weights_only=True), so a checkpoint cannot run code. A path that holds no tensors (missing, a folder
    without weights, a pickle of other objects, an empty, truncated or foreign file) is an InputError naming it; one the
    disk cannot read is an OSError naming it."""
    prefix = tf_checkpoint.checkpoint_prefix(path)
    if prefix is not None:
        return tf_checkpoint.load_tf_bert(prefix), Path(f"{prefix}.index")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            raise InputError(f"{candidates[0].parent}: a folder with neither model.safetensors nor pytorch_model.bin")
    if path.suffix == ".safetensors":
        # Imported here: safetensors is only needed to exchange checkpoints with Hugging Face.
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu"), path
        except SafetensorError as error:
            raise InputError(f"{path}: not a readable safetensors file, corrupt or truncated ({error})") from None
    loaded = load_torch_file(path)
    # Our training loop saves {"model": state_dict, "optimizer": ..., ...}.
    if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        loaded = loaded["model"]
    if not isinstance(loaded, dict) or not all(isinstance(key, str) and isinstance(value, Tensor)
                                               for key, value in loaded.items()):
        raise InputError(f"{path}: not a weights file: neither a state_dict nor a checkpoint with a 'model' state_dict")
    return loaded, path


def _canonical_key(key: str) -> str:
    """One checkpoint key in Hugging Face's BertFor* naming, whatever wrote it."""
    while key.startswith("module."):  # DistributedDataParallel / DataParallel
        key = key[len("module.") :]
    key = key.replace("_orig_mod.", "")  # torch.compile, of the model or of a submodule
    # Checkpoints converted by early Hugging Face releases name LayerNorm parameters as TensorFlow does.
    if key.endswith(".gamma"):
        key = key[: -len("gamma")] + "weight"
    elif key.endswith(".beta"):
        key = key[: -len("beta")] + "bias"
    return key


def _canonical_state_dict(tensors: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Renames to BertFor* keys (`bert.` prefix), drops saved buffers and checks then drops tied aliases."""
    state = {_canonical_key(key): value for key, value in tensors.items()}
    if len(state) < len(tensors):
        raise ValueError(f"{source}: two keys map to the same name once prefixes and gamma/beta are normalized")
    if not any(key.startswith("bert.") for key in state):
        # A BertModel checkpoint: its keys are the encoder's own.
        state = {f"bert.{key}" if key.startswith(("embeddings.", "encoder.", "pooler.")) else key: value
                 for key, value in state.items()}
    for key in _DROPPED_BUFFERS:
        state.pop(key, None)
    # An old checkpoint may store the decoder bias only under the alias.
    if "cls.predictions.decoder.bias" in state and "cls.predictions.bias" not in state:
        state["cls.predictions.bias"] = state.pop("cls.predictions.decoder.bias")
    for alias, key in TIED_KEYS.items():
        if alias in state:
            if key in state and not torch.equal(state[alias], state[key]):
                raise ValueError(f"{source}: {alias} differs from {key}, but this model ties them")
            del state[alias]
    return state


def _checked_hf_config(model_config: BertConfig, directory: Path) -> dict[str, Any]:
    """A Hugging Face directory's config.json, which must describe the same function as the model's config
    (else ValueError); {} without one."""
    config_file = directory / "config.json"
    if not config_file.is_file():
        return {}
    values = read_json(config_file, object_pairs_hook=unique_keys)
    file_config = BertConfig.from_dict(values, source=str(config_file))
    names = [field.name for field in dataclasses.fields(BertConfig) if field.name not in _TRAINING_ONLY_FIELDS]
    differences = [f"{name}: {getattr(file_config, name)!r} in the file, {getattr(model_config, name)!r} here"
                   for name in names if getattr(file_config, name) != getattr(model_config, name)]
    if differences:
        raise ValueError(f"{config_file} does not match the model's config: " + "; ".join(differences))
    return values


def _heads_apart(expected: set[str], found: Collection[str]) -> tuple[set[str], set[str]]:
    """(the model's head keys the file lacks: left as initialized, the file's head keys the model lacks: unused)."""
    initialized, unused = set(), set()
    for head in _HEADS:
        wanted = {key for key in expected if key.startswith(head)}
        present = {key for key in found if key.startswith(head)}
        if wanted and not present:
            initialized |= wanted
        elif present and not wanted:
            unused |= present
    return initialized, unused


def _check_values(source: str, loaded: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
    """Every tensor to load has its target's shape and finite values."""
    mismatched = {f"{key}: {tuple(value.shape)} in the file, {tuple(targets[key].shape)} in the model"
                  for key, value in loaded.items() if value.shape != targets[key].shape}
    if mismatched:
        raise ValueError(f"{source}: shape mismatch: {listing(mismatched)}")
    non_finite = {key for key, value in loaded.items() if value.is_floating_point() and not torch.isfinite(value).all()}
    if non_finite:  # a diverged run's weights: every output would be NaN, and every score a lie
        raise ValueError(f"{source}: NaN or infinite values in {listing(non_finite)}")


# Hugging Face classes whose heads are those of one of ours: a masked-LM checkpoint (klue/bert-base) carries
# BertForPreTraining's MLM head, and continued pretraining must keep it.
_SAME_HEADS = {"BertForMaskedLM": "BertForPreTraining"}

# The pooler means the same to every model that has one (what NSP pretrained): never another job's.
_SHARED_HEADS = ("bert.pooler.",)


def foreign_heads(model_class: type[BertPreTrainedModel], hf_config: Mapping[str, Any], trained_for: str | None
                  ) -> str | None:
    """Why a checkpoint's weights for `model_class`'s heads would mean something else (None: they would not). Heads of
    one name can do different jobs: run_ner's classifier tags tokens, run_classifier's classifies the [CLS] vector,
    BertForMultipleChoice's scores choices. A run of ours says what trained it (`trained_for`, from its run.json:
    another fine-tuning script), a Hugging Face config.json its class (architectures): another class than this one is
    another job. A config.json that names no class says nothing (its labels and task are checked instead)."""
    if trained_for is not None:
        return trained_for
    architectures = hf_config.get("architectures")
    if not isinstance(architectures, list) or not architectures:
        return None
    names = [_SAME_HEADS.get(name, name) if isinstance(name, str) else name for name in architectures]
    if names == [model_class.__name__]:
        return None
    return f"its config.json's architectures is {shown(architectures)[:80]}, this model is {model_class.__name__}"


def load_pretrained(model: BertPreTrainedModel, path: str | os.PathLike, trained_for: str | None = None
                    ) -> LoadReport:
    """Loads weights into `model` in place and says what it did.

    path: a checkpoint file (ours: {"model": state_dict, ...}; or a bare state_dict; `.safetensors` or a
    torch file) or a Hugging Face BERT directory (config.json and model.safetensors or pytorch_model.bin).
    Keys may come with `module.` / `_orig_mod.` prefixes, TensorFlow-style LayerNorm `gamma` / `beta`,
    saved `position_ids`, in BertModel layout (no `bert.` prefix) or BertFor* layout.

    The encoder must match key for key and shape for shape. A head (pooler, MLM, NSP, span, classifier) the
    file lacks keeps its fresh init, so a pretraining checkpoint starts a question answering model; a head of
    the file the model lacks is left unused. Anything else, missing or unexpected, is a ValueError listing the
    keys. A Hugging Face directory's config.json must agree with the model's (its BertConfig, and a classifier's
    labels: see BertClassifier.check_hf_config). The file's weights for the model's heads are left
    out, and the heads keep their fresh init, when they were trained for another job (foreign_heads; trained_for:
    what a run.json beside the file records, e.g. "fine-tuned by run_ner").
    """
    path = Path(path)
    hf_config = _checked_hf_config(model.config, path) if path.is_dir() else {}
    tensors, source = _read_tensors(path)
    state = _canonical_state_dict(tensors, str(source))
    foreign = foreign_heads(type(model), hf_config, trained_for)
    own_heads = tuple(head for head in model.heads if head not in _SHARED_HEADS)
    left_out = {key for key in state if foreign is not None and own_heads and key.startswith(own_heads)}
    state = {key: value for key, value in state.items() if key not in left_out}
    model.check_hf_config(hf_config, state.keys(), str(path / "config.json"))

    # The model's keys in the same BertFor* naming, less the aliases that ride along with their tensor.
    prefix = "bert." if isinstance(model, BertModel) else ""
    targets = {f"{prefix}{key}": value for key, value in model.state_dict().items()}
    expected = {key for key in targets if key not in TIED_KEYS}

    initialized, unused = _heads_apart(expected, state.keys())
    missing, unexpected = expected - state.keys() - initialized, state.keys() - expected - unused
    if missing or unexpected:
        raise ValueError(f"{source} does not fit {type(model).__name__}: missing keys [{listing(missing)}]; "
                         f"unexpected keys [{listing(unexpected)}]")
    loaded = expected - initialized
    _check_values(source, {key: state[key] for key in loaded}, targets)
    model.load_state_dict({key.removeprefix(prefix): state[key] for key in loaded}, strict=False)

    def own_names(keys: set[str]) -> tuple[str, ...]:
        # A BertModel's own keys lose "bert."; the heads it has no place for keep their BertFor* names.
        return tuple(sorted(key.removeprefix(prefix) for key in keys))

    return LoadReport(str(source), own_names(loaded), own_names(initialized - left_out), own_names(unused),
                      own_names(left_out), foreign if left_out else None)
