"""Where things live: the project root, a study's workspace, and paths written into records.

papermill (run_all.sh) runs notebooks with the project root as the working directory; JupyterLab
starts a kernel in the notebook's own folder (notebooks/). ``in_project`` makes the defaults
``results_dir="results"`` and ``work_dir="work"`` mean the project's results/ and work/ in both.
``portable`` writes a path inside the project relative to it, so records never hold where a clone lives.
"""
from __future__ import annotations

from pathlib import Path

from .errors import KnownError

ROOT = Path(__file__).resolve().parents[1]


def in_project(path: str | None, cwd: str | Path | None = None) -> str | None:
    """A relative path against the project root when the kernel runs in the project's notebooks/ folder,
    else against the working directory; absolute paths and None are returned unchanged."""
    if path is None or Path(path).is_absolute():
        return path
    cwd = Path(cwd or Path.cwd()).resolve()
    base = cwd.parent if cwd.name == "notebooks" and (cwd.parent / "pkdlib" / "paths.py").is_file() else cwd
    return str(base / path)


def from_record(path: str | None) -> str | None:
    """A path read from a record: ``portable`` wrote it relative to the project root, so it is read against the
    root whatever the working directory (a command run from a sub-folder of the clone)."""
    if path is None or Path(path).is_absolute():
        return path
    return str(ROOT / path) if (ROOT / path).exists() else in_project(path)  # else: a project of its own (cwd)


def portable(path: str | None, root: str | Path | None = None) -> str | None:
    """``path`` relative to the project root (or ``root``) when it lies inside it, or relative to the checkout of
    this project it lies in (a study run from a git worktree of this clone with ``--work`` in another); else
    unchanged (a user's own file outside any checkout)."""
    if path is None:
        return None
    p = Path(in_project(str(path))).resolve()
    for base in (Path(root or ROOT).resolve(), checkout_of(p)):
        if base is not None and p.is_relative_to(base):
            return p.relative_to(base).as_posix()
    return str(path)


def checkout_of(p: Path) -> Path | None:
    """The nearest folder above ``p`` that is a checkout of this project (holds pkdlib/paths.py), if any."""
    return next((d for d in p.parents if (d / "pkdlib" / "paths.py").is_file()), None)


#: written by pkd into every results/ and work/ folder it writes to; ``pkd clean`` touches only folders that have it
MARKER = ".pkd-folder"


class Workspace:
    """Where a study writes: ``results/`` (records, tables, figures, notebooks; committed) and
    ``work/`` (teacher weights, teacher caches, token caches; never committed)."""

    def __init__(self, results="results", work="work"):
        for name, d in (("results", results), ("work", work)):
            if not str(d).strip():
                raise WorkspaceError(f"the {name} folder is empty ({d!r}); name a folder, e.g. {name}")
        self.results, self.work = Path(results), Path(work)
        self.records, self.runs = self.results / "records", self.results / "runs"
        self.cache, self.models = self.work / "cache", self.work / "models"

    def check_writable(self) -> None:
        """Fail before any training when results/ or work/ cannot take a file (a file in the way, read-only,
        full disk), naming the folder. Marks both folders as pkd's (``MARKER``)."""
        import tempfile
        for top in (self.results, self.work):
            try:
                top.mkdir(parents=True, exist_ok=True)
                (top / MARKER).touch()
            except OSError as e:
                raise WorkspaceError(f"cannot write to {top}/ ({e.strerror or e}); make it writable, free space, "
                                     f"or choose other --results / --work folders") from None
        for d in (self.records, self.runs, self.cache, self.models):
            try:
                d.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=d) as f:
                    f.write(b"x" * 4096)
                    f.flush()
            except OSError as e:
                raise WorkspaceError(f"cannot write to {d}/ ({e.strerror or e}); make it writable, free space, "
                                     f"or choose other --results / --work folders") from None


class WorkspaceError(KnownError, ValueError):
    """results/ or work/ cannot be written."""
