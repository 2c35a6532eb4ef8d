"""Command line: ``pkd train`` (one run), ``pkd study`` (a profile of runs), ``pkd bench``, ``pkd clean``.

    pkd train --method teacher --task rt --epochs 3
    pkd train --method pkd-skip --student-layers 3 --teacher-dir work/models/rt-teacher-s0-...
    accelerate launch --multi_gpu --num_processes 2 -m pkdlib.cli train ...  # several GPUs (CPU processes without GPUs)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .config import ConfigError, RunConfig


def _add_config_args(p: argparse.ArgumentParser):
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        t = f.type
        if t == "bool":
            p.add_argument(flag, type=_bool, default=None, metavar="true|false")
        elif t in ("int", "int | None"):
            p.add_argument(flag, type=int, default=None)
        elif t == "float":
            p.add_argument(flag, type=float, default=None)
        else:
            p.add_argument(flag, type=str, default=None)


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="pkd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train one run and write its record")
    _add_config_args(tr)
    tr.add_argument("--results", default="results")
    tr.add_argument("--work", default="work")
    tr.add_argument("--force", action="store_true", help="rerun even if a matching record exists")
    tr.add_argument("--no-progress", action="store_true")
    cl = sub.add_parser("clean", help="delete caches, model weights and executed notebooks")
    cl.add_argument("--results", default="results")
    cl.add_argument("--work", default="work")
    cl.add_argument("--all", action="store_true", help="also delete run records, tables and figures")
    args, rest = ap.parse_known_args(argv)
    if args.cmd == "train":
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .train import Workspace, run
        kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if getattr(args, f.name) is not None}
        try:
            cfg = RunConfig.from_dict(kw)
            rec = run(cfg, Workspace(args.results, args.work), progress=not args.no_progress, force=args.force)
        except (ConfigError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if rec:
            print(json.dumps({"run_id": rec["run_id"], "dev": rec["dev"], "test": rec["test"],
                              "best_epoch": rec["best_epoch"], "objective": rec["objective"]}))
        return 0
    if args.cmd == "clean":
        from .study import clean
        clean(args.results, args.work, everything=args.all)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
