"""No committed file under results/ names the machine that wrote it, and the notebook writer keeps it so."""

import json
from pathlib import Path

from conftest import ROOT

from pkdstudy.scrub import ABSOLUTE, scrub_notebook, scrub_text


def test_no_committed_file_under_results_holds_a_machine_path():
    """Every text file (records, tables, run notebooks, speed files; figures are images): no /work/, /home/, /tmp/, /Users/ or
    drive letter; the two teacher records that held one name their committed weights relative to the clone. Not
    scanned: what git ignores there (results/quick/, locks, temporary and failed notebooks)."""
    files = [
        p
        for p in (ROOT / "results").rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix != ".png"
        and not p.name.endswith(".failed.ipynb")
        and p.relative_to(ROOT / "results").parts[0] != "quick"
    ]
    assert len(files) > 700
    found = {str(p.relative_to(ROOT)): m.group().decode() for p in files if (m := ABSOLUTE.search(p.read_bytes()))}
    assert not found, f"{len(found)} files under results/ hold a machine path, e.g. {sorted(found.items())[:5]}"
    for t in ("rt-teacher-s1-5ba972450f", "rt-teacher-s2-d8957a87be"):
        rec = json.loads((ROOT / "results" / "records" / f"{t}.json").read_text())
        assert rec["model_dir"] == f"work/models/{t}" and (ROOT / rec["model_dir"] / "model.safetensors").is_file()


def test_the_pattern_catches_each_kind_of_machine_path():
    for bad in (b"/work/main/x", b'"/home/u/r"', b"/tmp/pytest-1", b"/Users/me", b"C:\\\\Users", b"D:\\data"):
        assert ABSOLUTE.search(bad), bad
    for ok in (b"work/models/t", b"results/runs/x.ipynb", b"https://example.org/x", b"~/data", b'"a:\\n"'):
        assert not ABSOLUTE.search(ok), ok


def test_scrub_makes_checkout_paths_relative_and_names_the_rest(tmp_path):
    root = tmp_path / "clone"
    text = (
        f'"input_path": "{root}/notebooks/02_student.ipynb", "work_dir = \\"{root}/work\\"", '
        f"teacher: {root}/work/models/t\\n, PosixPath('{root}/results/speed/s.json'), cwd {root}, "
        f"{root}2/results stays, {Path.home()}/data"
    )
    out = scrub_text(text, [root])
    assert out == (
        '"input_path": "notebooks/02_student.ipynb", "work_dir = \\"work\\"", teacher: work/models/t\\n, '
        f"PosixPath('results/speed/s.json'), cwd ., {root}2/results stays, ~/data"
    )
    assert scrub_text(out, [root]) == out  # idempotent
    assert scrub_text("a /x/tmp b", [root], {"/x/tmp": "results/runs/n.ipynb"}) == "a results/runs/n.ipynb b"


def test_an_executed_notebook_is_written_without_its_checkout(tmp_path):
    """``scrub_notebook`` on what papermill wrote: the checkout of an absolute parameter (a study run from a worktree
    with --work in the main clone) and of the output, the temporary output name replaced by the final one."""
    main = tmp_path / "main"
    (main / "pkdlib").mkdir(parents=True)
    (main / "pkdlib" / "paths.py").write_text("")
    out = main / "results" / "runs" / "r.ipynb"
    out.parent.mkdir(parents=True)
    tmp = out.with_name(".tmp.r.ipynb.abc.ipynb")
    nb = {
        "metadata": {
            "papermill": {
                "input_path": str(main / "notebooks" / "02_student.ipynb"),
                "output_path": str(tmp),
                "parameters": {"work_dir": str(main / "work")},
            }
        },
        "cells": [{"outputs": [{"text": [f"teacher: {main}/work/models/t\n"]}]}],
    }
    tmp.write_text(json.dumps(nb))
    scrub_notebook(tmp, out, {"work_dir": str(main / "work")}, cwd=tmp_path)
    got = json.loads(tmp.read_text())
    assert got["metadata"]["papermill"] == {
        "input_path": "notebooks/02_student.ipynb",
        "output_path": "results/runs/r.ipynb",
        "parameters": {"work_dir": "work"},
    }
    assert got["cells"][0]["outputs"][0]["text"] == ["teacher: work/models/t\n"]
