# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""The command-line layer every script shares: one-line errors (`user_errors`), `Command` (usage errors on one line,
SIGTERM as Ctrl-C, Google's absl spellings), flag types that name the flag on a bad value, and the flags mechanism:
a frozen dataclass whose fields are the flags (`flag`, `flag_options`), boolean flags that read like Google's absl
ones, other names of a flag (`flag`'s `aliases`, `Option`).

Google's README commands run as written (`absl_arguments`, before click parses): `--flagfile=FILE` is replaced by
the flags in FILE, `--noX` is `--X=False` for every boolean flag, and a flag with other names (Google's
`--output_file` for `--output_dir`, evaluate-v2.0.py's `--na-prob-file` and `-n` for `--na_prob_file`) is refused
when given under two of them."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from mecab_bert import files
from mecab_bert.workers import WorkerDiedError
from text_input import InputError, read_utf8_lines

# What every script reports as one line (bad data, flags, files, a full or read-only disk), never a traceback.
# EOFError: torch.load and numpy raise it on an empty or truncated file (click would print a bare "Aborted!").
# MemoryError: a batch or model too large for this machine.
USER_ERRORS = (InputError, ValueError, OSError, EOFError, MemoryError)


def describe_error(error: BaseException) -> str:
    """One line for a user error: an OSError names its file and says what the disk said."""
    if isinstance(error, OSError):
        text = f"{error.filename}: {error.strerror or error}" if error.filename is not None else str(error)
        if error.errno == errno.ENOSPC:
            text += " (the disk is full; nothing was replaced)"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            text += " (cannot write or read there; nothing was replaced)"
    elif isinstance(error, MemoryError):
        text = f"out of memory ({error or 'a batch or a model too large for this machine'}); lower the batch size"
    elif isinstance(error, EOFError):
        text = f"a file ended early (empty or truncated): {error}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


@contextlib.contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turns USER_ERRORS (and `kinds`) raised in the block into click's one-line "Error: ..." and exit 1."""
    try:
        yield
    except (*USER_ERRORS, WorkerDiedError, *kinds) as error:
        raise click.ClickException(describe_error(error)) from None


class FiniteFloat(click.FloatRange):
    """A float flag within a range; NaN and infinity are refused (a range check lets NaN through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class OutputPath(click.Path):
    """click.Path for a path to write to: an empty string (the current folder, or a file named '') is refused, and
    so is a symlink loop (pathlib would raise a RuntimeError wherever the path is resolved)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("an empty path", param, ctx)
        try:
            os.stat(value)
        except OSError as error:
            if error.errno == errno.ELOOP:
                self.fail(f"{value}: a symlink loop (it points, at last, to itself)", param, ctx)
        return super().convert(value, param, ctx)


class InputPath(click.Path):
    """click.Path for a path to read: a symlink loop, a pipe or a device is refused in one line naming the flag
    (files.check_input), before anything is read. `patterns`: a comma-separated list, each part checked."""

    def __init__(self, patterns: bool = False, **path_options: Any):
        super().__init__(**{"path_type": str, **path_options})
        self.patterns = patterns

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        for part in (str(value).split(",") if self.patterns else [value]):
            try:
                files.check_input(part.strip() if self.patterns else part)
            except InputError as error:
                self.fail(str(error), param, ctx)
        return super().convert(value, param, ctx)


# Flag types: a value out of range is click's one-line error naming the flag.
POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
# --num_workers: processes are forked all at once, so a typo of a huge number must not fork-bomb the machine.
WORKERS = click.IntRange(min=1, max=1024)
SEED = click.IntRange(0, 2**63 - 1)  # what numpy's and torch's seeding take
POSITIVE_FLOAT = FiniteFloat(min=0, min_open=True)
FINITE_FLOAT = FiniteFloat()
PROBABILITY = FiniteFloat(0, 1)
FLOAT32_MAX = 3.4e38  # a rate the optimizer's float32 state can hold (a larger one overflows inside torch)
OUTPUT_PATH = OutputPath()
INPUT_PATH = InputPath()
INPUT_PATTERNS = InputPath(patterns=True)


ABSL_EPILOG = ("Google's (absl) spellings work too: --noX is --X=False for a boolean flag X, and --flagfile=FILE reads "
               "flags from FILE (one --name=value a line; # and // start comments; a flag after it overrides it).")


class Command(click.Command):
    """click's command, with usage errors (a bad flag value, a missing flag) on one line too: click prints the
    usage and a hint above them, so the line that names the flag would not be the first. Its arguments are read
    as absl reads them first (`absl_arguments`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.epilog = f"{self.epilog}\n\n{ABSL_EPILOG}" if self.epilog else ABSL_EPILOG

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, absl_arguments(self, args))

    def invoke(self, ctx: click.Context) -> Any:
        terminate = signal.getsignal(signal.SIGTERM)
        # Not in a distributed run (torchrun, srun): its launcher stops the other processes with SIGTERM when one
        # fails, and one blocked in a collective would then wait out the launcher's grace period instead of dying.
        if (threading.current_thread() is threading.main_thread() and terminate == signal.SIG_DFL
                and "TORCHELASTIC_RUN_ID" not in os.environ and int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1):
            signal.signal(signal.SIGTERM, _interrupt_on_terminate)
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _one_line(error) from None
        finally:
            if signal.getsignal(signal.SIGTERM) is _interrupt_on_terminate:
                signal.signal(signal.SIGTERM, terminate)


def _interrupt_on_terminate(signum: int, frame: Any) -> None:
    """SIGTERM (`kill`, `timeout`, Slurm, docker stop) as Ctrl-C: the script cleans up (temporaries, workers,
    an earlier output put back) and says "Aborted!", instead of dying with its temporaries left behind. A
    second SIGTERM ends it at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt


def _one_line(error: click.UsageError) -> click.UsageError:
    error.ctx = None
    error.message = f"{error.message.rstrip()} (see --help)".lstrip()  # MissingParameter adds its own text
    return error


FLAGFILE = "--flagfile"


def absl_arguments(command: click.Command, args: Sequence[str]) -> list[str]:
    """The command line as click should see it, given as Google's absl flags read it: each --flagfile expanded
    in place, `--noX` as `--X=False` (X a boolean flag that takes a value; a plain switch has its own --noX), and
    an option that takes a value given under two of its names refused (both would be taken, the later silently).
    Nothing after `--` is touched. UsageError naming the flag, or the flagfile's file:line."""
    args = expand_flagfiles([os.fspath(arg) if isinstance(arg, os.PathLike) else arg for arg in args])
    names = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    negations = {f"--no{name[2:]}": name for param in command.params if isinstance(param, click.Option)
                 and isinstance(param.type, click.types.BoolParamType) and not param.is_flag
                 for name in param.opts if name.startswith("--") and f"--no{name[2:]}" not in names}
    read, end = [], args.index("--") if "--" in args else len(args)
    for arg in args[:end]:
        name, equals, _ = arg.partition("=")
        if name in negations and equals:
            raise click.UsageError(f"{name} takes no value ({name} is {negations[name]}=False)")
        read.append(f"{negations[name]}=False" if name in negations else arg)
    _check_one_name_each(command, read)
    return read + list(args[end:])


def _check_one_name_each(command: click.Command, args: list[str]) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and param.is_flag:  # a switch takes no value: its names cannot disagree
            continue
        given = [name for name in param.opts if any(_gives(arg, name) for arg in args)]
        if len(given) > 1:
            raise click.UsageError(f"{' and '.join(given)} are two names of one flag: give one of them")


def _gives(arg: str, name: str) -> bool:
    """Whether `arg` gives the option `name`: `--name` or `--name=value`; a short one `-n` or `-nVALUE`, as click
    reads it."""
    if name.startswith("--"):
        return arg == name or arg.startswith(f"{name}=")
    return arg.startswith(name)


def expand_flagfiles(args: Sequence[str], reading: tuple[str, ...] = (), where: str = "") -> list[str]:
    """absl's --flagfile=FILE (or --flagfile FILE): the flags of FILE in its place, in order, so that a flag given
    after it overrides it and one before it is overridden. `reading`: the flagfiles being expanded (a file that
    includes itself is an error); `where`: the file:line of the --flagfile being expanded, for messages."""
    expanded: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            return [*expanded, arg, *rest]
        if arg != FLAGFILE and not arg.startswith(f"{FLAGFILE}="):
            expanded.append(arg)
            continue
        path = arg.partition("=")[2] if "=" in arg else next(rest, "")
        if not path:
            raise click.UsageError(f"{where}{FLAGFILE} needs a file: {FLAGFILE}=FILE")
        expanded += _flagfile_arguments(os.path.expanduser(path), reading, where)
    return expanded


# A flagfile line: one flag, `--name` or `--name=value` (absl's; the value may hold spaces, kept as written).
_FLAG_LINE = re.compile(r"--[A-Za-z_][\w-]*(=.*)?")


def _flagfile_arguments(path: str, reading: tuple[str, ...], where: str) -> list[str]:
    """The flags of one flagfile, its own --flagfile lines expanded. As absl reads it: each line stripped of
    surrounding white space; blank lines and lines starting with # or // skipped; a path (of the file, or of a
    --flagfile line inside it) with ~ expanded, and relative to the current directory."""
    if os.path.realpath(path) in reading:
        raise click.UsageError(f"{where}{FLAGFILE} {path}: it includes itself (a loop of flagfiles)")
    try:
        lines = list(read_utf8_lines(path))
    except InputError as error:  # it names the file and line
        raise click.UsageError(f"{where}{error}") from None
    except OSError as error:
        raise click.UsageError(f"{where}{FLAGFILE} {path}: {error.strerror or error}") from None
    args: list[str] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if not _FLAG_LINE.fullmatch(line):
            raise click.UsageError(f"{path}:{number}: not a flag: {files.shown(line)} (a flagfile line is one "
                                   f"--name=value, or a # comment)")
        args += expand_flagfiles([line], (*reading, os.path.realpath(path)), f"{path}:{number}: ")
    return args


class Option(click.Option):
    """click's option, named in messages as our docs name it: its first name is ours, any other an alias (Google's,
    the official script's), which --help lists beside it. A bad value names ours alone (click would list every
    name); a missing flag names each, ours first, since any of them would do. A Command refuses a value given
    under two of its names (absl_arguments)."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{self.opts[0]}'"

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.MissingParameter as error:
            if error.param_hint is None:
                error.param_hint = " / ".join(f"'{name}'" for name in self.opts)
            raise


def bool_option(name: str, default: bool | None, help_text: str, aliases: Sequence[str] = (), **click_options: Any):
    """A click option that takes `--flag`, `--flag=True` and `--flag=False` (or true, 1, 0, ...), like Google's
    absl flags; `--noflag` is `--flag=False` in a Command (absl_arguments). `aliases`: its other names."""
    return click.option(name, *aliases, cls=Option, type=click.BOOL, default=default, is_flag=False, flag_value=True,
                        show_default=True, help=help_text, **click_options)


@dataclasses.dataclass(frozen=True)
class _FlagSpec:
    help: str
    type: click.ParamType | None
    argument: bool
    aliases: tuple[str, ...]
    click_options: dict[str, Any]


def flag(default: Any = dataclasses.MISSING, help: str = "", type: click.ParamType | None = None, *,
         argument: bool = False, aliases: tuple[str, ...] = (), **click_options: Any) -> Any:
    """A flags-dataclass field that is also the option `--<field name>`; no default makes the flag required.
    A bool default, or the type click.BOOL (a `bool | None` flag, None when not given), makes a Google-style
    boolean (`--do_train`, `--do_train=False`, `--nodo_train`). `argument`: the positional argument FIELD_NAME
    instead (its help is the command's docstring). `aliases`: other names of the option, as they are written on
    the command line (Google's `("--output_file",)`, evaluate-v2.0.py's `("--na-prob-file", "-n")`; see `Option`
    for the messages). Other keywords go to click as they are: `multiple=True`, `nargs=-1` (a tuple), `callback`,
    `is_flag=True` (a plain switch, which takes no value; `--noX` turns it off)."""
    spec = _FlagSpec(help, type, argument, aliases, click_options)
    return dataclasses.field(default=default, metadata={"flag": spec})


def flag_options(flags_class: type) -> Callable[[Callable], Callable]:
    """Decorates a click command with one option per field of `flags_class`, so that `main(**flags)` can build
    `flags_class(**flags)`. --help lists the script's own flags first, then those it shares (fine-tuning, then
    the loop's): each field where the most derived class declares it."""
    fields = {field.name: field for field in dataclasses.fields(flags_class)}
    names = dict.fromkeys(name for cls in flags_class.__mro__ for name in vars(cls).get("__annotations__", {})
                          if name in fields)
    ordered = [fields[name] for name in names]

    def decorate(command: Callable) -> Callable:
        for field in reversed(ordered):
            spec: _FlagSpec = field.metadata["flag"]
            names = [field.name, f"--{field.name}", *spec.aliases]
            required = field.default is dataclasses.MISSING
            switch = spec.click_options.get("is_flag", False)
            if spec.argument:
                command = click.argument(field.name, type=spec.type, **spec.click_options)(command)
            elif (isinstance(field.default, bool) or spec.type is click.BOOL) and not switch:
                command = bool_option(names[1], field.default, spec.help, spec.aliases, **spec.click_options)(command)
            elif switch:  # `--X/--noX`: absl's --noX for a switch too
                command = click.option(field.name, f"--{field.name}/--no{field.name}", *spec.aliases, cls=Option,
                                       default=field.default, help=spec.help, **spec.click_options)(command)
            elif required:  # no default at all: click (>= 8.3) would take an explicit None for one
                command = click.option(*names, cls=Option, type=spec.type, required=True, help=spec.help,
                                       **spec.click_options)(command)
            else:
                command = click.option(*names, cls=Option, type=spec.type, default=field.default, help=spec.help,
                                       show_default=field.default is not None, **spec.click_options)(command)
        return command

    return decorate
