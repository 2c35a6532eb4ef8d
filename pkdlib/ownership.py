"""What pkd wrote, so that it deletes only that, and replaces a folder of its own in one step.

* ``cache/`` and ``models/`` of a work folder each hold a ledger (``.pkd-files.jsonl``): one line per file pkd wrote
  there (its path below the ledger's folder, size, mtime and sha256). ``pkd clean`` deletes a listed file only while
  it is unchanged (same size and mtime, or same sha256) and names every file it keeps.
* An export lists its files with their sha256 (``files`` of its ``pkd-export.json``); ``foreign`` names whatever
  else a folder holds, or what changed, and ``install`` replaces a folder only after that check, in one step.
* A temporary folder pkd builds in holds a marker (``.pkd-temp``: pid and host), so that a killed command's
  temporaries are recognised by name and marker (``stale_temps``) and removed, never anything else.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
from pathlib import Path

from .errors import remove_quietly
from .files import file_sha256, rename_noreplace

LEDGER = ".pkd-files.jsonl"
TEMP_MARKER = ".pkd-temp"


def ledger_entry(path, name: str) -> dict:
    """A ledger line for the file ``path``, listed as ``name`` (its path below the ledger's folder)."""
    st = Path(path).stat()
    return {"path": name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}


def note_written(base, paths=(), entries=()) -> None:
    """Add ``paths`` (files below ``base``) and ready ``entries`` to ``base``'s ledger: one line each, appended in
    one write."""
    base = Path(base)
    entries = [*entries, *(ledger_entry(p, Path(p).relative_to(base).as_posix()) for p in paths)]
    with open(base / LEDGER, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(e) + "\n" for e in entries))


def listed(base) -> dict:
    """The ledger of ``base``: path -> its latest entry (a damaged line is skipped: its file is then kept)."""
    out = {}
    try:
        text = (Path(base) / LEDGER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            e = json.loads(line)
            out[str(e["path"])] = {"size": int(e["size"]), "mtime_ns": int(e["mtime_ns"]), "sha256": str(e["sha256"])}
        except (ValueError, KeyError, TypeError):
            continue
    return out


def unchanged(path: Path, e: dict) -> bool:
    """``path`` is the file a ledger entry describes: same size, and same mtime or (when touched) same sha256."""
    st = path.stat()
    return st.st_size == e["size"] and (st.st_mtime_ns == e["mtime_ns"] or file_sha256(path) == e["sha256"])


def rewrite_ledger(base, keep: dict) -> None:
    """The ledger of ``base`` with only ``keep``'s entries (removed when none is left)."""
    path = Path(base) / LEDGER
    if not keep:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".tmp{LEDGER}")
    tmp.write_text("".join(json.dumps({"path": k, **e}) + "\n" for k, e in keep.items()), encoding="utf-8")
    os.replace(tmp, path)


def file_hashes(folder, skip=()) -> dict:
    """Every file below ``folder`` (path relative to it -> sha256), less the names in ``skip``."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if (p.is_file() or p.is_symlink()) and p.relative_to(folder).as_posix() not in skip
    }


def foreign(folder, files: dict, skip=(), changed_ok: bool = False) -> list[str]:
    """What ``folder`` holds beyond ``files`` (path -> sha256 pkd wrote), or changed since (unless ``changed_ok``):
    one description each, naming the file."""
    folder, out = Path(folder), []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel in skip or (p.is_dir() and not p.is_symlink()):
            continue
        if rel not in files:
            out.append(f"{rel} (not written by pkd)")
        elif not changed_ok and (p.is_symlink() or file_sha256(p) != files[rel]):
            out.append(f"{rel} (changed since pkd wrote it)")
    return out


def present_files(folder) -> list[str]:
    """The files below ``folder`` as they are there (paths relative to it): what a check found and may delete."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink() or not p.is_dir())


def delete_listed(folder, names) -> list[str]:
    """Delete the files ``names`` of ``folder`` (never a name that leads outside it) and then its sub-folders and
    itself while empty; returns what stays."""
    folder = Path(folder)
    for n in names:
        if not Path(n).is_absolute() and ".." not in Path(n).parts:
            (folder / n).unlink(missing_ok=True)
    for d in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if any(folder.iterdir()):
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    folder.rmdir()
    return []


def make_temp_dir(parent, prefix: str) -> Path:
    """A new folder with a unique name beside the final one (``tempfile.mkdtemp``), marked as pkd's temporary."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (d / TEMP_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(parent, prefix: str) -> list[Path]:
    """Temporary folders named ``prefix*`` in ``parent`` that hold pkd's marker and whose process (on this host)
    has ended: what a killed command left. Anything without the marker is not pkd's and is never listed."""
    out = []
    for d in sorted(Path(parent).glob(f"{prefix}*")) if Path(parent).is_dir() else []:
        try:
            m = json.loads((d / TEMP_MARKER).read_text())
            if d.is_dir() and m["host"] == socket.gethostname() and not _alive(int(m["pid"])):
                out.append(d)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def remove_stale_temps(parent, prefix: str, log=print) -> list[Path]:
    """Remove what ``stale_temps`` lists, saying so."""
    gone = stale_temps(parent, prefix)
    for d in gone:
        remove_quietly(d)
        log(f"removed {d} (the temporary folder of a pkd command that did not finish)")
    return gone


class ReplaceError(FileExistsError):
    """The final folder cannot be replaced (it holds what pkd may not delete, or appeared meanwhile)."""


def install(tmp: Path, out: Path, check, attempts: int = 10) -> list[str]:
    """Put the finished folder ``tmp`` at ``out``: renamed there only while nothing is there. A folder at ``out`` is
    first moved aside in one rename and checked there, where nothing else writes (``check(folder)`` returns the files
    pkd may delete, or raises: the folder is then moved back); only those files are deleted. Returns what was left of
    replaced folders (nothing when ``check`` was right). A folder that appears at ``out`` meanwhile (another save of
    the same run) is checked the same way before it is replaced; one ``check`` refuses is never touched."""
    left: list[str] = []
    for _ in range(attempts):
        try:
            rename_noreplace(tmp, out)
            (out / TEMP_MARKER).unlink(missing_ok=True)
            return left
        except FileExistsError:
            pass
        try:  # one look (lstat): a folder another save moves away between two looks is not "not a folder"
            kind = os.lstat(out).st_mode
        except FileNotFoundError:  # moved away meanwhile: try again
            continue
        if not stat.S_ISDIR(kind):  # a file or a link (lstat does not follow it)
            raise ReplaceError(f"{out} exists and is not a folder; nothing replaced")
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.pkd-old.", dir=out.parent))
        try:
            os.rename(out, old)  # onto the empty folder just made: one step
        except FileNotFoundError:  # moved away meanwhile: try again
            old.rmdir()
            continue
        try:
            names = check(old)
        except BaseException:
            _put_back(old, out)
            raise
        left += delete_listed(old, names)
    raise ReplaceError(
        f"{out} keeps being replaced by another process while pkd replaces it; nothing of it deleted "
        f"but pkd's own checked files"
    )


def _put_back(old: Path, out: Path) -> None:
    try:
        rename_noreplace(old, out)
    except OSError:
        raise ReplaceError(f"{out} was created meanwhile; the earlier folder is kept at {old}") from None
