"""Multi-process training through Accelerate: two CPU processes, one record."""
import json
import shutil
import subprocess

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # minutes: left out of the fast subset (-m 'not slow')


@pytest.mark.timeout(600)
def test_two_process_accelerate_run(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    accelerate = shutil.which("accelerate", path=str(ROOT / ".venv" / "bin")) or shutil.which("accelerate")
    assert accelerate, "accelerate CLI not found"
    # --multi_gpu selects the torch.distributed launcher; with no GPU Accelerate runs MULTI_CPU (gloo)
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "pkdlib.cli", "train", "--method", "pkd-skip", "--student-layers", "2",
           "--pretrained", str(tiny_bert), "--teacher-dir", tiny_teacher[0]["model_dir"], "--data-dir", str(tiny_csv),
           "--epochs", "1", "--lr", "2e-3", "--batch-size", "16", "--beta", "10", "--device", "cpu",
           "--results", str(tmp_path / "results"), "--work", str(tmp_path / "work"), "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    records = list((tmp_path / "results" / "records").glob("*.json"))
    assert len(records) == 1
    rec = json.loads(records[0].read_text())
    assert rec["provenance"]["num_processes"] == 2
    # each process took its share of the batches
    assert rec["epochs"][0]["steps"] == (224 // 16 + 1) // 2
