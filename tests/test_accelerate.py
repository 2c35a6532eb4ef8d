"""Multi-process training through Accelerate: two CPU processes, one record."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # minutes: left out of the fast subset (-m 'not slow')


@pytest.mark.timeout(900)
def test_two_processes_train_the_one_process_recipe(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    """Two CPU processes (Accelerate's multi-process path, as on two GPUs) under an `accelerate launch` that asks
    for bf16 and torch.compile (inductor): the same global batches, optimizer steps and learning-rate curve as one
    process, the run's own precision (fp32, one loss scaler) and no compilation, training metrics and curve points
    over both processes, and another identity."""
    accelerate = shutil.which("accelerate", path=str(ROOT / ".venv" / "bin")) or shutil.which("accelerate")
    assert accelerate, "accelerate CLI not found"
    train = [
        "-m",
        "pkdlib.cli",
        "train",
        "--method",
        "pkd-skip",
        "--student-layers",
        "2",
        "--pretrained",
        str(tiny_bert),
        "--teacher-dir",
        tiny_teacher[0]["model_dir"],
        "--data-dir",
        str(tiny_csv),
        "--epochs",
        "2",
        "--lr",
        "2e-3",
        "--batch-size",
        "16",
        "--beta",
        "10",
        "--device",
        "cpu",
        "--results",
        str(tmp_path / "results"),
        "--work",
        str(tmp_path / "work"),
        "--no-progress",
    ]
    # --multi_gpu selects the torch.distributed launcher; with no GPU Accelerate runs MULTI_CPU (gloo)
    cmd = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "bf16",
        "--dynamo_backend",
        "inductor",
        *train,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    one = subprocess.run([sys.executable, *train], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    recs = [json.loads(p.read_text()) for p in (tmp_path / "results" / "records").glob("*.json")]
    assert len(recs) == 2  # the process count is part of the identity: two records, not one reused
    two, single = sorted(recs, key=lambda r: -r["provenance"]["num_processes"])
    assert two["provenance"]["num_processes"] == 2 and two["identity"]["processes"] == 2
    assert "processes" not in single["identity"]
    assert two["provenance"]["accelerate_mixed_precision"] == "no" and two["config"]["precision"] == "fp32"
    assert two["provenance"]["accelerate_dynamo_backend"] == "no" and not two["provenance"]["loss_scaling"]
    steps = -(-224 // 16)  # every process steps once per global batch of 16
    assert [e["steps"] for e in two["epochs"]] == [e["steps"] for e in single["epochs"]] == [steps, steps]
    assert [(p["step"], p["lr"]) for p in two["curve"]] == [(p["step"], p["lr"]) for p in single["curve"]]
    # a curve point holds both processes' steps (here one step each): the epoch's points average to its loss, the
    # mean over both processes (the main process's steps alone would average to its own)
    first = [p["loss"] for p in two["curve"] if p["epoch"] <= 1]
    assert len(first) == steps and sum(first) / steps == pytest.approx(two["epochs"][0]["train_loss"], rel=1e-9)
    assert single["curve"][-1]["lr"] < 2e-3 / steps  # the schedule reaches its end at the last step, not before
    # training metrics count both processes' examples: every training example once per epoch
    assert two["epochs"][0]["train_tokens"] == single["epochs"][0]["train_tokens"]
