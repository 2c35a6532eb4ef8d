"""``pkd``: the library's commands (``pkdlib.cli``: train) and the study's: ``pkd study`` (a profile of runs, as
./run_all.sh), ``pkd report`` (a study's tables from its records), ``pkd clean``, ``pkd bench`` (the benchmarks).

    pkd train --method teacher --task rt --epochs 3
    pkd train --method pkd-skip --student-layers 3 --teacher-dir work/models/rt-teacher-s0-...
    accelerate launch --multi_gpu --num_processes 2 -m pkdlib.cli train ...  # several GPUs (CPU processes without GPUs)
"""
from __future__ import annotations

import sys

from pkdlib import cli as lib_cli
from pkdlib.config import ConfigError
from pkdlib.errors import guarded


def _report(args) -> int:
    from .plan import default_results
    from .report import build, manifest_path, records_table
    if args.records:
        print(records_table(args.records))
        return 0
    if args.combined:
        from . import combined
        out = combined.build(args.results or "results", args.combined)
        print(f"{args.results or 'results'}/tables/combined/layers.md written\n{out['table'].to_string()}")
        return 0
    args.results = args.results or default_results(args.profile)
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
    ap, sub, handlers = lib_cli.parser()
    ap.description = __doc__
    sub.add_parser("study", help="run a profile of the study (./run_all.sh); pkd study --help", add_help=False)
    sub.add_parser("bench", help="the benchmarks (python -m pkdstudy.bench); pkd bench --help", add_help=False)
    from .profiles import PROFILES
    rp = sub.add_parser("report", help="rebuild a study's tables and figures from its records (interim while it runs), "
                        "or summarise any folder of records (--records)")
    rp.add_argument("--profile", default="cpu", help=f"the study: one of {', '.join(PROFILES)} (default cpu)")
    rp.add_argument("--results", default=None, help="the study's results folder, holding manifest-<profile>.json and "
                    "records/ (default: the profile's own: results/, quick: results/quick)")
    rp.add_argument("--records", default=None, help="instead: a folder of run records (e.g. of pkd train runs) to "
                    "summarise as one table, no manifest needed")
    rp.add_argument("--combined", nargs="+", default=None, metavar="PROFILE", help="instead: the layer curve of "
                    "every comparable run of these studies pooled (e.g. cpu full beyond)")
    cl = sub.add_parser("clean", help="delete caches, model weights, failed notebooks (refused while a study runs); "
                        "only inside folders pkd made")
    cl.add_argument("--results", default="results", help="results folder: failed notebooks; with --all also records, "
                    "executed notebooks, tables, figures, speed files, predictions, manifests (default results)")
    cl.add_argument("--work", default="work", help="work folder: the files pkd wrote into its cache/ and models/ (as "
                    "their ledgers list them, unchanged since) and submitit/ (default work)")
    cl.add_argument("--all", action="store_true", help="also delete records, executed notebooks, tables, figures, "
                                                      "speed files, predictions and manifests")
    args = ap.parse_args(argv)
    return guarded(lambda: {**handlers, "report": _report, "clean": _clean}[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
