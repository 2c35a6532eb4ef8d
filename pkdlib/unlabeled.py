"""Unlabeled text for distillation (``unlabeled_file``): the teacher's outputs on it join the student's KD and patient
terms, while cross-entropy stays on the labelled rows.

The rows are read like ``train_file`` (same formats, the task's text columns; any label column is ignored) and get
the label ``UNLABELED`` (-100, which ``torch.nn.functional.cross_entropy`` ignores). They are appended to the training
split after its labelled rows: the teacher cache covers both, the length-bucketed batches mix them, and the loss is
``(1 - alpha) * CE(labelled rows of the batch) + alpha * KD(all rows) + beta * PT(all rows)`` (``losses.Objective``
with ``ce_labelled_only``). A row whose text is a dev or test row (compared by content: sha256 of the lower-cased,
whitespace-normalised text) is refused before any work: a student must not be distilled on its test rows.
"""

from __future__ import annotations

import hashlib

import torch

from .data import DataError, Split, TokenizedSplit
from .tables import _texts, read_table

__all__ = ["UNLABELED", "text_key", "load_unlabeled", "with_unlabeled"]

UNLABELED = -100


def text_key(text: tuple) -> str:
    """A row's content hash: sha256 of its texts, lower-cased and whitespace-normalised, joined by a unit separator."""
    return hashlib.sha256("\x1f".join(" ".join(str(t).lower().split()) for t in text).encode()).hexdigest()


def load_unlabeled(path: str, spec, splits: dict) -> Split:
    """The rows of ``path`` (a run's ``unlabeled_file``) as a split labelled ``UNLABELED``; refused when one is a dev
    or test row of ``splits``."""
    where = f"{path} (unlabeled)"
    df = read_table(path)
    texts = _texts(df, tuple(spec.text_keys), where)
    held_out = {
        text_key(t): (name, i) for name, sp in splits.items() if name != "train" for i, t in zip(sp.ids, sp.texts)
    }
    leaks = [(row, held_out[k]) for row, t in enumerate(texts) if (k := text_key(t)) in held_out]
    if leaks:
        row, (name, i) = leaks[0]
        raise DataError(
            f"{where}: {len(leaks)} rows are rows of the {', '.join(sorted({n for _, (n, _) in leaks}))} "
            f"split(s) (same text, compared lower-cased and whitespace-normalised; first: its row {row} is "
            f"{name} row {i}: {texts[row][0][:80]!r}); remove them: a student must not learn from the rows "
            f"it is tested on"
        )
    return Split(
        spec.name,
        "unlabeled",
        list(df.index),
        texts,
        [UNLABELED] * len(texts),
        by_content=True,
        label_names=tuple(spec.label_names),
    )


def with_unlabeled(train: TokenizedSplit, unlabeled: TokenizedSplit) -> TokenizedSplit:
    """The training tokens followed by the unlabeled rows' (labels ``UNLABELED``)."""
    return TokenizedSplit(
        list(train.input_ids) + list(unlabeled.input_ids),
        list(train.token_type_ids) + list(unlabeled.token_type_ids),
        torch.cat([train.labels, unlabeled.labels]),
        train.tokenizer,
    )
