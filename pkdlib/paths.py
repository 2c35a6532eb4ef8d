"""Where things live: a run's workspace, and paths written into records.

pkdlib takes the paths it is given: a relative path is the current directory's, and ``Workspace()`` is ./results
and ./work. ``portable`` writes a path inside the project relative to the project's folder, and ``from_record``
reads such a path back, so records never hold where a project lives. The project is the current directory unless
an application that knows its layout says otherwise with ``set_project`` (the study: its checkout, whichever of
its folders a command or notebook runs in).
"""

from __future__ import annotations

from pathlib import Path

from .errors import KnownError


class Project:
    """Where relative paths are read (``base``) and which folders a path is written relative to (``roots``):
    here, the current directory. An application subclasses it and installs its own with ``set_project``."""

    def base(self) -> Path:
        """The folder a relative path is read against."""
        return Path.cwd()

    def roots(self, path: Path | None) -> list[Path]:
        """The folders, most preferred first, that the absolute ``path`` is written relative to; ``None``: those a
        record's relative path is looked for in."""
        return [self.base()]


_project = Project()


def set_project(project: Project) -> Project:
    """Install ``project`` as pkdlib's notion of the project (see ``Project``); returns the one it replaces."""
    global _project
    old, _project = _project, project
    return old


def from_record(path: str | None) -> str | None:
    """A path read from a record: ``portable`` wrote it relative to the project, so it is read against the project's
    roots (the first where it exists), else against the base; absolute paths and None are returned unchanged."""
    if path is None or Path(path).is_absolute():
        return path
    found = next((r / path for r in _project.roots(None) if (r / path).exists()), None)
    return str(found or _project.base() / path)


def portable(path: str | None, root: str | Path | None = None) -> str | None:
    """``path`` relative to ``root`` or to the first of the project's roots it lies in; else unchanged (a user's
    own file outside the project)."""
    if path is None:
        return None
    p = (_project.base() / path).resolve()
    for base in ([Path(root)] if root else []) + _project.roots(p):
        if base is not None and p.is_relative_to(base.resolve()):
            return p.relative_to(base.resolve()).as_posix()
    return str(path)


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
        full disk), naming the folder. Marks both folders as pkd's (``MARKER``): only a new or empty folder is
        marked; one that already holds files without the marker (``--work .`` in a folder of one's own) is refused,
        so ``pkd clean`` never takes a user's folder for pkd's."""
        import tempfile

        tops = sorted({self.results, self.work}, key=lambda d: len(d.resolve().parts))  # an outer folder first
        for top in tops:
            check_adoptable(top)
        for top in tops:
            try:
                top.mkdir(parents=True, exist_ok=True)
                if not (top / MARKER).is_file():
                    check_adoptable(top)  # still empty: nothing arrived since the check above
                    (top / MARKER).touch()
            except OSError as e:
                raise WorkspaceError(
                    f"cannot write to {top}/ ({e.strerror or e}); make it writable, free space, "
                    f"or choose other --results / --work folders"
                ) from None
        for d in (self.records, self.runs, self.cache, self.models):
            try:
                d.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=d) as f:
                    f.write(b"x" * 4096)
                    f.flush()
            except OSError as e:
                raise WorkspaceError(
                    f"cannot write to {d}/ ({e.strerror or e}); make it writable, free space, "
                    f"or choose other --results / --work folders"
                ) from None


def check_adoptable(top: Path) -> None:
    """``top`` is pkd's (it holds ``MARKER``), new, or an empty folder; else WorkspaceError naming what it holds."""
    if not top.is_dir() or (top / MARKER).is_file():
        return
    held = sorted(p.name for p in top.iterdir() if p.name not in (".lock", ".lock.holder"))
    if held:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise WorkspaceError(
            f"{top}/ already holds files pkd did not write ({shown}) and is not a folder of pkd's "
            f"(no {MARKER}); pkd writes only into a new or empty folder, or one it made. Choose "
            f"another --results / --work folder (e.g. a new sub-folder)"
        )


class WorkspaceError(KnownError, ValueError):
    """results/ or work/ cannot be written."""
