"""The golden replay: a tiny deterministic teacher and PKD-Skip student, run through ``runs.run``, whose losses,
dev scores and test predictions are stored in ``tests/golden/replay.json``.

It guards the results version (``pkdlib.identity.RESULTS_VERSION``): run identities no longer hash the code, so
a change that moves a run's numbers (objective, loop, data, model construction) must bump the version, or
committed records would be reused for runs the code no longer makes. When this test fails on the numbers:
if the change is meant to alter results, bump RESULTS_VERSION and regenerate with
``python tests/test_golden.py --write``; if not, the change has a bug.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "replay.json"
RTOL = 2e-4  # float noise across CPUs and thread counts is far below; any change to a loss or the loop is far above


def replay(tmp: Path) -> dict:
    """Teacher (3 epochs) and a 2-layer PKD-Skip student (5 epochs), dropout on, on 400 tiny reviews, fp32, 1 thread."""
    import torch
    from conftest import save_tiny_bert, write_tiny_csv

    from pkdlib import RunConfig
    from pkdlib.paths import Workspace
    from pkdlib.runs import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bert, data = save_tiny_bert(tmp / "bert"), write_tiny_csv(tmp / "reviews.csv", n=400, seed=7)
        ws, quiet = Workspace(tmp / "results", tmp / "work"), (lambda *a, **k: None)
        common = dict(task="rt", pretrained=str(bert), data_dir=str(data), batch_size=16, device="cpu", epochs=3)
        teacher = run(RunConfig(method="teacher", lr=3e-3, **common), ws, progress=False, log=quiet)
        student = run(
            RunConfig(
                method="pkd-skip",
                student_layers=2,
                teacher_dir=str(ws.models / teacher["run_id"]),
                lr=3e-3,
                temperature=2.0,
                beta=1.0,
                **{**common, "epochs": 5},
            ),
            ws,
            progress=False,
            log=quiet,
        )
    finally:
        torch.set_num_threads(threads)
    return {name: _numbers(r) for name, r in (("teacher", teacher), ("student", student))}


def _numbers(r: dict) -> dict:
    keys = ("train_loss", "train_ce", "train_kd", "train_pt")
    return {
        "epochs": [{k: e[k] for k in keys if k in e} | {"dev": e["dev"]["accuracy"]} for e in r["epochs"]],
        "curve": [{k: p[k] for k in ("loss", "ce", "kd", "pt") if k in p} for p in r["curve"]],
        "best_epoch": r["best_epoch"],
        "test_correct": r["test_correct"],
    }


def _diff(got, want, where="") -> list[str]:
    if isinstance(want, dict):
        return [d for k in sorted(set(want) | set(got)) for d in _diff(got.get(k), want.get(k), f"{where}.{k}")]
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in _diff(g, w, f"{where}[{i}]")]
    if isinstance(want, float) and isinstance(got, float):
        return [] if math.isclose(got, want, rel_tol=RTOL, abs_tol=1e-7) else [f"{where}: {got!r} != {want!r}"]
    return [] if got == want else [f"{where}: {got!r} != {want!r}"]


def test_golden_replay_matches_the_results_version(tmp_path):
    from pkdlib.identity import RESULTS_VERSION

    golden = json.loads(GOLDEN.read_text())
    assert golden["results_version"] == RESULTS_VERSION, (
        f"RESULTS_VERSION is {RESULTS_VERSION} but the golden replay was taken at {golden['results_version']}: "
        f"regenerate it with `python tests/test_golden.py --write` on the new code"
    )
    diffs = _diff(replay(tmp_path), golden["runs"])
    assert not diffs, (
        "the golden replay's numbers changed without a RESULTS_VERSION bump (first differences: "
        + "; ".join(diffs[:5])
        + f"; {len(diffs)} in all). If the change is meant to alter results, "
        "bump pkdlib.identity.RESULTS_VERSION and run `python tests/test_golden.py --write`."
    )


def test_the_golden_comparison_catches_a_small_change():
    golden = json.loads(GOLDEN.read_text())["runs"]
    moved = json.loads(json.dumps(golden))
    moved["student"]["epochs"][0]["train_pt"] *= 1 + 10 * RTOL
    assert _diff(golden, golden) == [] and len(_diff(moved, golden)) == 1


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    from pkdlib.identity import RESULTS_VERSION

    with tempfile.TemporaryDirectory() as d:
        GOLDEN.write_text(json.dumps({"results_version": RESULTS_VERSION, "runs": replay(Path(d))}, indent=1) + "\n")
    print(f"wrote {GOLDEN} at results version {RESULTS_VERSION}")
