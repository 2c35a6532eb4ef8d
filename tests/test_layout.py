"""The library is small and stands alone: nothing in pkdlib imports the study (pkdstudy), and no function in
the project is over 60 lines."""

import ast
import subprocess
import sys

from conftest import ROOT


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def test_the_library_never_imports_the_study():
    bad = [(p.name, m) for p in sorted((ROOT / "pkdlib").glob("*.py")) for m in _imports(p) if m.startswith("pkdstudy")]
    assert not bad, bad
    code = (
        "import sys, pkdlib, pkdlib.runs, pkdlib.cli, pkdlib.train, pkdlib.cache, pkdlib.records\n"
        "print(sorted(m for m in sys.modules if m.startswith('pkdstudy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_no_function_is_over_60_lines():
    long = []
    for folder in ("pkdlib", "pkdstudy", "scripts"):
        for p in sorted((ROOT / folder).glob("*.py")):
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > 60:
                        long.append(f"{folder}/{p.name}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_docs_describe_every_module_in_its_place():
    readme = (ROOT / "docs" / "library.md").read_text()
    lib = readme[readme.index("**`pkdlib/`**") : readme.index("**`pkdstudy/`**")]
    study = readme[readme.index("**`pkdstudy/`**") : readme.index("One run from the command line")]
    for folder, text in (("pkdlib", lib), ("pkdstudy", study)):
        for p in sorted((ROOT / folder).glob("*.py")):
            if p.name != "__init__.py":
                assert f"`{p.name}`" in text, f"README's {folder} table does not describe {p.name}"


def test_no_notebook_has_an_empty_code_cell():
    """JupyterLab's Run All leaves an empty code cell unnumbered ('[ ]:'), so a reader (and the browser test) sees a
    cell that never ran; an empty cell comes from a blank line too many after a jupytext header."""
    import json

    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        empty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and not "".join(c["source"]).strip()]
        assert not empty, f"{nb.name}: empty code cells at {empty}"
