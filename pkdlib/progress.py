"""Progress bars: tqdm's plain bar with rate and ETA; in a terminal it redraws often, elsewhere (notebooks
run by papermill, logs) it prints one line every 20 s at a steady cadence, so executed notebooks stay small."""

from __future__ import annotations

import sys


def progress(iterable=None, **kw):
    from tqdm import tqdm

    tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    kw.setdefault("mininterval", 0.1 if tty else 20.0)
    kw.setdefault("file", sys.stderr)
    kw.setdefault("dynamic_ncols", tty)
    kw.setdefault("miniters", None if tty else 1)  # outside a terminal: check the clock at every step
    return tqdm(iterable, **kw)
