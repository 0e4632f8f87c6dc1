"""Every command in the code blocks of README.md and docs/*.md still works as written: make targets exist
(`make -n`), bash scripts parse, and each Python script's own parser accepts the flags. Runs for real: `make demo`
(in test_pipeline) and the scaling recipe, shrunk to a miniature of itself (below). The README stays short, and
every relative link of these pages leads somewhere."""

import bz2
import html
import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def doc_pages() -> list[Path]:
    """The pages a user reads: README.md first, then docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands(pages: list[Path] | None = None) -> list[str]:
    """The commands of every ```bash block of `pages` (all of doc_pages() by default), in order."""
    commands = []
    text = "\n".join(page.read_text(encoding="utf-8") for page in (pages or doc_pages()))
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def script_arguments(words: list[str]) -> tuple[str, list[str]]:
    """(script, its arguments) of a python or torchrun command line."""
    position = next(i for i, w in enumerate(words) if w.endswith(".py"))
    return words[position], words[position + 1:]


def test_the_readme_has_commands():
    assert readme_commands([ROOT / "README.md"])[:2] == ["make demo", "make test"]
    assert len(readme_commands()) >= 15


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command(command):
    words = shlex.split(command)
    while "=" in words[0] and not words[0].startswith("-"):  # VARIABLE=value prefixes
        words = words[1:]
    if words[0] == "make":
        done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    elif words[0] == "bash":
        assert subprocess.run(["bash", "-n", words[1]], cwd=ROOT).returncode == 0
    elif words[0] == "pip":  # an extra of pyproject.toml
        extra = re.fullmatch(r"\.\[(\w+)\]", words[-1])
        assert words[1:3] == ["install", "-e"] and extra, command
        assert f"\n{extra.group(1)} = [" in (ROOT / "pyproject.toml").read_text(encoding="utf-8"), command
    elif words[0] == "wget":  # Wikimedia's dump: the file the recipe's next line reads
        assert re.fullmatch(r"https://dumps\.wikimedia\.org/kowiki/latest/[\w.-]+\.xml\.bz2", words[1]), command
    else:
        assert words[0] in ("python", "torchrun"), command
        script, arguments = script_arguments(words)
        assert (ROOT / script).is_file(), script
        main = importlib.import_module(script.removesuffix(".py")).main
        main.make_context(script, arguments)  # raises on an unknown flag, a bad value or a missing one


# The scaling recipe, shrunk to run here: each value the recipe gives these flags maps to a miniature one (a
# value missing here fails the test, so the table follows the recipe). `--compile` is dropped: inductor on
# CPU takes minutes to start and is exercised by the CUDA benchmark.
MINIATURE = {
    "--num_workers": {"8": "2"},
    "--vocab_size": {"32000": "3000"},
    "--dupe_factor": {"10": "2"},
    "--train_batch_size": {"2048": "8", "1024": "16", "32": "8"},
    "--num_train_steps": {"7038": "3", "1563": "2"},
    "--num_warmup_steps": {"2000": "1", "200": "1"},
    "--nproc_per_node": {"8": "2"},
}


def page_section(heading: str) -> str:
    """The text after the one heading `heading` (any level) of README.md or docs/*.md, to the end of its page."""
    found = [text.split(match.group(0), 1)[1] for page in doc_pages()
             for text in [page.read_text(encoding="utf-8")]
             for match in [re.search(rf"^#+ {re.escape(heading)}\n", text, flags=re.MULTILINE)] if match]
    assert len(found) == 1, f"{len(found)} headings '{heading}' in README.md and docs/*.md, expected one"
    return found[0]


def recipe_commands() -> list[str]:
    """The commands of the code block under the heading "Scaling up" (docs/scaling.md)."""
    text = page_section("Scaling up")
    block = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def miniature(command: str) -> list[str]:
    """The command as an argv for this machine: scripts from the repo, MINIATURE values, no --compile."""
    words = [w for w in shlex.split(command) if w != "--compile"]
    if words[0] == "torchrun":
        words[:1] = [sys.executable, "-m", "torch.distributed.run"]
    else:
        assert words[0] == "python", command
        words[0] = sys.executable
    for i, word in enumerate(words):
        if word.endswith(".py"):
            words[i] = str(ROOT / word)
        flag, equals, value = word.partition("=")
        if equals and flag in MINIATURE:
            words[i] = f"{flag}={MINIATURE[flag][value]}"
        elif word in MINIATURE:
            words[i + 1] = MINIATURE[word][words[i + 1]]
    return words


def _page(page_id: int, title: str, text: str, ns: int = 0, redirect: str = "") -> str:
    """A page as dumps lay it out: WikiExtractor reads one tag a line."""
    redirect_tag = f'<redirect title="{redirect}" />\n' if redirect else ""
    return (f"<page>\n<title>{title}</title>\n<ns>{ns}</ns>\n<id>{page_id}</id>\n{redirect_tag}<revision>\n"
            f'<id>{page_id}0</id>\n<text xml:space="preserve">{html.escape(text, quote=False)}</text>\n'
            "</revision>\n</page>\n")


def wikipedia_dump(sample: Path, dump: Path) -> None:
    """The shipped sample corpus as a MediaWiki dump (.xml.bz2): one page per document, a template, a link and
    a redirect, as Wikimedia publishes Korean Wikipedia."""
    documents = sample.read_text(encoding="utf-8").strip().split("\n\n")
    pages = [_page(1, "틀:출처", "<ref>{{{1}}}</ref>", ns=10),
             _page(2, "넘겨주기", "#넘겨주기 [[문서 3]]", redirect="문서 3")]
    pages += [_page(i, f"문서 {i}", f"[[문서 {i}]]: {' '.join(document.splitlines())} {{{{출처|샘플}}}}")
              for i, document in enumerate(documents, start=3)]
    siteinfo = ('<mediawiki xml:lang="ko">\n<siteinfo>\n<base>https://ko.wikipedia.org/wiki/Main</base>\n'
                '<namespaces>\n<namespace key="0" />\n<namespace key="10">틀</namespace>\n</namespaces>\n</siteinfo>\n')
    dump.write_bytes(bz2.compress((siteinfo + "".join(pages) + "</mediawiki>\n").encode("utf-8")))


@pytest.mark.slow
def test_the_scaling_recipe_runs_in_miniature(tmp_path):
    """Every command of the recipe runs, in order, in a fresh directory: Korean Wikipedia's dump (here the sample
    as a MediaWiki dump, made where wget would fetch it) -> sentences -> vocab -> data at 128 and 512 -> phase 1
    and 2 on 2 processes with
    gradient accumulation -> Hugging Face export -> KorQuAD (here the sample, already in data/korquad; the
    fetch_data.py step is checked for refusing it, since it checks the files it finds against KorQuAD's own)
    fine-tuned on 2 processes."""
    (tmp_path / "bert_config.json").write_text((ROOT / "configs" / "bert_tiny.json").read_text())
    (tmp_path / "data" / "korquad").mkdir(parents=True)
    for name in ("KorQuAD_v1.0_train.json", "KorQuAD_v1.0_dev.json"):
        (tmp_path / "data" / "korquad" / name).write_bytes((ROOT / "data" / "sample_korquad.json").read_bytes())
    commands = recipe_commands()
    assert len(commands) == 10
    for command in commands:
        if command.startswith("pip install"):  # the extras are installed here (test_readme_command checks it)
            continue
        if command.startswith("wget"):
            wikipedia_dump(ROOT / "data" / "sample_text_ko.txt", tmp_path / command.rsplit("/", 1)[1])
            continue
        done = subprocess.run(miniature(command), cwd=tmp_path, capture_output=True, text=True, timeout=600)
        if "fetch_data.py" in command:  # the sample is no KorQuAD: refused in one line, and left in place
            assert done.returncode == 1 and "158 questions, expected 60407" in done.stderr, done.stderr
            continue
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    out = tmp_path / "out"
    assert "문서 2]]" not in (out / "kowiki" / "AA" / "wiki_00").read_text(encoding="utf-8")  # WikiExtractor's text
    assert len((out / "vocab.txt").read_text(encoding="utf-8").splitlines()) > 1000
    for data in ("data-128", "data-512"):
        assert json.loads((out / data / "manifest.json").read_text())["totals"]["instances"] > 0
    assert (out / "phase1" / "ckpt-00000003.pt").exists() and (out / "phase2" / "ckpt-00000002.pt").exists()
    assert (out / "hf-bert" / "config.json").exists()
    assert {"exact_match", "f1"} <= json.loads((out / "korquad" / "eval_results.json").read_text()).keys()


# Each default lives in the script's flags dataclass; the tables of docs/scripts.md repeat them for readers, so
# they are checked here against the dataclasses (a changed default fails until the docs say so too).
TRAINING_SCRIPTS = {"run_pretraining.py": "mecab_bert.tasks.pretraining.PretrainingFlags",
                    "run_squad.py": "mecab_bert.tasks.squad.SquadFlags",
                    "run_classifier.py": "mecab_bert.tasks.classification.ClassifierFlags"}


def readme_flag_defaults(script: str) -> dict[str, str]:
    section = page_section(script).split("\n### ", 1)[0].split("| flag | default | meaning |", 1)[1]
    defaults = {}
    for flags, values in re.findall(r"^\| (`--[^|]*) \| ([^|`]*) \|", section, flags=re.MULTILINE):
        names = re.findall(r"`--(\w+)`", flags)
        values = [v.strip() for v in values.split(",")] if values.strip() else []
        if values and values != ["required"]:
            values = values * len(names) if len(values) == 1 else values  # one default shared by all the flags
            assert len(values) == len(names), f"{script}: {flags} has {len(values)} defaults for {len(names)} flags"
            defaults.update(zip(names, values, strict=True))
    return defaults


def same_default(shown: str, value) -> bool:
    if isinstance(value, bool):
        return shown == str(value)
    if isinstance(value, (int, float)):
        return float(shown) == value
    return shown == str(value)


@pytest.mark.parametrize("script", sorted(TRAINING_SCRIPTS))
def test_readme_defaults_are_the_flags_defaults(script):
    import dataclasses

    module, _, name = TRAINING_SCRIPTS[script].rpartition(".")
    fields = {f.name: f for f in dataclasses.fields(getattr(importlib.import_module(module), name))}
    shown = readme_flag_defaults(script)
    assert len(shown) >= 10
    for name, value in shown.items():
        assert name in fields, f"{script}: the docs list --{name}, which the script does not have"
        assert same_default(value, fields[name].default), \
            f"{script}: --{name} defaults to {fields[name].default!r}, the docs say {value}"


def user_scripts() -> list[str]:
    """The scripts a user runs: the .py files at the top whose `main` is a click command."""
    import click

    return [path.name for path in sorted(ROOT.glob("*.py")) if "\ndef main(" in path.read_text(encoding="utf-8")
            and isinstance(getattr(importlib.import_module(path.stem), "main", None), click.Command)]


def test_every_flag_of_every_script_is_in_the_docs():
    scripts = user_scripts()
    assert len(scripts) >= 11
    for script in scripts:
        section = page_section(script).split("\n### ", 1)[0]
        for param in importlib.import_module(script.removesuffix(".py")).main.params:
            for option in (o for o in param.opts if o.startswith("--")):
                assert re.search(rf"{option}(?!\w)", section), f"{script}'s section of the docs lacks {option}"


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move reference text to docs/"


def heading_anchors(text: str) -> set[str]:
    """The #fragments GitHub gives the headings of a markdown page."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.DOTALL), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_lead_to_files(page):
    """Every relative link of README.md and docs/*.md names a file (or folder) of the repository, and its
    #fragment, if any, a heading of that page."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links, page
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: {link} leads nowhere"
        assert path.is_relative_to(ROOT), f"{page.name}: {link} leaves the repository"
        if fragment and path.suffix == ".md":
            anchors = heading_anchors(path.read_text(encoding="utf-8"))
            assert fragment in anchors, f"{page.name}: {link}: no such heading"


def test_named_python_files_exist():
    """Every `name.py` the pages name is a file at the top, in bench/ or in tests/, and every `folder/name.py`
    is that file (a renamed or moved module fails here until the pages follow)."""
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        for name in set(re.findall(r"(?<![\w/.])((?:[a-z_]+/)*[a-z_][a-z0-9_]*\.py)\b", text)):
            folders = (ROOT,) if "/" in name else (ROOT, ROOT / "bench", ROOT / "tests")
            assert any((folder / name).is_file() for folder in folders), \
                f"{page.name} names {name}, which is not in the repository"


def test_the_code_page_lists_every_module():
    """docs/code.md has one row for each module at the top and in the package, and no other."""
    listed = set(re.findall(r"^\| `([\w/]+\.py|mecab_bert/testing/)` \|", (ROOT / "docs" / "code.md").read_text(
        encoding="utf-8"), flags=re.MULTILINE))
    modules = {path.name for path in ROOT.glob("*.py")} | {
        str(path.relative_to(ROOT)) for path in (ROOT / "mecab_bert").rglob("*.py")
        if path.name != "__init__.py" and "testing" not in path.parts}
    assert listed == modules | {"mecab_bert/testing/"}
