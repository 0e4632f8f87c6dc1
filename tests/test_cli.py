"""mecab_bert/cli.py: flags read as Google's scripts read them, and usage errors in one line."""

import dataclasses
import importlib
import re

import click
import pytest
from click.testing import CliRunner

from mecab_bert import cli


def test_bool_option_reads_like_google_flags():
    @click.command()
    @cli.bool_option("--do_train", False, "train")
    def command(do_train):
        click.echo(repr(do_train))

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == "False"
    assert runner.invoke(command, ["--do_train"]).output.strip() == "True"
    assert runner.invoke(command, ["--do_train=false"]).output.strip() == "False"
    assert runner.invoke(command, ["--do_train=True"]).output.strip() == "True"


def test_usage_errors_are_one_line():
    @click.command(cls=cli.Command)
    @click.option("--size", type=cli.POSITIVE, default=1)
    @click.option("--a")
    @click.option("--b")
    def command(size, a, b):
        if (a is None) == (b is None):
            raise click.UsageError("give exactly one of --a and --b")

    runner = CliRunner()
    assert runner.invoke(command, ["--size", "0", "--a", "x"]).output == \
        "Error: Invalid value for '--size': 0 is not in the range x>=1. (see --help)\n"
    result = runner.invoke(command, [])
    assert result.exit_code == 2 and result.output == "Error: give exactly one of --a and --b (see --help)\n"


def test_float_flags_refuse_nan_and_infinity():
    @click.command(cls=cli.Command)
    @click.option("--learning_rate", type=cli.POSITIVE_FLOAT, default=1.0)
    @click.option("--output_dir", type=cli.OUTPUT_PATH)
    def command(learning_rate, output_dir):
        click.echo(learning_rate)

    runner = CliRunner()
    for value in ("nan", "inf", "0", "-1"):
        result = runner.invoke(command, ["--learning_rate", value])
        assert result.exit_code == 2 and "'--learning_rate'" in result.output, result.output
    assert "'--output_dir': an empty path" in runner.invoke(command, ["--output_dir", ""]).output


@dataclasses.dataclass(frozen=True)
class PositionalFlags:
    names: tuple[str, ...] = cli.flag((), argument=True, nargs=-1)
    tag: tuple[str, ...] = cli.flag((), "Repeatable.", multiple=True)
    force: bool = cli.flag(False, "A plain switch.", is_flag=True)


def test_flags_can_be_arguments_repeated_options_and_switches():
    @click.command(cls=cli.Command)
    @cli.flag_options(PositionalFlags)
    def command(**values):
        click.echo(repr(PositionalFlags(**values)))

    runner = CliRunner()
    assert runner.invoke(command, ["a", "--tag", "x", "b", "--tag", "y", "--force"]).output.strip() == \
        repr(PositionalFlags(names=("a", "b"), tag=("x", "y"), force=True))
    assert runner.invoke(command, []).output.strip() == repr(PositionalFlags())
    assert runner.invoke(command, ["--force=False"]).output == \
        "Error: Option '--force' does not take a value. (see --help)\n"  # as create_pretraining_data's --overwrite


def test_a_symlink_loop_as_an_output_is_one_line(tmp_path):
    """pathlib raises a RuntimeError ("Symlink loop") wherever such a path is resolved: the flag refuses it first."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")

    @click.command(cls=cli.Command)
    @click.option("--output_dir", type=cli.OUTPUT_PATH)
    def command(output_dir):
        click.echo(output_dir)

    loop = str(tmp_path / "loop")
    result = CliRunner().invoke(command, ["--output_dir", loop])
    assert result.exit_code == 2
    assert result.output == f"Error: Invalid value for '--output_dir': {loop}: a symlink loop (it points, at last, " \
                            f"to itself) (see --help)\n"
    assert CliRunner().invoke(command, ["--output_dir", str(tmp_path / "new")]).output.strip() == \
        str(tmp_path / "new")


SCRIPTS = ("build_vocab", "prepare_corpus", "create_pretraining_data", "run_pretraining", "run_squad",
           "run_classifier", "run_ner", "extract_features", "convert_tf_checkpoint", "evaluate_squad", "tokenize_text",
           "plot", "fetch_data")


def _path_params(script: str) -> list[click.Parameter]:
    """The parameters of a script that name a file or a folder, by their names."""
    command = importlib.import_module(script).main
    return [param for param in command.params if not isinstance(param.type, click.types.BoolParamType)
            and re.search(r"(_file|_dir|checkpoint|_path|export_hf|dest)$", param.name)]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_path_flag_refuses_a_symlink_loop_in_one_line(tmp_path, script):
    """An input folder that is a symlink loop (or a file linked to itself) used to be "no vocab", "manifest.json:
    missing", "no such file" or pathlib's RuntimeError: each path flag, input or output, says what it is."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    loop = str(tmp_path / "loop")
    command = importlib.import_module(script).main
    for param in _path_params(script):
        assert isinstance(param.type, cli.InputPath | cli.OutputPath), f"{script} {param.name}: not an input or output"
        where = param.get_error_hint(None)  # '--output_dir' / '--output_file' for a flag with Google's second name
        arguments = [loop] if isinstance(param, click.Argument) else [param.opts[0], loop]
        if isinstance(param, click.Argument) and param.nargs != -1:  # the other positional arguments, unchecked
            arguments = [loop if other is param else "x" for other in command.params if
                         isinstance(other, click.Argument)]
        result = CliRunner().invoke(command, arguments)
        assert result.exit_code == 2, (param.name, result.output)
        assert f"Error: Invalid value for {where}: {loop}: a symlink loop (it points, at last, to itself)" in \
            result.output, (param.name, result.output)


# --- Google's absl spellings: --noX, --flagfile, a flag's second name ----------------------------------------


def _required_arguments(command: click.Command) -> list[str]:
    """Values for a command's required options and arguments, so that its parser gets to the flag under test."""
    words = []
    for param in command.params:
        if param.required:
            value = param.type.choices[0] if isinstance(param.type, click.Choice) else "x"
            words += [value] if isinstance(param, click.Argument) else [param.opts[0], value]
    return words


def _boolean_flags(command: click.Command) -> list[click.Option]:
    """The boolean flags of a command (not evaluate_squad's hidden --verbose: evaluate-v2.0.py's, an argparse one)."""
    return [param for param in command.params if isinstance(param, click.Option) and not param.hidden
            and isinstance(param.type, click.types.BoolParamType) and param.name != "help"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_boolean_flag_takes_absl_no_spelling(script):
    """`--noX` is `--X=False` wherever it stands, a later spelling winning, as in absl; `--X=true/1/0` too."""
    command = importlib.import_module(script).main
    required = _required_arguments(command)
    for param in _boolean_flags(command):
        name = param.opts[0]
        no = f"--no{name[2:]}"
        true = [] if name == "--use_tpu" else [(no, name), (f"{name}=true",), (f"{name}=1",)]  # True: refused
        values = [(no,), (name, no), (f"{name}=0",), *true]
        if param.is_flag:  # a plain switch (--overwrite) takes no value
            values = [words for words in values if "=" not in words[0]]
        parsed = {words: command.make_context(script, [*required, *words]).params[param.name] for words in values}
        assert parsed == {words: words[-1] == name or words[-1].endswith(("=true", "=1")) for words in values}, \
            (script, parsed)
    assert script not in ("run_squad", "run_classifier", "run_pretraining", "create_pretraining_data") or \
        len(_boolean_flags(command)) >= 3


def test_no_spelling_takes_no_value_and_leaves_what_follows_a_double_dash():
    @click.command(cls=cli.Command)
    @cli.bool_option("--do_train", False, "train")
    @click.argument("words", nargs=-1)
    def command(do_train, words):
        click.echo(repr((do_train, words)))

    runner = CliRunner()
    assert runner.invoke(command, ["--do_train", "--", "--nodo_train"]).output.strip() == "(True, ('--nodo_train',))"
    result = runner.invoke(command, ["--nodo_train=True"])
    assert result.exit_code == 2
    assert result.output == "Error: --nodo_train takes no value (--nodo_train is --do_train=False) (see --help)\n"
    assert "--noX is --X=False" in runner.invoke(command, ["--help"]).output


@dataclasses.dataclass(frozen=True)
class GoogleFlags:
    output_dir: str = cli.flag(help="Where.", aliases=("--output_file",))
    do_train: bool = cli.flag(False, "Train.")
    do_lower_case: bool = cli.flag(True, "Lower-case.")
    learning_rate: float = cli.flag(5e-5, "Rate.", cli.POSITIVE_FLOAT)
    name: str = cli.flag("", "A name.")


@click.command(cls=cli.Command)
@cli.flag_options(GoogleFlags)
def google_command(**values):
    click.echo(repr(GoogleFlags(**values)))


def run_google(*args):
    return CliRunner().invoke(google_command, list(map(str, args)))


def test_a_flagfile_is_read_in_place_as_absl_reads_it(tmp_path):
    base = tmp_path / "base.flags"
    base.write_text("# Google's flags\n\n// a C++ comment\n  --do_train  \n--learning_rate=2e-5\n"
                    "--name=a name with spaces\n--nodo_lower_case\n", encoding="utf-8")
    top = tmp_path / "top.flags"
    top.write_text(f"--output_file=out\n--flagfile={base}\n--learning_rate=3e-5\n", encoding="utf-8")
    expected = GoogleFlags(output_dir="out", do_train=True, do_lower_case=False, learning_rate=3e-5,
                           name="a name with spaces")
    assert run_google(f"--flagfile={top}").output.strip() == repr(expected)
    assert run_google("--flagfile", top).output.strip() == repr(expected)
    # A flag after the flagfile overrides it; one before it is overridden, as absl reads them in order.
    overridden = dataclasses.replace(expected, learning_rate=1.0, do_lower_case=True)
    assert run_google(f"--flagfile={top}", "--learning_rate=1", "--do_lower_case").output.strip() == repr(overridden)
    assert run_google("--learning_rate=1", f"--flagfile={top}").output.strip() == repr(expected)


@pytest.mark.parametrize(("lines", "line", "words"), [
    (b"--do_train\ndo_eval=True\n", 2, ['not a flag: "do_eval=True"']),
    (b"--output_dir out\n", 1, ['not a flag: "--output_dir out"', "--name=value"]),
    (b"\n\n-x\n", 3, ['not a flag: "-x"']),
    (b"--flagfile=/nonexistent/other.flags\n", 1, ["--flagfile /nonexistent/other.flags: No such file or directory"]),
    (b"--flagfile\n", 1, ["--flagfile needs a file"]),
    (b"--do_train\n--name=\xff\n", 2, ["not valid UTF-8"]),
])
def test_a_bad_flagfile_is_one_line_naming_file_and_line(tmp_path, lines, line, words):
    path = tmp_path / "bad.flags"
    path.write_bytes(lines)
    result = run_google(f"--flagfile={path}")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith(f"Error: {path}:{line}"), result.output
    for word in words:
        assert word in result.output, result.output
    assert "Traceback" not in result.output


def test_a_missing_or_looping_flagfile_is_one_line(tmp_path):
    result = run_google("--flagfile=/nonexistent/flags")
    assert result.exit_code == 2
    assert result.output == "Error: --flagfile /nonexistent/flags: No such file or directory (see --help)\n"
    loop = tmp_path / "loop.flags"
    loop.write_text(f"--do_train\n--flagfile={loop}\n")
    result = run_google(f"--flagfile={loop}")
    assert result.exit_code == 2
    assert result.output == f"Error: {loop}:2: --flagfile {loop}: it includes itself (a loop of flagfiles) " \
                            f"(see --help)\n"
    result = run_google("--flagfile")
    assert result.exit_code == 2 and "--flagfile needs a file" in result.output


def test_a_flag_under_two_names_is_one_line():
    assert run_google("--output_file=a").output.strip() == repr(GoogleFlags(output_dir="a"))
    result = run_google("--output_file=a", "--output_dir=b")
    assert result.exit_code == 2
    assert result.output == "Error: --output_dir and --output_file are two names of one flag: give one of them " \
                            "(see --help)\n"
    assert run_google("--output_dir=a", "--output_dir=b").output.strip() == repr(GoogleFlags(output_dir="b"))


@dataclasses.dataclass(frozen=True)
class OfficialFlags:
    out_file: str = cli.flag(help="Where.", aliases=("--out-file", "-o"))
    threshold: float = cli.flag(1.0, "A threshold.", cli.FINITE_FLOAT, aliases=("-t",))
    keep: bool = cli.flag(False, "Keep.", aliases=("--keep-all",))
    verbose: bool = cli.flag(False, "Talk.", is_flag=True, aliases=("-v",))


@click.command(cls=cli.Command)
@cli.flag_options(OfficialFlags)
def official_command(**values):
    click.echo(repr(OfficialFlags(**values)))


@pytest.mark.parametrize("args", [["--out_file=a"], ["--out-file", "a"], ["-o", "a"], ["-oa"]])
def test_aliases_are_written_as_on_the_command_line(args):
    result = CliRunner().invoke(official_command, [*args, "-t", "2", "--keep-all", "-v", "--verbose"])
    assert result.output.strip() == repr(OfficialFlags("a", 2.0, True, True)), result.output


@pytest.mark.parametrize(("args", "line"), [
    (["-o", "a", "--out_file=b"], "Error: --out_file and -o are two names of one flag: give one of them (see --help)"),
    (["-ob", "--out-file=a"], "Error: --out-file and -o are two names of one flag: give one of them (see --help)"),
    (["-o", "a", "-t", "x"], "Error: Invalid value for '--threshold': 'x' is not a valid float range. (see --help)"),
    (["-t", "1"], "Error: Missing option '--out_file' / '--out-file' / '-o'. (see --help)"),
    (["-o", "a", "--keep-all=x"], "Error: Invalid value for '--keep': 'x' is not a valid boolean."),
])
def test_an_alias_is_named_after_our_spelling_in_one_line(args, line):
    result = CliRunner().invoke(official_command, args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith(line), result.output


def test_help_lists_every_name_of_a_flag():
    output = CliRunner().invoke(official_command, ["--help"]).output
    for names in ("-o, --out_file, --out-file", "-t, --threshold", "--keep, --keep-all", "-v, --verbose / --noverbose"):
        assert names in output, output


def test_a_script_reads_googles_flags_from_a_flagfile(tmp_path):
    flags = tmp_path / "mrpc.flags"
    flags.write_text("# Google's README, one flag a line\n--task_name=MRPC\n--do_train=true\n--do_eval=true\n"
                     "--nodo_lower_case\n--max_seq_length=128\n--learning_rate=2e-5\n--num_train_epochs=3.0\n"
                     "--output_dir=/tmp/mrpc_output/\n", encoding="utf-8")
    command = importlib.import_module("run_classifier").main
    params = command.make_context("run_classifier.py", [f"--flagfile={flags}", "--learning_rate=3e-5"]).params
    assert {name: params[name] for name in ("task_name", "do_train", "do_eval", "do_lower_case", "max_seq_length",
                                            "learning_rate", "num_train_epochs", "output_dir")} == {
        "task_name": "mrpc", "do_train": True, "do_eval": True, "do_lower_case": False, "max_seq_length": 128,
        "learning_rate": 3e-5, "num_train_epochs": 3.0, "output_dir": "/tmp/mrpc_output/"}
