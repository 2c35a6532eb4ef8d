"""The loss terms, one registry. Each term declares its key, its weight (a ``RunConfig`` field), what it reads of
the student's and the teacher's outputs, its formula, how the objective prints it, its Table 4 column and its own
settings; ``losses.Objective`` sums the registered terms, ``RunConfig`` and ``pkd train`` get their fields, every
record keeps each term's share of the loss and of the gradient, and the report's Table 4 shows them. A new term is
one ``Term`` here and its key in a method's ``terms`` (``methods.py``): see docs/extending.md.

    L = sum over terms of  weight * term:   (1 - alpha) * CE  +  alpha * KD(T)  +  beta * PT

as in Sun et al. (2019), eq. 7, with the scaling of the official code
(github.com/intersun/PKD-for-BERT-Model-Compression): KD is multiplied by T**2, PT averages over
batch x layers x hidden, so the paper's beta grid (10..1000) keeps its meaning. Teacher inputs are
targets: every term detaches them, so no gradient reaches a teacher run online.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "Param",
    "Term",
    "Outputs",
    "Need",
    "TERMS",
    "PARAMS",
    "WEIGHTS",
    "KD_REDUCTIONS",
    "kd_loss",
    "patient_loss",
    "attention_loss",
    "check_values",
]

KD_REDUCTIONS = ("batchmean", "mean")


@dataclass(frozen=True)
class Param:
    """One of a term's values: a ``RunConfig`` field and an option of ``pkd train`` (help and accepted values here).

    ``default``: a run's value when not given. ``unused``: the value recorded by a run whose method lacks the term
    (``RunConfig.canonicalize``), so equal runs have equal configurations; a field added after results version 1
    must have ``unused == default``, or it would enter every existing run's identity (``identity.py``).
    ``check(value)``: what is wrong with a value (printed after ``name=value``), or None. ``label(value)``: how the
    report's hyper-parameter labels and the dry run name it (None: not named)."""

    name: str
    type: str
    default: object
    help: str
    unused: object
    check: Callable[[object], str | None] | None = None
    choices: tuple | None = None
    label: Callable[[object], str] | None = None


@dataclass
class Outputs:
    """One side's outputs for a batch, what the terms read: ``logits`` (b, C); ``states`` (b, P, H), the pooled
    states of the P matched layers; ``attentions`` (b, P, heads, L, L), their attention probabilities (query x
    key). None: not asked for."""

    logits: torch.Tensor | None
    states: torch.Tensor | None = None
    attentions: torch.Tensor | None = None


@dataclass(frozen=True)
class Need:
    """What an objective reads of one side besides the logits: the pooled states (``pooling``: "cls" or "mean")
    and/or the attention probabilities of ``layers``, 1-based (layer l: ``hidden_states[l]``, ``attentions[l-1]``)."""

    layers: tuple[int, ...] = ()
    pooling: str = "cls"
    states: bool = False
    attentions: bool = False


@dataclass(frozen=True)
class Term:
    """One loss term. ``loss(student, teacher, batch, objective)`` is its unweighted value (a scalar tensor) from
    the two sides' ``Outputs``, the batch (labels, attention mask) and the objective (its settings by name)."""

    key: str  # the part's name: parts, records (train_<key>, loss_share[key]), the report
    column: str  # how it is written: in the objective, and Table 4's "<column> loss (%)"
    weight: str  # the Param that weights it
    formula: str  # its definition (pkd train --help, docs)
    loss: Callable[[Outputs, Outputs | None, Mapping, object], torch.Tensor]
    written: Callable[[object], str]  # objective -> how the printed objective writes it, after its weight
    student: frozenset = frozenset({"logits"})  # what it reads of the student: logits, states, attentions
    teacher: frozenset = frozenset()  # ... and of the teacher
    params: tuple[Param, ...] = ()  # its own values (its weight and settings)
    complement: bool = False  # its weight is 1 - the field (CE: 1 - alpha)
    always: bool = False  # computed and recorded even at weight 0 (CE: the task's own loss)
    required: bool = True  # a method with the term needs its weight > 0 (else it is the method without it)

    @property
    def matched(self) -> bool:
        """It reads intermediate layers: it needs a layer map, and with no matched layer (a 1-layer student) it is
        not computed."""
        return bool((self.student | self.teacher) & {"states", "attentions"})

    def __str__(self) -> str:
        return self.column


def _fmt(x: float) -> str:
    return f"{x:g}"


def unit_interval(v: float) -> str | None:
    return None if 0.0 <= v <= 1.0 else "is outside [0, 1]"


def positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


# ---------------------------------------------------------------- the paper's terms


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, reduction: str = "batchmean"
) -> torch.Tensor:
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
    return kl * temperature**2


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


def _ce(s: Outputs, t: Outputs | None, batch: Mapping, o) -> torch.Tensor:
    labels = batch["labels"]
    if getattr(o, "ce_labelled_only", False):  # rows labelled -100 (unlabeled text): sum over labelled / their count
        return F.cross_entropy(s.logits.float(), labels, reduction="sum") / (labels != -100).sum().clamp(min=1)
    return F.cross_entropy(s.logits.float(), labels)


def _kd(s: Outputs, t: Outputs | None, batch: Mapping, o) -> torch.Tensor:
    return kd_loss(s.logits, t.logits, o.temperature, o.kd_reduction)


def _pt(s: Outputs, t: Outputs | None, batch: Mapping, o) -> torch.Tensor:
    return patient_loss(s.states, t.states, o.normalize)


CE = Term(
    "ce",
    "CE",
    weight="alpha",
    complement=True,
    always=True,
    required=False,
    loss=_ce,
    formula="CE = cross-entropy of the student's logits with the labels, mean over the batch",
    written=lambda o: "CE" + ("(labelled rows)" if getattr(o, "ce_labelled_only", False) else ""),
)
KD = Term(
    "kd",
    "KD",
    weight="alpha",
    required=False,
    loss=_kd,
    teacher=frozenset({"logits"}),
    formula="KD = T^2 * KL(softmax(t/T) || softmax(s/T)) of the logits, summed over classes, mean over the "
    "batch (kd_reduction=mean: also over classes, the official code's)",
    written=lambda o: (
        f"KD(T={_fmt(o.temperature)}" + ("" if o.kd_reduction == "batchmean" else f", {o.kd_reduction}") + ")"
    ),
    params=(
        Param(
            "temperature",
            "float",
            10.0,
            "KD temperature T, > 0",
            unused=1.0,
            check=positive,
            label=lambda v: f"T {v:g}",
        ),
        Param(
            "alpha",
            "float",
            0.5,
            "KD weight alpha in [0, 1]: (1-alpha)*CE + alpha*KD",
            unused=0.0,
            check=unit_interval,
            label=lambda v: f"alpha {v:g}",
        ),
        Param(
            "kd_reduction",
            "str",
            "batchmean",
            "KL reduction (mean: the official code's, / classes)",
            unused="batchmean",
            choices=KD_REDUCTIONS,
        ),
    ),
)
PT = Term(
    "pt",
    "PT",
    weight="beta",
    loss=_pt,
    student=frozenset({"states"}),
    teacher=frozenset({"states"}),
    formula="PT = mean over batch x matched layers x hidden of (s/|s| - t/|t|)^2, the pooled states ([CLS], "
    "or the mean over tokens) of student layers 1..k-1 and of the teacher's mapped layers "
    "(normalize=false: the raw states)",
    written=lambda o: (
        f"PT({o.layer_map!r}, "
        + ("" if o.pooling == "cls" else "mean-pooled, ")
        + ("normalized" if o.normalize else "raw")
        + ")"
    ),
    params=(
        Param(
            "beta",
            "float",
            100.0,
            "patient loss weight beta, >= 0 (> 0 for pkd-*)",
            unused=0.0,
            check=non_negative,
            label=lambda v: f"beta {v:g}",
        ),
        Param(
            "normalize",
            "bool",
            True,
            "L2-normalise [CLS] states in the patient loss",
            unused=False,
            label=lambda v: "normalised" if v else "unnormalised",
        ),
    ),
)


# ---------------------------------------------------------------- beyond the paper


def attention_loss(student_att: torch.Tensor, teacher_att: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Attention transfer: TinyBERT's attention loss (Jiao et al. 2020, section 3.1) on attention probabilities.

        AT = sum_{p,b,h,q,k} m_{b,q} m_{b,k} (S_{b,p,h,q,k} - T_{b,p,h,q,k})**2  /  (P * H * sum_b n_b**2)

    Inputs (batch, P matched layers, H heads, L, L): the attention probabilities (softmax over keys k, each query q a
    row) of student layer p (1..k-1) and of the teacher layer the layer map matches to it; m the attention mask (1: a
    real token, [CLS] and [SEP] included), n_b = sum_q m_{b,q}. So AT is the mean squared difference over the matched
    layers, the batch, the heads and every (query, key) pair of real tokens: padded queries and keys are left out, and
    the value does not depend on how much a batch is padded. TinyBERT itself fits the unnormalised scores
    QK^T / sqrt(d) (its paper says so), averages over the padded L x L too, and sums over layers where this averages.
    Student and teacher need the same number of heads (a student built from the teacher's layers has it). With no
    matched layer (1-layer student) it is 0.
    """
    if student_att.shape != teacher_att.shape:
        raise ValueError(
            f"attention shape mismatch: student {tuple(student_att.shape)} vs teacher "
            f"{tuple(teacher_att.shape)} (batch, layers, heads, tokens, tokens): the same heads are needed"
        )
    if student_att.dim() != 5 or attention_mask.shape != (student_att.shape[0], student_att.shape[-1]):
        raise ValueError(
            f"expected (batch, matched_layers, heads, tokens, tokens) and a (batch, tokens) mask, got "
            f"{tuple(student_att.shape)} and {tuple(attention_mask.shape)}"
        )
    s, t = student_att.float(), teacher_att.detach().float()
    if s.shape[1] == 0:
        return s.new_zeros(())
    m = attention_mask.float()
    pairs = m[:, None, None, :, None] * m[:, None, None, None, :]  # (b, 1, 1, L, L): 1 where query and key are real
    return ((s - t) ** 2 * pairs).sum() / (pairs.sum() * s.shape[1] * s.shape[2])


def _at(s: Outputs, t: Outputs | None, batch: Mapping, o) -> torch.Tensor:
    return attention_loss(s.attentions, t.attentions, batch["attention_mask"])


AT = Term(
    "at",
    "AT",
    weight="gamma",
    loss=_at,
    student=frozenset({"attentions"}),
    teacher=frozenset({"attentions"}),
    formula="AT = mean over matched layers x batch x heads x (query, key) pairs of real tokens of (A_s - A_t)^2, "
    "the attention probabilities of student layers 1..k-1 and of the teacher's mapped layers "
    "(TinyBERT's attention loss)",
    written=lambda o: f"AT({o.layer_map!r})",
    params=(
        Param(
            "gamma",
            "float",
            1.0,
            "attention-transfer weight gamma, >= 0 (> 0 for at)",
            unused=1.0,
            check=non_negative,
            label=lambda v: f"gamma {v:g}",
        ),
    ),
)


def _registry(*terms: Term) -> dict[str, Term]:
    """The terms by key, in the order they are summed and recorded, checked: keys and values declared once, every
    weight a declared value (a term without a weight is an error, never dropped)."""
    reg, params = {}, {}
    for t in terms:
        if t.key in reg or not t.key.isalnum() or t.key != t.key.lower():
            raise ValueError(
                f"loss term {t.key!r}: a key is lower-case letters and digits (it names record fields "
                f"such as train_<key>), declared once"
            )
        for p in t.params:
            if p.name in params:
                raise ValueError(f"value {p.name!r} is declared by two loss terms")
            params[p.name] = p
        reg[t.key] = t
    for t in terms:
        if t.weight not in params:
            raise ValueError(
                f"loss term {t.key!r} is weighted by {t.weight!r}, which no term declares; declare it "
                f"as a Param of the term (declared: {', '.join(params) or 'none'})"
            )
    return reg


#: every loss term, by key, in the order the objective sums them and the records list them
TERMS: dict[str, Term] = _registry(CE, KD, PT, AT)
#: every term's values by name (RunConfig fields, in this order)
PARAMS: dict[str, Param] = {p.name: p for t in TERMS.values() for p in t.params}
#: the values that weight a term (in an Objective not given: 0, the term off)
WEIGHTS: frozenset[str] = frozenset(t.weight for t in TERMS.values())


def check_values(values: Mapping[str, object]) -> None:
    """The one check of the objective's values, by name (raises ValueError saying what is accepted)."""
    for name, v in values.items():
        p = PARAMS[name]
        if p.choices and v not in p.choices:
            raise ValueError(f"{name}={v!r} is not accepted; accepted: {', '.join(p.choices)}")
        if p.check and (wrong := p.check(v)):
            raise ValueError(f"{name}={v} {wrong}")
