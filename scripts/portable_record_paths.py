"""Make the path fields of committed records relative to the checkout that ran them (a one-off migration).

The `search` profile's 20 records and the precision check's 6 ran in another checkout of this project
(`<checkout>/work/models/rt-teacher-s0-9db3849444`) and stored that machine's absolute teacher folder; every other
record stores paths relative to its checkout (``pkdlib.paths.portable``). So did the `verdicts` study's first
students of its new teachers, run from a git worktree with `--work` in the main clone before `portable` learnt
to write a path relative to the checkout it lies in (their identities do not hold the teacher's folder). This rewrites such a path to its part
from `work/` or `results/` on, in the configuration and in the identity's configuration (these records are results
version 0: never reused), recomputes the identity hash, keeps the run id and says so in the record's `migrated`.
No number changes. Idempotent: a record without an absolute path is left byte-identical.

    .venv/bin/python scripts/portable_record_paths.py results/records results/benchmarks/precision/records
"""

import json
import re
import sys
from pathlib import Path

from pkdlib.files import atomic_write_json, content_key
from pkdlib.identity import PATHS

NOTE = (
    "2026-12-02: path fields were the absolute paths of the machine that ran this record; made relative to "
    "its checkout like every other record's (scripts/portable_record_paths.py); identity hash recomputed, run "
    "id kept; no number changed"
)


def relative(path):
    """``/any/checkout/work/models/x`` -> ``work/models/x``; anything else unchanged."""
    if isinstance(path, str) and path.startswith("/"):
        return re.sub(r"^.*/(?=(work|results)/)", "", path)
    return path


def migrate(record: dict) -> bool:
    changed = False
    for cfg in (record.get("config", {}), record.get("identity", {}).get("config", {})):
        for k in PATHS:
            if k in cfg and relative(cfg[k]) != cfg[k]:
                cfg[k], changed = relative(cfg[k]), True
    if changed:
        ident = record["identity"]
        ident["hash"] = content_key({k: v for k, v in ident.items() if k != "hash"})
        record["migrated"] = NOTE
    return changed


def main(folders) -> int:
    n = 0
    for folder in folders:
        for p in sorted(Path(folder).glob("*.json")):
            r = json.loads(p.read_text())
            if migrate(r):
                atomic_write_json(p, r)
                n += 1
    print(f"{n} records made portable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
