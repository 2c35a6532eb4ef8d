"""The int8 gate (pkdlib/quantize.py): a paired exact test decides, agreement and size are reported, the fallbacks are
tried before a refusal, and a refused file is not left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pkdlib.quantize import FALLBACKS, agreement, excluded_nodes, int8_gate, loss_shown, mcnemar, quantize


def test_exact_mcnemar_golden_values():
    ones = torch.ones(100, dtype=torch.bool)
    one_flip = ones.clone()
    one_flip[0] = False
    t = mcnemar(ones, one_flip)  # the 1,000-row case of the issue: one flipped row of 100
    assert (t["ref_only_correct"], t["new_only_correct"], t["p_value"], t["accuracy_change_points"]) == (
        1,
        0,
        1.0,
        -1.0,
    )
    assert not loss_shown(t)
    ten = ones.clone()
    ten[:10] = False
    t = mcnemar(ones, ten)
    assert t["p_value"] == pytest.approx(2 * 0.5**10) and loss_shown(t)  # 0.00195: shown
    ref = torch.tensor([1] * 8 + [0] * 2 + [1] * 90).bool()
    new = torch.tensor([0] * 8 + [1] * 2 + [1] * 90).bool()
    t = mcnemar(ref, new)
    assert t["p_value"] == pytest.approx(2 * (1 + 10 + 45) / 1024) and not loss_shown(t)  # 8 vs 2: 0.109, not shown
    assert mcnemar(ones, ones)["p_value"] == 1.0
    assert not loss_shown(mcnemar(ten, ones))  # int8 *better* at p < 0.05 is no loss
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar(ones, ones[:5])


def test_agreement_is_argmax_agreement_and_largest_logit_difference():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    b = a.clone()
    b[0] = torch.tensor([0.0, 0.5])  # one flipped argmax, a difference of 1.0
    assert agreement(a, b) == {"agreement": 0.75, "max_abs_logit_diff": 1.0}


def _constructed(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    ref = torch.nn.functional.one_hot(labels, 2).float() * 2 - 1  # fp32: right on every row
    ref[:30] = -ref[:30]  # ... except 30 rows (accuracy 0.85)
    return ref, labels


def _flip(ref, rows):
    out = ref.clone()
    out[rows] = -out[rows]
    return out


def _files(tmp_path, outcomes):
    """A fake quantiser writing one file per setting and scoring it with the logits given for that setting."""
    made = []

    def make(setting):
        p = tmp_path / f"int8-{len(made)}.onnx"
        p.write_bytes(b"x" * 2**20)
        made.append(p)
        return p

    return make, (lambda p: outcomes[made.index(p)]), made


def test_the_gate_keeps_a_model_whose_change_is_noise(tmp_path):
    ref, labels = _constructed()
    noisy = _flip(ref, [40, 41, 0])  # two right rows lost, one wrong row gained: -0.5 points, p = 1
    make, score, made = _files(tmp_path, [noisy] * len(FALLBACKS))
    c = int8_gate(ref, labels, make, score, log=lambda *a: None)
    assert c["kept"] and c["setting"] == "per-tensor" and len(c["attempts"]) == 1 and made[0].exists()
    assert c["accuracy_change_points"] == -0.5 and c["p_value"] == 1.0 and c["agreement"] == 1 - 3 / 200
    assert c["size_mib"] == 1.0 and c["max_abs_logit_diff"] == 2.0


def test_the_gate_refuses_a_model_whose_loss_is_shown_after_every_fallback(tmp_path):
    ref, labels = _constructed()
    bad = _flip(ref, list(range(30, 50)))  # 20 right rows lost, none gained: -10 points, p = 2**-19
    make, score, made = _files(tmp_path, [bad] * len(FALLBACKS))
    lines = []
    c = int8_gate(ref, labels, make, score, log=lines.append)
    assert not c["kept"] and "every setting loses accuracy" in c["refused_because"]
    assert [a["setting"] for a in c["attempts"]] == [f[0] for f in FALLBACKS]
    assert c["p_value"] == pytest.approx(2 * 0.5**20) and not any(p.exists() for p in made)
    assert len(lines) == len(FALLBACKS) and "exact McNemar p" in lines[0]


def test_a_fallback_that_passes_is_kept_and_named(tmp_path):
    ref, labels = _constructed()
    outcomes = [_flip(ref, list(range(30, 50))), _flip(ref, list(range(30, 50))), _flip(ref, [31])]
    make, score, made = _files(tmp_path, outcomes)
    c = int8_gate(ref, labels, make, score, log=lambda *a: None)
    assert c["kept"] and c["setting"] == "per-channel, embeddings fp32" and len(c["attempts"]) == 3
    assert [p.exists() for p in made] == [False, False, True]


def test_fallback_settings_exclude_the_right_onnx_nodes_and_run(tmp_path):
    import onnxruntime as ort
    from conftest import save_tiny_bert
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pkdlib.export import Exported, onnx_export, onnx_logits, torch_logits

    path = save_tiny_bert(tmp_path / "bert", layers=3)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    data = Exported(
        [("good fun movie",), ("a dull boring plot",)] * 4,
        torch.tensor([1, 0] * 4),
        AutoTokenizer.from_pretrained(path),
        32,
    )
    onnx_path = tmp_path / "onnx" / "model.onnx"
    onnx_export(model, data, onnx_path)
    emb = excluded_nodes(onnx_path, embeddings=True, last_layer=False)
    assert "/bert/embeddings/word_embeddings/Gather" in emb and not any("/encoder/" in n for n in emb)
    last = excluded_nodes(onnx_path, embeddings=False, last_layer=True)
    assert "/bert/encoder/layer.2/attention/self/query/MatMul" in last and "/classifier/Gemm" in last
    assert not any("layer.1/" in n or "/embeddings/" in n for n in last)
    ref = torch_logits(model, data)
    for setting in FALLBACKS:
        q = quantize(onnx_path, tmp_path / "onnx" / "q.onnx", setting)
        ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
        assert (onnx_logits(q, data) - ref).abs().max() < 0.5  # a working int8 model of the same network
    assert Path(q).stat().st_size > 0


def test_exact_binomial_is_scipys_without_scipy():
    """The int8 gate's McNemar p is written by hand (the library installs without scipy): it equals scipy's exact
    two-sided binomial test at 1/2 for every k of every n up to 60."""
    from scipy.stats import binomtest

    from pkdlib.quantize import binomial_two_sided

    for n in range(1, 61):
        for k in range(n + 1):
            assert binomial_two_sided(k, n) == pytest.approx(binomtest(k, n, 0.5).pvalue, abs=1e-12)
