# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""extract_features.py's job: Google's pre-computed feature vectors of BERT, each token's hidden states at the encoder
layers `--layers` asks for, one JSON line per input line.

Input: one text a line, or a pair `text_a ||| text_b`. Each line becomes Google's `[CLS] a [SEP] (b [SEP])`, segment
0 then 1, cut to --max_seq_length as Google's `_truncate_seq_pair` cuts it (the longer text loses its end first).

Output, as Google's extract_features.py writes it (its keys, its order of lines, its `round(value, 6)`), with three
keys added to each token, which Google's readers never look for:

    {"linex_index": 0, "features": [
        {"token": "[CLS]", "start": null, "end": null, "segment": 0,
         "layers": [{"index": -1, "values": [0.123456, ...]}, {"index": -2, "values": [...]}, ...]},
        {"token": "who", "start": 0, "end": 3, "segment": 0, "layers": [...]}, ...]}

`start` and `end` are the token's character offsets into the input line as read (its line end, and a first line's
byte order mark, taken off), so `line[start:end]` is the text the token came from, for a pair's second text too;
`null` for [CLS] and [SEP], which come from no text. `segment` is the token's segment id (Google's input_type_ids):
0 for [CLS] a [SEP], 1 for b [SEP]. Korean is written as UTF-8, where Google's json.dumps writes `\\uXXXX` escapes:
the same JSON value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

import modeling
import tokenization
from mecab_bert import tokenizer_settings
from mecab_bert.checkpoints import loading, tf_checkpoint
from mecab_bert.cli import INPUT_PATH, OUTPUT_PATH, POSITIVE, flag
from mecab_bert.files import atomic_output, check_not_input, file_sha256, missing_folders_made, shown
from mecab_bert.runs import batching, devices, skeleton
from mecab_bert.tasks import fine_tuning
from mecab_bert.tasks.classification import truncated_lengths
from text_input import InputError, read_utf8_lines

# Google's separator of a pair's two texts. Google matches "^(.*) \|\|\| (.*)$" on the stripped line, so that a
# second marker silently joins text_a and a marker without spaces around it is read as text ("| | |"); here any
# "|||" marks a pair, and a line with two of them, or with no text on one side, is an error naming it.
PAIR_MARK = "|||"

Span = tuple[int, int]  # [start, end) character offsets into a line


@dataclass(frozen=True, kw_only=True)
class ExtractFlags(devices.TpuFlags):
    """extract_features.py's flags: Google's, and --tokenizer and --device."""

    input_file: str = flag(help="One text a line, or a pair: text_a ||| text_b.", type=INPUT_PATH)
    output_file: str = flag(help="The JSON lines to write, one per input line (written atomically).",
                            type=OUTPUT_PATH)
    init_checkpoint: str = flag(help="The model: our checkpoint (or a run's output directory: its newest), a "
                                     "Hugging Face BERT directory, or Google's TensorFlow checkpoint "
                                     "(.../bert_model.ckpt).", type=INPUT_PATH)
    vocab_file: str | None = flag(None, "The vocab the model was trained with (default: a Hugging Face "
                                        "--init_checkpoint's vocab.txt).", INPUT_PATH)
    bert_config_file: str | None = flag(None, "The model's config (default: the one beside --init_checkpoint).",
                                        INPUT_PATH)
    layers: str = flag("-1,-2,-3,-4", "Comma-separated encoder layers, as Google counts them: -1 the last layer's "
                                      "output, 0 (or -num_hidden_layers) the first's.")
    max_seq_length: int = flag(128, "Tokens per line, [CLS] and [SEP]s included; a longer line is truncated.",
                               click.IntRange(3, 2**31 - 1))
    do_lower_case: bool | None = flag(None, "Lower-case (never decomposes Hangul); must match the vocab (default: "
                                            "what --init_checkpoint records, else True).", click.BOOL)
    tokenizer: str | None = flag(None, "mecab or wordpiece (default: what --init_checkpoint records; wordpiece for "
                                       "Google's checkpoints and vocabs; else mecab).",
                                 click.Choice(tokenizer_settings.TOKENIZER_MODES))
    batch_size: int = flag(32, "Lines per forward pass.", POSITIVE)
    device: str = flag("auto", "auto: CUDA when present.", click.Choice(["auto", "cpu", "cuda"]))
    use_one_hot_embeddings: bool = flag(False, "Google's TPU setting: taken and ignored (the same values).")


@dataclass(frozen=True)
class InputLine:
    """One line of --input_file: its text, and where its one or two texts lie in it."""

    index: int  # Google's linex_index: the line's 0-based number
    text: str  # the line as read: what the offsets point into
    a: Span
    b: Span | None  # None: a single text


@dataclass(frozen=True)
class LineTokens:
    """A line as the model reads it, [CLS] a [SEP] (b [SEP]), with where each token came from."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    segments: tuple[int, ...]  # Google's input_type_ids: 0 on [CLS] a [SEP], 1 on b [SEP]
    spans: tuple[Span | None, ...]  # offsets into the line; None for [CLS] and [SEP]
    truncated: bool  # tokens were cut to max_seq_length


@dataclass(frozen=True)
class ExtractSummary:
    """What extract_features.py wrote, for its last line."""

    lines: int
    pairs: int
    tokens: int  # [CLS] and [SEP] included, as written
    truncated: int  # lines cut to --max_seq_length
    empty: int  # lines that give no token: [CLS] [SEP] alone, as Google writes them
    seconds: float  # the extraction, from the first batch to the last line written

    def describe(self, output_file: str) -> str:
        seconds = max(self.seconds, 1e-9)
        rate = f"{self.lines / seconds:.1f} lines/s, {self.tokens / seconds:.0f} tokens/s"
        return (f"Wrote the features of {self.lines} lines ({self.pairs} pairs, {self.tokens} tokens, {self.truncated} "
                f"truncated to --max_seq_length, {self.empty} without a token) to {output_file} in "
                f"{self.seconds:.1f} s ({rate}).")


def parse_line(index: int, text: str, where: str) -> InputLine:
    """A line as one text, or as a pair around PAIR_MARK; InputError naming `where` (file:line) for two marks or a
    side with no text."""
    parts = text.split(PAIR_MARK)
    if len(parts) > 2:
        raise InputError(f"{where}: {len(parts) - 1} times {PAIR_MARK}: a line is one text, or one pair "
                         f"text_a {PAIR_MARK} text_b")
    if len(parts) == 1:
        return InputLine(index, text, (0, len(text)), None)
    first, second = parts
    if not first.strip() or not second.strip():
        side = "before" if not first.strip() else "after"
        raise InputError(f"{where}: no text {side} {PAIR_MARK} (a pair is text_a {PAIR_MARK} text_b)")
    return InputLine(index, text, (0, len(first)), (len(first) + len(PAIR_MARK), len(text)))


def read_lines(path: str) -> list[InputLine]:
    """Every line of `path`, parsed; InputError naming the file and line for invalid UTF-8, a NUL byte, a stray
    carriage return or a bad pair, and naming the file when it has no line. An empty line is kept, as Google keeps it
    ([CLS] [SEP]), so that the n-th output line is the n-th input line's."""
    found = [parse_line(index, text, f"{path}:{index + 1}") for index, text in enumerate(read_utf8_lines(path))]
    if not found:
        raise InputError(f"{path}: no lines (an empty file): nothing to extract features of")
    return found


def _pieces(tokenizer: tokenization.FullTokenizer, line: InputLine, span: Span) -> list[tokenization.Token]:
    """The tokens of line.text[span] with offsets into the whole line."""
    start, end = span
    return [(token, start + first, start + last)
            for token, first, last in tokenizer.tokenize_with_offsets(line.text[start:end])]


def line_tokens(line: InputLine, tokenizer: tokenization.FullTokenizer, max_seq_length: int) -> LineTokens:
    """Google's layout of one line within max_seq_length tokens: [CLS] a [SEP], and b [SEP] for a pair, the pair
    truncated by Google's rule (classification.truncated_lengths). As Google, a pair whose b gives no token, or
    loses them all to truncation, has the single text's layout."""
    pieces_a = _pieces(tokenizer, line, line.a)
    pieces_b = _pieces(tokenizer, line, line.b) if line.b else []
    if pieces_b:
        kept_a, kept_b = truncated_lengths(len(pieces_a), len(pieces_b), max_seq_length - 3)
    else:
        kept_a, kept_b = min(len(pieces_a), max_seq_length - 2), 0
    rows: list[tuple[str, Span | None, int]] = [("[CLS]", None, 0)]
    rows += [(token, (start, end), 0) for token, start, end in pieces_a[:kept_a]]
    rows.append(("[SEP]", None, 0))
    if kept_b:
        rows += [(token, (start, end), 1) for token, start, end in pieces_b[:kept_b]]
        rows.append(("[SEP]", None, 1))
    tokens, spans, segments = zip(*rows, strict=True)
    return LineTokens(tokens, tuple(tokenizer.convert_tokens_to_ids(list(tokens))), segments, spans,
                      kept_a < len(pieces_a) or kept_b < len(pieces_b))


def layer_indexes(spec: str, num_hidden_layers: int) -> tuple[int, ...]:
    """Google's --layers: indexes into the encoder layers' outputs, as a Python list is indexed (Google's
    `model.get_all_encoder_layers()[index]`): -1 is the last layer, 0 or -num_hidden_layers the first; the embeddings
    are none of them. InputError naming --layers for anything else."""
    try:
        indexes = tuple(int(part) for part in spec.split(","))
    except ValueError:
        raise InputError(f"--layers {shown(spec)}: not comma-separated integers (e.g. -1,-2,-3,-4)") from None
    outside = [index for index in indexes if not -num_hidden_layers <= index < num_hidden_layers]
    if outside:
        raise InputError(f"--layers {spec}: the model has {num_hidden_layers} layers, so {outside[0]} is none of them "
                         f"(-1 is the last, {-num_hidden_layers} or 0 the first)")
    return indexes


@torch.no_grad()
def encoder_layers(model: modeling.BertModel, batch: dict[str, Tensor], layers: Sequence[int]) -> Tensor:
    """float [K, B, T, H]: the outputs of the encoder layers `layers` (K of them, in that order) over `batch`
    (input_ids, token_type_ids, attention_mask: long [B, T]), caught as the model's own forward computes them."""
    blocks = model.encoder.layer
    caught: dict[int, Tensor] = {}

    def catch(position: int, module: torch.nn.Module, args: tuple, output: Tensor) -> None:
        caught[position] = output

    with contextlib.ExitStack() as hooks:
        for position in {index % len(blocks) for index in layers}:
            hooks.callback(blocks[position].register_forward_hook(functools.partial(catch, position)).remove)
        model(batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=batch["attention_mask"])
    return torch.stack([caught[index % len(blocks)] for index in layers])


def model_batch(rows: Sequence[LineTokens], device: torch.device) -> dict[str, Tensor]:
    """The rows as long [B, T] tensors on `device`, T the longest row: input_ids, token_type_ids, attention_mask."""
    width = max(len(row.ids) for row in rows)
    batch = {name: torch.zeros(len(rows), width, dtype=torch.long) for name in batching.MODEL_INPUTS}
    for i, row in enumerate(rows):
        batch["input_ids"][i, :len(row.ids)] = torch.tensor(row.ids)
        batch["token_type_ids"][i, :len(row.ids)] = torch.tensor(row.segments)
        batch["attention_mask"][i, :len(row.ids)] = 1
    return {name: tensor.to(device) for name, tensor in batch.items()}


def feature_record(index: int, row: LineTokens, layers: Sequence[int], values: np.ndarray) -> dict:
    """One output line: Google's {"linex_index", "features"}, each feature Google's {"token", "layers"} with our
    "start", "end" and "segment". values: float32 [K, n, H], the layers' outputs at the row's n tokens; rounded to 6
    places as Google's round(float(x), 6) rounds them (numpy's rounding gives the same floats: a float32 times 10**6
    is exact in float64)."""
    rounded = np.round(values.astype(np.float64), 6).tolist()  # [K][n][H]
    features = []
    for position, (token, span, segment) in enumerate(zip(row.tokens, row.spans, row.segments, strict=True)):
        start, end = span if span is not None else (None, None)
        features.append({"token": token, "start": start, "end": end, "segment": segment,
                         "layers": [{"index": layer, "values": rounded[k][position]}
                                    for k, layer in enumerate(layers)]})
    return {"linex_index": index, "features": features}


def model_config(bert_config_file: str | None, init: str) -> modeling.BertConfig:
    """--bert_config_file, or the config beside the checkpoint `init` (a Hugging Face directory's config.json, the
    bert_config.json beside a checkpoint of ours or Google's), with a Google checkpoint's activation."""
    folder = Path(init) if Path(init).is_dir() else Path(init).parent
    found = [bert_config_file] if bert_config_file else [
        str(path) for path in (folder / "config.json", folder / "bert_config.json") if path.is_file()]
    if not Path(init).exists() and tf_checkpoint.checkpoint_prefix(Path(init)) is None:
        raise InputError(f"--init_checkpoint {init}: no such file or folder (nor a Google checkpoint's prefix)")
    if not found:
        raise InputError(f"no model config beside --init_checkpoint {init}: pass --bert_config_file")
    return tf_checkpoint.config_for(init, modeling.BertConfig.from_json_file(found[0]))


def resolved_tokenizer(flags: ExtractFlags, init: str) -> tokenizer_settings.TokenizerSettings:
    """The tokenizer the model was trained with, as the fine-tuning scripts resolve it: the flags, and what the
    checkpoint `init` records (a run of ours, a Hugging Face directory) or is (Google's: its WordPiece)."""
    source = fine_tuning.ModelSource(init, f"--init_checkpoint {flags.init_checkpoint}")
    recorded = fine_tuning.recorded_tokenizer(source)
    return tokenizer_settings.resolve_tokenizer(flags.vocab_file, flags.do_lower_case, flags.tokenizer,
                                                flags.init_checkpoint, recorded)


def load_model(init: str, config: modeling.BertConfig, device: torch.device) -> modeling.BertModel:
    """The encoder of the checkpoint `init` (any head it has left unused), in eval mode on `device`."""
    model = modeling.create_model(modeling.BertModel, config, add_pooling_layer=False)
    report = loading.load_pretrained(model, init)
    click.echo(f"model on {device}, float32: {report.summary()}", err=True)
    return model.to(device).eval()


def extract(flags: ExtractFlags, progress: bool = True) -> ExtractSummary:
    """extract_features.py: checks the flags, the model and every input line before the model loads, then writes the
    features of every line to --output_file, atomically (a failure leaves what was there)."""
    init = loading.resolve_init_checkpoint(flags.init_checkpoint)
    settings = resolved_tokenizer(flags, init)
    flags = dataclasses.replace(flags, vocab_file=settings.vocab_file)
    tokenizer = settings.full_tokenizer()
    click.echo(settings.describe(), err=True)
    config = model_config(flags.bert_config_file, init)
    layers = layer_indexes(flags.layers, config.num_hidden_layers)
    device = devices.resolve_device(flags.device)
    skeleton.check_model(config, flags, len(tokenizer.vocab))
    skeleton.check_init_vocab(init, skeleton.Vocab(file_sha256(flags.vocab_file), f"--vocab_file {flags.vocab_file}"))
    check_not_input(flags.output_file, [flags.input_file, flags.vocab_file, flags.bert_config_file, init],
                    "--output_file")
    lines = read_lines(flags.input_file)
    model = load_model(init, config, device)
    with missing_folders_made([flags.output_file]), atomic_output(flags.output_file) as writer:
        return _write_features(model, tokenizer, lines, layers, flags, writer, progress)


def _batches(lines: Sequence[InputLine], size: int) -> Iterator[Sequence[InputLine]]:
    for first in range(0, len(lines), size):
        yield lines[first:first + size]


def _write_features(model: modeling.BertModel, tokenizer: tokenization.FullTokenizer, lines: Sequence[InputLine],
                    layers: Sequence[int], flags: ExtractFlags, writer: IO[str], progress: bool) -> ExtractSummary:
    """Writes one JSON line per input line, a batch at a time, each batch cut to its longest line."""
    start = time.perf_counter()
    tokens = truncated = empty = 0
    device = next(model.parameters()).device
    with tqdm(total=len(lines), desc="extracting", unit=" lines", disable=not progress) as bar:
        for group in _batches(lines, flags.batch_size):
            rows = [line_tokens(line, tokenizer, flags.max_seq_length) for line in group]
            values = encoder_layers(model, model_batch(rows, device), layers).float().cpu().numpy()  # [K, B, T, H]
            for i, (line, row) in enumerate(zip(group, rows, strict=True)):
                record = feature_record(line.index, row, layers, values[:, i, :len(row.ids)])
                writer.write(json.dumps(record, ensure_ascii=False) + "\n")
                tokens += len(row.ids)
                truncated += row.truncated
                empty += len(row.ids) == 2
            bar.update(len(group))
    pairs = sum(line.b is not None for line in lines)
    return ExtractSummary(len(lines), pairs, tokens, truncated, empty, time.perf_counter() - start)
