"""Tables and figures of a study, built from its run records only.

The study's manifest (results/manifest-<profile>.json) lists the exact records of the profile's
runs, so a table never mixes records of another configuration. Cells are mean +- std over seeds
with N stated; paired differences over seeds get a 95% t-interval.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pkdlib.errors import KnownError
from pkdlib.files import atomic_write, atomic_write_text
from pkdlib.methods import LABELS as METHOD_LABEL
from pkdlib.methods import METHODS
from pkdlib.records import seal_problem
from pkdlib.terms import TERMS

from .claims import arm_claims, claims, init_claims
from .profiles import PROFILES

#: the paper's Table 1 rows
TABLE1_METHODS = ("teacher", "ft", "kd", "pkd-skip")


class ReportError(KnownError, ValueError):
    """A manifest or record the report cannot read, named with what to do."""


def _read(path: Path, what: str, todo: str) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportError(f"{what} {path} does not exist; {todo}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{what} {path} is damaged ({type(e).__name__}: {e}); {todo}") from None
    if not isinstance(d, dict):
        raise ReportError(f"{what} {path} is not a JSON object; {todo}")
    return d


def manifest_path(results, profile) -> Path:
    return Path(results) / f"manifest-{profile}.json"


def load_study(results, profile) -> tuple[pd.DataFrame, dict]:
    """One row per run of the profile (from its manifest's record list), and the manifest."""
    m = _read(manifest_path(results, profile), "the study's manifest", f"rerun ./run_all.sh --profile {profile}")
    if not isinstance(m.get("records"), list):
        raise ReportError(
            f"{manifest_path(results, profile)} has no list of records; rerun ./run_all.sh --profile "
            f"{profile} (finished runs are reused) to rebuild it"
        )
    rows = []
    for rid in m["records"]:
        r = _read(
            Path(results) / "records" / f"{rid}.json",
            "a record the manifest lists",
            f"rerun ./run_all.sh --profile {profile}: the run is redone",
        )
        if problem := seal_problem(r):  # edited by hand or damaged: never reported
            raise ReportError(
                f"record {rid}.json: {problem}; rerun ./run_all.sh --profile {profile}: the run is redone"
            )
        c = r["config"]
        sel_split = r["selection_metric"].split("/")[0]
        metric = r["selection_metric"].split("/")[1]
        test = r["test"].get("test") or {}
        rows.append(
            {
                "run_id": rid,
                "task": c["task"],
                "method": c["method"],
                "layers": r["n_teacher_layers"] if c["method"] == "teacher" else c["student_layers"],
                "seed": c["seed"],
                "epochs": c["epochs"],
                "best_epoch": r["best_epoch"],
                "dev": r["dev"][sel_split][metric],
                "test": test.get(metric, np.nan),
                "train_acc_running": r["epochs"][r["best_epoch"] - 1]["train_acc"],
                "train_acc_eval": r["epochs"][r["best_epoch"] - 1].get("train_eval", {}).get("accuracy", np.nan),
                **_shares(r["epochs"][r["best_epoch"] - 1]),
                "train_s": r["timings"]["train_s"],
                "objective": r["objective"],
                "lr": c["lr"],
                "temperature": c["temperature"],
                "alpha": c["alpha"],
                "beta": c["beta"],
                "normalize": c["normalize"],
                "init": c.get("init", "pretrained"),
                "hparams": hparams_label(c),
                "teacher": _teacher_of(rid, c),
            }
        )
    df = pd.DataFrame(rows)
    unused = [
        f"{k}_{w}_share"
        for k in TERMS
        for w in ("loss", "grad")  # a term none of its methods has: no column
        if not any(k in METHODS[method].terms for method in set(df.get("method", [])))
    ]
    df = df.drop(columns=unused, errors="ignore")
    return df.assign(arm=arm_of(df, arms_of(profile, m))), m


def _teacher_of(run_id: str, c: dict) -> str:
    """The run id of the teacher a run learnt from (a teacher: itself; a method that never reads its teacher: "")."""
    if c["method"] == "teacher":
        return run_id
    reads = METHODS[c["method"]].uses_teacher or c.get("init") == "teacher"  # its layers start as the teacher's
    return Path(c.get("teacher_dir") or "").name if reads else ""


def arms_of(profile: str, manifest: dict) -> dict:
    """A profile's arms (variants of the recipe kept apart from its main cells): the profile's, else the manifest's."""
    return (PROFILES.get(profile) or {}).get("arms") or manifest.get("arms") or {}


def known_at_declaration(profile: str, df: pd.DataFrame) -> frozenset:
    """The run ids of the main cells (no arm) whose results were known when the profile was declared: the runs its
    ``known_at_declaration["runs"]`` matches (``method``, ``seed``, and ``teacher_seed``: the seed of the teacher the
    run learnt from; each a list)."""
    spec = ((PROFILES.get(profile) or {}).get("known_at_declaration") or {}).get("runs")
    if not spec or df.empty:
        return frozenset()
    teachers = df[df.method == "teacher"]
    teacher_seed = df.teacher.map(dict(zip(teachers.run_id, teachers.seed)))
    ok = (df.arm == "") & (df.method != "teacher") & df.method.isin(spec["method"]) & df.seed.isin(spec["seed"])
    if "teacher_seed" in spec:
        ok &= teacher_seed.isin(spec["teacher_seed"])
    return frozenset(df[ok].run_id)


def confirmatory_of(manifest: dict) -> list[str]:
    """The claims a confirmatory profile declared before it ran (their own Holm family), as its manifest recorded
    them when the study started (a study refuses to resume under another declaration; none recorded: none)."""
    return list(manifest.get("confirmatory") or [])


def arm_of(df: pd.DataFrame, arms: dict) -> list[str]:
    """Each run's arm: the first whose settings it matches (every key equal), "" for the main cells."""
    if df.empty:
        return []
    return [
        next((name for name, spec in arms.items() if all(r.get(k) == v for k, v in spec.items())), "")
        for r in df.to_dict("records")
    ]


def _shares(epoch: dict) -> dict:
    """Each term's share of the loss and of the gradient norm in one epoch (NaN: not recorded)."""
    return {
        f"{k}_{what}_share": epoch.get(f"{what}_share", {}).get(k, np.nan if f"{what}_share" not in epoch else 0.0)
        for what in ("loss", "grad")
        for k in TERMS
    }


def hparams_label(c: dict) -> str:
    """The hyper-parameters a method uses, as a short label: 'lr 2e-04, T 10, alpha 0.5, beta 100, normalised' (each
    term's values that have a label, ``terms.Param.label``)."""
    parts = [f"lr {c['lr']:.0e}", f"{c['epochs']} ep"]
    parts += [p.label(c[p.name]) for key in METHODS[c["method"]].terms for p in TERMS[key].params if p.label]
    return ", ".join(parts + ([c["precision"]] if c.get("precision", "fp32") != "fp32" else []))


def select_on_dev(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Where a (task, method, layers) cell was run with several hyper-parameter settings (a search), keep the
    setting with the best mean dev accuracy (test is never looked at). Returns the kept runs and a search table
    (one row per setting, or None when every cell has one setting)."""
    keys = ["task", "method", "layers"]
    if (df.groupby(keys)["hparams"].nunique() <= 1).all():
        return df, None
    shares = {f"{c} (%)": (c, "mean") for c in ("pt_grad_share", "pt_loss_share") if c in df}
    s = (
        df.groupby(keys + ["hparams"])
        .agg(n_seeds=("seed", "count"), dev=("dev", "mean"), test=("test", "mean"), **shares)
        .reset_index()
    )
    for c in ("dev", "test", *shares):
        s[c] = s[c] * 100
    s = s.sort_values(keys + ["dev", "hparams"], ascending=[True, True, False, False, True], kind="stable")
    s["chosen"] = ~s.duplicated(keys)  # the first row of each cell: the best dev mean (ties: label order)
    chosen = s[s.chosen].set_index(keys)["hparams"]
    kept = df[[chosen.get(tuple(k)) == h for k, h in zip(df[keys].itertuples(index=False), df.hparams)]]
    return kept.reset_index(drop=True), s.reset_index(drop=True)


def _cell(x: pd.Series) -> str:
    x = x.dropna() * 100
    if len(x) == 0:
        return ""
    if len(x) == 1:
        return f"{x.iloc[0]:.1f} (N=1)"
    return f"{x.mean():.1f} ± {x.std(ddof=1):.1f} (N={len(x)})"


def table1(df: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows: teacher and FT / KD / PKD-Skip per student size; columns: tasks; cells mean ± std (N)."""
    rows = []
    for (method, layers), g in df[df.method.isin(TABLE1_METHODS)].groupby(["method", "layers"]):
        for task, gt in g.groupby("task"):
            rows.append(
                {
                    "model": f"{'BERT' if method == 'teacher' else 'student'}{layers}-{METHOD_LABEL[method]}",
                    "layers": layers,
                    "method": method,
                    "task": task,
                    "cell": _cell(gt[split]),
                }
            )
    t = pd.DataFrame(rows).pivot_table(
        index=["layers", "method", "model"], columns="task", values="cell", aggfunc="first"
    )
    order = {m: i for i, m in enumerate(METHODS)}
    t = t.reset_index().sort_values(["layers", "method"], key=lambda s: s.map(order) if s.name == "method" else -s)
    glue = [c for c in t.columns if c in PAPER_COLUMNS]
    if glue:  # the paper's Table 1 (GLUE test) next to each task, matched on method and layer count
        from .reference import paper_table1

        paper = paper_table1().set_index(["method", "layers"])
        cols = []
        for c in t.columns:
            cols.append(c)
            if c in glue:
                name = f"{c} paper (test)"
                t[name] = [_paper_cell(paper, m, k, c) for m, k in zip(t["method"], t["layers"])]
                cols.append(name)
        t = t[cols]
    return t.drop(columns=["method"]).set_index("model")


TERMS_NOTE = (
    "Each weighted term's share of the loss and of the gradient norm at the selected epoch, in %, mean ± std "
    "over seeds (gradient: each term's gradient norm over the sum of the terms' norms, sampled every 50 "
    "steps): a share near 0 means the term barely acts."
)

CLAIMS_NOTE = (
    "Columns: `mean_diff` a - b in points (for claim 3: the student's accuracy as % of the teacher's); `ci_low`, "
    "`ci_high` its 95% t-interval over seeds (the question 'on this test set'); `sentences_ci` the 95% interval with "
    "seeds and test sentences both random and crossed ('on sentences like these': the two-way variance components, "
    "var_seed/S + var_sent/J + var_resid/(S J), Satterthwaite degrees of freedom; `stats.two_way`); `sentence_floor` "
    "the half-width the test sentences alone put under that interval (its sentence part: what infinitely many seeds "
    "would leave); `n_sentences` the test sentences; `mixed_machine` k/N: in k of the N pairs the two runs ran on "
    "different machines (their records' CPU models or native bf16 differ: two generations of AMD EPYC report one "
    "model), `same_machine` the t-interval on the other pairs alone; `known_pairs` the pairs whose "
    "results were known when the profile was declared (its `known_at_declaration`; a row of family `sensitivity` "
    "follows without them where at least 2 pairs remain), `known_one_side` the pairs with one such run; `two_level_ci` with several teachers, the t-interval of the per-teacher mean differences ('with other teachers like these'), `n_teachers` how many; `n_seeds` the pairs; `detectable` the smallest "
    "difference this design finds with 80% power; `power` its power for the paper's 0.5-point effect; `p` the paired "
    "t-test's p, `p_holm` Holm-adjusted within its `family` (primary: claims 1a, 1b, 2 at half the teacher's layers; "
    "secondary: every other tested row); `tost_p` / `tost_holm` the equivalence test against ±0.5 points; "
    "`sign_flip_p` the exact permutation test over seeds; `mcnemar_p05` k/N: in k of the N seeds the McNemar test of "
    "the two runs on the same test sentences has p < 0.05. Verdict rules: docs/study.md, 'How the claims are decided'."
)
RUNS_NOTE = (
    "Accuracies and shares in %. dev, test: accuracy at the epoch chosen on dev; `*_loss_share`, `*_grad_share`: each "
    "weighted term's share of the loss and of the gradient norm at that epoch; `train_acc_running`: the running training accuracy "
    "of that epoch (training mode, dropout on, averaged over its steps); `train_acc_eval`: accuracy on a fixed "
    "1,000-example training subset in eval mode after that epoch (the train-vs-dev figure's); NaN: not "
    "recorded by older runs."
)

#: our task -> the paper's Table 1 columns (F1/accuracy for MRPC and QQP, matched/mismatched for MNLI)
PAPER_COLUMNS = {
    "sst2": ["sst2"],
    "mrpc": ["mrpc_f1", "mrpc_acc"],
    "qqp": ["qqp_f1", "qqp_acc"],
    "mnli": ["mnli_m", "mnli_mm"],
    "qnli": ["qnli"],
    "rte": ["rte"],
}


def _paper_cell(paper: pd.DataFrame, method: str, layers: int, task: str) -> str:
    if (method, layers) not in paper.index:
        return ""
    row = paper.loc[(method, layers)]
    return "/".join(f"{row[c]:.1f}" for c in PAPER_COLUMNS[task])


def table_terms(df: pd.DataFrame) -> pd.DataFrame | None:
    """What each term does: its share of the weighted loss and of the gradient norm at the selected epoch, in %,
    mean ± std over seeds (the gradient share is each term's gradient norm over their sum, sampled in training); a
    column per registered term (``terms.TERMS``) that a method of the table has."""
    d = df[df.method != "teacher"]
    used = [k for k in TERMS if any(k in METHODS[m].terms for m in set(d.method))]  # the registered terms it shows
    cols = [f"{k}_{w}_share" for w in ("loss", "grad") for k in used]
    if d.empty or d[cols].isna().all().all():
        return None
    rows = []
    d = d.assign(arm=d["arm"] if "arm" in d else "")
    for (task, k, m, arm), g in d.groupby(["task", "layers", "method", "arm"]):
        row = {"task": task, "layers": k, "method": METHOD_LABEL[m] + (f" [{arm}]" if arm else ""), "N": len(g)}
        for c in cols:
            term, what = c.split("_")[:2]
            x = g[c].dropna() * 100
            row[f"{TERMS[term].column} {what} (%)"] = (  # a term the method lacks: a dash
                None
                if term not in METHODS[m].terms or not len(x)
                else f"{x.mean():.1f}"
                if len(x) == 1
                else f"{x.mean():.1f} ± {x.std(ddof=1):.1f}"
            )
        rows.append(row)
    return (
        pd.DataFrame(rows)
        .sort_values(["task", "layers"], ascending=[True, False], kind="stable")
        .set_index(["task", "layers", "method"])
    )


ARMS_NOTE = (
    "Each arm of the study (a variant of the recipe, kept apart from the main cells and never chosen on dev "
    "into them) beside the recipe's runs of the same methods, seeds and teachers: accuracy in %, mean ± std over runs (N), the selected "
    "epoch (mean; `best = last`: runs whose dev-selected epoch is their last, still improving when they "
    "stopped), the patient term's share of the gradient norm; its paired comparisons are the claims "
    "table's rows marked with the arm."
)


def table_arms(df: pd.DataFrame, arms: pd.DataFrame, split: str) -> pd.DataFrame:
    """The arms and, beside them, the recipe's runs of the same methods, sizes and replicates (teachers and
    seeds the arm ran), a row each."""
    teachers = set(arms.teacher) - {""}
    keep = df[
        df.method.isin(set(arms.method))
        & df.layers.isin(set(arms.layers))
        & df.seed.isin(set(arms.seed))
        & (df.teacher.eq("") | df.teacher.isin(teachers))
    ].assign(arm="")
    rows = []
    for (task, k, arm, m), g in pd.concat([keep, arms]).groupby(["task", "layers", "arm", "method"], sort=False):
        rows.append(
            {
                "task": task,
                "layers": k,
                "arm": arm or "recipe",
                "method": METHOD_LABEL[m],
                "_o": list(METHODS).index(m),
                "teachers": g.teacher.replace("", np.nan).nunique(),
                split: _cell(g[split]),
                "dev": _cell(g["dev"]),
                "best epoch": f"{g.best_epoch.mean():.1f} of {g.epochs.max()}",
                "best = last": f"{int((g.best_epoch == g.epochs).sum())} of {len(g)}",
                "PT grad (%)": _cell(g["pt_grad_share"]).split(" (N")[0] if METHODS[m].uses_pt else "–",
            }
        )
    return (
        pd.DataFrame(rows)
        .sort_values(["task", "layers", "_o"], kind="stable")
        .drop(columns="_o")
        .set_index(["task", "layers", "method", "arm"])
    )


def table2(df: pd.DataFrame, split: str) -> pd.DataFrame:
    sub = df[df.method.isin([n for n, m in METHODS.items() if m.uses_pt])]
    t = sub.groupby(["task", "layers", "method"])[split].apply(_cell).unstack("method").rename(columns=METHOD_LABEL)
    return t.sort_index(level="layers", ascending=False)


def load_speed(results: Path, profile: str, manifest: dict) -> dict | None:
    """The speed-up a study cites: the shared measurement its manifest names (``speed``), else the shared
    measurement of the machine it ran on with its settings (``speed.shared_measurement``), else the study's own (``speed/speedup-<profile>.json``), else None."""
    from .speed import shared_measurement

    named = results / "speed" / manifest["speed"] if manifest.get("speed") else None
    if named and named.is_file():  # the study says which shared measurement it cites
        return {**json.loads(named.read_text()), "shared": named.name}
    P = PROFILES.get(profile) or {}
    if P.get("speedup"):  # only for a study that measures a speed-up, with the same settings
        shared = shared_measurement(results, manifest.get("hardware") or {}, P["pretrained"], P["speedup"])
        if shared:
            return shared
    own = results / "speed" / f"speedup-{profile}.json"
    return json.loads(own.read_text()) if own.is_file() else None


def speed_note(speed: dict) -> str:
    s, prov = speed["settings"], speed.get("provenance", {})
    where = prov.get("hardware", {}).get("cpu", "CPU") + ", " if s["device"] == "cpu" else ""
    which = (
        f"The machine's shared measurement (`results/speed/{speed['shared']}`), cited by every study run on it. "
        if speed.get("shared")
        else ""
    )
    return (
        which + f"Inference on {s['device']} ({where}{s['threads']} threads; git "
        f"{str(prov.get('git', {}).get('commit'))[:10]}), batch {s['batch_size']} x length {s['seq_len']}, "
        f"{s['precision']}, median of {s['repeats']} round-robin repeats (speedup_range: the lowest and highest "
        f"of the per-repeat ratios); real_speedup: the task's dev lengths in bucketed batches. Paper: BERT-base, "
        f"12 layers."
    )


def table3(speed: dict) -> pd.DataFrame:
    """Size and speed per depth; the speed-up with its range over the round-robin repeats, and a note where
    the median exceeds the ideal N/k (only timing noise can do that)."""
    t = pd.DataFrame(speed["rows"])
    n = int(t["layers"].max())
    # the paper's Table 3 (BERT-base, 12 layers) at the same fraction of the teacher's layers
    t["paper_speedup_same_fraction"] = [{1.0: 1.0, 0.5: 1.94, 0.25: 3.73}.get(k / n) for k in t["layers"]]
    if "speedup_low" in t:
        t["speedup_range"] = [
            f"{lo:.2f}-{hi:.2f} ({r} repeats)" for lo, hi, r in zip(t.speedup_low, t.speedup_high, t.repeats)
        ]
        t["note"] = [
            "above the ideal: timing noise" if s > i * 1.005 else "" for s, i in zip(t.speedup, t.ideal_speedup)
        ]
    millions = {c: f"{c} (M)" for c in ("params_embedding", "params_transformer", "params_total")}
    for c, name in millions.items():
        t[name] = (t[c] / 1e6).round(2)
    cols = ["layers", "role", *millions.values(), "compression", "speedup", "ideal_speedup"] + [
        c for c in ("speedup_range", "note", "real_speedup") if c in t
    ]
    return t[cols + ["paper_speedup_same_fraction"]].set_index("layers")


def markdown(t: pd.DataFrame, floatfmt=".3g") -> str:
    """A table as Markdown: one column per index level (no tuples), a dash for a missing value."""
    flat = isinstance(t.index, pd.MultiIndex)
    t = t.reset_index() if flat else t

    def cell(x):  # floats formatted here, so that a column with a dash in it is formatted too
        return (
            "–"
            if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
            else format(x, floatfmt)
            if isinstance(x, float)
            else x
        )

    return t.astype(object).map(cell).to_markdown(index=not flat, floatfmt=floatfmt)


def _write_table(t: pd.DataFrame, out: Path, name: str, note: str = ""):
    atomic_write_text(out / f"{name}.csv", t.to_csv())
    atomic_write_text(out / f"{name}.md", (note + "\n\n" if note else "") + markdown(t) + "\n")


def _save_fig(fig, path: Path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))


def figures(df: pd.DataFrame, split: str, speed: dict | None, records: dict, out: Path, banner: str = "") -> dict:
    """Accuracy vs layers, accuracy vs measured speed-up, train vs dev per epoch; ``banner`` heads each title."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    figs = {}
    for task in sorted(df.task.unique()):
        d = df[df.task == task]
        students, teacher = d[d.method != "teacher"], d[d.method == "teacher"][split]
        if students.empty:  # every student is an arm (a confirmatory study's): its tables say it, no figure
            continue
        drawn = {
            "accuracy_vs_layers": _fig_layers(students, teacher, split, task),
            "accuracy_vs_speedup": _fig_speed(students, teacher, split, task, speed) if speed else None,
            "train_vs_dev": _fig_train_dev(students, records, task),
        }
        for name, fig in drawn.items():
            if fig is not None:
                fig.axes[0].set_title(banner + fig.axes[0].get_title(), fontsize=10)
                _save_fig(fig, out / f"{name}_{task}.png")
                figs[f"{name}_{task}"] = fig
    plt.close("all")
    return figs


def _color(method: str) -> str:
    """One colour per method in every figure (its row in the method table)."""
    return f"C{list(METHODS).index(method) % 10}"


def _points(ax, x, s, color, label):
    """Mean ± sd points; lines only between adjacent sizes a method ran at (never across a size it skipped);
    N=1 points hollow, each point's N written beside it."""
    runs = np.split(np.arange(len(x)), np.flatnonzero(np.diff(s.index.to_numpy()) != 1) + 1)
    for i, idx in enumerate(runs):
        ax.plot(np.asarray(x)[idx], s["mean"].to_numpy()[idx], "-", color=color, label=label if i == 0 else None)
    for xi, (k, r) in zip(x, s.iterrows()):  # noqa: B007
        ax.errorbar(
            [xi],
            [r["mean"]],
            yerr=[0 if pd.isna(r["std"]) else r["std"]],
            fmt="o",
            capsize=3,
            color=color,
            mfc=color if r["n"] > 1 else "white",
        )
        ax.annotate(
            f"{int(r['n'])}", (xi, r["mean"]), textcoords="offset points", xytext=(4, -10), fontsize=6, color=color
        )


def _fig_layers(students, teacher, split, task):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    groups = list(students.groupby("method"))
    for j, (method, g) in enumerate(groups):
        s = g.groupby("layers")[split].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
        s[["mean", "std"]] *= 100
        dodge = 0.07 * (j - (len(groups) - 1) / 2)  # side by side, so that error bars do not cover each other
        _points(ax, s.index + dodge, s, _color(method), METHOD_LABEL[method])
    if len(teacher):
        ax.axhline(teacher.mean() * 100, color="k", ls="--", label="teacher")
    ax.set(
        xlabel="student layers",
        ylabel=f"{split} accuracy (%)",
        title=f"{task}: accuracy vs layers (mean ± sd over seeds; small numbers: N; hollow: N=1)",
        xticks=sorted(students.layers.unique()),
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the data
    fig.tight_layout()
    return fig


def _fig_speed(students, teacher, split, task, speed):
    import matplotlib.pyplot as plt

    sp = {r["layers"]: r["speedup"] for r in speed["rows"]}
    fig, ax = plt.subplots(figsize=(7.5, 4))
    top, groups = {}, list(students.groupby("method"))
    for j, (method, g) in enumerate(groups):
        s = g.groupby("layers")[split].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
        s[["mean", "std"]] *= 100
        s = s[s.index.isin(sp)]
        dodge = 0.03 * (j - (len(groups) - 1) / 2)  # a shared offset per method: every bar visible
        _points(ax, [sp[k] + dodge for k in s.index], s, _color(method), METHOD_LABEL[method])
        for k, y, e in zip(s.index, s["mean"], s["std"].fillna(0)):
            top[k] = max(top.get(k, -1e9), y + e)
    for k, y in top.items():  # one label per student size, above its highest error bar
        ax.annotate(f"{k}L", (sp[k], y), textcoords="offset points", xytext=(6, 4), fontsize=8, ha="left")
    if len(teacher):
        ax.plot([1.0], [teacher.mean() * 100], "k*", ms=12, label="teacher")
    ax.set(
        xlabel="measured inference speed-up over the teacher (x)",
        ylabel=f"{split} accuracy (%)",
        title=f"{task}: accuracy / speed trade-off (mean ± sd over seeds; small numbers: N)",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _fig_train_dev(students, records, task):
    """The paper's overfitting figure: train and dev accuracy per epoch, mean over seeds, of one student size (3
    layers where run, else the size most methods ran at), the same size for every curve."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    k = 3 if 3 in set(students.layers) else int(students.groupby("layers").method.nunique().idxmax())
    for method, sub in students[students.layers == k].groupby("method"):
        ep = [
            {
                "epoch": e["epoch"],
                "train": e.get("train_eval", {}).get("accuracy", e["train_acc"]) * 100,
                "dev": e[next(x for x in e if x.startswith("dev"))]["accuracy"] * 100,
            }
            for rid in sub[sub.layers == k].run_id
            for e in records[rid]["epochs"]
        ]
        e = pd.DataFrame(ep).groupby("epoch").mean()
        n = sub[sub.layers == k].seed.nunique()
        ax.plot(e.index, e["train"], "o-", color=_color(method), label=f"{METHOD_LABEL[method]} train (N={n})")
        ax.plot(e.index, e["dev"], "s--", color=_color(method), label=f"{METHOD_LABEL[method]} dev")
    ax.set(
        xlabel="epoch",
        ylabel="accuracy (%; train in eval mode)",
        title=f"{task}: train vs dev accuracy, {k}-layer students (mean over seeds)",
        xticks=sorted(e.index),
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _write_claims(ct: pd.DataFrame, sentences: list[str], tables: Path, head: str) -> None:
    """The claims table (with its note; a confirmatory family named) and the verdict sentences."""
    if len(ct):
        confirm = ct.get("family", pd.Series(dtype=str)).eq("confirmatory").any()
        _write_table(
            ct.set_index(["task", "layers", "comparison"]),
            tables,
            "claims",
            head
            + CLAIMS_NOTE
            + (
                " Family `confirmatory`: the claims this profile declared before it ran, adjusted on their own."
                if confirm
                else ""
            ),
        )
    atomic_write_text(tables / "claims.txt", "\n".join(sentences) + "\n")


def _note(head: str, profile: str, split: str) -> str:
    """The note under a study's tables: what a cell is and how its epoch was chosen."""
    how = (
        "Best epoch chosen on dev; test evaluated once for that epoch."
        if split == "test"
        else "GLUE test labels are hidden: dev accuracy (also used to pick the epoch)."
    )
    return head + f"Profile `{profile}`; cells: {split} accuracy in %, mean ± std over seeds (N). " + how


def build(results="results", profile="cpu") -> dict:
    """Write every table and figure of a profile's study; return them for display."""
    results = Path(results)
    df_all, manifest = load_study(results, profile)
    every, arms = df_all, df_all[df_all.arm != ""]  # arms: variants of the recipe, never dev-selected into cells
    df_all = df_all[df_all.arm == ""]
    df, search = select_on_dev(df_all[df_all.init == "pretrained"])  # other inits: claim 6b only
    records = {
        rid: json.loads((results / "records" / f"{rid}.json").read_text())
        for rid in set(df.run_id) | set(df_all[df_all.init != "pretrained"].run_id) | set(arms.run_id)
    }
    has_test = df[df.method != "teacher"]["test"].notna().all()
    split = "test" if has_test else "dev"
    tables = results / "tables" / profile
    figdir = results / "figures" / profile
    head, banner = _headings(manifest)
    note = _note(head, profile, split)
    out = {"split": split, "progress": progress(manifest)}
    if search is not None:
        note += (
            " Several hyper-parameter settings per cell: each cell uses the setting with the best mean dev "
            "accuracy (table `search`)."
        )
        out["search"] = search
        _write_search(search, tables, head, profile)
    t1 = table1(df, split)
    if any(c.endswith("paper (test)") for c in t1.columns):
        note += (
            " `paper (test)`: the paper's Table 1, GLUE test server, BERT-base teacher "
            "(MRPC/QQP: F1/accuracy; MNLI: matched/mismatched)."
        )
    _write_table(t1, tables, "table1", note)
    out["table1"] = t1
    has_last = (df.method == "pkd-last").any()
    if has_last or (df.method == "pkd-bottom").any():  # the layer maps side by side
        out["table2"] = table2(df, split)
        _write_table(out["table2"], tables, "table2_last_vs_skip" if has_last else "table2_layer_maps", note)
    speed = load_speed(results, profile, manifest)
    if speed:
        out["table3"] = table3(speed)
        out["speed_note"] = speed_note(speed)
        _write_table(out["table3"], tables, "table3_speed", head + out["speed_note"])
    if len(arms):
        out["arms"] = table_arms(df, arms, split)
        _write_table(out["arms"], tables, "table5_arms", head + f"Profile `{profile}`. " + ARMS_NOTE)
    terms = table_terms(pd.concat([df, arms]))
    if terms is not None:
        out["terms"] = terms
        _write_table(terms, tables, "table4_terms", head + f"Profile `{profile}`. " + TERMS_NOTE)
    _claims_into(out, df, df_all, arms, every, split, records, speed, profile, manifest, tables, head)
    out["runs"], out["made_by"] = every, made_by(results, every.run_id)
    _write_runs(every, tables, head)
    out["figures"] = figures(df, split, speed, records, figdir, banner)
    atomic_write_text(tables / "summary.md", summary(profile, manifest, out, note))
    return out


def _claims_into(out, df, df_all, arms, every, split, records, speed, profile, manifest, tables, head) -> None:
    """The claims table and its sentences (``claims.claims``), interim when the study is, written and kept in out."""
    known = known_at_declaration(profile, every)
    extra = init_claims(df_all, df, split, records) + arm_claims(df, arms, split, records, known)
    ct, sentences = claims(df, split, records, speed, extra, confirmatory=confirmatory_of(manifest), known=known)
    if not sentences:
        sentences = ["No paired comparison: every claim needs at least 2 seeds of both methods."]
    ct, sentences = _interim(ct, sentences, out["progress"], split)
    out["claims_table"], out["claims"] = ct, sentences
    _write_claims(ct, sentences, tables, head + f"Profile `{profile}`; {split} accuracy. ")


def _interim(ct: pd.DataFrame, sentences: list[str], prog: dict | None, split: str):
    """A study committed part-way gives no verdict (``claims.interim_verdict``): each row and sentence says so."""
    if not prog:
        return ct, sentences
    from .claims import _sentence, interim_verdict

    tag = f"INTERIM ({prog['finished']} of {prog['planned']} runs) "
    if "verdict" in ct:
        ct = ct.assign(
            verdict=[interim_verdict(r) if isinstance(r["verdict"], str) else r["verdict"] for _, r in ct.iterrows()]
        )
        sentences = [_sentence(r, split) for _, r in ct.iterrows()] + sentences[len(ct) :]
    return ct, [tag + s for s in sentences]


def _write_search(search: pd.DataFrame, tables: Path, head: str, profile: str):
    _write_table(
        search.set_index(["task", "layers", "method", "hparams"]),
        tables,
        "search",
        head + f"Profile `{profile}`: every hyper-parameter setting, dev and test accuracy in % (mean over "
        f"n_seeds); `chosen` = best mean dev per task/method/size, the setting Table 1 uses. Test is "
        f"shown for information only and plays no part in the choice. With one seed, differences "
        f"under about 1.5 points are within seed noise (see the cpu study's std).",
    )


def _write_runs(every: pd.DataFrame, tables: Path, head: str):
    pct = ["dev", "test", "train_acc_running", "train_acc_eval", *[c for c in every if c.endswith("_share")]]
    runs = every.assign(**{c: every[c] * 100 for c in pct})
    _write_table(runs.set_index("run_id"), tables, "runs", head + "One row per run record of the study. " + RUNS_NOTE)


def records_table(records_dir) -> str:
    """Every complete record in a folder (ad-hoc ``pkd train`` runs too) as one Markdown table, accuracy in %."""
    from pkdlib.records import load_records

    rows = [
        {
            "run_id": r["run_id"],
            "method": r["config"]["method"],
            "layers": r["config"].get("student_layers"),
            "seed": r["config"]["seed"],
            "best_epoch": r["best_epoch"],
            **{
                f"{s} {m} (%)": 100 * v
                for s, ms in {**r["dev"], **r["test"]}.items()
                for m, v in (ms or {}).items()
                if m != "n"
            },
        }
        for r in load_records(records_dir)
    ]
    if not rows:
        raise FileNotFoundError(f"no complete run record in {records_dir}")
    return markdown(pd.DataFrame(rows).set_index("run_id"), ".1f")


def _headings(m: dict) -> tuple[str, str]:
    """What every table's note and every figure's title start with: smoke test, interim study, or nothing."""
    smoke, prog = m.get("smoke_test", False), progress(m)
    note = (
        "**Smoke test, not results**: a tiny slice and few steps, to check that everything runs. " if smoke else ""
    ) + (
        f"**Interim, not the finished study**: {prog['finished']} of {prog['planned']} runs have finished "
        f"(manifest status '{prog['status']}'); `./run_all.sh --profile {m.get('profile')}` resumes it. "
        f"Paired comparisons use the seeds "
        f"that both methods finished. "
        if prog
        else ""
    )
    title = ("SMOKE TEST, not results. " if smoke else "") + (
        f"INTERIM ({prog['finished']} of {prog['planned']} runs). " if prog else ""
    )
    return note, title


def progress(m: dict) -> dict | None:
    """How far an unfinished study got: runs finished of runs planned; None once every run is done (the study's
    own report phase reads a manifest that says 'report pending')."""
    if m.get("status") in ("complete", "report pending"):
        return None
    planned = sum(it["kind"] in ("teacher", "student") for it in m.get("items", []))
    return {"status": m.get("status"), "finished": len(m["records"]), "planned": planned}


def before_report(m: dict) -> dict:
    """The study's wall time and notebook counts before its report, the same while the report runs and after:
    stored by the study, or (manifests made before it stored them) the totals less the report notebooks."""
    if "before_report" in m:
        return m["before_report"]
    reports = [it for it in m.get("items", []) if it["kind"] == "report" and not it.get("reused", it.get("skipped"))]
    return {
        "duration_s": m["duration_s"] - sum(it["seconds"] for it in reports),
        "notebooks_run": m["notebooks_run"] - len(reports),
        "notebooks_reused": m.get("notebooks_reused", m.get("notebooks_skipped")),
    }


def made_by(results, run_ids) -> list[str]:
    """Who made the runs, from their records: 'git <commit> on <cpu>: N runs' per commit and machine (most runs
    first), and how many runs' checkout moved while they ran (``git_when_written``)."""
    seen: dict[tuple, int] = {}
    moved = 0
    for rid in run_ids:
        prov = json.loads((Path(results) / "records" / f"{rid}.json").read_text()).get("provenance", {})
        key = (
            str(prov.get("git", {}).get("commit"))[:10]
            + (" (uncommitted changes)" if prov.get("git", {}).get("dirty") else ""),
            prov.get("hardware", {}).get("cpu", "?"),
        )
        seen[key] = seen.get(key, 0) + 1
        moved += "git_when_written" in prov
    lines = [
        f"git {c} on {cpu}: {n} run{'s' if n > 1 else ''}"
        for (c, cpu), n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return lines + (
        [f"{moved} runs' checkout moved to another commit while they ran (both are in their records)"] if moved else []
    )


def _parts(manifest: dict) -> list[str]:
    """Each part of the study (an execution, resumed or extended later) with its commit and machine as the manifest
    recorded them (manifests written before parts named them: the records say, below)."""
    parts, out = manifest.get("parts", []), []
    if not any("machine" in p for p in parts):
        return [
            f"{len(parts) or 1} part(s), started {', '.join(p.get('started', '?') for p in parts) or '?'}: "
            f"the manifest did not yet record each part's commit and machine (the runs' records above name them)"
        ]
    for i, p in enumerate(parts, 1):
        git = p.get("git") or {}
        where = (
            f"git {str(git.get('commit'))[:10]}{' (uncommitted changes)' if git.get('dirty') else ''} on {p['machine']}"
            if "machine" in p
            else "commit and machine not recorded in this part"
        )
        out.append(f"part {i} (started {p.get('started', '?')}): {where}")  # its counts change as the report runs
    return out


def summary(profile: str, manifest: dict, out: dict, note: str) -> str:
    """A Markdown page: how the study ran, Table 1, the claims, the figures."""
    hw, git, before = manifest["hardware"], manifest["git"], before_report(manifest)
    df = out["runs"]
    interim = _headings(manifest)[0] if progress(manifest) else ""
    lines = [
        f"# Study `{profile}`: {manifest['description']}",
        "",
        *([interim, ""] if interim else []),
        f"- {len(df)} runs from their records (each names its own commit and machine); seeds "
        f"{sorted(int(x) for x in df[df.method != 'teacher'].seed.unique())}",
        *[f"  - {line}" for line in out.get("made_by", [])],
        f"- the study's parts (manifest, last written at git {str(git.get('commit'))[:10]}"
        f"{', uncommitted changes' if git.get('dirty') else ''} on {hw['cpu']}, {hw['cpu_count']} cores, "
        f"{hw['torch_threads']} torch threads, device {hw['device']}):",
        *[f"  - {line}" for line in _parts(manifest)],
        f"- wall time of the study before this report: {before['duration_s'] / 60:.1f} min in "
        f"{len(manifest.get('parts', [1]))} part(s) ({before['notebooks_run']} notebooks run, "
        f"{before['notebooks_reused']} reused, then this report); "
        f"training and evaluation inside the runs: {manifest['records_total_s'] / 60:.1f} min",
        "",
        "## Table 1",
        "",
        note,
        "",
        markdown(out["table1"]),
        "",
    ]
    if "search" in out:
        lines += ["## Hyper-parameter search (chosen on dev)", "", markdown(out["search"].set_index("task"), ".1f"), ""]
    if "table2" in out:
        lines += [f"## Table 2: {' vs '.join(out['table2'].columns)}", "", markdown(out["table2"]), ""]
    if "table3" in out:
        lines += ["## Table 3: size and speed", "", out["speed_note"], "", markdown(out["table3"]), ""]
    if "terms" in out:
        lines += ["## Table 4: what each term does", "", TERMS_NOTE, "", markdown(out["terms"]), ""]
    lines += ["## The paper's claims, tested here", ""] + [f"- {s}" for s in out["claims"]] + [""]
    lines += ["## Figures", ""] + [f"![{k}](../../figures/{profile}/{k}.png)" for k in out["figures"]] + [""]
    return "\n".join(lines)
