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
           "run_classifier", "convert_tf_checkpoint", "evaluate_squad", "tokenize_text", "plot", "fetch_data")


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
        where = f"'{param.opts[0]}'" if isinstance(param, click.Option) else f"'{param.name.upper()}'"
        arguments = [loop] if isinstance(param, click.Argument) else [param.opts[0], loop]
        if isinstance(param, click.Argument) and param.nargs != -1:  # the other positional arguments, unchecked
            arguments = [loop if other is param else "x" for other in command.params if
                         isinstance(other, click.Argument)]
        result = CliRunner().invoke(command, arguments)
        assert result.exit_code == 2, (param.name, result.output)
        assert f"Error: Invalid value for {where}: {loop}: a symlink loop (it points, at last, to itself)" in \
            result.output, (param.name, result.output)
