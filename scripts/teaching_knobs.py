"""The teaching notebook run headless (papermill, as a lecturer runs it) with its default knobs and with each knob of
the exercises, one after another: the wall time of each run, the machine's load beside it, and what each run found
(per arm: dev accuracy, where the CE left ln 2, the patient term's share; the notebook writes them to
``<work>/comparison.json``).

    nice -n 5 python scripts/teaching_knobs.py                   # every knob below, the default first
    python scripts/teaching_knobs.py --only default beta0         # some of them

Writes ``<out>/knobs.csv`` (one row per run and arm) and ``knobs.json`` (the runs, their times and loads, the
command, commit and machine) after each run; a finished knob is not run again unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkdlib.files import atomic_write_json, atomic_write_text  # noqa: E402
from pkdlib.records import where_measured  # noqa: E402
from pkdstudy import notebooks  # noqa: E402

#: the knobs of the notebook's exercises (name -> papermill parameters), the default first
KNOBS = {
    "default": {},
    "beta0": {"beta": 0.0},
    "alpha0": {"alpha": 0.0},
    "pkd_last": {"layer_map": "pkd_last"},
    "raw_beta100": {"normalize": False, "beta": 100.0},
    "temperature1": {"temperature": 1.0},
    "layers1": {"student_layers": 1},
}


def run_knob(name: str, params: dict, work: Path) -> dict:
    """One headless run of the notebook with ``params`` and ``work`` as its work_dir (shared by the knobs, as a
    lecturer's runs share it: the teacher cache is computed by the first run, the default): its wall time, the
    load before and after, its findings."""
    out, w = work / f"00_teaching.{name}.ipynb", work
    load_before, t = list(os.getloadavg()), time.time()
    notebooks.execute("00_teaching", out, {"work_dir": str(w), **params}, cwd=ROOT)
    seconds = time.time() - t
    found = json.loads((w / "comparison.json").read_text())
    return {
        "knob": name,
        "params": params,
        "seconds": round(seconds, 1),
        "load_before": load_before,
        "load_after": list(os.getloadavg()),
        "seed": found["seed"],
        "setting": found["setting"],
        "arms": found["arms"],
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write(out: Path, runs: dict) -> None:
    rows = [
        {
            "knob": r["knob"],
            "run_seconds": r["seconds"],
            "load_before": r["load_before"][0],
            "load_after": r["load_after"][0],
            "arm": arm,
            **a,
        }
        for r in runs.values()
        for arm, a in r["arms"].items()
    ]
    atomic_write_text(out / "knobs.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_json(
        out / "knobs.json",
        {
            "runs": runs,
            "command": "python scripts/teaching_knobs.py " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
            "niceness": os.nice(0),
            "cpu_count": os.cpu_count(),
            "note": "wall seconds of a headless papermill run of notebooks/00_teaching.ipynb (kernel start to the last "
            "cell), on a machine shared with other work: the load averages (1 minute) beside each run say how "
            "shared",
            "provenance": where_measured(),
        },
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/teaching_knobs.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=list(KNOBS), help="these knobs only (default: all)")
    ap.add_argument("--out", default="results/teaching")
    ap.add_argument("--work", default="work/teaching/knobs", help="the executed notebooks and their work folders")
    ap.add_argument("--force", action="store_true", help="run again a knob already in <out>/knobs.json")
    a = ap.parse_args(argv)
    out, work = ROOT / a.out, ROOT / a.work
    work.mkdir(parents=True, exist_ok=True)
    known = out / "knobs.json"
    runs = json.loads(known.read_text())["runs"] if known.is_file() else {}
    for name in a.only or list(KNOBS):
        if name in runs and not a.force:
            continue
        runs[name] = run_knob(name, KNOBS[name], work)
        r = runs[name]
        print(
            f"{name}: {r['seconds']:.0f} s (load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}): "
            + ", ".join(f"{k} {v['dev']:.1f}" for k, v in r["arms"].items()),
            flush=True,
        )
        write(out, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
