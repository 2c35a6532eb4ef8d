"""Benchmarks of the paper's speed claims and of this loop's efficiency, measured side by side.

    python -m pkdlib.bench [--quick] [--out results/benchmarks]

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

from .cache import compute_teacher_outputs
from .config import RunConfig
from .data import LengthBucketSampler, collate, load_task, tokenize_split
from .files import atomic_write_json
from .layer_maps import pkd_skip
from .losses import Objective, compute_loss
from .models import build_student, count_parameters, load_classifier, load_tokenizer
from .records import provenance
from .speed import measure_inference, real_length_batches
from .train import make_optimizer

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
    return 2 * n ** 3 / best


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
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t


def interleave(fns: dict, repeats: int) -> dict:
    """Call each fn round-robin ``repeats`` times; median seconds per name."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(f())
    return {k: statistics.median(v) for k, v in times.items()}


def run(quick=False, out="results/benchmarks", log=print) -> dict:
    torch.manual_seed(0)
    res = {"settings": {"quick": quick, "threads": torch.get_num_threads()}}
    tok = load_tokenizer(PRETRAINED)
    train = tokenize_split(load_task("rt", "train"), tok, 64)
    n_steps = 8 if quick else 25
    reps = 2 if quick else 3

    # ---- 1. inference
    log("1. inference: teacher vs students, side by side")
    real = real_length_batches("rt", PRETRAINED, 256 if quick else 1066, 32)
    inf = measure_inference(PRETRAINED, [1, 2, 3, 4, 5], 32, 128, repeats=3 if quick else 9, warmup=1,
                            real_batches=real, progress=False)
    res["inference"] = inf
    for r in inf["rows"]:
        log(f"   {r['layers']} layers: {r['speedup']:.2f}x (ideal {r['ideal_speedup']:.2f}x, fitted "
            f"{r['fitted_speedup']:.2f}x), real lengths {r['real_speedup']:.2f}x, {r['examples_per_s']:.0f} ex/s "
            f"at 32x128")
    f = inf["fit"]
    log(f"   fit over depths: {1000 * f['per_layer_s']:.1f} ms per layer + {1000 * f['fixed_s']:.1f} ms fixed "
        f"(= {f['fixed_in_layers']:.2f} layers; embeddings, mask, head, Python), worst residual "
        f"{f['max_residual_fraction']:.1%}")

    # ---- teacher outputs for the distillation benchmarks (the cache, computed here once)
    teacher_model = load_classifier(PRETRAINED, 2).eval()
    cached = compute_teacher_outputs(teacher_model, train, 64, torch.device("cpu"), progress=False)

    def batches(bucket=True, seed=0, n=n_steps):
        s = LengthBucketSampler(train.lengths, 32, shuffle=True, seed=seed, bucket=bucket)
        return [collate(train, idx) for idx in s.batches()[:n]]

    # ---- 2. training efficiency vs GEMM peak
    log("2. training: effective tokens/s vs the fp32 GEMM peak")
    peak = gemm_peak()
    teacher_tr = Trainer(load_classifier(PRETRAINED, 2), Objective())
    student_pkd = Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0, 100.0, True, pkd_skip(6, 3)),
                          teacher=cached)
    bs = batches(n=n_steps)
    toks = sum(int(b["attention_mask"].sum()) for b in bs)
    mean_len = toks / sum(len(b["labels"]) for b in bs)
    t = interleave({"teacher": lambda: teacher_tr.steps(bs), "pkd3": lambda: student_pkd.steps(bs)}, reps)
    res["training"] = {"gemm_peak_flops": peak, "effective_tokens": toks, "mean_len": mean_len}
    for name, tr in (("teacher", teacher_tr), ("pkd3", student_pkd)):
        tps = toks / t[name]
        flops = tps * train_flops_per_token(tr.model, mean_len)
        res["training"][name] = {"tokens_per_s": tps, "model_flops_per_s": flops, "fraction_of_peak": flops / peak}
        log(f"   {name}: {tps:.0f} effective tokens/s = {flops / 1e9:.1f} GFLOP/s = {flops / peak:.0%} of the "
            f"GEMM peak ({peak / 1e9:.1f} GFLOP/s)")

    # ---- 3. distillation overhead
    log("3. distillation overhead (3-layer student, same batches)")
    lm = pkd_skip(6, 3)

    @torch.inference_mode()
    def online(b, layers):
        o = teacher_model(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"],
                          attention_mask=b["attention_mask"], output_hidden_states=bool(layers))
        cls = torch.stack([o.hidden_states[i][:, 0] for i in layers], 1) if layers else None
        return o.logits.clone(), (cls.clone() if cls is not None else None)
    trainers = {
        "ft": Trainer(build_student(PRETRAINED, 3, 2), Objective()),
        "kd": Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0), teacher=cached),
        "pkd": Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0, 100.0, True, lm), teacher=cached),
        "kd_online": Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0), teacher=online),
        "pkd_online": Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0, 100.0, True, lm), teacher=online),
    }
    t = interleave({k: (lambda tr=tr: tr.steps(bs)) for k, tr in trainers.items()}, reps)
    res["distillation"] = {k: {"seconds": v, "vs_ft": v / t["ft"]} for k, v in t.items()}
    res["distillation"]["online_vs_cached_kd"] = t["kd_online"] / t["kd"]
    res["distillation"]["online_vs_cached_pkd"] = t["pkd_online"] / t["pkd"]
    for k in ("kd", "pkd", "kd_online", "pkd_online"):
        log(f"   {k}: {t[k] / t['ft']:.2f}x the ft time")
    log(f"   online teacher vs cached: kd {t['kd_online'] / t['kd']:.2f}x, pkd {t['pkd_online'] / t['pkd']:.2f}x slower")

    # ---- 4. padding: bucketed vs random batches
    log("4. padding: length-bucketed vs random batches (3-layer ft, same examples)")
    bucket_b, plain_b = batches(True, seed=1), batches(False, seed=1)
    tr_b, tr_p = Trainer(build_student(PRETRAINED, 3, 2), Objective()), Trainer(build_student(PRETRAINED, 3, 2), Objective())
    # the same number of examples in both; count what each processes
    t = interleave({"bucketed": lambda: tr_b.steps(bucket_b), "random": lambda: tr_p.steps(plain_b)}, reps)
    pad = {k: {"padded_tokens": sum(b["attention_mask"].numel() for b in bb),
               "real_tokens": sum(int(b["attention_mask"].sum()) for b in bb), "examples": sum(len(b["labels"]) for b in bb)}
           for k, bb in (("bucketed", bucket_b), ("random", plain_b))}
    full_epoch = {"bucketed": sum(len(x) * int(train.lengths[x].max()) for x in
                                  LengthBucketSampler(train.lengths, 32, seed=1).batches()),
                  "random": sum(len(x) * int(train.lengths[x].max()) for x in
                                LengthBucketSampler(train.lengths, 32, seed=1, bucket=False).batches())}
    spe = {k: t[k] / pad[k]["examples"] for k in t}  # seconds per example
    res["padding"] = {"seconds_per_example": spe, "batches": pad, "epoch_padded_tokens": full_epoch,
                      "speedup": spe["random"] / spe["bucketed"],
                      "token_ratio": full_epoch["random"] / full_epoch["bucketed"]}
    log(f"   padded tokens per epoch: random {full_epoch['random']}, bucketed {full_epoch['bucketed']} "
        f"({full_epoch['random'] / full_epoch['bucketed']:.2f}x fewer); time per example "
        f"{spe['random'] / spe['bucketed']:.2f}x faster bucketed")
    # ---- 5. precision: fp32 vs bf16 autocast (this CPU may have avx512_bf16)
    log("5. precision: fp32 vs bf16 autocast, 3-layer PKD training steps and teacher inference")
    tr32 = Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0, 100.0, True, lm), teacher=cached)
    tr16 = Trainer(build_student(PRETRAINED, 3, 2), Objective(0.5, 10.0, 100.0, True, lm), teacher=cached,
                   amp=torch.bfloat16)
    t = interleave({"fp32": lambda: tr32.steps(bs), "bf16": lambda: tr16.steps(bs)}, reps)
    inf16 = measure_inference(PRETRAINED, [3], 32, 128, repeats=3, warmup=1, precision="bf16", progress=False)
    inf32 = {r["layers"]: r for r in inf["rows"]}
    res["precision"] = {"train_step_s": t, "bf16_train_speedup": t["fp32"] / t["bf16"],
                        "bf16_inference_ms_per_batch": {r["layers"]: r["ms_per_batch"] for r in inf16["rows"]},
                        "bf16_vs_fp32_inference_teacher": inf32[6]["ms_per_batch"] / inf16["rows"][0]["ms_per_batch"]}
    log(f"   training: bf16 {t['fp32'] / t['bf16']:.2f}x the fp32 speed; teacher inference: bf16 "
        f"{res['precision']['bf16_vs_fp32_inference_teacher']:.2f}x (measured in separate rounds)")
    res["provenance"] = provenance("cpu", 0, None)
    if out:
        name = "bench-quick.json" if quick else "bench.json"
        atomic_write_json(Path(out) / name, res)
        log(f"wrote {Path(out) / name}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pkdlib.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke test, ~2 min)")
    ap.add_argument("--out", default="results/benchmarks")
    a = ap.parse_args(argv)
    t = time.time()
    run(a.quick, a.out)
    print(f"benchmark took {time.time() - t:.0f}s")


if __name__ == "__main__":
    main()
