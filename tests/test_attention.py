"""Attention transfer (TinyBERT's AT term), added as the registry's worked example: its formula on hand-computed
tensors, its layers on a tiny BERT run online, a tiny end-to-end run whose record has the term's share, and the
study's report (Table 4) on that record."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import torch
from conftest import ROOT
from test_train import QUIET, student_cfg

from pkdlib import Objective, RunConfig, pkd_skip
from pkdlib.terms import Outputs, attention_loss

# attention probabilities (batch 2, 1 matched layer, 1 head, 2 tokens, 2 tokens), query x key; example 1 has one
# real token (mask [1, 0]): its padded key (column 1) and padded query (row 1) are left out
S = torch.tensor([[[[[0.5, 0.5], [0.25, 0.75]]]], [[[[0.6, 0.4], [0.3, 0.7]]]]])
T = torch.tensor([[[[[1.0, 0.0], [0.5, 0.5]]]], [[[[1.0, 0.0], [0.9, 0.1]]]]])
MASK = torch.tensor([[1, 1], [1, 0]])
# example 0: (.5)^2 + (.5)^2 + (.25)^2 + (.25)^2 = .625 over 4 pairs; example 1: (.6 - 1)^2 = .16 over 1 pair;
# mean over the 5 real (query, key) pairs x 1 layer x 1 head = .785 / 5
AT_GOLDEN = 0.157


def test_attention_loss_golden():
    assert attention_loss(S, T, MASK).item() == pytest.approx(AT_GOLDEN, rel=1e-6)
    assert attention_loss(S, S, MASK).item() == 0.0
    # every entry, padding included, would give (.625 + .16 + .16 + .36 + .36) / 8: not what AT is
    assert ((S - T) ** 2).mean().item() != pytest.approx(AT_GOLDEN, rel=1e-3)


def test_attention_loss_is_a_mean_over_layers_and_heads_and_ignores_padding():
    s2, t2 = S.repeat(1, 2, 3, 1, 1), T.repeat(1, 2, 3, 1, 1)  # 2 layers x 3 heads of the same maps
    assert attention_loss(s2, t2, MASK).item() == pytest.approx(AT_GOLDEN, rel=1e-6)
    moved = S.clone()
    moved[1, :, :, 1, :] = 0.0  # the padded query's row
    moved[1, :, :, 0, 1] = 0.9  # the padded key's column
    assert attention_loss(moved, T, MASK).item() == pytest.approx(AT_GOLDEN, rel=1e-6)
    assert attention_loss(torch.zeros(2, 0, 1, 2, 2), torch.zeros(2, 0, 1, 2, 2), MASK).item() == 0.0
    with pytest.raises(ValueError, match="the same heads are needed"):
        attention_loss(S, T.repeat(1, 1, 2, 1, 1), MASK)
    grad = S.clone().requires_grad_()
    target = T.clone().requires_grad_()
    attention_loss(grad, target, MASK).backward()
    assert grad.grad.abs().sum() > 0 and target.grad is None  # the teacher's maps are targets


def test_the_objective_with_attention_transfer_golden_and_printable():
    obj = Objective(alpha=0.5, temperature=2.0, gamma=10.0, layer_map=pkd_skip(6, 3))
    logits, t_logits, labels = (
        torch.tensor([[1.0, 2.0], [0.0, 1.0]]),
        torch.tensor([[2.0, 0.0], [1.0, 1.0]]),
        torch.tensor([1, 0]),
    )
    parts = obj.parts(
        Outputs(logits, attentions=S), Outputs(t_logits, attentions=T), {"labels": labels, "attention_mask": MASK}
    )
    ce = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2  # -log softmax(1, 2)[1], -log softmax(0, 1)[0]
    kd = 0.5766659364541055  # tests/test_losses.py's golden KD of these logits at T=2
    assert parts["at"].item() == pytest.approx(AT_GOLDEN, rel=1e-6) and "pt" not in parts
    assert parts["loss"].item() == pytest.approx(0.5 * ce + 0.5 * kd + 10 * AT_GOLDEN, rel=1e-6)
    assert str(obj) == "0.5*CE + 0.5*KD(T=2) + 10*AT(pkd_skip(6, 3) -> [2, 4])"
    assert obj.need("teacher").layers == (2, 4) and obj.need("student").layers == (1, 2)
    assert obj.need("teacher").attentions and not obj.need("teacher").states


def test_at_matches_student_layers_to_the_teachers_mapped_layers_online(tiny_bert):
    """Student layer j's attention (``attentions[j-1]``) against the teacher's layer ``layer_map[j-1]``, the teacher
    run online; a model whose attention gives no maps (sdpa) is named, and switched to eager. The student's layer 1
    is the teacher's own layer 1 (both from the same pre-trained weights): matched to layer 1 the term would be 0."""
    from pkdlib.losses import compute_loss
    from pkdlib.models import build_student, eager_attention, load_classifier
    from pkdlib.teachers import OnlineTeacher

    torch.manual_seed(0)
    teacher = load_classifier(str(tiny_bert), 2).eval()
    student = build_student(str(tiny_bert), 2, 2).eval()
    batch = {
        "input_ids": torch.randint(5, 30, (3, 7)),
        "token_type_ids": torch.zeros(3, 7, dtype=torch.long),
        "attention_mask": torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]),
        "labels": torch.tensor([0, 1, 1]),
        "index": torch.tensor([0, 1, 2]),
    }
    obj = Objective(alpha=0.5, temperature=2.0, gamma=1.0, layer_map=pkd_skip(4, 2))
    with pytest.raises(ValueError, match="no attention maps.*eager_attention"):
        compute_loss(student, batch, obj, OnlineTeacher(teacher))
    eager_attention(student)
    _, parts = compute_loss(student, batch, obj, OnlineTeacher(teacher))
    kw = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    s_att = student(**kw, output_attentions=True).attentions
    t_att = teacher(**kw, output_attentions=True).attentions
    mask = batch["attention_mask"]
    assert list(pkd_skip(4, 2)) == [2] and set(parts) == {"ce", "kd", "at", "loss"}
    assert torch.allclose(parts["at"], attention_loss(s_att[0][:, None], t_att[1][:, None], mask)) and parts["at"] > 0
    assert attention_loss(s_att[0][:, None], t_att[0][:, None], mask).item() == pytest.approx(0.0, abs=1e-12)


def test_the_at_method_configuration():
    from pkdlib import ConfigError
    from pkdlib.identity import identity_config
    from pkdlib.methods import METHODS

    at = RunConfig(method="at", teacher_dir="t")
    assert METHODS["at"].teacher == "online" and at.gamma == 1.0 and (at.beta, at.normalize) == (0.0, False)
    with pytest.raises(ConfigError, match=r"method 'at' with gamma=0 is plain KD; use method='kd' or set gamma > 0"):
        RunConfig(method="at", teacher_dir="t", gamma=0.0)
    kd = RunConfig(method="kd", teacher_dir="t", gamma=5.0)  # a method without AT records gamma's default
    assert kd.gamma == 1.0 and "gamma" not in identity_config(kd)
    assert identity_config(at.replace(gamma=2.0))["gamma"] == 2.0


def _with_teacher(root, tiny_teacher):
    """A workspace under root holding the session's tiny teacher's record."""
    from pkdlib.paths import Workspace

    rec, teacher_ws = tiny_teacher
    ws = Workspace(root / "results", root / "work")
    ws.check_writable()  # pkd makes (and marks) its folders before a record is copied in
    ws.records.mkdir(parents=True, exist_ok=True)
    shutil.copy(teacher_ws.records / f"{rec['run_id']}.json", ws.records)
    return ws


@pytest.fixture(scope="module")
def at_runs(tiny_bert, tiny_csv, tiny_teacher, tmp_path_factory):
    """A tiny teacher (the session's), and a kd and an at student of it, 1 epoch each, in one results folder."""
    from pkdlib.runs import run

    rec, ws = tiny_teacher[0], _with_teacher(tmp_path_factory.mktemp("at"), tiny_teacher)
    runs = {
        m: run(student_cfg(tiny_bert, tiny_csv, rec, method=m, epochs=1, gamma=5.0), ws, **QUIET) for m in ("kd", "at")
    }
    return {"teacher": rec, **runs}, ws


def test_a_tiny_at_run_records_the_terms_share(at_runs):
    runs, _ = at_runs
    rec = runs["at"]
    assert rec["objective"] == "0.5*CE + 0.5*KD(T=10) + 5*AT(pkd_skip(4, 2) -> [2])" and rec["layer_map"] == [2]
    e = rec["epochs"][0]
    assert e["train_at"] > 0 and "train_pt" not in e
    assert e["train_loss"] == pytest.approx(0.5 * e["train_ce"] + 0.5 * e["train_kd"] + 5 * e["train_at"], rel=1e-5)
    assert set(e["loss_share"]) == set(e["grad_share"]) == {"ce", "kd", "at"}
    assert sum(e["loss_share"].values()) == pytest.approx(1.0) and e["loss_share"]["at"] > 0
    assert e["grad_norm"]["at"] > 0
    assert rec["provenance"]["teacher_cache_key"] is None  # the online teacher: no cache
    assert rec["config"]["gamma"] == 5.0 and rec["identity"]["config"]["gamma"] == 5.0


def test_pkd_report_shows_the_at_term_in_table_4(at_runs, capsys):
    """``pkd report`` on a study of these runs (a manifest listing them): Table 4 has AT's columns, a dash for KD."""
    from pkdstudy.cli import main
    from pkdstudy.report import hparams_label

    runs, ws = at_runs
    manifest = json.loads((ROOT / "results" / "manifest-recipe.json").read_text())
    manifest.update(
        profile="at-example",
        description="attention transfer",
        records=[r["run_id"] for r in runs.values()],
        status="complete",
        arms={},
        confirmatory=[],
    )
    manifest.pop("speed", None)
    (ws.results / "manifest-at-example.json").write_text(json.dumps(manifest))
    assert main(["report", "--profile", "at-example", "--results", str(ws.results)]) == 0
    t4 = pd.read_csv(ws.results / "tables" / "at-example" / "table4_terms.csv").set_index("method")
    assert t4.loc["KD+AT", "AT loss (%)"] > 0 and t4.loc["KD+AT", "AT grad (%)"] > 0
    assert pd.isna(t4.loc["KD", "AT loss (%)"])  # a term the method lacks: a dash
    assert "PT loss (%)" not in t4  # no method of this study has the patient loss
    summary = (ws.results / "tables" / "at-example" / "summary.md").read_text()
    assert "## Table 4: what each term does" in summary and "AT loss (%)" in summary and "KD+AT" in summary
    assert hparams_label(runs["at"]["config"]) == "lr 1e-03, 1 ep, T 10, alpha 0.5, gamma 5"


def test_at_with_a_negligible_gamma_trains_as_kd_does(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    """The at arm differs from its kd pair by more than the term: an online teacher instead of the cache, and eager
    attention in the student (to read its maps) instead of SDPA. With gamma near 0 the two train alike (same init,
    data order and dropout masks, dropout on): the same CE and KD to float rounding, so a paired difference measures
    the term, not the path."""
    from pkdlib.runs import run

    rec, ws = tiny_teacher[0], _with_teacher(tmp_path, tiny_teacher)
    kd, at = (
        run(student_cfg(tiny_bert, tiny_csv, rec, method=m, epochs=1, gamma=1e-9), ws, **QUIET) for m in ("kd", "at")
    )
    a, b = kd["epochs"][0], at["epochs"][0]
    assert b["train_at"] > 0 and at["provenance"]["teacher_cache_key"] is None and kd["provenance"]["teacher_cache_key"]
    assert (b["train_ce"], b["train_kd"]) == pytest.approx((a["train_ce"], a["train_kd"]), abs=1e-6)
    other = run(student_cfg(tiny_bert, tiny_csv, rec, method="kd", epochs=1, seed=1), ws, **QUIET)["epochs"][0]
    assert other["train_ce"] != pytest.approx(a["train_ce"], abs=1e-6)  # another seed's masks and order: it can fail


def test_a_layer_map_that_does_not_fit_the_student_or_the_teacher_is_named(tiny_bert):
    """compute_loss is public: a map made for another student size, or reaching past the teacher's (online or
    cached) layers, is named with what fits, instead of an IndexError or a silently shorter match."""
    from pkdlib.cache import CachedTeacher
    from pkdlib.losses import compute_loss
    from pkdlib.models import build_student, load_classifier
    from pkdlib.teachers import OnlineTeacher

    torch.manual_seed(0)
    student = build_student(str(tiny_bert), 2, 2).eval()  # 2 layers: a map of one teacher layer fits it
    teacher = OnlineTeacher(load_classifier(str(tiny_bert), 2).eval())  # 4 layers
    batch = {
        "input_ids": torch.randint(5, 30, (3, 7)),
        "token_type_ids": torch.zeros(3, 7, dtype=torch.long),
        "attention_mask": torch.ones(3, 7, dtype=torch.long),
        "labels": torch.tensor([0, 1, 1]),
        "index": torch.tensor([0, 1, 2]),
    }
    with pytest.raises(
        ValueError, match=r"map \[2, 4\] matches 2 student layers, the student has 2 .*pkd_skip\(N, 2\)"
    ):
        compute_loss(student, batch, Objective(alpha=0.5, beta=1.0, layer_map=pkd_skip(6, 3)), teacher)
    with pytest.raises(ValueError, match=r"map \[\] matches 0 student layers, the student has 2"):  # a 1-layer map
        compute_loss(student, batch, Objective(alpha=0.5, beta=1.0, layer_map=pkd_skip(6, 1)), teacher)
    past = Objective(alpha=0.5, beta=1.0, layer_map=pkd_skip(12, 2))  # teacher layer 6 of 4
    with pytest.raises(ValueError, match=r"reads layers \[6\] of the teacher, which has 4 layers"):
        compute_loss(student, batch, past, teacher)
    cached = CachedTeacher(torch.zeros(3, 2), torch.zeros(5, 3, 32), torch.zeros(5, 3, 32))
    with pytest.raises(ValueError, match=r"reads layers \[6\] of the cached teacher, which has 4 layers"):
        compute_loss(student, batch, past, cached)
    assert compute_loss(student, batch, Objective(alpha=0.5, beta=1.0, layer_map=pkd_skip(4, 2)), cached)[1]["pt"] >= 0
