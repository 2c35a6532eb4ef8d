"""Benchmarks of the paper's speed claims and of this loop's efficiency, measured side by side.

    python -m pkdstudy.bench [--quick] [--out results/benchmarks]

1. inference: teacher vs each student size at batch 32 x length 128 and on rt's real lengths,
   speed-up next to the ideal ratio of encoder FLOPs;
2. training: effective (non-padding) tokens/s of teacher fine-tuning and of a 3-layer PKD run, as
   model FLOP/s against this machine's fp32 matrix-multiply peak measured in the same run;
3. distillation overhead: kd and pkd step time relative to ft for the same student with the cached
   teacher, and kd with the teacher run online every step (what most toolkits do);
4. padding: length-bucketed vs plain random batches on rt: tokens processed and time.

Every comparison is interleaved (A, B, A, B, ...) and reports medians, so machine noise hits all
sides alike. Results are printed as ratios and written with provenance to --out.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from pkdlib.cache import compute_teacher_outputs
from pkdlib.config import RunConfig
from pkdlib.data import LengthBucketSampler, collate, load_task, tokenize_split
from pkdlib.files import atomic_write_json
from pkdlib.layer_maps import pkd_skip
from pkdlib.losses import Objective, compute_loss
from pkdlib.models import build_student, count_parameters, load_classifier, load_tokenizer
from pkdlib.records import provenance
from pkdlib.teachers import OnlineTeacher
from pkdlib.train import make_optimizer, optimizer_step

from .speed import measure_inference, real_length_batches

PRETRAINED = "embedded:all-MiniLM-L6-v2"


def gemm_peak(n=2048, repeats=5, dtype=torch.float32) -> float:
    """FLOP/s of a large square matrix multiply (best of repeats)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def train_flops_per_token(model, seq_len: float) -> float:
    """Training FLOPs per token: 6 x (matmul parameters) + attention (12 x layers x seq x hidden)."""
    c = model.config
    p = count_parameters(model)
    matmul = p["transformer"] + c.hidden_size * c.hidden_size  # + pooler; norms and biases: a rounding error
    return 6 * matmul + 12 * c.num_hidden_layers * seq_len * c.hidden_size


class Trainer:
    """A model, its optimizer and an objective; ``steps(batches)`` runs training steps, timed."""

    def __init__(self, model, objective, teacher=None, lr=5e-5, amp=None):
        self.model, self.objective, self.teacher, self.amp = model.train(), objective, teacher, amp
        self.opt, self.sched = make_optimizer(model, RunConfig(method="teacher", lr=lr), 10_000)

    def steps(self, batches) -> float:
        t = time.perf_counter()
        for b in batches:
            _, parts = compute_loss(self.model, b, self.objective, self.teacher, amp=self.amp)
            optimizer_step(self.model, self.opt, parts["loss"], 1.0, self.sched)
        return time.perf_counter() - t


def interleave(fns: dict, repeats: int) -> dict:
    """Call each fn round-robin ``repeats`` times; median seconds per name."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(f())
    return {k: statistics.median(v) for k, v in times.items()}


class Bench:
    """What every section shares: the rt training tokens, the cached teacher, the batches, the log."""

    def __init__(self, quick, log):
        self.quick, self.log, self.reps, self.n_steps = quick, log, (2 if quick else 3), (8 if quick else 25)
        self.train = tokenize_split(load_task("rt", "train"), load_tokenizer(PRETRAINED), 64)
        self.teacher = load_classifier(PRETRAINED, 2).eval()
        self.cached = compute_teacher_outputs(self.teacher, self.train, 64, torch.device("cpu"), progress=False)
        self.bs = self.batches()
        self.pkd = lambda: Objective(alpha=0.5, temperature=10.0, beta=100.0, layer_map=pkd_skip(6, 3))

    def batches(self, bucket=True, seed=0):
        s = LengthBucketSampler(self.train.lengths, 32, shuffle=True, seed=seed, bucket=bucket)
        return [collate(self.train, idx) for idx in s.batches()[: self.n_steps]]

    def student(self, objective=None, teacher=None, amp=None):
        return Trainer(build_student(PRETRAINED, 3, 2), objective or Objective(), teacher=teacher, amp=amp)


def inference(B: Bench) -> dict:
    B.log("1. inference: teacher vs students, side by side")
    real = real_length_batches("rt", PRETRAINED, 256 if B.quick else 1066, 32)
    inf = measure_inference(
        PRETRAINED, [1, 2, 3, 4, 5], 32, 128, repeats=3 if B.quick else 9, warmup=1, real_batches=real, progress=False
    )
    for r in inf["rows"]:
        B.log(
            f"   {r['layers']} layers: {r['speedup']:.2f}x (ideal {r['ideal_speedup']:.2f}x, fitted "
            f"{r['fitted_speedup']:.2f}x), real lengths {r['real_speedup']:.2f}x, {r['examples_per_s']:.0f} ex/s"
        )
    f = inf["fit"]
    B.log(
        f"   fit over depths: {1000 * f['per_layer_s']:.1f} ms per layer + {1000 * f['fixed_s']:.1f} ms fixed "
        f"(= {f['fixed_in_layers']:.2f} layers), worst residual {f['max_residual_fraction']:.1%}"
    )
    return inf


def training(B: Bench) -> dict:
    B.log("2. training: effective tokens/s vs the fp32 GEMM peak")
    peak = gemm_peak()
    trainers = {"teacher": Trainer(load_classifier(PRETRAINED, 2), Objective()), "pkd3": B.student(B.pkd(), B.cached)}
    toks = sum(int(b["attention_mask"].sum()) for b in B.bs)
    mean_len = toks / sum(len(b["labels"]) for b in B.bs)
    t = interleave({k: (lambda tr=tr: tr.steps(B.bs)) for k, tr in trainers.items()}, B.reps)
    res = {"gemm_peak_flops": peak, "effective_tokens": toks, "mean_len": mean_len}
    for name, tr in trainers.items():
        tps = toks / t[name]
        flops = tps * train_flops_per_token(tr.model, mean_len)
        res[name] = {"tokens_per_s": tps, "model_flops_per_s": flops, "fraction_of_peak": flops / peak}
        B.log(
            f"   {name}: {tps:.0f} effective tokens/s = {flops / 1e9:.1f} GFLOP/s = {flops / peak:.0%} of the "
            f"GEMM peak ({peak / 1e9:.1f} GFLOP/s)"
        )
    return res


def distillation(B: Bench) -> dict:
    B.log("3. distillation overhead (3-layer student, same batches)")

    online = OnlineTeacher(B.teacher)  # the teacher run every step (pkdlib.teachers), what most toolkits do
    kd = lambda: Objective(alpha=0.5, temperature=10.0)  # noqa: E731
    trainers = {
        "ft": B.student(),
        "kd": B.student(kd(), B.cached),
        "pkd": B.student(B.pkd(), B.cached),
        "kd_online": B.student(kd(), online),
        "pkd_online": B.student(B.pkd(), online),
    }
    t = interleave({k: (lambda tr=tr: tr.steps(B.bs)) for k, tr in trainers.items()}, B.reps)
    res = {k: {"seconds": v, "vs_ft": v / t["ft"]} for k, v in t.items()}
    res["online_vs_cached_kd"], res["online_vs_cached_pkd"] = t["kd_online"] / t["kd"], t["pkd_online"] / t["pkd"]
    for k in ("kd", "pkd", "kd_online", "pkd_online"):
        B.log(f"   {k}: {t[k] / t['ft']:.2f}x the ft time")
    return res


def padding(B: Bench) -> dict:
    B.log("4. padding: length-bucketed vs random batches (3-layer ft, same examples)")
    bb = {"bucketed": B.batches(True, seed=1), "random": B.batches(False, seed=1)}
    trainers = {k: B.student() for k in bb}
    t = interleave({k: (lambda k=k: trainers[k].steps(bb[k])) for k in bb}, B.reps)
    pad = {
        k: {
            "padded_tokens": sum(b["attention_mask"].numel() for b in v),
            "real_tokens": sum(int(b["attention_mask"].sum()) for b in v),
            "examples": sum(len(b["labels"]) for b in v),
        }
        for k, v in bb.items()
    }
    epoch = {
        k: sum(
            len(x) * int(B.train.lengths[x].max())
            for x in LengthBucketSampler(B.train.lengths, 32, seed=1, bucket=k == "bucketed").batches()
        )
        for k in bb
    }
    spe = {k: t[k] / pad[k]["examples"] for k in t}  # seconds per example
    B.log(
        f"   padded tokens per epoch: random {epoch['random']}, bucketed {epoch['bucketed']} "
        f"({epoch['random'] / epoch['bucketed']:.2f}x fewer); time per example "
        f"{spe['random'] / spe['bucketed']:.2f}x faster bucketed"
    )
    return {
        "seconds_per_example": spe,
        "batches": pad,
        "epoch_padded_tokens": epoch,
        "speedup": spe["random"] / spe["bucketed"],
        "token_ratio": epoch["random"] / epoch["bucketed"],
    }


def precision(B: Bench, inf: dict) -> dict:
    B.log("5. precision: fp32 vs bf16 autocast, 3-layer PKD training steps and teacher inference")
    tr = {"fp32": B.student(B.pkd(), B.cached), "bf16": B.student(B.pkd(), B.cached, amp=torch.bfloat16)}
    t = interleave({k: (lambda k=k: tr[k].steps(B.bs)) for k in tr}, B.reps)
    inf16 = measure_inference(PRETRAINED, [3], 32, 128, repeats=3, warmup=1, precision="bf16", progress=False)
    teacher32 = {r["layers"]: r for r in inf["rows"]}[6]["ms_per_batch"]
    res = {
        "train_step_s": t,
        "bf16_train_speedup": t["fp32"] / t["bf16"],
        "bf16_inference_ms_per_batch": {r["layers"]: r["ms_per_batch"] for r in inf16["rows"]},
        "bf16_vs_fp32_inference_teacher": teacher32 / inf16["rows"][0]["ms_per_batch"],
    }
    B.log(
        f"   training: bf16 {res['bf16_train_speedup']:.2f}x the fp32 speed; teacher inference: bf16 "
        f"{res['bf16_vs_fp32_inference_teacher']:.2f}x (measured in separate rounds)"
    )
    return res


def run(quick=False, out="results/benchmarks", log=print) -> dict:
    torch.manual_seed(0)
    B = Bench(quick, log)
    res = {"settings": {"quick": quick, "threads": torch.get_num_threads()}, "inference": inference(B)}
    # the inference timings run where measure_inference puts them (a GPU if there is one), the training steps on the CPU
    inference_device = res["inference"]["settings"]["device"]
    res["settings"]["devices"] = {"inference": inference_device, "training": "cpu"}
    res.update(
        training=training(B),
        distillation=distillation(B),
        padding=padding(B),
        precision=precision(B, res["inference"]),
        provenance=provenance(inference_device, 0, None),
    )
    if out:
        path = Path(out) / ("bench-quick.json" if quick else "bench.json")
        atomic_write_json(path, res)
        log(f"wrote {path}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m pkdstudy.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke test, ~2 min)")
    ap.add_argument(
        "--out", default="results/benchmarks", help="folder for bench.json and its table (default results/benchmarks)"
    )
    a = ap.parse_args(argv)
    t = time.time()
    run(a.quick, a.out)
    print(f"benchmark took {time.time() - t:.0f}s")


if __name__ == "__main__":
    main()
