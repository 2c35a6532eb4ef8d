"""What a model's test predictions say went wrong, in words that name the user's labels.

* **did not learn**: it gets no more test rows right than always predicting the training split's most frequent label
  (compared in counts of rows, so a float32 round trip cannot hide a tie);
* **one class for (nearly) everything**: one label is predicted for at least ``ONE_CLASS_SHARE`` of the rows;
* **a class never or almost never predicted**: a label with at least ``MIN_CLASS_ROWS`` test rows is predicted for at
  most ``RARE_PREDICTION`` times as many rows as it has;
* **macro F1 far below accuracy**: ``accuracy - macro F1 >= F1_GAP`` (the minority classes are being sacrificed);
* **a student much worse than its teacher on one class**: its accuracy on the rows of a label (recall) is at least
  ``CLASS_GAP`` below the teacher's on the same rows, for a label with at least ``MIN_CLASS_ROWS`` rows.
"""

from __future__ import annotations

import torch

__all__ = [
    "ONE_CLASS_SHARE",
    "RARE_PREDICTION",
    "MIN_CLASS_ROWS",
    "F1_GAP",
    "CLASS_GAP",
    "per_class",
    "prediction_warnings",
    "class_gap_warnings",
    "macro_f1",
    "accuracy_by_label",
]

#: a model that predicts one class for at least this share of the inputs is flagged
ONE_CLASS_SHARE = 0.95
#: a class predicted for at most this many times its own row count is "never or almost never predicted"
RARE_PREDICTION = 0.1
#: classes with fewer test rows than this are not judged one by one (too few to say anything)
MIN_CLASS_ROWS = 5
#: macro F1 this far (absolute) below accuracy is flagged
F1_GAP = 0.1
#: a student this far (absolute) below its teacher's accuracy on the rows of one class is flagged
CLASS_GAP = 0.2


def _f1(y, p, c) -> float:
    tp, fp, fn = int(((p == c) & (y == c)).sum()), int(((p == c) & (y != c)).sum()), int(((p != c) & (y == c)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(labels, preds) -> float:
    """Mean F1 over the labels present in the gold or predicted labels (as ``metrics.compute_metrics``)."""
    y, p = torch.as_tensor(labels), torch.as_tensor(preds)
    present = sorted(set(y.tolist()) | set(p.tolist()))
    return sum(_f1(y, p, c) for c in present) / len(present)


def per_class(labels, preds, names) -> list[dict]:
    """For each label: its test rows, the rows predicted as it, and the accuracy on its rows (recall)."""
    y, p = torch.as_tensor(labels), torch.as_tensor(preds)
    out = []
    for c, name in enumerate(names):
        rows = y == c
        n = int(rows.sum())
        correct = int((p[rows] == c).sum())
        out.append(
            {
                "label": str(name),
                "n": n,
                "predicted": int((p == c).sum()),
                "correct": correct,
                "accuracy": correct / n if n else None,
            }
        )
    return out


def prediction_warnings(model: str, labels, preds, names, majority_label: int) -> list[str]:
    """The warnings of one model's predictions on a labelled split (see the module doc); ``majority_label``: the id of
    the training split's most frequent label."""
    y, p = torch.as_tensor(labels), torch.as_tensor(preds)
    n, right = len(y), int((p == y).sum())
    base = int((y == majority_label).sum())
    out = []
    if right <= base:
        out.append(
            f"{model} gets {right} of {n} test rows right ({right / n:.4f}), no more than always predicting "
            f"{names[majority_label]!r}, the most frequent training label ({base} of {n}, {base / n:.4f}): it "
            f"did not learn; more epochs, another lr or more data"
        )
    classes = per_class(y, p, names)
    top = max(classes, key=lambda c: c["predicted"])
    if n and top["predicted"] / n >= ONE_CLASS_SHARE:
        out.append(f"{model} predicts {top['label']!r} for {top['predicted'] / n:.1%} of its test rows")
    for c in classes:
        if c["n"] >= MIN_CLASS_ROWS and c["predicted"] <= RARE_PREDICTION * c["n"]:
            how = "never predicts" if c["predicted"] == 0 else "almost never predicts"
            out.append(
                f"{model} {how} {c['label']!r}: {c['predicted']} test rows predicted as it, though "
                f"{c['n']} of {n} ({c['n'] / n:.0%}) are {c['label']!r} (it gets {c['correct']} of them right)"
            )
    acc, f1 = right / n, macro_f1(y, p)
    if acc - f1 >= F1_GAP:
        out.append(
            f"{model} macro F1 {f1:.4f} is far below its accuracy {acc:.4f}: some labels are mostly missed "
            f"(accuracy by label: " + ", ".join(f"{c['label']!r} {c['correct']}/{c['n']}" for c in classes) + ")"
        )
    return out


def class_gap_warnings(teacher: list[dict], student: list[dict], name: str = "the student") -> list[str]:
    """Labels on whose rows the student's accuracy is ``CLASS_GAP`` or more below the teacher's (both from
    ``per_class`` on the same rows)."""
    out = []
    for t, s in zip(teacher, student):
        if t["n"] >= MIN_CLASS_ROWS and t["accuracy"] is not None and t["accuracy"] - s["accuracy"] >= CLASS_GAP:
            out.append(
                f"{name} is much worse than the teacher on {s['label']!r}: {s['correct']} of {s['n']} right "
                f"({s['accuracy']:.0%}) against the teacher's {t['correct']} ({t['accuracy']:.0%})"
            )
    return out


def accuracy_by_label(labels, correct, names) -> list[dict]:
    """``per_class`` from which rows a model got right (no predictions needed; ``predicted`` is None)."""
    y, ok = torch.as_tensor(labels), torch.as_tensor(correct).bool()
    out = []
    for c, name in enumerate(names):
        rows = y == c
        n, right = int(rows.sum()), int((ok & rows).sum())
        out.append(
            {"label": str(name), "n": n, "predicted": None, "correct": right, "accuracy": right / n if n else None}
        )
    return out
