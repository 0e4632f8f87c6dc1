#!/usr/bin/env bash
# Proof that the pipeline learns (not in CI). On Korean Wikipedia (../shared/data/kowiki) and KorQuAD 1.0 dev:
#  1. pretrain a small BERT (configs/bert_small.json: hidden 256, 4 layers; here without dropout) for STEPS steps,
#     recording masked-LM and next-sentence accuracy on held-out shards (wiki_46, wiki_47) before and after;
#  2. fine-tune it on KorQuAD dev articles 1-110 and evaluate on articles 111-140, and do the same from a random
#     initialization with the same budget; also score the pretrained model's predictions with --strip_josa;
#  3. the same two starts with run_classifier.py on KorSTS (train -> dev) and KorNLI (its XNLI dev -> test: KorNLI's
#     machine-translated train set is not in ../shared/data);
#  4. (PARTS klue) the same two starts on KLUE's dev sets, split as KLUE's train sets are not in ../shared/data:
#     run_ner.py on KLUE-NER sentences 1-4,000 -> 4,001-5,000, run_classifier.py on KLUE-STS and KLUE-NLI 80/20.
# Writes everything under WORK and prints a JSON summary; bench/RESULTS.md has the numbers measured here
# (on 2 cores with the defaults: 33 minutes of pretraining, 2 x 7.5 of KorQuAD, 2 x 6 of KorSTS and KorNLI).
# PARTS chooses the fine-tuning checks (default "squad classify").
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-out/learning_check}
KOWIKI=${KOWIKI:-../shared/data/kowiki}
KORQUAD=${KORQUAD:-../shared/data/korquad/KorQuAD_v1.0_dev.json}
STEPS=${STEPS:-2500}
WARMUP=${WARMUP:-100}
BATCH=${BATCH:-32}
LEARNING_RATE=${LEARNING_RATE:-5e-4}
SQUAD_EPOCHS=${SQUAD_EPOCHS:-2}
CLASSIFY_EPOCHS=${CLASSIFY_EPOCHS:-"3 5"}  # KorSTS, KorNLI
KORNLU=${KORNLU:-../shared/data/kornlu}
KLUE=${KLUE:-../shared/data/klue}
KLUE_EPOCHS=${KLUE_EPOCHS:-"2 5 3"}  # KLUE-NER, KLUE-STS, KLUE-NLI
PARTS=${PARTS:-squad classify}
DEVICE=${DEVICE:-cpu}
PRECISION=${PRECISION:-bf16}  # bf16 autocast: 1.4x fp32 on this CPU (avx512_bf16)
NUM_WORKERS=${NUM_WORKERS:-2}
PY=${PY:-.venv/bin/python}
VOCAB=vocab/kowiki-32k.txt
mkdir -p "$WORK"
start=$(date +%s)

[ -d "$WORK/kowiki" ] || $PY prepare_corpus.py --input_file "$KOWIKI/wiki_*" --output_dir "$WORK/kowiki" --num_workers "$NUM_WORKERS"
[ -f "$WORK/data/manifest.json" ] || $PY create_pretraining_data.py --input_file "$WORK/kowiki/wiki_[0-3]*,$WORK/kowiki/wiki_4[0-5]" \
  --output_dir "$WORK/data" --vocab_file $VOCAB --dupe_factor 2 --num_workers "$NUM_WORKERS" --overwrite
[ -f "$WORK/heldout/manifest.json" ] || $PY create_pretraining_data.py --input_file "$WORK/kowiki/wiki_4[67]" \
  --output_dir "$WORK/heldout" --vocab_file $VOCAB --dupe_factor 1 --random_seed 7 --overwrite

# configs/bert_small.json without dropout: a run that sees each instance at most once does not overfit, and
# dropout slows learning on a small budget; fine-tuning uses the same config from either start.
$PY -c "import json, sys; c = json.load(open('configs/bert_small.json'));
c.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0); json.dump(c, open(sys.argv[1], 'w'), indent=2)" \
  "$WORK/bert_config.json"
common=(--bert_config_file "$WORK/bert_config.json" --input_file "$WORK/data" --eval_input_file "$WORK/heldout"
        --vocab_file $VOCAB --max_eval_steps 50 --eval_batch_size 32 --device "$DEVICE" --precision "$PRECISION")
$PY run_pretraining.py "${common[@]}" --output_dir "$WORK/eval_start" --do_eval
$PY run_pretraining.py "${common[@]}" --output_dir "$WORK/pretrain" --do_train --do_eval --num_train_steps "$STEPS" \
  --num_warmup_steps "$WARMUP" --train_batch_size "$BATCH" --learning_rate "$LEARNING_RATE" \
  --save_checkpoints_steps 200 --log_every 20
$PY plot.py --output_dir "$WORK/pretrain" --out_file "$WORK/pretrain_curves.png"

if [[ " $PARTS " == *" squad "* ]]; then
[ -f "$WORK/korquad_eval.json" ] || $PY - "$KORQUAD" "$WORK" <<'PYTHON'
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
for name, articles in (("train", data["data"][:110]), ("eval", data["data"][110:])):
    with open(f"{sys.argv[2]}/korquad_{name}.json", "w", encoding="utf-8") as out:
        json.dump({"version": data["version"], "data": articles}, out, ensure_ascii=False)
PYTHON

squad=(--vocab_file $VOCAB --do_train --train_file "$WORK/korquad_train.json" --do_predict
       --predict_file "$WORK/korquad_eval.json" --max_seq_length 256 --doc_stride 128 --train_batch_size 32
       --learning_rate 2e-4 --num_train_epochs "$SQUAD_EPOCHS" --device "$DEVICE" --precision "$PRECISION" --log_every 20)
$PY run_squad.py "${squad[@]}" --init_checkpoint "$WORK/pretrain" --output_dir "$WORK/squad_pretrained"
$PY run_squad.py "${squad[@]}" --bert_config_file "$WORK/bert_config.json" --output_dir "$WORK/squad_random"
$PY evaluate_squad.py "$WORK/korquad_eval.json" "$WORK/squad_pretrained/predictions.json" > /dev/null
fi

if [[ " $PARTS " == *" classify "* ]]; then
read -r STS_EPOCHS NLI_EPOCHS <<< "$CLASSIFY_EPOCHS"
classify=(--vocab_file $VOCAB --do_train --do_eval --train_batch_size 32 --learning_rate 1e-4 --device "$DEVICE"
          --precision "$PRECISION" --log_every 20)
for start_from in pretrained random; do
  if [ $start_from = pretrained ]; then init=(--init_checkpoint "$WORK/pretrain"); else init=(--bert_config_file "$WORK/bert_config.json"); fi
  $PY run_classifier.py "${classify[@]}" "${init[@]}" --task_name korsts --data_dir "$KORNLU" --max_seq_length 64 \
    --num_train_epochs "$STS_EPOCHS" --output_dir "$WORK/korsts_$start_from"
  $PY run_classifier.py "${classify[@]}" "${init[@]}" --task_name kornli --train_file "$KORNLU/xnli.dev.ko.tsv" \
    --eval_file "$KORNLU/xnli.test.ko.tsv" --max_seq_length 128 --num_train_epochs "$NLI_EPOCHS" \
    --output_dir "$WORK/kornli_$start_from"
done
fi

if [[ " $PARTS " == *" klue "* ]]; then
[ -f "$WORK/klue-nli/klue-nli-v1.1_dev.json" ] || $PY - "$KLUE" "$WORK" <<'PYTHON'
import json, re, sys
from pathlib import Path
klue, work = Path(sys.argv[1]), Path(sys.argv[2])
# KLUE-NER: a sentence opens with "## <id><TAB><text>" (an id has no space; the file's "##" comments before do).
lines = (klue / "klue-ner-v1.1_dev.tsv").read_text(encoding="utf-8").split("\n")
heads = [i for i, line in enumerate(lines) if re.match(r"## \S+\t", line)]
comments = "\n".join(lines[:heads[0]]).strip("\n")
sentences = ["\n".join(lines[a:b]).strip("\n") for a, b in zip(heads, [*heads[1:], len(lines)])]
(work / "klue-ner").mkdir(exist_ok=True)
for name, part in (("train", sentences[:4000]), ("dev", sentences[4000:])):
    (work / "klue-ner" / f"klue-ner-v1.1_{name}.tsv").write_text(comments + "\n" + "\n\n".join(part) + "\n",
                                                                 encoding="utf-8")
for task in ("klue-sts", "klue-nli"):
    records = json.loads((klue / f"{task}-v1.1_dev.json").read_text(encoding="utf-8"))
    cut = len(records) * 4 // 5
    (work / task).mkdir(exist_ok=True)
    for name, part in (("train", records[:cut]), ("dev", records[cut:])):
        (work / task / f"{task}-v1.1_{name}.json").write_text(json.dumps(part, ensure_ascii=False), encoding="utf-8")
PYTHON
read -r NER_EPOCHS KSTS_EPOCHS KNLI_EPOCHS <<< "$KLUE_EPOCHS"
klue=(--vocab_file $VOCAB --do_train --do_eval --train_batch_size 32 --learning_rate 1e-4 --device "$DEVICE"
      --precision "$PRECISION" --log_every 20 --max_seq_length 128)
for start_from in pretrained random; do
  if [ $start_from = pretrained ]; then init=(--init_checkpoint "$WORK/pretrain"); else init=(--bert_config_file "$WORK/bert_config.json"); fi
  $PY run_ner.py "${klue[@]}" "${init[@]}" --task_name klue-ner --data_dir "$WORK/klue-ner" \
    --num_train_epochs "$NER_EPOCHS" --output_dir "$WORK/klue-ner_$start_from"
  $PY run_classifier.py "${klue[@]}" "${init[@]}" --task_name klue-sts --data_dir "$WORK/klue-sts" \
    --num_train_epochs "$KSTS_EPOCHS" --output_dir "$WORK/klue-sts_$start_from"
  $PY run_classifier.py "${klue[@]}" "${init[@]}" --task_name klue-nli --data_dir "$WORK/klue-nli" \
    --num_train_epochs "$KNLI_EPOCHS" --output_dir "$WORK/klue-nli_$start_from"
done
fi

$PY - "$WORK" "$start" "$PARTS" <<'PYTHON'
import json, sys, time
work, start, parts = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
from pathlib import Path

def results(path):
    return dict(line.split(" = ") for line in open(path).read().splitlines())

def scores(path):
    return json.load(open(path))

summary = {
    "pretraining_heldout_start": results(f"{work}/eval_start/eval_results.txt"),
    "pretraining_heldout_end": results(f"{work}/pretrain/eval_results.txt"),
}
if "squad" in parts:  # (a WORK folder may hold results of other runs: only what this run did is reported)
    import evaluate_squad
    import run_squad
    strip = run_squad.JosaStripper()
    predictions = json.load(open(f"{work}/squad_pretrained/predictions.json", encoding="utf-8"))
    data = json.load(open(f"{work}/korquad_eval.json", encoding="utf-8"))
    summary["korquad_111_140_pretrained_strip_josa"] = evaluate_squad.evaluate(
        data, {q: strip(a) for q, a in predictions.items()})
for start_from in ("pretrained", "random"):
    if "squad" in parts:
        summary[f"korquad_111_140_{start_from}"] = scores(f"{work}/squad_{start_from}/eval_results.json")
    if "classify" in parts:
        summary[f"korsts_dev_{start_from}"] = scores(f"{work}/korsts_{start_from}/eval_results.json")
        summary[f"kornli_xnli_test_{start_from}"] = scores(f"{work}/kornli_{start_from}/eval_results.json")
    if "klue" in parts:
        for task in ("klue-ner", "klue-sts", "klue-nli"):
            summary[f"{task}_{start_from}"] = scores(f"{work}/{task}_{start_from}/eval_results.json")
summary["minutes"] = round((time.time() - start) / 60, 1)
print(json.dumps(summary, indent=2))
PYTHON
