"""Golden values computed by hand (see the comments) for the three loss terms and the objective."""

import math

import pytest
import torch

from pkdlib import Objective, kd_loss, patient_loss, pkd_skip

S = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
T = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
# T=2: row 1 p_s = softmax(.5, 1) = (.3775, .6225), p_t = softmax(1, 0) = (.7311, .2689), KL = .25762;
#      row 2 p_s = (.3775, .6225), p_t = (.5, .5), KL = .03096.  Sum .28858.
KD_BATCHMEAN = 0.5766659364541055  # .28858 / 2 rows * T^2
KD_MEAN = 0.28833296822705273  # .28858 / (2 rows * 2 classes) * T^2


def test_kd_loss_golden():
    assert kd_loss(S, T, 2.0).item() == pytest.approx(KD_BATCHMEAN, rel=1e-6)
    assert kd_loss(S, T, 2.0, reduction="mean").item() == pytest.approx(KD_MEAN, rel=1e-6)


def test_kd_loss_zero_when_equal_and_positive_otherwise():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    assert kd_loss(x, x, 7.0).item() == pytest.approx(0.0, abs=1e-5)  # float32 rounding times T**2
    assert kd_loss(x, x.flip(0), 7.0).item() > 0


def test_one_check_of_the_weights_used_by_objective_and_config():
    from pkdlib import ConfigError, RunConfig
    from pkdlib.terms import check_values

    for bad, msg in [
        ((0.5, 0.0, 1.0), "temperature"),
        ((1.5, 1.0, 1.0), "alpha"),
        ((0.5, 1.0, -1.0), "beta"),
        ((0.5, float("nan"), 1.0), "temperature"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_values(dict(zip(("alpha", "temperature", "beta"), bad)))
    with pytest.raises(ConfigError, match="temperature=0.0 must be > 0"):
        RunConfig(method="kd", teacher_dir="x", temperature=0.0)


# student [CLS] (batch 1, 2 layers, hidden 2): (3, 4), (1, 0); teacher (0, 1), (1, 0)
PS = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
PT = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])


def test_patient_loss_golden():
    # normalised: (.6, .8) vs (0, 1) -> .36 + .04 = .4; second pair 0; mean over 1x2x2 = .1
    assert patient_loss(PS, PT, normalize=True).item() == pytest.approx(0.1, rel=1e-6)
    # raw: 9 + 9 = 18 over 4 entries = 4.5
    assert patient_loss(PS, PT, normalize=False).item() == pytest.approx(4.5, rel=1e-6)


def test_patient_loss_scaling_is_a_mean_over_hidden():
    a, b = torch.randn(4, 2, 8), torch.randn(4, 2, 8)
    assert patient_loss(a, b, False).item() == pytest.approx(((a - b) ** 2).mean().item(), rel=1e-6)
    # repeating along hidden does not change a mean (a sum would double)
    assert patient_loss(a.repeat(1, 1, 2), b.repeat(1, 1, 2), False).item() == pytest.approx(
        patient_loss(a, b, False).item(), rel=1e-6
    )


def test_patient_loss_empty_and_shape_errors():
    assert patient_loss(torch.zeros(3, 0, 4), torch.zeros(3, 0, 4)).item() == 0.0
    with pytest.raises(ValueError, match="shape"):
        patient_loss(torch.zeros(3, 2, 4), torch.zeros(3, 1, 4))
    with pytest.raises(ValueError, match="batch, matched_layers, hidden"):
        patient_loss(torch.zeros(3, 4), torch.zeros(3, 4))


def test_objective_golden_and_printable():
    obj = Objective(alpha=0.5, temperature=2.0, beta=100.0, normalize=True, layer_map=pkd_skip(6, 3))
    labels = torch.tensor([1, 0])
    # CE: row 1 -log softmax(1,2)[1] = .31326; row 2 -log softmax(0,1)[0] = 1.31326; mean .81326
    ce = (-math.log(math.exp(2) / (math.exp(1) + math.exp(2))) - math.log(1 / (1 + math.e))) / 2
    out = obj(S, labels, T, PS.expand(2, 2, 2), PT.expand(2, 2, 2))
    assert out["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert out["kd"].item() == pytest.approx(KD_BATCHMEAN, rel=1e-6)
    assert out["pt"].item() == pytest.approx(0.1, rel=1e-6)
    assert out["loss"].item() == pytest.approx(0.5 * ce + 0.5 * KD_BATCHMEAN + 100 * 0.1, rel=1e-6)
    assert str(obj) == "0.5*CE + 0.5*KD(T=2) + 100*PT(pkd_skip(6, 3) -> [2, 4], normalized)"
    assert str(Objective()) == "1*CE"
    assert str(Objective(alpha=0.7, temperature=10, kd_reduction="mean")) == "0.3*CE + 0.7*KD(T=10, mean)"


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"temperature": 0}, "temperature"),
        ({"beta": -1}, "beta"),
        ({"beta": 10}, "layer map"),
    ],
)
def test_objective_rejects_bad_weights(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Objective(**kw)


def test_objective_gradients_flow_to_student_only():
    s = S.clone().requires_grad_()
    cls = PS.expand(2, 2, 2).clone().requires_grad_()
    obj = Objective(alpha=0.5, temperature=2.0, beta=10.0, layer_map=pkd_skip(6, 3))
    obj(s, torch.tensor([1, 0]), T, cls, PT.expand(2, 2, 2))["loss"].backward()
    assert s.grad is not None and cls.grad is not None and cls.grad.abs().sum() > 0


def test_no_gradient_reaches_teacher_inputs():
    """Teacher logits and [CLS] states are targets: even when they require grad (a teacher run online
    without inference mode), the loss terms detach them."""
    s, cls = S.clone().requires_grad_(), PS.expand(2, 2, 2).clone().requires_grad_()
    t_logits, t_cls = T.clone().requires_grad_(), PT.expand(2, 2, 2).clone().requires_grad_()
    obj = Objective(alpha=0.5, temperature=2.0, beta=10.0, layer_map=pkd_skip(6, 3))
    obj(s, torch.tensor([1, 0]), t_logits, cls, t_cls)["loss"].backward()
    assert s.grad.abs().sum() > 0 and cls.grad.abs().sum() > 0
    assert t_logits.grad is None and t_cls.grad is None


def test_mean_pooling_over_the_attention_mask_by_hand():
    from pkdlib.losses import pool

    h = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)  # batch 2, 3 tokens, hidden 2
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(pool(h, mask, "cls"), h[:, 0])
    assert torch.allclose(pool(h, mask, "mean"), torch.tensor([[1.0, 2.0], [8.0, 9.0]]))


def test_pkd_mean_matches_mean_pooled_states_and_says_so():
    from pkdlib.layer_maps import pkd_skip
    from pkdlib.losses import Objective, compute_loss
    from pkdlib.methods import METHODS
    from pkdlib.terms import Outputs

    assert METHODS["pkd-mean"].pooling == "mean" and METHODS["pkd-mean"].layer_map == "pkd_skip"
    obj = Objective(alpha=0.5, temperature=2.0, beta=10.0, layer_map=pkd_skip(4, 2), pooling="mean")
    assert "mean-pooled" in str(obj)
    torch.manual_seed(0)
    hidden = [torch.randn(2, 3, 4) for _ in range(3)]
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    t_states = torch.randn(2, 5, 4)

    class Out:
        logits, hidden_states = torch.randn(2, 2), hidden

    batch = {
        "input_ids": torch.zeros(2, 3, dtype=torch.long),
        "token_type_ids": torch.zeros(2, 3, dtype=torch.long),
        "attention_mask": mask,
        "labels": torch.tensor([0, 1]),
        "index": torch.tensor([0, 1]),
    }

    class Teacher:  # the teachers.Teacher interface
        def outputs(self, b, need):
            return Outputs(torch.randn(2, 2), t_states[:, list(need.layers)])

    teacher = Teacher()
    _, parts = compute_loss(lambda **kw: Out, batch, obj, teacher)
    s = torch.stack([(hidden[1] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)], dim=1)
    t = t_states[:, [2]]
    want = ((s / s.norm(dim=-1, keepdim=True) - t / t.norm(dim=-1, keepdim=True)) ** 2).mean()
    assert torch.allclose(parts["pt"], want)


def test_the_paper_profile_trains_the_official_objective():
    """Every student of `--profile paper` (best official configuration per task) computes the official code's loss:
    (1-alpha) CE + alpha T^2 KLDivLoss(reduction='mean')(log_softmax(s/T), softmax(t/T)) + beta MSE-mean of the
    L2-normalised [CLS] states of the PKD-Skip layers (or unnormalised, as the configuration says)."""
    import torch.nn.functional as F

    from pkdlib import RunConfig
    from pkdlib.runs import build_objective
    from pkdstudy.plan import _students
    from pkdstudy.profiles import PROFILES

    torch.manual_seed(0)
    s, t, y = torch.randn(8, 3), torch.randn(8, 3), torch.randint(0, 3, (8,))
    s_cls, t_cls = torch.randn(8, 5, 16), torch.randn(8, 5, 16)
    checked = 0
    for task in ("sst2", "mnli", "rte"):
        for it in _students("paper", PROFILES["paper"], task, "best", {}, 768):
            c = {**it.params["config"], "teacher_dir": "teacher"}
            assert c["kd_reduction"] == "mean" and c["precision"] == "auto"
            cfg = RunConfig.from_dict(c)
            if cfg.method != "pkd-skip":
                continue
            obj = build_objective(cfg, 12)
            T, a, b = cfg.temperature, cfg.alpha, cfg.beta
            kd = torch.nn.KLDivLoss(reduction="mean")(F.log_softmax(s / T, -1), F.softmax(t / T, -1)) * T * T
            sn, tn = (F.normalize(s_cls, dim=-1), F.normalize(t_cls, dim=-1)) if cfg.normalize else (s_cls, t_cls)
            official = (1 - a) * F.cross_entropy(s, y) + a * kd + b * F.mse_loss(sn, tn)
            got = obj(s, y, t, s_cls, t_cls)["loss"]
            assert torch.allclose(got, official, rtol=1e-5), (task, cfg.student_layers, got, official)
            checked += 1
    assert checked == 18  # 3 tasks x 2 sizes x 3 seeds
