"""The embedded default end to end on a 200-example slice of rt: teacher -> cache -> four methods."""

import pytest

from pkdlib import RunConfig
from pkdlib.runs import run

QUIET = dict(progress=False, log=lambda *a: None)

pytestmark = pytest.mark.slow  # minutes: left out of the fast subset (-m 'not slow')


def test_embedded_teacher_and_students_on_a_slice_of_rt(ws):
    common = dict(task="rt", max_train_examples=200, max_eval_examples=100, epochs=1, device="cpu")
    teacher = run(RunConfig(method="teacher", lr=1e-4, **common), ws, **QUIET)
    assert teacher["n_teacher_layers"] == 6 and teacher["data"]["train"]["n"] == 200
    assert teacher["parameters"]["transformer"] == 6 * 1774464
    for method, layer_map in [("ft", None), ("kd", None), ("pkd-last", [4, 5]), ("pkd-skip", [2, 4])]:
        rec = run(
            RunConfig(method=method, student_layers=3, teacher_dir=teacher["model_dir"], lr=2e-4, **common), ws, **QUIET
        )
        assert rec["layer_map"] == layer_map
        assert rec["parameters"]["transformer"] == 3 * 1774464
        e = rec["epochs"][0]  # the recorded loss is 0.5*CE + 0.5*KD + 100*PT of the recorded parts
        alpha = 0.0 if method == "ft" else 0.5
        want = (1 - alpha) * e["train_ce"] + alpha * e.get("train_kd", 0) + 100 * e.get("train_pt", 0)
        assert e["train_loss"] == pytest.approx(want, rel=1e-5) and ("train_pt" in e) == (layer_map is not None)
        assert rec["test"]["test"]["n"] == 100
    assert len(list(ws.cache.glob("teacher-*.pt"))) == 1  # one cache, read by kd, pkd-last and pkd-skip
