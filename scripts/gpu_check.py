"""The GPU path, checked in under 10 minutes on one GPU (``scripts/gpu_check.sh``; on a machine without a GPU it
says so and exits 0). Prints each result and writes them, with the hardware, to ``--out/gpu_check.json``:

1. the GPU: name, compute capability, native bf16, what ``precision='auto'`` picks;
2. step time of a 3-layer student (batch 32 x 128 tokens) in fp32 (TF32 on Ampere+), bf16 and fp16, interleaved;
3. a GLUE-sized teacher cache (a tenth of MNLI, BERT-base shapes) read memory-mapped: host memory, and the
   device memory one gathered batch takes;
4. one GPU against two processes (Accelerate's CPU path, the same code as two GPUs): optimizer steps and the
   learning-rate curve of the same tiny run must be equal;
5. the ``quick`` profile end to end on the GPU (its records under ``--out/quick``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def gpu_facts() -> dict:
    from pkdlib.models import autocast_dtype
    cap = torch.cuda.get_device_capability(0)
    return {"gpu": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(), "capability": list(cap),
            "native_bf16": cap[0] >= 8, "auto_precision": str(autocast_dtype(torch.device("cuda:0"), "auto")),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def step_times(repeats: int = 30) -> dict:
    from pkdlib.models import load_classifier
    from pkdlib.train import use_gpu
    dev = torch.device("cuda:0")
    model = load_classifier("embedded:all-MiniLM-L6-v2", 2, 3).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    x = torch.randint(1000, 20000, (32, 128), device=dev)
    y = torch.randint(0, 2, (32,), device=dev)
    scaler = torch.amp.GradScaler("cuda")
    times: dict = {"fp32": [], "bf16": [], "fp16": []}
    for i in range(repeats + 3):
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
            use_gpu(dev, dtype)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(input_ids=x).logits.float(), y)
            (scaler.scale(loss) if name == "fp16" else loss).backward()
            scaler.step(opt) if name == "fp16" else opt.step()
            if name == "fp16":
                scaler.update()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            if i >= 3:
                times[name].append(1000 * (time.perf_counter() - t0))
    med = {k: round(sorted(v)[len(v) // 2], 2) for k, v in times.items()}
    return {"ms_per_step": med, "bf16_speedup_over_fp32": round(med["fp32"] / med["bf16"], 2),
            "setting": f"3-layer MiniLM student, batch 32 x 128, median of {repeats} interleaved steps"}


def cache_memory(out: Path) -> dict:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "cache_memory.py"), "--examples", "39270",
                          "--batches", "200", "--dir", str(out)], capture_output=True, text=True, check=True)
    host = json.loads(res.stdout.strip().splitlines()[-1].replace("'", '"'))
    torch.cuda.reset_peak_memory_stats()
    batch = torch.randn(32, 5, 768).to("cuda:0")
    host["device_mb_one_pkd_batch"] = round(torch.cuda.max_memory_allocated() / 2**20, 2)
    del batch
    for p in out.glob("teacher-synthetic-*.pt"):
        p.unlink()
    return host


def processes(out: Path) -> dict:
    """The same tiny kd run on one GPU and in two processes; steps and lr curves compared."""
    common = ["--task", "rt", "--max-train-examples", "320", "--max-eval-examples", "200", "--max-length", "32",
              "--epochs", "1", "--results", str(out / "proc"), "--work", str(out / "proc-work"), "--no-progress"]
    teacher = json.loads(_pkd(["train", "--method", "teacher", "--device", "cuda", *common, "--json"]))
    student = ["train", "--method", "kd", "--student-layers", "2", "--teacher-dir", teacher["weights"], *common, "--json"]
    one = json.loads(_pkd([*student, "--device", "cuda"]))
    acc = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    two = subprocess.run([acc, "launch", "--multi_gpu", "--num_processes", "2", "--mixed_precision", "no", "-m",
                          "pkdlib.cli", *student, "--device", "cpu"], capture_output=True, text=True, check=True)
    two = json.loads(two.stdout.strip().splitlines()[-1])
    recs = [json.loads(Path(r["record"]).read_text()) for r in (one, two)]
    curves = [[(p["step"], round(p["lr"], 12)) for p in r["curve"]] for r in recs]
    return {"steps": [r["epochs"][0]["steps"] for r in recs], "lr_curves_equal": curves[0] == curves[1],
            "processes": [r["provenance"]["num_processes"] for r in recs]}


def _pkd(args) -> str:
    res = subprocess.run([sys.executable, "-m", "pkdlib.cli", *args], capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    return res.stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/gpu_check", help="folder for gpu_check.json and the quick profile")
    ap.add_argument("--skip-quick", action="store_true", help="leave out the quick profile (step 5)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check")
        return 0
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, step in (("gpu", gpu_facts), ("step_time", step_times), ("cache", lambda: cache_memory(out)),
                       ("processes", lambda: processes(out))):
        t0 = time.time()
        report[name] = step()
        print(f"{name} ({time.time() - t0:.0f} s): {json.dumps(report[name])}", flush=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    if not a.skip_quick:
        t0 = time.time()
        res = subprocess.run([str(ROOT / "run_all.sh"), "--profile", "quick", "--results", str(out / "quick"),
                              "--work", str(out / "quick-work")], cwd=ROOT)
        report["quick"] = {"returncode": res.returncode, "seconds": round(time.time() - t0)}
        print(f"quick profile: {report['quick']}")
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
