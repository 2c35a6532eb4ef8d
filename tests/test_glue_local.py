"""GLUE through `datasets`, on GLUE-shaped files made here (no network): sentence pairs, F1 for MRPC,
MNLI's matched and mismatched splits, GLUE-submission prediction files, the offline error."""

import csv
import random
import time

import pytest
from conftest import make_review

from pkdlib import RunConfig
from pkdlib.data import DataError, load_task
from pkdlib.runs import run

QUIET = dict(progress=False, log=lambda *a: None)


def write_glue(d, task, splits, n=64, seed=0):
    rng = random.Random(seed)
    d.mkdir(parents=True, exist_ok=True)
    cols = {"mrpc": ("sentence1", "sentence2"), "mnli": ("premise", "hypothesis")}[task]
    n_labels = 3 if task == "mnli" else 2
    for split in splits:
        with open(d / f"{split}.tsv", "w", newline="") as f:
            w = csv.writer(f, delimiter="\t")
            w.writerow([*cols, "label", "idx"])
            for i in range(n):
                y = i % n_labels
                label = -1 if split.startswith("test") else y
                w.writerow([make_review(rng, y % 2), make_review(rng, y // 2), label, i])
    return d


def test_mrpc_pairs_f1_and_predictions(tmp_path, tiny_bert, ws):
    d = write_glue(tmp_path / "mrpc", "mrpc", ["train", "validation", "test"])
    train = load_task("mrpc", "train", d)
    assert len(train) == 64 and len(train.texts[0]) == 2 and set(train.labels) == {0, 1}
    assert set(load_task("mrpc", "test", d).labels) == {-1}
    rec = run(
        RunConfig(
            task="mrpc",
            method="teacher",
            pretrained=str(tiny_bert),
            data_dir=str(d),
            epochs=1,
            lr=1e-3,
            batch_size=16,
            device="cpu",
        ),
        ws,
        **QUIET,
    )
    assert set(rec["dev"]["dev"]) == {"accuracy", "f1", "n"} and rec["selection_metric"] == "dev/f1"
    assert rec["test"]["test"] == {}  # hidden labels: no metric, predictions only
    lines = (ws.results / "predictions" / rec["run_id"] / "MRPC.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 65 and lines[1].split("\t")[1] in ("0", "1")


def test_mnli_matched_and_mismatched(tmp_path, tiny_bert, ws):
    d = write_glue(
        tmp_path / "mnli",
        "mnli",
        ["train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"],
        n=60,
    )
    rec = run(
        RunConfig(
            task="mnli",
            method="teacher",
            pretrained=str(tiny_bert),
            data_dir=str(d),
            epochs=1,
            lr=1e-3,
            batch_size=16,
            device="cpu",
        ),
        ws,
        **QUIET,
    )
    assert set(rec["dev"]) == {"dev_matched", "dev_mismatched"}
    preds = ws.results / "predictions" / rec["run_id"]
    assert (preds / "MNLI-m.tsv").is_file() and (preds / "MNLI-mm.tsv").is_file()
    labels = {l.split("\t")[1] for l in (preds / "MNLI-m.tsv").read_text().splitlines()[1:]}  # noqa: E741
    assert labels <= {"entailment", "neutral", "contradiction"}


def test_glue_file_errors(tmp_path):
    with pytest.raises(DataError, match="no file validation"):
        load_task("mrpc", "dev", tmp_path)
    d = tmp_path / "bad"
    d.mkdir()
    (d / "train.tsv").write_text("sentence1\tlabel\nhello\t1\n")
    with pytest.raises(DataError, match=r"lacks columns \['sentence2'\]"):
        load_task("mrpc", "train", d)
    (d / "train.tsv").write_text("sentence1\tsentence2\tlabel\nhello\tworld\t5\n")
    with pytest.raises(DataError, match="labels outside"):
        load_task("mrpc", "train", d)
    with pytest.raises(DataError, match="has splits"):
        load_task("mrpc", "dev_matched", d)


def test_glue_offline_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty-cache")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    t = time.time()
    with pytest.raises(DataError, match="GLUE task 'rte' is not available offline"):
        load_task("rte", "train")
    assert time.time() - t < 30
