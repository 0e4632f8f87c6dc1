"""Google's bert README, verbatim: its commands, copied as written (our scripts in place of Google's), on a checkpoint
in Google's layout (uncased_L-2_H-32_A-2: BERT-Base uncased's vocab, TensorFlow's files) and Google's sample_text.txt.
Pretraining data -> pretraining -> SQuAD 1.1 -> SQuAD 2.0 with the threshold rerun -> MRPC train/eval/predict, each
to its outputs, scored by the official scripts (as tests/test_evaluate_squad.py renders them) and by ours alike.

Where the README names a cloud path (gs://...), a TPU (--use_tpu=True) or a corpus we do not ship (train-v1.1.json,
GLUE's MRPC), the test puts a local folder, --use_tpu=False and a small file of the same format in its place."""

import json
import random
import shlex
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA, google_uncased
from test_evaluate_squad import v11_evaluate, v20_main

import create_pretraining_data
import run_classifier
import run_pretraining
import run_squad

pytestmark = pytest.mark.slow

SCRIPTS = {"create_pretraining_data.py": create_pretraining_data, "run_pretraining.py": run_pretraining,
           "run_squad.py": run_squad, "run_classifier.py": run_classifier}

# The commands of Google's README (github.com/google-research/bert, README.md), as printed there.
PRETRAINING_DATA = r"""
python create_pretraining_data.py \
  --input_file=./sample_text.txt \
  --output_file=/tmp/tf_examples.tfrecord \
  --vocab_file=$BERT_BASE_DIR/vocab.txt \
  --do_lower_case=True \
  --max_seq_length=128 \
  --max_predictions_per_seq=20 \
  --masked_lm_prob=0.15 \
  --random_seed=12345 \
  --dupe_factor=5
"""
PRETRAINING = r"""
python run_pretraining.py \
  --input_file=/tmp/tf_examples.tfrecord \
  --output_dir=/tmp/pretraining_output \
  --do_train=True \
  --do_eval=True \
  --bert_config_file=$BERT_BASE_DIR/bert_config.json \
  --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
  --train_batch_size=32 \
  --max_seq_length=128 \
  --max_predictions_per_seq=20 \
  --num_train_steps=20 \
  --num_warmup_steps=10 \
  --learning_rate=2e-5
"""
SQUAD_V1 = r"""
python run_squad.py \
  --vocab_file=$BERT_BASE_DIR/vocab.txt \
  --bert_config_file=$BERT_BASE_DIR/bert_config.json \
  --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
  --do_train=True \
  --train_file=$SQUAD_DIR/train-v1.1.json \
  --do_predict=True \
  --predict_file=$SQUAD_DIR/dev-v1.1.json \
  --train_batch_size=12 \
  --learning_rate=3e-5 \
  --num_train_epochs=2.0 \
  --max_seq_length=384 \
  --doc_stride=128 \
  --output_dir=/tmp/squad_base/
"""
SQUAD_V2 = r"""
python run_squad.py \
  --vocab_file=$BERT_LARGE_DIR/vocab.txt \
  --bert_config_file=$BERT_LARGE_DIR/bert_config.json \
  --init_checkpoint=$BERT_LARGE_DIR/bert_model.ckpt \
  --do_train=True \
  --train_file=$SQUAD_DIR/train-v2.0.json \
  --do_predict=True \
  --predict_file=$SQUAD_DIR/dev-v2.0.json \
  --train_batch_size=24 \
  --learning_rate=3e-5 \
  --num_train_epochs=2.0 \
  --max_seq_length=384 \
  --doc_stride=128 \
  --output_dir=gs://some_bucket/squad_large/ \
  --use_tpu=True \
  --tpu_name=$TPU_NAME \
  --version_2_with_negative=True
"""
SQUAD_V2_THRESHOLD = r"""
python run_squad.py \
  --vocab_file=$BERT_LARGE_DIR/vocab.txt \
  --bert_config_file=$BERT_LARGE_DIR/bert_config.json \
  --init_checkpoint=$BERT_LARGE_DIR/bert_model.ckpt \
  --do_train=False \
  --train_file=$SQUAD_DIR/train-v2.0.json \
  --do_predict=True \
  --predict_file=$SQUAD_DIR/dev-v2.0.json \
  --train_batch_size=24 \
  --learning_rate=3e-5 \
  --num_train_epochs=2.0 \
  --max_seq_length=384 \
  --doc_stride=128 \
  --output_dir=gs://some_bucket/squad_large/ \
  --use_tpu=True \
  --tpu_name=$TPU_NAME \
  --version_2_with_negative=True \
  --null_score_diff_threshold=$THRESH
"""
MRPC = r"""
python run_classifier.py \
  --task_name=MRPC \
  --do_train=true \
  --do_eval=true \
  --data_dir=$GLUE_DIR/MRPC \
  --vocab_file=$BERT_BASE_DIR/vocab.txt \
  --bert_config_file=$BERT_BASE_DIR/bert_config.json \
  --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
  --max_seq_length=128 \
  --train_batch_size=32 \
  --learning_rate=2e-5 \
  --num_train_epochs=3.0 \
  --output_dir=/tmp/mrpc_output/
"""
MRPC_PREDICT = r"""
python run_classifier.py \
  --task_name=MRPC \
  --do_predict=true \
  --data_dir=$GLUE_DIR/MRPC \
  --vocab_file=$BERT_BASE_DIR/vocab.txt \
  --bert_config_file=$BERT_BASE_DIR/bert_config.json \
  --init_checkpoint=$TRAINED_CLASSIFIER \
  --max_seq_length=128 \
  --output_dir=/tmp/mrpc_output/
"""


class Readme:
    """Runs README commands with the environment's variables and the test's folders in place of /tmp and gs://."""

    def __init__(self, tmp_path, **variables):
        self.tmp_path, self.variables = tmp_path, variables

    def run(self, command: str, **more) -> str:
        """Runs one command; returns its output (stdout and stderr). Fails the test on a non-zero exit."""
        text = command.replace("--use_tpu=True", "--use_tpu=False")  # there is no TPU here (one line says so)
        text = text.replace("/tmp/", f"{self.tmp_path}/").replace("gs://some_bucket/", f"{self.tmp_path}/")
        for name, value in sorted({**self.variables, **more}.items(), key=lambda item: -len(item[0])):
            text = text.replace(f"${name}", str(value))
        words = shlex.split(text.replace("\\\n", " "))  # the shell joins continued lines
        assert words[0] == "python"
        result = CliRunner().invoke(SCRIPTS[words[1]].main, words[2:])
        assert result.exit_code == 0, f"{text}\n{result.output}"
        return result.output


def squad_subset(version: str, paragraphs: int, impossible: bool) -> dict:
    """The first paragraphs of SQuAD 1.1 dev, as a file of `version`; with `impossible`, every paragraph also gets
    the questions of the next one, unanswerable there (SQuAD 2.0's is_impossible)."""
    path = SHARED_DATA / "squad" / "dev-v1.1.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    chosen = [p for article in json.loads(path.read_text(encoding="utf-8"))["data"][:2]
              for p in article["paragraphs"]][:paragraphs]
    out = []
    for index, paragraph in enumerate(chosen):
        qas = [{**qa, "answers": qa["answers"][:1] if impossible else qa["answers"], "is_impossible": False}
               for qa in paragraph["qas"][:4]]
        if impossible:
            other = chosen[(index + 1) % len(chosen)]
            qas += [{"id": f"{qa['id']}-none-{index}", "question": qa["question"], "answers": [],
                     "is_impossible": True} for qa in other["qas"][:2]]
        out.append({"context": paragraph["context"], "qas": qas})
    return {"version": version, "data": [{"title": "subset", "paragraphs": out}]}


def mrpc_folder(folder):
    """GLUE's MRPC layout: train.tsv and dev.tsv with Quality, test.tsv with an index column."""
    rng = random.Random(3)
    words = ["the", "a", "man", "woman", "dog", "cat", "sat", "ran", "on", "in", "park", "house", "said", "today"]
    header = ("#1 ID", "#2 ID", "#1 String", "#2 String")

    def pair():
        first = " ".join(rng.choices(words, k=rng.randint(4, 9)))
        return first, first if rng.random() < 0.5 else " ".join(rng.choices(words, k=rng.randint(4, 9)))

    folder.mkdir(parents=True)
    for name, count, first in (("train.tsv", 48, "Quality"), ("dev.tsv", 16, "Quality"), ("test.tsv", 10, "index")):
        rows = []
        for i in range(count):
            a, b = pair()
            rows.append("\t".join((str(i) if first == "index" else str(int(a == b)), str(2 * i), str(2 * i + 1), a, b)))
        (folder / name).write_text("\t".join((first, *header)) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_googles_readme_commands_run_as_written(tmp_path):
    google = google_uncased()
    if not (google / "bert_model.ckpt.index").is_file():
        pytest.skip(f"{google}: no TensorFlow checkpoint")
    squad_dir, glue_dir = tmp_path / "squad", tmp_path / "glue"
    squad_dir.mkdir()
    v1, v2 = squad_subset("1.1", 3, False), squad_subset("v2.0", 3, True)
    for name, data in (("train-v1.1.json", v1), ("dev-v1.1.json", v1), ("train-v2.0.json", v2),
                       ("dev-v2.0.json", v2)):
        (squad_dir / name).write_text(json.dumps(data), encoding="utf-8")
    mrpc_folder(glue_dir / "MRPC")
    shutil.copy(SHARED_DATA / "google" / "sample_text.txt", tmp_path / "sample_text.txt")
    readme = Readme(tmp_path, BERT_BASE_DIR=google, BERT_LARGE_DIR=google, SQUAD_DIR=squad_dir, GLUE_DIR=glue_dir,
                    TPU_NAME="my-tpu")

    # Pretraining data, then pretraining from Google's checkpoint: Google's WordPiece, said and recorded.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)  # --input_file=./sample_text.txt
        output = readme.run(PRETRAINING_DATA)
    assert "tokenizer: wordpiece (Google's: --vocab_file" in output
    manifest = json.loads((tmp_path / "tf_examples.tfrecord" / "manifest.json").read_text())
    assert manifest["tokenizer"] == {"tokenizer": "wordpiece", "do_lower_case": True}
    output = readme.run(PRETRAINING)
    results = (tmp_path / "pretraining_output" / "eval_results.txt").read_text()
    assert "global_step = 20" in results and "masked_lm_accuracy" in results, output

    # SQuAD 1.1: predictions.json scored by the official evaluate-v1.1.py equals what run_squad reports.
    output = readme.run(SQUAD_V1)
    assert "tokenizer: wordpiece (Google's: --init_checkpoint" in output
    predictions = json.loads((tmp_path / "squad_base" / "predictions.json").read_text())
    official = v11_evaluate(v1["data"], predictions)
    ours = json.loads((tmp_path / "squad_base" / "eval_results.json").read_text())
    assert (ours["exact_match"], ours["f1"]) == pytest.approx((official["exact_match"], official["f1"]))

    # SQuAD 2.0: the best threshold from null_odds.json, then the rerun at it, each score the official one of the
    # predictions.json just written.
    readme.run(SQUAD_V2)
    out = tmp_path / "squad_large"
    predictions = json.loads((out / "predictions.json").read_text())
    null_odds = json.loads((out / "null_odds.json").read_text())
    official = v20_main(v2["data"], predictions, null_odds)
    reported = json.loads((out / "eval_results.json").read_text())
    assert reported["null_odds_best_f1_thresh"] == pytest.approx(official["best_f1_thresh"])
    threshold = official["best_f1_thresh"] + 1.5  # above 1.0: where a score at evaluate-v2.0's 1.0 would differ
    output = readme.run(SQUAD_V2_THRESHOLD, THRESH=threshold)
    predictions = json.loads((out / "predictions.json").read_text())
    official = v20_main(v2["data"], predictions)
    reported = json.loads((out / "eval_results.json").read_text())
    assert (reported["exact"], reported["f1"]) == pytest.approx((official["exact"], official["f1"])), output

    # MRPC: train and evaluate, then predict from the trained classifier.
    output = readme.run(MRPC)
    evaluated = json.loads((tmp_path / "mrpc_output" / "eval_results.json").read_text())
    assert 0 <= evaluated["eval_accuracy"] <= 1 and evaluated["global_step"] == 5, output  # ceil(48 * 3.0 / 32)
    readme.run(MRPC_PREDICT, TRAINED_CLASSIFIER=tmp_path / "mrpc_output")
    rows = np.loadtxt(tmp_path / "mrpc_output" / "test_results.tsv", delimiter="\t", ndmin=2)
    assert rows.shape == (10, 2)
    np.testing.assert_allclose(rows.sum(-1), 1, atol=1e-5)
