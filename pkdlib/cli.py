"""The library's command line: ``pkd train`` (one run, one record). The ``pkd`` command adds the study's
commands to this parser (``pkdstudy.cli``: study, report, clean, bench); ``python -m pkdlib.cli`` is the
library's alone.

    pkd train --method teacher --task rt --epochs 3
    pkd train --method pkd-skip --student-layers 3 --teacher-dir work/models/rt-teacher-s0-...
    accelerate launch --multi_gpu --num_processes 2 -m pkdlib.cli train ...  # several GPUs (CPU processes without GPUs)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .config import RunConfig, field_help
from .errors import guarded


def _add_config_args(p: argparse.ArgumentParser):
    """One option per RunConfig field; help, default and accepted values come from the field's metadata."""
    types = {"bool": _bool, "int": int, "int | None": int, "float": float}
    for f in dataclasses.fields(RunConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=types.get(f.type, str), default=None,
                       metavar="true|false" if f.type == "bool" else None, help=field_help(f).replace("%", "%%"))


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def _train(args) -> int:
    from .paths import Workspace
    from .runs import run
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if getattr(args, f.name) is not None}
    rec = run(RunConfig.from_dict(kw), Workspace(args.results, args.work), progress=not args.no_progress,
              force=args.force)
    if rec:
        print(json.dumps({"run_id": rec["run_id"], "dev": rec["dev"], "test": rec["test"],
                          "best_epoch": rec["best_epoch"], "objective": rec["objective"]}))
    return 0


def parser() -> tuple[argparse.ArgumentParser, object, dict]:
    """The parser, its sub-command table (for other commands to join) and the handlers by command name."""
    ap = argparse.ArgumentParser(prog="pkd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train one run and write its record")
    _add_config_args(tr)
    tr.add_argument("--results", default="results", help="where the record goes (default: results)")
    tr.add_argument("--work", default="work", help="caches and weights (default: work)")
    tr.add_argument("--force", action="store_true", help="rerun even if a matching record exists")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap, sub, {"train": _train}


def main(argv=None) -> int:
    ap, _, handlers = parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: handlers[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
