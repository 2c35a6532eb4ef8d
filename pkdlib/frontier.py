"""The frontier of choices a practitioner can ship, measured side by side on the same test rows and the same inputs.

Candidates: the teacher (PyTorch fp32, ONNX fp32, ONNX int8), each student depth (PyTorch fp32, ONNX fp32, ONNX
int8) and a static-embedding baseline distilled from the same teacher (``static.py``). For each:

* accuracy with its Wilson 95% interval ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, z = 1.96;
* macro F1 with a 95% percentile bootstrap interval (``BOOTSTRAP`` resamples of the test rows, seed 0);
* the accuracy difference from the teacher (fp32) in points with a *paired* 95% percentile bootstrap interval (the
  same resampled rows for both);
* parameters, size on disk (MiB), CPU latency at batch 1 (median ms per example) and throughput at batch 32 (examples
  per second, from the median batch time): every candidate timed on the same inputs in round-robin order (each input
  is given to every candidate in turn, the order rotated from input to input), after warm-up calls, with torch and
  onnxruntime on the same number of threads.

The recommended choice follows a rule the user sets (``RULES``): by default ``fastest-within:1``, the fastest
candidate whose paired interval of the accuracy difference from the teacher lies above -1 point (shown to be within
1 point; the teacher itself always is), else the most accurate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .diagnose import class_gap_warnings, macro_f1, per_class
from .errors import require

__all__ = [
    "Candidate",
    "wilson",
    "bootstrap_intervals",
    "quality",
    "timings",
    "recommend",
    "parse_rule",
    "table_markdown",
    "plot",
    "RULES",
    "BOOTSTRAP",
]

#: bootstrap resamples for the macro-F1 and paired-difference intervals
BOOTSTRAP = 1000
#: the recommendation rules: name -> what it picks (``fastest-within`` and ``smallest-within`` take a margin in points)
RULES = {
    "fastest-within": "the fastest candidate shown within MARGIN points of the teacher (paired 95% interval)",
    "smallest-within": "the smallest on disk shown within MARGIN points of the teacher (paired 95% interval)",
    "most-accurate": "the most accurate candidate",
}
DEFAULT_RULE = "fastest-within:1"


@dataclass
class Candidate:
    """One thing a user could ship: ``predict(batch) -> logits`` on a tokenised batch (input_ids, attention_mask,
    token_type_ids)."""

    name: str
    family: str  # teacher, student, static
    runtime: str  # pytorch fp32, onnx fp32, onnx int8, static fp16
    predict: Callable
    parameters: int | None
    size_mib: float
    layers: int | None = None
    path: str | None = None  # relative to the frontier folder
    notes: dict = field(default_factory=dict)
    tokenizer: object | None = None  # its own (a student with a pruned vocabulary); None: the shared inputs'

    def view(self, data):
        """``data`` (``export.Exported``: the test rows) tokenised as this candidate reads them."""
        return data if self.tokenizer is None else replace(data, tokenizer=self.tokenizer)


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (correct / n)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    return (0.0 if correct == 0 else lo, 1.0 if correct == n else hi)  # exact at the ends (no rounding below 1)


def _resampled_macro_f1(labels: torch.Tensor, preds: torch.Tensor, idx: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Macro F1 of every bootstrap resample (rows ``idx``: resamples x n), over the labels present in each."""
    y, p = labels[idx], preds[idx]
    f1s, present = [], []
    for c in range(num_labels):
        tp = ((p == c) & (y == c)).sum(1).double()
        fp, fn = ((p == c) & (y != c)).sum(1).double(), ((p != c) & (y == c)).sum(1).double()
        f1s.append(torch.where(tp > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.zeros_like(tp)))
        present.append(((y == c) | (p == c)).any(1).double())
    f1, pres = torch.stack(f1s, 1), torch.stack(present, 1)
    return (f1 * pres).sum(1) / pres.sum(1).clamp(min=1)


def bootstrap_intervals(labels, preds, ref_preds, num_labels: int, n_boot: int = BOOTSTRAP, seed: int = 0) -> dict:
    """95% percentile intervals of macro F1 and of the paired accuracy difference from ``ref_preds`` (points)."""
    y, p, r = (torch.as_tensor(v) for v in (labels, preds, ref_preds))
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(y), (n_boot, len(y)), generator=g)
    f1 = _resampled_macro_f1(y, p, idx, num_labels)
    diff = 100 * ((p[idx] == y[idx]).double().mean(1) - (r[idx] == y[idx]).double().mean(1))
    q = torch.tensor([0.025, 0.975], dtype=torch.float64)
    return {
        "macro_f1_ci": [round(float(v), 4) for v in torch.quantile(f1, q)],
        "diff_points_ci": [round(float(v), 2) for v in torch.quantile(diff, q)],
    }


def logits_of(c: Candidate, data) -> torch.Tensor:
    """A candidate's logits on every test row (batches of 32, in split order)."""
    with torch.inference_mode():
        return torch.cat([torch.as_tensor(c.predict(b)).float() for _, b in c.view(data).batches(32)])


def quality(cands: list, data, names, log=print) -> list[dict]:
    """Accuracy, macro F1, intervals and per-label accuracy of every candidate, the first (the teacher) the reference."""
    labels = data.labels
    preds = {c.name: logits_of(c, data).argmax(-1) for c in cands}
    ref = preds[cands[0].name]
    rows = []
    for c in cands:
        p = preds[c.name]
        right = int((p == labels).sum())
        rows.append(
            {
                "name": c.name,
                "family": c.family,
                "runtime": c.runtime,
                "layers": c.layers,
                "accuracy": right / len(labels),
                "accuracy_ci": [round(v, 4) for v in wilson(right, len(labels))],
                "macro_f1": macro_f1(labels, p),
                "diff_points": round(100 * (right - int((ref == labels).sum())) / len(labels), 2),
                **bootstrap_intervals(labels, p, ref, len(names)),
                "agreement_with_teacher": int((p == ref).sum()) / len(labels),
                "per_class": per_class(labels, p, names),
                "parameters": c.parameters,
                "size_mib": c.size_mib,
                "path": c.path,
                **c.notes,
            }
        )
        log(f"  {c.name}: accuracy {rows[-1]['accuracy']:.4f}")
    return rows


def _inputs(cands: list, data, n1: int, n32: int) -> tuple[dict, dict]:
    """The same test rows as each candidate reads them (tokenised before any timing): batches of 1 and of 32."""
    one = {c.name: [b for i, b in c.view(data).batches(1) if i < n1] for c in cands}
    many = {c.name: [b for i, b in c.view(data).batches(32) if i < 32 * n32] for c in cands}
    return one, many


def _round_robin(cands: list, inputs: dict, repeats: int, budget_s: float) -> dict:
    """Seconds per call of every candidate on every input (``inputs``: name -> its tokenised inputs, the same rows),
    each input given to all candidates in turn (the order rotated from input to input); stops early (after at least 4
    inputs) when ``budget_s`` is spent."""
    times = {c.name: [] for c in cands}
    t_start, n = time.perf_counter(), len(inputs[cands[0].name])
    with torch.inference_mode():
        for c in cands:  # warm-up: first calls allocate and compile
            for _ in range(2):
                c.predict(inputs[c.name][0])
        for r in range(repeats):
            for j in range(n):
                k = (r * n + j) % len(cands)
                for c in cands[k:] + cands[:k]:
                    b = inputs[c.name][j]
                    t0 = time.perf_counter()
                    c.predict(b)
                    times[c.name].append(time.perf_counter() - t0)
                if time.perf_counter() - t_start > budget_s and r * n + j >= 3:
                    return times
    return times


def timings(cands: list, data, n1: int = 64, n32: int = 4, repeats: int = 3, budget_s: float = 120.0) -> dict:
    """Batch-1 latency (median ms per example) and batch-32 throughput (examples/s at the median batch time), each
    measured within about ``budget_s`` seconds; ``calls``: how many timed calls each median is of."""
    one, many = _inputs(cands, data, n1, n32)
    t1, t32 = _round_robin(cands, one, repeats, budget_s), _round_robin(cands, many, repeats, budget_s)
    first = many[cands[0].name]
    size = sum(len(b["input_ids"]) for b in first) / len(first)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {
        c.name: {
            "latency_ms": round(1000 * med(t1[c.name]), 3),
            "throughput_per_s": round(size / med(t32[c.name]), 1),
            "calls": [len(t1[c.name]), len(t32[c.name])],
        }
        for c in cands
    }


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n >= 1e3 else str(n)


def parse_rule(rule: str) -> tuple[str, float | None]:
    """'fastest-within:1' -> ('fastest-within', 1.0); 'most-accurate' -> ('most-accurate', None)."""
    from .config import ConfigError

    name, _, margin = str(rule).partition(":")
    if name not in RULES or (name != "most-accurate") != bool(margin):
        raise ConfigError(
            f"--pick {rule!r}: accepted: most-accurate, fastest-within:POINTS, smallest-within:POINTS "
            f"(e.g. {DEFAULT_RULE}: {RULES['fastest-within'].replace('MARGIN', '1')})"
        )
    try:
        value = float(margin) if margin else None
    except ValueError:
        raise ConfigError(
            f"--pick {rule!r}: the margin must be a number of accuracy points, e.g. {DEFAULT_RULE}"
        ) from None
    if value is not None and value < 0:
        raise ConfigError(f"--pick {rule!r}: the margin must be >= 0 points")
    return name, value


def recommend(rows: list[dict], rule: str = DEFAULT_RULE) -> tuple[dict, str]:
    """The row the rule picks and why (rows need accuracy, diff_points_ci, latency_ms, size_mib)."""
    name, margin = parse_rule(rule)
    best = max(rows, key=lambda r: (r["accuracy"], -r["latency_ms"]))
    if name == "most-accurate":
        return best, "the most accurate"
    ok = [r for r in rows if r["diff_points_ci"][0] >= -margin]
    if not ok:
        return best, f"none is shown within {margin:g} points of the teacher: the most accurate"
    key = "latency_ms" if name == "fastest-within" else "size_mib"
    pick = min(ok, key=lambda r: (r[key], -r["accuracy"]))
    what = "fastest" if key == "latency_ms" else "smallest"
    return pick, (
        f"the {what} of the {len(ok)} candidates whose paired 95% interval of the accuracy difference from "
        f"the teacher lies above -{margin:g} points"
    )


def gap_warnings(rows: list[dict]) -> list[str]:
    """Students and the static baseline much worse than the teacher on one label (``diagnose.class_gap_warnings``)."""
    ref = rows[0]["per_class"]
    return [
        w
        for r in rows[1:]
        if r["runtime"] in ("pytorch fp32", "static fp16")
        for w in class_gap_warnings(ref, r["per_class"], r["name"])
    ]


def table_markdown(rows: list[dict], pick: str | None = None) -> str:
    """The frontier as a Markdown table (the recommended row marked)."""
    head = (
        "| candidate | accuracy [95% CI] | macro F1 [95% CI] | vs teacher, points [95% CI] | parameters | "
        "size (MiB) | latency b=1 (ms) | throughput b=32 (/s) |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        params = _params(r["parameters"])
        mark = " **(recommended)**" if r["name"] == pick else ""
        lines.append(
            f"| {r['name']}{mark} | {r['accuracy']:.4f} [{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}]"
            f" | {r['macro_f1']:.4f} [{r['macro_f1_ci'][0]:.3f}, {r['macro_f1_ci'][1]:.3f}] | "
            f"{r['diff_points']:+.1f} [{r['diff_points_ci'][0]:+.1f}, {r['diff_points_ci'][1]:+.1f}] | "
            f"{params} | {r['size_mib']:.1f} | {r['latency_ms']:.2f} | {r['throughput_per_s']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str, pick: str | None = None) -> Path:
    """Accuracy (Wilson 95% bars) against batch-1 latency (log scale), every point labelled."""
    require("matplotlib", "the frontier's plot", "export").use("Agg", force=False)
    plt = require("matplotlib.pyplot", "the frontier's plot", "export")

    colours = {"teacher": "#555555", "student": "#1f77b4", "static": "#d62728"}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, r in enumerate(sorted(rows, key=lambda r: (r["latency_ms"], r["accuracy"]))):
        lo, hi = r["accuracy_ci"]
        ax.errorbar(
            r["latency_ms"],
            r["accuracy"],
            yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]],
            fmt="o",
            color=colours.get(r["family"], "k"),
            ms=9 if r["name"] == pick else 5,
            capsize=2,
            alpha=0.8,
            label=r["family"],
        )
        ax.annotate(
            r["name"] + (" (recommended)" if r["name"] == pick else ""),
            (r["latency_ms"], r["accuracy"]),
            textcoords="offset points",
            xytext=(5, (6, -12, 18, -24)[i % 4]),
            fontsize=8,
            arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.5},
        )
    handles, labels = ax.get_legend_handles_labels()
    first = dict(zip(labels, handles))  # one legend entry per family
    ax.legend(list(first.values()), list(first), loc="lower right")
    ax.set_xscale("log")
    ax.set(
        xlabel="CPU latency at batch 1, ms per example (log scale)",
        ylabel="test accuracy (Wilson 95% interval)",
        title=title,
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    from .files import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path
