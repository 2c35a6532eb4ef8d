"""Paired comparisons of two methods over replicates (a replicate = a seed: same init and data order).

* ``paired_t``: mean difference, its 95% t-interval over replicates (scipy.stats), and the smallest
  effect the design could detect (two-sided 5%, power 80%): (t_0.975 + t_0.80) * sd / sqrt(n).
* ``mcnemar``: the exact McNemar test of one replicate's two runs on the same test examples.
* ``paired_bootstrap``: a 95% interval of the mean difference resampling replicates and test examples.
* ``holm``: Holm's step-down adjustment of a family of p-values.
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
        return {"n": n, "mean": mean, "sd": float("nan"), "low": float("nan"), "high": float("nan"),
                "p": float("nan"), "detectable": float("nan")}
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    low, high = stats.t.interval(level, n - 1, loc=mean, scale=se) if sd > 0 else (mean, mean)
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if sd > 0 else (1.0 if mean == 0 else 0.0)
    return {"n": n, "mean": mean, "sd": sd, "low": float(low), "high": float(high), "p": p,
            "detectable": detectable_effect(sd, n, 1 - level, power)}


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
    methods, paired by row (replicate) and column (example). Resamples replicates, then examples."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    r = rng.integers(0, a.shape[0], (n_boot, a.shape[0]))
    e = rng.integers(0, a.shape[1], (n_boot, a.shape[1]))
    diff = a - b
    boots = np.array([diff[np.ix_(r[i], e[i])].mean() for i in range(n_boot)]) * 100
    q = (1 - level) / 2
    return float(np.quantile(boots, q)), float(np.quantile(boots, 1 - q))


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
