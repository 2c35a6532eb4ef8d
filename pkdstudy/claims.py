"""The paper's claims tested on a study's records, with decision rules declared before the results.

Decision rules (docs/study.md, "How the claims are decided"):

* A comparison is a paired difference a - b in test points over seeds (same classifier init and data order).
* **Primary family**: claims 1a (KD > FT), 1b (PKD-Skip > KD) and 2 (PKD-Skip vs PKD-Last) at the paper's 2:1
  compression (a student with half the teacher's layers). Every other tested row is **secondary**. Holm's
  adjustment runs within each family, and the verdicts use the adjusted p-values.
* **held** / **reversed**: the paired t-test's Holm-adjusted p < 0.05, with the difference above / below 0.
* **equivalent within ±m**: the paired TOST against the margin ``MARGIN`` (the paper's effect sizes on SST-2,
  about 0.5 points), Holm-adjusted within the family, p < 0.05.
* otherwise **undecided**, with the power the design had for the paper's effect.
* N < 5 pairs: **descriptive**, no verdict (an exact sign-flip test of 3 pairs cannot go below p = 0.25).
* Each verdict answers "on this test set" (seeds resampled: the t-interval; with several teachers, every
  teacher-seed pair a replicate: "on this test set with these teachers"); the interval "on sentences like these"
  (seeds and test sentences both random and crossed: ``stats.two_way``, the two-way variance components) and, with
  several teachers, the interval "with other teachers like these" (``stats.two_level_t``: teachers, then seeds) are
  printed beside it, and a verdict either does not support is flagged.
* Dependence is reported, never hidden: a row whose pairs include pairs whose results were known when the profile
  was declared (the profile's ``known_at_declaration``) gets a **sensitivity** row without them where at least 2
  pairs remain (Holm-adjusted as if it stood in its row's family; it decides nothing), and says why where none
  follows; every row counts its mixed-machine pairs (the two runs' records name different CPUs) and gives the
  result on the same-machine pairs alone where some are mixed; a confirmatory row says that the lead it checks was
  found on the same test sentences.
* A profile's arms (variants of the recipe: another beta, more epochs) are compared apart from the main cells,
  as secondary rows (``arm_claims``).
* A **confirmatory** profile names, before it runs, the claims it was designed to decide (its ``confirmatory``
  list: a claim's name, with ``[arm]`` for an arm's row): they form a family of their own (Holm over the declared
  claims, one not tested counted as p = 1), neither primary nor secondary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pkdlib.methods import LABELS as METHOD_LABEL
from pkdlib.methods import METHODS

from .stats import (
    holm,
    mcnemar,
    paired_t,
    power_paired,
    retention_bootstrap,
    sign_flip_test,
    tost,
    two_level_t,
    two_way,
)

#: the claims as (a, b, name): "a beats b"; the first three are the primary family at the paper's compression
CLAIMS = (
    ("kd", "ft", "1a. KD beats fine-tuning"),
    ("pkd-skip", "kd", "1b. PKD beats KD"),
    ("pkd-skip", "pkd-last", "2. PKD-Skip >= PKD-Last"),
    ("pkd-skip", "pkd-bottom", "6a. layer choice: PKD-Skip vs PKD-Bottom"),
    ("pkd-mean", "pkd-skip", "7. PKD on mean-pooled states vs [CLS]"),
    ("pkd-mean", "kd", "7b. PKD on mean-pooled states beats KD"),
    ("at", "kd", "9a. attention transfer beats KD"),
    ("at", "pkd-skip", "9b. attention transfer vs PKD-Skip"),
)
PRIMARY = ("1a.", "1b.", "2.")
#: the equivalence margin and the effect the power is computed for, in test points: the paper's SST-2 gains
#: (BERT3: KD - FT +0.5, PKD - KD +0.6; BERT6: +0.8, +0.5)
MARGIN = 0.5
#: fewer pairs than this: descriptive only
MIN_PAIRS = 5


def _pairs(df, split, a, b, layers, task):
    """Rows of methods a and b at one size, paired by replicate: the same seed (same init and data order) and the
    same teacher; a method that never reads its teacher (ft) pairs with every teacher's run of its seed. The rows
    come back aligned, each a's with a ``pair_teacher`` column (the pair's teacher; "" when neither reads one)."""
    x, y = (df[(df.method == m) & (df.layers == layers) & (df.task == task)].reset_index(drop=True) for m in (a, b))
    x, y = (z.assign(teacher=z["teacher"].fillna("") if "teacher" in z else "") for z in (x, y))
    keys = ["teacher", "seed"] if len(x) and len(y) and x.teacher.ne("").all() and y.teacher.ne("").all() else ["seed"]
    m = pd.merge(x[keys].reset_index(), y[keys].reset_index(), on=keys).sort_values(keys + ["index_x"])
    xs, ys = x.loc[m.index_x].reset_index(drop=True), y.loc[m.index_y].reset_index(drop=True)
    return xs.assign(pair_teacher=np.where(xs.teacher != "", xs.teacher, ys.teacher)), ys


def _correct(records, runs: pd.DataFrame, split):
    """The runs' per-example test correctness as 0/1 lists (None unless every record holds it)."""
    if not records or "run_id" not in runs:
        return None
    found = [records.get(r, {}).get("test_correct", {}).get(split) for r in runs.run_id]
    return [[int(c) for c in u] for u in found] if found and all(found) else None


def paired(
    df: pd.DataFrame,
    split: str,
    a: str,
    b: str,
    layers: int,
    task: str,
    records=None,
    comparison: str | None = None,
    known=frozenset(),
) -> dict | None:
    """a - b in points over paired seeds: t-interval and p, TOST against the margin, power for the paper's effect,
    exact sign-flip p, and (where the records hold per-example correctness) McNemar per replicate and the two-way
    interval over seeds and test sentences; the mixed-machine pairs. Pairs that are not independent (crossed: one
    run in several pairs, or one seed under several teachers) are averaged per seed first, so the replicate is the
    seed. ``known``: run ids whose results were known when the profile was declared; the pairs of two such runs are
    counted (``known_pairs``) and the row without them is kept in ``without_known`` (the sensitivity row)."""
    x, y = _pairs(df, split, a, b, layers, task)
    if len(x) < 2:
        return None
    head = {"task": task, "layers": layers, "comparison": comparison or f"{METHOD_LABEL[a]} - {METHOD_LABEL[b]}"}
    row = {**head, **_compare(x, y, split, records)}
    if known and "run_id" in x:
        _set_apart(
            row,
            x,
            y,
            known,
            lambda m: _compare(x[m].reset_index(drop=True), y[m].reset_index(drop=True), split, records),
        )
    return row


def _set_apart(row: dict, x: pd.DataFrame, y: pd.DataFrame, known, compare) -> None:
    """Count a row's pairs whose two runs' results were known at declaration (``known_pairs``) and those with one
    (``known_one_side``); keep in ``without_known`` the row without the first (``compare(mask)``: the sensitivity
    row) where at least 2 pairs remain, else why there is none ('none remain', '1 pair remains')."""
    kx, ky = x.run_id.isin(known).to_numpy(), y.run_id.isin(known).to_numpy()
    row["known_pairs"], row["known_one_side"] = int((kx & ky).sum()), int((kx ^ ky).sum())
    rest = ~(kx & ky)
    if row["known_pairs"]:
        row["without_known"] = compare(rest) if rest.sum() >= 2 else ("1 pair remains" if rest.any() else "none remain")


def _compare(x: pd.DataFrame, y: pd.DataFrame, split: str, records) -> dict:
    """The columns of a claims row for aligned pairs ``x``, ``y`` (``_pairs``)."""
    d = (x[split] - y[split]).to_numpy() * 100
    no_sentences = {"mcnemar_p05": None, "sentences_ci": None}
    if _crossed(x, y):
        per_seed = pd.Series(d).groupby(x.seed.to_numpy()).mean()
        return {
            **_difference(per_seed.to_numpy()),
            **no_sentences,
            **_machines(x, y, records, None),
            "n_teachers": x.pair_teacher.nunique(),
            "unit": "seed (teachers crossed with seeds: averaged per seed)",
        }
    row = {**_difference(d), **no_sentences, **_two_level(d, x.pair_teacher), **_machines(x, y, records, d)}
    ca, cb = _correct(records, x, split), _correct(records, y, split)
    if split == "test" and ca and cb:
        row["mcnemar_p05"] = (
            f"{sum(mcnemar(''.join(map(str, u)), ''.join(map(str, v)))['p'] < 0.05 for u, v in zip(ca, cb))}/{len(ca)}"
        )
        w = two_way(ca, cb)
        row.update(
            sent_low=w["low"],
            sent_high=w["high"],
            sentences_ci=f"[{w['low']:+.2f}, {w['high']:+.2f}]",
            sentence_floor=w["floor"],
            n_sentences=len(ca[0]),
        )
    return row


def _other_machine(u: dict, v: dict) -> bool:
    """Did two runs run on different machines? Their records' CPU models differ, or both record native bf16
    (``hardware.native_bf16``) and differ in it: two generations of AMD EPYC both report "AMD EPYC"."""
    bf16 = u.get("native_bf16"), v.get("native_bf16")
    return u["cpu"] != v["cpu"] or (None not in bf16 and bf16[0] != bf16[1])


def _machines(x: pd.DataFrame, y: pd.DataFrame, records, d) -> dict:
    """``mixed_machine`` k/N: the pairs whose two runs ran on different machines (``_other_machine``); with some
    mixed and at least 2 not (``d``: the pairs' differences), ``same_machine``: the t-interval on those alone."""
    if not records or "run_id" not in x:
        return {}
    hw = [[records.get(r, {}).get("provenance", {}).get("hardware", {}) for r in z.run_id] for z in (x, y)]
    if not all("cpu" in h for h in hw[0] + hw[1]):
        return {}
    mixed = np.array([_other_machine(u, v) for u, v in zip(*hw)])
    out = {"mixed_machine": f"{int(mixed.sum())}/{len(mixed)}"}
    if d is not None and mixed.any() and (~mixed).sum() >= 2:
        t = paired_t(d[~mixed])
        out["same_machine"] = f"{t['mean']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}], N={t['n']}"
    return out


def _crossed(x: pd.DataFrame, y: pd.DataFrame) -> bool:
    """Are the pairs dependent: a run in more than one pair, or a seed (init and data order) under several teachers?"""
    run_in_two_pairs = "run_id" in x and "run_id" in y and not (x.run_id.is_unique and y.run_id.is_unique)
    return run_in_two_pairs or bool((x.groupby("seed").pair_teacher.nunique() > 1).any())


def _two_level(d, teachers) -> dict:
    """With pairs from several teachers (nested: each seed under one teacher): the interval over teachers and
    seeds (``stats.two_level_t``)."""
    names = sorted(set(teachers))
    if len(names) < 2:
        return {"n_teachers": len(names)}
    r = two_level_t([d[np.asarray(teachers) == t] for t in names])
    return {
        "n_teachers": len(names),
        "two_low": r["low"],
        "two_high": r["high"],
        "two_level_ci": f"[{r['low']:+.2f}, {r['high']:+.2f}]" + (" (se: the seeds' part)" if r["floored"] else ""),
    }


def _difference(d) -> dict:
    """The columns of a claims row for paired differences ``d`` (points): t-interval and p, TOST against the
    margin, exact sign-flip p, power for the paper's effect."""
    t = paired_t(d)
    return {
        "n_seeds": t["n"],
        "mean_diff": t["mean"],
        "ci_low": t["low"],
        "ci_high": t["high"],
        "detectable": t["detectable"],
        "p": t["p"],
        "sd": t["sd"],
        "tost_p": tost(d, MARGIN)["p"],
        "sign_flip_p": sign_flip_test(d),
        "power": power_paired(t["sd"], t["n"], MARGIN),
    }


def fmt_p(p: float) -> str:
    """'p = 0.017', or 'p < 0.001' where three decimals would print 0.000."""
    return "p < 0.001" if p < 0.0005 else f"p = {p:.3f}"


def verdict(r) -> str:
    """The verdict of one tested row, by the rules above (``p_holm``, ``tost_holm`` already in the row)."""
    n = int(r["n_seeds"])
    if n < MIN_PAIRS:
        return f"descriptive: N={n} pairs (< {MIN_PAIRS}), no verdict; exact sign-flip p = {r['sign_flip_p']:.2f}"
    t = int(r["n_teachers"]) if pd.notna(r.get("n_teachers")) else 1
    where = f"on this test set with these {t} teachers" if t > 1 else "on this test set"
    if r["p_holm"] < 0.05:
        word = "held" if r["mean_diff"] > 0 else "reversed"
        return f"{word} {where} (Holm {fmt_p(r['p_holm'])})" + _caveats(r)
    if r["tost_holm"] < 0.05:
        return f"equivalent within ±{MARGIN:g} points {where} (TOST, Holm {fmt_p(r['tost_holm'])})" + _caveats(
            r, equivalence=True
        )
    effect = (
        f"a {MARGIN:g}-point difference (the paper gives no size for the gap)"
        if str(r["claim"]).startswith("4.")
        else f"the paper's effect of {MARGIN:g} points"
    )
    return (
        f"undecided (Holm {fmt_p(r['p_holm'])}, TOST Holm {fmt_p(r['tost_holm'])}; power for {effect}: "
        f"{r['power'] * 100:.0f}% at N={n}, {r['power_holm'] * 100:.0f}% at "
        f"Holm's strictest level; observed sd; neither shown nor excluded)"
    )


def interim_verdict(r) -> str:
    """What a row of a study committed part-way says instead of a verdict: its rule applies to the planned design,
    and reading it at every interim report would be optional stopping (no stopping boundary was declared)."""
    if pd.isna(r.get("p_holm")) or int(r["n_seeds"]) < MIN_PAIRS:
        return r["verdict"]
    return (
        f"no verdict until the study is complete (so far: Holm {fmt_p(r['p_holm'])}, TOST Holm {fmt_p(r['tost_holm'])})"
    )


#: the wider questions beside a verdict: what it is called, its interval's name and columns
WIDER = (
    ("on sentences like these", "seeds-and-sentences", "sent_low", "sent_high"),
    ("with other teachers like these", "teachers-and-seeds", "two_low", "two_high"),
)


#: why a wider interval can be missing
_MISSING = {
    "sent_low": "no per-sentence correctness of this split in the records, or pairs averaged per seed",
    "two_low": "teachers crossed with seeds, or no spread to estimate",
}


def _caveats(r, equivalence: bool = False) -> str:
    """'; <question> not shown (...)' for each wider interval the row has that does not support its verdict: for
    held / reversed it must exclude 0 on the verdict's side; for equivalence it must lie within the margin."""
    out = ""
    for question, name, lo, hi in WIDER:
        low, high = r.get(lo), r.get(hi)
        if low is None or pd.isna(low):
            gap = str(r.get("claim", "")).startswith("4.")  # a train - dev gap has no sentence-level question
            if (lo == "sent_low" and not gap) or (
                lo == "two_low" and pd.notna(r.get("n_teachers")) and r["n_teachers"] > 1
            ):
                out += f"; {question} not assessed (no {name} interval: {_MISSING[lo]})"
            continue  # one teacher: "on this test set" says so already
        if equivalence:
            ok, fails = -MARGIN < low and high < MARGIN, f"reaches beyond ±{MARGIN:g}"
        else:
            ok, fails = (low > 0 if r["mean_diff"] > 0 else high < 0), "includes 0"
        if not ok:
            out += f"; {question} not shown (the {name} 95% interval [{low:+.2f}, {high:+.2f}] {fails})"
    return out


def _retention(df, split, task, k, speed, records) -> list[dict]:
    """Claim 3: the k-layer PKD-Skip student keeps X% of the teacher's accuracy at the measured speed-up; the
    interval resamples test sentences, student seeds and teachers (the teacher's own sampling error)."""
    s = df[(df.method == "pkd-skip") & (df.layers == k) & (df.task == task)]
    t = df[(df.method == "teacher") & (df.task == task)]
    if len(s) < 2 or not len(t):
        return []
    sc, tc = _correct(records, s, split), _correct(records, t, split)
    if split == "test" and sc and tc:
        est, low, high = retention_bootstrap(sc, tc)
        how = (
            "seeds, teachers and test sentences resampled (a bootstrap over so few teachers understates their spread)"
            if len(t) > 1
            else "seeds and test sentences resampled, the teacher's too: its own sampling error; one teacher"
        )
    else:
        r = paired_t(s[split].to_numpy() / t[split].mean() * 100)
        est, low, high, how = r["mean"], r["low"], r["high"], "seeds resampled; the teacher's accuracy taken as exact"
    row = {x["layers"]: x for x in (speed or {}).get("rows", [])}.get(k)
    sp = row and f"{row['speedup']:.2f}x" + (
        f" (range {row['speedup_low']:.2f}-{row['speedup_high']:.2f} over {row['repeats']} repeats)"
        if "speedup_low" in row
        else ""
    )
    return [
        {
            "claim": "3. a smaller student keeps most of the teacher's accuracy",
            "task": task,
            "layers": k,
            "comparison": "PKD-Skip / teacher (%)",
            "n_seeds": len(s),
            "mean_diff": est,
            "ci_low": low,
            "ci_high": high,
            "verdict": (f"descriptive: N={len(s)} seeds (< {MIN_PAIRS}): " if len(s) < MIN_PAIRS else "")
            + f"keeps {est:.1f}% [{low:.1f}, {high:.1f}] of the teacher's accuracy ({how}"
            + (f", {len(t)} teachers)" if len(t) > 1 else ")")
            + (f" at a measured {sp} inference speed-up" if sp else ""),
        }
    ]


def _gap(df, task, k, records, known=frozenset()) -> list[dict]:
    """Claim 4: does PKD overfit less than KD? The train - dev accuracy gap at the selected epoch, KD's minus
    PKD-Skip's, so that 'held' (interval above 0) means PKD's gap is smaller; pairs known at declaration counted
    and set apart as in ``paired``."""
    x, y = _pairs(df, "dev", "pkd-skip", "kd", k, task)
    if len(x) < 2 or k == 1:
        return []

    def gap(rid):
        e = (records or {}).get(rid, {}).get("epochs", [])
        best = e[records[rid]["best_epoch"] - 1] if e else {}
        dev = best.get(records[rid]["selection_metric"].split("/")[0], {}).get("accuracy") if best else None
        return (best["train_eval"]["accuracy"] - dev) * 100 if "train_eval" in best and dev is not None else None

    ga, gb = [gap(r) for r in x.run_id], [gap(r) for r in y.run_id]
    row = {
        "claim": "4. PKD overfits less than KD (train - dev gap)",
        "task": task,
        "layers": k,
        "comparison": "gap KD - gap PKD-Skip",
    }
    if None in ga + gb:
        return [
            {**row, "verdict": "n/a: these records have no eval-mode training accuracy (made before it was recorded)"}
        ]
    d = np.array(gb) - np.array(ga)

    def over(m) -> dict:  # the row's columns over the pairs m selects
        xm, ym = x[m].reset_index(drop=True), y[m].reset_index(drop=True)
        return {**_difference(d[m]), **_two_level(d[m], xm.pair_teacher), **_machines(xm, ym, records, d[m])}

    row = {**row, **over(np.ones(len(d), dtype=bool))}
    if known:
        _set_apart(row, x, y, known, over)
    return [row]


def init_claims(df_all: pd.DataFrame, df: pd.DataFrame, split: str, records=None) -> list[dict]:
    """Claim 6b (beyond the paper): a student whose k layers come from the fine-tuned teacher, or are random,
    against the same method with the pre-trained first k layers (``df``: the main cells), paired by seed."""
    rows = []
    for (task, k, m, init), g in df_all[df_all.init != "pretrained"].groupby(["task", "layers", "method", "init"]):
        base = df[(df.task == task) & (df.layers == k) & (df.method == m)]
        both = pd.concat([g.assign(method="variant"), base])
        name = f"{METHOD_LABEL[m]}: {init} init - pre-trained"
        r = paired(both, split, "variant", m, k, task, records, comparison=name)
        if r:
            rows.append({"claim": "6b. student initialisation", **r})
    return rows


def arm_claims(df: pd.DataFrame, arms: pd.DataFrame, split: str, records=None, known=frozenset()) -> list[dict]:
    """Each arm (a variant of the recipe that a profile names: another beta, more epochs), kept apart from the
    main cells: every claim whose method a ran in the arm, against b in the same arm where b ran there, else b's
    main runs; and each arm's method against the same method of the recipe. Secondary comparisons. ``known``: as
    ``paired``'s."""
    rows = []
    for (arm, task, k), g in arms.groupby(["arm", "task", "layers"]):
        base, ran = df[(df.task == task) & (df.layers == k)], set(g.method)
        tests = [(a, b, name) for a, b, name in CLAIMS if a in ran]
        tests += [(m, m, "8. the arm against the recipe") for m in sorted(ran, key=list(METHODS).index)]
        for a, b, name in tests:
            other = g if b in ran and a != b else base
            both = pd.concat([g[g.method == a].assign(method="arm"), other[other.method == b].assign(method="other")])
            label = f"{METHOD_LABEL[a]} [{arm}] - {METHOD_LABEL[b]}" + (f" [{arm}]" if other is g else "")
            r = paired(both, split, "arm", "other", k, task, records, comparison=label, known=known)
            if r:
                rows.append({"claim": f"{name} [{arm}]", "arm": arm, **r})
    return rows


def _sentence(r, split) -> str:
    what = "train - dev at the selected epoch" if str(r["claim"]).startswith("4.") else split
    head = (
        f"{r['claim']} ({r['task']}, {int(r['layers'])}-layer student, {what})" if pd.notna(r["layers"]) else r["claim"]
    )
    if pd.isna(r.get("mean_diff")) or r["claim"].startswith("3."):
        return f"{head}: {r['verdict']}."
    sent = (
        f"; seeds and sentences {r['sentences_ci']} (test-set floor ±{r['sentence_floor']:.2f})"
        if isinstance(r.get("sentences_ci"), str)
        else ""
    )
    two = (
        f"; teachers and seeds {r['two_level_ci']} ({int(r['n_teachers'])} teachers)"
        if isinstance(r.get("two_level_ci"), str)
        else ""
    )
    return (
        f"{head} [{r['family']}]: {r['comparison']} = {r['mean_diff']:+.2f} points, 95% CI over seeds "
        f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]{sent}{two}, N={int(r['n_seeds'])}: {r['verdict']}"
        f"{_dependence(r)}."
    )


def _count(r, key) -> int:
    return int(r[key]) if pd.notna(r.get(key)) else 0


def _dependence(r) -> str:
    """What a row's pairs share beyond their seeds: pairs known when the profile was declared, one run of a pair
    known, pairs whose runs ran on two machines, and (confirmatory) the test set the lead was found on."""
    out, n = "", int(r["n_seeds"])
    if r.get("family") != "sensitivity" and (k := _count(r, "known_pairs")):
        w = r.get("without_known")
        if isinstance(w, dict):
            out += (
                f"; {k} of these pairs' results were known when the study was declared (the sensitivity row without "
                f"them follows)"
            )
        elif w == "none remain":
            out += (
                f"; all {k} pairs' results were known when the study was declared (not new evidence; no sensitivity "
                f"row: none remain)"
            )
        else:
            out += f"; {k} of these pairs' results were known when the study was declared (no sensitivity row: {w})"
    if r.get("family") != "sensitivity" and (k := _count(r, "known_one_side")):
        out += (
            f"; in {k} pair{'s' if k > 1 else ''} one run's result was known when the study was declared (a "
            f"reused record)"
        )
    mixed = r.get("mixed_machine")
    if isinstance(mixed, str) and not mixed.startswith("0/"):
        k = int(mixed.split("/")[0])
        same = r.get("same_machine")
        out += f"; {k} of {n} pairs ran their two runs on different machines" + (
            f": on the same-machine pairs alone {same}" if isinstance(same, str) else ""
        )
    if r.get("family") == "confirmatory":
        where = (
            f"these same {int(r['n_sentences']):,} test sentences"
            if pd.notna(r.get("n_sentences"))
            else "this same test set"
        )
        out += (
            f"; same test set: the lead this test confirms was found on {where} (every study here tests on the "
            f"one rt test split), so 'held' speaks of this test set and the seeds-and-sentences interval is the "
            f"one that reaches beyond it"
        )
    return out


def _decide(t: pd.DataFrame, n_teacher_layers, confirmatory=()) -> pd.DataFrame:
    """Families, Holm within each, and the verdict of every tested row."""
    tested = t["p"].notna() if "p" in t else pd.Series(False, index=t.index)
    half = {task: n // 2 for task, n in n_teacher_layers.items()}
    primary = [
        bool(tested[i])
        and str(r["claim"]).startswith(PRIMARY)
        and r["layers"] == half.get(r["task"])
        and not (isinstance(r.get("arm"), str) and r["arm"])
        for i, r in t.iterrows()
    ]  # arms: secondary
    confirm = tested & t["claim"].isin(list(confirmatory))
    t["family"] = np.where(confirm, "confirmatory", np.where(primary, "primary", np.where(tested, "secondary", "")))
    t["p_holm"], t["tost_holm"] = np.nan, np.nan
    t["power_holm"] = np.nan
    moved = sum(c.startswith(PRIMARY) and "[" not in c for c in confirmatory)  # primary claims declared confirmatory
    for fam in ("confirmatory", "primary", "secondary"):
        idx = t.index[t.family == fam]
        # a declared family (the primary claims of every task; a confirmatory profile's claims) is adjusted as
        # declared: a claim not tested here counts as p = 1
        m = {
            "primary": max(len(idx), (len(PRIMARY) - moved) * len(half)),
            "confirmatory": max(len(idx), len(confirmatory)),
        }.get(fam, len(idx))
        if len(idx):
            t.loc[idx, "p_holm"] = holm(t.loc[idx, "p"].tolist() + [1.0] * (m - len(idx)))[: len(idx)]
            t.loc[idx, "tost_holm"] = holm(t.loc[idx, "tost_p"].tolist() + [1.0] * (m - len(idx)))[: len(idx)]
            t.loc[idx, "power_holm"] = [
                power_paired(sd, n, MARGIN, 0.05 / m) for sd, n in zip(t.loc[idx, "sd"], t.loc[idx, "n_seeds"])
            ]
        t.attrs[f"m_{fam}"] = m
    for i in t.index[tested]:
        t.loc[i, "verdict"] = verdict(t.loc[i])
    return t


def _with_sensitivity(t: pd.DataFrame) -> pd.DataFrame:
    """After each decided row whose pairs include pairs known when the profile was declared, the same comparison
    without them (``without_known``), family 'sensitivity': its p and TOST p Holm-adjusted as if they stood in
    place of the row's own in its family; its verdict by the same rule; it decides nothing."""
    if "without_known" not in t:
        return t
    out = []
    for i, r in t.iterrows():
        out.append(r.to_dict())
        w = r["without_known"]
        if not isinstance(w, dict) or not r["family"]:
            continue
        fam, m = list(t.index[t.family == r["family"]]), t.attrs[f"m_{r['family']}"]
        pos = fam.index(i)
        adjusted = {}
        for col in ("p", "tost_p"):
            ps = t.loc[fam, col].tolist()
            ps[pos] = w[col]
            adjusted[col] = holm(ps + [1.0] * (m - len(fam)))[pos]
        s = {
            "claim": r["claim"],
            "task": r["task"],
            "layers": r["layers"],
            "arm": r.get("arm"),
            **w,
            "comparison": f"{r['comparison']}, without the {int(r['known_pairs'])} pairs known at declaration",
            "family": "sensitivity",
            "p_holm": adjusted["p"],
            "tost_holm": adjusted["tost_p"],
            "power_holm": power_paired(w["sd"], w["n_seeds"], MARGIN, 0.05 / m),
        }
        out.append({**s, "verdict": verdict(s)})
    res = pd.DataFrame(out)
    res.attrs.update(t.attrs)
    return res


def _families(t: pd.DataFrame) -> str:
    """The closing sentence: each family's size (a declared family's untested claims named)."""
    parts, declared = [], t.attrs["m_confirmatory"]
    for fam in ("confirmatory", "primary"):
        n, m = int((t.family == fam).sum()), t.attrs[f"m_{fam}"]
        untested = f"the {m - n} not tested here count as p = 1" if m > n else ""
        if fam == "confirmatory" and declared:
            parts.append(
                f"{n} confirmatory (declared before the study ran: {m}" + (f"; {untested})" if untested else ")")
            )
        elif fam == "primary" and (n or not declared):
            parts.append(f"{n} primary" + (f" (of the declared {m}: {untested})" if untested else ""))
    parts.append(f"{int((t.family == 'secondary').sum())} secondary comparisons")
    n_sens = int((t.family == "sensitivity").sum())
    return (
        " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
        + f" (descriptive rows, N < {MIN_PAIRS}, counted); Holm's adjustment within each family decides the "
        f"verdicts (rules: docs/study.md, 'How the claims are decided')"
        + (
            f"; {n_sens} sensitivity row{'s' if n_sens > 1 else ''} (without the pairs whose results were known "
            f"when the study was declared) decide{'' if n_sens > 1 else 's'} nothing."
            if n_sens
            else "."
        )
    )


def claims(
    df: pd.DataFrame, split: str, records=None, speed=None, extra=(), confirmatory=(), known=frozenset()
) -> tuple[pd.DataFrame, list[str]]:
    """Every claim per task and size, a row each with effect, both intervals, N, power and verdict; 'n/a' (and
    why) where a claim cannot apply; ``extra``: rows made elsewhere (the init claims); ``confirmatory``: the claims
    a confirmatory profile declared (their own family); ``known``: the run ids whose results were known when the
    profile was declared (each row with pairs of two such runs gets a sensitivity row without them)."""
    rows = []
    sizes = sorted(set(df[df.method != "teacher"].layers), reverse=True)
    for task in sorted(df.task.unique()):
        for k in sizes:
            ran = set(df[(df.task == task) & (df.layers == k)].method)
            for a, b, name in CLAIMS:
                if k == 1 and (METHODS[a].uses_pt or METHODS[b].uses_pt) and ran & {a, b}:
                    rows.append(
                        {
                            "claim": name,
                            "task": task,
                            "layers": k,
                            "comparison": f"{METHOD_LABEL[a]} - {METHOD_LABEL[b]}",
                            "verdict": "n/a: a 1-layer student has "
                            "no intermediate layer to match, so its patient loss is empty (PKD is KD)",
                        }
                    )
                elif len(_pairs(df, split, a, b, k, task)[0]) >= 2:
                    rows.append({"claim": name, **paired(df, split, a, b, k, task, records, known=known)})
            rows += _retention(df, split, task, k, speed, records) + _gap(df, task, k, records, known)
    rows += list(extra)
    rows.append(
        {
            "claim": "5. PKD's results on GLUE (test server)",
            "task": "glue",
            "layers": None,
            "comparison": "-",
            "verdict": "paper profile only: it needs BERT-base and the GLUE test server, not the embedded data",
        }
    )
    teachers = df[df.method == "teacher"].groupby("task")["layers"].max().to_dict()
    t = _with_sensitivity(_decide(pd.DataFrame(rows), teachers, confirmatory))
    sentences = [_sentence(r, split) for _, r in t.iterrows()]
    if t["family"].ne("").any():
        sentences.append(_families(t))
    drop = ["sd", "sent_low", "sent_high", "without_known"]
    return t.drop(columns=drop, errors="ignore"), sentences
