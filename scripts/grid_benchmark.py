"""Study throughput on this machine: 1 worker x all threads vs 2 workers x half the threads, side by side.

    .venv/bin/python scripts/grid_benchmark.py [--grids quick cpu-slice] [--out results/benchmarks]

For each grid (the `quick` profile's 8 students; a slice of the default `cpu` grid: 3-layer
ft/kd/pkd-last/pkd-skip x seeds 0, 1 = 8 students) its teacher is trained once; then the students run
with each worker setting into a fresh results folder that holds only the teacher's record (same teacher,
same caches). Reported per setting: wall time of the student phase, time inside the runs (their
records' total_s), the overhead share (wall time not spent inside a run, per worker), runs per hour,
and the ratio of the two settings' wall times. Writes grid.json and grid.md to --out.
"""

import argparse
import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path

from pkdlib.files import atomic_write_json, atomic_write_text
from pkdlib.records import git_state, hardware
from pkdstudy import ROOT
from pkdstudy.profiles import PROFILES
from pkdstudy.study import LocalRunner, execute, plan


def grids() -> dict:
    quick = copy.deepcopy(PROFILES["quick"])
    cpu = copy.deepcopy(PROFILES["cpu"])
    cpu["students"] = cpu["students"][:8]  # replicate order: 3-layer ft/kd/pkd-last/pkd-skip x seeds 0, 1
    for p in (quick, cpu):
        p.update(speedup=None, results="unused", smoke_test=True)
    return {"quick": quick, "cpu-slice": cpu}


def run_grid(name, spec, base: Path, work: Path, settings, log) -> list[dict]:
    PROFILES[f"bench-{name}"] = spec
    profile = f"bench-{name}"
    teacher_dir = base / name / "teacher"
    execute(
        profile,
        [it for it in plan(profile, results=teacher_dir, work=work) if it.kind == "teacher"],
        teacher_dir,
        work,
        log=log,
    )
    rows = []
    for workers in settings:
        res = base / name / f"w{workers}"
        shutil.rmtree(res, ignore_errors=True)
        shutil.copytree(teacher_dir / "records", res / "records")
        items = [it for it in plan(profile, results=res, work=work) if it.kind != "report"]
        t0 = time.time()
        m = execute(profile, items, res, work, log=log, runner=LocalRunner(workers))
        wall = time.time() - t0
        students = [it for it in m["items"] if it["kind"] == "student" and not it["reused"]]
        inside = sum(
            json.loads((res / "records" / f"{r}.json").read_text())["timings"]["total_s"] for r in m["records"][1:]
        )
        rows.append(
            {
                "grid": name,
                "workers": workers,
                "threads_per_run": max(1, os.cpu_count() // workers),
                "runs": len(students),
                "wall_s": round(wall, 1),
                "inside_runs_s": round(inside, 1),
                "notebook_s": round(sum(it["seconds"] for it in students), 1),
                "overhead_share": round(1 - inside / (wall * workers), 4),
                "runs_per_hour": round(3600 * len(students) / wall, 1),
            }
        )
        log(f"== {name}, {workers} worker(s): {rows[-1]}")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grids", nargs="+", default=["quick", "cpu-slice"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--scratch", default=str(ROOT / "work" / "grid_benchmark"))
    a = ap.parse_args(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    rows = []
    for g in a.grids:
        rows += run_grid(g, grids()[g], Path(a.scratch), ROOT / "work", a.workers, log)
    for r in rows:
        first = next(x for x in rows if x["grid"] == r["grid"])
        r["wall_vs_first"] = round(r["wall_s"] / first["wall_s"], 3)
    out = {
        "rows": rows,
        "hardware": hardware("cpu"),
        "git": git_state(),
        "command": "python scripts/grid_benchmark.py " + " ".join(argv or sys.argv[1:]),
    }
    atomic_write_json(Path(a.out) / "grid.json", out)
    head = "| grid | workers x threads | runs | wall (s) | inside runs (s) | overhead share | runs/hour | wall vs 1 worker |"
    lines = [
        f"Study throughput on {out['hardware']['cpu']} ({out['hardware']['cpu_count']} cores), measured side by "
        f"side in one sitting by `scripts/grid_benchmark.py` at git {str(out['git']['commit'])[:10]}.",
        "",
        head,
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['grid']} | {r['workers']} x {r['threads_per_run']} | {r['runs']} | {r['wall_s']:.0f} | "
        f"{r['inside_runs_s']:.0f} | {r['overhead_share']:.1%} | {r['runs_per_hour']:.0f} | "
        f"{r['wall_vs_first']:.2f} |"
        for r in rows
    ]
    atomic_write_text(Path(a.out) / "grid.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
