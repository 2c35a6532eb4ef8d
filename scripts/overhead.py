"""Where a study's wall time goes: inside its runs, or outside them (kernel start, imports, the notebook's
figures and write, the study's own bookkeeping). Reads the manifest, the records and the items' notebook times.

    .venv/bin/python scripts/overhead.py --profile cpu     # -> results/benchmarks/overhead-cpu.{json,md}

Two shares:
- per notebook: (notebook seconds - seconds inside the run, from its record) / notebook seconds, students only
  (a teacher notebook also fills the teacher cache, real work that its record does not time);
- of the machine: 1 - sum(seconds inside runs x torch threads) / (wall seconds x cores), over the runs this part
  of the study ran: what the cores spent outside runs, whatever the number of workers. Of a study still running,
  an upper bound: the manifest is written when a run finishes, while the other workers' runs are in flight.
"""

import argparse
import json
from pathlib import Path

from pkdlib.files import atomic_write_json, atomic_write_text
from pkdstudy import ROOT


def label(rec: dict) -> str:
    c = rec["config"]
    return (
        f"{c['task']} teacher"
        if c["method"] == "teacher"
        else f"{c['task']} {c['method']} L{c['student_layers']} seed {c['seed']}"
    )


def overhead(results: Path, profile: str, manifest: Path | None = None) -> dict:
    m = json.loads((manifest or results / f"manifest-{profile}.json").read_text())
    recs = {
        label(r): r for r in (json.loads((results / "records" / f"{rid}.json").read_text()) for rid in m["records"])
    }
    ran = [
        it for it in m["items"] if it["kind"] in ("teacher", "student") and it["seconds"] > 0 and it["label"] in recs
    ]
    if not ran:
        raise SystemExit(f"no run of {profile} ran in the manifest's last part: nothing to measure")
    rows = [
        {
            "label": it["label"],
            "kind": it["kind"],
            "notebook_s": it["seconds"],
            "inside_s": recs[it["label"]]["timings"]["total_s"],
            "threads": recs[it["label"]]["provenance"]["hardware"]["torch_threads"],
        }
        for it in ran
    ]
    students = [r for r in rows if r["kind"] == "student"]
    nb, inside = sum(r["notebook_s"] for r in students), sum(r["inside_s"] for r in students)
    part = m["parts"][-1]
    cores = m["hardware"]["cpu_count"]
    core_inside = sum(r["inside_s"] * r["threads"] for r in rows)
    return {
        "profile": profile,
        "status": m["status"],
        "hardware": m["hardware"],
        "git": m["git"],
        "part_started": part.get("started"),
        "workers": part["workers"],
        "wall_s": part["duration_s"],
        "runs": len(rows),
        "student_notebooks": len(students),
        "student_notebook_s": round(nb, 1),
        "student_inside_s": round(inside, 1),
        "per_notebook_outside_s": round((nb - inside) / max(len(students), 1), 2),
        "per_notebook_outside_share": round(1 - inside / nb, 4) if nb else None,
        "machine_outside_share": round(1 - core_inside / (part["duration_s"] * cores), 4),
        "rows": rows,
    }


def markdown(o: dict) -> str:
    hw = o["hardware"]
    return "\n".join(
        [
            f"# Overhead of the `{o['profile']}` study (manifest status '{o['status']}')",
            "",
            f"{hw['cpu']}, {hw['cpu_count']} cores, {o['workers']} workers; study at git {str(o['git']['commit'])[:10]}; "
            f"{o['runs']} runs in {o['wall_s'] / 60:.1f} min of wall time (the part of the study started "
            f"{o['part_started']}).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| student notebooks | {o['student_notebooks']} |",
            f"| mean time outside the run per student notebook (kernel start, imports, figure, write) | "
            f"{o['per_notebook_outside_s']:.1f} s |",
            f"| share of student notebook time outside the run | {o['per_notebook_outside_share']:.1%} |",
            f"| share of the machine's core-time outside runs (teacher included; `1 - sum(inside x threads) / (wall x cores)`) "
            f"| {o['machine_outside_share']:.1%} |",
            "",
        ]
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument(
        "--manifest",
        default=None,
        help="a copy of the manifest taken while the study ran (default: "
        "results/manifest-<profile>.json, whose last part is measured)",
    )
    a = ap.parse_args()
    o = overhead(Path(a.results), a.profile, a.manifest and Path(a.manifest))
    out = Path(a.results) / "benchmarks"
    atomic_write_json(out / f"overhead-{a.profile}.json", o)
    atomic_write_text(out / f"overhead-{a.profile}.md", markdown(o))
    print(markdown(o))


if __name__ == "__main__":
    main()
