"""The study runner: plans of every profile, notebooks through papermill on a tiny model, resumption,
the lock, notebook parameter checks."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from pkdlib.paths import MARKER
from pkdstudy import notebooks
from pkdstudy.profiles import PROFILES
from pkdstudy.study import StudyError, StudyLock, describe, execute, plan


@pytest.mark.parametrize("profile", list(PROFILES))
def test_dry_run_of_every_profile(profile, capsys, monkeypatch, tmp_path):
    # an empty results folder: every run is planned (reuse marking is tested on the committed study in test_identity)
    args = ["--profile", profile, "--dry-run", "--results", str(tmp_path / "results")]
    if profile == "cpu":  # the command line itself, once (a new process imports torch: 5 s a profile)
        out = subprocess.run(
            [sys.executable, "-m", "pkdstudy.study", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
        )
        code, stdout, stderr = out.returncode, out.stdout, out.stderr
    else:
        from pkdstudy.study import main

        monkeypatch.chdir(ROOT)
        code = main(args)
        stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert f"profile {profile}:" in stdout and "estimated" in stdout
    items = plan(profile)
    assert f"{len(items)} notebooks" in stdout and " 0 reused" in stdout
    assert items[0].kind == "teacher" and items[-1].kind == "report"


def _students(profile):
    return [i.params["config"] for i in plan(profile) if i.kind == "student"]


@pytest.mark.parametrize("profile, seeds", [("cpu", {3: 8, 2: 4}), ("full", {3: 14, 2: 8})])
def test_cpu_and_full_profiles_are_the_promised_paired_grids(profile, seeds):
    students = _students(profile)
    for k, n in seeds.items():
        for m in ("ft", "kd", "pkd-last", "pkd-skip"):
            assert sorted(p["seed"] for p in students if p["student_layers"] == k and p["method"] == m) == list(
                range(n)
            )
    assert {(p["epochs"], p["precision"]) for p in students} == {(4, "bf16")}
    assert {p["method"]: p["lr"] for p in students} == {"ft": 5e-5, "kd": 1e-4, "pkd-last": 1e-4, "pkd-skip": 1e-4}
    # replicate order: every paired set (size, seed) is complete before the next one starts
    sets = [(p["student_layers"], p["seed"]) for p in students]
    assert all(sets[i : i + 4] == [sets[i]] * 4 for i in range(0, len(sets), 4)) and len(set(sets)) == len(sets) // 4


def test_full_and_beyond_reuse_the_cpu_studys_runs():
    key = lambda ps: [json.dumps(p, sort_keys=True) for p in ps]  # noqa: E731
    cpu, full, beyond = key(_students("cpu")), key(_students("full")), key(_students("beyond"))
    assert full[: len(cpu)] == cpu  # full runs cpu's runs first, in cpu's order
    shared = set(cpu) & set(beyond)
    assert {json.loads(p)["method"] for p in shared} == {"kd", "pkd-skip"} and len(shared) == 2 * 8
    assert {json.loads(p)["student_layers"] for p in shared} == {3}  # PKD-Bottom is paired with cpu's 8 seeds
    # a 1-layer student has no layer to match: PKD would be KD, so beyond does not run it
    assert {json.loads(p)["method"] for p in beyond if json.loads(p)["student_layers"] == 1} == {"ft", "kd"}


def test_paper_profile_uses_official_best_configs_and_full_grid():
    items = plan("paper")
    tasks = {i.task for i in items if i.kind == "teacher"}
    assert tasks == {"sst2", "mrpc", "qqp", "mnli", "qnli", "rte"}
    sst2_pkd6 = [
        i.params["config"]
        for i in items
        if i.kind == "student"
        and i.task == "sst2"
        and i.params["config"]["method"] == "pkd-skip"
        and i.params["config"]["student_layers"] == 6
    ][0]
    assert (sst2_pkd6["lr"], sst2_pkd6["temperature"], sst2_pkd6["alpha"], sst2_pkd6["beta"]) == (
        5e-5,
        10.0,
        0.5,
        100.0,
    )
    assert len(plan("paper", grid="full")) > len(items) * 10


def test_report_again_needs_a_complete_study_and_goes_alone(tmp_path, capsys):
    """--report-again refuses a study that is not complete (its own report runs when it finishes) and the flags
    that would rerun what it keeps; both before any work."""
    from pkdstudy.study import main

    res = tmp_path / "res"
    res.mkdir()
    (res / "manifest-quick.json").write_text(json.dumps({"profile": "quick", "status": "running", "records": []}))
    items = plan("quick", results=res, work=tmp_path / "work")
    with pytest.raises(StudyError, match="needs a complete study; .* says 'running'"):
        execute("quick", items, res, tmp_path / "work", log=lambda *a: None, report_again=True)
    assert json.loads((res / "manifest-quick.json").read_text())["status"] == "running"
    assert main(["--profile", "quick", "--report-again", "--force", "--results", str(res)]) != 0
    assert "does not go with --force or --remeasure" in capsys.readouterr().err


def test_report_again_leaves_a_damaged_manifest_and_restores_the_tables_of_a_failed_report(tmp_path):
    """A damaged manifest is refused and left where it is; a report that fails part-way gets the earlier tables and
    figures back, byte for byte."""
    res, work = tmp_path / "res", tmp_path / "work"
    (res / "runs").mkdir(parents=True)
    (res / MARKER).touch()  # a study's results folder
    items = plan("quick", results=res, work=work)
    (res / "manifest-quick.json").write_text("{not json")
    with pytest.raises(StudyError, match="missing or damaged"):
        execute("quick", items, res, work, log=lambda *a: None, report_again=True)
    assert (res / "manifest-quick.json").read_text() == "{not json" and len(list(res.iterdir())) == 3
    (res / "manifest-quick.json").write_text(json.dumps({"profile": "quick", "status": "complete", "records": []}))
    for kind in ("tables", "figures"):
        (res / kind / "quick").mkdir(parents=True)
        (res / kind / "quick" / "a.md").write_text(f"earlier {kind}")

    def failing_report(notebook, output, params, slot, parallel=1):
        (res / "tables" / "quick" / "a.md").write_text("half-written")
        (res / "figures" / "quick" / "b.png").write_text("new")
        raise RuntimeError("the report broke")

    failing_report.workers = 1
    with pytest.raises(StudyError, match="the report failed: RuntimeError: the report broke"):
        execute("quick", items, res, work, log=lambda *a: None, runner=failing_report, report_again=True)
    assert (res / "tables" / "quick" / "a.md").read_text() == "earlier tables"
    assert sorted(p.name for p in (res / "figures" / "quick").iterdir()) == ["a.md"]
    assert not list(res.glob(".tmp.*"))


def test_a_confirmatory_study_refuses_to_resume_under_another_declaration(tmp_path):
    from pkdstudy.study import Study

    res = tmp_path / "res"
    res.mkdir()
    (res / "manifest-beta100-confirm.json").write_text(
        json.dumps(
            {"profile": "beta100-confirm", "status": "running", "records": [], "confirmatory": ["1b. PKD beats KD"]}
        )
    )
    items = plan("beta100-confirm", results=res, work=tmp_path / "work")
    with pytest.raises(StudyError, match="declared the confirmatory claims .* the profile now says .* cannot change"):
        Study("beta100-confirm", items, res, tmp_path / "work", force=False, log=lambda *a: None)


def test_a_confirmatory_claim_the_report_cannot_make_is_refused(monkeypatch, tmp_path):
    bad = {**PROFILES["beta100-confirm"], "confirmatory": ["1b. PKD beats KD [beta 1000]"]}
    monkeypatch.setitem(PROFILES, "bad-confirm", bad)
    with pytest.raises(StudyError, match=r"confirmatory claims \['1b. PKD beats KD \[beta 1000\]'\] are not claims"):
        plan("bad-confirm", results=tmp_path, work=tmp_path)
    assert plan("beta100-confirm", results=tmp_path, work=tmp_path)[-1].kind == "report"


def test_bad_profile_and_grid():
    with pytest.raises(
        StudyError,
        match="known profiles: quick, cpu, full, beyond, verdicts, beta100-confirm, epochs8-confirm, attention, mean-pilot, mean, paper, search, recipe",
    ):
        plan("fast")
    with pytest.raises(StudyError, match="accepted: best, full"):
        plan("cpu", grid="some")
    out = subprocess.run(
        [sys.executable, "-m", "pkdstudy.study", "--profile", "fast"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 2 and "unknown profile 'fast'" in out.stderr


def test_notebook_parameters_checked_before_running():
    nb = notebooks.notebook_path("02_student")
    with pytest.raises(notebooks.NotebookParameterError, match="unknown parameter 'confg' \\(did you mean 'config'"):
        notebooks.check_parameters(nb, {"confg": {}})
    with pytest.raises(notebooks.NotebookParameterError, match="config='x' is a str; the notebook expects dict"):
        notebooks.check_parameters(nb, {"config": "x"})
    assert notebooks.check_parameters(nb, {"config": {"temperature": 5}})["config"]["method"] == "pkd-skip"


@pytest.mark.slow
def test_notebook_refuses_parameters_it_does_not_declare_however_run(tmp_path):
    """papermill run directly injects any name; the notebook itself refuses it before any work."""
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError, match="unknown parameter.*'studnet_layers'"):
        pm.execute_notebook(
            str(notebooks.notebook_path("02_student")),
            str(tmp_path / "out.ipynb"),
            parameters={"studnet_layers": 2},
            progress_bar=False,
            kernel_name="python3",
        )
    with pytest.raises(notebooks.NotebookParameterError, match="'lr_rate'"):
        notebooks.check_globals({"config": {}, "lr_rate": 1, "json": json}, "02_student")
    for bad, msg in (
        ({"force": "false"}, "force='false' is a str; the notebook expects bool"),
        ({"threads": "2"}, "threads='2' is a str; the notebook expects int"),
        ({"results_dir": 3}, "results_dir=3 is a int; the notebook expects str"),
    ):
        with pytest.raises(notebooks.NotebookParameterError, match=msg):  # -p force false: a string
            notebooks.check_globals({"config": {}, **bad}, "02_student")


def test_notebook_pairs_are_in_sync_and_output_free():
    import jupytext
    import nbformat

    for py in sorted((ROOT / "notebooks").glob("*.py")):
        ipynb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
        paired = jupytext.read(py)
        assert [c.source for c in ipynb.cells] == [c.source for c in paired.cells], py.name
        assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code"), py.name


def test_lock_refuses_a_second_study(tmp_path):
    with StudyLock(tmp_path):
        with pytest.raises(StudyError, match=r"another pkd command is running on .* \(held by pid \d+"):
            with StudyLock(tmp_path):
                pass
    with StudyLock(tmp_path):  # released
        pass
    (tmp_path / ".lock.holder").write_text("pid 999999999, started 2026-01-01 00:00:00, command run_all.sh")
    seen = []
    with StudyLock(tmp_path, log=seen.append):  # a study killed with -9 left its holder file
        pass
    assert "ended without releasing its lock (pid 999999999" in seen[0]


def test_clean_refused_while_a_study_runs_and_says_what_it_removed(tmp_path):
    from pkdstudy.study import clean

    res, work = tmp_path / "results", tmp_path / "work"
    (res / "records").mkdir(parents=True)
    (res / "records" / "a.json").write_text("{}")
    (res / "manifest-cpu.json").write_text("{}")
    (work / "cache").mkdir(parents=True)
    for d in (res, work):  # folders a study made carry pkd's marker
        (d / MARKER).touch()
    with StudyLock(res):
        with pytest.raises(StudyError, match="another pkd command is running"):
            clean(res, work, everything=True)
    assert (work / "cache").is_dir()
    seen = []
    removed = clean(res, work, everything=True, log=seen.append)
    assert sorted(p.name for p in removed) == ["cache", "manifest-cpu.json", "records"]
    assert not (res / "manifest-cpu.json").exists() and len(seen) == 3 and (work / MARKER).is_file()
    assert clean(res, work, log=seen.append) == [] and seen[-1] == "nothing to remove"


def test_clean_keeps_the_weights_it_did_not_write_and_removes_what_its_ledger_lists(tmp_path):
    from pkdlib.ownership import note_written
    from pkdstudy.study import clean

    work, res = tmp_path / "work", tmp_path / "results"
    teacher = work / "models" / "rt-teacher-s0-x"  # a committed teacher: in no ledger of this work folder
    for d in (teacher, work / "models" / "other", work / "cache"):
        d.mkdir(parents=True)
    (teacher / "model.safetensors").write_bytes(b"weights")
    (work / "models" / "other" / "model.safetensors").write_bytes(b"scratch")
    note_written(work / "models", [work / "models" / "other" / "model.safetensors"])  # pkd wrote this one
    (work / MARKER).touch()
    removed = clean(res, work, log=lambda m: None)
    assert sorted(p.relative_to(work).as_posix() for p in removed) == ["cache", "models/other/model.safetensors"]
    assert (teacher / "model.safetensors").read_bytes() == b"weights" and not (work / "models" / "other").exists()
    assert clean(res, work, log=lambda m: None) == []


def tiny_spec(tiny_bert, tiny_csv) -> dict:
    common = {"lr": 2e-3, "batch_size": 16, "data_dir": str(tiny_csv), "device": "cpu"}
    return {
        "description": "tiny test profile",
        "tasks": ["rt"],
        "pretrained": str(tiny_bert),
        "needs": "nothing",
        "teacher": {"epochs": 3, "seed": 0, **common},
        "students": [
            {
                "method": ["ft", "kd", "pkd-last", "pkd-skip"],
                "student_layers": [2],
                "seed": [0, 1],
                "epochs": 1,
                "temperature": 10.0,
                "alpha": 0.5,
                "beta": 10.0,
                "normalize": True,
                **common,
            },
            {"method": ["ft", "kd"], "student_layers": [1], "seed": [0], "epochs": 1, "beta": 10.0, **common},
        ],  # a second size for the layer figure and Table 3; its claims need no seeds
        "speedup": {
            "layers": [1, 2],
            "batch_size": 8,
            "seq_len": 16,
            "repeats": 2,
            "warmup": 1,
            "real_lengths_task": None,
            "real_lengths_examples": 0,
            "shared": True,
        },
    }


@pytest.fixture()
def tiny_profile(tiny_bert, tiny_csv, monkeypatch):
    monkeypatch.setitem(PROFILES, "tiny", tiny_spec(tiny_bert, tiny_csv))
    return "tiny"


@pytest.fixture(scope="module")
def tiny_study(tiny_bert, tiny_csv, tmp_path_factory):
    """The tiny profile run once, serially (1 worker): its results and work folders and its manifest."""
    root = tmp_path_factory.mktemp("tiny_study")
    res, work = root / "results", root / "work"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PROFILES, "tiny", tiny_spec(tiny_bert, tiny_csv))
        items = plan("tiny", results=res, work=work)
        assert "tiny test profile" in describe("tiny", items)
        m = execute("tiny", items, res, work, log=lambda *a: None)
    return res, work, m


@pytest.mark.slow
def test_tiny_study_end_to_end_then_resumes(tiny_study, tiny_profile):
    res, work, m = tiny_study
    n_runs = 1 + 2 * 4 + 2
    assert m["notebooks_run"] == n_runs + 2 and len(m["records"]) == n_runs
    assert len(list((res / "records").glob("*.json"))) == n_runs
    assert len(list((res / "runs").glob("*.ipynb"))) == n_runs + 2
    # its speed-up is the machine's shared measurement (the first study here took it), named by the manifest
    assert m["speed"].startswith("hardware-") and (res / "speed" / m["speed"]).is_file()
    assert not (res / "speed" / "speedup-tiny.json").exists()
    assert (
        (res / "tables" / "tiny" / "table3_speed.md")
        .read_text()
        .startswith(f"The machine's shared measurement (`results/speed/{m['speed']}`)")
    )
    for t in ("table1", "table2_last_vs_skip", "table3_speed", "claims", "runs"):
        assert (res / "tables" / "tiny" / f"{t}.csv").is_file() and (res / "tables" / "tiny" / f"{t}.md").is_file()
    for f in ("accuracy_vs_layers_rt", "accuracy_vs_speedup_rt", "train_vs_dev_rt"):
        assert (res / "figures" / "tiny" / f"{f}.png").stat().st_size > 10_000
    claims = (res / "tables" / "tiny" / "claims.txt").read_text()
    assert "1a. KD beats fine-tuning (rt, 2-layer student, test)" in claims and "N=2: descriptive" in claims
    table1 = (res / "tables" / "tiny" / "table1.md").read_text()
    assert "student2-PKD-Skip" in table1 and "(N=2)" in table1
    # the report notebook ran and shows no error
    nb = json.loads((res / "runs" / "04_report-tiny.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # the tables the study wrote are the ones its records and final manifest give (the committed-results test)
    from pkdstudy.report import build

    written = {p.name: p.read_bytes() for p in (res / "tables" / "tiny").iterdir()}
    build(res, tiny_profile)
    assert written == {p.name: p.read_bytes() for p in (res / "tables" / "tiny").iterdir()}
    # a rerun that redoes nothing rewrites nothing: every file under results/ byte-identical
    before = {p: p.read_bytes() for p in res.rglob("*") if p.is_file() and not p.name.startswith(".lock")}
    m2 = execute(tiny_profile, plan(tiny_profile, results=res, work=work), res, work, log=lambda *a: None)
    assert m2["notebooks_reused"] == n_runs + 2 and m2["notebooks_run"] == 0
    assert before == {p: p.read_bytes() for p in res.rglob("*") if p.is_file() and not p.name.startswith(".lock")}
    # --remeasure (a quiet machine): the speed-up and the report run again, no training run does, and the manifest
    # keeps the study's earlier time as a part of it
    first = json.loads((res / "manifest-tiny.json").read_text())
    m3 = execute(
        tiny_profile, plan(tiny_profile, results=res, work=work), res, work, log=lambda *a: None, remeasure=True
    )
    assert (m3["notebooks_run"], m3["notebooks_reused"], m3["status"]) == (2, n_runs, "complete")
    written = json.loads((res / "manifest-tiny.json").read_text())
    assert written["parts"][:-1] == first["parts"] and len(written["parts"]) == 2
    assert written["duration_s"] > first["duration_s"] and written["records"] == first["records"]
    assert written["speed"] == m["speed"]  # remeasured: the same machine's one file, taken again
    # --report-again (after a change to the report code): only the report notebook runs; the manifest, the
    # records and the speed-up stay byte-identical; the tables it writes are the records' tables
    report_nb = res / "runs" / "04_report-tiny.ipynb"
    kept = {p: p.read_bytes() for p in [res / "manifest-tiny.json", *res.glob("records/*.json"), *res.glob("speed/*")]}
    stale = report_nb.stat().st_mtime_ns
    os.utime(report_nb, ns=(stale - 10**9, stale - 10**9))
    tables = {p: p.read_bytes() for p in (res / "tables" / "tiny").iterdir()}
    m4 = execute(
        tiny_profile, plan(tiny_profile, results=res, work=work), res, work, log=lambda *a: None, report_again=True
    )
    assert m4 == written and kept == {p: p.read_bytes() for p in kept}
    assert tables == {p: p.read_bytes() for p in (res / "tables" / "tiny").iterdir()}  # same code, same tables
    assert report_nb.stat().st_mtime_ns > stale - 10**9
    assert not (res / "runs" / "04_report-tiny.failed.ipynb").exists()


@pytest.mark.slow
def test_a_later_study_cites_the_machines_shared_speed_measurement(tiny_study, tiny_profile):
    """Another study on this machine with the same speed-up settings keeps the measurement the first took (its
    dry run says so), and measures again only with --remeasure."""
    from pkdstudy.study import Study, mark_reuse

    res, work, m = tiny_study
    sp = next(it for it in plan(tiny_profile, results=res, work=work) if it.kind == "speedup")
    mark_reuse([sp], res, work)
    assert sp.result["reusable"] == "shared"
    logged = []
    later = Study("later", [sp], res, work, force=False, log=logged.append)
    assert later.keep_shared_speed(1, sp) and sp.result["reused"] and later.speed_file == m["speed"]
    assert f"shared measurement results/speed/{m['speed']} (2 repeats)" in logged[-1]
    sp.result.clear()
    assert not Study("later", [sp], res, work, force=False, log=logged.append, remeasure=True).keep_shared_speed(1, sp)
    other = dict(sp.params, seq_len=32)  # other settings: not the same measurement
    sp.params = other
    assert not Study("later", [sp], res, work, force=False, log=logged.append).keep_shared_speed(1, sp)


@pytest.mark.slow
def test_parallel_study_gives_the_serial_records(tiny_study, tiny_bert, tiny_csv, monkeypatch, tmp_path):
    """Two workers (one torch thread each) finish with the records of the serial tiny study: same runs, same
    identities, the same numbers up to the float rounding of another thread count."""
    from pkdstudy.study import LocalRunner

    spec = tiny_spec(tiny_bert, tiny_csv)
    spec["students"] = [{**spec["students"][0], "method": ["ft", "pkd-skip"]}]  # teacher and 4 of its students
    monkeypatch.setitem(PROFILES, "tiny4", {**spec, "speedup": None})
    res, work = tmp_path / "results", tmp_path / "work"
    m = execute("tiny4", plan("tiny4", results=res, work=work), res, work, log=lambda *a: None, runner=LocalRunner(2))
    assert m["parts"][-1]["workers"] == 2 and m["notebooks_run"] == 6 and len(m["records"]) == 5
    serial = tiny_study[0] / "records"
    configs = {r: json.loads((serial / f"{r}.json").read_text())["config"] for r in tiny_study[2]["records"]}
    assert m["records"] == [
        r
        for r, c in configs.items()
        if c["method"] == "teacher"  # the same run ids,
        or (c["method"] in ("ft", "pkd-skip") and c["student_layers"] == 2)
    ]  # in plan order
    for rid in m["records"]:
        a, b = (json.loads((d / f"{rid}.json").read_text()) for d in (serial, res / "records"))
        assert a["identity"] == b["identity"] and a["best_epoch"] == b["best_epoch"]
        assert b["dev"]["dev"]["accuracy"] == pytest.approx(a["dev"]["dev"]["accuracy"], abs=0.03)


@pytest.mark.slow
def test_submitit_executor_runs_a_grid_and_a_local_rerun_reuses_it(tiny_bert, tiny_csv, monkeypatch, tmp_path):
    from pkdstudy.study import SubmititRunner

    common = {"lr": 2e-3, "batch_size": 16, "data_dir": str(tiny_csv), "device": "cpu"}
    monkeypatch.setitem(
        PROFILES,
        "tiny2",
        {
            "description": "two runs",
            "tasks": ["rt"],
            "pretrained": str(tiny_bert),
            "needs": "nothing",
            "teacher": {"epochs": 1, **common},
            "speedup": None,
            "students": [{"method": "kd", "student_layers": 2, "epochs": 1, **common}],
        },
    )
    res, work = tmp_path / "results", tmp_path / "work"
    assert not work.exists()  # the runner makes its folder at the first job, after the study made work/
    m = execute(
        "tiny2",
        plan("tiny2", results=res, work=work),
        res,
        work,
        log=lambda *a: None,
        runner=SubmititRunner("local", work / "submitit", timeout_min=10),
    )
    assert m["notebooks_run"] == 3 and len(m["records"]) == 2
    assert list((work / "submitit").glob("*_log.out"))  # the jobs went through submitit
    logs = []
    m2 = execute("tiny2", plan("tiny2", results=res, work=work), res, work, log=logs.append)
    assert m2["notebooks_run"] == 0 and sum("] reuse " in x for x in logs) == 2


def test_verdicts_profile_has_three_teachers_and_the_declared_blocks():
    """Several teachers: one teacher item per seed, each student pointing at its own teacher; no two teachers share
    a student seed (a nested design: every (teacher, seed) pair an independent replicate); the power block brings
    kd/pkd-skip to 3 teachers x 12 seeds, ft to 3 x 8."""
    items = plan("verdicts")
    teachers = [it for it in items if it.kind == "teacher"]
    assert [(it.key, it.params["config"]["seed"]) for it in teachers] == [("rt", 0), ("rt:s1", 1), ("rt:s2", 2)]
    students = [it.params["config"] for it in items if it.kind == "student"]
    four = [c for c in students if c["epochs"] == 4 and c.get("normalize", True)]
    want = {(f"@teacher:{key}", 100 * t + s) for t, key in enumerate(("rt", "rt:s1", "rt:s2")) for s in range(12)}
    assert {(c["teacher_dir"], c["seed"]) for c in four if c["method"] == "kd"} == want
    assert {(c["teacher_dir"], c["seed"]) for c in four if c["method"] == "pkd-skip" and c["beta"] == 1000} == want
    ft = sorted((c["teacher_dir"], c["seed"]) for c in four if c["method"] == "ft")
    assert ft == sorted(
        (f"@teacher:{key}", 100 * t + s) for t, key in enumerate(("rt", "rt:s1", "rt:s2")) for s in range(8)
    )
    seeds_of = {}
    for c in students:
        seeds_of.setdefault(c["seed"], set()).add(c["teacher_dir"])
    assert all(len(t) == 1 for t in seeds_of.values())  # nested: a student seed belongs to one teacher
    assert {c["teacher_dir"] for c in students if c["method"] == "pkd-mean" or c["epochs"] == 8} == {"@teacher:rt"}
    assert {c["precision"] for c in students} == {"fp32"}
    unnorm = [(c["beta"], c["seed"]) for c in students if c.get("normalize") is False]
    assert sorted(unnorm) == sorted((b, s) for b in (10.0, 100.0) for s in range(8))
    assert sorted((c["method"], c["seed"]) for c in students if c["epochs"] == 8) == sorted(
        (m, s) for m in ("ft", "kd", "pkd-skip") for s in range(8)
    )
    # the mean study's runs come first, unchanged: they are reused
    mean = [json.dumps(c, sort_keys=True) for c in _students("mean")]
    assert [json.dumps(c, sort_keys=True) for c in students[: len(mean)]] == mean


def test_with_teacher_resolves_each_teachers_key():
    from pkdstudy.study import with_teacher

    teachers = {"rt": "work/models/t0", "rt:s1": "work/models/t1"}
    assert with_teacher({"teacher_dir": "@teacher:rt:s1"}, teachers)["teacher_dir"] == "work/models/t1"
    assert with_teacher({"teacher_dir": "@teacher:rt"}, teachers)["teacher_dir"] == "work/models/t0"
    assert with_teacher({"teacher_dir": "@teacher:rt:s2"}, teachers)["teacher_dir"] is None  # not run yet


@pytest.mark.heavy  # two studies of several teachers end to end: about 4 minutes on 2 cores
@pytest.mark.slow
def test_two_teacher_study_then_its_extension_keeps_the_first_parts_time(tiny_bert, tiny_csv, monkeypatch, tmp_path):
    """A profile with teachers of seeds 0 and 1: each student trains against its own teacher (its record names that
    teacher's folder and fingerprint); extending a finished study's design keeps the first execution's time."""
    spec = tiny_spec(tiny_bert, tiny_csv)
    base = {k: v for k, v in spec["students"][0].items() if k != "method"}
    first = [{**base, "method": ["kd"], "seed": [0, 1]}]
    monkeypatch.setitem(PROFILES, "tiny2t", {**spec, "speedup": None, "students": first})
    res, work = tmp_path / "results", tmp_path / "work"
    m1 = execute("tiny2t", plan("tiny2t", results=res, work=work), res, work, log=lambda *a: None)
    assert m1["status"] == "complete" and len(m1["parts"]) == 1 and len(m1["records"]) == 3
    grown = first + [
        {**base, "method": ["ft"], "seed": [0, 1]},  # nested: teacher 1's students have seeds 100+
        {**base, "method": ["ft", "kd"], "seed": [100, 101], "teacher_seed": [1]},
        {**base, "method": ["kd"], "seed": [0, 1], "epochs": 2},
    ]  # an arm: more epochs
    monkeypatch.setitem(
        PROFILES, "tiny2t", {**spec, "speedup": None, "students": grown, "arms": {"2 epochs": {"epochs": 2}}}
    )
    items = plan("tiny2t", results=res, work=work)
    assert [it.label for it in items if it.kind == "teacher"] == ["rt teacher", "rt teacher seed 1"]
    m2 = execute("tiny2t", items, res, work, log=lambda *a: None)
    assert m2["status"] == "complete" and m2["parts"][0] == m1["parts"][0] and len(m2["parts"]) == 2
    recs = {r: json.loads((res / "records" / f"{r}.json").read_text()) for r in m2["records"]}
    teachers = {r["run_id"]: r for r in recs.values() if r["config"]["method"] == "teacher"}
    assert sorted(t["config"]["seed"] for t in teachers.values()) == [0, 1]
    by_seed = {t["config"]["seed"]: t for t in teachers.values()}
    kd = [r for r in recs.values() if r["config"]["method"] == "kd"]
    assert m2["arms"] == {"2 epochs": {"epochs": 2}}
    kd = [r for r in kd if r["config"]["epochs"] == 1]
    assert len(kd) == 4 and len({r["run_id"] for r in kd}) == 4
    for r in kd:  # each kd student names its own teacher's folder, and its identity that teacher's weights
        t = by_seed[0] if r["run_id"] in m1["records"] else by_seed[1]
        assert r["config"]["teacher_dir"].endswith(t["run_id"])
        assert r["identity"]["teacher_fp"] == recs[t["run_id"]]["weights_fp"]
    assert len({r["identity"]["teacher_fp"] for r in kd}) == 2
    # the report pairs each kd student with ft of its seed (ft never reads its teacher) and prints the interval over
    # teachers and seeds beside the seeds-only one; Table 1's teacher row is the two teachers
    claims = (res / "tables" / "tiny2t" / "claims.txt").read_text()
    assert "1a. KD beats fine-tuning (rt, 2-layer student, test)" in claims and "(2 teachers), N=4:" in claims
    table1 = (res / "tables" / "tiny2t" / "table1.md").read_text().splitlines()
    assert [line for line in table1 if line.startswith("| BERT") and "(N=2)" in line]
    # the arm stays apart: not in Table 1's cells (kd there: 4 runs of 1 epoch), compared in its own rows
    assert [line for line in table1 if "student2-KD" in line and "(N=4)" in line]
    assert "1a. KD beats fine-tuning [2 epochs] (rt, 2-layer student, test)" in claims
    assert "KD [2 epochs] - KD = " in claims and "KD [2 epochs] - FT = " in claims
    arms = (res / "tables" / "tiny2t" / "table5_arms.md").read_text()
    assert "| 2 epochs" in arms and "| recipe" in arms
