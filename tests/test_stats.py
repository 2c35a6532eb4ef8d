"""The statistics against scipy on fixed inputs, and the claim rows against hand-computed values."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pkdlib.report import claims, paired
from pkdlib.stats import detectable_effect, holm, mcnemar, paired_bootstrap, paired_t, replicates_needed

D = [1.0, 2.0, 0.5, 1.5, -0.5]


def test_paired_t_matches_scipy():
    t = paired_t(D)
    ref = stats.ttest_1samp(D, 0.0)
    low, high = ref.confidence_interval(0.95)
    assert (t["n"], t["mean"]) == (5, 0.9) and t["sd"] == pytest.approx(np.std(D, ddof=1))
    assert (t["low"], t["high"], t["p"]) == pytest.approx((low, high, ref.pvalue))
    # (t_0.975,4 + t_0.80,4) * sd / sqrt(5) = (2.776445 + 0.940965) * 0.961769 / 2.236068
    assert t["detectable"] == pytest.approx((2.776445 + 0.940965) * 0.961769 / math.sqrt(5), rel=1e-5)
    assert math.isnan(paired_t([1.0])["low"]) and paired_t([2.0, 2.0])["low"] == 2.0


def test_detectable_effect_and_replicates_needed():
    assert detectable_effect(1.0, 10) == pytest.approx((2.262157 + 0.883404) / math.sqrt(10), rel=1e-5)
    n = replicates_needed(2.0, 1.0)  # smallest n with t_0.975,n-1 * 2 / sqrt(n) <= 1
    assert stats.t.ppf(0.975, n - 1) * 2 / math.sqrt(n) <= 1.0 < stats.t.ppf(0.975, n - 2) * 2 / math.sqrt(n - 1)
    assert n == 18


def test_mcnemar_exact_and_holm():
    r = mcnemar("1110001111", "1001001100")  # a right / b wrong: 4; a wrong / b right: 1
    assert (r["only_a"], r["only_b"]) == (4, 1)
    assert r["p"] == pytest.approx(stats.binomtest(4, 5, 0.5).pvalue) == pytest.approx(0.375)
    assert mcnemar("101", "101")["p"] == 1.0
    with pytest.raises(ValueError, match="different examples"):
        mcnemar("10", "101")
    # Holm: sorted p 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), NaN kept
    assert holm([0.04, 0.01, float("nan"), 0.02]) == pytest.approx([0.04, 0.03, float("nan"), 0.04], nan_ok=True)


def test_paired_bootstrap_brackets_the_difference():
    rng = np.random.default_rng(1)
    a = (rng.random((6, 400)) < 0.80).astype(int)
    b = (rng.random((6, 400)) < 0.75).astype(int)
    low, high = paired_bootstrap(a, b, n_boot=500)
    diff = (a.mean() - b.mean()) * 100
    assert low < diff < high and high - low < 10
    assert paired_bootstrap(a, a, n_boot=50) == (0.0, 0.0)


def synthetic(kd, ft, correct=None):
    rows, records = [], {}
    for seed, (x, y) in enumerate(zip(kd, ft)):
        for method, acc in (("kd", x), ("ft", y)):
            rid = f"{method}-{seed}"
            rows.append({"run_id": rid, "task": "rt", "method": method, "layers": 3, "seed": seed, "test": acc})
            records[rid] = {"test_correct": {"test": correct[(method, seed)]}} if correct else {}
    return pd.DataFrame(rows), records


def test_claim_rows_against_hand_computed_values():
    df, records = synthetic([0.80, 0.82, 0.81], [0.78, 0.80, 0.80])
    r = paired(df, "test", "kd", "ft", 3, "rt")
    assert r["n_seeds"] == 3 and r["mean_diff"] == pytest.approx(5 / 3, rel=1e-6)
    # t(0.975, 2) = 4.302653; sd of (2, 2, 1) = 0.577350
    assert r["ci_high"] - r["mean_diff"] == pytest.approx(4.302653 * 0.577350 / 3 ** 0.5, rel=1e-4)
    table, sentences = claims(df, "test", records)
    row = table[table.claim.str.startswith("1a")].iloc[0]
    assert row["verdict"] == "held: the 95% interval is above 0" and row["n_seeds"] == 3
    assert table.iloc[-1]["verdict"].startswith("paper profile only")
    assert "1 tested comparisons" in sentences[-1]


def test_claim_verdicts_bounded_undecided_and_example_level():
    correct = {("kd", 0): "1100", ("ft", 0): "1000", ("kd", 1): "1010", ("ft", 1): "1010"}
    df, records = synthetic([0.50, 0.50], [0.25, 0.50], correct)
    r = paired(df, "test", "kd", "ft", 3, "rt", records)
    assert r["mcnemar_p05"] == "0/2" and r["bootstrap_ci"].startswith("[")
    table, _ = claims(df, "test", records)
    assert table.iloc[0]["verdict"].startswith("undecided: the interval is ±")  # N=2 and a 25-point spread
    df2, _ = synthetic([0.800, 0.805, 0.800, 0.805], [0.805, 0.800, 0.800, 0.805])
    assert claims(df2, "test")[0].iloc[0]["verdict"].startswith("no effect shown; any true effect lies within")


def test_a_1_layer_student_gets_n_a_for_pkd_claims_even_without_pkd_runs():
    df, records = synthetic([0.70, 0.72, 0.71], [0.68, 0.70, 0.70])
    df = df.assign(layers=1)  # 1-layer ft and kd only: PKD at 1 layer is KD, so no pkd-skip runs exist
    table, _ = claims(df, "test", records)
    by = {r["claim"][:2]: r for _, r in table.iterrows()}
    assert by["1a"]["mean_diff"] == pytest.approx(5 / 3) and by["1b"]["verdict"].startswith("n/a: a 1-layer student")
    assert not any(table.claim.str.startswith(("2.", "6a")))  # neither method of those ran at 1 layer


def test_init_claims_pair_each_variant_with_its_pretrained_cell():
    from pkdlib.report import init_claims
    rows = []
    for seed, (pre, tea, rnd) in enumerate([(0.80, 0.82, 0.60), (0.81, 0.84, 0.62), (0.79, 0.80, 0.61)]):
        for init, acc in (("pretrained", pre), ("teacher", tea), ("random", rnd)):
            rows.append({"run_id": f"kd-{init}-{seed}", "task": "rt", "method": "kd", "layers": 3, "seed": seed,
                         "init": init, "test": acc})
    df_all = pd.DataFrame(rows)
    out = {r["comparison"]: r for r in init_claims(df_all, df_all[df_all.init == "pretrained"], "test")}
    assert set(out) == {"KD: teacher init - pre-trained", "KD: random init - pre-trained"}
    assert out["KD: teacher init - pre-trained"]["mean_diff"] == pytest.approx(2.0)  # (2 + 3 + 1) / 3
    assert out["KD: random init - pre-trained"]["mean_diff"] == pytest.approx(-19.0)  # (-20 - 19 - 18) / 3
    assert out["KD: random init - pre-trained"]["verdict"] == "reversed: the 95% interval is below 0"
    assert all(r["claim"] == "6b. student initialisation" and r["n_seeds"] == 3 for r in out.values())


def test_claim_4_is_held_when_pkd_has_the_smaller_train_dev_gap():
    from pkdlib.report import _gap
    rows, records = [], {}
    # (train_eval, dev) at the best epoch: gaps KD 10, 12, 11; PKD-Skip 8, 11, 9 -> KD - PKD = 2, 1, 2
    for seed, (kd, pkd) in enumerate([((0.90, 0.80), (0.89, 0.81)), ((0.92, 0.80), (0.91, 0.80)),
                                      ((0.91, 0.80), (0.90, 0.81))]):
        for method, (train, dev) in (("kd", kd), ("pkd-skip", pkd)):
            rid = f"{method}-{seed}"
            rows.append({"run_id": rid, "task": "rt", "method": method, "layers": 3, "seed": seed, "dev": dev})
            records[rid] = {"best_epoch": 2, "selection_metric": "dev/accuracy",
                            "epochs": [{}, {"dev": {"accuracy": dev}, "train_eval": {"accuracy": train}}]}
    (row,) = _gap(pd.DataFrame(rows), "rt", 3, records)
    assert row["comparison"] == "gap KD - gap PKD-Skip" and row["n_seeds"] == 3
    assert row["mean_diff"] == pytest.approx(5 / 3, rel=1e-6)  # PKD's gap is 1.67 points smaller
    assert row["ci_high"] - row["mean_diff"] == pytest.approx(4.302653 * 0.577350 / 3 ** 0.5, rel=1e-4)
    assert row["verdict"] == "held: the 95% interval is above 0"
