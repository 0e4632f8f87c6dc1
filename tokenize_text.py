# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Prints the tokens of text with their character offsets: `python tokenize_text.py "사과나무에서"`. The command line of
tokenization.py, which holds no command line itself: that file travels with exported models and must import nothing
beyond the standard library, numpy and MeCab."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import click

import tokenization
from mecab_bert.cli import INPUT_PATH, Command, flag, flag_options, user_errors
from mecab_bert.tokenizer_settings import DO_LOWER_CASE, TOKENIZER_MODES, resolve_tokenizer
from text_input import InputError, decode_utf8_lines


@dataclass(frozen=True)
class TokenizeFlags:
    vocab_file: str = flag("vocab/kowiki-32k.txt", "The WordPiece vocab.", type=INPUT_PATH)
    do_lower_case: bool = flag(DO_LOWER_CASE, "Lower-case and strip accents (never from Hangul).")
    tokenizer: str | None = flag(None, "mecab: WordPiece inside MeCab morphemes; wordpiece: Google's FullTokenizer "
                                       "(default: wordpiece for a vocab of Google's, else mecab).",
                                 click.Choice(TOKENIZER_MODES))
    texts: tuple[str, ...] = flag((), argument=True, nargs=-1)


def _stdin_lines() -> Iterator[str]:
    """The lines of standard input, read as bytes: text that is not UTF-8 is one line naming its line."""
    try:
        yield from decode_utf8_lines(sys.stdin.buffer, "<stdin>")
    except InputError as error:
        raise click.ClickException(str(error)) from None


def _check_arguments(texts: tuple[str, ...]) -> None:
    """Python hands over command-line bytes that are not UTF-8 as lone surrogates: one line naming the argument."""
    for number, text in enumerate(texts, start=1):
        if tokenization.SURROGATES.search(text):
            raise click.ClickException(f"TEXT argument {number}: not valid UTF-8 (a terminal in another encoding?); "
                                       f"pass UTF-8 text, or pipe it through iconv -t UTF-8")


@click.command(cls=Command)
@flag_options(TokenizeFlags)
def main(**values) -> None:
    """Print the tokens of each TEXT (or of each line of standard input) as token<TAB>start<TAB>end."""
    flags = TokenizeFlags(**values)
    _check_arguments(flags.texts)
    with user_errors(RuntimeError):  # RuntimeError: MeCab or its dictionary missing (make_tagger says how to fix)
        settings = resolve_tokenizer(flags.vocab_file, flags.do_lower_case, flags.tokenizer, None)
        full_tokenizer = settings.full_tokenizer()
    click.echo(settings.describe(), err=True)
    # Only the loading is under user_errors: a closed pipe (| head) while printing is click's quiet exit.
    for text in flags.texts or _stdin_lines():
        for token, start, end in full_tokenizer.tokenize_with_offsets(text):
            click.echo(f"{token}\t{start}\t{end}")
        click.echo("")


if __name__ == "__main__":
    main()
