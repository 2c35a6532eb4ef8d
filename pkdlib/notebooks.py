"""Notebook mechanics: the jupytext sources in notebooks/, parameter checking, papermill execution.

papermill injects unknown parameter names silently; ``check_parameters`` compares what is passed
with the notebook's ``parameters`` cell (names and literal types) and refuses mismatches before any
kernel starts. Executed notebooks are written to a temporary name and renamed.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


class NotebookParameterError(ValueError):
    pass


def notebook_path(name: str) -> Path:
    """notebooks/<name>.ipynb (kept in sync with its jupytext pair <name>.py)."""
    p = NOTEBOOK_DIR / f"{name}.ipynb"
    if not p.is_file():
        known = sorted(x.stem for x in NOTEBOOK_DIR.glob("*.ipynb"))
        raise FileNotFoundError(f"no notebook {name!r} in {NOTEBOOK_DIR}; known: {known}")
    return p


def declared_parameters(path) -> dict:
    """{name: default literal} from the cell tagged 'parameters'."""
    import ast

    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            out = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
            return out
    raise NotebookParameterError(f"{path} has no cell tagged 'parameters'")


def _type_ok(default, value) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_parameters(path, params: dict) -> dict:
    """Raise NotebookParameterError naming any unknown or mistyped parameter; return the declared defaults."""
    declared = declared_parameters(path)
    errors = []
    for k, v in params.items():
        if k not in declared:
            close = difflib.get_close_matches(k, declared, 1)
            errors.append(f"unknown parameter {k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        elif not _type_ok(declared[k], v):
            errors.append(f"parameter {k}={v!r} is a {type(v).__name__}; the notebook expects "
                          f"{type(declared[k]).__name__} (default {declared[k]!r})")
    if errors:
        raise NotebookParameterError(f"{Path(path).name}: " + "; ".join(errors)
                                     + f". Accepted parameters: {', '.join(declared)}")
    return declared


def execute(name: str, output, params: dict, cwd=None, log_output=False, progress=False):
    """Check parameters, then run notebooks/<name>.ipynb with papermill into ``output`` (atomically)."""
    import papermill as pm
    src = notebook_path(name)
    check_parameters(src, params)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".tmp.{output.stem}.", suffix=".ipynb")
    os.close(fd)
    try:
        pm.execute_notebook(str(src), tmp, parameters=params, cwd=str(cwd or Path.cwd()), progress_bar=progress,
                            log_output=log_output, kernel_name="python3")
        os.replace(tmp, output)
    except BaseException:
        # keep the failed notebook beside the output for inspection, never under the final name
        if Path(tmp).exists():
            os.replace(tmp, output.with_name(output.stem + ".failed.ipynb"))
        raise
