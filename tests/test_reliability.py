"""Interruption (SIGINT, SIGKILL) of a running study, resumption, cleaning, and a second study at once."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, teacher_argv


def tiny_profile_file(path, tiny_bert, tiny_csv):
    common = {"lr": 2e-3, "batch_size": 16, "data_dir": str(tiny_csv), "device": "cpu"}
    spec = {
        "name": "tinyproc",
        "description": "tiny profile for process tests",
        "tasks": ["rt"],
        "pretrained": str(tiny_bert),
        "needs": "nothing",
        "teacher": {"epochs": 2, "seed": 0, **common},
        "students": [
            {"method": ["ft", "pkd-skip"], "student_layers": [2], "seed": [0, 1], "epochs": 1, "beta": 10.0, **common}
        ],
        "speedup": None,
    }
    path.write_text(json.dumps(spec))
    return path


def start(profile_file, res, work, workers=1):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pkdstudy.study",
            "--profile-file",
            str(profile_file),
            "--results",
            str(res),
            "--work",
            str(work),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_records(res, n, proc, timeout=300):
    t = time.time()
    while time.time() - t < timeout:
        if len(list((res / "records").glob("*.json"))) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        time.sleep(0.5)
    raise AssertionError("timed out waiting for records")


def all_files(res):
    return {p: p.stat().st_mtime for p in res.rglob("*") if p.is_file()}


@pytest.mark.timeout(900)
# SIGKILL with one worker is the two-worker case with one run fewer in flight: not repeated (80 s)
@pytest.mark.parametrize(
    "sig, workers",
    [pytest.param(signal.SIGINT, 1, marks=pytest.mark.heavy), (signal.SIGKILL, 2)],  # the suite runs the harder one
)
@pytest.mark.slow
def test_interrupted_study_resumes_without_redoing_finished_runs(tmp_path, tiny_bert, tiny_csv, sig, workers):
    pf = tiny_profile_file(tmp_path / "tiny.json", tiny_bert, tiny_csv)
    res, work = tmp_path / "results", tmp_path / "work"
    p = start(pf, res, work, workers)
    wait_for_records(res, 2, p)
    time.sleep(1.5)  # land in the middle of the next run
    os.killpg(p.pid, sig)
    out = p.communicate(timeout=120)[0]
    assert p.returncode != 0, out[-3000:]
    if sig == signal.SIGINT:
        assert "interrupted: finished runs are kept" in out
    records = {r.name: r.stat().st_mtime for r in (res / "records").glob("*.json")}
    for r in (res / "records").glob("*.json"):
        assert json.loads(r.read_text())["status"] == "complete"  # nothing half-written under a final name
    # the lock does not outlive its holder; the rerun (2 workers) redoes no finished run and completes
    p2 = start(pf, res, work, workers=2)
    out2 = p2.communicate(timeout=600)[0]
    assert p2.returncode == 0, out2[-3000:]
    # each finished run is reused; one killed after its record but before its notebook is rendered, not retrained
    assert out2.count("] reuse ") + out2.count("rendering it (no training)") >= len(records)
    after = {r.name: r.stat().st_mtime for r in (res / "records").glob("*.json")}
    assert all(after[name] == m for name, m in records.items())
    assert len(after) == 1 + 2 * 2
    manifest = json.loads((res / "manifest-tinyproc.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["records"]) == 5
    # the resumed study's wall time is both parts' (the interrupted one and the resume), counts match the log
    assert len(manifest["parts"]) == 2 and manifest["duration_s"] == pytest.approx(
        sum(p["duration_s"] for p in manifest["parts"]), abs=0.2
    )
    assert manifest["parts"][0]["ran"] >= 1 and manifest["parts"][1]["reused"] >= len(records)
    assert manifest["notebooks_run"] + manifest["notebooks_reused"] == 1 + 2 * 2 + 1
    # no temporary file is left where a reader looks for results
    assert not [p for p in (res / "records").iterdir() if not p.name.endswith(".json")]


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_second_study_on_same_results_is_refused(tmp_path, tiny_bert, tiny_csv):
    pf = tiny_profile_file(tmp_path / "tiny.json", tiny_bert, tiny_csv)
    res, work = tmp_path / "results", tmp_path / "work"
    p = start(pf, res, work)
    try:
        t = time.time()
        while not (res / ".lock.holder").exists() or not (res / ".lock.holder").read_text():
            assert time.time() - t < 120 and p.poll() is None, p.stdout.read() if p.poll() is not None else ""
            time.sleep(0.2)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "pkdstudy.study",
                "--profile-file",
                str(pf),
                "--results",
                str(res),
                "--work",
                str(work),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert f"another pkd command is running on {res}/ (held by pid {p.pid}" in second.stderr
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)


def test_bad_profile_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"tasks": ["rt"]}')
    out = subprocess.run(
        [sys.executable, "-m", "pkdstudy.study", "--profile-file", str(f), "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "lacks keys" in out.stderr


def _cli(args, capsys) -> tuple[int, str]:
    """``pkd`` in this process (a new one costs 3 s of imports): exit code and standard error."""
    from pkdlib.cli import main

    try:
        code = main(args)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    return code, capsys.readouterr().err


def test_bad_run_input_leaves_results_untouched(tmp_path, tiny_bert, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = tmp_path / "results"
    (res / "records").mkdir(parents=True)
    (res / "records" / "old.json").write_text('{"status": "complete"}')
    before = all_files(res)
    for args, msg in [
        (["--method", "pkd"], "method='pkd' is not accepted; accepted: teacher, ft"),
        (["--task", "sst-3"], "task='sst-3' is not accepted; accepted: rt, imdb"),
        (["--alpha", "2"], "alpha=2.0 is outside [0, 1]"),
        (["--temperature", "0"], "temperature=0.0 must be > 0"),
        (["--beta", "-1"], "beta=-1.0 must be >= 0"),
        (["--student-layers", "4"], "student_layers=4: student layers must be in 1..3"),
        (["--beta", "nan"], "beta=nan is not accepted (must be a finite number)"),
        (["--max-length", "1"], "max_length=1: at least 3"),
        (["--device", "cuda"], "device='cuda' is not available on this machine"),
        (["--teacher-dir", str(tmp_path / "nowhere")], "does not exist"),
        (["--temprature", "3"], "unrecognized arguments: --temprature"),
    ]:
        cmd = [
            "train",
            "--pretrained",
            str(tiny_bert),
            "--teacher-dir",
            str(tiny_bert),
            "--results",
            str(res),
            "--work",
            str(tmp_path / "work"),
            *args,
        ]
        if args[0] == "--method":  # the command itself, once, in a process of its own
            out = subprocess.run(
                [sys.executable, "-m", "pkdlib.cli", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=120
            )
            code, err = out.returncode, out.stderr
        else:
            code, err = _cli(cmd, capsys)
        assert code == 2, (args, err[-500:])
        assert msg in err, (msg, err[-500:])
    assert all_files(res) == before


def _pkd_wrote(base, rel, text="x"):
    """A file as pkd writes one into work/cache or work/models: listed in that folder's ledger."""
    from pkdlib.ownership import note_written

    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    note_written(base, [p])
    return p


def test_clean_removes_what_pkd_wrote_and_failed_notebooks_only(tmp_path, monkeypatch):
    import subprocess as sp

    res, work = tmp_path / "results", tmp_path / "work"
    for p in (
        work / ".pkd-folder",
        res / "runs" / "a.failed.ipynb",
        res / "runs" / "a.ipynb",
        res / "records" / "r.json",
        res / ".pkd-folder",
        work / "notes.txt",
        work / "cache" / "mine.pt",
        work / "models" / "mine" / "m.bin",
    ):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    ours = [
        _pkd_wrote(work / "cache", "teacher-x.pt"),
        _pkd_wrote(work / "models", "run/model.safetensors"),
        _pkd_wrote(work / "models", "run/config.json"),
    ]
    edited = _pkd_wrote(work / "cache", "tok-x.pt")
    edited.write_text("changed by hand")
    killed = work / "models" / ".run.pkd-tmp.abc"  # a killed save's temporary: pkd's name and marker
    killed.mkdir()
    (killed / ".pkd-temp").write_text("{}")
    (work / "cache" / ".tmp.teacher-y.pt.abc.pt").write_text("half")  # a killed atomic write's temporary
    # clean runs no program in the user's folders (a git config there could name any program)
    monkeypatch.setattr(sp, "run", lambda *a, **k: pytest.fail(f"clean ran {a}"))
    monkeypatch.setattr(sp, "Popen", lambda *a, **k: pytest.fail(f"clean ran {a}"))
    from pkdstudy.study import clean

    logs = []
    removed = clean(res, work, log=logs.append)
    assert not any(p.exists() for p in ours) and not killed.exists() and not (work / "models" / "run").exists()
    assert {p.name for p in removed} >= {"teacher-x.pt", "model.safetensors", "a.failed.ipynb", killed.name}
    assert edited.read_text() == "changed by hand" and any(f"kept {edited}: changed since" in m for m in logs)
    for p in (
        work / "notes.txt",
        work / "cache" / "mine.pt",
        work / "models" / "mine" / "m.bin",
        res / "runs" / "a.ipynb",
        res / "records" / "r.json",
    ):
        assert p.read_text() == "x", p  # not written by pkd, or not a folder pkd cleans: left
    assert not (res / "runs" / "a.failed.ipynb").exists()
    assert clean(res, work, log=logs.append) == [] and logs[-1] == "nothing to remove"


def test_a_commands_own_lock_never_refuses_it_and_a_second_command_waits_saying_who_holds_it(tmp_path):
    import threading

    from pkdlib.locks import FolderLock
    from pkdstudy.study import clean, study_locks

    d = tmp_path / "both"
    (d / ".pkd-folder").parent.mkdir(parents=True)
    (d / ".pkd-folder").touch()
    with study_locks(d, tmp_path / "both" / ".", log=print):  # pkd study --results X --work X: one lock
        pass
    assert clean(d, d, log=lambda *a: None) == []  # pkd clean --results . --work .
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pkdlib.locks import FolderLock\n"
            f"with FolderLock({str(d)!r}):\n print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        said, got = [], threading.Event()
        t = threading.Thread(target=lambda: FolderLock(d, log=said.append).__enter__() and got.set(), daemon=True)
        t.start()
        time.sleep(1.5)
        assert (
            not got.is_set()
            and said == [f"waiting for {d}/: held by pid {holder.pid}, started " + said[0].split("started ", 1)[1]]
            and "command -c" in said[0]
        )
    finally:
        holder.kill()
        holder.wait()
    t.join(10)
    assert got.is_set() and said[1] == f"{d}/ is free; going on"
    assert f"ended without releasing its lock (pid {holder.pid}" in said[2]  # killed: the holder file stayed


def test_a_launchs_other_processes_go_on_under_their_first_processs_lock(tmp_path, monkeypatch):
    """Under ``accelerate launch`` / torchrun (LOCAL_RANK set) the first process holds the folder for the group; the
    others neither wait on it (they would wait forever on their own group) nor touch its holder file."""
    from pkdlib.locks import FolderLock, LockError

    d = tmp_path / "w"
    with FolderLock(d, wait=False) as first:  # rank 0 (no LOCAL_RANK, or "0")
        said = []
        monkeypatch.setenv("LOCAL_RANK", "1")
        with FolderLock(d, wait=False, log=said.append):  # no LockError, no waiting
            assert said == [] and f"pid {os.getpid()}" in first.held_by()
        assert (d / ".lock.holder").is_file()  # the group's holder file stays until the first process ends
        monkeypatch.setenv("LOCAL_RANK", "0")
        with pytest.raises(LockError):  # a first process of another launch is refused while it is held
            FolderLock(d, wait=False).__enter__()
    assert not (d / ".lock.holder").exists()


def test_two_commands_on_one_work_folder_take_turns(tmp_path, tiny_bert, tiny_csv):
    """The second `pkd train` on a --work another command holds says who holds it and waits (it does not refuse)."""
    work = tmp_path / "work"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pkdlib.locks import FolderLock\n"
            f"with FolderLock({str(work)!r}):\n print('held', flush=True); time.sleep(120)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    second = None
    try:
        assert holder.stdout.readline().strip() == "held"
        (work / ".pkd-folder").touch()
        second = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pkdlib.cli",
                *teacher_argv(tiny_bert, tiny_csv, tmp_path / "results", work, "--epochs", "1", "--no-progress"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = second.stdout.readline()
        assert line.startswith(f"waiting for {work}/: held by pid {holder.pid}"), line
        assert second.poll() is None and not list((tmp_path / "results" / "records").glob("*.json"))
    finally:
        for p in (second, holder):
            if p is not None:
                p.kill()
                p.wait()


def test_concurrent_saves_of_one_runs_weights_each_use_their_own_temporary(tiny_bert, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from pkdlib.models import load_classifier, load_tokenizer
    from pkdlib.weights import WEIGHTS_FILE, save_model_dir, verified_fingerprint

    model, tok = load_classifier(str(tiny_bert), 2), load_tokenizer(str(tiny_bert))
    target = tmp_path / "models" / "run"
    with ThreadPoolExecutor(8) as ex:
        fps = list(ex.map(lambda _: save_model_dir(model, tok, target, log=lambda *a: None), range(8)))
    assert len(set(fps)) == 1 and verified_fingerprint(target) == fps[0] and (target / WEIGHTS_FILE).is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == [".pkd-files.jsonl", "run"]  # no temporary left


@pytest.mark.timeout(900)
@pytest.mark.heavy  # a study killed and resumed twice: about 2.5 minutes on 2 cores
@pytest.mark.slow
def test_a_run_killed_before_its_notebook_is_rendered_and_a_damaged_manifest_is_kept_aside(
    tmp_path, tiny_bert, tiny_csv
):
    pf = tiny_profile_file(tmp_path / "tiny.json", tiny_bert, tiny_csv)
    res, work = tmp_path / "results", tmp_path / "work"
    out = start(pf, res, work).communicate(timeout=600)[0]
    manifest = res / "manifest-tinyproc.json"
    assert json.loads(manifest.read_text())["status"] == "complete", out[-3000:]
    records = {r.name: r.stat().st_mtime for r in (res / "records").glob("*.json")}
    victim = sorted(records)[0].removesuffix(".json")
    (res / "runs" / f"{victim}.ipynb").unlink()  # as if killed between the record and the notebook's end
    manifest.write_text('{"records": [')  # and the manifest damaged
    p = start(pf, res, work)
    out = p.communicate(timeout=600)[0]
    assert p.returncode == 0, out[-3000:]
    assert f"record {victim}.json exists, its executed notebook does not; rendering it (no training)" in out
    assert "manifest-tinyproc.json is damaged (not a JSON object); kept as manifest-tinyproc.json.damaged-" in out
    assert (res / "runs" / f"{victim}.ipynb").is_file()
    assert {r.name: r.stat().st_mtime for r in (res / "records").glob("*.json")} == records  # nothing retrained
    assert json.loads(manifest.read_text())["status"] == "complete"
    assert len(list(res.glob("manifest-tinyproc.json.damaged-*"))) == 1
