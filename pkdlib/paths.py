"""Where a notebook's relative paths point, whoever starts its kernel.

papermill (run_all.sh) runs notebooks with the project root as the working directory; JupyterLab
starts a kernel in the notebook's own folder (notebooks/). ``in_project`` makes the defaults
``results_dir="results"`` and ``work_dir="work"`` mean the project's results/ and work/ in both.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def in_project(path: str | None, cwd: str | Path | None = None) -> str | None:
    """A relative path against the project root when the kernel runs in the project's notebooks/ folder,
    else against the working directory; absolute paths and None are returned unchanged."""
    if path is None or Path(path).is_absolute():
        return path
    cwd = Path(cwd or Path.cwd()).resolve()
    base = cwd.parent if cwd.name == "notebooks" and (cwd.parent / "pkdlib" / "paths.py").is_file() else cwd
    return str(base / path)
