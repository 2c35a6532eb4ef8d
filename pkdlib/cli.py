"""The ``pkd`` command: ``pkd train`` (one run, one record), ``pkd distill`` (your data -> an exported student),
``pkd export``, and the commands of installed packages that add their own (entry-point group ``pkdlib.commands``:
this repository's study adds study, report, clean and bench).

    pkd distill --train my.csv --text-columns review --label-column sentiment --layers 3   # your data -> a student
    pkd distill --train my.csv --text-columns review --label-column sentiment --layers 1,2,3   # ... the frontier
    pkd export results/records/<run>.json --out my-student --onnx --int8
    pkd train --method teacher --task rt --epochs 3
    pkd train --method pkd-skip --student-layers 3 --teacher-dir work/models/rt-teacher-s0-...
    accelerate launch --multi_gpu --num_processes 2 -m pkdlib.cli train ...  # several GPUs (CPU processes without GPUs)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from .config import RunConfig, field_help
from .errors import KnownError, guarded
from .terms import TERMS

#: the entry-point group of packages that add commands to ``pkd``: each entry names a function
#: ``register(sub, handlers, raw)`` that adds its sub-parsers to ``sub`` and its handlers: ``handlers[name](args)``
#: for a command parsed here, ``raw[name](argv)`` for one that parses its own arguments (its parser in ``sub`` only
#: lists it in ``pkd --help``); each returns the exit code
COMMANDS = "pkdlib.commands"


def _add_config_args(p: argparse.ArgumentParser):
    """One option per RunConfig field; help, default and accepted values come from the field's metadata."""
    types = {"bool": _bool, "int": int, "int | None": int, "float": float}
    for f in dataclasses.fields(RunConfig):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=types.get(f.type, str),
            default=None,
            metavar="true|false" if f.type == "bool" else None,
            help=field_help(f).replace("%", "%%"),
        )


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def _train(args) -> int:
    from .data import load_data
    from .locks import FolderLock
    from .paths import Workspace
    from .runs import run

    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if getattr(args, f.name) is not None}
    ws, cfg = Workspace(args.results, args.work), RunConfig.from_dict(kw)
    cfg.check_models()
    cfg.check_labels(load_data(cfg)[0])  # bad input fails before a folder is made or a lock waited for
    ws.check_writable()
    with FolderLock(ws.work):
        rec = run(cfg, ws, progress=not args.no_progress, force=args.force)
    if rec:
        print(json.dumps(summary(rec, ws)) if args.json else summary_text(summary(rec, ws)))
    return 0


def summary(rec: dict, ws) -> dict:
    """What a person wants from a finished run: where it is, what it trained, its scores by split and metric."""
    return {
        "run_id": rec["run_id"],
        "record": str(ws.records / f"{rec['run_id']}.json"),
        "weights": rec.get("model_dir"),
        "objective": rec["objective"],
        "best_epoch": rec["best_epoch"],
        "epochs": len(rec["epochs"]),
        "metrics": {**rec["dev"], **{s: m for s, m in rec["test"].items() if m}},
    }


def summary_text(s: dict) -> str:
    rows = [
        ("run", s["run_id"]),
        ("objective", s["objective"]),
        ("best epoch", f"{s['best_epoch']} of {s['epochs']} (chosen on dev)"),
    ]
    rows += [(f"{split} {metric}", f"{value:.4f}") for split, m in s["metrics"].items() for metric, value in m.items()]
    rows += [("record", s["record"]), ("weights", s["weights"] or "not kept (--save-model true keeps them)")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def objective_help() -> str:
    """``pkd train``'s description: the objective as the sum of the registered loss terms, each with its weight."""
    lines = [
        "Train one run and write its record. The objective sums the method's loss terms (terms.TERMS), each "
        "times its weight:"
    ]
    for t in TERMS.values():
        weight = f"1 - {t.weight}" if t.complement else t.weight
        lines.append(f"  {t.column:<4} weight {weight:<10} {t.formula}")
    return "\n".join(lines)


def parser() -> tuple[argparse.ArgumentParser, object, dict]:
    """The parser, its sub-command table (for other commands to join) and the handlers by command name."""
    ap = argparse.ArgumentParser(prog="pkd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser(
        "train",
        help="train one run and write its record",
        description=objective_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_args(tr)
    tr.add_argument("--results", default="results", help="where the record goes (default: results)")
    tr.add_argument("--work", default="work", help="caches and weights (default: work)")
    tr.add_argument("--force", action="store_true", help="rerun even if a matching record exists")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _add_distill(sub)
    ex = sub.add_parser("export", help="export a finished run (weights kept) as a Hugging Face folder, ONNX, int8")
    ex.add_argument("record", help="the run's record: a path, or a run id under --results/records")
    ex.add_argument("--out", required=True, help="the folder to write (new, empty, or an earlier export)")
    ex.add_argument("--results", default="results", help="where records are (default: results)")
    _add_export_flags(ex)
    return ap, sub, {"train": _train, "distill": _distill, "export": _export}


def _add_export_flags(p) -> None:
    """What an export writes beside the Hugging Face folder (``pkd export`` and ``pkd distill``)."""
    p.add_argument("--onnx", action="store_true", help="also export ONNX (onnxruntime), checked on the test split")
    p.add_argument(
        "--int8",
        action="store_true",
        help="also dynamic int8 ONNX, refused only when a paired test shows a loss (after fallbacks)",
    )
    p.add_argument(
        "--prune-vocab",
        action="store_true",
        help="keep only the vocabulary the training text uses (and single characters, for unseen words); "
        "checked on the test split, kept unless a paired test shows a loss",
    )


def _add_distill(sub):
    d = sub.add_parser(
        "distill",
        help="your data -> teacher -> student -> exported model, with a summary",
        description="Fine-tune a teacher on your data (unless --teacher), distil a student from its first "
        "--layers layers, test both on the same split, export, and print a summary.",
    )
    d.add_argument(
        "--train", required=True, help="training data: .csv .tsv .jsonl .parquet, a datasets folder, or hub:owner/name"
    )
    d.add_argument("--dev", help="dev split (default: 10%% of --train, stratified)")
    d.add_argument("--test", help="test split (default: 10%% of --train, stratified)")
    d.add_argument("--text-columns", help="text column, or two for pairs: a,b (default: text)")
    d.add_argument("--label-column", help="label column, integers or strings (default: label)")
    d.add_argument("--task", help="a name for your task (default: the training file's name)")
    d.add_argument("--layers", default="3", help="student layers (default 3); several (1,2,3): the frontier")
    d.add_argument(
        "--frontier",
        action="store_true",
        help="measure the frontier: the teacher (fp32, ONNX, int8), every "
        "student depth (fp32, ONNX, int8) and a static baseline, side by side (implied by several --layers)",
    )
    d.add_argument(
        "--pick",
        default="fastest-within:1",
        help="how the frontier recommends: fastest-within:POINTS "
        "(default fastest-within:1), smallest-within:POINTS, most-accurate",
    )
    d.add_argument(
        "--unlabeled",
        help="unlabeled text (--train's formats and text columns): the teacher's outputs on "
        "it join the students' KD and patient terms (refused if it holds dev or test rows)",
    )
    d.add_argument("--teacher", help="a fine-tuned teacher's folder (default: fine-tune --pretrained on --train)")
    d.add_argument(
        "--pretrained",
        help="encoder to fine-tune and take the student's layers from "
        "(default: embedded:all-MiniLM-L6-v2; with --teacher: the teacher's own layers)",
    )
    d.add_argument("--method", help="student method (default pkd-skip)")
    d.add_argument("--epochs", type=int, help="student epochs (default 4, more on small data)")
    d.add_argument("--teacher-epochs", type=int, help="teacher epochs (default 3, more on small data)")
    d.add_argument("--max-length", type=int, help="max tokens per example (default 128)")
    d.add_argument("--seed", type=int, help="seed (default 0)")
    d.add_argument("--max-train-examples", type=int, help="use the first n training rows")
    d.add_argument("--precision", help="fp32 (default), bf16, fp16, auto")
    d.add_argument("--out", help="export folder (default: exports/<task>-<method>-L<layers>)")
    _add_export_flags(d)
    d.add_argument("--results", default="results", help="records (default: results)")
    d.add_argument("--work", default="work", help="caches and weights (default: work)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _distill(args) -> int:
    from .distill import distill, plan, summary_text
    from .locks import FolderLock
    from .paths import Workspace

    shared = {
        k: getattr(args, k)
        for k in ("max_length", "seed", "max_train_examples", "precision")
        if getattr(args, k) is not None
    }
    student = {
        **shared,
        **({"method": args.method} if args.method is not None else {}),
        **({"epochs": args.epochs} if args.epochs is not None else {}),
    }
    teacher = {**shared, **({"epochs": args.teacher_epochs} if args.teacher_epochs is not None else {})}
    data = {
        "train_file": args.train,
        "dev_file": args.dev,
        "test_file": args.test,
        "task": args.task,
        "text_columns": args.text_columns,
        "label_column": args.label_column,
    }
    p = plan(
        data,
        args.layers,
        args.teacher,
        args.pretrained,
        args.out,
        student,
        teacher,
        args.frontier,
        args.pick,
        args.unlabeled,
    )
    ws = Workspace(args.results, args.work)
    ws.check_writable()
    with FolderLock(ws.work):
        s = distill(p, ws, onnx=args.onnx, int8=args.int8, progress=not args.no_progress, prune_vocab=args.prune_vocab)
    print(json.dumps(s) if args.json else "\n" + summary_text(s))
    return 0


def _export(args) -> int:
    from pathlib import Path

    from .export import ExportError, export_run
    from .records import read_record

    path = Path(args.record)
    if not path.is_file():
        path = Path(args.results) / "records" / (args.record.removesuffix(".json") + ".json")
    rec = read_record(path) if path.is_file() else None
    if rec is None:
        raise ExportError(f"no complete run record at {args.record} (nor {path}); give a record file or a run id")
    with work_lock(rec):
        m = export_run(rec, args.out, onnx=args.onnx, int8=args.int8, prune_vocab=args.prune_vocab)
    print(json.dumps({k: m[k] for k in ("folder", "test", "checks", "latency_ms_per_example", "size_mib")}, indent=1))
    return 0


def work_lock(rec: dict):
    """The lock of the work folder that holds a record's weights (``<work>/models/<run>``), so that no ``pkd clean``
    or retraining there removes them while they are exported; no lock when they lie elsewhere."""
    import contextlib
    from pathlib import Path

    from .locks import FolderLock
    from .paths import MARKER
    from .records import saved_model_dir

    d = saved_model_dir(rec)
    work = Path(d).parent.parent if d else None
    return FolderLock(work) if work is not None and (work / MARKER).is_file() else contextlib.nullcontext()


class CommandError(KnownError, ValueError):
    """A command that ``pkd`` does not have here."""


def installed_commands() -> tuple[list[Callable], list[str]]:
    """The ``register`` functions of the installed packages that add commands (``COMMANDS``), and for each one that
    failed to load, why."""
    found, failed = [], []
    for ep in entry_points(group=COMMANDS):
        try:
            found.append(ep.load())
        except (ImportError, AttributeError) as e:
            failed.append(f"{ep.name} ({ep.value}): {e}")
    return found, failed


def main(argv=None, commands: Iterable[Callable] | None = None) -> int:
    """``pkd``: the library's commands and those that ``commands`` register (default: the installed ones)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    found, failed = installed_commands() if commands is None else (list(commands), [])
    ap, sub, handlers = parser()
    raw: dict[str, Callable] = {}
    for register in found:
        register(sub, handlers, raw)
    if argv and argv[0] in raw:
        return raw[argv[0]](argv[1:])
    if argv and not argv[0].startswith("-") and argv[0] not in sub.choices:
        return guarded(lambda: _unknown(argv[0], list(sub.choices), failed))
    args = ap.parse_args(argv)
    return guarded(lambda: handlers[args.cmd](args))


def _unknown(cmd: str, known: list[str], failed: list[str]) -> int:
    why = (
        f"; a package that adds commands failed to load: {'; '.join(failed)}"
        if failed
        else (
            f"; packages add commands through the entry-point group {COMMANDS!r} (this repository's study adds study, "
            f"report, clean and bench: pip install -e '.[study]' in a clone of pkd-study)"
        )
    )
    raise CommandError(f"pkd has no command {cmd!r} here; it has: {', '.join(known)}{why}")


if __name__ == "__main__":
    sys.exit(main())
