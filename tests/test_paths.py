"""Notebook paths mean the same folders under papermill (project root) and JupyterLab (notebooks/)."""
from conftest import ROOT
from pkdlib.paths import in_project


def test_relative_paths_resolve_to_the_project_root_from_notebooks(tmp_path):
    assert in_project("results", cwd=ROOT / "notebooks") == str(ROOT / "results")
    assert in_project("results", cwd=ROOT) == str(ROOT / "results")
    assert in_project("results", cwd=tmp_path) == str(tmp_path / "results")
    (tmp_path / "notebooks").mkdir()  # a notebooks/ folder outside the project stays as it is
    assert in_project("results", cwd=tmp_path / "notebooks") == str(tmp_path / "notebooks" / "results")
    assert in_project("/abs/x", cwd=ROOT / "notebooks") == "/abs/x" and in_project(None) is None
