"""Metrics as GLUE reports them: accuracy; F1 (of the positive class) and accuracy for MRPC and QQP."""
from __future__ import annotations

from sklearn.metrics import accuracy_score, f1_score


def compute_metrics(spec, labels, preds) -> dict:
    y, p = labels.cpu().numpy(), preds.cpu().numpy()
    out = {"accuracy": float(accuracy_score(y, p)), "n": int(len(y))}
    if "f1" in spec.metrics:
        out["f1"] = float(f1_score(y, p, pos_label=1, average="binary", zero_division=0))
    return out
