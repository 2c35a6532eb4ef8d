"""The frontier (pkdlib/frontier.py, candidates.py, static.py, frontier_report.py): intervals, the recommendation rule,
side-by-side timing, the static baseline, and `pkd distill --layers 1,2` end to end on a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from pkdlib.config import ConfigError
from pkdlib.frontier import (
    Candidate,
    bootstrap_intervals,
    gap_warnings,
    parse_rule,
    plot,
    recommend,
    table_markdown,
    timings,
    wilson,
)


def test_wilson_interval_golden_values():
    lo, hi = wilson(80, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.7112, 0.8666)  # the textbook Wilson interval of 80/100
    assert wilson(100, 100)[1] == 1.0 and round(wilson(100, 100)[0], 4) == 0.963
    assert wilson(0, 40)[0] == 0.0


def test_bootstrap_is_paired_seeded_and_zero_for_identical_predictions():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (300,), generator=g)
    p = torch.where(torch.rand(300, generator=g) < 0.8, y, (y + 1) % 3)
    same = bootstrap_intervals(y, p, p, 3)
    assert same["diff_points_ci"] == [0.0, 0.0]  # paired: the same rows for both, so no difference at all
    a, b = bootstrap_intervals(y, p, y, 3), bootstrap_intervals(y, p, y, 3)
    assert a == b and a["diff_points_ci"][1] < 0  # seeded; worse than perfect reference on every resample
    lo, hi = a["macro_f1_ci"]
    from pkdlib.diagnose import macro_f1

    assert lo < macro_f1(y, p) < hi


def _row(name, acc, ci, lat, size, family="student"):
    return {
        "name": name,
        "accuracy": acc,
        "diff_points_ci": ci,
        "latency_ms": lat,
        "size_mib": size,
        "family": family,
        "runtime": "pytorch fp32",
        "accuracy_ci": [acc - 0.05, min(1, acc + 0.05)],
        "macro_f1": acc,
        "macro_f1_ci": [acc - 0.05, acc],
        "diff_points": 0.0,
        "parameters": 1000,
        "throughput_per_s": 10.0,
        "per_class": [],
    }


def test_the_recommendation_follows_the_rule():
    rows = [
        _row("teacher fp32", 0.90, [0.0, 0.0], 10.0, 87.0, "teacher"),
        _row("teacher int8", 0.90, [-0.5, 0.5], 4.0, 22.0, "teacher"),
        _row("student L3", 0.89, [-2.5, 0.5], 3.0, 66.0),
        _row("student L1", 0.85, [-8.0, -2.0], 1.0, 50.0),
        _row("static", 0.80, [-14.0, -6.0], 0.05, 22.0, "static"),
    ]
    pick, why = recommend(rows)
    assert pick["name"] == "teacher int8" and "above -1 points" in why  # L3 is not *shown* within 1 point
    assert recommend(rows, "fastest-within:3")[0]["name"] == "student L3"
    assert recommend(rows, "fastest-within:20")[0]["name"] == "static"
    assert recommend(rows, "smallest-within:20")[0]["name"] == "teacher int8"  # 22 MiB, more accurate than static
    assert recommend(rows, "most-accurate")[0]["name"] == "teacher int8"  # ties broken by speed
    no_teacher = rows[2:]
    pick, why = recommend(no_teacher)
    assert pick["name"] == "student L3" and "none is shown within 1 points" in why
    for bad in ("fastest", "fastest-within", "most-accurate:1", "fastest-within:x", "fastest-within:-1", "best"):
        with pytest.raises(ConfigError, match="--pick"):
            parse_rule(bad)
    table = table_markdown(rows, "teacher int8")
    assert "| teacher int8 **(recommended)** | 0.9000 [0.850, 0.950]" in table and table.count("\n") == len(rows) + 1


def test_timing_is_side_by_side_and_tells_fast_from_slow():
    from pkdlib.export import Exported

    class Tok:
        def __call__(self, *cols, **kw):
            n = len(cols[0])
            return {
                "input_ids": torch.ones(n, 4, dtype=torch.long),
                "attention_mask": torch.ones(n, 4, dtype=torch.long),
                "token_type_ids": torch.zeros(n, 4, dtype=torch.long),
            }

    order = []

    def sleeper(name, s):
        def f(b):
            order.append(name)
            time.sleep(s * len(b["input_ids"]) / 8)
            return torch.zeros(len(b["input_ids"]), 2)

        return f

    data = Exported([("x",)] * 64, torch.zeros(64, dtype=torch.long), Tok(), 8)
    cands = [
        Candidate("slow", "student", "pytorch fp32", sleeper("slow", 0.004), 1, 1.0),
        Candidate("fast", "student", "pytorch fp32", sleeper("fast", 0.0005), 1, 1.0),
    ]
    t = timings(cands, data, n1=6, n32=2, repeats=2)
    assert t["slow"]["latency_ms"] > 2 * t["fast"]["latency_ms"] and t["slow"]["calls"] == [12, 4]
    assert t["fast"]["throughput_per_s"] > 2 * t["slow"]["throughput_per_s"]
    timed = order[4:]  # after two warm-up calls each: every input given to both, the first rotated
    assert timed[:4] == ["slow", "fast", "fast", "slow"]


def test_a_candidate_with_its_own_tokenizer_reads_the_same_rows_in_its_own_ids():
    """A student with a pruned vocabulary (--prune-vocab) is scored and timed on the rows tokenised by its own
    tokenizer; the others on the shared inputs."""
    from pkdlib.export import Exported
    from pkdlib.frontier import logits_of

    def tok(value):
        def encode(*cols, **kw):
            n = len(cols[0])
            ids = torch.full((n, 4), value, dtype=torch.long)
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}

        return encode

    def reads(value):
        def f(b):
            assert bool((b["input_ids"] == value).all()), b["input_ids"]
            return torch.zeros(len(b["input_ids"]), 2)

        return f

    data = Exported([("x",)] * 40, torch.zeros(40, dtype=torch.long), tok(1), 8)
    cands = [
        Candidate("shared", "teacher", "pytorch fp32", reads(1), 1, 1.0),
        Candidate("own", "student", "pytorch fp32", reads(7), 1, 1.0, tokenizer=tok(7)),
    ]
    assert len(logits_of(cands[1], data)) == 40
    t = timings(cands, data, n1=3, n32=1, repeats=1)
    assert t["own"]["calls"] == t["shared"]["calls"] == [3, 1]


def test_gap_warnings_and_the_plot(tmp_path):
    pc = lambda a, b: [  # noqa: E731
        {"label": "neg", "n": 10, "correct": a, "accuracy": a / 10, "predicted": None},  # noqa: E731
        {"label": "pos", "n": 10, "correct": b, "accuracy": b / 10, "predicted": None},
    ]
    rows = [
        {**_row("teacher fp32", 0.9, [0, 0], 10, 1, "teacher"), "per_class": pc(9, 9)},
        {**_row("student L1 fp32", 0.7, [-30, -10], 1, 1), "per_class": pc(5, 9)},
        {**_row("student L1 int8", 0.7, [-30, -10], 1, 1), "per_class": pc(5, 9)},
    ]
    rows[2]["runtime"] = "onnx int8"
    w = gap_warnings(rows)
    assert w == [
        "student L1 fp32 is much worse than the teacher on 'neg': 5 of 10 right (50%) against the teacher's 9 (90%)"
    ]
    path = plot(rows, tmp_path / "f.png", "t", "teacher fp32")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_static_baseline_fits_saves_and_loads(tmp_path):
    from pkdlib.static import StaticModel, fit_static

    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(20, 8, generator=g).half()
    vectors[10:, 0] += 3  # tokens 10..19 carry the label

    def batch(n, seed):
        gg = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 2, (n,), generator=gg)
        ids = torch.randint(2, 10, (n, 6), generator=gg) + 10 * y[:, None] * (torch.rand(n, 6, generator=gg) < 0.5)
        ids[:, 0] = 0  # a special token at the front, never averaged
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}, y

    m = fit_static(vectors, [0, 1], [batch(200, 1)], [batch(100, 2)], 2, log=lambda *a: None)
    b, y = batch(100, 3)
    acc = int((m(**b).argmax(-1) == y).sum()) / 100
    assert acc > 0.9
    m.save(tmp_path)
    again = StaticModel.load(tmp_path)
    assert torch.equal(again(**b), m(**b)) and again.special_ids == (0, 1)


@pytest.mark.slow
def test_pkd_distill_layers_1_2_measures_the_frontier_end_to_end(tmp_path):
    from conftest import save_tiny_bert, write_tiny_csv

    bert = save_tiny_bert(tmp_path / "bert", layers=4)
    csv = write_tiny_csv(tmp_path / "reviews.csv", n=300)
    cmd = [
        sys.executable,
        "-m",
        "pkdlib.cli",
        "distill",
        "--train",
        str(csv),
        "--layers",
        "1,2",
        "--pretrained",
        str(bert),
        "--epochs",
        "1",
        "--teacher-epochs",
        "2",
        "--max-length",
        "32",
        "--no-progress",
        "--results",
        str(tmp_path / "r"),
        "--work",
        str(tmp_path / "w"),
        "--out",
        str(tmp_path / "front"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    f = json.loads((tmp_path / "front" / "pkd-frontier.json").read_text())
    names = [r["name"] for r in f["rows"]]
    assert names[:2] == ["teacher fp32", "teacher onnx"] and "static (from teacher)" in names
    assert {"student L1 fp32", "student L1 onnx", "student L2 fp32", "student L2 onnx"} <= set(names)
    assert len(names) >= 8 and f["recommended"] in names and f["rule"] == "fastest-within:1"
    for r in f["rows"]:
        assert 0 <= r["accuracy_ci"][0] <= r["accuracy"] <= r["accuracy_ci"][1] <= 1 and r["size_mib"] >= 0
        assert r["latency_ms"] > 0 and r["throughput_per_s"] > 0 and len(r["per_class"]) == 2
    assert f["rows"][0]["diff_points_ci"] == [0.0, 0.0]
    assert (tmp_path / "front" / "frontier.png").stat().st_size > 10_000
    md = (tmp_path / "front" / "frontier.md").read_text()
    assert "![accuracy against latency](frontier.png)" in md and "**Recommended** by the rule" in md
    for k in (1, 2):
        assert (tmp_path / "front" / f"L{k}" / "pkd-export.json").is_file()
    assert (tmp_path / "front" / "static" / "static.safetensors").is_file()
    assert "frontier (" in out.stdout and "recommended (fastest-within:1)" in out.stdout
    assert f["provenance"]["git"]["commit"] and f["provenance"]["hardware"]
    again = subprocess.run(
        cmd + ["--pick", "most-accurate", "--prune-vocab"], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("[skip]") == 3 and "static baseline: reused" in again.stdout  # runs and baseline reused
    f = json.loads((tmp_path / "front" / "pkd-frontier.json").read_text())
    assert f["rule"] == "most-accurate"
    for k in (1, 2):  # each student exported with its vocabulary pruned; the frontier counts the export's parameters
        m = json.loads((tmp_path / "front" / f"L{k}" / "pkd-export.json").read_text())
        assert m["checks"]["vocab"]["kept"] and "vocabulary pruned to the training text" in again.stdout
        row = next(r for r in f["rows"] if r["name"] == f"student L{k} fp32")
        assert row["parameters"] == m["parameters"]["total"] == m["checks"]["vocab"]["parameters"]["after"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "mine")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert bad.returncode == 2 and "not a frontier folder of pkd's" in bad.stderr
