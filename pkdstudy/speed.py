"""Inference speed of the teacher and of each student size, measured side by side in one process.

Models are timed round-robin (teacher, student 1, student 2, ..., then again) so that the noise of a
shared machine hits all of them alike; each number is the median over repeats. Two workloads:
fixed batches (batch x seq_len, all tokens real) and the task's real length distribution
(length-bucketed dev batches, dynamic padding). The ideal speed-up is the ratio of encoder FLOPs,
N/k for an N-layer teacher and a k-layer student of the same width.

One measurement per hardware is shared by every study run on it (``measure_shared``, ``python -m pkdstudy.speed``:
the study's speed-up settings with 30 round-robin repeats, ``results/speed/hardware-<machine>.json``); a report
cites it where it exists, so that studies on one machine never cite different speed-ups of the same students.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch

from pkdlib.layer_maps import check_student_layers
from pkdlib.models import autocast_dtype, count_parameters, load_classifier, pick_device

#: on a GPU, the fixed batch is run this many times per timed call: one batch of a small student takes about a
#: millisecond there, near the cost of launching its kernels and of reading the clock, which would dominate
CUDA_BATCHES_PER_CALL = 20


@torch.inference_mode()
def _time(model, batches, device, amp) -> float:
    """Seconds to run ``batches`` (CPU: the wall clock; CUDA: CUDA events around the launches, after a sync)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        _forward(model, batches, device, amp)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    t = time.perf_counter()
    _forward(model, batches, device, amp)
    return time.perf_counter() - t


def _forward(model, batches, device, amp) -> None:
    for b in batches:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            model(**b)


def measure_inference(
    pretrained: str,
    layers,
    batch_size=32,
    seq_len=128,
    repeats=5,
    warmup=2,
    precision="fp32",
    real_batches=None,
    device="auto",
    progress=True,
) -> dict:
    """Time the full model and its k-layer cuts; return a table of rows plus the settings. On a GPU as training
    runs there (``train.use_gpu``: TF32 matmuls for fp32 on Ampere or newer, determinism on), the fixed batch
    ``CUDA_BATCHES_PER_CALL`` times per timed call; ``ms_per_batch`` is per batch either way."""
    dev = pick_device(device)
    amp, per_call = autocast_dtype(dev, precision), _as_training(dev, autocast_dtype(dev, precision))
    full = load_classifier(pretrained, 2).eval().to(dev)
    n = full.config.num_hidden_layers
    [check_student_layers(n, k) for k in layers]
    models = {n: full, **{k: load_classifier(pretrained, 2, k).eval().to(dev) for k in layers}}
    g = torch.Generator().manual_seed(0)
    low = min(1000, full.config.vocab_size // 2)  # skip the special / unused ids of a BERT vocabulary
    ids = torch.randint(low, full.config.vocab_size, (batch_size, seq_len), generator=g)
    fixed = [
        {
            "input_ids": ids.to(dev),
            "attention_mask": torch.ones_like(ids).to(dev),
            "token_type_ids": torch.zeros_like(ids).to(dev),
        }
    ] * per_call
    real = [{k: v.to(dev) for k, v in b.items()} for b in (real_batches or [])]
    times = _round_robin(models, fixed, real, dev, amp, per_call, warmup, repeats, progress)
    rows = _rows(times, models, n, batch_size, real)
    fit = fit_layer_cost({k: statistics.median(times[k]["fixed"]) for k in models})
    for row in rows:
        row["fitted_speedup"] = (fit["fixed_s"] + fit["per_layer_s"] * n) / (
            fit["fixed_s"] + fit["per_layer_s"] * row["layers"]
        )
    return {
        "rows": rows,
        "fit": fit,
        "settings": {
            "pretrained": pretrained,
            "batch_size": batch_size,
            "seq_len": seq_len,
            "repeats": repeats,
            "warmup": warmup,
            "precision": precision,
            "device": str(dev),
            "threads": torch.get_num_threads(),
            "real_batches": len(real),
            **(
                {"fixed_batches_per_call": per_call, "tf32": bool(torch.backends.cuda.matmul.allow_tf32)}
                if dev.type == "cuda"
                else {}
            ),
        },
    }


def _round_robin(models, fixed, real, dev, amp, per_call, warmup, repeats, progress) -> dict:
    """Each model's seconds per batch (fixed and real batches), the models timed in turn each round."""
    from pkdlib.progress import progress as tqdm

    times = {k: {"fixed": [], "real": []} for k in models}
    for r in tqdm(range(warmup + repeats), desc="speed (round-robin)", disable=not progress):
        for k, m in models.items():
            tf = _time(m, fixed, dev, amp) / per_call
            tr = _time(m, real, dev, amp) if real else None
            if r >= warmup:
                times[k]["fixed"].append(tf)
                if tr is not None:
                    times[k]["real"].append(tr)
    return times


def _rows(times: dict, models: dict, n: int, batch_size: int, real: list) -> list[dict]:
    """One row per depth: parameters, time per batch, the speed-up over the full model and its spread."""
    full = models[n]
    rows = []
    t_teacher = statistics.median(times[n]["fixed"])
    r_teacher = statistics.median(times[n]["real"]) if real else None
    p_teacher = count_parameters(full)["total"]
    for k in sorted(models, reverse=True):
        p = count_parameters(models[k])
        tf = statistics.median(times[k]["fixed"])
        row = {
            "layers": k,
            "role": "teacher" if k == n else "student",
            "params_embedding": p["embedding"],
            "params_transformer": p["transformer"],
            "params_total": p["total"],
            "compression": p_teacher / p["total"],
            "ms_per_batch": 1000 * tf,
            "examples_per_s": batch_size / tf,
            "speedup": t_teacher / tf,
            "ideal_speedup": n / k,
            "spread_fixed": (max(times[k]["fixed"]) - min(times[k]["fixed"])) / tf,
        }
        ratios = [a / b for a, b in zip(times[n]["fixed"], times[k]["fixed"])]  # one speed-up per round
        row.update(speedup_low=min(ratios), speedup_high=max(ratios), repeats=len(ratios))
        if real:
            tr = statistics.median(times[k]["real"])
            n_real = sum(int(b["input_ids"].shape[0]) for b in real)
            row.update({"real_examples_per_s": n_real / tr, "real_speedup": r_teacher / tr})
        rows.append(row)
    return rows


def _as_training(dev, amp) -> int:
    """On a GPU: TF32 and determinism as a training run sets them (``train.use_gpu``); the fixed batch's runs per
    timed call (``CUDA_BATCHES_PER_CALL``; 1 on a CPU)."""
    from pkdlib.train import use_gpu

    if dev.type != "cuda":
        return 1
    use_gpu(dev, amp)
    return CUDA_BATCHES_PER_CALL


def fit_layer_cost(seconds: dict) -> dict:
    """Least-squares fit of time = fixed + per_layer * layers over the timed models ({layers: seconds}).

    ``fixed`` is what every model pays whatever its depth (embeddings, mask, pooler, classifier, Python
    overhead); ``fixed_in_layers`` = fixed / per_layer caps the speed-up of a k-layer cut of an
    N-layer model at (N + c) / (k + c) instead of the ideal N / k."""
    import numpy as np

    ks = np.array(sorted(seconds), dtype=float)
    ts = np.array([seconds[int(k)] for k in ks])
    per_layer, fixed = np.polyfit(ks, ts, 1)
    resid = ts - (fixed + per_layer * ks)
    return {
        "fixed_s": float(fixed),
        "per_layer_s": float(per_layer),
        "fixed_in_layers": float(fixed / per_layer),
        "max_residual_fraction": float(np.max(np.abs(resid) / ts)),
    }


def real_length_batches(
    task: str, pretrained: str, n_examples: int, batch_size: int, max_length=None, data_dir=None
) -> list[dict]:
    """Length-bucketed, dynamically padded batches of the task's dev split (its real lengths)."""
    from pkdlib.config import DEFAULT_MAX_LENGTH
    from pkdlib.data import LengthBucketSampler, collate, load_task, task_spec, tokenize_split
    from pkdlib.models import load_tokenizer

    spec = task_spec(task)
    split = load_task(task, spec.dev_splits[0], data_dir).head(n_examples)
    ts = tokenize_split(split, load_tokenizer(pretrained), max_length or DEFAULT_MAX_LENGTH.get(task, 128))
    out = []
    for idx in LengthBucketSampler(ts.lengths, batch_size, shuffle=False).batches():
        b = collate(ts, idx)
        out.append({k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
    return out


def hardware_key(hw: dict) -> str:
    """A machine's name for its shared speed measurement: its GPU or CPU model and its cores (and the device type
    where the model does not say it: an Apple chip's mps and cpu are two measurements)."""
    kind = str(hw.get("device", "cpu")).split(":")[0]
    name = f"{hw.get('gpu') or hw.get('cpu') or 'cpu'} {hw.get('cpu_count')} cores" + (
        f" {kind}" if kind not in ("cpu", "cuda") else ""
    )
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def shared_path(results, hw: dict) -> Path:
    return Path(results) / "speed" / f"hardware-{hardware_key(hw)}.json"


def shared_measurement(results, hw: dict, pretrained: str, settings: dict) -> dict | None:
    """The machine's shared measurement (``shared_path``) if it was taken with these settings: the same model,
    device type, precision, batch and length, and every size asked for; else None. What a study cites and what
    spares it measuring."""
    path = shared_path(results, hw)
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    s = d["settings"]
    same = (
        s.get("pretrained"),
        str(s.get("device", "cpu")).split(":")[0],
        s.get("precision", "fp32"),
        s.get("batch_size"),
        s.get("seq_len"),
    ) == (
        pretrained,
        str(hw.get("device", "cpu")).split(":")[0],
        settings.get("precision", "fp32"),
        settings["batch_size"],
        settings["seq_len"],
    ) and set(settings["layers"]) <= {r["layers"] for r in d["rows"]}
    return {**d, "shared": path.name} if same else None


def shared_target(results, device: str, pretrained: str, settings: dict) -> Path:
    """Where this machine's shared measurement goes; refused if a measurement with other settings is there (every
    study that ran here cites it: taking another would change what they cite)."""
    from pkdlib.config import ConfigError
    from pkdlib.records import hardware

    hw = hardware(pick_device(device))
    path = shared_path(results, hw)
    if path.is_file() and shared_measurement(results, hw, pretrained, settings) is None:
        raise ConfigError(
            f"{path} holds this machine's shared speed measurement with other settings than these "
            f"({pretrained}, batch {settings['batch_size']} x {settings['seq_len']}, layers "
            f"{settings['layers']}); the studies that ran here cite it. Measure these settings as a "
            f"study's own (shared = False), or move that file aside first"
        )
    return path


def measure_and_write(
    out,
    pretrained: str,
    layers,
    batch_size=32,
    seq_len=128,
    repeats=5,
    warmup=2,
    precision="fp32",
    device="auto",
    real_lengths_task=None,
    real_lengths_examples=1066,
    progress=True,
) -> dict:
    """``measure_inference`` (with the task's real lengths where ``real_lengths_task`` names one) and its
    provenance, written atomically to ``out``: the one way a speed-up file is made (notebook 03, ``measure_shared``)."""
    from pkdlib.files import atomic_write_json
    from pkdlib.records import provenance

    real = (
        real_length_batches(real_lengths_task, pretrained, real_lengths_examples, batch_size)
        if real_lengths_task
        else None
    )
    speed = measure_inference(
        pretrained, layers, batch_size, seq_len, repeats, warmup, precision, real, device, progress=progress
    )
    speed["provenance"] = provenance(speed["settings"]["device"], None, None)
    atomic_write_json(out, speed)
    return speed


def measure_shared(results="results", repeats: int = 30, device: str = "auto", pretrained=None, settings=None) -> Path:
    """The speed-up of every student size on this machine with the study's settings (``profiles.SPEEDUP``, the
    embedded teacher) and ``repeats`` round-robin repeats, written once for every study that ran here to cite.
    Time it on a quiet machine: nothing else CPU-heavy beside it."""
    from .profiles import PROFILES, SPEEDUP

    s, pretrained = settings or SPEEDUP, pretrained or PROFILES["cpu"]["pretrained"]
    out = shared_target(results, device, pretrained, s)
    measure_and_write(
        out,
        pretrained,
        s["layers"],
        s["batch_size"],
        s["seq_len"],
        repeats,
        s["warmup"],
        "fp32",
        device,
        s.get("real_lengths_task"),
        s.get("real_lengths_examples", 1066),
        progress=False,
    )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pkdstudy.speed", description=measure_shared.__doc__)
    ap.add_argument("--results", default="results")
    ap.add_argument("--repeats", type=int, default=30, help="round-robin repeats (default 30)")
    ap.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu; as the study), cpu, cuda, mps")
    a = ap.parse_args(argv)
    if a.repeats < 2:
        ap.error(f"--repeats {a.repeats}: a spread needs at least 2 repeats (30 is the study's)")
    out = measure_shared(a.results, a.repeats, a.device)
    rows = {r["layers"]: r for r in json.loads(out.read_text())["rows"]}
    print(
        f"wrote {out}: "
        + ", ".join(
            f"{k} layers {r['speedup']:.2f}x [{r['speedup_low']:.2f}, {r['speedup_high']:.2f}]"
            for k, r in sorted(rows.items())
            if r["role"] == "student"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
