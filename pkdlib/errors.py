"""The one error boundary of ``pkd`` and the study: known failures print ``error: <what, where, what to do>``
and exit 2; anything unexpected keeps its traceback.

``saving(path, *temporaries)`` wraps every save path: on any failure its temporaries are removed, and an OS-level
failure (an ``OSError``, or one a library reports in its own exception class: safetensors' ``SafetensorError``,
torch's ``RuntimeError`` from its stream writer) becomes a ``SaveError`` naming the file and the cause."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType


class KnownError(Exception):
    """A failure whose message says what, where and what to do (printed as ``error: ...``, exit 2). Each error
    class lives beside the code that raises it and derives from this one (ConfigError, DataError, ...)."""


class SaveError(KnownError, OSError):
    """A file of a run or an export could not be written (disk full, permissions); its temporaries are gone."""


#: file-system failures that are the machine's state, not a bug: said in one line
KNOWN_ERRNO = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)

#: how libraries spell an OS error inside their own exception's message (Rust's io::Error, C's "[Errno N]")
_ERRNO_TEXT = (re.compile(r"\[Errno (\d+)\]"), re.compile(r"Os \{ code: (\d+)"), re.compile(r"os error (\d+)"))


def os_errno(e: BaseException) -> int | None:
    """The OS error number behind ``e``: its own (an OSError), or for the writers' own exceptions (safetensors'
    SafetensorError, torch's RuntimeError) one named in the message, ENOSPC for "No space left on device", EIO for
    torch's "file write failed"; None when ``e`` is not an OS-level failure."""
    if isinstance(e, OSError) and e.errno is not None:
        return e.errno
    if type(e).__name__ != "SafetensorError" and type(e) is not RuntimeError:
        return None  # another library's or the user's error that merely quotes an OS error: not a save failure
    text = str(e)
    for pattern in _ERRNO_TEXT:
        if m := pattern.search(text):
            return int(m.group(1))
    if "No space left on device" in text:
        return errno.ENOSPC
    if "write failed" in text or "failed writing" in text:
        return errno.EIO
    return None


def remove_quietly(*paths) -> None:
    """Remove temporaries (files or folders) of a failed save; missing ones are fine."""
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def saving(path, *temporaries):
    """Run a save: on failure remove ``temporaries``; an OS-level failure wrapped in a library's exception is
    raised as ``SaveError`` (exit 2 at the boundary), as is any ``OSError``; anything else unchanged."""
    try:
        yield
    except BaseException as e:
        remove_quietly(*temporaries)
        code = os_errno(e)
        if code is None or isinstance(e, KnownError):
            raise
        raise SaveError(
            code,
            f"cannot write {path}: {os.strerror(code)} ({type(e).__name__}); free space or fix "
            f"the folder's permissions, then rerun (finished runs are kept; no partial file was "
            f"left)",
        ) from e


def guarded(fn) -> int:
    """The one error boundary of the command line and the study: known failures print ``error: ...`` and return
    2; anything unexpected keeps its traceback."""
    try:
        return fn()
    except SaveError as e:
        print(f"error: {e.strerror}", file=sys.stderr)
    except KnownError as e:
        print(f"error: {e}", file=sys.stderr)
    except OSError as e:
        if e.errno not in KNOWN_ERRNO:
            raise
        where = f": {e.filename}" if e.filename else " (writing a file of this run)"
        print(
            f"error: {e.strerror}{where}; free space or fix the folder's permissions, then rerun "
            f"(finished runs are kept)",
            file=sys.stderr,
        )
    return 2


class MissingExtra(KnownError, ImportError):
    """An optional package that a feature needs is not installed; the message names the extra that installs it."""


def require(module: str, feature: str, extra: str) -> ModuleType:
    """``module`` imported, or a MissingExtra saying that ``feature`` needs it (or a module it imports) and that
    pkdlib's extra ``extra`` installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise MissingExtra(
            f"{feature} needs the module {e.name or module!r}, which is not installed; pkdlib's extra "
            f"{extra!r} installs it: pip install '.[{extra}]' in a clone of pkd-study"
        ) from None
