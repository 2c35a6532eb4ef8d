"""The methods of the study, as data: one row each, read by config, training, study, report and profiles.

A new method is one row here (plus its layer map in ``layer_maps.LAYER_MAPS`` if it matches new layers).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    label: str                    # in tables and figures
    uses_teacher: bool            # the KD term, read from the teacher cache
    layer_map: str | None = None  # the patient loss's map (layer_maps.LAYER_MAPS); None: no patient loss
    student: bool = True          # False: the teacher's own fine-tuning
    pooling: str = "cls"          # what the patient loss matches per layer: "cls" (the paper's) or "mean" (tokens)
    in_paper: bool = False        # one of the paper's methods (Sun et al. 2019, Table 1 and 2)

    @property
    def uses_pt(self) -> bool:
        return self.layer_map is not None


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("teacher", "teacher", uses_teacher=False, student=False, in_paper=True),
    Method("ft", "FT", uses_teacher=False, in_paper=True),
    Method("kd", "KD", uses_teacher=True, in_paper=True),
    Method("pkd-last", "PKD-Last", uses_teacher=True, layer_map="pkd_last", in_paper=True),
    Method("pkd-skip", "PKD-Skip", uses_teacher=True, layer_map="pkd_skip", in_paper=True),
    Method("pkd-bottom", "PKD-Bottom", uses_teacher=True, layer_map="pkd_bottom"),  # beyond the paper
    # beyond the paper: PKD-Skip on each layer's mean over tokens (attention mask), the pooling a sentence-embedding
    # teacher such as all-MiniLM-L6-v2 was trained with, whose intermediate [CLS] states are near constant
    Method("pkd-mean", "PKD-Skip-Mean", uses_teacher=True, layer_map="pkd_skip", pooling="mean"),
)}
STUDENT_METHODS = tuple(n for n, m in METHODS.items() if m.student)
PAPER_STUDENT_METHODS = tuple(n for n, m in METHODS.items() if m.student and m.in_paper)  # ft, kd, pkd-last, pkd-skip
LABELS = {n: m.label for n, m in METHODS.items()}
