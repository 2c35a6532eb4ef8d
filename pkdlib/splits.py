"""What a split is, shared by the built-in tasks (``data.py``) and your own tables (``tables.py``): a task's
description (``TaskSpec``), the examples of one split (``Split``, with the checksum every run records), the
deterministic stratified cut of a labelled set into train/dev/test, and the data error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import KnownError

__all__ = ["DataError", "TaskSpec", "Split", "SPLIT_SEED", "stratified_split"]

#: the seed of every hash-based split (embedded tasks and a user's tables alike)
SPLIT_SEED = "pkd-study-v1"


class DataError(KnownError, ValueError):
    """Raised for bad or unavailable data, with a message saying what is wrong and what is accepted."""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    num_labels: int
    text_keys: tuple  # one key (single sentence) or two (sentence pair)
    metrics: tuple  # first one is the model-selection metric
    source: str  # 'embedded' or 'glue'
    dev_splits: tuple = ("dev",)
    test_splits: tuple = ("test",)
    label_names: tuple = ()


@dataclass
class Split:
    """Raw examples of one split: ids, texts (one tuple per example) and integer labels (-1: hidden)."""

    task: str
    name: str
    ids: list
    texts: list
    labels: list
    by_content: bool = False  # local files (a user's table, data_dir=): the checksum covers texts, labels, label names
    label_names: tuple = ()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def checksum(self) -> str:
        ids = hashlib.sha256("\n".join(map(str, self.ids)).encode()).hexdigest()
        if not self.by_content:
            return ids
        return hashlib.sha256(repr((ids, self.texts, self.labels, tuple(self.label_names))).encode()).hexdigest()

    def head(self, n: int | None) -> Split:
        """The first n examples (a reproducible slice: the split order is itself deterministic)."""
        if n is None or n >= len(self):
            return self
        return Split(
            self.task, self.name, self.ids[:n], self.texts[:n], self.labels[:n], self.by_content, self.label_names
        )


def stratified_split(
    ids: list, labels: list, dev_frac: float, test_frac: float, seed: str = SPLIT_SEED
) -> dict[str, list]:
    """Rank ids by sha256(seed:id) within each label; per label take test, then dev, rest is train."""
    classes = sorted(set(labels))
    out = {"train": [], "dev": [], "test": []}
    for c in classes:
        members = [i for i, y in zip(ids, labels) if y == c]
        members.sort(key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
        share_test = round(test_frac * len(members))
        share_dev = round(dev_frac * len(members))
        out["test"] += members[:share_test]
        out["dev"] += members[share_test : share_test + share_dev]
        out["train"] += members[share_test + share_dev :]
    for k in out:  # a stable, label-interleaved order, also by hash
        out[k].sort(key=lambda i: hashlib.sha256(f"{seed}:order:{i}".encode()).hexdigest())
    return out
