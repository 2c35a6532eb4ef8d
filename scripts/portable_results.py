"""Take the machine paths out of the committed results/ (a one-off migration, 2026-12-07, issue 35).

Two kinds of committed file held the absolute paths of the checkouts that wrote them:

* the records of the verdicts study's two other teachers (``rt-teacher-s1-5ba972450f``, ``rt-teacher-s2-d8957a87be``)
  store ``model_dir`` as ``/work/main/work/models/<run id>``: made relative (``work/models/<run id>``, as every other
  record and ``pkdlib.paths.portable`` write it), with a ``migrated`` note. ``model_dir`` is not part of a run's
  identity (its hash is unchanged) and no number changes; a clone anywhere now finds the committed weights.
* the executed notebooks under ``results/runs/`` (papermill's input and output paths, the parameters, printed
  paths and warnings) name the checkouts that ran them (``/work/main``, ``/work/wt-verdicts``, ``/work/cpu_run``,
  ...): each path inside a checkout is written relative to it (``pkdstudy.scrub.scrub_text``, what the notebook
  writer now does to every new one), and papermill's temporary output name becomes the notebook's own. Outputs,
  numbers and cell sources are otherwise byte-identical.

A checkout is found as the part of an absolute path before ``/results``, ``/work``, ``/notebooks`` or ``/.venv``.
Idempotent: a file without a machine path is left untouched. After it, ``pkd study --profile full --dry-run`` still
says 0 to run, and ``tests/test_portable_results.py`` finds no machine path under results/.

    PYTHONPATH=. .venv/bin/python scripts/portable_results.py results
"""

import json
import re
import sys
from pathlib import Path

from pkdlib.files import atomic_write_json, atomic_write_text
from pkdstudy.scrub import scrub_text

NOTE = (
    "2026-12-07: model_dir was the absolute path of the machine that ran this record; made relative to its "
    "checkout like every other record's (scripts/portable_results.py); not part of the identity, no number changed"
)
#: an absolute checkout: the path before one of the project's top folders
CHECKOUT = re.compile(r"(?<![\w.-])((?:/[^/\"'\\\s]+)+?)(?=/(?:results|work|notebooks|\.venv)(?:[/\\\"']|$))")
TMP_OUTPUT = re.compile(r'("output_path": ")[^"]*\.tmp\.[^"]*(")')


def record(path: Path) -> bool:
    """A record's absolute ``model_dir`` made relative; True if it changed."""
    r = json.loads(path.read_text())
    d = r.get("model_dir")
    if not (isinstance(d, str) and d.startswith("/")):
        return False
    r["model_dir"] = re.sub(r"^.*/(?=(work|results)/)", "", d)
    r["migrated"] = f"{r['migrated']} | {NOTE}" if r.get("migrated") else NOTE
    atomic_write_json(path, r)
    return True


def notebook(path: Path, root: Path) -> bool:
    """An executed notebook's checkout paths made relative; True if it changed."""
    text = path.read_text(encoding="utf-8")
    new = scrub_text(text, sorted(set(CHECKOUT.findall(text))))
    new = TMP_OUTPUT.sub(lambda m: m.group(1) + path.resolve().relative_to(root).as_posix() + m.group(2), new)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def main(results="results") -> int:
    results = Path(results)
    root = results.resolve().parent
    n_rec = sum(record(p) for p in sorted(results.glob("**/records/*.json")))
    n_nb = sum(notebook(p, root) for p in sorted(results.glob("**/*.ipynb")))
    print(f"{n_rec} records and {n_nb} notebooks made portable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
