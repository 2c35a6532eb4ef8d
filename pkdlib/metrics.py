"""Metrics as GLUE reports them: accuracy; F1 (of the positive class) and accuracy for MRPC and QQP.
(Counted with torch: importing scikit-learn for two ratios cost each run's kernel a second.)"""
from __future__ import annotations


def compute_metrics(spec, labels, preds) -> dict:
    y, p = labels.cpu(), preds.cpu()
    out = {"accuracy": int((y == p).sum()) / len(y), "n": int(len(y))}
    if "f1" in spec.metrics:
        tp, fp, fn = int(((p == 1) & (y == 1)).sum()), int(((p == 1) & (y != 1)).sum()), int(((p != 1) & (y == 1)).sum())
        out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out
