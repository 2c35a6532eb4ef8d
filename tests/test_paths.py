"""Notebook paths mean the same folders under papermill (project root) and JupyterLab (notebooks/); the library
alone reads and writes paths against the current directory (it knows nothing of this repository)."""

from conftest import ROOT

from pkdlib import paths
from pkdstudy import Checkout, in_project


def test_relative_paths_resolve_to_the_project_root_from_notebooks(tmp_path):
    assert in_project("results", cwd=ROOT / "notebooks") == str(ROOT / "results")
    assert in_project("results", cwd=ROOT) == str(ROOT / "results")
    assert in_project("results", cwd=tmp_path) == str(tmp_path / "results")
    (tmp_path / "notebooks").mkdir()  # a notebooks/ folder outside the project stays as it is
    assert in_project("results", cwd=tmp_path / "notebooks") == str(tmp_path / "notebooks" / "results")
    assert in_project("/abs/x", cwd=ROOT / "notebooks") == "/abs/x" and in_project(None) is None


def test_find_teacher_resolves_a_run_all_record_from_notebooks(tmp_path, monkeypatch):
    import json

    from pkdlib.records import find_teacher

    proj = tmp_path / "proj"
    (proj / "pkdlib").mkdir(parents=True)
    (proj / "pkdlib" / "paths.py").write_text("")
    (proj / "notebooks").mkdir()
    (proj / "work" / "models" / "rt-teacher-x").mkdir(parents=True)
    (proj / "results" / "records").mkdir(parents=True)
    rec = {
        "run_id": "rt-teacher-x",
        "status": "complete",
        "model_dir": "work/models/rt-teacher-x",  # as run_all writes it
        "config": {"method": "teacher", "task": "rt", "pretrained": "enc"},
        "identity": {},
        "epochs": [],
        "best_epoch": 1,
        "dev": {},
        "test": {},
        "timings": {},
        "provenance": {},
    }
    (proj / "results" / "records" / "rt-teacher-x.json").write_text(json.dumps(rec))
    monkeypatch.chdir(proj / "notebooks")  # where JupyterLab starts the kernel
    records = in_project("results") + "/records"
    assert find_teacher(records, "rt", "enc") == str(proj / "work" / "models" / "rt-teacher-x")
    monkeypatch.chdir(proj)  # where run_all.sh runs
    assert find_teacher("results/records", "rt", "enc") == str(proj / "work" / "models" / "rt-teacher-x")


def test_portable_paths_are_relative_to_the_checkout_they_lie_in(tmp_path):
    """A record never holds where a clone lives: a path in this project, or in another checkout of it (a study run
    from a git worktree with --work in the main clone), is written relative to that checkout; a user's own file
    outside any checkout stays as given."""
    from pkdlib.paths import portable

    assert portable(str(ROOT / "work" / "models" / "t")) == "work/models/t"
    other = tmp_path / "main"
    (other / "pkdlib").mkdir(parents=True)
    (other / "pkdlib" / "paths.py").write_text("")
    (other / "work" / "models" / "rt-teacher-s1").mkdir(parents=True)
    assert portable(str(other / "work" / "models" / "rt-teacher-s1")) == "work/models/rt-teacher-s1"
    assert portable(str(tmp_path / "data.csv")) == str(tmp_path / "data.csv")
    assert portable(None) is None


def test_the_library_alone_keeps_paths_relative_to_the_current_directory(tmp_path, monkeypatch):
    """Without the study, a notebooks/ folder is a folder like any other and paths are the current directory's;
    importing the study (from its checkout) installs the checkout as pkdlib's project."""
    assert isinstance(paths._project, Checkout)  # pkdstudy was imported above, from this checkout
    old = paths.set_project(paths.Project())
    try:
        (tmp_path / "notebooks" / "work" / "m").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / "notebooks")
        assert paths.portable(str(tmp_path / "notebooks" / "work" / "m")) == "work/m"
        assert paths.portable("work/m") == "work/m" and paths.portable(str(ROOT / "pkdlib")) == str(ROOT / "pkdlib")
        assert paths.from_record("work/m") == str(tmp_path / "notebooks" / "work" / "m")
        assert paths.from_record("results/x") == str(tmp_path / "notebooks" / "results" / "x")  # not ../results
        assert paths.portable(str(tmp_path / "elsewhere.csv")) == str(tmp_path / "elsewhere.csv")
    finally:
        paths.set_project(old)
    monkeypatch.chdir(ROOT / "notebooks")
    assert paths.from_record("work/models/x") == str(ROOT / "work" / "models" / "x")  # the study's checkout again


def test_the_library_names_no_folder_of_this_repository():
    """pkdlib's sources never special-case this repository's layout (its notebooks/ folder, its root)."""
    import re

    bad = [
        (p.name, m.group(0))
        for p in sorted((ROOT / "pkdlib").glob("*.py"))
        for m in re.finditer(r"\"notebooks\"|parents\[1\]|ROOT\b", p.read_text())
    ]
    assert not bad, bad
