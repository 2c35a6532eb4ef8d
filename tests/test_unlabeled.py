"""Unlabeled text (pkdlib/unlabeled.py): CE only on labelled rows, KD and patient terms on all; dev/test rows refused
by content; a run with it is another run (its rows enter the identity and the teacher cache), one without it is
unchanged."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from pkdlib.config import ConfigError, RunConfig
from pkdlib.data import DataError, load_data
from pkdlib.losses import Objective
from pkdlib.unlabeled import UNLABELED, load_unlabeled, text_key


def test_ce_is_on_labelled_rows_only_and_an_unlabeled_batch_trains_by_kd():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=g, requires_grad=True)
    teacher = torch.randn(4, 3, generator=g)
    labels = torch.tensor([2, UNLABELED, 0, UNLABELED])
    obj = Objective(alpha=0.5, temperature=2.0, ce_labelled_only=True)
    out = obj(logits, labels, teacher)
    assert torch.allclose(out["ce"], F.cross_entropy(logits[[0, 2]], labels[[0, 2]]))  # mean over labelled rows
    assert torch.allclose(
        out["kd"], Objective(alpha=1.0, temperature=2.0)(logits, torch.zeros(4, dtype=torch.long), teacher)["kd"]
    )  # KD over all four rows
    none = obj(logits, torch.full((4,), UNLABELED), teacher)
    none["loss"].backward()
    assert none["ce"] == 0 and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert str(obj) == "0.5*CE(labelled rows) + 0.5*KD(T=2)"
    plain = Objective(alpha=0.5, temperature=2.0)  # without unlabeled rows: the CE the study always computed
    assert str(plain) == "0.5*CE + 0.5*KD(T=2)"
    ones = torch.tensor([2, 1, 0, 1])
    assert torch.equal(plain(logits, ones, teacher)["ce"], F.cross_entropy(logits.float(), ones))


@pytest.fixture()
def files(tmp_path, tiny_csv):
    df = pd.read_csv(tiny_csv)
    df.to_csv(tmp_path / "train.csv", index=False)
    return tmp_path, df


def _cfg(tmp_path, **kw):
    return RunConfig.from_dict(
        {"task": "mine", "method": "kd", "teacher_dir": str(tmp_path), "train_file": str(tmp_path / "train.csv"), **kw}
    )


def test_dev_and_test_rows_in_the_unlabeled_text_are_refused_by_content(files):
    tmp_path, df = files
    spec, splits = load_data(_cfg(tmp_path))
    test_text = splits["test"].texts[3][0]
    extra = pd.DataFrame({"text": ["a brand new sentence about a film", "  " + test_text.upper() + "  "]})
    extra.to_csv(tmp_path / "unl.csv", index=False)
    with pytest.raises(DataError, match=r"1 rows are rows of the test split\(s\) .*its row 1 is test row"):
        load_unlabeled(str(tmp_path / "unl.csv"), spec, splits)
    extra.iloc[:1].to_csv(tmp_path / "ok.csv", index=False)
    u = load_unlabeled(str(tmp_path / "ok.csv"), spec, splits)
    assert u.labels == [UNLABELED] and u.name == "unlabeled"
    assert text_key(("A  b",)) == text_key(("a b",)) != text_key(("a", "b"))
    with pytest.raises(ConfigError, match="learns from labels only"):
        RunConfig(method="ft", teacher_dir=str(tmp_path), student_layers=2, unlabeled_file=str(tmp_path / "ok.csv"))


def test_plan_refuses_leaking_unlabeled_text_before_any_work(files, tiny_bert):
    from pkdlib.distill import plan

    tmp_path, df = files
    pd.DataFrame({"text": df.text}).to_csv(tmp_path / "all.csv", index=False)  # every row, test rows too
    with pytest.raises(DataError, match="must not learn from the rows it is tested on"):
        plan(
            {"train_file": str(tmp_path / "train.csv")},
            1,
            pretrained=str(tiny_bert),
            out=tmp_path / "out",
            unlabeled=str(tmp_path / "all.csv"),
        )
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_run_with_unlabeled_text_is_another_run_whose_teacher_cache_covers_it(tiny_teacher, tmp_path):
    from pkdlib.identity import identity_config
    from pkdlib.runs import prepare, run

    rec, ws = tiny_teacher
    base = RunConfig(
        task="rt",
        method="kd",
        student_layers=2,
        pretrained=rec["config"]["pretrained"],
        teacher_dir=rec["model_dir"],
        data_dir=rec["config"]["data_dir"],
        epochs=1,
        lr=2e-3,
        batch_size=16,
        device="cpu",
    )
    assert "unlabeled_file" not in identity_config(base)  # a run without it: its identity as before
    from conftest import write_tiny_csv

    unl = pd.read_csv(write_tiny_csv(tmp_path / "more.csv", n=90, seed=7))[["text"]]
    unl.to_csv(tmp_path / "unl.csv", index=False)
    cfg = base.replace(unlabeled_file=str(tmp_path / "unl.csv"))
    quiet = lambda *a, **k: None  # noqa: E731
    a, b = prepare(base, ws, quiet), prepare(cfg, ws, quiet)
    assert a.identity["hash"] != b.identity["hash"] and a.cache_key != b.cache_key
    assert len(b.toks["train"]) == len(a.toks["train"]) + 90 and (b.toks["train"].labels[-90:] == UNLABELED).all()
    assert len(b.toks["train_eval"]) == len(a.toks["train_eval"])  # the training accuracy: labelled rows only
    r = run(cfg, ws, progress=False, log=quiet)
    assert r["data"]["unlabeled"]["n"] == 90 and "CE(labelled rows)" in r["objective"]
    assert r["test"]["test"]["accuracy"] > 0


def test_training_accuracy_counts_labelled_rows_only():
    from pkdlib.train import Meter

    m = Meter(1)
    m.start_epoch()
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    m.update(1, 1, {"loss": torch.tensor(1.0)}, logits, torch.tensor([1, UNLABELED, 0, UNLABELED]), labelled=2)
    assert m.epoch_row(1, 1.0, {"loss": 0}, Objective())["train_acc"] == 1.0  # 2 of 2 labelled, not 2 of 4


def test_a_curve_point_of_unlabeled_rows_only_has_no_training_accuracy():
    """A curve point whose batches held unlabeled rows only (a small table beside much unlabeled text) records
    train_acc None; it used to divide by zero and lose the run."""
    from pkdlib.train import Meter

    m = Meter(2)  # a curve point every step
    m.start_epoch()
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    m.update(1, 1, {"loss": torch.tensor(1.0)}, logits, torch.tensor([1, 0]), labelled=2)
    m.update(2, 1, {"loss": torch.tensor(2.0)}, logits, torch.full((2,), UNLABELED), labelled=0)
    assert [p["train_acc"] for p in m.curve] == [1.0, None]
    assert m.epoch_row(1, 1.0, {"loss": 0}, Objective())["train_acc"] == 1.0
