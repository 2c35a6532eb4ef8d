"""The PKD objective: cross-entropy, soft-target distillation and the patient loss.

    L = (1 - alpha) * CE  +  alpha * KD(T)  +  beta * PT

as in Sun et al. (2019), eq. 7, with the scaling of the official code
(github.com/intersun/PKD-for-BERT-Model-Compression): KD is multiplied by T**2, PT averages over
batch x layers x hidden, so the paper's beta grid (10..1000) keeps its meaning. Teacher inputs are
targets: the loss terms detach them, so no gradient reaches a teacher run online.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layer_maps import LayerMap

#: the loss terms, named once: key -> how it is written in the objective (read by training, records, report)
TERMS = {"ce": "CE", "kd": "KD", "pt": "PT"}

__all__ = ["TERMS", "kd_loss", "patient_loss", "Objective", "compute_loss", "check_weights"]


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
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    p_t = F.softmax(teacher_logits.detach().float() / temperature, dim=-1)
    kl = F.kl_div(log_p_s, p_t, reduction="sum") / student_logits.shape[0]  # batchmean
    if reduction == "mean":
        kl = kl / student_logits.shape[-1]
    return kl * temperature ** 2


POOLINGS = ("cls", "mean")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per example from a layer's states (batch, tokens, hidden): the [CLS] state, or the mean over
    the tokens the attention mask keeps ([CLS] and [SEP] included, as sentence-transformers' mean pooling)."""
    if pooling == "cls":
        return hidden[:, 0]
    m = attention_mask.unsqueeze(-1).float()
    return (hidden.float() * m).sum(1) / m.sum(1).clamp(min=1)


def patient_loss(student_cls: torch.Tensor, teacher_cls: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Patient loss on intermediate states ([CLS], or each layer's mean-pooled state for PKD-Skip-Mean).

        PT = mean_{b, l, h} ( s'_{b,l,h} - t'_{b,l,h} )**2,   s' = s / ||s||_2  (if normalize)

    Inputs have shape (batch, matched_layers, hidden). The mean runs over all batch x layers x
    hidden entries, the official code's ``F.mse_loss`` scaling. With no matched layers
    (1-layer student) the loss is 0.
    """
    if student_cls.shape != teacher_cls.shape:
        raise ValueError(f"shape mismatch: student {tuple(student_cls.shape)} vs teacher {tuple(teacher_cls.shape)}")
    if student_cls.dim() != 3:
        raise ValueError(f"expected (batch, matched_layers, hidden), got shape {tuple(student_cls.shape)}")
    s, t = student_cls.float(), teacher_cls.detach().float()
    if s.shape[1] == 0:
        return s.new_zeros(())
    if normalize:
        s, t = F.normalize(s, p=2, dim=-1), F.normalize(t, p=2, dim=-1)
    return F.mse_loss(s, t, reduction="mean")


KD_REDUCTIONS = ("batchmean", "mean")


def check_weights(alpha: float, temperature: float, beta: float, kd_reduction: str = "batchmean") -> None:
    """The one check of the objective's values (raises ValueError saying what is accepted)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} is outside [0, 1]")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    if not beta >= 0:
        raise ValueError(f"beta={beta} must be >= 0")
    if kd_reduction not in KD_REDUCTIONS:
        raise ValueError(f"kd_reduction={kd_reduction!r}; accepted: {', '.join(KD_REDUCTIONS)}")


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
    pooling: str = "cls"
    #: rows labelled -100 (unlabeled text) join KD and PT only: CE = sum over labelled rows / their count (0 if none)
    ce_labelled_only: bool = False

    def __post_init__(self):
        check_weights(self.alpha, self.temperature, self.beta, self.kd_reduction)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r}; accepted: {', '.join(POOLINGS)}")
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
            terms.append(f"{_fmt(1 - self.alpha)}*CE" + ("(labelled rows)" if self.ce_labelled_only else ""))
        if self.alpha > 0:
            red = "" if self.kd_reduction == "batchmean" else f", {self.kd_reduction}"
            terms.append(f"{_fmt(self.alpha)}*KD(T={_fmt(self.temperature)}{red})")
        if self.beta > 0:
            norm = ("" if self.pooling == "cls" else "mean-pooled, ") + ("normalized" if self.normalize else "raw")
            terms.append(f"{_fmt(self.beta)}*PT({self.layer_map!r}, {norm})")
        return " + ".join(terms) if terms else "0"

    def weighted(self, parts: dict) -> dict:
        """The terms as they enter the loss: {'ce': (1-alpha)*CE, 'kd': alpha*KD, 'pt': beta*PT} (those present)."""
        w = dict(zip(TERMS, (1 - self.alpha, self.alpha, self.beta)))
        return {k: w[k] * v for k, v in parts.items() if k in w and w[k] > 0}

    def __call__(self, logits, labels, teacher_logits=None, student_cls=None, teacher_cls=None) -> dict:
        """Return a dict with 'loss' (to back-propagate) and the unweighted parts 'ce', 'kd', 'pt'.

        ``student_cls``/``teacher_cls``: (batch, matched_layers, hidden), already selected with
        the layer map (student layers 1..k-1, teacher layers ``layer_map``).
        """
        if self.ce_labelled_only:  # a batch of unlabeled rows only has CE 0 (and a zero, not NaN, gradient)
            ce = F.cross_entropy(logits.float(), labels, reduction="sum") / (labels != -100).sum().clamp(min=1)
        else:
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


def compute_loss(model, batch: dict, objective: Objective, teacher=None, amp=None):
    """One forward pass of ``model`` on ``batch`` and the objective's parts: ``(outputs, parts)``.

    ``teacher(batch, layers, pooling) -> (logits, states)`` gives the teacher's logits and the pooled states
    ([CLS] or mean) of the 1-based teacher ``layers`` (the cache's ``TeacherOutputs``, or a teacher run online).
    Student layers 1..k-1, pooled alike, are matched to ``objective.layer_map`` (PT), the logits through KD.
    """
    with torch.autocast(batch["input_ids"].device.type, dtype=amp or torch.float32, enabled=amp is not None):
        out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                    attention_mask=batch["attention_mask"], output_hidden_states=objective.uses_pt)
    t_logits = s_cls = t_cls = None
    layers = list(objective.layer_map) if objective.uses_pt else []
    if teacher is not None and objective.uses_teacher:
        t_logits, t_cls = teacher(batch, layers, objective.pooling)
    if objective.uses_pt:
        s_cls = torch.stack([pool(out.hidden_states[j], batch["attention_mask"], objective.pooling)
                             for j in range(1, len(layers) + 1)], dim=1)
    return out, objective(out.logits, batch["labels"], t_logits, s_cls, t_cls)
