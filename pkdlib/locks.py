"""One lock per folder pkd writes to (``<folder>/.lock``, filelock), taken by every command that writes there:
``pkd train``, ``pkd distill``, ``pkd export`` (the work folder of the model it reads), ``pkd clean`` and the
study. ``.lock.holder`` says who holds it (pid, start, command).

A command that may wait (train, distill, export) says ``waiting for <folder>/: held by pid ...`` and waits; one that
must not (a study, ``pkd clean``) is refused, naming the holder. A command takes each folder's lock once however
it is spelled (``--results X --work X``: one folder, one lock), so it never refuses itself. A holder file left by a
killed process is reported and taken over (the operating system released its lock when the process died).
Under a multi-process launch (``accelerate launch``, torchrun: ``LOCAL_RANK`` set) only each machine's first
process takes the lock, for the group: its other processes would otherwise wait on their own group's lock forever.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import KnownError

__all__ = ["FolderLock", "LockError"]


class LockError(KnownError, RuntimeError):
    """The folder is held by another pkd command."""


class FolderLock:
    """``with FolderLock(folder, wait=True):`` holds ``folder`` for this process (see the module)."""

    def __init__(self, folder, wait: bool = True, log=print):
        self.dir, self.wait, self.log = Path(folder), wait, log
        self.holder = self.dir / ".lock.holder"

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = None
        if os.environ.get("LOCAL_RANK", "0") != "0":  # the group's first process holds it (see the module)
            return self
        self.lock = FileLock(str(self.dir / ".lock"), timeout=0)
        try:
            self.lock.acquire()
        except Timeout:
            who = self.held_by() or "an unknown process"
            if not self.wait:
                raise LockError(
                    f"another pkd command is running on {self.dir}/ (held by {who}); wait for it to "
                    f"finish or choose another folder"
                ) from None
            self.log(f"waiting for {self.dir}/: held by {who}")
            self.lock.acquire(timeout=-1, poll_interval=0.5)
            self.log(f"{self.dir}/ is free; going on")
        if stale := self.held_by():
            self.log(
                f"note: a previous pkd command on {self.dir}/ ended without releasing its lock ({stale}); "
                f"taking it over"
            )
        self.holder.write_text(
            f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}, command {' '.join(sys.argv)}\n"
        )
        return self

    def __exit__(self, *exc):
        if self.lock is None:
            return
        self.holder.unlink(missing_ok=True)
        self.lock.release()

    def held_by(self) -> str:
        """Who holds the lock, as its holder file says (damaged bytes shown as such, never a crash)."""
        try:
            return self.holder.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
