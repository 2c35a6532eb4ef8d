"""Every module of pkdlib and pkdstudy imports, and neither package's modules import each other in a circle.

The graph counts every import of a sibling module, at the top of a module or inside a function: an import moved
into a function still closes a circle, only hidden until the function runs (how pkdlib/data.py and pkdlib/tables.py
once imported each other).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGES = ("pkdlib", "pkdstudy")


def sibling_imports(folder: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports anywhere in its source (``__init__`` is the package)."""
    modules = {p.stem for p in folder.glob("*.py")}
    graph = {}
    for m in modules:
        edges = set()
        for node in ast.walk(ast.parse((folder / f"{m}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                absolute = node.level == 0 and (node.module or "").split(".")[0] == package
                if node.level == 1 or absolute:
                    parts = (node.module or "").split(".")[int(absolute) :]
                    if parts and parts[0]:
                        edges.add(parts[0])
                    else:  # from . import a, b: submodules, or names of the package itself
                        edges |= {a.name if a.name in modules else "__init__" for a in node.names}
            elif isinstance(node, ast.Import):
                edges |= {
                    a.name.split(".")[1]
                    for a in node.names
                    if a.name.startswith(package + ".") and len(a.name.split(".")) > 1
                }
        graph[m] = {e for e in edges if e in modules and e != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of a directed graph: its strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_among_a_packages_modules(package):
    graph = sibling_imports(ROOT / package, package)
    assert len(graph) > 5 and graph["__init__"] is not None
    assert cycles(graph) == [], f"{package}: modules that import each other (counting imports inside functions)"


def test_the_circle_check_sees_an_import_hidden_in_a_function(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import y\n    return y\n")
    (tmp_path / "c.py").write_text("import pkg.a\nfrom pkg import b\n")
    (tmp_path / "__init__.py").write_text("")
    graph = sibling_imports(tmp_path, "pkg")
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"a", "b"}, "__init__": set()}
    assert cycles(graph) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports(package):
    names = [m.name for m in pkgutil.iter_modules([str(ROOT / package)])]
    assert len(names) > 5
    for name in names:
        importlib.import_module(f"{package}.{name}")


def test_every_module_and_file_the_code_names_exists():
    """Names in docstrings, help texts and comments: ``python -m pkdlib.x``, ``pkdstudy.y``, ``tests/test_z.py``,
    ``pkdlib/w.py`` must name a module (or a package attribute) and files that exist."""
    import re

    groups = set(re.findall(r'^\[project\.entry-points\."([a-z_.]+)"\]', (ROOT / "pyproject.toml").read_text(), re.M))
    assert groups == {"pkdlib.commands"}  # an entry-point group's name is not a module
    missing = set()
    for folder in ("pkdlib", "pkdstudy", "scripts", "tests"):
        for path in sorted(p for p in (ROOT / folder).glob("*.py") if p.name != Path(__file__).name):
            text = path.read_text(encoding="utf-8")
            for pkg, name in re.findall(r"\b(pkdlib|pkdstudy)\.([a-z_]+)\b", text):
                if f"{pkg}.{name}" in groups:
                    continue
                if not (ROOT / pkg / f"{name}.py").is_file() and not hasattr(importlib.import_module(pkg), name):
                    missing.add(f"{path.name}: {pkg}.{name}")
            for f in re.findall(
                r"\b((?:tests|scripts|pkdlib|pkdstudy|notebooks)/[A-Za-z0-9_]+\.(?:py|sh|ipynb))\b", text
            ):
                if not (ROOT / f).is_file():
                    missing.add(f"{path.name}: {f}")
    assert not missing, sorted(missing)
