"""Paired comparisons of two methods over replicates (a replicate = a seed: same init and data order).

* ``paired_t``: mean difference, its 95% t-interval over replicates (scipy.stats), and the smallest
  effect the design could detect (two-sided 5%, power 80%): (t_0.975 + t_0.80) * sd / sqrt(n).
* ``mcnemar``: the exact McNemar test of one replicate's two runs on the same test examples.
* ``two_way``: the interval of the mean difference over seeds and test sentences (both random, crossed), from the
  two-way variance components, and the floor the sentences alone put under it (what more seeds cannot shrink).
* ``paired_bootstrap``: resampling replicates and test examples independently (the pigeonhole bootstrap): it counts
  the seed-by-sentence noise about three times and over-covers (``two_way`` replaces it in the claims; kept to show
  that, ``tests/test_stats.py``).
* ``holm``: Holm's step-down adjustment of a family of p-values.
* ``two_level_t``: the interval over teachers and seeds (one mean difference per teacher).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def paired_t(d, level: float = 0.95, power: float = 0.8) -> dict:
    """Differences ``d`` (one per replicate): mean, sd, n, interval, two-sided p and detectable effect."""
    d = np.asarray(d, dtype=float)
    n, mean = len(d), float(d.mean())
    if n < 2:
        return {
            "n": n,
            "mean": mean,
            "sd": float("nan"),
            "low": float("nan"),
            "high": float("nan"),
            "p": float("nan"),
            "detectable": float("nan"),
        }
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    low, high = stats.t.interval(level, n - 1, loc=mean, scale=se) if sd > 0 else (mean, mean)
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if sd > 0 else (1.0 if mean == 0 else 0.0)
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "low": float(low),
        "high": float(high),
        "p": p,
        "detectable": detectable_effect(sd, n, 1 - level, power),
    }


def detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a paired t-test over ``n`` replicates finds with this power."""
    if n < 2:
        return float("nan")
    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def replicates_needed(sd: float, half_width: float, level: float = 0.95) -> int:
    """Replicates for a t-interval of at most ``half_width`` when the differences have this sd."""
    n = 2
    while stats.t.ppf(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n) > half_width and n < 10_000:
        n += 1
    return n


def mcnemar(a_correct: str, b_correct: str) -> dict:
    """Exact McNemar test of two runs on the same examples ('1' = right, '0' = wrong, in the same order)."""
    if len(a_correct) != len(b_correct):
        raise ValueError(f"the runs were tested on different examples ({len(a_correct)} vs {len(b_correct)})")
    only_a = sum(x == "1" and y == "0" for x, y in zip(a_correct, b_correct))
    only_b = sum(x == "0" and y == "1" for x, y in zip(a_correct, b_correct))
    p = float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    return {"only_a": only_a, "only_b": only_b, "p": p}


def paired_bootstrap(a, b, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """95% interval of mean(a) - mean(b) in points; ``a``, ``b``: (replicates x examples) 0/1 correctness of two
    methods, paired by row (replicate) and column (example). Resamples replicates and examples independently (each
    resample's mean is w_r' D w_e / (S J) with w_r, w_e the draw counts). Owen (2007, "The pigeonhole bootstrap",
    Ann. Appl. Stat.) shows its variance counts the replicate-by-example noise about three times: it over-covers
    (``two_way`` is the interval the claims use)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    S, J = diff.shape
    rng = np.random.default_rng(seed)
    r = rng.integers(0, S, (n_boot, S))
    e = rng.integers(0, J, (n_boot, J))
    w_r = np.stack([np.bincount(x, minlength=S) for x in r])
    w_e = np.stack([np.bincount(x, minlength=J) for x in e])
    boots = ((w_r @ diff) * w_e).sum(axis=1) / (S * J) * 100
    q = (1 - level) / 2
    return float(np.quantile(boots, q)), float(np.quantile(boots, 1 - q))


def _mean_squares(d: np.ndarray) -> dict:
    """Two-way ANOVA without replication of ``d`` (seeds x sentences): the mean squares of seeds, sentences and
    residual (seed-by-sentence interaction and noise) with their degrees of freedom."""
    S, J = d.shape
    grand, rows, cols = d.mean(), d.mean(axis=1), d.mean(axis=0)
    resid = d - rows[:, None] - cols[None, :] + grand
    return {
        "seed": (J * float(((rows - grand) ** 2).sum()) / (S - 1), S - 1),
        "sent": (S * float(((cols - grand) ** 2).sum()) / (J - 1), J - 1),
        "resid": (float((resid**2).sum()) / ((S - 1) * (J - 1)), (S - 1) * (J - 1)),
    }


def _satterthwaite(terms) -> float:
    """Degrees of freedom of sum_k c_k MS_k (``terms``: (c_k, MS_k, df_k)), Satterthwaite (1946):
    (sum c_k MS_k)^2 / sum (c_k MS_k)^2 / df_k."""
    num = sum(c * ms for c, ms, _ in terms) ** 2
    den = sum((c * ms) ** 2 / df for c, ms, df in terms if c)
    return float(num / den) if den > 0 else float("inf")


def two_way(a, b, level: float = 0.95) -> dict:
    """The mean difference of ``a`` - ``b`` (seeds x sentences, 0/1 correctness, paired by row and column) in points,
    with seeds and test sentences both random and crossed: d_sj = mu + seed_s + sent_j + e_sj, so that

        Var(mean d) = var_seed / S + var_sent / J + var_resid / (S J).

    The components are the method-of-moments (two-way ANOVA) estimates, E[MS_seed] = var_resid + J var_seed,
    E[MS_sent] = var_resid + S var_sent, E[MS_resid] = var_resid; a negative component is set to 0. Untruncated,
    the estimate is (MS_seed + MS_sent - MS_resid) / (S J): the paired t-test's squared standard error over seeds,
    MS_seed / (S J), plus the sentences' part var_sent / J. The interval is mean +- t_nu * sqrt(Var), nu by
    Satterthwaite for that combination of mean squares (each a scaled chi-square under the normal model; the
    binary data make it approximate, and the simulation test checks its coverage).

    ``floor``: the half-width that remains with infinitely many seeds, t_{J-1} * sqrt(var_sent / J) (the one-sample
    t-interval over the sentences' exact effects), in points. Returns also the components and nu."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    S, J = d.shape
    mean = float(d.mean()) * 100
    if S < 2 or J < 2:
        return {
            "mean": mean,
            "low": float("nan"),
            "high": float("nan"),
            "se": float("nan"),
            "df": float("nan"),
            "floor": float("nan"),
            "var_seed": float("nan"),
            "var_sent": float("nan"),
            "var_resid": float("nan"),
        }
    ms = _mean_squares(d)
    keep_seed, keep_sent = ms["seed"][0] > ms["resid"][0], ms["sent"][0] > ms["resid"][0]
    coef = {"seed": float(keep_seed), "sent": float(keep_sent), "resid": 1.0 - keep_seed - keep_sent}
    var = sum(coef[k] * ms[k][0] for k in ms) / (S * J)
    df = _satterthwaite([(coef[k], *ms[k]) for k in ms])
    se = math.sqrt(max(var, 0.0)) * 100
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se if se > 0 else 0.0
    var_sent = max(0.0, (ms["sent"][0] - ms["resid"][0]) / S)
    return {
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "se": se,
        "df": df,
        "floor": float(stats.t.ppf(0.5 + level / 2, J - 1)) * math.sqrt(var_sent / J) * 100,
        "var_seed": max(0.0, (ms["seed"][0] - ms["resid"][0]) / J),
        "var_sent": var_sent,
        "var_resid": ms["resid"][0],
    }


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values (family-wise error), in the input order; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    out, running = np.full(len(p), np.nan), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ok) - rank) * p[i]))
        out[i] = running
    return out.tolist()


def power_paired(sd: float, n: int, effect: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test over ``n`` replicates to find a true mean difference ``effect`` when
    the differences have this sd (noncentral t)."""
    if n < 2 or not sd > 0:
        return float("nan")
    df, nc = n - 1, effect / (sd / math.sqrt(n))
    t = stats.t.ppf(1 - alpha / 2, df)
    return float(1 - stats.nct.cdf(t, df, nc) + stats.nct.cdf(-t, df, nc))


def tost(d, margin: float, alpha: float = 0.05) -> dict:
    """Paired equivalence test (two one-sided t-tests) of differences ``d`` against (-margin, +margin):
    p = max(p of H0 mean <= -margin, p of H0 mean >= +margin); equivalent when p < alpha, i.e. when the
    (1 - 2 alpha) t-interval lies inside the margin."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n < 2:
        return {"p": float("nan"), "equivalent": False, "margin": margin}
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    p = float(max(lower, upper))
    return {"p": p, "equivalent": p < alpha, "margin": margin}


def sign_flip_test(d, n_resamples: int = 100_000, seed: int = 0) -> float:
    """Two-sided permutation test of paired differences (each replicate's sign flipped): exact over all 2^n
    flips up to n = 16, Monte Carlo beyond. With n pairs the smallest p is 2 / 2^n (0.25 for n = 3)."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n == 0:
        return float("nan")
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(n_resamples, n))
    means = np.abs((signs * d).mean(axis=1))
    return float(np.mean(means >= abs(d.mean()) - 1e-12))


def hierarchical_bootstrap(groups, n_boot: int = 4000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Interval of the grand mean of ``groups`` (one array of replicate values per teacher): resamples teachers,
    then replicates within each drawn teacher, so the interval carries teacher-to-teacher variance."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        drawn = [groups[j] for j in rng.integers(0, len(groups), len(groups))]
        boots[i] = np.mean([g[rng.integers(0, len(g), len(g))].mean() for g in drawn])
    q = (1 - level) / 2
    return float(np.quantile(boots, q)), float(np.quantile(boots, 1 - q))


def two_level_t(groups, level: float = 0.95) -> dict:
    """The two-level (teachers, then seeds) interval of a mean difference: ``groups`` holds one array of paired
    differences per teacher, each teacher with seeds of its own (nested; seeds shared between teachers would put
    their common part in every teacher mean and out of this interval). Each teacher's mean then carries its seeds'
    spread and the teacher-to-teacher spread, so the t-interval of the teacher means (T - 1 degrees of freedom)
    answers "with other teachers like these" (the one-way random-effects model's interval for a balanced design;
    unbalanced: teachers weighted alike).

    Its standard error is never below the part the seeds alone put in the teacher means, sqrt(s_w^2 sum(1/n_t))/T
    (s_w^2: the pooled within-teacher variance): with few teachers the means can agree by chance more closely than
    their own seed noise allows (the moment estimate of the teacher variance is then below 0; it is set to 0, as
    REML would in a balanced design). ``floored`` says when that happened."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    means = np.array([g.mean() for g in groups])
    T, mean = len(means), float(means.mean())
    between = float(means.std(ddof=1)) / math.sqrt(T) if T > 1 else float("nan")
    dof_w = sum(len(g) - 1 for g in groups)
    within = (
        math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof_w * sum(1 / len(g) for g in groups)) / T
        if dof_w > 0
        else 0.0
    )
    se = max(between, within)
    if T < 2 or not se > 0:
        return {
            "n_teachers": T,
            "mean": mean,
            "low": float("nan"),
            "high": float("nan"),
            "p": float("nan"),
            "sd_teachers": float("nan"),
            "floored": False,
        }
    q = stats.t.ppf(0.5 + level / 2, T - 1)
    return {
        "n_teachers": T,
        "mean": mean,
        "low": float(mean - q * se),
        "high": float(mean + q * se),
        "p": float(2 * stats.t.sf(abs(mean) / se, T - 1)),
        "sd_teachers": float(means.std(ddof=1)),
        "floored": within > between,
    }


def retention_bootstrap(student, teacher, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """Retention (student accuracy / teacher accuracy, %) with both sampling errors: ``student`` (replicates x
    examples) and ``teacher`` (teachers x examples) 0/1 correctness on the same test examples; resamples test
    examples (shared by both), student replicates and teachers. Returns (estimate, low, high)."""
    s, t = np.asarray(student, dtype=float), np.atleast_2d(np.asarray(teacher, dtype=float))
    rng = np.random.default_rng(seed)
    est = s.mean() / t.mean() * 100
    boots = np.empty(n_boot)
    for i in range(n_boot):
        e = rng.integers(0, s.shape[1], s.shape[1])
        rs, rt = rng.integers(0, s.shape[0], s.shape[0]), rng.integers(0, t.shape[0], t.shape[0])
        boots[i] = s[np.ix_(rs, e)].mean() / t[np.ix_(rt, e)].mean() * 100
    q = (1 - level) / 2
    return float(est), float(np.quantile(boots, q)), float(np.quantile(boots, 1 - q))
