"""The loss-term registry and the teachers behind one interface: what a term declares reaches the objective, the
configuration, the CLI and the records; a term without a weight is refused; both teachers give the same outputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pkdlib import Objective, RunConfig, pkd_skip
from pkdlib.identity import FIELDS_V1
from pkdlib.methods import METHODS, Method
from pkdlib.terms import PARAMS, TERMS, Outputs, Param, Term, _registry


def _term(key="xx", weight="delta", params=()):
    return Term(
        key,
        key.upper(),
        weight=weight,
        formula="XX = 0",
        loss=lambda s, t, b, o: s.logits.sum() * 0,
        written=lambda o: key.upper(),
        params=params,
    )


def test_a_term_whose_weight_no_term_declares_is_refused_not_dropped():
    with pytest.raises(ValueError, match="loss term 'xx' is weighted by 'delta', which no term declares"):
        _registry(*TERMS.values(), _term())
    with pytest.raises(ValueError, match="declared once"):
        _registry(*TERMS.values(), _term("kd", "alpha"))
    with pytest.raises(ValueError, match="declared by two loss terms"):
        _registry(*TERMS.values(), _term("xx", "beta", (PARAMS["beta"],)))
    delta = Param("delta", "float", 1.0, "x weight", unused=1.0)
    assert list(_registry(*TERMS.values(), _term(params=(delta,)))) == [*TERMS, "xx"]


def test_every_term_value_is_a_config_field_and_an_added_one_moves_no_identity():
    """A value added after results version 1 is recorded at its default by every method without its term, so it
    never enters an existing run's identity (identity.py leaves a new field out at its default)."""
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    for name, p in PARAMS.items():
        assert fields[name].default == p.default and fields[name].type == p.type
        assert name in FIELDS_V1 or p.unused == p.default, name
    assert [n for n in fields if n in PARAMS] == list(PARAMS)  # after init, in the registry's order
    assert list(fields)[list(fields).index("init") + 1] == next(iter(PARAMS))


def test_the_objective_takes_named_values_only_and_refuses_unknown_parts():
    with pytest.raises(ValueError, match="unknown objective value.*betta"):
        Objective(betta=1.0)
    obj = Objective(alpha=0.5, temperature=2.0, beta=10.0, layer_map=pkd_skip(6, 3))
    assert obj.weights == {"ce": 0.5, "kd": 0.5, "pt": 10.0, **{k: 0.0 for k in TERMS if k not in ("ce", "kd", "pt")}}
    assert obj.weighted({"ce": 2.0, "pt": 1.0, "loss": 9.0}) == {"ce": 1.0, "pt": 10.0}
    with pytest.raises(KeyError, match="no registered loss term"):
        obj.weighted({"ce": 1.0, "xx": 1.0})
    assert obj.temperature == 2.0 and Objective().temperature == PARAMS["temperature"].default
    with pytest.raises(ValueError, match="reads the teacher's outputs, and no teacher was given"):
        obj(torch.zeros(2, 2), torch.tensor([0, 1]))


def test_a_method_names_registered_terms_and_a_map_only_for_matched_terms():
    with pytest.raises(ValueError, match="unknown loss term"):
        Method("x", "X", ("ce", "xx"))
    with pytest.raises(ValueError, match="a layer map goes with a term that matches layers"):
        Method("x", "X", ("ce", "kd"), layer_map="pkd_skip")
    with pytest.raises(ValueError, match="a layer map goes with"):
        Method("x", "X", ("ce", "kd", "pt"))
    assert [m for m, x in METHODS.items() if x.uses_teacher] == [m for m in METHODS if m not in ("teacher", "ft")]


def test_each_methods_teacher_gives_what_its_terms_read():
    from pkdlib.runs import build_objective
    from pkdlib.teachers import TEACHERS, TeacherError, check_teacher
    from pkdlib.terms import Need

    for name, m in METHODS.items():
        if m.student:
            cfg = RunConfig(method=name, teacher_dir="t", student_layers=3)
            check_teacher(m.teacher, build_objective(cfg, 6).need("teacher"))
            assert set(build_objective(cfg, 6).need("student").layers) <= {1, 2}
    with pytest.raises(
        TeacherError, match="the cached teacher cannot give the teacher's attentions.*accepted for it: online"
    ):
        check_teacher("cached", Need((2,), attentions=True))
    with pytest.raises(TeacherError, match="teacher 'remote' is not accepted; accepted: cached, online"):
        check_teacher("remote", Need())
    assert TEACHERS["cached"].cached and not TEACHERS["online"].cached


def test_a_required_term_at_weight_zero_names_the_method_it_would_be():
    from pkdlib import ConfigError

    with pytest.raises(
        ConfigError, match=r"method 'pkd-last' with beta=0 is plain KD; use method='kd' or set beta > 0"
    ):
        RunConfig(method="pkd-last", teacher_dir="t", beta=0.0)


def test_pkd_train_help_lists_every_term_with_its_weight_and_formula(capsys):
    from pkdlib.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for t in TERMS.values():
        assert " ".join(t.formula.split()) in out and f"--{t.weight.replace('_', '-')}" in out


def test_the_online_teacher_gives_the_caches_outputs(tiny_bert, tiny_csv):
    """The same fine-tuned model, cached over the split or run on the batch: the same logits and pooled states."""
    from pkdlib.cache import compute_teacher_outputs
    from pkdlib.data import collate, load_task, tokenize_split
    from pkdlib.models import load_classifier, load_tokenizer
    from pkdlib.teachers import OnlineTeacher
    from pkdlib.terms import Need

    model = load_classifier(str(tiny_bert), 2).eval()
    ts = tokenize_split(load_task("rt", "train", tiny_csv).head(40), load_tokenizer(str(tiny_bert)), 32)
    cached = compute_teacher_outputs(model, ts, 16, torch.device("cpu"), progress=False)
    batch = collate(ts, [3, 0, 17, 39])
    for pooling in ("cls", "mean"):
        need = Need((1, 3), pooling, states=True)
        a, b = cached.outputs(batch, need), OnlineTeacher(model).outputs(batch, need)
        assert isinstance(a, Outputs) and a.states.shape == b.states.shape == (4, 2, 32)
        assert torch.allclose(a.logits, b.logits, atol=1e-5) and torch.allclose(a.states, b.states, atol=1e-5)
    assert cached.outputs(batch, Need()).states is None and cached.n_layers == OnlineTeacher(model).n_layers == 4
