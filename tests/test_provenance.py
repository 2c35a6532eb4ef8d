"""A record names the commit its run started from (and the one it was written at, where they differ); a summary
names every part's commit and machine, and the commits and machines its runs' records name."""

import json

from pkdlib import records
from pkdstudy.report import _parts, made_by


def test_a_record_keeps_the_commit_its_run_started_from(monkeypatch):
    start, later = {"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": False}
    monkeypatch.setattr(records, "read_git", lambda: later)  # the checkout moved on while the run trained
    p = records.provenance("cpu", 0, None, git_started=start)
    assert p["git"] == start and p["git_when_written"] == later
    monkeypatch.setattr(records, "read_git", lambda: start)
    p = records.provenance("cpu", 0, None, git_started=start)
    assert p["git"] == start and "git_when_written" not in p
    assert records.provenance("cpu", 0, None)["git"] == start  # not given (a speed file): read now


def test_a_tiny_run_records_the_commit_it_started_from(tiny_bert, tiny_csv, ws, monkeypatch):
    """End to end: the checkout is read when ``runs.run`` starts (the commit it trains with) and again when its record
    is written; a commit made in between goes beside it, never in its place."""
    from pkdlib import RunConfig, runs

    reads = iter([{"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": False}])
    monkeypatch.setattr(runs, "read_git", lambda: next(reads))
    monkeypatch.setattr(records, "read_git", lambda: next(reads))
    cfg = RunConfig(
        task="rt",
        method="teacher",
        pretrained=str(tiny_bert),
        data_dir=str(tiny_csv),
        epochs=1,
        batch_size=16,
        device="cpu",
    )
    rec = runs.run(cfg, ws, progress=False, log=lambda *a: None)
    assert (
        rec["provenance"]["git"]["commit"] == "a" * 40 and rec["provenance"]["git_when_written"]["commit"] == "b" * 40
    )
    assert json.loads((ws.records / f"{rec['run_id']}.json").read_text())["provenance"] == rec["provenance"]


def test_summary_names_each_part_and_the_records_commits_and_machines(tmp_path):
    (tmp_path / "records").mkdir()
    made = {
        "r1": ("c" * 40, "AMD EPYC", False),
        "r2": ("c" * 40, "AMD EPYC", True),
        "r3": ("d" * 40, "Intel Xeon", False),
    }
    for rid, (commit, cpu, moved) in made.items():
        prov = {
            "git": {"commit": commit, "dirty": False},
            "hardware": {"cpu": cpu},
            **({"git_when_written": {"commit": "e" * 40}} if moved else {}),
        }
        (tmp_path / "records" / f"{rid}.json").write_text(json.dumps({"provenance": prov}))
    assert made_by(tmp_path, ["r1", "r2", "r3"]) == [
        f"git {'c' * 10} on AMD EPYC: 2 runs",
        f"git {'d' * 10} on Intel Xeon: 1 run",
        "1 runs' checkout moved to another commit while they ran (both are in their records)",
    ]
    parts = [
        {"started": "t1", "ran": 3, "git": {"commit": "c" * 40, "dirty": False}, "machine": "AMD EPYC, 2 cores"},
        {"started": "t2", "ran": 1, "git": {"commit": "d" * 40, "dirty": True}, "machine": "Intel Xeon, 2 cores"},
    ]
    assert _parts({"parts": parts}) == [
        f"part 1 (started t1): git {'c' * 10} on AMD EPYC, 2 cores",
        f"part 2 (started t2): git {'d' * 10} (uncommitted changes) on Intel Xeon, 2 cores",
    ]
    old = _parts({"parts": [{"started": "t1"}, {"started": "t2"}]})  # a manifest written before parts named them
    assert old == [
        "2 part(s), started t1, t2: the manifest did not yet record each part's commit and machine (the "
        "runs' records above name them)"
    ]


def test_each_part_of_a_study_names_its_commit_and_machine(tmp_path):
    from pkdlib.records import hardware, read_git
    from pkdstudy.plan import plan
    from pkdstudy.study import Study

    res, work = tmp_path / "res", tmp_path / "work"
    study = Study("mean", plan("mean", results=res, work=work), res, work, force=False, log=lambda *a: None)
    part = study.manifest("running")["parts"][-1]
    hw = hardware("cpu")
    assert part["git"] == read_git() and part["machine"] == f"{hw['cpu']}, {hw['cpu_count']} cores"
