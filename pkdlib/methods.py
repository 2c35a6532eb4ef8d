"""The methods of the study, as data: one row each, read by config, training, study, report and profiles.

A method is its loss terms (keys of ``terms.TERMS``), the layer map of the terms that match intermediate layers,
and the teacher that gives what they read (``teachers.TEACHERS``). A new method is one row here (plus its layer
map in ``layer_maps.LAYER_MAPS`` if it matches new layers, its term in ``terms.py`` if it adds one).
"""

from __future__ import annotations

from dataclasses import dataclass

from .terms import TERMS

CE, KD, PKD = ("ce",), ("ce", "kd"), ("ce", "kd", "pt")


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # in tables and figures
    terms: tuple[str, ...] = CE  # its loss terms (terms.TERMS), in the registry's order
    layer_map: str | None = None  # the matched terms' map (layer_maps.LAYER_MAPS); None: no matched term
    student: bool = True  # False: the teacher's own fine-tuning
    pooling: str = "cls"  # what the patient loss matches per layer: "cls" (the paper's) or "mean" (tokens)
    in_paper: bool = False  # one of the paper's methods (Sun et al. 2019, Table 1 and 2)
    teacher: str = "cached"  # the teacher kind that gives what its terms read (teachers.TEACHERS)

    def __post_init__(self):
        unknown = [t for t in self.terms if t not in TERMS]
        if unknown:
            raise ValueError(f"method {self.name!r}: unknown loss term(s) {unknown}; registered: {', '.join(TERMS)}")
        if self.terms != tuple(t for t in TERMS if t in self.terms):
            raise ValueError(f"method {self.name!r}: terms {self.terms} must be in the registry's order {tuple(TERMS)}")
        if any(TERMS[t].matched for t in self.terms) != (self.layer_map is not None):
            raise ValueError(f"method {self.name!r}: a layer map goes with a term that matches layers, and only then")

    @property
    def uses_teacher(self) -> bool:
        """One of its terms reads the teacher (the KD term, the patient loss, ...)."""
        return any(TERMS[t].teacher for t in self.terms)

    @property
    def uses_pt(self) -> bool:
        return "pt" in self.terms


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("teacher", "teacher", CE, student=False, in_paper=True),
        Method("ft", "FT", CE, in_paper=True),
        Method("kd", "KD", KD, in_paper=True),
        Method("pkd-last", "PKD-Last", PKD, layer_map="pkd_last", in_paper=True),
        Method("pkd-skip", "PKD-Skip", PKD, layer_map="pkd_skip", in_paper=True),
        Method("pkd-bottom", "PKD-Bottom", PKD, layer_map="pkd_bottom"),  # beyond the paper
        # beyond the paper: PKD-Skip on each layer's mean over tokens (attention mask), the pooling a sentence-embedding
        # teacher such as all-MiniLM-L6-v2 was trained with, whose intermediate [CLS] states are near constant
        Method("pkd-mean", "PKD-Skip-Mean", PKD, layer_map="pkd_skip", pooling="mean"),
        # beyond the paper: TinyBERT's attention transfer with KD, on PKD-Skip's layers; maps are not cached: online
        Method("at", "KD+AT", ("ce", "kd", "at"), layer_map="pkd_skip", teacher="online"),
    )
}
STUDENT_METHODS = tuple(n for n, m in METHODS.items() if m.student)
PAPER_STUDENT_METHODS = tuple(n for n, m in METHODS.items() if m.student and m.in_paper)  # ft, kd, pkd-last, pkd-skip
LABELS = {n: m.label for n, m in METHODS.items()}
