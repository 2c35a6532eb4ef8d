"""Teachers behind one interface: ``outputs(batch, need) -> Outputs``, the teacher's logits and what the objective's
terms read of its layers (``terms.Need``: pooled states, attention maps). Two kinds, by name in ``TEACHERS``:

* ``cached``: the teacher cache of the training split (``cache.CachedTeacher``): computed once, memory-mapped,
  a batch gathers its rows; logits and pooled states only.
* ``online``: the fine-tuned teacher run on every batch (``OnlineTeacher``, eval mode, no gradient): anything the
  model computes, attention maps included, at the cost of a teacher forward pass per training step.

A method names its kind (``methods.Method.teacher``); a kind that cannot give what the method's terms read is
refused before any work (``check_teacher``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from .cache import CachedTeacher, blocks, compute_teacher_outputs, load_or_compute_teacher_outputs
from .data import TokenizedSplit
from .errors import KnownError
from .losses import read_outputs
from .models import eager_attention
from .terms import Need, Outputs

__all__ = [
    "Teacher",
    "OnlineTeacher",
    "CachedTeacher",
    "TeacherSource",
    "TeacherKind",
    "TEACHERS",
    "check_teacher",
    "TeacherError",
]


class TeacherError(KnownError, ValueError):
    """A teacher kind that is unknown, or cannot give what a method's terms read of the teacher."""


class Teacher(Protocol):
    """What training reads of a teacher: ``n_layers`` (its transformer layers) and, per batch, ``outputs``."""

    gives: frozenset  # what its outputs can hold besides the logits: "states", "attentions"

    @property
    def n_layers(self) -> int: ...

    def outputs(self, batch: dict, need: Need) -> Outputs: ...


class OnlineTeacher:
    """A fine-tuned teacher run on each batch, in eval mode (no dropout) and without gradient, in the run's autocast
    precision: its logits, pooled states and attention maps (its attention switched to eager when maps are read).
    The batch is already on the teacher's device."""

    gives = frozenset({"states", "attentions"})

    def __init__(self, model: torch.nn.Module, amp: torch.dtype | None = None):
        self.model, self.amp = model.eval(), amp

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @torch.no_grad()
    def outputs(self, batch: dict, need: Need) -> Outputs:
        if need.attentions:
            eager_attention(self.model)
        device = batch["input_ids"].device
        with torch.autocast(device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            out = self.model(
                input_ids=batch["input_ids"],
                token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=need.states,
                output_attentions=need.attentions,
            )
        return read_outputs(out, batch["attention_mask"], need, "the teacher")


@dataclass
class TeacherSource:
    """What a teacher is made from: the fine-tuned model (loaded when needed), the training split a cache covers,
    where caches live and the cache's key (``cache.teacher_cache_key``), the device and the autocast precision."""

    load: Callable[[], torch.nn.Module]
    toks: TokenizedSplit
    cache_dir: Path | None = None
    cache_key: str | None = None
    device: torch.device = torch.device("cpu")
    amp: torch.dtype | None = None
    progress: bool = True
    log: Callable[[str], object] = print
    need: Need | None = None  # what the objective reads of the teacher: the cache checks those blocks when opened


def cached_teacher(src: TeacherSource) -> CachedTeacher:
    """The teacher cache of ``src``'s training split: read, or computed once and written."""

    def compute():
        return compute_teacher_outputs(
            src.load().to(src.device), src.toks, 64, src.device, progress=src.progress, autocast_dtype=src.amp
        )

    uses = blocks(src.need or Need())  # checked when the cache opens
    return load_or_compute_teacher_outputs(src.cache_dir, src.cache_key, compute, log=src.log, uses=uses).to(src.device)


def online_teacher(src: TeacherSource) -> OnlineTeacher:
    return OnlineTeacher(src.load().to(src.device), src.amp)


@dataclass(frozen=True)
class TeacherKind:
    make: Callable[[TeacherSource], Teacher]
    gives: frozenset  # what its outputs can hold besides the logits
    cached: bool  # reads the teacher cache of the run's training split (its key is in the record's provenance)


#: the teacher kinds by name (a method's ``teacher``)
TEACHERS: dict[str, TeacherKind] = {
    "cached": TeacherKind(cached_teacher, CachedTeacher.gives, cached=True),
    "online": TeacherKind(online_teacher, OnlineTeacher.gives, cached=False),
}


def check_teacher(kind: str, need: Need) -> None:
    """Refuse a teacher kind that is not registered, or cannot give what the objective reads of the teacher."""
    if kind not in TEACHERS:
        raise TeacherError(f"teacher {kind!r} is not accepted; accepted: {', '.join(TEACHERS)}")
    reads = {r for r, on in (("states", need.states), ("attentions", need.attentions)) if on}
    if lacks := reads - TEACHERS[kind].gives:
        able = [k for k, v in TEACHERS.items() if reads <= v.gives]
        raise TeacherError(
            f"the {kind} teacher cannot give the teacher's {', '.join(sorted(lacks))}, which the "
            f"objective reads; accepted for it: {', '.join(able) or 'none'}"
        )
