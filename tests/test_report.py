"""Report logic on hand-made run tables: choosing hyper-parameters on dev, the paper's numbers beside GLUE cells."""

import numpy as np
import pandas as pd
import pytest

from pkdstudy.report import hparams_label, select_on_dev, table1


def _runs(rows):
    cols = ["task", "method", "layers", "seed", "hparams", "dev", "test"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_hparams_label_names_only_what_the_method_uses():
    c = {"method": "ft", "lr": 2e-4, "epochs": 1, "temperature": 1.0, "alpha": 0.0, "beta": 0.0, "normalize": False}
    assert hparams_label(c) == "lr 2e-04, 1 ep"
    c.update(method="pkd-skip", temperature=10.0, alpha=0.5, beta=100.0, normalize=True)
    assert hparams_label(c) == "lr 2e-04, 1 ep, T 10, alpha 0.5, beta 100, normalised"
    c["method"] = "kd"
    assert hparams_label(c) == "lr 2e-04, 1 ep, T 10, alpha 0.5"
    assert hparams_label({**c, "precision": "bf16"}) == "lr 2e-04, 1 ep, T 10, alpha 0.5, bf16"


def test_select_on_dev_keeps_the_best_dev_setting_and_never_looks_at_test():
    df = _runs(
        [
            ("rt", "kd", 3, 0, "A", 0.70, 0.99),  # best test, worse dev: must not be chosen
            ("rt", "kd", 3, 1, "A", 0.72, 0.99),
            ("rt", "kd", 3, 0, "B", 0.75, 0.60),
            ("rt", "kd", 3, 1, "B", 0.73, 0.60),
            ("rt", "ft", 3, 0, "C", 0.60, 0.60),  # a cell with one setting
            ("rt", "teacher", 6, 0, "T", 0.80, 0.80),
        ]
    )
    kept, search = select_on_dev(df)
    assert sorted(kept[kept.method == "kd"].hparams) == ["B", "B"]
    assert len(kept[kept.method == "ft"]) == 1 and len(kept[kept.method == "teacher"]) == 1
    row = search[(search.method == "kd") & search.chosen].iloc[0]
    assert row.hparams == "B" and row.dev == pytest.approx(74.0) and row.n_seeds == 2
    assert search.chosen.sum() == 3  # one chosen setting per (task, method, layers)


def test_select_on_dev_is_the_identity_without_a_search():
    df = _runs([("rt", "kd", 3, s, "A", 0.7 + s / 100, 0.7) for s in range(3)])
    kept, search = select_on_dev(df)
    assert search is None and kept.equals(df)


def test_table1_puts_the_papers_glue_numbers_beside_each_task():
    df = _runs(
        [
            ("sst2", "teacher", 12, 0, "T", 0.93, np.nan),
            ("sst2", "pkd-skip", 6, 0, "P", 0.91, np.nan),
            ("sst2", "pkd-skip", 6, 1, "P", 0.92, np.nan),
            ("mrpc", "kd", 3, 0, "K", 0.80, np.nan),
        ]
    )
    t = table1(df, "dev")
    assert list(t.columns) == ["layers", "mrpc", "mrpc paper (test)", "sst2", "sst2 paper (test)"]
    assert t.loc["BERT12-teacher", "sst2 paper (test)"] == "93.5"
    assert t.loc["student6-PKD-Skip", "sst2"] == "91.5 ± 0.7 (N=2)"
    assert t.loc["student6-PKD-Skip", "sst2 paper (test)"] == "92.0"
    assert t.loc["student3-KD", "mrpc paper (test)"] == "79.5/71.1"  # F1/accuracy


def test_table1_has_no_paper_columns_for_the_embedded_task():
    df = _runs([("rt", "teacher", 6, 0, "T", 0.83, 0.84), ("rt", "kd", 3, 0, "K", 0.77, 0.78)])
    assert list(table1(df, "test").columns) == ["layers", "rt"]


def test_table_terms_gives_each_terms_share_and_a_dash_for_terms_a_method_lacks():
    from pkdstudy.report import table_terms

    rows = []
    for seed, (kd, pt) in enumerate([(0.40, 0.10), (0.50, 0.20)]):
        rows.append(
            {
                "task": "rt",
                "layers": 3,
                "method": "pkd-skip",
                "seed": seed,
                "ce_loss_share": 1 - kd - pt,
                "kd_loss_share": kd,
                "pt_loss_share": pt,
                "ce_grad_share": 0.5,
                "kd_grad_share": 0.45,
                "pt_grad_share": 0.05,
            }
        )
        rows.append(
            {
                "task": "rt",
                "layers": 3,
                "method": "ft",
                "seed": seed,
                "ce_loss_share": 1.0,
                "kd_loss_share": 0.0,
                "pt_loss_share": 0.0,
                "ce_grad_share": 1.0,
                "kd_grad_share": 0.0,
                "pt_grad_share": 0.0,
            }
        )
    t = table_terms(pd.DataFrame(rows))
    pkd, ft = t.loc[("rt", 3, "PKD-Skip")], t.loc[("rt", 3, "FT")]
    assert (
        pkd["PT loss (%)"] == "15.0 ± 7.1"
        and pkd["KD loss (%)"] == "45.0 ± 7.1"
        and pkd["CE loss (%)"] == "40.0 ± 14.1"
    )
    assert pkd["PT grad (%)"] == "5.0 ± 0.0" and pkd["N"] == 2
    assert ft["CE loss (%)"] == "100.0 ± 0.0" and pd.isna(ft["KD loss (%)"]) and pd.isna(ft["PT grad (%)"])


def test_an_unfinished_study_is_labelled_interim_and_a_finished_one_is_not():
    from pkdstudy.report import _headings, progress

    items = [{"kind": "teacher"}, *[{"kind": "student"}] * 4, {"kind": "speedup"}, {"kind": "report"}]
    running = {"status": "running", "records": ["t", "s1", "s2"], "items": items}
    assert progress(running) == {"status": "running", "finished": 3, "planned": 5}
    note, title = _headings(running)
    assert note.startswith("**Interim, not the finished study**: 3 of 5 runs") and title == "INTERIM (3 of 5 runs). "
    assert progress({**running, "status": "complete"}) is None
    assert progress({**running, "status": "report pending"}) is None  # the study's own report: every run is done
    assert _headings({**running, "status": "complete"}) == ("", "")
    assert _headings({**running, "status": "complete", "smoke_test": True})[1] == "SMOKE TEST, not results. "


def test_an_interim_study_gives_no_verdict():
    """Reading the verdict rule at every interim report would be optional stopping: no row or sentence of a study
    committed part-way says held, reversed or equivalent; each gives its Holm p so far."""
    from pkdstudy.claims import claims
    from pkdstudy.report import _interim

    rng = np.random.default_rng(0)
    rows = [
        {
            "run_id": f"{m}-{s}",
            "task": "rt",
            "method": m,
            "layers": 3,
            "seed": s,
            "teacher": "t0",
            "test": 0.80 + (0.02 if m == "pkd-skip" else 0) + rng.normal(0, 0.002),
        }
        for s in range(8)
        for m in ("kd", "pkd-skip")
    ] + [{"run_id": "t", "task": "rt", "method": "teacher", "layers": 6, "seed": 0, "teacher": "", "test": 0.84}]
    ct, sentences = claims(pd.DataFrame(rows), "test")
    held = ct[ct.claim.str.startswith("1b.")].iloc[0]
    assert held.verdict.startswith("held on this test set")  # the finished study's verdict
    prog = {"status": "running", "finished": 17, "planned": 36}
    t, s = _interim(ct, sentences, prog, "test")
    row = t[t.claim.str.startswith("1b.")].iloc[0]
    from pkdstudy.claims import fmt_p  # "p < 0.001" where three decimals would print 0.000

    assert row.verdict == (
        f"no verdict until the study is complete (so far: Holm {fmt_p(held.p_holm)}, TOST Holm {fmt_p(held.tost_holm)})"
    )
    assert all(x.startswith("INTERIM (17 of 36 runs) ") for x in s) and len(s) == len(sentences)
    assert not [x for x in s if "held" in x or "equivalent within" in x or "reversed" in x]
    assert _interim(ct, sentences, None, "test") == (ct, sentences)  # a finished study: unchanged


def test_arms_table_sets_each_arm_beside_the_recipes_runs_of_its_seeds_and_counts_runs_still_improving():
    from pkdstudy.report import table_arms

    def run(method, seed, epochs, best, test, arm="", pt=np.nan):
        return {
            "task": "rt",
            "layers": 3,
            "method": method,
            "seed": seed,
            "teacher": "t0",
            "epochs": epochs,
            "best_epoch": best,
            "dev": test,
            "test": test,
            "pt_grad_share": pt,
            "arm": arm,
        }

    main = pd.DataFrame([run("kd", 0, 4, 4, 0.80), run("kd", 1, 4, 3, 0.81), run("kd", 9, 4, 4, 0.70)])
    arms = pd.DataFrame([run("kd", 0, 8, 8, 0.82, "8 epochs"), run("kd", 1, 8, 5, 0.83, "8 epochs")])
    t = table_arms(main, arms, "test").reset_index()
    recipe, arm = (t[t.arm == a].iloc[0] for a in ("recipe", "8 epochs"))
    assert recipe["test"] == "80.5 ± 0.7 (N=2)"  # seed 9: not a seed the arm ran
    assert (recipe["best epoch"], recipe["best = last"]) == ("3.5 of 4", "1 of 2")
    assert (arm["best epoch"], arm["best = last"]) == ("6.5 of 8", "1 of 2")
    assert arm["PT grad (%)"] == "–"


def test_runs_known_at_declaration_come_from_the_profile_and_a_bad_declaration_is_refused(monkeypatch, tmp_path):
    from pkdstudy.plan import StudyError, plan
    from pkdstudy.profiles import PROFILES
    from pkdstudy.report import known_at_declaration

    rows = [
        {"run_id": "t0", "method": "teacher", "seed": 0, "teacher": "t0", "arm": ""},
        {"run_id": "t1", "method": "teacher", "seed": 1, "teacher": "t1", "arm": ""},
    ]
    rows += [
        {"run_id": f"{m}-{t}-{s}", "method": m, "seed": s, "teacher": t, "arm": arm}
        for m in ("kd", "pkd-skip", "ft")
        for t in ("t0", "t1")
        for s in (0, 1, 9)
        for arm in ("", "8 epochs")
    ]
    got = known_at_declaration("verdicts", pd.DataFrame(rows))  # kd, pkd-skip, pkd-mean of teacher 0, seeds 0-7
    assert got == {"kd-t0-0", "kd-t0-1", "pkd-skip-t0-0", "pkd-skip-t0-1"}  # the arm's runs are new runs
    assert known_at_declaration("full", pd.DataFrame(rows)) == frozenset()  # none declared
    bad = {**PROFILES["mean"], "known_at_declaration": {"runs": {"method": ["kd"], "seeds": [0]}}}
    monkeypatch.setitem(PROFILES, "bad-known", bad)
    with pytest.raises(StudyError, match="known_at_declaration must be"):
        plan("bad-known", results=tmp_path, work=tmp_path)
