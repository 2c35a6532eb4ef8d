import pytest

from pkdlib import ConfigError, RunConfig


@pytest.mark.parametrize("kw, msg", [
    ({"task": "sst-2"}, "unknown task 'sst-2'; known tasks: rt, imdb"),
    ({"method": "pkd"}, "unknown method 'pkd'; known methods: teacher, ft, kd, pkd-last, pkd-skip"),
    ({"alpha": 1.2}, r"alpha=1.2 is outside \[0, 1\]"),
    ({"alpha": -0.5}, "alpha=-0.5 is outside"),
    ({"temperature": 0.0}, "temperature=0.0 must be > 0"),
    ({"beta": -10.0}, "beta=-10.0 must be >= 0"),
    ({"student_layers": 0}, "at least 1 layer"),
    ({"teacher_dir": None}, "needs teacher_dir"),
    ({"epochs": "3"}, "epochs='3' has type str; expected int"),
    ({"normalize": "yes"}, "expected bool"),
    ({"beta": 0.0}, "plain KD"),
    ({"precision": "int8"}, "accepted: fp32, bf16"),
    ({"init": "half"}, "accepted: pretrained, teacher, random"),
])
def test_bad_values_are_named(kw, msg):
    base = {"method": "pkd-skip", "teacher_dir": "somewhere"}
    with pytest.raises(ConfigError, match=msg):
        RunConfig(**{**base, **kw})


def test_unknown_parameter_suggests_the_right_one():
    with pytest.raises(ConfigError, match="'temprature' \\(did you mean 'temperature'\\?\\)"):
        RunConfig.from_dict({"temprature": 5})


def test_canonical_forms():
    ft = RunConfig(method="ft", teacher_dir="x", alpha=0.7, beta=500.0, temperature=20.0)
    assert (ft.alpha, ft.beta, ft.temperature) == (0.0, 0.0, 1.0)
    kd = RunConfig(method="kd", teacher_dir="x", beta=500.0)
    assert kd.beta == 0.0 and kd.alpha == 0.5
    assert RunConfig(method="teacher").max_length == 64
    assert RunConfig(method="teacher", task="imdb").max_length == 256
    assert RunConfig(method="teacher", task="mnli").max_length == 128


def test_layer_count_checked_against_the_model(tiny_bert):
    for k in (4, 9):
        cfg = RunConfig(method="kd", teacher_dir=str(tiny_bert), pretrained=str(tiny_bert), student_layers=k)
        with pytest.raises(ConfigError, match=r"student_layers=\d: must be in 1..3 for a 4-layer teacher"):
            cfg.check_models()


def test_missing_model_path(tmp_path):
    cfg = RunConfig(method="teacher", pretrained=str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="does not exist"):
        cfg.check_models()
