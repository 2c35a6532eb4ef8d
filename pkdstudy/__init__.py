"""pkdstudy: this repository's study of PKD, built on pkdlib (which never imports it).

Profiles (``profiles``) expand into plans (``plan``) that the runner (``study``) executes as papermill notebooks
(``notebooks``); the report (``report``, ``claims``, ``stats``) turns the records into tables and figures; the
speed-up (``speed``), benchmarks (``bench``), the official results (``reference``) and the teaching notebook's
helpers (``teaching``) sit beside them.

This package is what knows the repository's layout: ``ROOT`` (the checkout it lies in), ``in_project`` (a notebook
started by JupyterLab in notebooks/ means the checkout's results/ and work/, as under papermill, which runs in the
checkout), and ``Checkout``, installed into pkdlib on import when this package runs from a checkout (not from
an installed copy in site-packages), so that records hold paths relative to the checkout.
"""

from __future__ import annotations

from pathlib import Path

from pkdlib.paths import Project, set_project

ROOT = Path(__file__).resolve().parents[1]


def checkout(p: Path) -> Path | None:
    """The nearest folder above ``p`` that is a checkout of this project (holds pkdlib/paths.py), if any."""
    return next((d for d in p.parents if (d / "pkdlib" / "paths.py").is_file()), None)


def in_project(path: str | None, cwd: str | Path | None = None) -> str | None:
    """A relative path against the checkout when the kernel runs in a checkout's notebooks/ folder, else against
    the working directory; absolute paths and None are returned unchanged."""
    if path is None or Path(path).is_absolute():
        return path
    cwd = Path(cwd or Path.cwd()).resolve()
    base = cwd.parent if cwd.name == "notebooks" and (cwd.parent / "pkdlib" / "paths.py").is_file() else cwd
    return str(base / path)


class Checkout(Project):
    """pkdlib's project as the study sees it: relative paths as ``in_project`` reads them; a path is written
    relative to this checkout, or to the checkout it lies in (a study run from a git worktree of this clone with
    ``--work`` in another); a record's relative path is looked for in this checkout first."""

    def base(self) -> Path:
        return Path(in_project("."))

    def roots(self, path: Path | None) -> list[Path]:
        return [ROOT] if path is None else [r for r in (ROOT, checkout(path)) if r is not None]


if (ROOT / "run_all.sh").is_file():
    set_project(Checkout())
