"""Metrics as GLUE reports them: accuracy; F1 (of the positive class) and accuracy for MRPC and QQP; macro F1 for
a user's tables. Beside every model, what it must beat: the majority-class baseline, and whether it learned at all.
(Counted with torch: importing scikit-learn for a few ratios cost each run's kernel a second.)"""
from __future__ import annotations

import torch

#: a model that predicts one class for at least this share of the inputs is flagged as not having learned
ONE_CLASS_SHARE = 0.95


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
    """The accuracy of always predicting the training split's most frequent label."""
    y = torch.as_tensor(labels)
    top = int(torch.bincount(torch.as_tensor(train_labels)).argmax())
    return {"label": top, "accuracy": float((y == top).float().mean()) if len(y) else 0.0}


def learning_warnings(name: str, accuracy: float, baseline: dict, preds, num_labels: int) -> list[str]:
    """What says a model did not learn: not above the majority baseline, or (nearly) one class for every input."""
    out = []
    if accuracy <= baseline["accuracy"]:
        out.append(f"{name} accuracy {accuracy:.4f} does not beat the majority-class baseline {baseline['accuracy']:.4f} "
                   f"(always label {baseline['label']}): it did not learn; more epochs, another lr or more data")
    counts = torch.bincount(torch.as_tensor(preds), minlength=num_labels)
    share = float(counts.max()) / max(1, int(counts.sum()))
    if share >= ONE_CLASS_SHARE:
        out.append(f"{name} predicts label {int(counts.argmax())} for {share:.1%} of its inputs")
    return out
