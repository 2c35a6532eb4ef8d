"""One run, as named steps: ``prepare`` -> ``reusable_record`` -> ``fit`` -> ``make_record``.

``run(cfg)`` composes them; the study and the CLI call the same steps. Every finished run writes one
JSON record (see ``records.py``); a failed or interrupted run writes none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .cache import teacher_cache_key
from .config import ConfigError, RunConfig
from .data import TaskSpec, load_data, tokenize_split
from .diagnose import prediction_warnings
from .files import atomic_write_json, atomic_write_text, content_key, tokenizer_fingerprint
from .identity import portable_config, run_identity
from .layer_maps import layer_map
from .losses import Objective
from .methods import METHODS
from .metrics import majority_baseline
from .models import (
    autocast_dtype,
    build_student,
    count_parameters,
    eager_attention,
    load_classifier,
    load_tokenizer,
    pick_device,
)
from .paths import Workspace, portable
from .records import locate_record, provenance, read_git, record_path, reusable_record, seal
from .teachers import TEACHERS, Teacher, TeacherSource, check_teacher
from .terms import TERMS, Need
from .train import Hardware, compute_precision, evaluate, fit
from .unlabeled import load_unlabeled, with_unlabeled
from .weights import save_model_dir, verified_fingerprint

__all__ = ["run", "prepare", "Prepared", "build_objective", "make_teacher", "fill_teacher_cache"]

#: training accuracy is measured after every epoch, in eval mode, on this fixed subset of the training split
TRAIN_EVAL_EXAMPLES = 1000


@dataclass
class Prepared:
    """What a run is made of before training: data, tokens, identity and where its record goes."""

    cfg: RunConfig
    spec: TaskSpec
    tokenizer: object
    splits: dict
    toks: dict
    cache_key: str | None
    identity: dict
    found: Path  # the record of this run if one exists (maybe written before results versions), else out_path
    out_path: Path  # where a new record of this run goes: named by its identity hash
    teacher_compute: str | None = None  # what the teacher cache is computed in (train.compute_precision); in its key


def build_objective(cfg: RunConfig, n_teacher: int) -> Objective:
    """The objective of ``cfg``'s method: its terms' values from the configuration, its layer map and pooling."""
    m = METHODS[cfg.method]
    lm = layer_map(m.layer_map, n_teacher, cfg.student_layers) if m.layer_map else None
    values = {p.name: getattr(cfg, p.name) for key in m.terms for p in TERMS[key].params}
    return Objective(layer_map=lm, pooling=m.pooling, ce_labelled_only=cfg.unlabeled_file is not None, **values)


def prepare(cfg: RunConfig, ws: Workspace, log=print, processes: int = 1, data=None) -> Prepared:
    """Load (unless ``data``: load_data's result) and tokenise the data (cached), fingerprint teacher and tokenizer,
    derive the run's identity (the process count enters it when above 1: several processes shard each global batch,
    which changes the numbers)."""
    spec, splits = data or load_data(cfg)
    cfg.check_labels(spec)
    if cfg.unlabeled_file is not None:  # its rows join the training tokens after the labelled ones (unlabeled.py)
        splits = {**splits, "unlabeled": load_unlabeled(cfg.unlabeled_file, spec, splits)}
    tokenizer = load_tokenizer(cfg.teacher_dir or cfg.pretrained)
    tok_fp = tokenizer_fingerprint(tokenizer)
    toks = {name: tokenize_split(sp, tokenizer, cfg.max_length, ws.cache, log) for name, sp in splits.items()}
    toks["train_eval"] = toks["train"].head(TRAIN_EVAL_EXAMPLES)
    checksums = {name: sp.checksum for name, sp in splits.items()}
    train_content = checksums["train"]
    if "unlabeled" in toks:
        toks["train"] = with_unlabeled(toks["train"], toks.pop("unlabeled"))
        train_content = content_key(checksums["train"], checksums["unlabeled"])
    teacher_fp = verified_fingerprint(cfg.teacher_dir) if cfg.teacher_dir else None
    device = pick_device(cfg.device)
    m = METHODS[cfg.method]
    cached = m.uses_teacher and TEACHERS[m.teacher].cached
    compute = compute_precision(device, autocast_dtype(device, cfg.precision)) if cached else None
    cache_key = (
        teacher_cache_key(
            teacher_fp, tok_fp, cfg.task, "train", train_content, cfg.max_length, len(toks["train"]), compute
        )
        if compute
        else None
    )
    identity = run_identity(
        cfg,
        teacher_fp=teacher_fp,
        tokenizer_fp=tok_fp,
        split_checksums=checksums,
        **({"processes": processes} if processes > 1 else {}),
    )
    return Prepared(
        cfg,
        spec,
        tokenizer,
        splits,
        toks,
        cache_key,
        identity,
        locate_record(ws.records, cfg, identity),
        record_path(ws.records, cfg, identity["hash"]),
        compute,
    )


def make_teacher(
    kind: str,
    prep: Prepared,
    ws: Workspace,
    device: torch.device,
    amp: torch.dtype | None,
    progress: bool = True,
    log: Callable[[str], object] = print,
    need: Need | None = None,
) -> Teacher:
    """The teacher of ``prep``'s run, of ``kind`` (``teachers.TEACHERS``): the fine-tuned teacher in ``teacher_dir``,
    cached over the training split (read, or computed once and written; ``need``: what the objective reads of it,
    checked when the cache opens) or run online."""
    src = TeacherSource(
        lambda: load_classifier(prep.cfg.teacher_dir, prep.spec.num_labels),
        prep.toks["train"],
        ws.cache,
        prep.cache_key,
        device,
        amp,
        progress,
        log,
        need,
    )
    return TEACHERS[kind].make(src)


def run(
    cfg: RunConfig, ws: Workspace | None = None, progress: bool = True, log=print, force: bool = False, data=None
) -> dict:
    """Train one run and write its record; return the record. Reuses a finished record with the same
    identity unless ``force``. ``data``: the task's (spec, splits) as ``load_data`` gives them, when already loaded
    (scripts/gpu_check.py's generated data)."""
    from accelerate.utils import set_seed

    ws, t_start, git_started = ws or Workspace(), time.time(), read_git()
    n_teacher = cfg.check_models()
    objective = build_objective(cfg, n_teacher)
    check_teacher(METHODS[cfg.method].teacher, objective.need("teacher"))
    hw = Hardware.setup(cfg)
    say = log if hw.main else (lambda *a, **k: None)
    data = data or load_data(cfg)  # the data's errors before any folder is made
    cfg.check_labels(data[0])
    ws.check_writable()
    prep = prepare(cfg, ws, say, hw.accelerator.num_processes, data)
    if not force and (existing := reusable_record(prep.found, cfg.method, say, prep.identity)):
        say(f"[skip] {prep.found.name}: a record with the same identity exists")
        return existing
    say(f"run {prep.out_path.stem}: {objective}")
    teacher, t0 = None, time.time()
    if objective.uses_teacher:
        kind = METHODS[cfg.method].teacher
        with hw.accelerator.main_process_first():
            teacher = make_teacher(
                kind, prep, ws, hw.device, hw.amp, progress and hw.main, say, objective.need("teacher")
            )
        if teacher.n_layers != n_teacher:
            raise ConfigError(f"the {kind} teacher has {teacher.n_layers} layers, the teacher {n_teacher}")
    t_cache = time.time() - t0
    set_seed(cfg.seed)
    model = (
        load_classifier(cfg.pretrained, prep.spec.num_labels)
        if cfg.method == "teacher"
        else build_student(
            cfg.pretrained, cfg.student_layers, prep.spec.num_labels, cfg.init, cfg.teacher_dir, cfg.seed
        )
    )
    if objective.need("student").attentions:  # the implementation that returns attention maps
        eager_attention(model)
    params = count_parameters(model)
    result = fit(cfg, model, prep.toks, prep.spec, objective, teacher, hw, say, progress)
    if not hw.main:
        return {}
    record = make_record(prep, ws, result, objective, n_teacher, params, hw, git_started)
    record["timings"] = {
        "total_s": round(time.time() - t_start, 3),
        "teacher_cache_s": round(t_cache, 3),
        "train_s": round(sum(e["train_time_s"] for e in result.epochs), 3),
        "per_epoch_train_s": [e["train_time_s"] for e in result.epochs],
    }
    record = seal(record)  # a hash over its identity and results, checked whenever it is read
    atomic_write_json(prep.out_path, record)
    if prep.found != prep.out_path:  # a forced rerun supersedes the run's record written under an older name
        prep.found.unlink(missing_ok=True)
    say(f"wrote {portable(prep.out_path)}")
    return record


def make_record(
    prep: Prepared, ws: Workspace, result, objective, n_teacher, params, hw, git_started: dict | None = None
) -> dict:
    """Test once at the best dev epoch, keep the weights if asked (always for a teacher), and assemble the record
    (``git_started``: the checkout's state when the run began, ``records.provenance``)."""
    cfg, spec, run_id = prep.cfg, prep.spec, prep.out_path.stem
    test, predictions, correct = {}, {}, {}
    for s in spec.test_splits:
        predictions[s], test[s] = evaluate(result.model, prep.toks[s], spec, cfg.batch_size, hw.device, hw.amp)
        if test[s]:  # labels known: which examples it got right, in split order (paired example-level tests)
            correct[s] = "".join("01"[int(c)] for c in (predictions[s] == prep.toks[s].labels).tolist())
    pred_files = _write_predictions(ws, run_id, spec, prep.splits, predictions) if spec.source == "glue" else {}
    baseline, warnings = learned(prep, predictions, test, hw)
    model_dir = weights_fp = None
    if cfg.method == "teacher" or cfg.save_model:
        model_dir = ws.models / run_id
        weights_fp = save_model_dir(result.model, prep.tokenizer, model_dir)
    return {
        "schema": 2,
        "run_id": run_id,
        "status": "complete",
        "config": portable_config(cfg),
        "identity": prep.identity,
        "objective": str(objective),
        "layer_map": list(objective.layer_map) if objective.layer_map is not None else None,
        "n_teacher_layers": n_teacher,
        "parameters": params,
        "epochs": result.epochs,
        "curve": result.curve,
        "best_epoch": result.best_epoch,
        "selection_metric": f"{spec.dev_splits[0]}/{spec.metrics[0]}",
        "dev": {s: result.epochs[result.best_epoch - 1][s] for s in spec.dev_splits},
        "test": test,
        "test_correct": correct,
        "majority_baseline": baseline,
        "warnings": warnings,
        "label_names": list(spec.label_names),
        "text_columns": list(spec.text_keys),
        "test_predictions": pred_files,
        "model_dir": portable(model_dir),
        "weights_fp": weights_fp,
        "data": {name: {"n": len(sp), "checksum": sp.checksum} for name, sp in prep.splits.items()},
        "provenance": {
            **provenance(hw.device, cfg.seed, prep.cache_key, hw.accelerator.num_processes, git_started),
            "accelerate_mixed_precision": str(hw.accelerator.mixed_precision),
            "accelerate_dynamo_backend": str(hw.accelerator.state.dynamo_plugin.backend.value).lower(),
            "loss_scaling": hw.scaler.is_enabled(),
            "teacher_compute": prep.teacher_compute,
        },
    }


def learned(prep: Prepared, predictions: dict, test: dict, hw) -> tuple[dict, list]:
    """The majority-class baseline of each labelled test split, and the warnings of a model that did not learn
    (said loudly in the log, kept in the record)."""
    baseline, warnings = {}, []
    for s, metrics in test.items():
        if metrics:
            baseline[s] = majority_baseline(prep.splits["train"].labels, prep.splits[s].labels)
            warnings += prediction_warnings(
                f"{prep.cfg.method} ({s})",
                prep.splits[s].labels,
                predictions[s],
                prep.spec.label_names or range(prep.spec.num_labels),
                baseline[s]["label"],
            )
    for w in warnings if hw.main else []:
        print(f"\n*** WARNING: {w} ***\n", flush=True)
    return baseline, warnings


def fill_teacher_cache(cfg: RunConfig, ws: Workspace, progress: bool = True, log=print) -> str:
    """Compute (or find) the teacher cache that students of ``cfg`` (teacher_dir set) will read; return its key."""
    prep = prepare(cfg, ws, log)
    if prep.cache_key is None:
        raise ConfigError("fill_teacher_cache needs a method that reads the teacher cache (kd, pkd-last, pkd-skip)")
    hw = Hardware.setup(cfg)
    make_teacher("cached", prep, ws, hw.device, hw.amp, progress, log)
    return prep.cache_key


GLUE_FILES = {"sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE"}


def _write_predictions(ws, run_id, spec, splits, predictions) -> dict:
    """GLUE-submission files: index<TAB>prediction, label names as the GLUE server expects."""
    out = {}
    for s, preds in predictions.items():
        name = GLUE_FILES[spec.name] + {"test_matched": "-m", "test_mismatched": "-mm"}.get(s, "")
        lines = ["index\tprediction"] + [f"{i}\t{spec.label_names[int(p)]}" for i, p in zip(splits[s].ids, preds)]
        path = ws.results / "predictions" / run_id / f"{name}.tsv"
        atomic_write_text(path, "\n".join(lines) + "\n")
        out[s] = portable(path)
    return out
