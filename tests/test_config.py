import json
import subprocess
import sys

import pytest
from conftest import teacher_argv

from pkdlib import ConfigError, RunConfig


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"task": "sst-2"}, "task='sst-2' is not accepted; accepted: rt, imdb"),
        ({"method": "pkd"}, "method='pkd' is not accepted; accepted: teacher, ft, kd, pkd-last, pkd-skip"),
        ({"alpha": 1.2}, r"alpha=1.2 is outside \[0, 1\]"),
        ({"alpha": -0.5}, "alpha=-0.5 is outside"),
        ({"temperature": 0.0}, "temperature=0.0 must be > 0"),
        ({"beta": -10.0}, "beta=-10.0 must be >= 0"),
        ({"student_layers": 0}, "at least 1 layer"),
        ({"teacher_dir": None}, "needs teacher_dir"),
        ({"epochs": "3"}, "epochs='3' is not accepted; expected int"),
        ({"beta": float("nan")}, "beta=nan is not accepted .must be a finite number"),
        ({"temperature": float("inf")}, "temperature=inf is not accepted"),
        ({"lr": float("nan")}, "lr=nan"),
        ({"max_grad_norm": float("-inf")}, "max_grad_norm=-inf"),
        ({"max_length": 1}, r"max_length=1: at least 3 \(\[CLS\], one token, \[SEP\]\)"),
        ({"device": "tpu"}, "device='tpu' is not available on this machine; accepted here: auto, cpu"),
        ({"normalize": "yes"}, "expected bool"),
        ({"beta": 0.0}, "plain KD"),
        ({"precision": "int8"}, "accepted: fp32, bf16"),
        ({"init": "half"}, "accepted: pretrained, teacher, random"),
    ],
)
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
        with pytest.raises(
            ConfigError, match=r"student_layers=\d: student layers must be in 1..3 for a 4-layer teacher"
        ):
            cfg.check_models()


def test_missing_model_path(tmp_path):
    cfg = RunConfig(method="teacher", pretrained=str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="does not exist"):
        cfg.check_models()


def test_cuda_refused_where_there_is_none():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="device='cuda' is not available on this machine"):
        RunConfig(method="kd", teacher_dir="x", device="cuda")


def test_cli_help_is_generated_from_the_config_fields(capsys):
    from dataclasses import fields

    from pkdstudy.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for f in fields(RunConfig):
        assert "--" + f.name.replace("_", "-") in out
        assert " ".join(f.metadata["help"].split()) in out, f.name
    assert "(default: 5e-05)" in out and "accepted: teacher, ft, kd, pkd-last, pkd-skip" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "{train,distill,export,study,bench,report,clean}" in top


@pytest.mark.slow
def test_pkd_report_refuses_a_study_that_does_not_exist_and_rebuilds_one_that_does(tmp_path):
    import shutil

    from conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "pkdstudy.cli", "report", "--profile", "recipe", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (
        out.returncode == 2 and "no study 'recipe'" in out.stderr and "run ./run_all.sh --profile recipe" in out.stderr
    )
    shutil.copytree(ROOT / "results" / "records", tmp_path / "records")
    shutil.copy(ROOT / "results" / "manifest-recipe.json", tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "pkdstudy.cli", "report", "--profile", "recipe", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tables" / "recipe" / "summary.md").read_text() == (
        ROOT / "results" / "tables" / "recipe" / "summary.md"
    ).read_text()


def test_pkd_train_says_where_it_wrote_and_names_each_metric(tiny_bert, tiny_csv, tmp_path, capsys):
    from pkdstudy.cli import main

    common = teacher_argv(
        tiny_bert,
        tiny_csv,
        tmp_path / "r",
        tmp_path / "w",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "dev accuracy" in out and "test accuracy" in out and "epoch 1: loss" in out
    assert "train accuracy (eval mode)" in out and str(tmp_path / "r" / "records") in out
    assert main(common + ["--json"]) == 0  # reused: same record, summary as JSON with one level per split
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(s["metrics"]) == {"dev", "test"} and "accuracy" in s["metrics"]["dev"] and s["weights"]
    assert (tmp_path / "r" / "records" / f"{s['run_id']}.json").exists() and s["record"].endswith(f"{s['run_id']}.json")


def test_help_shows_each_default_once(capsys):
    from pkdstudy.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: rt 64, imdb 256, GLUE 128)" in out and "GLUE 128) (default" not in out


def test_pkd_report_finds_a_profiles_own_folder_and_summarises_any_folder_of_records(tmp_path, capsys, monkeypatch):
    from conftest import ROOT

    from pkdstudy.cli import main

    monkeypatch.chdir(tmp_path)  # no results/quick here: the message names the profile's own folder
    assert main(["report", "--profile", "quick"]) == 2
    assert "no study 'quick' in results/quick/" in capsys.readouterr().err
    assert main(["report", "--records", str(ROOT / "results" / "records")]) == 0
    out = capsys.readouterr().out
    assert "| run_id" in out and "rt-teacher-s0-9fbe25826b" in out and "test accuracy (%)" in out


def test_every_option_of_every_command_says_what_it_is():
    import argparse

    from pkdstudy import bench, study
    from pkdstudy.cli import main

    for cmd in (["train"], ["report"], ["clean"]):
        with pytest.raises(SystemExit):
            main([*cmd, "--help"])
    seen = []
    orig = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        seen.append(self)
        return orig(self, args, namespace)

    argparse.ArgumentParser.parse_args = capture
    try:
        for m in (bench.main, study.main):
            with pytest.raises(SystemExit):
                m(["--help"])
        with pytest.raises(SystemExit):
            main(["clean", "--help"])
    finally:
        argparse.ArgumentParser.parse_args = orig
    for parser in seen:
        for sub in [parser] + [
            a for act in parser._actions if isinstance(act, argparse._SubParsersAction) for a in act.choices.values()
        ]:
            for a in sub._actions:
                if not isinstance(a, argparse._SubParsersAction):  # the command list: each command has its help
                    assert a.help, f"{sub.prog}: option {a.option_strings or a.dest} has no help"


def test_a_teacher_fine_tuned_from_another_encoder_is_refused_naming_what_differs(tiny_bert, tmp_path):
    """The teacher's tokenizer feeds the student and the patient term compares their states: a teacher_dir whose
    encoder differs from pretrained (here its width and vocabulary) is refused before any work, not only a teacher
    with another layer count."""
    from transformers import BertConfig, BertModel

    wide = BertConfig(vocab_size=50, hidden_size=48, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64)
    BertModel(wide).save_pretrained(tmp_path)
    cfg = RunConfig(method="kd", teacher_dir=str(tmp_path), pretrained=str(tiny_bert), student_layers=2)
    with pytest.raises(
        ConfigError,
        match=r"not the same encoder \(vocab_size: teacher_dir 50, pretrained \d+; hidden_size: teacher_dir 48, pretrained 32\)",
    ):
        cfg.check_models()
    same = RunConfig(method="kd", teacher_dir=str(tiny_bert), pretrained=str(tiny_bert), student_layers=2)
    assert same.check_models() == 4
