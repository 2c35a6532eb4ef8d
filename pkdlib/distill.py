"""From your data to a shipped student in one call (``pkd distill``): fine-tune the teacher unless one is given,
fill the teacher cache, train the student, test both on the same split, export, and summarise.

    pkd distill --train reviews.csv --text-columns review --label-column sentiment --layers 3
    pkd distill --train reviews.csv --text-columns review --label-column sentiment --layers 1,2,3   # the frontier

Each step is a recorded run (``runs.run``): a second call with the same inputs reuses them. The recipe is the
study's (chosen on dev on Rotten Tomatoes by its ``recipe`` profile); on small data the epochs grow so that a
run makes at least ``MIN_STEPS`` optimizer steps (the best epoch is still chosen on dev).

With several depths (``--layers 1,2,3``) or ``--frontier``, every student is exported (ONNX and int8 too) under one
folder beside the teacher in ONNX and int8 and a static-embedding baseline, all measured side by side
(``frontier.py``), with the choice a rule recommends:

    out/  pkd-frontier.json, frontier.md, frontier.png, L1/ L2/ L3/ (exports), teacher/onnx/, static/
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, RunConfig
from .diagnose import accuracy_by_label, class_gap_warnings
from .frontier import DEFAULT_RULE, parse_rule
from .methods import METHODS
from .quantize import gate_text
from .unlabeled import load_unlabeled

__all__ = ["RECIPE", "DistillPlan", "plan", "distill", "summary_text", "parse_layers"]

#: the study's recipe: the teacher as the study fine-tuned it; the student as its recipe profile chose on dev
RECIPE = {
    "teacher": {"epochs": 3, "lr": 5e-5},
    "student": {
        "method": "pkd-skip",
        "epochs": 4,
        "lr": 1e-4,
        "temperature": 10.0,
        "alpha": 0.5,
        "beta": 1000.0,
        "normalize": True,
    },
}
#: a run on few examples trains at least this many optimizer steps (epochs grow, at most MAX_EPOCHS)
MIN_STEPS, MAX_EPOCHS = 300, 20
FRONTIER_FILE = "pkd-frontier.json"


def auto_epochs(n_train: int, batch_size: int, epochs: int) -> int:
    """The recipe's epochs, or more on small data: enough for MIN_STEPS steps, at most MAX_EPOCHS."""
    steps = math.ceil(n_train / batch_size)
    return max(epochs, min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps)))


def task_name(train_file: str) -> str:
    from .data import TASKS

    stem = Path(str(train_file).removeprefix("hub:")).stem or "data"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")[:60] or "data"
    return f"{name}-own" if name in TASKS else name


def _grown(recipe: dict, overrides: dict | None, n_train: int) -> dict:
    """The recipe with the user's overrides; epochs grown for small data unless the user set them."""
    out = {**recipe, **(overrides or {})}
    if "epochs" not in (overrides or {}):
        n = min(n_train, out.get("max_train_examples") or n_train)
        out["epochs"] = auto_epochs(n, out.get("batch_size", 32), out["epochs"])
    return out


def check_encoder(pretrained: str) -> None:
    """``--pretrained`` is an encoder to fine-tune; a fine-tuned classifier (its own head and labels) is refused with
    what to do instead (transformers would stop on the head's mismatched sizes, deep in the teacher's run)."""
    from .models import load_config

    cfg = load_config(pretrained)
    heads = [a for a in (getattr(cfg, "architectures", None) or []) if a.endswith("ForSequenceClassification")]
    if heads:
        labels = list((getattr(cfg, "id2label", None) or {}).values())
        raise ConfigError(
            f"--pretrained {pretrained} is a fine-tuned classifier ({heads[0]}, labels {labels}), not a "
            f"pre-trained encoder; give it as --teacher to distil a student from it, or give an encoder "
            f"(e.g. embedded:all-MiniLM-L6-v2, bert-base-uncased) as --pretrained"
        )


@dataclass
class DistillPlan:
    teacher: RunConfig | None  # None: a given teacher
    student: RunConfig  # the last depth asked for
    teacher_dir: str | None  # a given teacher's folder
    out: Path  # the student's export, or (frontier) the folder of every export and the frontier
    students: tuple = ()  # every depth's configuration (default: ``student``)
    frontier: bool = False
    rule: str = DEFAULT_RULE

    def __post_init__(self):
        self.students = tuple(self.students) or (self.student,)

    def export_dir(self, cfg: RunConfig) -> Path:
        return self.out / f"L{cfg.student_layers}" if self.frontier else self.out


def parse_layers(layers) -> tuple[int, ...]:
    """3, "3", "1,2,3" or [1, 2, 3] -> the sorted distinct depths."""
    items = str(layers).replace(" ", "").split(",") if isinstance(layers, (int, str)) else list(layers)
    try:
        out = tuple(sorted({int(x) for x in items if str(x)}))
    except ValueError:
        raise ConfigError(f"layers={layers!r}: give a number of student layers, or several: 1,2,3") from None
    if not out:
        raise ConfigError(f"layers={layers!r}: give a number of student layers, or several: 1,2,3")
    return out


def _unlabeled_path(unlabeled: str) -> str:
    """A ``hub:`` name as given, a file as its absolute path."""
    return unlabeled if str(unlabeled).startswith("hub:") else str(Path(unlabeled).expanduser().resolve())


def _teacher_config(base: dict, overrides: dict | None, n_train: int) -> RunConfig:
    """The teacher's configuration: the recipe with the user's overrides, grown for small data; its errors say they
    are the teacher's (its fields have the students' names)."""
    try:
        return RunConfig.from_dict({**base, "method": "teacher", **_grown(RECIPE["teacher"], overrides, n_train)})
    except ConfigError as e:
        raise ConfigError(f"the teacher's settings (--teacher-epochs and the shared options): {e}") from None


def plan(
    data: dict,
    layers=3,
    teacher: str | None = None,
    pretrained: str | None = None,
    out=None,
    student: dict | None = None,
    teacher_overrides: dict | None = None,
    frontier: bool = False,
    rule: str = DEFAULT_RULE,
    unlabeled: str | None = None,
) -> DistillPlan:
    """Every configuration of the journey, validated and checked against the data before any training.
    ``data``: train_file (and dev_file, test_file, text_columns, label_column, task). ``layers``: one depth or several
    (several imply ``frontier``); ``rule``: how the frontier recommends (``frontier.RULES``); ``unlabeled``: a file of
    unlabeled text for the students' KD and patient terms (``unlabeled.py``; never a dev or test row)."""
    from .data import load_data
    from .layer_maps import check_student_layers
    from .models import resolve_model_path

    depths, (_, _) = parse_layers(layers), parse_rule(rule)
    frontier = frontier or len(depths) > 1
    data = {"task": task_name(data["train_file"]), **{k: v for k, v in data.items() if v is not None}}
    if pretrained:
        check_encoder(pretrained)
    teacher_dir = resolve_model_path(teacher) if teacher else None
    base = {**data, "pretrained": pretrained or teacher_dir or "embedded:all-MiniLM-L6-v2"}
    probe = RunConfig.from_dict({**base, "method": "teacher"})
    spec, splits = load_data(probe)  # the data's errors come first
    n = len(splits["train"])
    t_cfg = _teacher_config(base, teacher_overrides, n) if teacher_dir is None else None
    n_teacher = (t_cfg or probe).check_models()
    for k in depths:
        try:
            check_student_layers(n_teacher, k)
        except ValueError as e:
            raise ConfigError(f"layers={k}: {e}") from None
    init = {"init": "teacher"} if teacher_dir and not pretrained else {}
    more = {"unlabeled_file": _unlabeled_path(unlabeled)} if unlabeled else {}
    # unreadable, or holding dev/test rows: refused now; its rows count towards the students' steps per epoch
    n_unl = len(load_unlabeled(more["unlabeled_file"], spec, splits)) if unlabeled else 0
    fixed = {**base, **init, "save_model": True, **more, "teacher_dir": teacher_dir or "(the teacher this plan trains)"}
    grown = _grown(RECIPE["student"], student, n + n_unl)
    cfgs = tuple(RunConfig.from_dict({**fixed, **grown, "student_layers": k}) for k in depths)
    if not METHODS[cfgs[0].method].student:
        students = [k for k, m in METHODS.items() if m.student]
        raise ConfigError(f"method={cfgs[0].method!r} trains no student; accepted: {', '.join(students)}")
    if teacher_dir:
        cfgs[0].check_models()
        cfgs[0].check_labels(spec)
    name = f"{data['task']}-{cfgs[0].method}-" + ("frontier" if frontier else f"L{depths[0]}")
    p = DistillPlan(t_cfg, cfgs[-1], teacher_dir, Path(out) if out else Path("exports") / name, cfgs, frontier, rule)
    train = splits["train"].head(cfgs[0].max_train_examples)  # the students' training rows, as their records say
    check_out_dirs(p, {"n": len(train), "checksum": train.checksum})
    return p


def check_out_dirs(p: DistillPlan, train: dict | None = None) -> None:
    """The export folder(s) may be written: a frontier folder is new, empty or an earlier frontier of pkd's; an
    export folder new, empty or pkd's earlier export of the same task and training rows (``train``: n, checksum)."""
    from .export import ExportError, check_out_dir

    if p.frontier:
        out = p.out.expanduser().resolve()
        if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / FRONTIER_FILE).is_file())):
            raise ExportError(
                f"{out} exists and is not a frontier folder of pkd's (no {FRONTIER_FILE}); choose a new "
                f"--out, pkd replaces only its own"
            )
    for cfg in p.students:
        check_out_dir(p.export_dir(cfg), task=cfg.task, train=train)


def distill(
    p: DistillPlan,
    ws=None,
    onnx: bool = False,
    int8: bool = False,
    progress: bool = True,
    log=print,
    prune_vocab: bool = False,
) -> dict:
    """Run the plan: teacher (unless given), each student (weights kept), their exports (``prune_vocab``: pruned to the
    training text's vocabulary, ``vocab.py``) and (frontier) the frontier; returns the summary (of the last depth,
    with the frontier when measured)."""
    from .export import export_run, test_rows
    from .paths import Workspace, from_record
    from .records import weights_problem
    from .runs import run

    check_exports(p, onnx, int8, prune_vocab)
    ws = ws or Workspace()
    t_rec, teacher_dir = None, p.teacher_dir
    if p.teacher is not None:
        log("== teacher: fine-tune " + p.teacher.pretrained)
        t_rec = run(p.teacher, ws, progress=progress, log=log)
        teacher_dir = from_record(t_rec["model_dir"])
    exports, teacher_test = {}, None
    for cfg in p.students:
        student = cfg.replace(teacher_dir=teacher_dir)
        log(f"== student: {student.student_layers} layers, {student.method}")
        s_rec = run(student, ws, progress=progress, log=log)
        if problem := weights_problem(s_rec):  # a reused record whose weights were removed or damaged: train it again
            log(f"[rerun] {s_rec['run_id']}: {problem}")
            s_rec = run(student, ws, progress=progress, log=log, force=True)
        split, spec = test_rows(s_rec)
        if teacher_test is None:
            teacher_test = (
                (t_rec["test"], t_rec.get("test_correct") or {}) if t_rec else score_teacher(student, ws, log)
            )
        gaps = gap_from_records(teacher_test[1], s_rec, split, spec)
        log(f"== export: {p.export_dir(cfg)}")
        m = export_run(
            {**s_rec, "warnings": list(s_rec.get("warnings", [])) + gaps},
            p.export_dir(cfg),
            onnx=onnx or p.frontier,
            int8=int8 or p.frontier,
            log=log,
            prune_vocab=prune_vocab,
        )
        exports[cfg.student_layers] = (s_rec, m)
    s_rec, m = exports[p.student.student_layers]
    summary = make_summary(m, teacher_test[0], t_rec, s_rec)
    if p.frontier:
        from .frontier_report import measure_frontier

        summary["frontier"] = measure_frontier(p, teacher_dir, exports, ws, log)
    return summary


def check_exports(p: DistillPlan, onnx: bool, int8: bool, prune_vocab: bool) -> None:
    """What the exports need, said before the teacher trains: the ``export`` extra, a tokenizer that can be pruned."""
    from .export import _prunable, onnx_runtime
    from .models import resolve_model_path

    if onnx or int8 or p.frontier:
        onnx_runtime(int8 or p.frontier)
    if prune_vocab:
        _prunable(p.teacher_dir or resolve_model_path(p.student.pretrained))  # the students' tokenizer


def gap_from_records(teacher_correct: dict, s_rec: dict, split, spec) -> list[str]:
    """Labels on whose test rows the student is much worse than its teacher (``diagnose.class_gap_warnings``), from the
    two runs' per-row correctness on the same split."""
    name = spec.test_splits[0]
    t, s = teacher_correct.get(name), (s_rec.get("test_correct") or {}).get(name)
    if not t or not s or len({len(t), len(s), len(split.labels)}) != 1:
        return []
    by = [accuracy_by_label(split.labels, [c == "1" for c in x], spec.label_names) for x in (t, s)]
    return class_gap_warnings(by[0], by[1], f"the {s_rec['config']['student_layers']}-layer student")


def score_teacher(cfg: RunConfig, ws, log=print) -> tuple[dict, dict]:
    """A given teacher's metrics on the student's test split(s), and which rows it got right ('0'/'1' per row)."""
    from .models import load_classifier
    from .runs import prepare
    from .train import Hardware, evaluate

    prep, hw = prepare(cfg, ws, log), Hardware.setup(cfg)
    model = load_classifier(cfg.teacher_dir, prep.spec.num_labels).to(hw.device)
    metrics, correct = {}, {}
    for s in prep.spec.test_splits:
        preds, metrics[s] = evaluate(model, prep.toks[s], prep.spec, cfg.batch_size, hw.device, hw.amp)
        correct[s] = "".join("01"[int(c)] for c in (preds == prep.toks[s].labels).tolist())
    return metrics, correct


def make_summary(m: dict, teacher_test: dict, t_rec, s_rec) -> dict:
    split = next(iter(m["test"]))
    lat = m["latency_ms_per_example"]
    base = (m["majority_baseline"] or {}).get(split, {})
    warnings = list(m["warnings"]) + (list(t_rec.get("warnings", [])) if t_rec else [])
    acc = teacher_test[split].get("accuracy")
    if (
        not t_rec
        and acc is not None
        and base
        and round(acc * m["test"][split]["n"]) <= round(base["accuracy"] * m["test"][split]["n"])
    ):
        warnings.append(f"the teacher ({acc:.4f}) does not beat the majority-class baseline {base['accuracy']:.4f}")
    sizes = m.get("size_mib") or {}
    return {
        "task": m["task"],
        "labels": m["label_names"],
        "rows": {s: d["n"] for s, d in m["data"].items()},
        "majority_baseline": base.get("accuracy"),
        "test_split": split,
        "teacher": {
            "layers": m["teacher_layers"],
            **teacher_test[split],
            "parameters": (t_rec or {}).get("parameters", {}).get("total"),
            "size_mib": sizes.get("teacher"),
            "latency_ms": lat.get("teacher"),
        },
        "student": {
            "layers": m["student_layers"],
            **m["test"][split],
            "parameters": m["parameters"]["total"],
            "size_mib": sizes["student"],
            "latency_ms": lat.get("student"),
        },
        "speedup": round(lat["teacher"] / lat["student"], 2) if lat.get("teacher") else None,
        "onnx": m["checks"].get("onnx"),
        "int8": m["checks"].get("int8"),
        "vocab": m["checks"].get("vocab"),
        "latency_ms": lat,
        "pipeline_accuracy": m["checks"]["pytorch"]["pipeline_accuracy"],
        "warnings": warnings,
        "export": str(m.get("folder", "")),
        "runs": [r["run_id"] for r in (t_rec, s_rec) if r],
    }


def summary_text(s: dict) -> str:
    """The summary a person reads at a glance."""

    def num(v, f="{:.4f}"):
        return "-" if v is None else f.format(v)

    t, st = s["teacher"], s["student"]
    rows = [
        ("", "teacher", "student"),
        ("layers", t["layers"], st["layers"]),
        (f"{s['test_split']} accuracy", num(t.get("accuracy")), num(st.get("accuracy"))),
        ("macro F1", num(t.get("macro_f1")), num(st.get("macro_f1"))),
        ("parameters", num(t["parameters"], "{:,}"), num(st["parameters"], "{:,}")),
        ("size on disk (MiB)", num(t["size_mib"], "{:.1f}"), num(st["size_mib"], "{:.1f}")),
        ("CPU latency (ms/example)", num(t["latency_ms"], "{:.2f}"), num(st["latency_ms"], "{:.2f}")),
    ]
    lines = [f"{a:<26}{str(b):>14}{str(c):>14}" for a, b, c in rows]
    lines += [
        f"majority-class baseline: {num(s['majority_baseline'])} (always the most frequent training label)",
        f"speed-up: {num(s['speedup'], '{:.2f}x')} (batch 1, side by side); rows {s['rows']}",
    ]
    if s["onnx"]:
        o = s["onnx"]
        lines.append(
            f"onnx: accuracy {o['accuracy']:.4f} ({o['accuracy_change_points']:+.2f} points), largest logit "
            f"difference {o['max_abs_logit_diff']:.2e}, {num(s['latency_ms'].get('onnx'), '{:.2f}')} ms/example"
        )
    if s.get("vocab"):
        from .export import vocab_text

        lines.append(vocab_text(s["vocab"]))
    if s["int8"]:
        lines.append(gate_text(s["int8"]) + f", {num(s['latency_ms'].get('int8'), '{:.2f}')} ms/example")
    lines += [f"pipeline() on the export: accuracy {s['pipeline_accuracy']:.4f}", f"exported to {s['export']}"]
    if s.get("frontier"):
        f = s["frontier"]
        lines += [
            "",
            f"frontier ({f['setting']}):",
            f["table"],
            f"recommended ({f['rule']}): {f['recommended']} - {f['why']}",
            f"frontier written to {f['folder']} (frontier.md, frontier.png, pkd-frontier.json)",
        ]
        s = {**s, "warnings": s["warnings"] + [w for w in f["warnings"] if w not in s["warnings"]]}
    lines += [f"*** WARNING: {w} ***" for w in s["warnings"]]
    return "\n".join(lines)
