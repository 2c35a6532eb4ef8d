"""Benchmark helpers, and that the committed results/ tables recompute from their run records."""

import filecmp
import json
import re
import shutil

import pytest
from conftest import ROOT

from pkdstudy.bench import gemm_peak, interleave, train_flops_per_token
from pkdstudy.claims import paired
from pkdstudy.report import build


def test_gemm_peak_and_flops_per_token(tiny_bert):
    assert gemm_peak(n=128, repeats=2) > 1e6
    from pkdlib.models import load_classifier

    m = load_classifier(str(tiny_bert), 2)
    c = m.config
    per_layer = 4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size
    expected_matmul = c.num_hidden_layers * per_layer + c.hidden_size**2
    got = train_flops_per_token(m, 10)
    assert got == pytest.approx(6 * expected_matmul + 12 * c.num_hidden_layers * 10 * c.hidden_size, rel=0.05)


def test_interleave_takes_medians():
    seq = iter([3, 1, 2, 30, 10, 20])
    out = interleave({"a": lambda: next(seq), "b": lambda: next(seq)}, 3)
    assert out == {"a": 3, "b": 20}  # calls alternate a, b, a, b, a, b: a gets 3, 2, 10; b gets 1, 30, 20


def test_paired_difference_interval():
    import pandas as pd

    df = pd.DataFrame(
        {
            "method": ["kd"] * 3 + ["ft"] * 3,
            "layers": 3,
            "task": "rt",
            "seed": [0, 1, 2] * 2,
            "test": [0.80, 0.82, 0.81, 0.78, 0.80, 0.80],
        }
    )
    r = paired(df, "test", "kd", "ft", 3, "rt")
    assert r["n_seeds"] == 3 and r["mean_diff"] == pytest.approx(5 / 3, rel=1e-6)
    # t(0.975, 2) = 4.303; sd of (2, 2, 1) = 0.57735
    assert r["ci_high"] - r["mean_diff"] == pytest.approx(4.302653 * 0.577350 / 3**0.5, rel=1e-4)


COMMITTED = ROOT / "results"


@pytest.mark.parametrize(
    "profile",
    [
        "cpu",
        "full",
        "beyond",
        "search",
        "recipe",
        "mean-pilot",
        "mean",
        "verdicts",
        "beta100-confirm",
        "epochs8-confirm",
        "attention",
    ],
)
def test_committed_tables_recompute_from_records(tmp_path, profile):
    if not (COMMITTED / f"manifest-{profile}.json").is_file():
        pytest.skip(f"no committed {profile} study in results/")
    res = tmp_path / "results"
    shutil.copytree(COMMITTED / "records", res / "records")
    shutil.copy(COMMITTED / f"manifest-{profile}.json", res)
    if (COMMITTED / "speed").is_dir():
        shutil.copytree(COMMITTED / "speed", res / "speed")
    build(res, profile)
    committed = sorted((COMMITTED / "tables" / profile).glob("*.*"))
    assert any(f.name == "table1.csv" for f in committed)
    for f in committed:
        assert filecmp.cmp(f, res / "tables" / profile / f.name, shallow=False), f.name
    manifest = json.loads((COMMITTED / f"manifest-{profile}.json").read_text())
    if manifest["status"] != "complete":  # a study committed part-way says so on every page
        for f in [*(COMMITTED / "tables" / profile).glob("*.md")]:
            assert "**Interim, not the finished study**" in f.read_text(), f.name
    for rid in manifest["records"]:
        rec = json.loads((COMMITTED / "records" / f"{rid}.json").read_text())
        assert rec["status"] == "complete" and rec["provenance"]["git"]["commit"]


@pytest.mark.skipif(not (COMMITTED / "manifest-cpu.json").is_file(), reason="no committed cpu study in results/")
def test_readme_results_match_the_committed_study():
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.results_block() in (ROOT / "docs" / "results.md").read_text()
    assert mod.findings_block() in (ROOT / "README.md").read_text()
    readme, docs = mod.your_data_blocks()  # the frontier and the unlabeled-text result, from results/your-data/
    assert readme in (ROOT / "README.md").read_text() and docs in (ROOT / "docs" / "your-data.md").read_text()


def test_fit_layer_cost_recovers_fixed_and_per_layer_time():
    from pkdstudy.speed import fit_layer_cost

    fit = fit_layer_cost({k: 0.02 + 0.1 * k for k in (1, 2, 3, 6)})
    assert fit["fixed_s"] == pytest.approx(0.02) and fit["per_layer_s"] == pytest.approx(0.1)
    assert fit["fixed_in_layers"] == pytest.approx(0.2) and fit["max_residual_fraction"] < 1e-9


def test_measure_inference_rows_on_a_tiny_model(tiny_bert):
    from pkdstudy.speed import measure_inference

    out = measure_inference(str(tiny_bert), [1, 2], batch_size=4, seq_len=8, repeats=2, warmup=1, progress=False)
    rows = {r["layers"]: r for r in out["rows"]}
    assert sorted(rows) == [1, 2, 4] and rows[4]["role"] == "teacher" and rows[4]["speedup"] == 1.0
    assert rows[1]["ideal_speedup"] == 4.0 and rows[2]["compression"] > 1.0
    assert rows[4]["fitted_speedup"] == pytest.approx(1.0) and "fixed_in_layers" in out["fit"]
    with pytest.raises(ValueError, match="must be in 1..3"):
        measure_inference(str(tiny_bert), [4], repeats=1, warmup=0, progress=False)


def test_metrics_match_scikit_learn_on_fixed_inputs():
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    from pkdlib.data import TASKS
    from pkdlib.metrics import compute_metrics

    y = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    p = torch.tensor([1, 1, 1, 0, 0, 0, 1, 1, 0, 1])
    m = compute_metrics(TASKS["mrpc"], y, p)
    assert m == {"accuracy": 0.6, "n": 10, "f1": 2 * 4 / (2 * 4 + 2 + 2)}
    assert m["accuracy"] == accuracy_score(y, p) and m["f1"] == f1_score(y, p)
    assert compute_metrics(TASKS["mrpc"], y, torch.zeros(10, dtype=torch.long))["f1"] == 0.0
    assert "f1" not in compute_metrics(TASKS["rt"], y, p)


def test_overhead_shares_from_a_manifest_and_its_records(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("overhead", ROOT / "scripts" / "overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "records").mkdir()
    runs = [("teacher", None, 0, 100.0, 2, 110.0), ("ft", 3, 0, 90.0, 1, 100.0), ("kd", 3, 0, 80.0, 1, 90.0)]
    items = []
    for method, k, seed, inside, threads, nb in runs:
        rec = {
            "config": {"task": "rt", "method": method, "student_layers": k, "seed": seed},
            "timings": {"total_s": inside},
            "provenance": {"hardware": {"torch_threads": threads}},
        }
        (tmp_path / "records" / f"{method}.json").write_text(json.dumps(rec))
        items.append({"kind": "teacher" if method == "teacher" else "student", "label": mod.label(rec), "seconds": nb})
    items.append({"kind": "student", "label": "rt pkd-skip L3 seed 0", "seconds": 0.0})  # not run yet
    (tmp_path / "manifest-cpu.json").write_text(
        json.dumps(
            {
                "status": "running",
                "records": ["teacher", "ft", "kd"],
                "items": items,
                "git": {"commit": "abc"},
                "hardware": {"cpu": "x", "cpu_count": 2},
                "parts": [{"duration_s": 250.0, "workers": 2, "started": "t"}],
            }
        )
    )
    o = mod.overhead(tmp_path, "cpu")
    assert o["student_notebooks"] == 2 and o["per_notebook_outside_s"] == 10.0
    assert o["per_notebook_outside_share"] == pytest.approx(1 - 170 / 190, abs=1e-4)
    assert o["machine_outside_share"] == pytest.approx(1 - (100 * 2 + 90 + 80) / (250 * 2), abs=1e-4)


def test_reproducibility_checklist_and_constraints_match_the_committed_studies():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reproducibility", ROOT / "scripts" / "reproducibility.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    md, cons = mod.build()
    assert (ROOT / "REPRODUCIBILITY.md").read_text() == md and (ROOT / "constraints.txt").read_text() == cons
    assert "torch==2.13.0" in cons.splitlines()  # the pin pyproject.toml makes


def test_one_shared_speed_measurement_per_machine_is_what_reports_cite(tiny_bert, tmp_path, monkeypatch):
    from pkdlib.records import hardware
    from pkdstudy.report import load_speed, speed_note
    from pkdstudy.speed import hardware_key, measure_shared, shared_path

    hw = {"device": "cpu", "cpu": "AMD EPYC", "cpu_count": 2, "torch_threads": 2}
    assert hardware_key(hw) == "amd-epyc-2-cores"
    assert hardware_key({**hw, "gpu": "NVIDIA H200"}) == "nvidia-h200-2-cores"
    res = tmp_path / "results"
    (res / "speed").mkdir(parents=True)
    own = {"rows": [{"layers": 3, "speedup": 1.81}], "settings": {}}
    (res / "speed" / "speedup-beyond.json").write_text(json.dumps(own))
    assert load_speed(res, "beyond", {"hardware": hw}) == own  # no shared measurement: the study's own
    out = measure_shared(
        res,
        repeats=3,
        pretrained=str(tiny_bert),
        settings={"layers": [1, 2], "batch_size": 4, "seq_len": 16, "warmup": 1},
    )
    here = hardware("cpu")
    assert out == shared_path(res, here) and out.name == f"hardware-{hardware_key(here)}.json"
    from pkdstudy.profiles import PROFILES

    tiny = {"pretrained": str(tiny_bert), "speedup": {"layers": [1, 2], "batch_size": 4, "seq_len": 16}}
    monkeypatch.setitem(PROFILES, "beyond", tiny)
    monkeypatch.setitem(PROFILES, "full", tiny)
    for profile in ("beyond", "full"):  # every study on this machine cites the one measurement, never its own
        speed = load_speed(res, profile, {"hardware": here})
        assert speed["shared"] == out.name and speed["settings"]["repeats"] == 3
        assert [r["repeats"] for r in speed["rows"] if r["role"] == "student"] == [3, 3]
        assert speed_note(speed).startswith(f"The machine's shared measurement (`results/speed/{out.name}`)")


def test_a_study_cites_the_speed_file_its_manifest_names_and_no_other_settings_overwrite_it(tiny_bert, tmp_path):
    from pkdlib.config import ConfigError
    from pkdlib.records import hardware
    from pkdstudy.report import load_speed
    from pkdstudy.speed import shared_measurement, shared_path, shared_target

    res = tmp_path / "results"
    (res / "speed").mkdir(parents=True)
    here = hardware("cpu")
    settings = {"layers": [1, 2], "batch_size": 4, "seq_len": 16, "precision": "fp32"}
    taken = {
        "settings": {
            "pretrained": str(tiny_bert),
            "device": "cpu",
            "precision": "fp32",
            "batch_size": 4,
            "seq_len": 16,
            "repeats": 30,
        },
        "rows": [{"layers": k} for k in (6, 1, 2)],
    }
    shared_path(res, here).write_text(json.dumps(taken))
    assert shared_measurement(res, here, str(tiny_bert), settings)["shared"] == shared_path(res, here).name
    assert shared_measurement(res, {**here, "device": "mps"}, str(tiny_bert), settings) is None  # another device
    assert shared_measurement(res, here, str(tiny_bert), {**settings, "precision": "bf16"}) is None
    assert shared_target(res, "cpu", str(tiny_bert), settings) == shared_path(res, here)  # same settings: again
    with pytest.raises(ConfigError, match="with other settings"):  # others would change what studies cite
        shared_target(res, "cpu", str(tiny_bert), {**settings, "seq_len": 32})
    other = res / "speed" / "hardware-another-machine-8-cores.json"
    other.write_text(json.dumps({**taken, "rows": [{"layers": 3}]}))
    assert load_speed(res, "nowhere", {"speed": other.name})["rows"] == [{"layers": 3}]  # the file it names
    own = {"rows": [{"layers": 9}], "settings": {}}
    (res / "speed" / "speedup-nowhere.json").write_text(json.dumps(own))
    assert load_speed(res, "nowhere", {"speed": "hardware-gone.json"}) == own  # named file missing: the others


def test_committed_combined_layer_curve_recomputes_and_counts_each_run_once(tmp_path):
    from pkdstudy import combined

    profiles = (COMMITTED / "tables" / "combined" / "profiles.txt").read_text().split()
    res = tmp_path / "results"
    shutil.copytree(COMMITTED / "records", res / "records")
    for p in profiles:
        shutil.copy(COMMITTED / f"manifest-{p}.json", res)
    out = combined.build(res, profiles)
    for f in ("layers.md", "layers.csv"):
        assert filecmp.cmp(COMMITTED / "tables" / "combined" / f, res / "tables" / "combined" / f, shallow=False), f
    df = combined.comparable(res, profiles)
    assert df.run_id.is_unique and (df.method == "teacher").sum() == 1
    # the 3-layer kd runs of cpu (seeds 0-7) are listed by cpu, full and beyond: counted once, 14 seeds in all
    kd3 = df[(df.method == "kd") & (df.layers == 3)]
    assert sorted(kd3.seed) == list(range(14)) and "N=14" in out["table"].loc[("rt", 3, "KD"), "test"]


def test_the_shared_measurement_is_cited_only_with_the_profiles_own_settings(tmp_path):
    """A study cites the machine's shared speed-up only when it measures one with the same model and settings: a
    BERT-base study on the same machine, or a profile without a speed-up, never cites the MiniLM measurement."""
    from pkdstudy.profiles import PROFILES, SPEEDUP
    from pkdstudy.report import load_speed
    from pkdstudy.speed import shared_path

    hw = {"device": "cpu", "cpu": "AMD EPYC", "cpu_count": 2}
    res = tmp_path / "results"
    shared = {
        "rows": [{"layers": k, "speedup": 6 / k} for k in (6, 5, 4, 3, 2, 1)],
        "settings": {
            "pretrained": PROFILES["cpu"]["pretrained"],
            "batch_size": SPEEDUP["batch_size"],
            "seq_len": SPEEDUP["seq_len"],
        },
    }
    shared_path(res, hw).parent.mkdir(parents=True)
    shared_path(res, hw).write_text(json.dumps(shared))
    assert load_speed(res, "cpu", {"hardware": hw})["shared"] == shared_path(res, hw).name
    assert load_speed(res, "paper", {"hardware": hw}) is None  # bert-base, other layers
    assert load_speed(res, "mean", {"hardware": hw}) is None  # measures no speed-up
    assert load_speed(res, "cpu", {"hardware": {**hw, "cpu": "Intel Xeon"}}) is None  # another machine


def cited_numbers(text: str) -> list[str]:
    """The numbers a hand-written page cites from the tables: intervals, signed differences, 'mean ± std', p values
    and percentages (whitespace already collapsed, so a number wrapped across lines is found whole)."""
    return (
        re.findall(r"\[[-+]?\d+\.\d+, [-+]?\d+\.\d+\]", text)
        + re.findall(r"[-+]\d+\.\d\d\b", text)
        + re.findall(r"\d+\.\d ± \d+\.\d", text)
        + re.findall(r"p = (\d\.\d{3})", text)
        + re.findall(r"(?<!± )(?<![\d.])\d+\.\d%", text)
    )


@pytest.mark.parametrize(
    "heading, study, also",
    [
        ("### What the verdicts study found", "verdicts", ("Measured there (fp32", "What those students scored")),
        ("### What the confirmatory study found", "beta100-confirm", None),
        ("### What the 8-epoch confirmatory study found", "epochs8-confirm", None),
        ("### What the attention-transfer arm found", "attention", None),
    ],
)
def test_readme_findings_of_a_study_are_rows_of_its_tables(heading, study, also):
    """A hand-written summary of a study (docs/study.md) cites numbers only from its committed tables: every
    interval, signed difference, 'mean ± std', percentage and p in that section is in the study's claims or arms
    tables."""
    readme = (ROOT / "docs" / "study.md").read_text()
    section = re.split(r"\n#{2,3} ", readme.split(heading, 1)[1])[0]
    if also:
        section += readme.split(also[0], 1)[1].split(also[1], 1)[0]
    section = re.sub(r"\s+", " ", section)  # numbers wrapped across lines ("Holm p =\n 0.017")
    tables = "\n".join(p.read_text() for p in (ROOT / "results" / "tables" / study).glob("*.md"))
    tables += (ROOT / "results" / "tables" / study / "claims.txt").read_text()
    cited = cited_numbers(section)
    assert len(cited) >= 5
    missing = [c for c in cited if c not in tables]
    assert not missing, f"README's findings of {study} cite numbers no table of the study holds: {missing}"
