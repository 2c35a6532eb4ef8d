"""The objective: the weighted sum of the registered loss terms (``terms.py``), and one training forward pass.

    L = (1 - alpha) * CE  +  alpha * KD(T)  +  beta * PT   (+ every other registered term with a weight > 0)

as in Sun et al. (2019), eq. 7; each term's formula and scaling is in ``terms.py``. ``compute_loss`` runs the
student, asks the teacher (``teachers.py``: the cache, or the teacher run online) for what the objective's terms
read, and returns the parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .layer_maps import LayerMap
from .terms import KD_REDUCTIONS, PARAMS, TERMS, WEIGHTS, Need, Outputs, Term, check_values, kd_loss, patient_loss

__all__ = [
    "TERMS",
    "kd_loss",
    "patient_loss",
    "pool",
    "read_outputs",
    "Objective",
    "compute_loss",
    "KD_REDUCTIONS",
    "POOLINGS",
]

POOLINGS = ("cls", "mean")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per example from a layer's states (batch, tokens, hidden): the [CLS] state, or the mean over
    the tokens the attention mask keeps ([CLS] and [SEP] included, as sentence-transformers' mean pooling)."""
    if pooling == "cls":
        return hidden[:, 0]
    m = attention_mask.unsqueeze(-1).float()
    return (hidden.float() * m).sum(1) / m.sum(1).clamp(min=1)


def check_map_fits(layers, n_layers: int, what: str, first: int = 1) -> None:
    """Refuse 1-based ``layers`` (a layer map, or the student's layers 1..k-1) outside ``first``..``n_layers`` of
    ``what`` (``first`` 0: the embeddings' states too, which the teacher cache holds)."""
    if layers and (max(layers) > n_layers or min(layers) < first):
        raise ValueError(
            f"the objective reads layers {list(layers)} of {what}, which has {n_layers} layers; a layer map for a "
            f"k-layer student of an N-layer teacher is pkd_skip(N, k) or pkd_last(N, k), 1 <= k < N"
        )


def read_outputs(out: Any, attention_mask: torch.Tensor, need: Need, what: str = "the model") -> Outputs:
    """A Hugging Face model's outputs as the terms read them: the logits, and the pooled states and attention
    probabilities of ``need.layers`` (run with ``output_hidden_states`` / ``output_attentions`` as ``need`` says);
    ``what``: the side, as an error names it ("the student", "the teacher")."""
    states = attentions = None
    if need.states:
        check_map_fits(need.layers, len(out.hidden_states) - 1, what)
        states = torch.stack(
            [pool(out.hidden_states[layer], attention_mask, need.pooling) for layer in need.layers], dim=1
        )
    if need.attentions:
        if not getattr(out, "attentions", None):
            raise ValueError(
                "the model returned no attention maps (its attention implementation computes none, "
                "e.g. sdpa); switch it to eager attention first: pkdlib.models.eager_attention(model)"
            )
        check_map_fits(need.layers, len(out.attentions), what)
        attentions = torch.stack([out.attentions[layer - 1] for layer in need.layers], dim=1)
    return Outputs(out.logits, states, attentions)


def _fmt(x: float) -> str:
    return f"{x:g}"


class Objective:
    """``sum_t w_t * t`` over the registered terms (``terms.TERMS``) whose weight is > 0, with a fixed layer map
    and pooling for the terms that match intermediate layers.

    ``values`` are the terms' values by name (``terms.PARAMS``: alpha, temperature, kd_reduction, beta, normalize,
    ...); a weight not given is 0 (its term off), a setting not given its default. An unknown name is an error.
    ``str(obj)`` is the exact formula a run trained with, e.g.
    ``0.5*CE + 0.5*KD(T=10) + 100*PT(pkd_skip(6, 3) -> [2, 4], normalized)``.
    """

    def __init__(
        self, layer_map: LayerMap | None = None, pooling: str = "cls", ce_labelled_only: bool = False, **values: Any
    ) -> None:
        unknown = sorted(set(values) - set(PARAMS))
        if unknown:
            raise ValueError(
                f"unknown objective value(s) {', '.join(unknown)}; accepted: {', '.join(PARAMS)} "
                f"(and layer_map, pooling)"
            )
        self.values = {n: values.get(n, 0.0 if n in WEIGHTS else p.default) for n, p in PARAMS.items()}
        #: rows labelled -100 (unlabeled text) join KD and PT only: CE = sum over labelled rows / their count
        self.layer_map, self.pooling, self.ce_labelled_only = layer_map, pooling, ce_labelled_only
        check_values(self.values)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; accepted: {', '.join(POOLINGS)}")
        for t in self.shown:
            if t.matched and layer_map is None:
                raise ValueError(f"{t.weight} > 0 ({t.column}) needs a layer map (pkd-last or pkd-skip)")

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"Objective has no value {name!r}; its values: {', '.join(values)}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and (self.values, self.layer_map, self.pooling, self.ce_labelled_only) == (
            other.values,
            other.layer_map,
            other.pooling,
            other.ce_labelled_only,
        )

    def __repr__(self) -> str:
        return f"Objective({self})"

    @property
    def weights(self) -> dict[str, float]:
        """Every registered term's weight, by key."""
        return {t.key: (1 - self.values[t.weight]) if t.complement else self.values[t.weight] for t in TERMS.values()}

    @property
    def shown(self) -> list[Term]:
        """The terms in the objective (weight > 0), as printed."""
        w = self.weights
        return [t for t in TERMS.values() if w[t.key] > 0]

    @property
    def active(self) -> list[Term]:
        """The terms that enter the loss: weight > 0, and a matched layer for a term that matches layers."""
        return [t for t in self.shown if not t.matched or len(self.layer_map) > 0]

    @property
    def uses_teacher(self) -> bool:
        return any(t.teacher for t in self.active)

    def need(self, side: str) -> Need:
        """What the active terms read of ``side`` ("student" or "teacher") besides the logits: the student's layers
        1..P are matched to the teacher's ``layer_map``."""
        reads = set().union(*(getattr(t, side) for t in self.active))
        if not reads & {"states", "attentions"}:
            return Need(pooling=self.pooling)
        layers = tuple(self.layer_map) if side == "teacher" else tuple(range(1, len(self.layer_map) + 1))
        return Need(layers, self.pooling, "states" in reads, "attentions" in reads)

    def __str__(self) -> str:
        w = self.weights
        return " + ".join(f"{_fmt(w[t.key])}*{t.written(self)}" for t in self.shown) or "0"

    def weighted(self, parts: Mapping[str, Any]) -> dict:
        """The terms as they enter the loss: {'ce': (1-alpha)*CE, 'kd': alpha*KD, ...}, those with a weight > 0
        ('loss' left out). A part that is no registered term is an error, never dropped."""
        unknown = [k for k in parts if k != "loss" and k not in TERMS]
        if unknown:
            raise KeyError(f"part(s) {unknown} are no registered loss term; registered: {', '.join(TERMS)}")
        w = self.weights
        return {k: w[k] * v for k, v in parts.items() if k != "loss" and w[k] > 0}

    def parts(self, student: Outputs, teacher: Outputs | None, batch: Mapping) -> dict:
        """Each computed term's unweighted value by key (the active terms, and CE always) and 'loss', their
        weighted sum to back-propagate (summed in the registry's order)."""
        if teacher is None and self.uses_teacher:
            raise ValueError(f"the objective {self} reads the teacher's outputs, and no teacher was given")
        w, active, out, loss = self.weights, {t.key for t in self.active}, {}, None
        for t in TERMS.values():
            if t.key not in active and not t.always:
                continue
            v = out[t.key] = t.loss(student, teacher, batch, self)
            if loss is None:  # the first term starts the sum, at weight 0 when off (its graph is kept)
                loss = (w[t.key] if t.key in active else 0.0) * v
            elif t.key in active:
                loss = loss + w[t.key] * v
        out["loss"] = loss
        return out

    def __call__(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor | None = None,
        student_cls: torch.Tensor | None = None,
        teacher_cls: torch.Tensor | None = None,
    ) -> dict:
        """The parts from tensors of the paper's terms: 'loss' and the unweighted 'ce', 'kd', 'pt'.

        ``student_cls``/``teacher_cls``: (batch, matched_layers, hidden), already selected with
        the layer map (student layers 1..k-1, teacher layers ``layer_map``).
        """
        teacher = None if teacher_logits is None and teacher_cls is None else Outputs(teacher_logits, teacher_cls)
        return self.parts(Outputs(logits, student_cls), teacher, {"labels": labels})


def compute_loss(
    model: torch.nn.Module, batch: dict, objective: Objective, teacher: Any = None, amp: torch.dtype | None = None
) -> tuple[Any, dict]:
    """One forward pass of ``model`` on ``batch`` and the objective's parts: ``(outputs, parts)``.

    ``teacher.outputs(batch, need) -> Outputs`` (``teachers.Teacher``: the cache, or the teacher run online) gives
    what the objective's terms read of the teacher: the logits, and the pooled states ([CLS] or mean) or attention
    maps of the 1-based teacher layers ``objective.layer_map``, matched to the student's layers 1..k-1.
    """
    s_need, t_need = objective.need("student"), objective.need("teacher")
    k = getattr(getattr(getattr(model, "module", model), "config", None), "num_hidden_layers", None)
    matched = any(t.matched for t in objective.shown)  # a matched term's weight > 0: its map must fit (DDP: .module)
    if matched and k is not None and len(objective.layer_map) != k - 1:
        raise ValueError(
            f"the layer map {list(objective.layer_map)} matches {len(objective.layer_map)} student layers, the "
            f"student has {k} (a map matches layers 1..k-1): pkd_skip(N, {k}) or pkd_last(N, {k}) for an N-layer "
            f"teacher"
        )
    with torch.autocast(batch["input_ids"].device.type, dtype=amp or torch.float32, enabled=amp is not None):
        out = model(
            input_ids=batch["input_ids"],
            token_type_ids=batch["token_type_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=s_need.states,
            output_attentions=s_need.attentions,
        )
    t = teacher.outputs(batch, t_need) if teacher is not None and objective.uses_teacher else None
    return out, objective.parts(read_outputs(out, batch["attention_mask"], s_need, "the student"), t, batch)
