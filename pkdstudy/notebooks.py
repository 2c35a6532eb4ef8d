"""Notebook mechanics: the jupytext sources in notebooks/, parameter checking, papermill execution.

papermill injects unknown parameter names silently; ``check_parameters`` compares what is passed
with the notebook's ``parameters`` cell (names and literal types) and refuses mismatches before any
kernel starts. Executed notebooks are written to a temporary name and renamed.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pkdlib.errors import KnownError
from pkdlib.files import atomic_write

from .scrub import scrub_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: the kernel's own warnings (e.g. "Kernel is running over TCP without encryption", on a loopback socket
#: of this machine) would print once per notebook; errors still show
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


class NotebookParameterError(KnownError, ValueError):
    pass


def notebook_path(name: str) -> Path:
    """notebooks/<name>.ipynb (kept in sync with its jupytext pair <name>.py)."""
    p = NOTEBOOK_DIR / f"{name}.ipynb"
    if not p.is_file():
        known = sorted(x.stem for x in NOTEBOOK_DIR.glob("*.ipynb"))
        raise FileNotFoundError(f"no notebook {name!r} in {NOTEBOOK_DIR}; known: {known}")
    return p


def declared_parameters(path) -> dict:
    """{name: default} of the cell tagged 'parameters' (papermill's ``inspect_notebook``; defaults are literals)."""
    import ast

    import papermill as pm

    found = pm.inspect_notebook(str(path))
    if not found:
        raise NotebookParameterError(f"{path} has no cell tagged 'parameters'")
    return {k: ast.literal_eval(p["default"]) for k, p in found.items()}


def check_globals(namespace: dict, name: str) -> None:
    """Called by notebook ``name`` right after its parameters: refuse any parameter it does not declare, or of
    another type than its default, however it was run (papermill injects unknown names silently, and
    ``-p force false`` gives the string 'false')."""
    import types

    declared = declared_parameters(notebook_path(name))
    ipython = {"In", "Out", "get_ipython", "exit", "quit", "open"}
    given = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in ipython
        and not isinstance(v, (types.ModuleType, types.FunctionType, type))
    }
    _refuse_bad(name, given, declared)


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
    _refuse_bad(Path(path).name, params, declared)
    return declared


def _refuse_bad(name: str, params: dict, declared: dict) -> None:
    errors = []
    for k, v in params.items():
        if k not in declared:
            close = difflib.get_close_matches(k, declared, 1)
            errors.append(f"unknown parameter {k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        elif not _type_ok(declared[k], v):
            errors.append(
                f"parameter {k}={v!r} is a {type(v).__name__}; the notebook expects "
                f"{type(declared[k]).__name__} (default {declared[k]!r})"
            )
    if errors:
        raise NotebookParameterError(f"{name}: " + "; ".join(errors) + f". Accepted parameters: {', '.join(declared)}")


def execute(name: str, output, params: dict, cwd=None, log_output=False, progress=False):
    """Check parameters, then run notebooks/<name>.ipynb with papermill into ``output`` (atomically), its machine
    paths made relative (``scrub.scrub_notebook``: the executed notebook is committed); a failed notebook is kept
    beside it as ``<output>.failed.ipynb`` (as papermill wrote it), removed once the run succeeds."""
    import papermill as pm

    src = notebook_path(name)
    check_parameters(src, params)
    output = Path(output)
    failed = output.with_name(output.stem + ".failed.ipynb")
    where = str(cwd or Path.cwd())

    def run(tmp):
        pm.execute_notebook(
            str(src),
            tmp,
            parameters=params,
            cwd=where,
            progress_bar=progress,
            log_output=log_output,
            kernel_name="python3",
            extra_arguments=QUIET_KERNEL,
        )
        scrub_notebook(tmp, output, params, where)

    atomic_write(output, run, keep_failed=failed)
    failed.unlink(missing_ok=True)
