"""Same seed, same bytes (issue 20): one pipeline on two source trees, every output compared.

The pipeline, on small inputs (about two minutes for both trees on 2 cores): prepare_corpus -> build_vocab ->
create_pretraining_data -> run_pretraining (--export_hf) -> run_squad (--export_hf) -> run_classifier (--export_hf)
-> convert_tf_checkpoint -> tokenize_text -> evaluate_squad, then 16 bad inputs across the scripts. Each tree runs
it as a user does, `python <tree>/<script>.py ...` (which puts <tree> first on sys.path), in a fresh work folder of
its own, with the same relative paths, on CPU.

Every file of the two work folders is compared by its relative path (the two sets of paths must be equal too):
- bytes: the prepared corpus, vocab, shards and manifest, eval results, predictions, scores, tokens, configs, run.json,
  the exports' tokenizer files and model cards, and the inputs themselves (a tree's own sample files included);
- *.pt: torch.load(weights_only=True) on both, every tensor bit for bit (dtype, shape, bits) and every other value;
- *.safetensors: every tensor bit for bit (dtype, shape, bytes) and the metadata as a mapping. Not bytes: the
  safetensors library writes `__metadata__`'s keys in a per-process hash order, so two runs of one commit write
  different bytes for the same tensors (`same_bytes` in each record says whether the bytes agree anyway);
- with fields removed, and only these (IGNORED below): `tokens_per_s` in each metrics.jsonl line and the
  `tokens_per_s` / `train_tokens_per_s` row of an export's model card (README.md), the training speed measured by
  the wall clock. Found by running one commit against itself with --strict: nothing else differed.
The bad inputs are compared by exit code, stderr's first line (a progress bar as first drawn) and its error line
(`Error: ...`, or a traceback's last line).

Which code ran: every pipeline step runs with PYTHONVERBOSE=1, and each Python file or extension module it imports
must come from its own tree or from the interpreter's libraries. A module from anywhere else (such as another
checkout's editable install serving a module the tree lacks) fails the step.

--before and --after each take a git commit (checked out with `git worktree add --detach` into a temporary folder,
removed at the end) or the path of a source tree (used as is). configs/bert_tiny.json and data/sample_korquad.json
come from each tree; the rest of the inputs from ../shared/data (the bench is skipped, with a message, without it).

Prints JSON: one record per pipeline step, compared output and bad input, then a summary; --markdown adds tables for
a release note. Exit code 1 when anything differs.

Measured here (2 cores): 72 s in all (each tree 36 s: the pipeline 19 s, the bad inputs 17 s; the comparison 0.2 s).
- 8d9a395 against itself: 91 of 91 outputs and 16 of 16 bad inputs identical, every step from its own tree (exit 0);
  with --strict only the 3 metrics.jsonl and the 3 training exports' README.md differ, in tokens_per_s alone.
- against a copy of 8d9a395 whose fine-tuning --seed default is 43: the 19 outputs of run_squad, run_classifier and
  evaluate_squad differ (checkpoints, predictions, scores, exports' weights and model cards, run.json's seed), the
  72 upstream ones do not (exit 1).
- against a copy of 8d9a395 without optimization.py: all 91 outputs identical, but pretrain, squad and classify
  imported /work/main/optimization.py through the venv's editable install of another checkout (exit 1).

Usage:
  python bench/bench_equivalence.py                                  # 8d9a395 against this working tree
  python bench/bench_equivalence.py --before 8d9a395 --after 8d9a395 --markdown
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_BEFORE = "8d9a395"  # the last commit before the modules moved into a package
STEP_TIMEOUT_S = 600
BAD_INPUT_TIMEOUT_S = 300
MAX_DETAILS = 8

TOKENIZE_LINES = (
    "사과나무에서 떨어진 사과를 먹었다.",
    "훈민정음은 1443년에 창제되어 1446년에 반포되었다.",
    "BERT는 Google이 2018년에 공개한 언어 모델이다 (Café, naïve, ＡＢＣ).",
    "서울특별시의 인구는 약 940만 명이다!? 😀 「인용」",
)


@dataclasses.dataclass(frozen=True)
class Tree:
    """A source tree to run: `path` holds the scripts; `commit` is its HEAD, `dirty` whether it has changes."""

    label: str
    spec: str
    path: Path
    commit: str
    dirty: bool


@dataclasses.dataclass(frozen=True)
class Command:
    """One script run in a work folder: `stdin` and `stdout` are paths relative to it (stdout: a product)."""

    name: str
    script: str
    args: tuple[str, ...]
    stdin: str | None = None
    stdout: str | None = None

    def shown(self) -> str:
        """The command line as a user types it in the work folder, the tree left out."""
        line = " ".join([self.script, *(_quoted(a) for a in self.args)])
        if self.stdin:
            line += f" < {self.stdin}"
        return line + (f" > {self.stdout}" if self.stdout else "")


@dataclasses.dataclass(frozen=True)
class Result:
    """What one command did: exit code, seconds, stderr's first and error lines, and the code it imported."""

    returncode: int
    seconds: float
    first_line: str
    error_line: str
    imported_from_tree: int
    imported_elsewhere: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Ignore:
    """Fields of the files matching `pattern` that legitimately differ between two identical runs.

    kind: "jsonl" (top-level keys of each JSON line) or "markdown_rows" (table rows whose first cell is a field)."""

    pattern: str
    kind: str
    fields: tuple[str, ...]
    why: str


IGNORED = (
    Ignore("*/metrics.jsonl", "jsonl", ("tokens_per_s",), "training speed measured by the wall clock"),
    Ignore("*_hf/README.md", "markdown_rows", ("tokens_per_s", "train_tokens_per_s"),
           "the model card's results table repeats the last metrics.jsonl line, speed included"),
)


def _quoted(arg: str) -> str:
    """An argument as a shell would need it."""
    return f"'{arg}'" if re.search(r"[\s*?'\"<>|&;()]", arg) else arg


# --- the trees ----------------------------------------------------------------------------------------------------


def _git(*args: str, cwd: Path = ROOT) -> str:
    """Runs git in `cwd`; returns its stdout, stripped. A failure is a ClickException with git's message."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _describe(label: str, spec: str, path: Path) -> Tree:
    """A Tree for `path`, with its HEAD and whether it differs from it (when it is a git checkout)."""
    try:
        commit = _git("rev-parse", "HEAD", cwd=path)
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=path))
    except click.ClickException:
        commit, dirty = "", False
    return Tree(label, spec, path.resolve(), commit, dirty)


@contextlib.contextmanager
def checked_out(label: str, spec: str, scratch: Path) -> Iterator[Tree]:
    """The tree `spec` names: a folder as is, or a commit checked out into `scratch` (removed afterwards)."""
    if Path(spec).is_dir():
        yield _describe(label, spec, Path(spec))
        return
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    except click.ClickException:
        raise click.ClickException(f"--{label} {spec}: neither a folder nor a commit of {ROOT}") from None
    _git("worktree", "add", "--detach", "--quiet", str(scratch), commit)
    try:
        yield _describe(label, spec, scratch)
    finally:
        done = subprocess.run(["git", "worktree", "remove", "--force", str(scratch)], cwd=ROOT,
                              capture_output=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, check=False)


# --- the pipeline and the bad inputs ------------------------------------------------------------------------------


def pipeline() -> list[Command]:
    """The pipeline's commands, in order, with paths relative to the work folder."""
    train = ("--device", "cpu", "--train_batch_size", "16", "--learning_rate", "1e-3")
    return [
        Command("prepare", "prepare_corpus.py",
                ("--input_file", "inputs/kowiki/wiki_*", "--output_dir", "corpus", "--num_workers", "2")),
        Command("vocab", "build_vocab.py",
                ("--input_file", "corpus/wiki_*", "--output_file", "vocab.txt", "--vocab_size", "3000",
                 "--limit_alphabet", "1000", "--num_workers", "2")),
        Command("data", "create_pretraining_data.py", _data_args()),
        Command("pretrain", "run_pretraining.py",
                ("--bert_config_file", "inputs/bert_tiny.json", "--input_file", "data", "--output_dir", "pretrain",
                 "--vocab_file", "vocab.txt", "--do_train", "--do_eval", "--num_train_steps", "20",
                 "--num_warmup_steps", "5", "--save_checkpoints_steps", "10", "--log_every", "5",
                 "--max_eval_steps", "5", "--export_hf", "pretrain_hf", *train)),
        Command("squad", "run_squad.py",
                ("--vocab_file", "vocab.txt", "--init_checkpoint", "pretrain", "--output_dir", "squad",
                 "--do_train", "--train_file", "inputs/sample_korquad.json", "--do_predict",
                 "--predict_file", "inputs/sample_korquad.json", "--max_seq_length", "128", "--doc_stride", "64",
                 "--num_train_epochs", "1", "--save_checkpoints_steps", "20", "--keep_checkpoints", "2",
                 "--export_hf", "squad_hf", *train)),
        Command("classify", "run_classifier.py",
                ("--task_name", "korsts", "--data_dir", "inputs/korsts", "--vocab_file", "vocab.txt",
                 "--init_checkpoint", "pretrain", "--output_dir", "classify", "--do_train", "--do_eval",
                 "--do_predict", "--max_seq_length", "64", "--num_train_epochs", "1", "--export_hf", "classify_hf",
                 *train)),
        Command("convert", "convert_tf_checkpoint.py",
                ("--tf_checkpoint", "inputs/tf_bert_tiny", "--output_dir", "tf_hf")),
        Command("tokenize_mecab", "tokenize_text.py", ("--vocab_file", "vocab.txt"),
                stdin="inputs/lines.txt", stdout="tokens_mecab.tsv"),
        Command("tokenize_wordpiece", "tokenize_text.py",
                ("--vocab_file", "vocab.txt", "--tokenizer", "wordpiece", *TOKENIZE_LINES[:2]),
                stdout="tokens_wordpiece.tsv"),
        Command("evaluate", "evaluate_squad.py",
                ("inputs/sample_korquad.json", "squad/predictions.json", "--out_file", "squad_scores.json"),
                stdout="squad_scores_stdout.json"),
    ]


def _data_args(**changes: str) -> tuple[str, ...]:
    """create_pretraining_data's flags in the pipeline, with `changes` ({flag: value}) applied."""
    flags = {"input_file": "corpus/wiki_*", "output_dir": "data", "vocab_file": "vocab.txt", "dupe_factor": "2",
             "num_workers": "2", "docs_per_chunk": "100", "instances_per_shard": "4000"} | changes
    return tuple(part for flag, value in flags.items() for part in (f"--{flag}", value))


def bad_inputs() -> list[Command]:
    """Commands that must fail, run in the work folder after the pipeline (stage_bad_inputs made their files)."""
    model = ("--vocab_file", "vocab.txt", "--init_checkpoint", "pretrain", "--device", "cpu")
    pretrain = ("--bert_config_file", "inputs/bert_tiny.json", "--vocab_file", "vocab.txt", "--do_train",
                "--num_train_steps", "20", "--num_warmup_steps", "5", "--train_batch_size", "16", "--device", "cpu")
    return [
        Command("prepare: missing input file", "prepare_corpus.py",
                ("--input_file", "inputs/missing/wiki_00", "--output_dir", "bad/corpus")),
        Command("prepare: plain text, no <doc>", "prepare_corpus.py",
                ("--input_file", "inputs/lines.txt", "--output_file", "bad/plain.txt")),
        Command("vocab: --vocab_size below the alphabet", "build_vocab.py",
                ("--input_file", "corpus/wiki_*", "--output_file", "bad/vocab.txt", "--vocab_size", "200")),
        Command("vocab: bad flag value", "build_vocab.py",
                ("--input_file", "corpus/wiki_*", "--output_file", "bad/vocab.txt", "--num_workers", "0")),
        Command("data: existing output without --overwrite", "create_pretraining_data.py", _data_args()),
        Command("data: vocab that is a folder", "create_pretraining_data.py",
                _data_args(vocab_file="data", output_dir="bad/data")),
        Command("pretrain: corrupt manifest", "run_pretraining.py",
                ("--input_file", "bad/corrupt_data", "--output_dir", "bad/pretrain", *pretrain)),
        Command("pretrain: --max_seq_length not the data's", "run_pretraining.py",
                ("--input_file", "data", "--output_dir", "bad/pretrain", "--max_seq_length", "64", *pretrain)),
        Command("pretrain: another run's folder", "run_pretraining.py",
                ("--input_file", "data", "--output_dir", "pretrain", "--learning_rate", "2e-3", *pretrain)),
        Command("pretrain: --export_hf into a folder of other files", "run_pretraining.py",
                ("--input_file", "data", "--output_dir", "bad/pretrain", "--export_hf", "corpus", *pretrain)),
        Command("squad: missing predict file", "run_squad.py",
                ("--output_dir", "bad/squad", "--do_predict", "--predict_file", "inputs/missing.json", *model)),
        Command("squad: malformed train file", "run_squad.py",
                ("--output_dir", "bad/squad", "--do_train", "--train_file", "bad/truncated.json", *model)),
        Command("classify: score out of range", "run_classifier.py",
                ("--task_name", "korsts", "--train_file", "bad/sts-train.tsv", "--output_dir", "bad/classify",
                 "--do_train", *model)),
        Command("convert: no checkpoint there", "convert_tf_checkpoint.py",
                ("--tf_checkpoint", "inputs/missing", "--output_dir", "bad/tf_hf")),
        Command("tokenize: vocab that is a folder", "tokenize_text.py", ("--vocab_file", "data", "사과")),
        Command("evaluate: predictions not JSON", "evaluate_squad.py",
                ("inputs/sample_korquad.json", "bad/predictions.json")),
    ]


def stage_inputs(tree: Tree, work: Path) -> None:
    """Copies the pipeline's inputs into work/inputs: the shared data's slices and the tree's own sample files."""
    inputs = work / "inputs"
    (inputs / "kowiki").mkdir(parents=True)
    for name in ("wiki_00", "wiki_01"):
        shutil.copyfile(SHARED / "kowiki" / name, inputs / "kowiki" / name)
    (inputs / "korsts").mkdir()
    for name, lines in (("sts-train.tsv", 301), ("sts-dev.tsv", 101), ("sts-test.tsv", 101)):
        text = (SHARED / "kornlu" / name).read_text(encoding="utf-8")
        (inputs / "korsts" / name).write_text("".join(text.splitlines(keepends=True)[:lines]), encoding="utf-8")
    shutil.copytree(SHARED / "tf_checkpoints" / "bert_tiny", inputs / "tf_bert_tiny")
    for source, target in (("configs/bert_tiny.json", "bert_tiny.json"), ("data/sample_korquad.json",
                                                                         "sample_korquad.json")):
        if (tree.path / source).is_file():  # a tree without it fails the steps that need it: a difference
            shutil.copyfile(tree.path / source, inputs / target)
    (inputs / "lines.txt").write_text("".join(f"{line}\n" for line in TOKENIZE_LINES), encoding="utf-8")


def stage_bad_inputs(work: Path) -> None:
    """Writes the damaged files the bad inputs read, from the pipeline's outputs (where they exist)."""
    bad = work / "bad"
    bad.mkdir()
    if (work / "data" / "manifest.json").is_file():
        shutil.copytree(work / "data", bad / "corrupt_data")
        manifest = bad / "corrupt_data" / "manifest.json"
        manifest.write_bytes(manifest.read_bytes()[:200])  # cut short, as by a full disk
    sample = work / "inputs" / "sample_korquad.json"
    if sample.is_file():  # cut at a character, so that the JSON is what is wrong, not the UTF-8
        (bad / "truncated.json").write_text(sample.read_text(encoding="utf-8")[:300], encoding="utf-8")
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
    (bad / "sts-train.tsv").write_text(header + "main-news\tnews\t2012\t1\t7.5\t사과가 떨어졌다.\t사과가 익었다.\n",
                                       encoding="utf-8")
    (bad / "predictions.json").write_text("sample-0001: 1443년\n", encoding="utf-8")


# --- running ------------------------------------------------------------------------------------------------------


def _library_roots() -> tuple[Path, ...]:
    """Where the interpreter's own modules live (the standard library and site-packages)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sysconfig.get_paths().values()}
    return tuple(Path(root).resolve() for root in roots if root)


# What PYTHONVERBOSE=1 writes besides a script's own stderr: import traces, its banner, cleanup at exit.
VERBOSE_PREFIXES = ("# ", "import ", "Python 3.", 'Type "help"', "PyThreadState_Clear: warning", "Processing ",
                    "Adding directory")
_IMPORT_RE = re.compile(r"^# (?:code object from|extension module '[^']*' loaded from) '?([^']+?)'?$")


def imported_files(verbose_stderr: str) -> set[Path]:
    """The Python files and extension modules a run imported, from what PYTHONVERBOSE=1 wrote on stderr."""
    found = set()
    for line in verbose_stderr.splitlines():
        match = _IMPORT_RE.match(line)
        if match and match.group(1).startswith("/"):
            found.add(Path(match.group(1)).resolve())
    return found


def _provenance(tree: Path, verbose_stderr: str) -> tuple[int, tuple[str, ...]]:
    """(files imported from the tree, files imported from neither the tree nor the interpreter's libraries)."""
    libraries = _library_roots()
    files = imported_files(verbose_stderr)
    from_tree = [f for f in files if f.is_relative_to(tree)]
    elsewhere = sorted(str(f) for f in files if not f.is_relative_to(tree)
                       and not any(f.is_relative_to(root) for root in libraries))
    return len(from_tree), tuple(elsewhere)


def _first_and_error_lines(stderr: str, verbose: bool) -> tuple[str, str]:
    """stderr's first non-blank line (a tqdm bar as first drawn: its later redraws hold rates) and its error line
    (click's `Error: ...`, else the last non-blank line, a traceback's exception); PYTHONVERBOSE's lines left out."""
    lines = [next((part for part in line.split("\r") if part.strip()), "").rstrip() for line in stderr.split("\n")]
    if verbose:
        lines = [line for line in lines if not line.startswith(VERBOSE_PREFIXES) and line != "#"]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return "", ""
    return lines[0], next((line for line in lines if line.startswith("Error:")), lines[-1])


def run(tree: Tree, work: Path, logs: Path, command: Command, verbose: bool, timeout_s: int) -> Result:
    """Runs `python <tree>/<script> ...` in `work`; stderr (and stdout unless it is a product) go to `logs`."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    if verbose:
        env["PYTHONVERBOSE"] = "1"
    slug = re.sub(r"[^A-Za-z0-9]+", "_", command.name).strip("_")
    out_path = work / command.stdout if command.stdout else logs / f"{slug}.out"
    err_path = logs / f"{slug}.err"
    argv = [sys.executable, str(tree.path / command.script), *command.args]
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stdin = stack.enter_context(open(work / command.stdin, "rb")) if command.stdin else subprocess.DEVNULL
        stdout = stack.enter_context(open(out_path, "wb"))
        stderr = stack.enter_context(open(err_path, "wb"))
        try:
            returncode = subprocess.run(argv, cwd=work, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                                        timeout=timeout_s, check=False).returncode
        except subprocess.TimeoutExpired:
            returncode = -9
    seconds = time.perf_counter() - start
    text = err_path.read_text(encoding="utf-8", errors="replace")
    first, error = _first_and_error_lines(text, verbose)
    from_tree, elsewhere = _provenance(tree.path, text) if verbose else (0, ())
    return Result(returncode, round(seconds, 2), first, error, from_tree, elsewhere)


def run_tree(tree: Tree, folder: Path) -> tuple[Path, list[Result], list[Result]]:
    """Stages the inputs and runs the pipeline, then the bad inputs; returns the work folder and both results."""
    work, logs = folder / "work", folder / "logs"
    work.mkdir(parents=True)
    logs.mkdir()
    stage_inputs(tree, work)
    steps = [run(tree, work, logs, command, True, STEP_TIMEOUT_S) for command in pipeline()]
    stage_bad_inputs(work)
    bad = [run(tree, work, logs, command, False, BAD_INPUT_TIMEOUT_S) for command in bad_inputs()]
    return work, steps, bad


# --- comparing ----------------------------------------------------------------------------------------------------


def list_files(root: Path) -> dict[str, Path]:
    """Every file (and link) below `root`, by its path relative to it."""
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*"))
            if path.is_file() or path.is_symlink()}


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bits (so NaN payloads and -0.0 count): exact, not approximate."""
    if a.dtype != b.dtype or a.shape != b.shape or a.layout != b.layout:
        return False
    flat_a, flat_b = a.detach().contiguous().reshape(-1), b.detach().contiguous().reshape(-1)
    return torch.equal(flat_a.view(torch.uint8), flat_b.view(torch.uint8))


def diff_values(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two loaded objects differ (dicts by key, lists by index, tensors by bits, floats by repr)."""
    if type(a) is not type(b):
        return [f"{where or '/'}: {type(a).__name__} then, {type(b).__name__} now"]
    if isinstance(a, torch.Tensor):
        return [] if _bits_equal(a, b) else [f"{where}: tensor"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{where or '/'}: keys {sorted(map(str, set(a) ^ set(b)))[:MAX_DETAILS]} (or their order)"]
        return [d for key in a for d in diff_values(a[key], b[key], f"{where}/{key}")]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{where or '/'}: {len(a)} items then, {len(b)} now"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff_values(x, y, f"{where}/{i}")]
    same = repr(a) == repr(b) if isinstance(a, float) else a == b
    return [] if same else [f"{where or '/'}: {a!r} then, {b!r} now"]


def compare_torch(a: Path, b: Path) -> tuple[str, list[str]]:
    """A torch checkpoint: every tensor bit for bit and every other value (weights_only=True where it loads)."""
    try:
        loaded = [torch.load(p, map_location="cpu", weights_only=True) for p in (a, b)]
        how = "torch.load(weights_only=True): tensors bit for bit, other values equal"
    except Exception:  # a pickle weights_only refuses: these are our own outputs, so unpickling them is safe
        loaded = [torch.load(p, map_location="cpu", weights_only=False) for p in (a, b)]
        how = "torch.load(weights_only=False): tensors bit for bit, other values equal"
    return how, diff_values(*loaded)


def read_safetensors(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, list[int], bytes]]]:
    """(metadata, {name: (dtype, shape, raw bytes)}) of a .safetensors file, read by its documented layout."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    metadata = header.pop("__metadata__", {})
    base = 8 + size
    tensors = {name: (entry["dtype"], entry["shape"], data[base + entry["data_offsets"][0]:
                                                          base + entry["data_offsets"][1]])
               for name, entry in header.items()}
    return metadata, tensors


def compare_safetensors(a: Path, b: Path) -> tuple[str, list[str]]:
    """A safetensors file: the same tensor names, each with the same dtype, shape and bytes; the same metadata."""
    (meta_a, tensors_a), (meta_b, tensors_b) = read_safetensors(a), read_safetensors(b)
    details = [] if meta_a == meta_b else [f"__metadata__: {meta_a} then, {meta_b} now"]
    if set(tensors_a) != set(tensors_b):
        details.append(f"tensor names: {sorted(set(tensors_a) ^ set(tensors_b))[:MAX_DETAILS]}")
    details += [f"{name}: dtype, shape or values" for name in sorted(set(tensors_a) & set(tensors_b))
                if tensors_a[name] != tensors_b[name]]
    return "safetensors: tensors bit for bit (dtype, shape, bytes), metadata equal", details


def _without_jsonl_fields(path: Path, fields: tuple[str, ...]) -> tuple[list[Any], set[str]]:
    """Each JSON line of `path` with `fields` removed (a line that is not JSON kept as its text), and the fields
    that were there."""
    rows, removed = [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            rows.append(line)
            continue
        if isinstance(row, dict):
            removed |= set(row) & set(fields)
            row = {k: v for k, v in row.items() if k not in fields}
        rows.append(row)
    return rows, removed


def _without_markdown_rows(path: Path, fields: tuple[str, ...]) -> tuple[str, set[str]]:
    """The text of `path` without the table rows whose first cell is one of `fields`, and the fields found."""
    row = re.compile(r"^\|\s*(" + "|".join(map(re.escape, fields)) + r")\s*\|")
    kept, removed = [], set()
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        match = row.match(line)
        if match:
            removed.add(match.group(1))
        else:
            kept.append(line)
    return "".join(kept), removed


def compare_bytes(a: Path, b: Path) -> list[str]:
    """[] when the bytes are equal; else "bytes", and for UTF-8 text the first line that differs."""
    data_a, data_b = a.read_bytes(), b.read_bytes()
    if data_a == data_b:
        return []
    try:
        lines_a, lines_b = data_a.decode("utf-8").splitlines(), data_b.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return [f"bytes ({len(data_a)} then, {len(data_b)} now)"]
    for number, (x, y) in enumerate(itertools.zip_longest(lines_a, lines_b, fillvalue="<none>"), 1):
        if x != y:
            return [f"line {number}: {x[:160]!r} then, {y[:160]!r} now"]
    return ["bytes (line ends)"]


def compare_ignoring(a: Path, b: Path, rule: Ignore) -> tuple[str, list[str], list[str]]:
    """A file compared with the fields `rule` names removed from both sides: (how, differences, the fields that
    were there to remove). A file that holds none of them is compared as bytes."""
    strip = _without_jsonl_fields if rule.kind == "jsonl" else _without_markdown_rows
    (content_a, removed_a), (content_b, removed_b) = strip(a, rule.fields), strip(b, rule.fields)
    removed = sorted(removed_a | removed_b)
    if not removed:
        return "bytes", compare_bytes(a, b), []
    if rule.kind == "jsonl":
        return "JSON lines, fields removed", diff_values(content_a, content_b), removed
    return "text, table rows removed", [] if content_a == content_b else ["text (rows removed)"], removed


def _ignore_rule(relative: str, strict: bool) -> Ignore | None:
    """The rule for `relative`, if any (none with --strict)."""
    if strict:
        return None
    return next((rule for rule in IGNORED if fnmatch.fnmatch(relative, rule.pattern)), None)


def compare_file(relative: str, a: Path, b: Path, strict: bool) -> dict[str, Any]:
    """One output's record: how it was compared, whether it is identical, the ignored fields, the differences."""
    rule, ignored = _ignore_rule(relative, strict), []
    if rule:
        how, details, ignored = compare_ignoring(a, b, rule)
    elif relative.endswith(".pt"):
        how, details = compare_torch(a, b)
    elif relative.endswith(".safetensors"):
        how, details = compare_safetensors(a, b)
    else:
        how, details = "bytes", compare_bytes(a, b)
    record = {"path": relative, "compared_as": how, "identical": not details, "ignored_fields": ignored}
    if how != "bytes":  # for information: equal files need not be the same bytes (see the module docstring)
        record["same_bytes"] = a.read_bytes() == b.read_bytes()
    return record | ({"differences": details[:MAX_DETAILS]} if details else {})


def compare_folders(before: Path, after: Path, strict: bool) -> list[dict[str, Any]]:
    """A record per relative path in either work folder; a path in only one of them is a difference."""
    files_a, files_b = list_files(before), list_files(after)
    records = []
    for relative in sorted(set(files_a) | set(files_b)):
        if relative not in files_b or relative not in files_a:
            side = "before" if relative in files_a else "after"
            records.append({"path": relative, "compared_as": f"only {side}", "identical": False,
                            "ignored_fields": []})
        else:
            records.append(compare_file(relative, files_a[relative], files_b[relative], strict))
    return records


# --- the report ---------------------------------------------------------------------------------------------------


def _result_json(result: Result) -> dict[str, Any]:
    """A result as JSON (the import counts only where they were recorded)."""
    return dataclasses.asdict(result) | {"imported_elsewhere": list(result.imported_elsewhere)}


def step_records(steps: list[Command], before: list[Result], after: list[Result]) -> list[dict[str, Any]]:
    """Each pipeline step: both exit codes and times, and where its code came from; ok when both ran from their
    own trees and succeeded."""
    records = []
    for command, a, b in zip(steps, before, after, strict=True):
        ok = a.returncode == b.returncode == 0 and not a.imported_elsewhere and not b.imported_elsewhere
        records.append({"step": command.name, "command": command.shown(), "ok": ok,
                        "before": _result_json(a), "after": _result_json(b)})
    return records


def bad_input_records(commands: list[Command], before: list[Result], after: list[Result]) -> list[dict[str, Any]]:
    """Each bad input: both exit codes, stderr's first lines and error lines; identical when all of them are."""
    records = []
    for command, a, b in zip(commands, before, after, strict=True):
        keys = ("returncode", "first_line", "error_line")
        records.append({"bad_input": command.name, "command": command.shown(),
                        "before": {k: getattr(a, k) for k in keys}, "after": {k: getattr(b, k) for k in keys},
                        "identical": all(getattr(a, k) == getattr(b, k) for k in keys) and a.returncode != 0})
    return records


def summary(steps: list[dict], outputs: list[dict], bad: list[dict], seconds: dict[str, float]) -> dict[str, Any]:
    """Counts and seconds; `identical` is the verdict."""
    differing = [r["path"] for r in outputs if not r["identical"]]
    return {
        "identical": not differing and all(r["ok"] for r in steps) and all(r["identical"] for r in bad),
        "steps": len(steps), "steps_failed": [r["step"] for r in steps if not r["ok"]],
        "outputs_compared": len(outputs), "outputs_identical": len(outputs) - len(differing),
        "outputs_differing": differing,
        "bad_inputs": len(bad), "bad_inputs_differing": [r["bad_input"] for r in bad if not r["identical"]],
        "ignored": [{"files": rule.pattern, "fields": list(rule.fields), "why": rule.why} for rule in IGNORED],
        "seconds": seconds,
    }


def _cell(text: str) -> str:
    """Text for a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    """Tables for a release note: the outputs, the bad inputs, and the verdict."""
    tree = {side: f"{report[side]['spec']} ({report[side]['commit'][:7] or report[side]['path']}"
                  f"{', with changes' if report[side]['dirty'] else ''})" for side in ("before", "after")}
    lines = [f"Equivalence: {tree['before']} against {tree['after']}, one pipeline each, "
             f"{report['summary']['seconds']['total']} s.", "",
             "| output | compared as | identical | ignored fields |", "|---|---|---|---|"]
    lines += [f"| `{_cell(r['path'])}` | {_cell(r['compared_as'])} | {'yes' if r['identical'] else '**no**'} | "
              f"{', '.join(r['ignored_fields'])} |" for r in report["outputs"]]
    lines += ["", "| bad input | exit code | first line of stderr | error line | identical |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(r['bad_input'])} | {r['after']['returncode']} | {_cell(r['after']['first_line'])} | "
              f"{_cell(r['after']['error_line']) if r['after']['error_line'] != r['after']['first_line'] else '='} | "
              f"{'yes' if r['identical'] else '**no**'} |" for r in report["bad_inputs"]]
    verdict = report["summary"]
    lines += ["", f"{verdict['outputs_identical']} of {verdict['outputs_compared']} outputs identical, "
                  f"{verdict['bad_inputs'] - len(verdict['bad_inputs_differing'])} of {verdict['bad_inputs']} bad "
                  f"inputs identical, {verdict['steps'] - len(verdict['steps_failed'])} of {verdict['steps']} steps "
                  f"ran from their own trees."]
    return "\n".join(lines)


@click.command()
@click.option("--before", "before_spec", default=DEFAULT_BEFORE, show_default=True,
              help="A git commit (or the path of a source tree): the code before the change.")
@click.option("--after", "after_spec", default=str(ROOT), show_default="this repository's working tree, as it is",
              help="The path of a source tree (used as is) or a git commit: the code after the change.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Also print markdown tables for a release note.")
@click.option("--strict", is_flag=True,
              help="Ignore no field (shows which fields vary between two runs of one commit).")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (trees, work folders, logs); say where.")
def main(before_spec: str, after_spec: str, as_markdown: bool, strict: bool, keep: bool) -> None:
    """Runs the pipeline on --before and --after and compares every output; exit code 1 when anything differs."""
    if not SHARED.is_dir():
        click.echo(json.dumps({"skipped": f"{SHARED} not found: the bench needs the shared data beside the "
                                          "checkout (kowiki, kornlu, tf_checkpoints)"}))
        return
    start = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="bench_equivalence-"))
    try:
        report = compare_trees(before_spec, after_spec, scratch, strict)
    finally:
        if keep:
            click.echo(f"kept {scratch}", err=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    report["summary"]["seconds"]["total"] = round(time.perf_counter() - start, 1)
    click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    if as_markdown:
        click.echo("\n" + markdown(report))
    sys.exit(0 if report["summary"]["identical"] else 1)


def compare_trees(before_spec: str, after_spec: str, scratch: Path, strict: bool) -> dict[str, Any]:
    """Checks out both trees, runs each, compares: the whole report but the total seconds."""
    with contextlib.ExitStack() as stack:
        trees = [stack.enter_context(checked_out(label, spec, scratch / f"{label}_tree"))
                 for label, spec in (("before", before_spec), ("after", after_spec))]
        seconds, runs = {}, []
        for tree in trees:
            start = time.perf_counter()
            runs.append(run_tree(tree, scratch / tree.label))
            seconds[tree.label] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    (work_a, steps_a, bad_a), (work_b, steps_b, bad_b) = runs
    outputs = compare_folders(work_a, work_b, strict)
    seconds["compare"] = round(time.perf_counter() - start, 1)
    steps = step_records(pipeline(), steps_a, steps_b)
    bad = bad_input_records(bad_inputs(), bad_a, bad_b)
    return {
        **{tree.label: {"spec": tree.spec, "path": str(tree.path), "commit": tree.commit, "dirty": tree.dirty}
           for tree in trees},
        "strict": strict, "steps": steps, "outputs": outputs, "bad_inputs": bad,
        "summary": summary(steps, outputs, bad, seconds),
    }


if __name__ == "__main__":
    main()
