"""The teaching notebook's figures (00_teaching), drawn from the numbers ``pkdstudy.teaching`` computes: one colour
per method in every panel (``teaching.COLOURS``)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from pkdlib.losses import TERMS

from .teaching import COLOURS, PAIRS, arm_summary, binary_kd, layer_map_matrix, paired, soft_targets

#: line styles and markers that keep overlapping curves apart (two sentences with the same margin)
STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":")]


def fig_soft_targets(t_logits: torch.Tensor, labels, temperature: float):
    """Left: softmax(z/T)'s P(positive) for four sentences over T (markers and styles differ, so a curve hidden
    under another still shows). Right: two-class KD as a function of the student's margin."""
    temps = [1, 2, 5, 10, 20]
    st = soft_targets(t_logits[:4], temps)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    for i, (marker, ls) in enumerate(STYLES[: len(t_logits[:4])]):
        margin = float(t_logits[i, 1] - t_logits[i, 0])
        axes[0].plot(
            temps,
            [st[T][i, 1].item() for T in temps],
            marker=marker,
            ls=ls,
            ms=9 - 1.5 * i,
            alpha=0.8,
            label=f"sentence {i} ({'pos' if labels[i] else 'neg'}, margin {margin:+.1f})",
        )
    axes[0].axhline(0.5, color="gray", lw=0.8)
    axes[0].set(
        xscale="log", xlabel="temperature T", ylabel="soft target P(positive)", title="softmax(z / T), two classes"
    )
    axes[0].legend(fontsize=8)
    margins = torch.linspace(-8, 8, 161)
    t_margin = float(t_logits[0, 1] - t_logits[0, 0])
    axes[1].plot(margins, binary_kd(margins, t_margin, temperature), label=f"T²·KL at T={temperature:g}")
    axes[1].plot(margins, (margins - t_margin) ** 2 / 8, ls="--", label="(s - t)² / 8")
    axes[1].axvline(t_margin, color="gray", lw=0.8, label=f"teacher margin {t_margin:.1f} (sentence 0)")
    axes[1].set(xlabel="student margin z₁ - z₀", ylabel="KD loss", title="KD on two classes is a margin regression")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_layer_maps():
    """PKD-Skip and PKD-Last for 6 -> 3 and 12 -> 6 layers; the last column is the teacher's output (KD)."""
    cmap = ListedColormap(["white", "tab:blue", "tab:orange"])
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (n, k, name) in zip(
        axes, [(6, 3, "pkd_skip"), (6, 3, "pkd_last"), (12, 6, "pkd_skip"), (12, 6, "pkd_last")]
    ):
        ax.imshow(layer_map_matrix(n, k, name), cmap=cmap, vmin=0, vmax=2)
        ax.set_xticks(range(n + 1), [str(i) for i in range(1, n + 1)] + ["out"])
        ax.set_yticks(range(k), range(1, k + 1))
        ax.set(xlabel="teacher layer (out = its logits)", ylabel="student layer", title=f"{name}({n}, {k})")
    fig.legend(
        handles=[
            Patch(color="tab:blue", label="patient loss (hidden state)"),
            Patch(color="tab:orange", label="KD (the output)"),
        ],
        loc="lower center",
        ncol=2,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def fig_sentence_states(curves: dict, floor: float = 1e-8):
    """Per teacher layer, the mean cosine between different sentences and the share of the state that differs
    between sentences, for each pooling (``curves``: {pooling: (cosines, shares)}); shares below ``floor`` are
    drawn at ``floor`` (a log axis cannot show 0) and marked."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    for pooling, (cos, share) in curves.items():
        axes[0].plot(cos, marker="o", label=pooling)
        (line,) = axes[1].plot(np.maximum(share, floor), marker="o", label=pooling)
        clamped = np.nonzero(share < floor)[0]
        if len(clamped):
            axes[1].plot(
                clamped,
                [floor] * len(clamped),
                "x",
                ms=12,
                color=line.get_color(),
                label=f"{pooling}: below {floor:g}, drawn at {floor:g}",
            )
    axes[0].set(
        xlabel="teacher layer (0 = embeddings)",
        ylabel="mean cosine, different sentences",
        ylim=(-0.05, 1.05),
        title="How alike are two different sentences' states?",
    )
    axes[1].set(
        yscale="log",
        xlabel="teacher layer (0 = embeddings)",
        ylabel="share of the squared norm",
        title="The part of a state that differs between sentences",
    )
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_comparison(results: dict, arms: dict, teacher_acc: float, steps: int):
    """The cross-entropy over the steps, unweighted (ln 2: the same 50/50 answer for every sentence), each other
    term as weighted (the part of the loss it is), and each arm's dev accuracy after ``steps`` steps beside the
    teacher's; one colour per arm (``arms``: {arm: Objective}, for the CE's weight)."""
    terms = [k for k in TERMS if k != "ce" and any(k in r["history"][0] for r in results.values())]
    fig, axes = plt.subplots(1, len(terms) + 2, figsize=(4.2 * (len(terms) + 2), 3.3), squeeze=False)
    axes = axes[0]
    for name, r in results.items():
        x = [h["step"] for h in r["history"]]
        axes[0].plot(
            x,
            [h["ce"] / (1 - arms[name].alpha) for h in r["history"]],
            label=name,
            color=COLOURS[name],
            alpha=0.8,
            lw=1,
        )
        for ax, term in zip(axes[1:], terms):
            if term in r["history"][0]:
                ax.plot(x, [h[term] for h in r["history"]], label=name, color=COLOURS[name], alpha=0.8, lw=1)
    axes[0].axhline(math.log(2), color="k", ls=":", lw=1)
    axes[0].text(steps, math.log(2), "ln 2", ha="right", va="bottom", fontsize=8)
    axes[0].set(xlabel="step", ylabel="CE (unweighted)", title="CE with the gold labels")
    for ax, term in zip(axes[1:], terms):
        ax.set(yscale="log", xlabel="step", ylabel=f"weighted {TERMS[term]}", title=f"{TERMS[term]} (as weighted)")
    for ax in axes[:-1]:
        ax.legend(fontsize=7)
    names = list(results)
    axes[-1].scatter(
        range(len(names)), [100 * results[n]["dev"] for n in names], s=80, c=[COLOURS[n] for n in names], zorder=3
    )
    axes[-1].axhline(100 * teacher_acc, color="k", ls="--", label="teacher")
    axes[-1].set_xticks(range(len(names)), names, rotation=30)
    axes[-1].set(ylim=(50, 100), ylabel="dev accuracy (points)", title=f"this run, after {steps} steps (one seed)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _strip(ax, x: float, values, colour: str, label=None) -> np.ndarray:
    """The seeds as points, spread sideways in seed order so equal values stay visible; returns their x."""
    values = np.asarray(values, float)
    xs = x + (np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1))
    ax.scatter(xs, values, s=18, color=colour, alpha=0.6, label=label)
    return xs


def _interval(ax, x: float, mean: float, low: float, high: float, label=None):
    ax.errorbar(
        [x + 0.3], [mean], yerr=[[mean - low], [high - mean]], fmt="_", color="k", ms=14, capsize=4, lw=1.5, label=label
    )


def fig_seeds(df: pd.DataFrame, class_run: dict | None, seed: int, teacher_acc: float | None = None):
    """Left: each arm's dev accuracy over the seeds (points, in seed order), its mean and 95% interval (black), and
    this class's run (a star on its own seed's point) when it is one of them. Right: the paired differences by seed,
    mean and 95% interval, this class's difference starred."""
    summ = arm_summary(df)
    seeds = sorted(df["seed"].unique())
    at = seeds.index(seed) if seed in seeds else None
    star = dict(marker="*", s=260, ec="k", zorder=4)
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [len(summ), 4]})
    for i, (arm, r) in enumerate(summ.iterrows()):
        xs = _strip(axes[0], i, df[df["arm"] == arm].sort_values("seed")["dev"], COLOURS[arm])
        _interval(axes[0], i, r["mean"], r["low"], r["high"], "mean, 95% interval" if i == 0 else None)
        if class_run and arm in class_run and at is not None:
            axes[0].scatter(
                [xs[at]],
                [class_run[arm]],
                color=COLOURS[arm],
                **star,
                label=f"this class's run (seed {seed})" if i == 0 else None,
            )
    if teacher_acc is not None:
        axes[0].axhline(100 * teacher_acc, color="k", ls="--", lw=1, label="teacher")
    axes[0].set_xticks(range(len(summ)), summ.index)
    axes[0].set(ylabel="dev accuracy (points)", title=f"{int(summ['n'].max())} seeds per arm, after the same steps")
    pairs = [(a, b) for a, b in PAIRS if a in summ.index and b in summ.index]
    for i, (a, b) in enumerate(pairs):
        p = paired(df, a, b)
        xs = _strip(axes[1], i, [p["by_seed"][k] for k in sorted(p["by_seed"])], COLOURS[a])
        _interval(axes[1], i, p["mean"], p["low"], p["high"])
        if class_run and a in class_run and b in class_run and at is not None:
            axes[1].scatter([xs[at]], [class_run[a] - class_run[b]], color=COLOURS[a], **star)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_xticks(range(len(pairs)), [f"{a}\n- {b}" for a, b in pairs], fontsize=8)
    axes[1].set(ylabel="difference, same seed (points)", title="paired differences (mean, 95% interval)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def fig_layer_similarity(panels: dict, pairs, vmin: float = -0.2, vmax: float = 1.0):
    """One row per pooling, one panel per student (before training first): ``panels`` = {pooling: {student:
    matrix}} (NaN: masked, the layer does not vary between sentences). Boxes: the pairs the patient loss matches,
    with their values. One colour bar for all panels, beside them (constrained layout: no title runs into it)."""
    ncols = max(len(v) for v in panels.values())
    fig, axes = plt.subplots(
        len(panels), ncols, figsize=(4.4 * ncols, 3.3 * len(panels)), squeeze=False, layout="constrained"
    )
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("lightgray")
    im = None
    for row, (pooling, students) in zip(axes, panels.items()):
        for ax in row[len(students) :]:
            ax.axis("off")
        for ax, (name, m) in zip(row, students.items()):
            im = ax.imshow(np.ma.masked_invalid(m), vmin=vmin, vmax=vmax, cmap=cmap)
            ax.set(xlabel="teacher layer", ylabel="student layer", title=f"{name}: {pooling}")
            for j, t in pairs:
                ax.add_patch(plt.Rectangle((t - 0.5, j - 0.5), 1, 1, fill=False, ec="red", lw=2))
                ax.text(
                    t,
                    j,
                    f"{m[j, t]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if m[j, t] < 0.5 * (vmin + vmax) else "black",
                )
    fig.colorbar(im, ax=axes, label="centred cosine, same sentence (gray: masked)", shrink=0.8)
    return fig
