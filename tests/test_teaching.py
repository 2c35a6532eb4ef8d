"""The teaching helpers, and the teaching notebook through papermill with a short training time."""
import json

import numpy as np
import pytest
import torch
from conftest import ROOT

from pkdstudy.teaching import cls_cosine, layer_map_matrix, soft_targets


def test_soft_targets_flatten_with_temperature():
    st = soft_targets(torch.tensor([[4.0, 0.0]]), [1, 10])
    assert st[1][0, 0] > st[10][0, 0] > 0.5
    assert torch.allclose(st[10].sum(-1), torch.ones(1))


def test_layer_map_matrix():
    m = layer_map_matrix(6, 3, "pkd_skip")
    assert m.shape == (3, 6)
    assert m[0, 1] == 1 and m[1, 3] == 1 and m[2, 5] == 2 and m.sum() == 1 + 1 + 2
    assert layer_map_matrix(12, 6, "pkd_last")[4, 10] == 1


def test_cls_cosine():
    s = torch.randn(3, 5, 8)
    c = cls_cosine(s, s)
    assert c.shape == (3, 3) and np.allclose(np.diag(c), 1.0, atol=1e-5)


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_teaching_notebook_runs(tmp_path):
    from pkdstudy import notebooks
    out = tmp_path / "00_teaching.ipynb"
    # the committed study's teacher (its weights are committed): the notebook's first branch, as a reader meets it;
    # the branch that fine-tunes a teacher when none exists is run() on a teacher config, tested in test_study
    notebooks.execute("00_teaching", out, {"results_dir": str(ROOT / "results"), "work_dir": str(tmp_path / "w"),
                                            "train_seconds": 5}, cwd=ROOT)
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # soft targets, layer maps, live training curves (one updated display), heatmaps
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "by hand" in text and "pkdlib" in text and "using the study's teacher" in text
