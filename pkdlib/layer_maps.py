"""Which teacher layer each intermediate student layer learns from (the patient loss's map).

Index convention (one, used everywhere in pkdlib): layers are **1-based**. Teacher layer ``i``
is the output of the i-th transformer block, i.e. ``hidden_states[i]`` of a Hugging Face model
(``hidden_states[0]`` is the embedding output, which is never matched). A map for an
``n_student``-layer student lists the teacher layers matched to student layers ``1 .. k-1``;
student layer ``k`` (the last) is taught through the logits by the KD term instead.

Rules, for ``N = n_teacher`` and ``k = n_student`` with ``1 <= k < N``:

* PKD-Skip: student layer ``j`` learns from teacher layer ``floor(j * N / k)``. When ``k`` divides
  ``N`` this is every (N/k)-th layer, the paper's rule: ``pkd_skip(12, 6) -> [2, 4, 6, 8, 10]``.
  When it does not, the layers are spread as evenly as integer layers allow, rounding down:
  ``pkd_skip(6, 4) -> [1, 3, 4]``.
* PKD-Last: the ``k-1`` teacher layers just below the top: ``pkd_last(12, 6) -> [7, 8, 9, 10, 11]``.
* PKD-Bottom (not in the paper; the layer-choice question): the ``k-1`` lowest teacher layers,
  ``pkd_bottom(12, 6) -> [1, 2, 3, 4, 5]``.

A 1-layer student has no intermediate layer, so both maps are empty (PKD reduces to KD).
"""

from __future__ import annotations

__all__ = ["LayerMap", "pkd_skip", "pkd_last", "pkd_bottom", "layer_map", "LAYER_MAPS", "check_student_layers"]


class LayerMap(list):
    """A list of 1-based teacher layers that also knows its name and shape.

    Compares equal to a plain list (``pkd_skip(12, 6) == [2, 4, 6, 8, 10]``) and prints as
    ``pkd_skip(12, 6) -> [2, 4, 6, 8, 10]``.
    """

    def __init__(self, name: str, n_teacher: int, n_student: int, layers):
        super().__init__(layers)
        self.name, self.n_teacher, self.n_student = name, n_teacher, n_student

    def __repr__(self) -> str:
        return f"{self.name}({self.n_teacher}, {self.n_student}) -> {list(self)}"

    __str__ = __repr__

    def pairs(self) -> list[tuple[int, int]]:
        """(student layer, teacher layer) pairs, both 1-based."""
        return [(j + 1, t) for j, t in enumerate(self)]


def check_student_layers(n_teacher: int, n_student: int) -> None:
    """The one check of a student size: 1 <= k < N (raises ValueError naming both)."""
    for name, v in (("n_teacher", n_teacher), ("n_student", n_student)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if n_teacher < 2:
        raise ValueError(f"the teacher needs at least 2 layers to be compressed, got n_teacher={n_teacher}")
    if not 1 <= n_student < n_teacher:
        raise ValueError(
            f"student layers must be in 1..{n_teacher - 1} for a {n_teacher}-layer teacher, got {n_student}"
        )


def pkd_skip(n_teacher: int, n_student: int) -> LayerMap:
    """PKD-Skip: student layer j <- teacher layer floor(j * N / k), j = 1..k-1."""
    check_student_layers(n_teacher, n_student)
    return LayerMap("pkd_skip", n_teacher, n_student, [(j * n_teacher) // n_student for j in range(1, n_student)])


def pkd_last(n_teacher: int, n_student: int) -> LayerMap:
    """PKD-Last: student layer j <- teacher layer N - k + j, j = 1..k-1."""
    check_student_layers(n_teacher, n_student)
    return LayerMap("pkd_last", n_teacher, n_student, list(range(n_teacher - n_student + 1, n_teacher)))


def pkd_bottom(n_teacher: int, n_student: int) -> LayerMap:
    """A third choice beside Skip and Last: student layer j <- teacher layer j, the k-1 lowest teacher layers."""
    check_student_layers(n_teacher, n_student)
    return LayerMap("pkd_bottom", n_teacher, n_student, list(range(1, n_student)))


LAYER_MAPS = {"pkd_skip": pkd_skip, "pkd_last": pkd_last, "pkd_bottom": pkd_bottom}


def layer_map(name: str, n_teacher: int, n_student: int) -> LayerMap:
    """Look a map up by name ('pkd_skip' / 'pkd_last', dashes accepted)."""
    key = name.replace("-", "_")
    if key not in LAYER_MAPS:
        raise ValueError(f"unknown layer map {name!r}; known: {sorted(LAYER_MAPS)}")
    return LAYER_MAPS[key](n_teacher, n_student)
