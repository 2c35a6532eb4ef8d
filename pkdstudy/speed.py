"""Inference speed of the teacher and of each student size, measured side by side in one process.

Models are timed round-robin (teacher, student 1, student 2, ..., then again) so that the noise of a
shared machine hits all of them alike; each number is the median over repeats. Two workloads:
fixed batches (batch x seq_len, all tokens real) and the task's real length distribution
(length-bucketed dev batches, dynamic padding). The ideal speed-up is the ratio of encoder FLOPs,
N/k for an N-layer teacher and a k-layer student of the same width.
"""
from __future__ import annotations

import statistics
import time

import torch

from pkdlib.layer_maps import check_student_layers
from pkdlib.models import autocast_dtype, count_parameters, load_classifier, pick_device


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def _time(model, batches, device, amp) -> float:
    _sync(device)
    t = time.perf_counter()
    for b in batches:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            model(**b)
    _sync(device)
    return time.perf_counter() - t


def measure_inference(pretrained: str, layers, batch_size=32, seq_len=128, repeats=5, warmup=2, precision="fp32",
                      real_batches=None, device="auto", progress=True) -> dict:
    """Time the full model and its k-layer cuts; return a table of rows plus the settings."""
    from pkdlib.progress import progress as tqdm
    dev = pick_device(device)
    amp = autocast_dtype(dev, precision)
    full = load_classifier(pretrained, 2).eval().to(dev)
    n = full.config.num_hidden_layers
    for k in layers:
        check_student_layers(n, k)
    models = {n: full, **{k: load_classifier(pretrained, 2, k).eval().to(dev) for k in layers}}
    g = torch.Generator().manual_seed(0)
    low = min(1000, full.config.vocab_size // 2)  # skip the special / unused ids of a BERT vocabulary
    ids = torch.randint(low, full.config.vocab_size, (batch_size, seq_len), generator=g)
    fixed = [{"input_ids": ids.to(dev), "attention_mask": torch.ones_like(ids).to(dev),
              "token_type_ids": torch.zeros_like(ids).to(dev)}]
    real = [{k: v.to(dev) for k, v in b.items()} for b in (real_batches or [])]
    times = {k: {"fixed": [], "real": []} for k in models}
    for r in tqdm(range(warmup + repeats), desc="speed (round-robin)", disable=not progress):
        for k, m in models.items():
            tf = _time(m, fixed, dev, amp)
            tr = _time(m, real, dev, amp) if real else None
            if r >= warmup:
                times[k]["fixed"].append(tf)
                if tr is not None:
                    times[k]["real"].append(tr)
    rows = []
    t_teacher = statistics.median(times[n]["fixed"])
    r_teacher = statistics.median(times[n]["real"]) if real else None
    p_teacher = count_parameters(full)["total"]
    for k in sorted(models, reverse=True):
        p = count_parameters(models[k])
        tf = statistics.median(times[k]["fixed"])
        row = {"layers": k, "role": "teacher" if k == n else "student", "params_embedding": p["embedding"],
               "params_transformer": p["transformer"], "params_total": p["total"],
               "compression": p_teacher / p["total"], "ms_per_batch": 1000 * tf,
               "examples_per_s": batch_size / tf, "speedup": t_teacher / tf, "ideal_speedup": n / k,
               "spread_fixed": (max(times[k]["fixed"]) - min(times[k]["fixed"])) / tf}
        ratios = [a / b for a, b in zip(times[n]["fixed"], times[k]["fixed"])]  # one speed-up per round
        row.update(speedup_low=min(ratios), speedup_high=max(ratios), repeats=len(ratios))
        if real:
            tr = statistics.median(times[k]["real"])
            n_real = sum(int(b["input_ids"].shape[0]) for b in real)
            row.update({"real_examples_per_s": n_real / tr, "real_speedup": r_teacher / tr})
        rows.append(row)
    fit = fit_layer_cost({k: statistics.median(times[k]["fixed"]) for k in models})
    for row in rows:
        row["fitted_speedup"] = (fit["fixed_s"] + fit["per_layer_s"] * n) / (fit["fixed_s"] + fit["per_layer_s"] * row["layers"])
    return {"rows": rows, "fit": fit, "settings": {"pretrained": pretrained, "batch_size": batch_size, "seq_len": seq_len,
                                       "repeats": repeats, "warmup": warmup, "precision": precision,
                                       "device": str(dev), "threads": torch.get_num_threads(),
                                       "real_batches": len(real)}}


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
    return {"fixed_s": float(fixed), "per_layer_s": float(per_layer), "fixed_in_layers": float(fixed / per_layer),
            "max_residual_fraction": float(np.max(np.abs(resid) / ts))}


def real_length_batches(task: str, pretrained: str, n_examples: int, batch_size: int, max_length=None,
                        data_dir=None) -> list[dict]:
    """Length-bucketed, dynamically padded batches of the task's dev split (its real lengths)."""
    from pkdlib.config import DEFAULT_MAX_LENGTH
    from pkdlib.data import (
        LengthBucketSampler,
        collate,
        load_task,
        task_spec,
        tokenize_split,
    )
    from pkdlib.models import load_tokenizer
    spec = task_spec(task)
    split = load_task(task, spec.dev_splits[0], data_dir).head(n_examples)
    ts = tokenize_split(split, load_tokenizer(pretrained), max_length or DEFAULT_MAX_LENGTH.get(task, 128))
    out = []
    for idx in LengthBucketSampler(ts.lengths, batch_size, shuffle=False).batches():
        b = collate(ts, idx)
        out.append({k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
    return out
