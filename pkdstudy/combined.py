"""The layer curve of every comparable record: several studies' runs of one recipe against one teacher, pooled.

Studies that share a teacher and a recipe (``cpu``, ``full`` and ``beyond`` train their students against the same
teacher with the same hyper-parameters and precision) each hold part of the accuracy-vs-layers curve: ``full``
has 2 and 3 layers with many seeds, ``beyond`` adds 1, 4 and 5. ``build`` pools their records (each run once),
keeps the runs comparable with each other (the teacher most of them learnt from; per method and size the
setting most runs share: the recipe; pre-trained initialisation; no arm) and writes one table and one figure:

    pkd report --combined cpu full beyond
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pkdlib.files import atomic_write_text
from pkdlib.methods import LABELS as METHOD_LABEL
from pkdlib.methods import METHODS

from .report import _cell, _fig_layers, _save_fig, _write_table, load_study, manifest_path


def comparable(results, profiles) -> pd.DataFrame:
    """The profiles' runs pooled (each run once, tagged with the studies that list it), comparable runs only."""
    frames = []
    for p in profiles:
        if not manifest_path(results, p).is_file():
            raise FileNotFoundError(f"no study '{p}' in {results}/ (no {manifest_path(results, p)})")
        frames.append(load_study(results, p)[0].assign(study=p))
    df = pd.concat(frames, ignore_index=True)
    studies = df.groupby("run_id")["study"].agg(lambda s: ", ".join(sorted(set(s))))
    df = df.drop_duplicates("run_id").assign(study=lambda d: d.run_id.map(studies))
    df = df[(df.init == "pretrained") & (df.arm == "")]
    teachers = df[df.method == "teacher"]
    main_teacher = df[df.teacher != ""].teacher.mode().iloc[0]
    students = df[(df.method != "teacher") & df.teacher.isin(["", main_teacher])]
    recipe = students.groupby(["task", "method", "layers"])["hparams"].agg(lambda h: h.mode().iloc[0])
    keep = [
        recipe[(t, m, k)] == h
        for t, m, k, h in students[["task", "method", "layers", "hparams"]].itertuples(index=False)
    ]
    return pd.concat([teachers[teachers.run_id == main_teacher], students[keep]], ignore_index=True)


def table(df: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    rows = []
    for (task, m, k), g in df.groupby(["task", "method", "layers"]):
        rows.append(
            {
                "task": task,
                "layers": k,
                "method": METHOD_LABEL[m],
                "_o": list(METHODS).index(m),
                split: _cell(g[split]),
                "setting": g.hparams.iloc[0],
                "studies": ", ".join(sorted(set(s for x in g.study for s in x.split(", ")))),
            }
        )
    return (
        pd.DataFrame(rows)
        .sort_values(["task", "layers", "_o"], ascending=[True, False, True])
        .drop(columns="_o")
        .set_index(["task", "layers", "method"])
    )


def build(results="results", profiles=("cpu", "full", "beyond"), split="test") -> dict:
    """Write ``tables/combined/layers.{md,csv}`` and ``figures/combined/accuracy_vs_layers_<task>.png``."""
    results = Path(results)
    df = comparable(results, profiles)
    t = table(df, split)
    note = (
        f"Every comparable run of the studies {', '.join(profiles)} pooled, each run once: one teacher "
        f"({df[df.method == 'teacher'].run_id.iloc[0]}), per method and size the setting most runs share, "
        f"pre-trained initialisation. Cells: {split} accuracy in %, mean ± std over seeds (N); `studies`: the "
        f"studies that list the runs. Built by `pkd report --combined {' '.join(profiles)}` from the records."
    )
    _write_table(t, results / "tables" / "combined", "layers", note)
    figs = {}
    for task in sorted(df.task.unique()):
        d = df[df.task == task]
        fig = _fig_layers(d[d.method != "teacher"], d[d.method == "teacher"][split], split, task)
        fig.axes[0].set_title(
            f"{task}: every comparable run of {', '.join(profiles)} (mean ± sd; small numbers: N; hollow: N=1)",
            fontsize=9,
        )
        _save_fig(fig, results / "figures" / "combined" / f"accuracy_vs_layers_{task}.png")
        figs[task] = fig
    atomic_write_text(results / "tables" / "combined" / "profiles.txt", " ".join(profiles) + "\n")
    return {"table": t, "figures": figs}
