"""The PKD objective: cross-entropy, soft-target distillation and the patient loss.

    L = (1 - alpha) * CE  +  alpha * KD(T)  +  beta * PT

as in Sun et al. (2019), eq. 7, with the scaling of the official code (see
``shared/reference/PKD.md``): KD is multiplied by T**2, PT averages over batch x layers x hidden,
so the paper's beta grid (10..1000) keeps its meaning.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layer_maps import LayerMap

__all__ = ["kd_loss", "patient_loss", "Objective", "METHODS"]

#: Bumped when the meaning of any loss changes; part of every run's configuration hash.
OBJECTIVE_VERSION = 1


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            reduction: str = "batchmean") -> torch.Tensor:
    """Soft-target distillation loss (Hinton et al. 2015).

        KD = T**2 * KL( softmax(t / T) || softmax(s / T) )

    ``reduction='batchmean'`` (default) sums the KL over classes and averages over the batch: the
    true KL divergence per example. ``reduction='mean'`` is what the official PKD code used
    (``nn.KLDivLoss(reduction='mean')``): it averages over batch x classes, i.e. it is the
    ``batchmean`` value divided by the number of classes (1/2 for binary tasks, 1/3 for MNLI), so
    alpha and T tuned with one are not directly portable to the other.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if reduction not in ("batchmean", "mean"):
        raise ValueError(f"reduction must be 'batchmean' or 'mean', got {reduction!r}")
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    p_t = F.softmax(teacher_logits.float() / temperature, dim=-1)
    kl = F.kl_div(log_p_s, p_t, reduction="sum") / student_logits.shape[0]  # batchmean
    if reduction == "mean":
        kl = kl / student_logits.shape[-1]
    return kl * temperature ** 2


def patient_loss(student_cls: torch.Tensor, teacher_cls: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Patient loss on intermediate [CLS] states.

        PT = mean_{b, l, h} ( s'_{b,l,h} - t'_{b,l,h} )**2,   s' = s / ||s||_2  (if normalize)

    Inputs have shape (batch, matched_layers, hidden). The mean runs over all batch x layers x
    hidden entries, the official code's ``F.mse_loss`` scaling. With no matched layers
    (1-layer student) the loss is 0.
    """
    if student_cls.shape != teacher_cls.shape:
        raise ValueError(f"shape mismatch: student {tuple(student_cls.shape)} vs teacher {tuple(teacher_cls.shape)}")
    if student_cls.dim() != 3:
        raise ValueError(f"expected (batch, matched_layers, hidden), got shape {tuple(student_cls.shape)}")
    s, t = student_cls.float(), teacher_cls.float()
    if s.shape[1] == 0:
        return s.new_zeros(())
    if normalize:
        s, t = F.normalize(s, p=2, dim=-1), F.normalize(t, p=2, dim=-1)
    return F.mse_loss(s, t, reduction="mean")


#: method -> (uses KD, uses PT, layer map name)
METHODS = {
    "ft": (False, False, None),
    "kd": (True, False, None),
    "pkd-last": (True, True, "pkd_last"),
    "pkd-skip": (True, True, "pkd_skip"),
}


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass
class Objective:
    """``(1 - alpha) * CE + alpha * KD(T) + beta * PT`` with a fixed layer map.

    ``str(obj)`` is the exact formula a run trained with, e.g.
    ``0.5*CE + 0.5*KD(T=10) + 100*PT(pkd_skip(6, 3) -> [2, 4], normalized)``.
    """
    alpha: float = 0.0
    temperature: float = 1.0
    beta: float = 0.0
    normalize: bool = True
    layer_map: LayerMap | None = None
    kd_reduction: str = "batchmean"

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.beta > 0 and self.layer_map is None:
            raise ValueError("beta > 0 needs a layer map (pkd-last or pkd-skip)")

    @property
    def uses_teacher(self) -> bool:
        return self.alpha > 0 or self.beta > 0

    @property
    def uses_pt(self) -> bool:
        return self.beta > 0 and self.layer_map is not None and len(self.layer_map) > 0

    def __str__(self) -> str:
        terms = []
        if self.alpha < 1:
            terms.append(f"{_fmt(1 - self.alpha)}*CE")
        if self.alpha > 0:
            red = "" if self.kd_reduction == "batchmean" else f", {self.kd_reduction}"
            terms.append(f"{_fmt(self.alpha)}*KD(T={_fmt(self.temperature)}{red})")
        if self.beta > 0:
            norm = "normalized" if self.normalize else "raw"
            terms.append(f"{_fmt(self.beta)}*PT({self.layer_map!r}, {norm})")
        return " + ".join(terms) if terms else "0"

    def __call__(self, logits, labels, teacher_logits=None, student_cls=None, teacher_cls=None) -> dict:
        """Return a dict with 'loss' (to back-propagate) and the unweighted parts 'ce', 'kd', 'pt'.

        ``student_cls``/``teacher_cls``: (batch, matched_layers, hidden), already selected with
        the layer map (student layers 1..k-1, teacher layers ``layer_map``).
        """
        ce = F.cross_entropy(logits.float(), labels)
        out = {"ce": ce}
        loss = (1 - self.alpha) * ce if self.alpha < 1 else 0.0 * ce
        if self.alpha > 0:
            kd = kd_loss(logits, teacher_logits, self.temperature, self.kd_reduction)
            out["kd"] = kd
            loss = loss + self.alpha * kd
        if self.uses_pt:
            pt = patient_loss(student_cls, teacher_cls, self.normalize)
            out["pt"] = pt
            loss = loss + self.beta * pt
        out["loss"] = loss
        return out
