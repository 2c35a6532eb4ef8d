"""Does bf16 autocast change accuracy? The cpu profile's 3-layer PKD-Skip student trained in fp32 and in
bf16 with the same fine-tuned teacher and seeds, side by side in one process; writes per-seed dev/test,
training time, and the paired bf16 - fp32 difference with a 95% t-interval.

    .venv/bin/python scripts/precision_check.py --teacher-dir work/models/<teacher run id> [--seeds 0 1 2]

Records go to results/benchmarks/precision/records; the summary to results/benchmarks/precision.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from pkdlib.config import RunConfig
from pkdlib.files import atomic_write_json, atomic_write_text
from pkdlib.paths import Workspace
from pkdlib.records import provenance
from pkdlib.runs import run
from pkdstudy.profiles import CPU_STUDENT
from pkdstudy.stats import paired_t


def _one_run(a, ws, seed: int, precision: str) -> dict:
    """One student in one precision: its dev and test accuracy and training time."""
    cfg = RunConfig(
        task="rt",
        method=a.method,
        student_layers=a.student_layers,
        teacher_dir=a.teacher_dir,
        pretrained=a.pretrained,
        data_dir=a.data_dir,
        max_train_examples=a.max_train_examples,
        seed=seed,
        precision=precision,
        device="cpu",
        **CPU_STUDENT,
    )
    t = time.time()
    rec = run(cfg, ws, progress=False, log=lambda *x: None)
    return {
        "seed": seed,
        "precision": precision,
        "dev": 100 * rec["dev"]["dev"]["accuracy"],
        "test": 100 * rec["test"]["test"]["accuracy"],
        "train_s": rec["timings"]["train_s"],
        "wall_s": time.time() - t,
        "run_id": rec["run_id"],
    }


def _markdown(a, df, summary) -> str:
    """precision.md: the runs and the paired differences."""
    return (
        f"bf16 autocast vs fp32, rt, {a.student_layers}-layer {a.method}, cpu profile settings, N={len(a.seeds)} "
        f"seeds, same teacher; accuracy in %.\n\n"
        + df.drop(columns="run_id").to_markdown(index=False, floatfmt=".2f")
        + "\n\n"
        + "\n".join(
            f"- {s}: bf16 - fp32 = {v['bf16_minus_fp32']:+.2f} points, 95% CI "
            f"[{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}]"
            for s, v in summary.items()
            if s != "train_speedup_bf16"
        )
        + f"\n- training time: bf16 {summary['train_speedup_bf16']:.2f}x the fp32 speed (median over seeds)\n"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-dir", required=True, help="a fine-tuned teacher folder (a cpu teacher run's model)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--method", default="pkd-skip")
    ap.add_argument("--student-layers", type=int, default=3)
    ap.add_argument("--pretrained", default=RunConfig.pretrained)
    ap.add_argument("--data-dir", default=None, help="local rt-format CSV (default: the embedded data)")
    ap.add_argument("--max-train-examples", type=int, default=None)
    ap.add_argument("--out", default="results/benchmarks")
    ap.add_argument("--work", default="work")
    a = ap.parse_args(argv)
    if not Path(a.teacher_dir).is_dir():
        ap.error(f"--teacher-dir {a.teacher_dir!r} is not a folder; run ./run_all.sh (or 01_teacher) first")
    ws = Workspace(results=str(Path(a.out) / "precision"), work=a.work)
    rows = []
    for seed in a.seeds:  # interleaved per seed, so machine noise hits both precisions alike
        for precision in ("fp32", "bf16"):
            rows.append(_one_run(a, ws, seed, precision))
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    wide = df.pivot(index="seed", columns="precision", values=["dev", "test", "train_s"])
    summary = {}
    for split in ("dev", "test"):
        t = paired_t((wide[(split, "bf16")] - wide[(split, "fp32")]).to_numpy())
        summary[split] = {"bf16_minus_fp32": t["mean"], "ci95": [t["low"], t["high"]]}
    summary["train_speedup_bf16"] = float((wide[("train_s", "fp32")] / wide[("train_s", "bf16")]).median())
    res = {
        "method": a.method,
        "student_layers": a.student_layers,
        "settings": CPU_STUDENT,
        "n_seeds": len(a.seeds),
        "runs": rows,
        "summary": summary,
        "provenance": provenance("cpu", 0, None),
    }
    atomic_write_json(Path(a.out) / "precision.json", res)
    md = _markdown(a, df, summary)
    atomic_write_text(Path(a.out) / "precision.md", md)
    print(md)


if __name__ == "__main__":
    main()
