"""No absolute path in what the study commits: an executed notebook would name where its checkout, virtual
environment and home folder lie (papermill's input and output paths, the parameters, printed paths, warnings).

``scrub_notebook`` rewrites an executed notebook's text: every path inside a checkout of this project (this one,
the working directory's, the output's, and that of any absolute path among the parameters: a study run from a git
worktree with ``--work`` in the main clone) relative to that checkout, as records hold them (``pkdlib.paths.portable``);
the Python installation and the home folder by name (``<python>``, ``~``); papermill's temporary output name by
the notebook's final one. ``ABSOLUTE`` is what no committed file under results/ may hold
(``tests/test_portable_results.py``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pkdlib.paths import portable

from . import ROOT
from . import checkout as checkout_of

#: machine paths no committed file may hold: Linux and macOS home folders, /tmp, this project's /work, Windows drives
#: (a letter, a colon and one or two backslashes, not an escape such as "a:\n")
ABSOLUTE = re.compile(rb"/work/|/home/|/tmp/|/Users/|(?<![A-Za-z])[A-Za-z]:(?:\\\\|\\)(?![nrt\"\\])")


def _strings(x) -> list[str]:
    """Every string inside nested dicts and lists (a notebook's parameters)."""
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, (list, tuple)):
        return [s for v in x for s in _strings(v)]
    return [x] if isinstance(x, str) else []


def checkouts(*paths) -> list[Path]:
    """This checkout and those the absolute ``paths`` lie in (each once, resolved and as spelt)."""
    found = {ROOT, ROOT.resolve()}
    for p in paths:
        if isinstance(p, (str, Path)) and Path(p).is_absolute():
            found |= {c for c in (checkout_of(Path(p)), checkout_of(Path(p).resolve())) if c}
    return sorted(found, key=str)


def scrub_text(text: str, roots, named: dict | None = None) -> str:
    """``text`` with ``named`` strings replaced (exactly), then every path under one of ``roots`` made relative to it
    ("<root>/x" -> "x", "<root>" alone -> "."), the longest root first; then the Python installation (where it is
    a machine path ``ABSOLUTE`` refuses, outside the roots) and the home folder by name."""
    for old, new in (named or {}).items():
        text = text.replace(old, new)
    roots = [str(r) for r in roots]
    python = [
        (p, "<python>")
        for p in {sys.prefix, sys.base_prefix}
        if ABSOLUTE.search(p.encode() + b"/") and not any(Path(p).is_relative_to(r) for r in roots)
    ]  # a venv in a checkout: relative to it
    subs = [(r, None) for r in roots] + python + [(str(Path.home()), "~")]
    for root, name in sorted(subs, key=lambda s: len(s[0]), reverse=True):
        if len(root) > 1:
            pattern = r"(?<![\w./-])" + re.escape(root.rstrip("/")) + r"(/|(?=[\"'\s,)\]\\]|$))"
            text = re.sub(pattern, lambda m: (name + m.group(1)) if name else ("" if m.group(1) else "."), text)  # noqa: B023
    return text


def scrub_notebook(path, final, params: dict, cwd=None) -> None:
    """Rewrite the executed notebook at ``path`` (papermill's temporary output, renamed to ``final`` next)."""
    path, final = Path(path), Path(final)
    roots = checkouts(Path(cwd or Path.cwd()).resolve(), final.resolve(), *_strings(params))
    named = {str(path): portable(str(final.resolve())), str(path.resolve()): portable(str(final.resolve()))}
    path.write_text(scrub_text(path.read_text(encoding="utf-8"), roots, named), encoding="utf-8")
