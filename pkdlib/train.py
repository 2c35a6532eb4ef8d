"""The training loop: ``fit`` trains a model with an objective, evaluating on dev after every epoch.

A short explicit loop (AdamW, linear warm-up/decay, grad clipping, best epoch on dev) that runs on
CPU, one GPU, or several through Accelerate (``accelerate launch``). ``runs.run`` composes it with
preparation, reuse of finished runs and the record.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

import torch

from .data import LengthBucketSampler, collate
from .determinism import cuda_determinism
from .errors import KnownError
from .losses import Objective, compute_loss
from .metrics import compute_metrics, majority_baseline
from .models import autocast_dtype, pick_device
from .progress import progress as progress_bar
from .terms import TERMS

__all__ = ["fit", "evaluate", "Hardware", "NumericalError", "make_optimizer", "optimizer_step"]


class NumericalError(KnownError, FloatingPointError):
    """A NaN or infinite loss; the message names the step and the loss parts."""


@dataclass
class Hardware:
    """The device, autocast dtype, Accelerate state and loss scaler of a run; ``compute``: what its matmuls compute
    in (``compute_precision``: the teacher cache's key holds it)."""

    device: torch.device
    amp: torch.dtype | None
    accelerator: object
    scaler: object
    compute: str = "fp32"

    @classmethod
    def setup(cls, cfg) -> Hardware:
        from accelerate import Accelerator
        from accelerate.utils import InitProcessGroupKwargs

        device = pick_device(cfg.device)
        if device.type == "cuda":  # before anything allocates CUDA memory (cuBLAS's workspace configuration)
            cuda_determinism()
        amp = autocast_dtype(device, cfg.precision)
        if device.type == "cpu" and amp is torch.float16:
            from .config import ConfigError

            raise ConfigError("precision='fp16' is for CUDA; on CPU use bf16 or fp32")
        if device.type == "cuda":
            use_gpu(device, amp)
        # autocast is applied by compute_loss; Accelerate is told "no" whatever `accelerate launch` or its config
        # file say, so the run computes in its own precision and has one loss scaler; no torch.compile either
        # (ACCELERATE_DYNAMO_BACKEND would compile the model unrecorded). Several processes: the collectives wait
        # up to COLLECTIVE_TIMEOUT, time for the main process to build a teacher cache while the others wait
        acc = Accelerator(
            cpu=device.type == "cpu",
            mixed_precision="no",
            dynamo_backend="no",
            kwargs_handlers=[InitProcessGroupKwargs(timeout=COLLECTIVE_TIMEOUT)],
        )
        return cls(
            acc.device,
            amp,
            acc,
            torch.amp.GradScaler(acc.device.type, enabled=amp is torch.float16),
            compute_precision(device, amp),
        )

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


#: how long a process waits in a collective of a multi-process run (NCCL's default is 10 minutes): the others wait
#: at a barrier while the main process builds the teacher cache (BERT-base over MNLI: a forward pass over 393k
#: examples and a 29 GB file)
COLLECTIVE_TIMEOUT = timedelta(hours=1)


def use_gpu(device: torch.device, amp) -> None:
    """Make ``device`` (a study worker's ``cuda:i``) the current GPU, which is where Accelerate's single-process
    device (a bare ``cuda``) puts the model and batches; fp32 runs use TF32 matmuls on Ampere or newer (recorded
    in the run's hardware as ``tf32``); CUDA's determinism settings (``cuda_determinism``) are turned on."""
    cuda_determinism()
    if device.index is not None:
        torch.cuda.set_device(device.index)
    tf32 = uses_tf32(device, amp)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32


def uses_tf32(device: torch.device, amp) -> bool:
    """TF32 matmuls: fp32 runs (no autocast) on CUDA GPUs of compute capability 8 or more (Ampere and newer)."""
    return device.type == "cuda" and amp is None and torch.cuda.get_device_capability(device)[0] >= 8


def compute_precision(device: torch.device, amp) -> str:
    """What a run's matmuls compute in: ``bf16`` or ``fp16`` (autocast), ``tf32`` (fp32 on an Ampere or newer
    GPU, ``uses_tf32``) or ``fp32``."""
    if amp is not None:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}[amp]
    return "tf32" if uses_tf32(device, amp) else "fp32"


def make_optimizer(model, cfg, steps: int):
    """AdamW without decay on biases and LayerNorm, linear warm-up from lr/warm to lr, then linear decay to 0.
    (transformers' get_linear_schedule_with_warmup starts at lr 0; kept ours so records stay comparable.)"""
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    rest = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    # fused AdamW: one kernel for all parameters (4x faster than foreach on this CPU for a 17M-param student)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=cfg.lr,
        fused=True,
    )
    warm = int(cfg.warmup * steps)

    def lr_lambda(step):
        return (step + 1) / warm if step < warm else max(0.0, (steps - step) / max(1, steps - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)


@torch.inference_mode()
def evaluate(model, ts, spec, batch_size, device, amp_dtype):
    """Predictions (in split order) and metrics; hidden labels (-1) give predictions only."""
    model.eval()
    preds = torch.empty(len(ts), dtype=torch.long)
    for idx in LengthBucketSampler(ts.lengths, batch_size * 2, shuffle=False).batches():
        b = {k: v.to(device) for k, v in collate(ts, idx).items()}
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(
                input_ids=b["input_ids"], token_type_ids=b["token_type_ids"], attention_mask=b["attention_mask"]
            ).logits
        preds[idx] = logits.argmax(-1).cpu()
    metrics = compute_metrics(spec, ts.labels, preds) if bool((ts.labels >= 0).all()) else {}
    return preds, metrics


@dataclass
class Meter:
    """Per-epoch sums of the loss parts and about 20 points of the loss curve per epoch.

    No host sync per step: a step's loss parts and correct predictions stay on the device (one small float64
    vector, exact: float32, bf16 and fp16 values and counts below 2**53 convert without rounding) and the host reads
    the steps since the last curve point in one copy at the point, then sums them in Python in step order, so every
    number is the one a per-step ``.item()`` gave. The loss's finiteness is checked there too (every curve point,
    i.e. every ``max(1, n_batches // 20)`` steps and at the epoch's end, and at the steps whose gradient norms are
    sampled, which read the device anyway), naming the first non-finite step. Token counts come from the host
    batch. Several processes: a curve point holds the steps of all of them (``reduce``), as the epoch's sums do."""

    n_batches: int
    sums: dict = field(default_factory=dict)
    window: dict = field(default_factory=dict)
    curve: list = field(default_factory=list)
    context: str = ""  # appended to a NumericalError's message (the objective)
    reduce: object = None  # several processes: a curve point's window summed over them (``sum_over_processes``)

    def start_epoch(self):
        self.sums = {"loss": 0.0, "n": 0, "correct": 0, "seen": 0, "tokens": 0, "padded": 0}
        self.grads, self.pending, self.i = [], [], 0

    def gather(self, accelerator):
        """Several processes: the epoch's sums over all of them (loss parts: the mean of the processes' means)."""
        self.flush(None)
        keys = sorted(self.sums)
        total = accelerator.reduce(
            torch.tensor([float(self.sums[k]) for k in keys], dtype=torch.float64, device=accelerator.device), "sum"
        )
        means = {"loss", *TERMS}
        n = accelerator.num_processes
        self.sums = {k: (v / n if k in means else v) for k, v in zip(keys, total.tolist())}
        self.sums["n"] = int(round(self.sums["n"] / n))
        self.sums.update({k: int(round(self.sums[k])) for k in ("correct", "seen", "tokens", "padded")})

    def update(self, step, epoch, parts, logits, labels, lr=None, tokens=0, padded=0, labelled=None):
        """One step: ``parts`` and ``logits``/``labels`` on the device (kept there), ``tokens``/``padded`` the
        host batch's real and padded token counts, ``labelled`` its labelled rows (default: all; unlabeled rows,
        label -100, never count as right)."""
        self.keys = tuple(parts)
        correct = (logits.detach().argmax(-1) == labels).sum()
        vec = torch.stack([*(parts[k].detach().to(torch.float64) for k in self.keys), correct.to(torch.float64)])
        self.pending.append((step, vec, len(labels) if labelled is None else labelled))
        self.sums["tokens"] += tokens
        self.sums["padded"] += padded
        self.i += 1
        i = self.i
        if i % max(1, self.n_batches // 20) == 0 or i == self.n_batches:
            self.flush(epoch)
            w, self.window = self.window, {}
            if self.reduce is not None:
                w = self.reduce(w)
            n, correct, seen = w.pop("n"), w.pop("correct"), w.pop("seen")
            point = {
                "step": step,
                "epoch": round(epoch - 1 + i / self.n_batches, 4),
                "train_acc": correct / seen if seen else None,  # None: the point's batches held unlabeled rows only
                **({"lr": lr} if lr is not None else {}),
            }
            self.curve.append({**point, **{k: v / n for k, v in w.items()}})

    def flush(self, epoch):
        """Read the pending steps' values (the one host sync, at the curve's cadence), check the loss is finite and
        add them, in step order, to the window and the epoch's sums."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        rows = torch.stack([vec for _, vec, _ in pending]).tolist()
        for (step, _, seen), row in zip(pending, rows):
            parts = dict(zip(self.keys, row[:-1]))
            if not math.isfinite(parts["loss"]):
                self._non_finite(
                    epoch,
                    step,
                    parts,
                    f"found when steps {pending[0][0]}-{pending[-1][0]} were "
                    f"checked: finiteness is checked at every curve point",
                )
            for k, v in {**parts, "n": 1, "correct": int(row[-1]), "seen": seen}.items():
                self.window[k] = self.window.get(k, 0) + v
                self.sums[k] = self.sums.get(k, 0) + v

    def check(self, step, epoch, parts):
        """At a step that reads the device anyway (the sampled gradient norms): the pending steps and this one's
        loss are checked now, before anything (the gradient norms) uses it."""
        self.flush(epoch)
        if not math.isfinite(parts["loss"].item()):
            self._non_finite(epoch, step, {k: v.item() for k, v in parts.items()}, "checked before its gradient norms")

    def sample_gradients(self, step, epoch, parts, model, objective, scaler=None) -> None:
        """A sampled step: its loss checked (``check``), each weighted term's gradient norm taken
        (``term_grad_norms``) and kept (``add_grad_norms``; ``scaler``: fp16's loss scaler, or None)."""
        self.check(step, epoch, parts)
        norms = term_grad_norms(model, parts, objective, loss_scale(scaler))
        self.add_grad_norms(norms, scaler is not None and scaler.is_enabled(), step, epoch)

    def add_grad_norms(self, norms: dict, scaled: bool = False, step=None, epoch=None) -> None:
        """One sampled step's gradient norms (``term_grad_norms``). ``scaled`` (fp16's loss scaler): a step whose
        gradient overflowed, which the scaler skips, is left out, and the epoch's ``grad_norm["sampled_steps"]``
        counts the steps kept; unscaled, a non-finite gradient is a NumericalError."""
        if all(math.isfinite(v) for v in norms.values()):
            self.grads.append(norms)
        elif not scaled:
            self._non_finite(epoch, step, norms, "the loss was finite", "gradient norm")

    def _non_finite(self, epoch, step, parts, when, what="loss"):
        detail = ", ".join(f"{k}={v:.4g}" for k, v in parts.items())
        raise NumericalError(
            f"non-finite {what} at epoch {epoch}, step {step}: {detail} ({when}); {self.context}; no record written"
        )

    def epoch_row(self, epoch, seconds, part_names, objective) -> dict:
        self.flush(epoch)
        s, n = self.sums, max(1, self.sums["n"])
        row = {
            "epoch": epoch,
            "train_time_s": round(seconds, 3),
            "steps": s["n"],
            "train_tokens": s["tokens"],
            "train_padded_tokens": s["padded"],
            "train_acc": s["correct"] / max(1, s["seen"]),
            **{f"train_{k}": s[k] / n for k in ("loss", *TERMS) if k in part_names},
        }
        weighted = objective.weighted({k: row[f"train_{k}"] for k in TERMS if f"train_{k}" in row})
        row["loss_share"] = {k: v / row["train_loss"] for k, v in weighted.items()} if row["train_loss"] else {}
        if self.grads:  # each weighted term's gradient norm, mean over the sampled steps, and its share of their sum
            mean = {k: sum(g[k] for g in self.grads) / len(self.grads) for k in self.grads[0]}
            terms = {k: v for k, v in mean.items() if k != "total"}
            row["grad_norm"] = {**mean, "sampled_steps": len(self.grads)}
            row["grad_share"] = {k: v / sum(terms.values()) for k, v in terms.items()} if sum(terms.values()) else {}
        return row


@dataclass
class Fit:
    model: object
    epochs: list
    curve: list
    best_epoch: int


#: every this many steps, each loss term's gradient is measured on its own (extra backward passes, no effect on
#: training: nothing is accumulated and no random number drawn)
GRAD_EVERY = 50


def term_grad_norms(model: torch.nn.Module, parts: dict, objective: Objective, scale: float = 1.0) -> dict:
    """L2 norm of the gradient of each weighted term ((1-alpha)*CE, alpha*KD, beta*PT, ...: ``objective.weighted``)
    over the model's parameters, and of their sum (the loss's gradient before clipping). ``scale``: an fp16 run's
    loss scale: each term's gradient is taken of ``scale * term`` (as training's backward is, so fp16 gradients do
    not underflow) and divided by ``scale`` in float32 before its norm."""
    params = [p for p in model.parameters() if p.requires_grad]
    out, total = {}, None
    for k, term in objective.weighted({k: v for k, v in parts.items() if k != "loss"}).items():
        grads = torch.autograd.grad(
            term * scale if scale != 1.0 else term, params, retain_graph=True, allow_unused=True
        )
        grads = [
            torch.zeros_like(p) if g is None else (g.float() / scale if scale != 1.0 else g)
            for p, g in zip(params, grads)
        ]
        out[k] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)))
        total = grads if total is None else [a + b for a, b in zip(total, grads)]
    out["total"] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in total))) if total else 0.0
    return out


def optimizer_step(model, opt, loss, max_grad_norm: float, sched=None, scaler=None, accelerator=None):
    """One optimizer step, the one used by training, the teaching notebook and the benchmark: backward (through
    the fp16 loss scaler and Accelerate when given), unscale, clip the gradient norm, step, advance the
    schedule, zero the gradients."""
    scaled = scaler.scale(loss) if scaler is not None else loss
    accelerator.backward(scaled) if accelerator is not None else scaled.backward()
    if scaler is not None:
        scaler.unscale_(opt)
    clip = accelerator.clip_grad_norm_ if accelerator is not None else torch.nn.utils.clip_grad_norm_
    clip(model.parameters(), max_grad_norm)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    if sched is not None:
        sched.step()
    opt.zero_grad(set_to_none=True)


def fit(cfg, model, toks, spec, objective, teacher, hw: Hardware, log=print, progress=True) -> Fit:
    """Train for ``cfg.epochs``; after each epoch evaluate on dev; return the model at the best dev epoch."""
    acc = hw.accelerator
    # every process steps once per global batch of cfg.batch_size (its share of it): the schedule, the number of
    # optimizer steps and the global batch do not depend on the process count (the schedule is ours, not
    # Accelerate's, which would advance it once per process)
    sampler = LengthBucketSampler(
        toks["train"].lengths,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        bucket=cfg.bucket,
        shards=acc.num_processes,
        shard=acc.process_index,
    )
    loader = torch.utils.data.DataLoader(
        toks["train"],
        batch_sampler=sampler,
        collate_fn=partial(collate, toks["train"]),
        pin_memory=hw.device.type == "cuda",
    )
    opt, sched = make_optimizer(model, cfg, cfg.epochs * len(sampler))
    model, opt = acc.prepare(model, opt)
    meter = Meter(
        len(loader),
        context=f"objective {objective}",
        reduce=partial(sum_over_processes, acc) if acc.num_processes > 1 else None,
    )
    epochs, best, step = [], (None, -math.inf, None), 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        sampler.set_epoch(epoch - 1)  # epochs draw from seed + 0, 1, ... (as Accelerate's loader set it before)
        meter.start_epoch()
        t0 = time.time()
        for b in progress_bar(
            loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not (progress and hw.main), unit="batch", leave=False
        ):
            mask = b["attention_mask"]  # token counts from the host batch; the index stays there (cache gather)
            tokens, padded, labelled = int(mask.sum()), mask.numel(), int((b["labels"] >= 0).sum())
            b = {k: v if k == "index" else v.to(acc.device, non_blocking=True) for k, v in b.items()}
            out, parts = compute_loss(model, b, objective, teacher, hw.amp)
            step += 1
            if step % GRAD_EVERY == 1 and hw.accelerator.num_processes == 1:  # reads the device anyway
                meter.sample_gradients(step, epoch, parts, model, objective, hw.scaler)
            lr = sched.get_last_lr()[0]  # the lr this step trains with
            optimizer_step(model, opt, parts["loss"], cfg.max_grad_norm, sched, hw.scaler, hw.accelerator)
            # no host sync: the parts stay on the device until the next curve point, where finiteness is checked
            meter.update(step, epoch, parts, out.logits, b["labels"], lr, tokens, padded, labelled)
        if acc.num_processes > 1:
            meter.gather(acc)
        row = meter.epoch_row(epoch, time.time() - t0, parts, objective)
        if hw.main:
            best = _dev_epoch(row, hw.accelerator.unwrap_model(model), toks, spec, cfg, hw, best, log)
        epochs.append(row)
        hw.accelerator.wait_for_everyone()
    model = hw.accelerator.unwrap_model(model)
    if hw.main:
        model.load_state_dict(best[2])
    return Fit(model, epochs, meter.curve, best[0])


def loss_scale(scaler) -> float:
    """The fp16 loss scaler's current scale (1.0 without one)."""
    return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0


def sum_over_processes(accelerator, sums: dict) -> dict:
    """``sums`` (numbers) summed over every process, in float64; counts stay integers."""
    keys = sorted(sums)
    total = accelerator.reduce(
        torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=accelerator.device), "sum"
    ).tolist()
    return {k: int(round(v)) if isinstance(sums[k], int) else v for k, v in zip(keys, total)}


def _dev_epoch(row, model, toks, spec, cfg, hw, best, log):
    """Evaluate on the dev splits into ``row``; keep a copy of the weights if this epoch is the best so far."""
    t0 = time.time()
    for s in spec.dev_splits + ("train_eval",):  # train_eval: a fixed training subset, in eval mode
        row[s] = evaluate(model, toks[s], spec, cfg.batch_size, hw.device, hw.amp)[1]
    row["eval_time_s"] = round(time.time() - t0, 3)
    score, dev = row[spec.dev_splits[0]][spec.metrics[0]], toks[spec.dev_splits[0]]
    majority = (
        majority_baseline(toks["train"].labels, dev.labels)["accuracy"] if bool((dev.labels >= 0).all()) else None
    )
    log(
        f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, train accuracy (eval mode) "
        f"{row['train_eval']['accuracy']:.4f}, {spec.dev_splits[0]} {spec.metrics[0]} {score:.4f}"
        + (f" (majority class {majority:.4f})" if majority is not None else "")
        + f" ({row['train_time_s']:.0f}s)"
    )
    if score > best[1]:
        return row["epoch"], score, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return best
