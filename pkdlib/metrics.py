"""Metrics as GLUE reports them: accuracy; F1 (of the positive class) and accuracy for MRPC and QQP; macro F1 for
a user's tables. Beside every model, what it must beat: the majority-class baseline (whether it learned: ``diagnose.py``).
(Counted with torch: importing scikit-learn for a few ratios cost each run's kernel a second.)"""

from __future__ import annotations

import torch


def compute_metrics(spec, labels, preds) -> dict:
    y, p = labels.cpu(), preds.cpu()
    out = {"accuracy": int((y == p).sum()) / len(y), "n": int(len(y))}
    if "f1" in spec.metrics:
        out["f1"] = _f1(y, p, 1)
    if "macro_f1" in spec.metrics:  # over the labels in the gold or predicted labels (a label in neither is no error)
        present = sorted(set(y.tolist()) | set(p.tolist()))
        out["macro_f1"] = sum(_f1(y, p, c) for c in present) / len(present)
    return out


def _f1(y, p, c) -> float:
    tp, fp, fn = int(((p == c) & (y == c)).sum()), int(((p == c) & (y != c)).sum()), int(((p != c) & (y == c)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def majority_baseline(train_labels, labels) -> dict:
    """The accuracy of always predicting the training split's most frequent label, counted (correct / n in Python
    floats, as ``compute_metrics`` counts a model's: a tie is a tie, not 0.51 against float32's 0.50999999)."""
    y, train = torch.as_tensor(labels), torch.as_tensor(train_labels)
    top = int(torch.bincount(train[train >= 0]).argmax())  # unlabeled rows (-100) are no class
    return {"label": top, "accuracy": int((y == top).sum()) / len(y) if len(y) else 0.0}
