"""Command line: ``pkd train`` (one run), ``pkd study`` (a profile of runs, as ./run_all.sh), ``pkd bench``
(the benchmarks), ``pkd report`` (a study's tables from its records), ``pkd clean``.

    pkd train --method teacher --task rt --epochs 3
    pkd train --method pkd-skip --student-layers 3 --teacher-dir work/models/rt-teacher-s0-...
    accelerate launch --multi_gpu --num_processes 2 -m pkdlib.cli train ...  # several GPUs (CPU processes without GPUs)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .config import ConfigError, RunConfig, field_help
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


def _report(args) -> int:
    from .report import build, manifest_path
    if not manifest_path(args.results, args.profile).is_file():
        raise ConfigError(f"no study '{args.profile}' in {args.results}/ (no {manifest_path(args.results, args.profile)}); "
                          f"run ./run_all.sh --profile {args.profile} first")
    out = build(args.results, args.profile)
    prog = out["progress"]
    print(f"{args.results}/tables/{args.profile}/summary.md written"
          + (f" (interim: {prog['finished']} of {prog['planned']} runs finished)" if prog else ""))
    print("\n".join(out["claims"]))
    return 0


def _clean(args) -> int:
    from .study import clean
    clean(args.results, args.work, everything=args.all)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["study"]:
        from .study import main as study_main
        return study_main(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main
        return bench_main(argv[1:]) or 0
    ap = argparse.ArgumentParser(prog="pkd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train one run and write its record")
    _add_config_args(tr)
    tr.add_argument("--results", default="results", help="where the record goes (default: results)")
    tr.add_argument("--work", default="work", help="caches and weights (default: work)")
    tr.add_argument("--force", action="store_true", help="rerun even if a matching record exists")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("study", help="run a profile of the study (./run_all.sh); pkd study --help", add_help=False)
    sub.add_parser("bench", help="the benchmarks (python -m pkdlib.bench); pkd bench --help", add_help=False)
    rp = sub.add_parser("report", help="rebuild a study's tables and figures from its records (interim while it runs)")
    rp.add_argument("--profile", default="cpu", help="the study (default cpu)")
    rp.add_argument("--results", default="results")
    cl = sub.add_parser("clean", help="delete caches, model weights, failed notebooks (refused while a study runs)")
    cl.add_argument("--results", default="results")
    cl.add_argument("--work", default="work")
    cl.add_argument("--all", action="store_true", help="also delete records, executed notebooks, tables, figures, "
                                                      "speed files, predictions and manifests")
    args = ap.parse_args(argv)
    return guarded(lambda: {"train": _train, "report": _report, "clean": _clean}[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
