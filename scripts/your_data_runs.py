"""docs/your-data.md's two measurements on the embedded data shaped as a practitioner's files (``pkdstudy.user_data``):

    nice -n 5 python scripts/your_data_runs.py frontier             # one `pkd distill --layers 1,2,3 --prune-vocab` run
    nice -n 5 python scripts/your_data_runs.py unlabeled --seeds 0 1 2   # 3 arms x seeds, `pkd distill --layers 3`
    nice -n 5 python scripts/your_data_runs.py prune                # --prune-vocab without and with rt_rest's words

``frontier`` runs the one command a user types (its line is in the output) and copies what it wrote (frontier.md,
frontier.png, pkd-frontier.json, each student's export checks, the printed summary) into
``results/your-data/frontier/``, machine paths made relative to the checkout. ``unlabeled`` distils a 3-layer student
from a teacher fine-tuned on 1,000 labelled rt sentences, per seed (teacher and student seeds alike): without
unlabeled text (``none``), with the other 5,398 rt training sentences (``rt_rest``, in domain), with as many IMDB
sentences (``imdb_sents``, out of domain); writes ``results/your-data/unlabeled.{csv,json}`` after each run: per run
the test and dev accuracy, and per arm the paired difference from ``none`` over the seeds (t interval). Every run is a
recorded ``pkd distill`` run under ``work/your-data/`` (reused on a second call, so an interrupted call resumes).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkdlib.files import atomic_write_json, atomic_write_text  # noqa: E402
from pkdlib.records import where_measured  # noqa: E402
from pkdstudy.scrub import ABSOLUTE  # noqa: E402
from pkdstudy.user_data import write_user_files  # noqa: E402

WORK, OUT = ROOT / "work" / "your-data", ROOT / "results" / "your-data"
ARMS = {"none": None, "rt_rest": "rt_rest.csv", "imdb_sents": "imdb_sents.csv"}


def portable(text: str) -> str:
    """``text`` with this checkout's absolute paths made relative to it; refused if a machine path remains."""
    text = text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
    if m := ABSOLUTE.search(text.encode()):
        raise SystemExit(f"a machine path remains in what would be committed: {m.group(0)!r}")
    return text


def _files() -> dict:
    return write_user_files(WORK / "files")


def frontier(args) -> int:
    f = _files()
    out = WORK / "exports" / "frontier"
    cmd = [sys.executable, "-m", "pkdlib.cli", "distill", "--train", f["rt1000.csv"], "--dev", f["rt_dev.csv"]]
    cmd += ["--test", f["rt_test.csv"], "--layers", "1,2,3", "--prune-vocab", "--seed", "0", "--no-progress"]
    cmd += ["--results", WORK / "results", "--work", WORK / "work", "--out", out]
    cmd = [str(c) for c in cmd]
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.time()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (WORK / "frontier.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        print(done.stderr[-3000:])
        return done.returncode
    dest = OUT / "frontier"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("frontier.md", "pkd-frontier.json"):
        atomic_write_text(dest / name, portable((out / name).read_text()))
    shutil.copyfile(out / "frontier.png", dest / "frontier.png")
    exports = {
        d.name: {
            k: v for k, v in json.loads((d / "pkd-export.json").read_text()).items() if k in ("checks", "size_mib")
        }
        for d in sorted(out.glob("L*"))
    }
    atomic_write_text(dest / "exports.json", portable(json.dumps(exports, indent=1)))
    command = "pkd " + shlex.join(cmd[3:])
    atomic_write_text(dest / "summary.txt", portable(f"$ {command}\n{done.stdout}"))
    meta = {"command": command, "seconds": round(time.time() - t0), "provenance": where_measured()}
    atomic_write_text(dest / "run.json", portable(json.dumps(meta, indent=1)))
    print(done.stdout[-4000:])
    return 0


def _row(seed: int, arm: str, s: dict, seconds: float) -> dict:
    return {
        "seed": seed,
        "arm": arm,
        "test_accuracy": s["student"]["accuracy"],
        "test_macro_f1": s["student"].get("macro_f1"),
        "teacher_test_accuracy": s["teacher"].get("accuracy"),
        "rows": s["rows"],
        "runs": s["runs"],
        "seconds": round(seconds, 1),
    }


def summarise(rows: list) -> dict:
    """Per arm: mean and sd of the test accuracy (points); per arm but ``none``: the paired difference from ``none``
    over the seeds both have, with its 95% t interval."""
    from pkdstudy.stats import paired_t

    by = {(r["arm"], r["seed"]): 100 * r["test_accuracy"] for r in rows}
    out = {}
    for arm in ARMS:
        seeds = sorted(s for a, s in by if a == arm)
        acc = [by[arm, s] for s in seeds]
        out[arm] = {"n": len(acc), "mean": sum(acc) / len(acc) if acc else None, "seeds": seeds, "accuracy": acc}
        paired = [s for s in seeds if ("none", s) in by]
        if arm != "none" and len(paired) >= 2:  # a t interval needs two pairs
            out[arm]["minus_none"] = paired_t([by[arm, s] - by["none", s] for s in paired])
    return out


def unlabeled(args) -> int:
    from pkdlib.distill import distill, plan
    from pkdlib.paths import Workspace

    f, ws, rows = _files(), Workspace(WORK / "results", WORK / "work"), []
    data = {"train_file": str(f["rt1000.csv"]), "dev_file": str(f["rt_dev.csv"]), "test_file": str(f["rt_test.csv"])}
    for seed in args.seeds:
        for arm, file in ARMS.items():
            t0 = time.time()
            seeded = {"seed": seed}
            p = plan(data, 3, out=WORK / "exports" / f"unlabeled-{arm}-s{seed}", student=seeded,
                     teacher_overrides=seeded, unlabeled=str(f[file]) if file else None)  # fmt: skip
            s = distill(p, ws, progress=False, log=lambda *a, **k: print(*a, flush=True))
            rows.append(_row(seed, arm, s, time.time() - t0))
            print(f"== {arm} seed {seed}: student test accuracy {s['student']['accuracy']:.4f}", flush=True)
            _write(rows)
    return 0


def _write(rows: list) -> None:
    import pandas as pd

    OUT.mkdir(parents=True, exist_ok=True)
    flat = pd.DataFrame([{k: v for k, v in r.items() if k not in ("rows", "runs")} for r in rows])
    atomic_write_text(OUT / "unlabeled.csv", flat.to_csv(index=False))
    doc = {
        "design": "teacher fine-tuned on 1,000 labelled rt training sentences per seed; a 3-layer pkd-skip student "
        "(pkd distill's recipe) without unlabeled text (none), with the other 5,398 rt training sentences "
        "(rt_rest) or as many IMDB sentences (imdb_sents) as unlabeled text; test: rt's 1,066 test sentences; "
        "accuracy in points",
        "command": "python scripts/your_data_runs.py " + " ".join(sys.argv[1:]),
        "runs": rows,
        "summary": summarise(rows),
        "provenance": where_measured(),
    }
    atomic_write_json(OUT / "unlabeled.json", json.loads(portable(json.dumps(doc))))


def prune(args) -> int:
    """The vocabulary pruned on seed 0's 3-layer students with and without the in-domain unlabeled text (whose words
    join the kept vocabulary): ``pkd export --prune-vocab`` of each, its check written to ``prune.json``."""
    from pkdlib.export import export_run
    from pkdlib.records import read_record

    done = {(r["arm"], r["seed"]): r for r in json.loads((OUT / "unlabeled.json").read_text())["runs"]}
    checks = {}
    for arm in ("none", "rt_rest"):
        run_id = done[arm, 0]["runs"][-1]  # the student's run (the teacher's first)
        rec = read_record(WORK / "results" / "records" / f"{run_id}.json")
        m = export_run(rec, WORK / "exports" / f"prune-{arm}-s0", prune_vocab=True)
        checks[arm] = {"run": run_id, "vocab": m["checks"]["vocab"], "size_mib": m["size_mib"], "test": m["test"]}
    doc = {"command": "python scripts/your_data_runs.py prune", "checks": checks, "provenance": where_measured()}
    atomic_write_json(OUT / "prune.json", json.loads(portable(json.dumps(doc))))
    for arm, c in checks.items():
        print(arm, c["vocab"]["vocabulary"], c["vocab"]["accuracy_change_points"], c["vocab"]["kept"])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/your_data_runs.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("frontier", help="one pkd distill --layers 1,2,3 --prune-vocab run and its frontier")
    u = sub.add_parser("unlabeled", help="none / rt_rest / imdb_sents x seeds")
    u.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sub.add_parser("prune", help="--prune-vocab on seed 0's students without and with rt_rest (after unlabeled)")
    a = ap.parse_args(argv)
    return {"frontier": frontier, "unlabeled": unlabeled, "prune": prune}[a.what](a)


if __name__ == "__main__":
    raise SystemExit(main())
