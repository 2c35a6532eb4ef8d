"""From your data to a shipped student in one call (``pkd distill``): fine-tune the teacher unless one is given,
fill the teacher cache, train the student, test both on the same split, export, and summarise.

    pkd distill --train reviews.csv --text-columns review --label-column sentiment --layers 3

Each step is a recorded run (``runs.run``): a second call with the same inputs reuses them. The recipe is the
study's (chosen on dev on Rotten Tomatoes by its ``recipe`` profile); on small data the epochs grow so that a
run makes at least ``MIN_STEPS`` optimizer steps (the best epoch is still chosen on dev).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, RunConfig

__all__ = ["RECIPE", "DistillPlan", "plan", "distill", "summary_text"]

#: the study's recipe: the teacher as the study fine-tuned it; the student as its recipe profile chose on dev
RECIPE = {"teacher": {"epochs": 3, "lr": 5e-5},
          "student": {"method": "pkd-skip", "epochs": 4, "lr": 1e-4, "temperature": 10.0, "alpha": 0.5,
                      "beta": 1000.0, "normalize": True}}
#: a run on few examples trains at least this many optimizer steps (epochs grow, at most MAX_EPOCHS)
MIN_STEPS, MAX_EPOCHS = 300, 20


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


@dataclass
class DistillPlan:
    teacher: RunConfig | None   # None: a given teacher
    student: RunConfig
    teacher_dir: str | None     # a given teacher's folder
    out: Path


def plan(data: dict, layers: int = 3, teacher: str | None = None, pretrained: str | None = None,
         out=None, student: dict | None = None, teacher_overrides: dict | None = None) -> DistillPlan:
    """Every configuration of the journey, validated and checked against the data before any training.
    ``data``: train_file (and dev_file, test_file, text_columns, label_column, task)."""
    from .data import load_data
    from .layer_maps import check_student_layers
    from .models import resolve_model_path
    data = {"task": task_name(data["train_file"]), **{k: v for k, v in data.items() if v is not None}}
    teacher_dir = resolve_model_path(teacher) if teacher else None
    base = {**data, "pretrained": pretrained or teacher_dir or "embedded:all-MiniLM-L6-v2"}
    probe = RunConfig.from_dict({**base, "method": "teacher"})
    spec, splits = load_data(probe)  # the data's errors come first
    n, t_cfg = len(splits["train"]), None
    if teacher_dir is None:
        t_cfg = RunConfig.from_dict({**base, "method": "teacher", **_grown(RECIPE["teacher"], teacher_overrides, n)})
    n_teacher = (t_cfg or probe).check_models()
    try:
        check_student_layers(n_teacher, layers)
    except ValueError as e:
        raise ConfigError(f"layers={layers}: {e}") from None
    init = {"init": "teacher"} if teacher_dir and not pretrained else {}
    s_cfg = RunConfig.from_dict({**base, **init, **_grown(RECIPE["student"], student, n), "student_layers": layers,
                                 "save_model": True, "teacher_dir": teacher_dir or "(the teacher this plan trains)"})
    if teacher_dir:
        s_cfg.check_models()
        s_cfg.check_labels(spec)
    out = Path(out) if out else Path("exports") / f"{data['task']}-{s_cfg.method}-L{layers}"
    from .export import check_out_dir
    train = splits["train"].head(s_cfg.max_train_examples)  # the student's training rows, as its record will say
    check_out_dir(out, task=s_cfg.task, train={"n": len(train), "checksum": train.checksum})
    return DistillPlan(t_cfg, s_cfg, teacher_dir, out)


def distill(p: DistillPlan, ws=None, onnx: bool = False, int8: bool = False, progress: bool = True, log=print) -> dict:
    """Run the plan: teacher (unless given), student (weights kept), export; returns the summary."""
    from .export import export_run
    from .paths import Workspace, from_record
    from .records import weights_problem
    from .runs import run
    ws = ws or Workspace()
    t_rec, teacher_dir = None, p.teacher_dir
    if p.teacher is not None:
        log("== 1/3 teacher: fine-tune " + p.teacher.pretrained)
        t_rec = run(p.teacher, ws, progress=progress, log=log)
        teacher_dir = from_record(t_rec["model_dir"])
    student = p.student.replace(teacher_dir=teacher_dir)
    log(f"== 2/3 student: {student.student_layers} layers, {student.method}")
    s_rec = run(student, ws, progress=progress, log=log)
    if problem := weights_problem(s_rec):  # a reused record whose weights were removed or damaged: train it again
        log(f"[rerun] {s_rec['run_id']}: {problem}")
        s_rec = run(student, ws, progress=progress, log=log, force=True)
    log(f"== 3/3 export: {p.out}")
    manifest = export_run(s_rec, p.out, onnx=onnx, int8=int8, log=log)
    teacher_test = t_rec["test"] if t_rec else score_teacher(student, ws, log)
    return make_summary(manifest, teacher_test, t_rec, s_rec)


def score_teacher(cfg: RunConfig, ws, log=print) -> dict:
    """A given teacher's metrics on the student's test split(s)."""
    from .models import load_classifier
    from .runs import prepare
    from .train import Hardware, evaluate
    prep, hw = prepare(cfg, ws, log), Hardware.setup(cfg)
    model = load_classifier(cfg.teacher_dir, prep.spec.num_labels).to(hw.device)
    return {s: evaluate(model, prep.toks[s], prep.spec, cfg.batch_size, hw.device, hw.amp)[1] for s in prep.spec.test_splits}


def make_summary(m: dict, teacher_test: dict, t_rec, s_rec) -> dict:
    split = next(iter(m["test"]))
    lat = m["latency_ms_per_example"]
    base = (m["majority_baseline"] or {}).get(split, {})
    warnings = list(m["warnings"]) + (list(t_rec.get("warnings", [])) if t_rec else [])
    if not t_rec and (acc := teacher_test[split].get("accuracy")) is not None and base and acc <= base["accuracy"]:
        warnings.append(f"the teacher ({acc:.4f}) does not beat the majority-class baseline {base['accuracy']:.4f}")
    return {"task": m["task"], "labels": m["label_names"], "rows": {s: d["n"] for s, d in m["data"].items()},
            "majority_baseline": base.get("accuracy"), "test_split": split,
            "teacher": {"layers": m["teacher_layers"], **teacher_test[split],
                        "parameters": (t_rec or {}).get("parameters", {}).get("total"),
                        "size_mb": m["size_mb"].get("teacher"), "latency_ms": lat.get("teacher")},
            "student": {"layers": m["student_layers"], **m["test"][split], "parameters": m["parameters"]["total"],
                        "size_mb": m["size_mb"]["student"], "latency_ms": lat.get("student")},
            "speedup": round(lat["teacher"] / lat["student"], 2) if lat.get("teacher") else None,
            "onnx": m["checks"].get("onnx"), "int8": m["checks"].get("int8"), "latency_ms": lat,
            "pipeline_accuracy": m["checks"]["pytorch"]["pipeline_accuracy"], "warnings": warnings,
            "export": str(m.get("folder", "")), "runs": [r["run_id"] for r in (t_rec, s_rec) if r]}


def summary_text(s: dict) -> str:
    """The summary a person reads at a glance."""
    def num(v, f="{:.4f}"):
        return "-" if v is None else f.format(v)
    t, st = s["teacher"], s["student"]
    rows = [("", "teacher", "student"), ("layers", t["layers"], st["layers"]),
            (f"{s['test_split']} accuracy", num(t.get("accuracy")), num(st.get("accuracy"))),
            ("macro F1", num(t.get("macro_f1")), num(st.get("macro_f1"))),
            ("parameters", num(t["parameters"], "{:,}"), num(st["parameters"], "{:,}")),
            ("size on disk (MB)", num(t["size_mb"], "{:.1f}"), num(st["size_mb"], "{:.1f}")),
            ("CPU latency (ms/example)", num(t["latency_ms"], "{:.2f}"), num(st["latency_ms"], "{:.2f}"))]
    lines = [f"{a:<26}{str(b):>14}{str(c):>14}" for a, b, c in rows]
    lines += [f"majority-class baseline: {num(s['majority_baseline'])} (always the most frequent training label)",
              f"speed-up: {num(s['speedup'], '{:.2f}x')} (batch 1, side by side); rows {s['rows']}"]
    for k in ("onnx", "int8"):
        if s[k]:
            kept = "" if s[k].get("kept", True) else "  REFUSED (accuracy drop > 0.5 points; not written)"
            lines.append(f"{k}: accuracy {s[k]['accuracy']:.4f} ({s[k]['accuracy_change_points']:+.2f} points), largest "
                         f"logit difference {s[k]['max_abs_logit_diff']:.2e}, {num(s['latency_ms'].get(k), '{:.2f}')} "
                         f"ms/example{kept}")
    lines += [f"pipeline() on the export: accuracy {s['pipeline_accuracy']:.4f}", f"exported to {s['export']}"]
    lines += [f"*** WARNING: {w} ***" for w in s["warnings"]]
    return "\n".join(lines)
