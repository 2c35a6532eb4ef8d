"""The statistics against scipy on fixed inputs, and the claim rows against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pkdstudy.claims import _decide, claims, paired
from pkdstudy.stats import detectable_effect, holm, mcnemar, paired_bootstrap, paired_t, power_paired, replicates_needed

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
    assert r["ci_high"] - r["mean_diff"] == pytest.approx(4.302653 * 0.577350 / 3**0.5, rel=1e-4)
    assert r["sign_flip_p"] == pytest.approx(0.25)  # all three positive: 2 of 8 sign patterns as extreme
    table, sentences = claims(df, "test", records)
    row = table[table.claim.str.startswith("1a")].iloc[0]
    assert row["verdict"] == "descriptive: N=3 pairs (< 5), no verdict; exact sign-flip p = 0.25"
    assert table.iloc[-1]["verdict"].startswith("paper profile only")


def _teacher(df, layers=6):
    t = pd.DataFrame([{"run_id": "t", "task": "rt", "method": "teacher", "layers": layers, "seed": 0, "test": 0.9}])
    return pd.concat([t, df], ignore_index=True)


def test_decision_rules_held_equivalent_undecided_with_holm_in_the_primary_family():
    rng = np.random.default_rng(0)
    ft = 0.78 + rng.normal(0, 0.004, 12)
    # kd beats ft by 1.5 points: held; equal within noise of 0.1 point: equivalent; +0.3 with sd 1.5: undecided
    for kd, want in (
        (ft + 0.015, "held on this test set"),
        (ft + rng.normal(0, 0.001, 12), "equivalent within ±0.5"),
        (ft + 0.003 + rng.normal(0, 0.015, 12), "undecided (Holm p = "),
    ):
        df, records = synthetic(kd, ft)
        table, _ = claims(_teacher(df), "test", records)
        row = table[table.claim.str.startswith("1a")].iloc[0]
        assert row["family"] == "primary" and row["verdict"].startswith(want), row["verdict"]
    # an undecided row says why: its adjusted p of both tests (the last row above)
    assert row["verdict"].startswith(f"undecided (Holm p = {row['p_holm']:.3f}, TOST Holm p = {row['tost_holm']:.3f}; ")
    # p_holm of the primary family: Holm over the declared family of three (1a, 1b, 2); the two claims not tested
    # here count as p = 1, so the one tested gets min(1, 3p)
    assert row["p_holm"] == pytest.approx(min(1.0, 3 * row["p"]))
    # the same claim at another size is secondary
    table, _ = claims(_teacher(df.assign(layers=2)), "test", records)
    assert table[table.claim.str.startswith("1a")].iloc[0]["family"] == "secondary"


def test_holm_decides_the_verdict_not_the_raw_p():
    rows = pd.DataFrame(
        [
            {
                "claim": "1a. x",
                "task": "rt",
                "layers": 3,
                "p": 0.03,
                "tost_p": 0.5,
                "n_seeds": 10,
                "mean_diff": 1.0,
                "sign_flip_p": 0.01,
                "power": 0.5,
                "sd": 1.0,
            },
            {
                "claim": "1b. y",
                "task": "rt",
                "layers": 3,
                "p": 0.04,
                "tost_p": 0.5,
                "n_seeds": 10,
                "mean_diff": 1.0,
                "sign_flip_p": 0.01,
                "power": 0.5,
                "sd": 1.0,
            },
            {
                "claim": "2. z",
                "task": "rt",
                "layers": 3,
                "p": 0.20,
                "tost_p": 0.5,
                "n_seeds": 10,
                "mean_diff": 1.0,
                "sign_flip_p": 0.01,
                "power": 0.5,
                "sd": 1.0,
            },
        ]
    )
    t = _decide(rows, {"rt": 6})
    assert t.p_holm.tolist() == pytest.approx([0.09, 0.09, 0.20])  # 3 x 0.03, max(2 x 0.04, 0.09), 0.20
    assert all(v.startswith("undecided") for v in t.verdict)  # raw p < 0.05 twice, Holm-adjusted neither
    # power at Holm's strictest level (0.05 / 3) is below the unadjusted power, and the verdict gives both
    assert t.power_holm[0] == pytest.approx(power_paired(1.0, 10, 0.5, 0.05 / 3)) and t.power_holm[0] < 0.5
    assert f"{t.power_holm[0] * 100:.0f}% at Holm's strictest level" in t.verdict[0]
    # two primary claims tested (claim 2 not): the family is still the declared three
    t2 = _decide(rows.iloc[:2].copy(), {"rt": 6})
    assert t2.p_holm.tolist() == pytest.approx([0.09, 0.09]) and t2.attrs["m_primary"] == 3


def test_a_confirmatory_profiles_declared_claims_are_a_family_of_their_own():
    """A claim a confirmatory profile declared is adjusted only with the claims declared beside it (one not
    tested counts as p = 1), never with the study's primary or secondary rows; the closing sentence says so."""
    rows = pd.DataFrame(
        [
            {
                "claim": c,
                "task": "rt",
                "layers": 3,
                "p": p,
                "tost_p": 0.5,
                "n_seeds": 10,
                "mean_diff": 1.0,
                "sign_flip_p": 0.01,
                "power": 0.5,
                "sd": 1.0,
                "arm": arm,
            }
            for c, p, arm in (
                ("1b. PKD beats KD [beta 100]", 0.03, "beta 100"),
                ("8. the arm against the recipe [beta 100]", 0.01, "beta 100"),
                ("1a. KD beats fine-tuning", 0.04, ""),
            )
        ]
    )
    t = _decide(rows.copy(), {"rt": 6}, confirmatory=["1b. PKD beats KD [beta 100]"])
    assert t.family.tolist() == ["confirmatory", "secondary", "primary"]
    assert t.p_holm.tolist() == pytest.approx([0.03, 0.01, 0.12])  # alone; alone; 3 x 0.04 (the declared three)
    assert t.verdict[0].startswith("held on this test set (Holm p = 0.030)")
    # a primary claim declared confirmatory leaves the primary family: the declared primary family is then two
    t3 = _decide(rows.copy(), {"rt": 6}, confirmatory=["1b. PKD beats KD"])
    assert t3.attrs["m_primary"] == 2 and t3.p_holm[2] == pytest.approx(0.08)
    # two declared, one tested: that one is adjusted as one of two
    t2 = _decide(rows.copy(), {"rt": 6}, confirmatory=["1b. PKD beats KD [beta 100]", "7. x [beta 100]"])
    assert t2.p_holm[0] == pytest.approx(0.06) and t2.verdict[0].startswith("undecided")
    # the closing sentence of a study with only its declared claim tested
    df, records = synthetic([0.80, 0.82, 0.81, 0.83, 0.80, 0.82], [0.78, 0.80, 0.80, 0.80, 0.79, 0.80])
    table, sentences = claims(_teacher(df), "test", records, confirmatory=["1a. KD beats fine-tuning"])
    assert table[table.claim.str.startswith("1a")].iloc[0]["family"] == "confirmatory"
    assert sentences[-1].startswith("1 confirmatory (declared before the study ran: 1) and 0 secondary comparisons")
    # declared but not tested (an arm that has not run yet): named, never dropped
    _, sentences = claims(_teacher(df), "test", records, confirmatory=["1a. KD beats fine-tuning", "7. x [arm]"])
    assert sentences[-1].startswith(
        "1 confirmatory (declared before the study ran: 2; the 1 not tested here count as p = 1) and 0 secondary"
    )
    _, sentences = claims(_teacher(df), "test", records, confirmatory=["7. x [arm]"])
    assert sentences[-1].startswith(
        "0 confirmatory (declared before the study ran: 1; the 1 not tested here count "
        "as p = 1), 1 primary (of the declared 3: the 2 not tested here count as p = 1) "
        "and 0 secondary"
    )
    # without a declaration, the same row is primary, and the sentence is the one every study had
    _, sentences = claims(_teacher(df), "test", records)
    assert sentences[-1].startswith(
        "1 primary (of the declared 3: the 2 not tested here count as p = 1) and 0 secondary comparisons"
    )


def test_a_verdict_the_sentence_level_interval_does_not_support_is_flagged():
    """KD gets one or two more of 200 test sentences right than FT in every seed: certain over seeds, but the
    resampled sentences often miss both, so the interval over seeds and sentences reaches 0."""
    base = np.array([1] * 160 + [0] * 40)
    correct = {}
    for seed in range(6):
        kd = base.copy()
        kd[160] = 1
        kd[161] = seed % 2  # a second sentence in every other seed
        correct[("ft", seed)], correct[("kd", seed)] = "".join(map(str, base)), "".join(map(str, kd))
    acc = {k: np.mean([int(c) for c in v]) for k, v in correct.items()}
    df, records = synthetic([acc[("kd", s)] for s in range(6)], [acc[("ft", s)] for s in range(6)], correct)
    row = claims(_teacher(df), "test", records)[0].iloc[0]
    assert row["verdict"].startswith("held on this test set") and row["sentences_ci"].startswith("[-")
    assert "on sentences like these not shown" in row["verdict"]


def test_example_level_fields_of_a_claim_row():
    correct = {("kd", 0): "1100", ("ft", 0): "1000", ("kd", 1): "1010", ("ft", 1): "1010"}
    df, records = synthetic([0.50, 0.50], [0.25, 0.50], correct)
    r = paired(df, "test", "kd", "ft", 3, "rt", records)
    assert r["mcnemar_p05"] == "0/2" and r["sentences_ci"].startswith("[") and r["sent_low"] <= 12.5 <= r["sent_high"]
    # one sentence differs, in one seed: MS_sent = MS_resid = 1/8, so no sentence component and no floor
    assert r["n_sentences"] == 4 and r["sentence_floor"] == 0.0


def test_a_1_layer_student_gets_n_a_for_pkd_claims_even_without_pkd_runs():
    df, records = synthetic([0.70, 0.72, 0.71], [0.68, 0.70, 0.70])
    df = df.assign(layers=1)  # 1-layer ft and kd only: PKD at 1 layer is KD, so no pkd-skip runs exist
    table, _ = claims(df, "test", records)
    by = {r["claim"][:2]: r for _, r in table.iterrows()}
    assert by["1a"]["mean_diff"] == pytest.approx(5 / 3) and by["1b"]["verdict"].startswith("n/a: a 1-layer student")
    assert not any(table.claim.str.startswith(("2.", "6a")))  # neither method of those ran at 1 layer


def test_init_claims_pair_each_variant_with_its_pretrained_cell():
    from pkdstudy.claims import claims, init_claims

    rows = []
    for seed, (pre, tea, rnd) in enumerate([(0.80, 0.82, 0.60), (0.81, 0.84, 0.62), (0.79, 0.80, 0.61)]):
        for init, acc in (("pretrained", pre), ("teacher", tea), ("random", rnd)):
            rows.append(
                {
                    "run_id": f"kd-{init}-{seed}",
                    "task": "rt",
                    "method": "kd",
                    "layers": 3,
                    "seed": seed,
                    "init": init,
                    "test": acc,
                }
            )
    df_all = pd.DataFrame(rows)
    out = {r["comparison"]: r for r in init_claims(df_all, df_all[df_all.init == "pretrained"], "test")}
    assert set(out) == {"KD: teacher init - pre-trained", "KD: random init - pre-trained"}
    assert out["KD: teacher init - pre-trained"]["mean_diff"] == pytest.approx(2.0)  # (2 + 3 + 1) / 3
    assert out["KD: random init - pre-trained"]["mean_diff"] == pytest.approx(-19.0)  # (-20 - 19 - 18) / 3
    assert all(r["claim"] == "6b. student initialisation" and r["n_seeds"] == 3 for r in out.values())
    assert (
        claims(df_all[df_all.init == "pretrained"], "test", extra=list(out.values()))[0]
        .query("claim == '6b. student initialisation'")
        .verdict.str.startswith("descriptive: N=3")
        .all()
    )


def test_claim_4_is_held_when_pkd_has_the_smaller_train_dev_gap():
    from pkdstudy.claims import _gap

    rows, records = [], {}
    # (train_eval, dev) at the best epoch: gaps KD 10, 12, 11; PKD-Skip 8, 11, 9 -> KD - PKD = 2, 1, 2
    for seed, (kd, pkd) in enumerate(
        [((0.90, 0.80), (0.89, 0.81)), ((0.92, 0.80), (0.91, 0.80)), ((0.91, 0.80), (0.90, 0.81))]
    ):
        for method, (train, dev) in (("kd", kd), ("pkd-skip", pkd)):
            rid = f"{method}-{seed}"
            rows.append({"run_id": rid, "task": "rt", "method": method, "layers": 3, "seed": seed, "dev": dev})
            records[rid] = {
                "best_epoch": 2,
                "selection_metric": "dev/accuracy",
                "epochs": [{}, {"dev": {"accuracy": dev}, "train_eval": {"accuracy": train}}],
            }
    (row,) = _gap(pd.DataFrame(rows), "rt", 3, records)
    assert row["comparison"] == "gap KD - gap PKD-Skip" and row["n_seeds"] == 3
    assert row["mean_diff"] == pytest.approx(5 / 3, rel=1e-6)  # PKD's gap is 1.67 points smaller
    assert row["ci_high"] - row["mean_diff"] == pytest.approx(4.302653 * 0.577350 / 3**0.5, rel=1e-4)
    t = _decide(pd.DataFrame([row]), {"rt": 6})
    assert t.iloc[0]["family"] == "secondary" and t.iloc[0]["verdict"].startswith("descriptive: N=3")


def test_power_against_a_noncentral_t_by_hand_and_simulation():
    from pkdstudy.stats import power_paired

    # n=34, sd=0.984, effect 0.5: nc = 0.5 / (0.984 / sqrt(34)) = 2.9629; df 33
    nc, t = 0.5 / (0.984 / math.sqrt(34)), stats.t.ppf(0.975, 33)
    assert power_paired(0.984, 34, 0.5) == pytest.approx(1 - stats.nct.cdf(t, 33, nc) + stats.nct.cdf(-t, 33, nc))
    assert power_paired(0.984, 34, 0.5) == pytest.approx(0.82, abs=0.01)
    rng = np.random.default_rng(0)  # the same by simulation: 20,000 paired designs
    sims = rng.normal(0.5, 0.984, (20_000, 34))
    rejected = np.mean(np.abs(sims.mean(1) / (sims.std(1, ddof=1) / math.sqrt(34))) > t)
    assert rejected == pytest.approx(power_paired(0.984, 34, 0.5), abs=0.015)


def test_tost_is_the_90_percent_interval_inside_the_margin():
    from pkdstudy.stats import tost

    d = np.array([0.1, -0.2, 0.3, 0.0, 0.15, -0.05, 0.2, 0.1])
    low, high = stats.ttest_1samp(d, 0).confidence_interval(0.90)
    r = tost(d, 0.5)
    assert r["equivalent"] == (-0.5 < low and high < 0.5) == True  # noqa: E712
    se = d.std(ddof=1) / math.sqrt(len(d))
    p_low = 1 - stats.t.cdf((d.mean() + 0.5) / se, len(d) - 1)
    p_high = stats.t.cdf((d.mean() - 0.5) / se, len(d) - 1)
    assert r["p"] == pytest.approx(max(p_low, p_high))
    assert not tost(d + 0.45, 0.5)["equivalent"]


def test_sign_flip_test_exact_by_enumeration():
    from pkdstudy.stats import sign_flip_test

    assert sign_flip_test([1.0, 2.0, 3.0]) == pytest.approx(0.25)  # the floor for 3 pairs: 2/8
    d = [1.0, -0.5, 2.0, 0.5, 1.5]
    flips = [(np.array(s) * d).mean() for s in __import__("itertools").product([1, -1], repeat=5)]
    want = np.mean(np.abs(flips) >= abs(np.mean(d)) - 1e-12)
    assert sign_flip_test(d) == pytest.approx(want)
    big = np.random.default_rng(1).normal(1.0, 1.0, 30)  # Monte Carlo beyond 16 pairs: close to the t-test
    assert sign_flip_test(big) == pytest.approx(stats.ttest_1samp(big, 0).pvalue, abs=0.01)


def test_hierarchical_bootstrap_widens_with_teacher_variance():
    from pkdstudy.stats import hierarchical_bootstrap

    rng = np.random.default_rng(0)
    same = [rng.normal(1.0, 0.5, 8) for _ in range(3)]
    shifted = [g + off for g, off in zip(same, (-1.5, 0.0, 1.5))]
    lo1, hi1 = hierarchical_bootstrap(same)
    lo2, hi2 = hierarchical_bootstrap(shifted)
    assert lo1 < np.mean(np.concatenate(same)) < hi1 and (hi2 - lo2) > 2 * (hi1 - lo1)


def test_retention_interval_includes_the_teachers_sampling_error():
    from pkdstudy.stats import paired_t, retention_bootstrap

    rng = np.random.default_rng(0)
    truth = rng.random(1066) < 0.84
    teacher = truth[None, :].astype(int)
    students = np.array([(truth & (rng.random(1066) < 0.96)) for _ in range(14)]).astype(int)
    est, low, high = retention_bootstrap(students, teacher)
    assert est == pytest.approx(students.mean() / teacher.mean() * 100)
    naive = paired_t(students.mean(1) / teacher.mean() * 100)  # the teacher's accuracy taken as exact
    assert low < est < high and (high - low) > (naive["high"] - naive["low"])


def test_two_level_interval_is_the_t_interval_of_the_teacher_means():
    from pkdstudy.stats import two_level_t

    groups = [np.array([1.0, 2.0, 0.0]), np.array([3.0, 2.0]), np.array([-1.0, 0.5, 0.5, 0.0])]
    means = np.array([1.0, 2.5, 0.0])
    r = two_level_t(groups)
    low, high = stats.t.interval(0.95, 2, loc=means.mean(), scale=stats.sem(means))
    assert (r["n_teachers"], r["mean"]) == (3, pytest.approx(means.mean()))
    assert (r["low"], r["high"]) == (pytest.approx(low), pytest.approx(high))
    assert r["p"] == pytest.approx(stats.ttest_1samp(means, 0).pvalue)
    # by hand: mean 7/6, sd of (1, 2.5, 0) = 1.258306, t(0.975, 2) = 4.302653
    assert r["high"] - r["mean"] == pytest.approx(4.302653 * 1.258306 / 3**0.5, rel=1e-5)
    assert not r["floored"]  # pooled within-teacher se 0.283 (by hand) < 0.726


def test_two_level_interval_is_never_narrower_than_its_seeds_allow():
    """Teacher means that agree more closely than their own seed noise allows: the standard error is the seeds'
    part, sqrt(s_w^2 sum(1/n_t))/T, not the chance-small spread of the means."""
    from pkdstudy.stats import two_level_t

    groups = [np.array([-1.0, 1.0, 3.0]), np.array([2.0, 0.0, 1.1]), np.array([0.9, 2.9, -1.1])]
    r = two_level_t(groups)  # means 1.0, 1.033, 0.9: sd 0.069; within-teacher variance about 3.6
    s_w2 = sum(((g - g.mean()) ** 2).sum() for g in groups) / 6
    se = (s_w2 * 3 / 3) ** 0.5 / 3
    assert r["floored"] and r["high"] - r["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * se)
    assert r["p"] == pytest.approx(2 * stats.t.sf(r["mean"] / se, 2))
    pooled = paired_t(np.concatenate(groups))  # never narrower than the seeds-only interval of all the pairs
    assert r["high"] - r["low"] > pooled["high"] - pooled["low"]


def several_teachers(diff_by_teacher, seeds=6, nested=True):
    """kd runs of several teachers (their offsets in points, a per-seed noise) and ft runs. Nested: teacher t's
    students have seeds 100t + s, each with its own ft run; crossed: every teacher's kd uses seeds 0..n-1 and one
    ft run per seed serves them all."""
    rng, rows = np.random.default_rng(1), []
    for t, off in enumerate(diff_by_teacher):
        for s in range(seeds):
            seed = 100 * t + s if nested else s
            ft = 0.78 + rng.normal(0, 0.005)
            if nested or t == 0:
                rows.append(
                    {
                        "run_id": f"ft-{seed}",
                        "task": "rt",
                        "method": "ft",
                        "layers": 3,
                        "seed": seed,
                        "test": ft,
                        "teacher": "",
                    }
                )
            base = ft if nested else [r["test"] for r in rows if r["run_id"] == f"ft-{seed}"][0]
            rows.append(
                {
                    "run_id": f"kd-t{t}-{seed}",
                    "task": "rt",
                    "method": "kd",
                    "layers": 3,
                    "seed": seed,
                    "test": base + off / 100 + rng.normal(0, 0.002),
                    "teacher": f"teacher-{t}",
                }
            )
    return pd.DataFrame(rows)


def test_several_teachers_pair_by_teacher_and_seed_each_pair_once():
    df = several_teachers([1.0, 1.2, 0.8])
    r = paired(df, "test", "kd", "ft", 3, "rt")
    assert r["n_seeds"] == 18 and r["n_teachers"] == 3  # 3 teachers x 6 seeds of their own, each with its ft
    kd, ft = df[df.method == "kd"].set_index("seed"), df[df.method == "ft"].set_index("seed")
    assert r["mean_diff"] == pytest.approx(((kd.test - ft.test.loc[kd.index]) * 100).mean())
    assert r["two_level_ci"].startswith("[+") and "unit" not in r
    # two methods that both read their teacher pair on (teacher, seed): every pair differs by exactly 0.1 point
    pk = df[df.method == "kd"].assign(
        method="pkd-skip", test=lambda d: d.test + 0.001, run_id=lambda d: "pk" + d.run_id
    )
    r = paired(pd.concat([df, pk]), "test", "pkd-skip", "kd", 3, "rt")
    assert r["n_seeds"] == 18 and r["mean_diff"] == pytest.approx(0.1) and r["sd"] == pytest.approx(0, abs=1e-9)


def test_crossed_pairs_are_averaged_per_seed():
    """Teachers sharing seeds (and one ft run serving them all) are not independent replicates: the seed is."""
    df = several_teachers([1.0, 1.2, 0.8], nested=False)
    r = paired(df, "test", "kd", "ft", 3, "rt")
    assert r["n_seeds"] == 6 and r["unit"].startswith("seed") and "two_level_ci" not in r
    kd, ft = df[df.method == "kd"], df[df.method == "ft"].set_index("seed").test
    per_seed = ((kd.test - ft.loc[kd.seed].to_numpy()) * 100).groupby(kd.seed).mean()
    assert r["mean_diff"] == pytest.approx(per_seed.mean()) and r["sd"] == pytest.approx(per_seed.std(ddof=1))


def test_a_verdict_other_teachers_do_not_support_is_flagged():
    """Every teacher's students beat ft within it, but the teachers disagree widely: held over these teachers'
    pairs, not shown for other teachers like these (3 teacher means, 2 degrees of freedom)."""
    df = several_teachers([0.3, 2.5, 0.6], seeds=8)
    table, sentences = claims(_teacher(df), "test")
    row = table[table.claim.str.startswith("1a")].iloc[0]
    assert row["verdict"].startswith("held on this test set with these 3 teachers"), row["verdict"]
    assert "with other teachers like these not shown (the teachers-and-seeds 95% interval [" in row["verdict"]
    assert row["verdict"].endswith("] includes 0)")
    assert "(3 teachers), N=24:" in sentences[0]


def test_a_wider_interval_that_could_not_be_computed_is_named_not_skipped():
    from pkdstudy.claims import _caveats

    held = {
        "claim": "1a. x",
        "mean_diff": 1.0,
        "sent_low": np.nan,
        "sent_high": np.nan,
        "n_teachers": 3,
        "two_low": np.nan,
        "two_high": np.nan,
    }
    out = _caveats(held)
    assert "on sentences like these not assessed (no seeds-and-sentences interval:" in out
    assert "with other teachers like these not assessed (no teachers-and-seeds interval:" in out
    one = {**held, "n_teachers": 1}  # one teacher: the verdict says "on this test set" already
    assert "teachers" not in _caveats(one) and "sentences like these not assessed" in _caveats(one)
    assert _caveats({**one, "claim": "4. gap"}) == ""  # a train - dev gap has no sentence-level question


def test_two_level_floor_weights_unbalanced_teachers_by_their_seeds():
    """Unbalanced (one teacher with a single seed): the seeds' part is sqrt(s_w^2 (1/n_1 + ... + 1/n_T)) / T with
    the pooled within-teacher variance; a lone teacher gives no interval."""
    from pkdstudy.stats import two_level_t

    groups = [np.array([0.0, 2.0, 1.0, 1.0]), np.array([1.1]), np.array([2.0, 0.0, 1.0])]
    r = two_level_t(groups)  # means 1.0, 1.1, 1.0: agree far more closely than their seeds
    s_w2 = (2.0 + 2.0) / (3 + 2)  # sums of squares 2 and 2 over 3 + 2 degrees of freedom
    se = (s_w2 * (1 / 4 + 1 + 1 / 3)) ** 0.5 / 3
    assert r["floored"] and r["high"] - r["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * se)
    lone = two_level_t([np.array([1.0, 2.0])])
    assert lone["n_teachers"] == 1 and np.isnan(lone["low"]) and np.isnan(lone["p"])


def test_arm_claims_keep_each_arm_apart_and_secondary():
    from pkdstudy.claims import arm_claims

    rows = []
    for s in range(6):
        for method, arm, acc in (
            ("kd", "", 0.80),
            ("pkd-skip", "", 0.80),
            ("pkd-skip", "beta 10", 0.83),
            ("ft", "", 0.78),
            ("ft", "8 epochs", 0.79),
            ("kd", "8 epochs", 0.815),
        ):
            rows.append(
                {
                    "run_id": f"{method}-{arm}-{s}",
                    "task": "rt",
                    "method": method,
                    "layers": 3,
                    "seed": s,
                    "test": acc + 0.001 * s * (method == "kd"),
                    "teacher": "" if method == "ft" else "t0",
                    "arm": arm,
                }
            )
    df = pd.DataFrame(rows)
    main, arms = df[df.arm == ""], df[df.arm != ""]
    out = {r["comparison"]: r for r in arm_claims(main, arms, "test")}
    assert set(out) == {
        "PKD-Skip [beta 10] - KD",
        "PKD-Skip [beta 10] - PKD-Skip",
        "KD [8 epochs] - FT [8 epochs]",
        "FT [8 epochs] - FT",
        "KD [8 epochs] - KD",
    }
    assert out["KD [8 epochs] - FT [8 epochs]"]["mean_diff"] == pytest.approx(2.5 + 0.25)  # 2.5 + mean 0.1 * s
    assert out["PKD-Skip [beta 10] - PKD-Skip"]["mean_diff"] == pytest.approx(3.0)
    table, _ = claims(_teacher(main), "test", extra=list(out.values()))
    armed = table[table.arm.fillna("") != ""]
    assert len(armed) == 5 and set(armed.family) == {"secondary"}  # 1a and 1b of an arm never join the primary family
    assert "1b. PKD beats KD [beta 10]" in set(armed.claim)


def test_two_way_floor_is_what_the_sentences_alone_leave():
    """No seed noise (a wins the same 5% of sentences in every replicate): the whole interval is the sentences'
    part, the floor; identical runs: no floor at all."""
    from pkdstudy.stats import two_way

    rng = np.random.default_rng(0)
    n = 1000
    truth = (rng.random(n) < 0.05).astype(float)
    a, b = np.tile(truth, (8, 1)), np.zeros((8, n))
    w = two_way(a, b)
    assert w["floor"] == pytest.approx(stats.t.ppf(0.975, n - 1) * truth.std(ddof=1) / math.sqrt(n) * 100)
    assert w["high"] - w["mean"] == pytest.approx(w["floor"], rel=1e-9)
    assert (w["var_seed"], w["var_resid"]) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert w["floor"] == pytest.approx(196 * math.sqrt(0.05 * 0.95 / n), rel=0.1)
    assert two_way(a, a)["floor"] == 0.0 and two_way(a, a)["high"] == 0.0


def test_two_way_against_a_hand_computed_design():
    """d = [[1, 0, 0], [1, 1, 0]]: MS_seed = 1/6, MS_sent = 1/2, MS_resid = 1/6 (by hand). The seed component is
    (1/6 - 1/6) / 3 = 0, so Var = MS_sent / (S J) = 1/12 with Satterthwaite df = 2 (MS_sent's own); the sentence
    component (1/2 - 1/6) / 2 = 1/6, floor t_{0.975, 2} sqrt(1/6 / 3)."""
    from pkdstudy.stats import two_way

    a, b = np.array([[1, 0, 0], [1, 1, 0]]), np.zeros((2, 3))
    w = two_way(a, b)
    assert w["mean"] == pytest.approx(50.0) and w["df"] == pytest.approx(2.0)
    assert (w["var_seed"], w["var_sent"], w["var_resid"]) == pytest.approx((0.0, 1 / 6, 1 / 6))
    assert w["high"] - w["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * math.sqrt(1 / 12) * 100)
    assert w["floor"] == pytest.approx(stats.t.ppf(0.975, 2) * math.sqrt(1 / 18) * 100)


def test_two_way_mean_squares_match_least_squares():
    """The mean squares against the additive model fitted by least squares (an independent route): SS_resid is the
    full model's residual, SS_seed and SS_sent what dropping each factor adds; untruncated, Var = (MS_seed + MS_sent
    - MS_resid) / (S J), and Satterthwaite's df for that combination."""
    from pkdstudy.stats import two_way

    rng = np.random.default_rng(3)
    S, J = 5, 9
    d = rng.integers(-1, 2, (S, J)).astype(float) + np.linspace(-0.6, 0.6, S)[:, None] + np.linspace(-1, 1, J)
    rows, cols = np.repeat(np.eye(S), J, axis=0), np.tile(np.eye(J), (S, 1))

    def ss(x):
        return float(((d.ravel() - x @ np.linalg.lstsq(x, d.ravel(), rcond=None)[0]) ** 2).sum())

    full = ss(np.hstack([rows, cols]))
    ms_r, ms_s, ms_j = full / ((S - 1) * (J - 1)), (ss(cols) - full) / (S - 1), (ss(rows) - full) / (J - 1)
    assert ms_s > ms_r and ms_j > ms_r
    w = two_way(d, np.zeros_like(d))
    var = (ms_s + ms_j - ms_r) / (S * J)
    df = var**2 / (
        (ms_s / (S * J)) ** 2 / (S - 1) + (ms_j / (S * J)) ** 2 / (J - 1) + (ms_r / (S * J)) ** 2 / ((S - 1) * (J - 1))
    )
    assert w["se"] == pytest.approx(math.sqrt(var) * 100) and w["df"] == pytest.approx(df)
    assert (w["var_seed"], w["var_sent"], w["var_resid"]) == pytest.approx(((ms_s - ms_r) / J, (ms_j - ms_r) / S, ms_r))


def _seeds_by_sentences(rng, S, J, mu=0.01, sd_sent=0.08, sd_seed=0.01):
    """0/1 correctness of methods a and b (S seeds x J sentences) with known components: sentence j is right with
    probability q_j +- delta_j / 2 (q_j ~ U(0.15, 0.85) shared by both methods: the pairing), delta_j of mean ``mu``
    and sd ``sd_sent``, each method's seed s shifting all its probabilities by u_s (sd ``sd_seed``); every law
    bounded, so no probability leaves [0, 1] and the true mean difference is exactly ``mu``."""
    q = rng.uniform(0.15, 0.85, J)
    delta = mu + sd_sent * math.sqrt(3) * rng.uniform(-1, 1, J)
    u = sd_seed * math.sqrt(3) * rng.uniform(-1, 1, (2, S))
    pa, pb = q + delta / 2 + u[0][:, None], q - delta / 2 + u[1][:, None]
    return (rng.random((S, J)) < pa).astype(np.int8), (rng.random((S, J)) < pb).astype(np.int8)


def test_two_way_interval_covers_at_its_level_where_the_independent_bootstrap_over_covers():
    """300 simulated studies of 10 seeds x 400 sentences (true difference 1 point): the two-way interval covers the
    truth about 95% of the time and its standard error matches the estimate's true spread; the bootstrap that
    resamples seeds and sentences independently counts the seed-by-sentence noise about three times (Owen 2007):
    wider, covering nearly always."""
    from pkdstudy.stats import two_way

    rng = np.random.default_rng(0)
    means, ses, covered, boot_covered, boot_half = [], [], 0, 0, []
    for i in range(300):
        a, b = _seeds_by_sentences(rng, 10, 400)
        w = two_way(a, b)
        means.append(w["mean"])
        ses.append(w["se"])
        covered += w["low"] <= 1.0 <= w["high"]
        if i < 150:  # the bootstrap is the slow part
            low, high = paired_bootstrap(a, b, n_boot=200, seed=i)
            boot_covered += low <= 1.0 <= high
            boot_half.append((high - low) / 2)
    spread = float(np.std(means))
    assert 0.92 <= covered / 300 <= 0.98
    assert np.mean(ses) == pytest.approx(spread, rel=0.1)
    assert boot_covered / 150 > 0.985 and np.mean(boot_half) / 1.96 > 1.3 * spread


def test_an_equivalence_the_wider_intervals_do_not_support_is_flagged():
    from pkdstudy.claims import verdict

    row = {
        "n_seeds": 14,
        "n_teachers": 3,
        "p_holm": 0.9,
        "tost_holm": 0.01,
        "mean_diff": -0.04,
        "power": 0.4,
        "sent_low": -0.70,
        "sent_high": 0.68,
        "two_low": -0.3,
        "two_high": 0.2,
        "sign_flip_p": 0.9,
    }
    v = verdict(row)
    assert v.startswith("equivalent within ±0.5 points on this test set with these 3 teachers (TOST, Holm p = 0.010)")
    assert v.endswith(
        "; on sentences like these not shown (the seeds-and-sentences 95% interval [-0.70, +0.68] reaches beyond ±0.5)"
    )  # the teachers' interval lies within the margin: no caveat for it


def _with_sentences(n_seeds=8, n=200, lead=3, cpus=None):
    """kd and ft runs over ``n_seeds`` seeds with per-sentence correctness (kd right on ``lead`` + seed % 3 more
    sentences than ft) and, where ``cpus`` gives them, the CPU each run's record names."""
    rng = np.random.default_rng(5)
    correct = {}
    for s in range(n_seeds):
        ft = (rng.random(n) < 0.8).astype(int)
        kd = ft.copy()
        kd[np.flatnonzero(ft == 0)[: lead + s % 3]] = 1
        correct[("ft", s)], correct[("kd", s)] = "".join(map(str, ft)), "".join(map(str, kd))
    acc = {k: np.mean([int(c) for c in v]) for k, v in correct.items()}
    df, records = synthetic([acc[("kd", s)] for s in range(n_seeds)], [acc[("ft", s)] for s in range(n_seeds)], correct)
    for (m, s), cpu in (cpus or {}).items():
        records[f"{m}-{s}"]["provenance"] = {"hardware": {"cpu": cpu}}
    return df, records


def test_pairs_known_at_declaration_get_a_sensitivity_row_that_decides_nothing():
    """The pairs of two runs known when the profile was declared are counted, and the row without them follows:
    family 'sensitivity', its p Holm-adjusted as if it stood in place of its row's (the declared primary family of
    three: min(1, 3 p)); the closing sentence counts it apart from the families."""
    from pkdstudy.claims import fmt_p

    df, records = _with_sentences()
    known = frozenset(f"{m}-{s}" for m in ("kd", "ft") for s in range(3)) | {"kd-3"}  # kd-3 alone: one side
    table, sentences = claims(_teacher(df), "test", records, known=known)
    main, sens = table.iloc[0], table.iloc[1]
    assert (main["family"], sens["family"]) == ("primary", "sensitivity")
    assert (main["known_pairs"], main["known_one_side"], main["n_seeds"], sens["n_seeds"]) == (3, 1, 8, 5)
    keep = [s for s in range(8) if s >= 3]
    d = (df[df.method == "kd"].test.to_numpy() - df[df.method == "ft"].test.to_numpy())[keep] * 100
    assert sens["mean_diff"] == pytest.approx(d.mean()) and sens["p_holm"] == pytest.approx(
        min(1, 3 * paired_t(d)["p"])
    )
    assert sens["comparison"] == "KD - FT, without the 3 pairs known at declaration"
    assert sens["verdict"].startswith(("held on this test set (Holm ", "undecided (Holm "))
    assert fmt_p(sens["p_holm"]) in sens["verdict"]
    assert (
        "3 of these pairs' results were known when the study was declared (the sensitivity row without them "
        "follows); in 1 pair one run's result was known" in sentences[0]
    )
    assert "[sensitivity]: KD - FT, without the 3 pairs" in sentences[1]
    assert sentences[-1].endswith(
        "; 1 sensitivity row (without the pairs whose results were known when the study was declared) decides nothing."
    )
    assert (table.family == "primary").sum() == 1  # the family the Holm adjustment runs over is unchanged


def test_a_row_whose_pairs_were_all_known_says_it_is_no_new_evidence():
    df, records = _with_sentences()
    known = frozenset(f"{m}-{s}" for m in ("kd", "ft") for s in range(8))
    table, sentences = claims(_teacher(df), "test", records, known=known)
    assert table.iloc[0]["known_pairs"] == 8 and "sensitivity" not in set(table.family)
    assert sentences[0].endswith(
        "; all 8 pairs' results were known when the study was declared (not new evidence; no sensitivity row: none "
        "remain)."
    )


def test_a_row_with_one_pair_left_says_why_no_sensitivity_row_follows():
    df, records = _with_sentences()
    known = frozenset(f"{m}-{s}" for m in ("kd", "ft") for s in range(7))
    table, sentences = claims(_teacher(df), "test", records, known=known)
    assert "sensitivity" not in set(table.family)
    assert sentences[0].endswith(
        "; 7 of these pairs' results were known when the study was declared (no sensitivity row: 1 pair remains)."
    )


def test_the_train_dev_gap_row_counts_and_sets_apart_the_pairs_known_at_declaration():
    from pkdstudy.claims import _gap

    rows, records = [], {}
    gaps = {"kd": [10, 12, 11, 13, 10], "pkd-skip": [8, 11, 9, 10, 10]}  # KD - PKD = 2, 1, 2, 3, 0
    for method, gs in gaps.items():
        for seed, g in enumerate(gs):
            rid = f"{method}-{seed}"
            rows.append({"run_id": rid, "task": "rt", "method": method, "layers": 3, "seed": seed, "dev": 0.8})
            records[rid] = {
                "best_epoch": 1,
                "selection_metric": "dev/accuracy",
                "epochs": [{"dev": {"accuracy": 0.8}, "train_eval": {"accuracy": 0.8 + g / 100}}],
            }
    known = frozenset({"kd-0", "pkd-skip-0", "kd-1", "pkd-skip-1", "kd-2"})  # pairs 0 and 1; pair 2 on one side
    (row,) = _gap(pd.DataFrame(rows), "rt", 3, records, known)
    assert (row["n_seeds"], row["known_pairs"], row["known_one_side"]) == (5, 2, 1)
    assert row["mean_diff"] == pytest.approx(8 / 5) and row["without_known"]["n_seeds"] == 3
    assert row["without_known"]["mean_diff"] == pytest.approx(5 / 3)  # pairs 2, 3, 4: 2, 3, 0
    table, _ = claims(_teacher(pd.DataFrame(rows).assign(test=0.8)), "test", records, known=known)
    gap = table[table.claim.str.startswith("4.")]
    assert list(gap.family) == ["secondary", "sensitivity"] and list(gap.n_seeds) == [5, 3]


def test_mixed_machine_pairs_are_counted_and_the_same_machine_pairs_shown_alone():
    cpus = {(m, s): "AMD EPYC" for m in ("kd", "ft") for s in range(8)} | {("kd", 0): "Intel Xeon", ("ft", 1): "X"}
    df, records = _with_sentences(cpus=cpus)
    r = paired(df, "test", "kd", "ft", 3, "rt", records)
    d = (df[df.method == "kd"].test.to_numpy() - df[df.method == "ft"].test.to_numpy())[2:] * 100
    t = paired_t(d)
    assert (
        r["mixed_machine"] == "2/8"
        and r["same_machine"] == f"{t['mean']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}], N=6"
    )
    _, sentences = claims(_teacher(df), "test", records)
    assert (
        f"; 2 of 8 pairs ran their two runs on different machines: on the same-machine pairs alone "
        f"{r['same_machine']}" in sentences[0]
    )
    df_same, rec_same = _with_sentences(cpus={k: "AMD EPYC" for k in cpus})
    same = paired(df_same, "test", "kd", "ft", 3, "rt", rec_same)
    assert same["mixed_machine"] == "0/8" and "same_machine" not in same
    for (m, s), bf16 in {("kd", 0): True, ("ft", 0): False, ("kd", 1): None, ("ft", 1): True}.items():
        rec_same[f"{m}-{s}"]["provenance"]["hardware"]["native_bf16"] = bf16  # one model name, two generations
    assert paired(df_same, "test", "kd", "ft", 3, "rt", rec_same)["mixed_machine"] == "1/8"  # unknown: not counted
    assert "mixed_machine" not in paired(df, "test", "kd", "ft", 3, "rt", _with_sentences()[1])  # cpu not recorded


def test_a_confirmatory_row_names_its_test_set_and_p_below_0001_is_not_printed_as_0():
    from pkdstudy.claims import fmt_p

    assert (fmt_p(0.0004), fmt_p(0.0005), fmt_p(0.0171)) == ("p < 0.001", "p = 0.001", "p = 0.017")
    df, records = _with_sentences(lead=8)
    table, sentences = claims(_teacher(df), "test", records, confirmatory=["1a. KD beats fine-tuning"])
    row = table.iloc[0]
    assert row["p_holm"] < 0.0005 and row["verdict"].startswith("held on this test set (Holm p < 0.001)")
    assert "same test set: the lead this test confirms was found on these same 200 test sentences" in sentences[0]
    assert "same test set" not in claims(_teacher(df), "test", records)[1][0]  # not declared: not confirmatory
