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
    ws = Workspace(args.results, args.work)
    rec = run(RunConfig.from_dict(kw), ws, progress=not args.no_progress, force=args.force)
    if rec:
        print(json.dumps(summary(rec, ws)) if args.json else summary_text(summary(rec, ws)))
    return 0


def summary(rec: dict, ws) -> dict:
    """What a person wants from a finished run: where it is, what it trained, its scores by split and metric."""
    return {"run_id": rec["run_id"], "record": str(ws.records / f"{rec['run_id']}.json"),
            "weights": rec.get("model_dir"), "objective": rec["objective"], "best_epoch": rec["best_epoch"],
            "epochs": len(rec["epochs"]), "metrics": {**rec["dev"], **{s: m for s, m in rec["test"].items() if m}}}


def summary_text(s: dict) -> str:
    rows = [("run", s["run_id"]), ("objective", s["objective"]),
            ("best epoch", f"{s['best_epoch']} of {s['epochs']} (chosen on dev)")]
    rows += [(f"{split} {metric}", f"{value:.4f}") for split, m in s["metrics"].items() for metric, value in m.items()]
    rows += [("record", s["record"]), ("weights", s["weights"] or "not kept (--save-model true keeps them)")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


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
    tr.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return ap, sub, {"train": _train}


def main(argv=None) -> int:
    ap, _, handlers = parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: handlers[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
