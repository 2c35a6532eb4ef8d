"""The one error boundary of ``pkd`` and the study: known failures print ``error: <what, where, what to do>``
and exit 2; anything unexpected keeps its traceback."""
from __future__ import annotations

import errno
import importlib
import sys
from types import ModuleType


class KnownError(Exception):
    """A failure whose message says what, where and what to do (printed as ``error: ...``, exit 2). Each error
    class lives beside the code that raises it and derives from this one (ConfigError, DataError, ...)."""


#: file-system failures that are the machine's state, not a bug: said in one line
KNOWN_ERRNO = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


def guarded(fn) -> int:
    """The one error boundary of the command line and the study: known failures print ``error: ...`` and return
    2; anything unexpected keeps its traceback."""
    try:
        return fn()
    except KnownError as e:
        print(f"error: {e}", file=sys.stderr)
    except OSError as e:
        if e.errno not in KNOWN_ERRNO:
            raise
        where = f": {e.filename}" if e.filename else " (writing a file of this run)"
        print(f"error: {e.strerror}{where}; free space or fix the folder's permissions, then rerun "
              f"(finished runs are kept)", file=sys.stderr)
    return 2


class MissingExtra(KnownError, ImportError):
    """An optional package that a feature needs is not installed; the message names the extra that installs it."""


def require(module: str, feature: str, extra: str) -> ModuleType:
    """``module`` imported, or a MissingExtra saying that ``feature`` needs it (or a module it imports) and that
    pkdlib's extra ``extra`` installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise MissingExtra(f"{feature} needs the module {e.name or module!r}, which is not installed; pkdlib's extra "
                           f"{extra!r} installs it: pip install '.[{extra}]' in a clone of pkd-study") from None
