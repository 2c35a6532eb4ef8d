"""The teaching notebook's controlled comparison (FT / KD / PKD, the notebook's own code path:
``pkdstudy.teaching.run_arm``) over seeds 0..N-1, paired by seed: every arm of a seed trains on the same
batches in the same order from the same fresh student.

    nice -n 5 python scripts/teaching_seeds.py --seeds 10            # the notebook's default knobs
    python scripts/teaching_seeds.py --seeds 10 --only-seeds 5-9     # a second process on seeds 5-9, beside it

Each finished (seed, arm) is kept in ``work/teaching/seeds/<key>/`` (a stopped run resumes there; two processes
with disjoint ``--only-seeds`` share it); after each seed the results so far are written to
``<out>/<name>.csv`` (one row per seed and arm) and ``<name>.json`` (the knobs, the seeds, whether every seed
ran, a summary, and provenance: commit, machine, load, the command). Knobs are the notebook's parameters.
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
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkdlib.data import load_task, tokenize_split  # noqa: E402
from pkdlib.files import atomic_write_json, atomic_write_text, content_key, model_fingerprint, tokenizer_fingerprint  # noqa: E402
from pkdlib.models import DEFAULT_TEACHER, load_classifier, load_tokenizer  # noqa: E402
from pkdlib.paths import portable  # noqa: E402
from pkdlib.records import git_state, where_measured  # noqa: E402
from pkdstudy.teaching import (  # noqa: E402
    Setting,
    ce_plateau,
    comparison_arms,
    comparison_batches,
    comparison_pool,
    lab_teacher,
    pt_share,
    run_arm,
    summary_lines,
    teacher_outputs,
)

COLUMNS = [
    "seed",
    "arm",
    "dev",
    "objective",
    "ce_plateau",
    "pt_share",
    "seconds",
    "cpu_seconds",
    "threads",
    "load1",
    "commit",
]


def seed_list(text: str) -> list[int]:
    """'10' -> 0..9; '5-9' -> 5..9; '0,3,7' -> those."""
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-"))
            seeds = list(range(a, b + 1))
        elif "," in text:
            seeds = [int(x) for x in text.split(",")]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(
            f"seeds {text!r}: give a count (10: seeds 0-9), a range (5-9) or a list (0,3,7) of seeds >= 0"
        )
    return seeds


def parse(argv=None) -> argparse.Namespace:
    d = Setting()
    ap = argparse.ArgumentParser(
        prog="python scripts/teaching_seeds.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--seeds", type=seed_list, default=seed_list("10"), help="the distribution's seeds: 10 = 0-9")
    ap.add_argument("--only-seeds", type=seed_list, help="run only these of them here (another process the rest)")
    ap.add_argument(
        "--arms", default="", help="comma-separated subset of FT,KD,PKD [CLS],PKD mean (empty: all the knobs give)"
    )
    for f, v in d.as_dict().items():
        kind = (lambda x: x.lower() in ("1", "true", "yes")) if isinstance(v, bool) else type(v)
        ap.add_argument(f"--{f.replace('_', '-')}", type=kind, default=v, help=f"the notebook's {f}")
    ap.add_argument("--results", default="results", help="where the study's teacher is found (records/)")
    ap.add_argument("--out", default="results/teaching", help="folder of <name>.csv and <name>.json")
    ap.add_argument("--name", default="seeds")
    ap.add_argument("--work", default="work/teaching", help="teacher cache and finished runs (resumable)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    a = ap.parse_args(argv)
    try:
        a.setting = Setting(**{f: getattr(a, f) for f in d.as_dict()})
    except ValueError as e:
        ap.error(str(e))
    a.only_seeds = a.only_seeds or a.seeds
    if not set(a.only_seeds) <= set(a.seeds):
        ap.error(f"--only-seeds {a.only_seeds} are not all among --seeds {a.seeds}")
    return a


def prepare(a):
    """The teacher (the study's, as the notebook finds it), the tokenized splits, the pool and its teacher cache."""
    teacher_dir = lab_teacher(ROOT / a.results / "records")
    teacher, tok = load_classifier(teacher_dir, 2).eval(), load_tokenizer(teacher_dir)
    m = a.setting.max_length
    train, dev = tokenize_split(load_task("rt", "train"), tok, m), tokenize_split(load_task("rt", "dev"), tok, m)
    pool = comparison_pool(train, a.setting)
    cached = teacher_outputs(
        teacher, pool, ROOT / a.work / "cache", (model_fingerprint(teacher_dir), tokenizer_fingerprint(tok), m)
    )
    return teacher, teacher_dir, pool, dev, cached


def run_seed(a, seed: int, arms: dict, pool, dev, cached, done_dir: Path, commit: str) -> None:
    """Every arm of one seed not yet done: trained, scored, kept as done_dir/seed-<s>-<arm>.json with the code's
    commit when this process started (``-dirty``: with uncommitted changes)."""
    batches = None
    for arm, objective in arms.items():
        path = done_dir / f"seed-{seed}-{arm.replace(' ', '_')}.json"
        if path.is_file():
            continue
        batches = batches or comparison_batches(pool, a.setting, seed)
        r = run_arm(objective, batches, cached, dev, a.setting, seed)
        row = {
            "seed": seed,
            "arm": arm,
            "dev": round(100 * r["dev"], 4),
            "objective": r["objective"],
            "ce_plateau": ce_plateau(r["history"], objective.alpha),
            "pt_share": pt_share(r["history"]),
            "seconds": round(r["seconds"], 1),
            "cpu_seconds": round(r["cpu_seconds"], 1),
            "threads": torch.get_num_threads(),
            "load1": round(os.getloadavg()[0], 2),
            "commit": commit,
        }
        atomic_write_json(path, row)
        print(
            f"seed {seed} {arm:<10} dev {row['dev']:.2f}  {row['seconds']:.0f} s ({row['cpu_seconds']:.0f} s CPU, "
            f"load {row['load1']})",
            flush=True,
        )


def write_results(a, arms: dict, done_dir: Path, teacher_dir: str, started: float) -> pd.DataFrame:
    """<out>/<name>.csv and .json from every finished run of the declared seeds (complete when all ran)."""
    rows = [json.loads(p.read_text()) for p in sorted(done_dir.glob("seed-*.json"))]
    df = pd.DataFrame([r for r in rows if r["seed"] in a.seeds and r["arm"] in arms], columns=COLUMNS)
    df = df.sort_values(["seed", "arm"], key=lambda c: c.map(list(arms).index) if c.name == "arm" else c)
    full = {s for s in a.seeds if set(df.loc[df["seed"] == s, "arm"]) == set(arms)}
    df = df[df["seed"].isin(full)]
    out = ROOT / a.out
    atomic_write_text(out / f"{a.name}.csv", df.to_csv(index=False))
    info = {
        "setting": a.setting.as_dict(),
        "arms": list(arms),
        "objectives": {k: str(v) for k, v in arms.items()},
        "seeds": sorted(full),
        "declared_seeds": a.seeds,
        "complete": full == set(a.seeds),
        "summary": summary_lines(df) if len(df) else [],
        "seconds_total": round(float(df["seconds"].sum()), 1),
        "cpu_seconds_total": round(float(df["cpu_seconds"].sum()), 1),
        "command": command(a),
        "commits": sorted({str(c) for c in df["commit"].fillna("not recorded")}),
        "niceness": os.nice(0),
        "teacher": portable(teacher_dir),
        "provenance": where_measured(),
        "load": {"loadavg_at_write": list(os.getloadavg()), "this_process_wall_s": round(time.time() - started)},
    }
    atomic_write_json(out / f"{a.name}.json", info)
    return df


def command(a) -> str:
    """The command that makes this file (the knobs that differ from the notebook's defaults; not --only-seeds)."""
    knobs = [
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}"
        for k, v in a.setting.as_dict().items()
        if v != getattr(Setting(), k)
    ]
    extra = [
        f"--{k} {shlex.quote(str(getattr(a, k)))}"
        for k, v in (("arms", ""), ("out", "results/teaching"), ("name", "seeds"))
        if getattr(a, k) != v
    ]
    seeds = str(len(a.seeds)) if a.seeds == list(range(len(a.seeds))) else ",".join(map(str, a.seeds))
    return " ".join(["python scripts/teaching_seeds.py", f"--seeds {seeds}"] + knobs + extra)


def main(argv=None) -> int:
    a = parse(argv)
    started = time.time()
    git = git_state()
    commit = f"{git['commit']}{'-dirty' if git['dirty'] else ''}"
    torch.set_num_threads(a.threads)
    teacher, teacher_dir, pool, dev, cached = prepare(a)
    arms = comparison_arms(
        a.setting, teacher.config.num_hidden_layers, [x.strip() for x in a.arms.split(",")] if a.arms else None
    )
    key = content_key("teaching-seeds", a.setting.as_dict(), model_fingerprint(teacher_dir), DEFAULT_TEACHER)
    done_dir = ROOT / a.work / "seeds" / key[:16]
    done_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(a.only_seeds)} seeds x {len(arms)} arms ({', '.join(arms)}); finished runs in {done_dir}", flush=True)
    for seed in a.only_seeds:
        run_seed(a, seed, arms, pool, dev, cached, done_dir, commit)
        df = write_results(a, arms, done_dir, teacher_dir, started)
    print("\n".join(summary_lines(df)) if len(df) else "no seed finished every arm yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
