"""The int8 gate: dynamic int8 ONNX (onnxruntime) kept unless it is shown to lose accuracy.

An int8 model is compared with the fp32 model it came from on the same test rows:

* agreement: the share of rows where both predict the same class (argmax), and the largest absolute logit difference;
* a paired exact test of the accuracy change (exact McNemar): of the discordant rows, ``b`` are right in fp32 only and
  ``c`` right in int8 only; under "no change" ``b ~ Binomial(b + c, 1/2)``, two-sided
  ``p = min(1, 2 * P(X <= min(b, c)))`` (``scipy.stats.binomtest``; ``p = 1`` when there is no discordant row).

A loss is *shown* when ``p < ALPHA`` and ``b > c`` (int8 is worse). One flipped row of 100 (b=1, c=0) gives p = 1:
noise, kept. Before refusing, the standard fallbacks are tried in order (``FALLBACKS``): per-channel weight scales,
the embeddings kept in fp32, the last transformer layer (and the head) kept in fp32, both. The first that shows no
loss is kept and named in the report; when every one shows a loss, the int8 file is refused (not written).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from .errors import require

__all__ = ["ALPHA", "FALLBACKS", "agreement", "mcnemar", "loss_shown", "int8_gate", "quantize", "file_mib"]

#: the significance level at which a paired accuracy loss counts as shown
ALPHA = 0.05
#: the quantisation settings tried in order: (name, per-channel weights, keep embeddings fp32, keep last layer fp32)
FALLBACKS = (
    ("per-tensor", False, False, False),
    ("per-channel", True, False, False),
    ("per-channel, embeddings fp32", True, True, False),
    ("per-channel, last layer and head fp32", True, False, True),
    ("per-channel, embeddings, last layer and head fp32", True, True, True),
)


def agreement(reference: torch.Tensor, logits: torch.Tensor) -> dict:
    """Argmax agreement rate and the largest absolute logit difference of two (rows, classes) logit tensors."""
    same = int((reference.argmax(-1) == logits.argmax(-1)).sum())  # counted: no float32 round trip
    return {"agreement": same / len(reference), "max_abs_logit_diff": float((reference - logits).abs().max())}


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial p at 1/2: ``min(1, 2 * P(X <= min(k, n - k)))``, X ~ Bin(n, 1/2) (what
    ``scipy.stats.binomtest(k, n).pvalue`` gives for p = 1/2, the distribution being symmetric)."""
    m = min(k, n - k)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(m + 1)) / 2**n)


def mcnemar(ref_correct, new_correct) -> dict:
    """Exact McNemar test of two paired 0/1 correctness vectors: b = right in the reference only, c = right in the
    new model only; two-sided binomial p of b among b + c at 1/2 (1 when b + c = 0)."""
    r, n = torch.as_tensor(ref_correct).bool(), torch.as_tensor(new_correct).bool()
    if r.shape != n.shape:
        raise ValueError(f"paired vectors differ in length: {tuple(r.shape)} vs {tuple(n.shape)}")
    b, c = int((r & ~n).sum()), int((~r & n).sum())
    p = 1.0 if b + c == 0 else binomial_two_sided(b, b + c)
    return {
        "ref_only_correct": b,
        "new_only_correct": c,
        "p_value": p,
        "accuracy_change_points": round(100 * (c - b) / max(1, len(r)), 4),
    }


def loss_shown(test: dict, alpha: float = ALPHA) -> bool:
    """A loss is shown when the exact McNemar p is below ``alpha`` and the new model is the worse one."""
    return test["p_value"] < alpha and test["ref_only_correct"] > test["new_only_correct"]


def excluded_nodes(onnx_path: Path, embeddings: bool, last_layer: bool) -> list[str]:
    """Names of the weight-bearing nodes kept in fp32: the embedding lookups, and/or the nodes of the highest
    ``layer.N`` of the encoder with the pooler and the classification head."""
    onnx = require("onnx", "int8 quantization (its node list)", "export")
    nodes = [
        n
        for n in onnx.load(str(onnx_path), load_external_data=False).graph.node
        if n.op_type in ("MatMul", "Gemm", "Gather", "Attention", "EmbedLayerNormalization")
    ]
    layers = [int(m.group(1)) for n in nodes if (m := re.search(r"/layer\.(\d+)/", n.name))]
    last = f"/layer.{max(layers)}/" if layers else None
    out = []
    for n in nodes:
        if embeddings and "/embeddings/" in n.name:
            out.append(n.name)
        elif last_layer and ((last and last in n.name) or re.search(r"/(pooler|classifier)/", n.name)):
            out.append(n.name)
    return out


def quantize(onnx_path: Path, out_path: Path, setting: tuple) -> Path:
    """Dynamic int8 (QInt8 weights) of an fp32 ONNX file under one of ``FALLBACKS``."""
    q = require("onnxruntime.quantization", "int8 quantization", "export")
    _, per_channel, emb, last = setting
    q.quantize_dynamic(
        str(onnx_path),
        str(out_path),
        weight_type=q.QuantType.QInt8,
        per_channel=per_channel,
        nodes_to_exclude=excluded_nodes(onnx_path, emb, last),
    )
    return out_path


def file_mib(path) -> float:
    """A file's size in MiB (2**20 bytes)."""
    return round(Path(path).stat().st_size / 2**20, 2)


def int8_gate(reference: torch.Tensor, labels: torch.Tensor, make, score, log=print, alpha: float = ALPHA) -> dict:
    """Try ``FALLBACKS`` in order: ``make(setting) -> path`` writes an int8 file, ``score(path) -> logits`` scores it
    on the rows of ``labels``. Keep the first that shows no loss against ``reference`` (the fp32 logits); remove every
    other file. Returns the kept setting's checks (``kept``: False and ``refused_because`` when none passed) and
    every attempt."""
    ref_correct = reference.argmax(-1) == labels
    attempts, kept = [], None
    for setting in FALLBACKS:
        path = Path(make(setting))
        logits = score(path)
        correct = logits.argmax(-1) == labels
        test = mcnemar(ref_correct, correct)
        row = {
            "setting": setting[0],
            **agreement(reference, logits),
            **test,
            "accuracy": int(correct.sum()) / len(labels),
            "size_mib": file_mib(path),
            "loss_shown": loss_shown(test, alpha),
        }
        attempts.append(row)
        if not row["loss_shown"]:
            kept = row
            break
        path.unlink()
        log(
            f"int8 ({setting[0]}): accuracy {row['accuracy_change_points']:+.2f} points, exact McNemar p = "
            f"{row['p_value']:.3g} (b={row['ref_only_correct']}, c={row['new_only_correct']}): a loss; trying the next"
        )
    if kept is None:
        last = attempts[-1]
        return {
            **last,
            "kept": False,
            "attempts": attempts,
            "refused_because": f"every setting loses accuracy (exact McNemar p < {alpha}, int8 worse)",
        }
    return {**kept, "kept": True, "attempts": attempts}


def gate_text(check: dict) -> str:
    """One line a person reads: the kept setting, its agreement, the paired test and the file size."""
    head = (
        f"int8 ({check['setting']}): accuracy {check['accuracy']:.4f} ({check['accuracy_change_points']:+.2f} "
        f"points), agreement with fp32 {check['agreement']:.1%}, largest logit difference "
        f"{check['max_abs_logit_diff']:.2e}, exact McNemar p = {check['p_value']:.3g} "
        f"(fp32 only right {check['ref_only_correct']}, int8 only right {check['new_only_correct']}), "
        f"{check['size_mib']:.1f} MiB"
    )
    return head if check["kept"] else head + f"  REFUSED ({check['refused_because']}; not written)"
