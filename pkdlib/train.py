"""The training loop: fine-tune a teacher, or distill a student with ft / kd / pkd-last / pkd-skip.

A short explicit loop (AdamW, linear warm-up/decay, grad clipping, per-epoch dev evaluation, best
epoch on dev, test once for that epoch) that runs on CPU, one GPU, or several through Accelerate
(``accelerate launch``). Every finished run writes one JSON record (see ``records.py``); a failed or
interrupted run writes none.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from functools import partial
from pathlib import Path

import torch

from .cache import (TeacherOutputs, atomic_write_json, compute_teacher_outputs, load_or_compute_teacher_outputs,
                    model_fingerprint, teacher_cache_key, tokenizer_fingerprint)
from .config import ConfigError, RunConfig
from .data import LengthBucketSampler, collate, load_task, task_spec, tokenize_split
from .layer_maps import layer_map
from .losses import METHODS, Objective
from .metrics import compute_metrics
from .progress import progress as progress_bar
from .models import autocast_dtype, build_student, count_parameters, load_classifier, load_tokenizer, pick_device
from .records import provenance, record_path, run_identity, saved_model_dir

__all__ = ["run", "prepare", "NumericalError", "build_objective", "Workspace"]


class NumericalError(FloatingPointError):
    """A NaN or infinite loss; the message names the step and the loss parts."""


class Workspace:
    """Where a study writes: ``results/`` (records, tables, figures, notebooks; committed) and
    ``work/`` (teacher weights, teacher caches, token caches; never committed)."""

    def __init__(self, results="results", work="work"):
        self.results, self.work = Path(results), Path(work)

    @property
    def records(self):
        return self.results / "records"

    @property
    def cache(self):
        return self.work / "cache"

    @property
    def models(self):
        return self.work / "models"


def build_objective(cfg: RunConfig, n_teacher: int) -> Objective:
    if cfg.method == "teacher":
        return Objective()
    _, _, map_name = METHODS[cfg.method]
    lm = layer_map(map_name, n_teacher, cfg.student_layers) if map_name else None
    return Objective(alpha=cfg.alpha, temperature=cfg.temperature, beta=cfg.beta, normalize=cfg.normalize,
                     layer_map=lm, kd_reduction=cfg.kd_reduction)


def forward_losses(model, b: dict, objective: Objective, teacher=None, device=None, amp=None):
    """One forward pass of the student and the objective's parts for batch ``b``.

    ``teacher(b, layers) -> (logits, cls)`` gives the teacher's logits and the [CLS] states of the
    given 1-based layers for the batch (read from the cache, or computed online).
    Student layers 1..k-1 are matched with ``objective.layer_map`` (PT), the logits with KD.
    """
    dev_type = device.type if device is not None else b["input_ids"].device.type
    with torch.autocast(dev_type, dtype=amp or torch.float32, enabled=amp is not None):
        out = model(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"], output_hidden_states=objective.uses_pt)
    t_logits = s_cls = t_cls = None
    t_layers = list(objective.layer_map) if objective.uses_pt else []
    if teacher is not None:
        t_logits, t_cls = teacher(b, t_layers)
    if objective.uses_pt:
        s_cls = torch.stack([out.hidden_states[j][:, 0] for j in range(1, len(t_layers) + 1)], dim=1)
    return out, objective(out.logits, b["labels"], t_logits, s_cls, t_cls)


def _optimizer(model, cfg: RunConfig, steps: int):
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias", "layer_norm")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    # fused AdamW: one kernel for all parameters (4x faster than foreach on this CPU for a 17M-param student)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    warm = int(cfg.warmup * steps)

    def lr_lambda(step):
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)


@torch.inference_mode()
def evaluate(model, ts, spec, batch_size, device, amp_dtype):
    """Predictions (in split order) and metrics; hidden labels (-1) give predictions only."""
    model.eval()
    preds = torch.empty(len(ts), dtype=torch.long)
    for idx in LengthBucketSampler(ts.lengths, batch_size * 2, shuffle=False).batches():
        b = collate(ts, idx)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(input_ids=b["input_ids"].to(device), token_type_ids=b["token_type_ids"].to(device),
                           attention_mask=b["attention_mask"].to(device)).logits
        preds[b["index"]] = logits.argmax(-1).cpu()
    labels = ts.labels
    metrics = compute_metrics(spec, labels, preds) if bool((labels >= 0).all()) else {}
    return preds, metrics


def _select_metric(spec, metrics: dict) -> float:
    return metrics[spec.metrics[0]]


class Prepared:
    """What a run is made of before training: data, tokens, identity and where its record goes."""


def prepare(cfg: RunConfig, ws: Workspace) -> Prepared:
    """Load and tokenise the data (cached), fingerprint teacher and tokenizer, derive the run's identity.

    Cheap enough to call just to ask whether a run's record already exists (``prepare(...).out_path``).
    """
    p = Prepared()
    p.spec = spec = task_spec(cfg.task)
    p.tokenizer = load_tokenizer(cfg.teacher_dir or cfg.pretrained)
    tok_fp = tokenizer_fingerprint(p.tokenizer)
    p.splits = {"train": load_task(cfg.task, "train", cfg.data_dir).head(cfg.max_train_examples)}
    for s in spec.dev_splits + spec.test_splits:
        p.splits[s] = load_task(cfg.task, s, cfg.data_dir).head(cfg.max_eval_examples)
    p.toks = {name: tokenize_split(sp, p.tokenizer, cfg.max_length, ws.cache) for name, sp in p.splits.items()}
    checksums = {name: sp.checksum for name, sp in p.splits.items()}
    teacher_fp = model_fingerprint(cfg.teacher_dir) if cfg.teacher_dir else None
    uses_teacher = cfg.method in ("kd", "pkd-last", "pkd-skip")
    p.cache_key = (teacher_cache_key(teacher_fp, tok_fp, cfg.task, "train", checksums["train"], cfg.max_length,
                                     len(p.splits["train"])) if uses_teacher else None)
    p.identity = run_identity(cfg, cache_key=p.cache_key, teacher_fp=teacher_fp, tokenizer_fp=tok_fp,
                              split_checksums=checksums)
    p.out_path = record_path(ws.records, cfg, p.identity["hash"])
    return p


def run(cfg: RunConfig, ws: Workspace | None = None, progress: bool = True, log=print, force: bool = False) -> dict:
    """Train one run and write its record; return the record. Reuses an existing record with the same
    identity unless ``force``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    ws = ws or Workspace()
    t_start = time.time()
    # ---------------------------------------------------------------- checks before any work
    cfg.validate()
    n_teacher = cfg.check_models()
    objective = build_objective(cfg, n_teacher)

    device = pick_device(cfg.device)
    amp = autocast_dtype(device, cfg.precision)
    if device.type == "cpu" and amp is torch.float16:
        raise ConfigError("precision='fp16' is for CUDA; on CPU use bf16 or fp32")
    # autocast is applied here, not through Accelerate's (process-wide, fixed once) mixed_precision
    accelerator = Accelerator(cpu=device.type == "cpu")
    device = accelerator.device
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    main = accelerator.is_main_process
    say = log if main else (lambda *a, **k: None)

    prep = prepare(cfg, ws)
    spec, tokenizer, splits, toks, cache_key, identity, out_path = (
        prep.spec, prep.tokenizer, prep.splits, prep.toks, prep.cache_key, prep.identity, prep.out_path)
    if out_path.is_file() and not force:
        existing = json.loads(out_path.read_text())
        if cfg.method != "teacher" or saved_model_dir(existing):
            say(f"[skip] {out_path.name}: a record with the same configuration exists")
            return existing
        say(f"[rerun] {out_path.name}: the record exists but the teacher's weights ({existing.get('model_dir')}) "
            f"are gone")

    set_seed(cfg.seed)
    say(f"run {out_path.stem}: {objective}")

    # ---------------------------------------------------------------- teacher outputs (cached)
    teacher_out: TeacherOutputs | None = None
    t_cache = 0.0
    if objective.uses_teacher:
        t0 = time.time()

        def compute():
            tm = load_classifier(cfg.teacher_dir, spec.num_labels).to(device)
            return compute_teacher_outputs(tm, toks["train"], 64, device, progress=progress and main,
                                           autocast_dtype=amp)
        with accelerator.main_process_first():
            teacher_out = load_or_compute_teacher_outputs(ws.cache, cache_key, compute, log=say)
        t_cache = time.time() - t0
        if teacher_out.n_layers != n_teacher:
            raise ConfigError(f"teacher cache has {teacher_out.n_layers} layers, the teacher {n_teacher}")
        teacher_out.logits, teacher_out.cls = teacher_out.logits.to(device), teacher_out.cls.to(device)

    # ---------------------------------------------------------------- model
    set_seed(cfg.seed)
    if cfg.method == "teacher":
        model = load_classifier(cfg.pretrained, spec.num_labels)
    else:
        model = build_student(cfg.pretrained, cfg.student_layers, spec.num_labels, cfg.init, cfg.teacher_dir, cfg.seed)
    params = count_parameters(model)

    sampler = LengthBucketSampler(toks["train"].lengths, cfg.batch_size, shuffle=True, seed=cfg.seed,
                                  bucket=cfg.bucket)
    loader = torch.utils.data.DataLoader(toks["train"], batch_sampler=sampler,
                                         collate_fn=partial(collate, toks["train"]),
                                         pin_memory=device.type == "cuda")
    steps = cfg.epochs * math.ceil(len(sampler) / accelerator.num_processes)
    opt, sched = _optimizer(model, cfg, steps)
    model, opt, loader, sched = accelerator.prepare(model, opt, loader, sched)
    teacher = (lambda b, layers: teacher_out.select(b["index"], layers)) if teacher_out is not None else None

    epochs, best, best_state, curve = [], None, None, []
    step = 0
    log_every = max(1, len(loader) // 20)  # about 20 points of the loss curve per epoch
    window = {}
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        sampler.set_epoch(epoch)
        sums = {"loss": 0.0, "ce": 0.0, "kd": 0.0, "pt": 0.0}
        n_batches, correct, seen, tokens, padded = 0, 0, 0, 0, 0
        t0 = time.time()
        bar = progress_bar(loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not (progress and main), unit="batch",
                           leave=False)
        for b in bar:
            out, parts = forward_losses(model, b, objective, teacher, device, amp)
            loss = parts["loss"]
            if not torch.isfinite(loss):
                detail = ", ".join(f"{k}={v.item():.4g}" for k, v in parts.items())
                raise NumericalError(f"non-finite loss at epoch {epoch}, step {step + 1} (batch {n_batches + 1}): "
                                     f"{detail}; objective {objective}; no record written")
            accelerator.backward(scaler.scale(loss))
            scaler.unscale_(opt)
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            scaler.step(opt)
            scaler.update()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            n_batches += 1
            batch_correct = (out.logits.argmax(-1) == b["labels"]).sum().item()
            for k, v in [*((k, v.item()) for k, v in parts.items()), ("n", 1), ("correct", batch_correct),
                         ("seen", len(b["labels"]))]:
                window[k] = window.get(k, 0) + v
                if k in sums:
                    sums[k] += v
            correct += batch_correct
            seen += len(b["labels"])
            tokens += int(b["attention_mask"].sum())
            padded += b["attention_mask"].numel()
            if n_batches % log_every == 0 or n_batches == len(loader):
                n = window.pop("n")
                point = {"step": step, "epoch": round(epoch - 1 + n_batches / len(loader), 4),
                         "train_acc": window.pop("correct") / window.pop("seen")}
                point.update({k: v / n for k, v in window.items()})
                curve.append(point)
                window = {}
                bar.set_postfix(loss=f"{sums['loss'] / n_batches:.4f}")
        t_train = time.time() - t0
        # -------- dev evaluation on the main process
        t0 = time.time()
        row = {"epoch": epoch, "train_time_s": round(t_train, 3), "steps": n_batches,
               "train_tokens": tokens, "train_padded_tokens": padded,
               "train_acc": correct / max(1, seen),
               **{f"train_{k}": v / max(1, n_batches) for k, v in sums.items() if k in parts or k == "loss"}}
        if main:
            unwrapped = accelerator.unwrap_model(model)
            for s in spec.dev_splits:
                _, m = evaluate(unwrapped, toks[s], spec, cfg.batch_size, device, amp)
                row[s] = m
            row["eval_time_s"] = round(time.time() - t0, 3)
            score = _select_metric(spec, row[spec.dev_splits[0]])
            if best is None or score > best[1]:
                best = (epoch, score)
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in unwrapped.state_dict().items()}
            say(f"epoch {epoch}: loss {row['train_loss']:.4f} train_acc {row['train_acc']:.4f} "
                f"{spec.dev_splits[0]} {score:.4f} ({t_train:.0f}s)")
        epochs.append(row)
        accelerator.wait_for_everyone()

    if not main:
        return {}
    # ---------------------------------------------------------------- test once, at the best dev epoch
    model = accelerator.unwrap_model(model)
    model.load_state_dict(best_state)
    best_epoch = best[0]
    dev = {s: epochs[best_epoch - 1][s] for s in spec.dev_splits}
    test, predictions = {}, {}
    for s in spec.test_splits:
        preds, m = evaluate(model, toks[s], spec, cfg.batch_size, device, amp)
        test[s] = m
        predictions[s] = preds
    run_id = out_path.stem
    pred_files = _write_predictions(ws, run_id, spec, splits, predictions) if spec.source == "glue" else {}
    model_dir = None
    if cfg.method == "teacher" or cfg.save_model:
        model_dir = ws.models / run_id
        _save_model_atomic(model, tokenizer, model_dir)

    record = {
        "schema": 1, "run_id": run_id, "status": "complete",
        "config": cfg.to_dict(), "identity": identity,
        "objective": str(objective),
        "layer_map": list(objective.layer_map) if objective.layer_map is not None else None,
        "n_teacher_layers": n_teacher,
        "parameters": params,
        "epochs": epochs, "curve": curve, "best_epoch": best_epoch, "selection_metric": f"{spec.dev_splits[0]}/{spec.metrics[0]}",
        "dev": dev, "test": test, "test_predictions": pred_files,
        "model_dir": str(model_dir) if model_dir else None,
        "timings": {"total_s": round(time.time() - t_start, 3), "teacher_cache_s": round(t_cache, 3),
                    "train_s": round(sum(e["train_time_s"] for e in epochs), 3),
                    "per_epoch_train_s": [e["train_time_s"] for e in epochs]},
        "data": {name: {"n": len(sp), "checksum": sp.checksum} for name, sp in splits.items()},
        "provenance": provenance(device, cfg.seed, cache_key, accelerator.num_processes),
    }
    atomic_write_json(out_path, record)
    say(f"wrote {out_path}")
    return record


def fill_teacher_cache(cfg: RunConfig, ws: Workspace, progress: bool = True, log=print) -> str:
    """Compute (or find) the teacher cache that students of ``cfg`` (teacher_dir set) will read; return its key."""
    prep = prepare(cfg, ws)
    if prep.cache_key is None:
        raise ConfigError("fill_teacher_cache needs a distillation method (kd, pkd-last, pkd-skip)")
    device = pick_device(cfg.device)
    amp = autocast_dtype(device, cfg.precision)

    def compute():
        tm = load_classifier(cfg.teacher_dir, prep.spec.num_labels).to(device)
        return compute_teacher_outputs(tm, prep.toks["train"], 64, device, progress=progress, autocast_dtype=amp)
    load_or_compute_teacher_outputs(ws.cache, prep.cache_key, compute, log=log)
    return prep.cache_key


def _save_model_atomic(model, tokenizer, model_dir: Path):
    tmp = model_dir.with_name(model_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if model_dir.exists():
        shutil.rmtree(model_dir)
    tmp.rename(model_dir)


GLUE_FILES = {"sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE"}


def _write_predictions(ws, run_id, spec, splits, predictions) -> dict:
    """GLUE-submission files: index<TAB>prediction, label names as the GLUE server expects."""
    from .cache import atomic_write_text
    out = {}
    for s, preds in predictions.items():
        name = GLUE_FILES[spec.name] + {"test_matched": "-m", "test_mismatched": "-mm"}.get(s, "")
        lines = ["index\tprediction"] + [f"{i}\t{spec.label_names[int(p)]}" for i, p in zip(splits[s].ids, preds)]
        path = ws.results / "predictions" / run_id / f"{name}.tsv"
        atomic_write_text(path, "\n".join(lines) + "\n")
        out[s] = str(path)
    return out
