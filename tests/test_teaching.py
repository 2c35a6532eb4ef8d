"""The teaching helpers, and the teaching notebook through papermill with a short training time."""
import json

import numpy as np
import pytest
import torch
from conftest import ROOT

from pkdstudy.teaching import between_sentences, binary_kd, cls_cosine, layer_map_matrix, paper_vs_study, soft_targets


def test_soft_targets_flatten_with_temperature():
    st = soft_targets(torch.tensor([[4.0, 0.0]]), [1, 10])
    assert st[1][0, 0] > st[10][0, 0] > 0.5
    assert torch.allclose(st[10].sum(-1), torch.ones(1))


def test_binary_kd_is_pkdlibs_kd_and_a_margin_regression_at_high_temperature():
    from pkdlib.losses import kd_loss
    s = torch.tensor([[0.0, 1.5], [0.3, -2.0]])
    t = torch.tensor([0.5, 3.0])
    margins = s[:, 1] - s[:, 0]
    for T in (1.0, 10.0):
        by_margin = torch.stack([binary_kd(margins[i:i + 1], float(t[1] - t[0]), T)[0] for i in range(2)]).mean()
        assert torch.allclose(by_margin, kd_loss(s, t.expand(2, 2), T), rtol=1e-5)
    big = binary_kd(torch.tensor([2.0]), -1.0, 100.0)
    assert abs(float(big) - 9 / 8) < 0.01


def test_layer_map_matrix_puts_the_output_in_its_own_column():
    m = layer_map_matrix(6, 3, "pkd_skip")
    assert m.shape == (3, 7)
    assert m[0, 1] == 1 and m[1, 3] == 1 and m[2, 6] == 2 and m.sum() == 1 + 1 + 2
    assert layer_map_matrix(12, 6, "pkd_last")[4, 10] == 1


def test_cosines_same_and_different_sentences():
    s = torch.randn(3, 5, 8)
    c = cls_cosine(s, s)
    assert c.shape == (3, 3) and np.allclose(np.diag(c), 1.0, atol=1e-5)
    const = torch.ones(2, 6, 4) + 1e-3 * torch.randn(2, 6, 4)  # one vector for every sentence
    assert np.allclose(between_sentences(const), 1.0, atol=1e-3)
    assert (np.abs(between_sentences(const, centred=True)) < 0.5).all()


def test_paper_vs_study_reads_the_committed_claims():
    t = paper_vs_study(ROOT / "results")
    assert list(t["claim"]) == ["1a. KD beats fine-tuning", "1b. PKD beats KD",
                                "3. a smaller student keeps most of the teacher's accuracy"]
    assert t.iloc[0]["this study (14 seeds)"].startswith("+1.44") and t.iloc[0]["paper (SST-2, test)"] == 0.5


@pytest.mark.timeout(600)
@pytest.mark.slow
@pytest.mark.parametrize("knobs, present, absent", [
    ({"beta": 0.0, "alpha": 0.0, "student_layers": 1}, ["FT ", "KD "], ["PKD pkd", "pt: by hand", "kd: by hand"]),
    # the other knobs in one run (two executions keep the suite's time): PKD arms, every term by hand
    ({"layer_map": "pkd_last", "student_layers": 5, "temperature": 2.0},
     ["PKD pkd_last [CLS]", "PKD pkd_last mean", "pkd_last(6, 5)", "ce: by hand", "kd: by hand", "pt: by hand"], []),
])
def test_teaching_notebook_runs_with_each_knob(tmp_path, knobs, present, absent):
    from pkdstudy import notebooks
    out = tmp_path / "00_teaching.ipynb"
    # the committed study's teacher (its weights are committed): the notebook's first branch, as a reader meets it;
    # the branch that fine-tunes a teacher when none exists is run() on a teacher config, tested in test_study
    notebooks.execute("00_teaching", out, {"results_dir": str(ROOT / "results"), "work_dir": str(tmp_path / "w"),
                                            "steps": 3, **knobs}, cwd=ROOT)
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # soft targets + margin, layer maps, sentence similarity, comparison, centred cosines
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "using the study's teacher" in text and "teacher accuracy on the 1,066 dev sentences" in text
    assert "measured speed-up" in text and "dev accuracy" in text
    for p in present:
        assert p in text, p
    for a in absent:
        assert a not in text, a


def test_varying_share_is_zero_for_one_vector_and_large_for_random_states():
    from pkdstudy.teaching import varying_share
    assert varying_share(torch.ones(2, 6, 4))[0] == 0
    assert varying_share(torch.randn(2, 50, 16)).min() > 0.9
