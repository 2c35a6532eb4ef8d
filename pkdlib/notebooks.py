"""Notebook mechanics: the jupytext sources in notebooks/, parameter checking, papermill execution.

papermill injects unknown parameter names silently; ``check_parameters`` compares what is passed
with the notebook's ``parameters`` cell (names and literal types) and refuses mismatches before any
kernel starts. Executed notebooks are written to a temporary name and renamed.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from .files import atomic_write

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: the kernel's own warnings (e.g. "Kernel is running over TCP without encryption", on a loopback socket
#: of this machine) would print once per notebook; errors still show
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


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


def check_globals(namespace: dict, declared) -> None:
    """Called by a notebook right after its parameters: refuse any parameter the notebook does not declare,
    however it was run (papermill injects unknown names silently; ``-p studnet_layers 2`` would be ignored)."""
    import types
    ipython = {"In", "Out", "get_ipython", "exit", "quit", "open"}
    extra = sorted(k for k, v in namespace.items() if not k.startswith("_") and k not in declared
                   and k not in ipython and not isinstance(v, (types.ModuleType, types.FunctionType, type)))
    if extra:
        hints = [f"{k!r}" + (f" (did you mean {c[0]!r}?)" if (c := difflib.get_close_matches(k, declared, 1)) else "")
                 for k in extra]
        raise NotebookParameterError(f"unknown parameter(s) {', '.join(hints)}; this notebook accepts: "
                                     f"{', '.join(declared)}")


def set_threads(threads: int) -> None:
    """A notebook's share of the CPU when the study runs several at once (0: leave torch's default)."""
    if threads:
        import torch
        torch.set_num_threads(threads)


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
    """Check parameters, then run notebooks/<name>.ipynb with papermill into ``output`` (atomically); a
    failed notebook is kept beside it as ``<output>.failed.ipynb``, removed once the run succeeds."""
    import papermill as pm
    src = notebook_path(name)
    check_parameters(src, params)
    output = Path(output)
    failed = output.with_name(output.stem + ".failed.ipynb")
    atomic_write(output, lambda tmp: pm.execute_notebook(str(src), tmp, parameters=params, cwd=str(cwd or Path.cwd()),
                                                         progress_bar=progress, log_output=log_output,
                                                         kernel_name="python3", extra_arguments=QUIET_KERNEL),
                 keep_failed=failed)
    failed.unlink(missing_ok=True)
