"""A finished run as a model someone can ship: a Hugging Face folder that ``transformers.pipeline`` loads as it is,
optionally ONNX and dynamic int8 (onnxruntime), each checked against the PyTorch model on the run's test split.

    out/  config.json (id2label), model.safetensors, tokenizer (model_max_length = the run's max_length),
          README.md (model card), test_split.jsonl (the rows it was scored on), pkd-export.json (what was
          checked), onnx/model.onnx, onnx/model_int8.onnx (kept unless a paired test shows a loss: quantize.py)

Load it with ``pipeline("text-classification", model=out, truncation=True)``: transformers' pipeline truncates only
when asked, and then at the tokenizer's maximum length, which the export sets to the run's.

What pkd deletes: ``pkd-export.json`` lists every file of the export with its sha256 (``files``). A new export to the
same folder replaces it only while it holds exactly those files, unchanged; a file pkd did not write, or one changed
since (an edited model card), refuses the export, named. The folder is built in a temporary folder beside it
(``.<name>.pkd-tmp.*``, marked as pkd's; a killed export's is removed by the next export there) and put in place in
one step (``ownership.install``): a folder that appears meanwhile is never replaced. The student's weights are
checked against the record's ``weights_fp`` first; folders get the modes the umask says.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .card import card_facts, model_card
from .diagnose import per_class
from .errors import KnownError, require, saving
from .files import atomic_write_json, atomic_write_text, umask_modes
from .ownership import (
    TEMP_MARKER,
    ReplaceError,
    file_hashes,
    foreign,
    install,
    make_temp_dir,
    present_files,
    remove_stale_temps,
)
from .quantize import gate_text, int8_gate, quantize

__all__ = ["export_run", "ExportError", "INT8_MAX_DROP", "latency_ms", "folder_size_mb"]

#: no longer a gate (kept for importers): int8 is refused only when a paired test shows a loss (quantize.py)
INT8_MAX_DROP = None
MANIFEST = "pkd-export.json"


class ExportError(KnownError, ValueError):
    """A run that cannot be exported, or an output folder pkd may not write, with what to do."""


@dataclass
class Exported:
    """The exported folder's test split: texts, label ids and the tokenizer that makes model inputs."""

    texts: list
    labels: torch.Tensor
    tokenizer: object
    max_length: int

    def batches(self, size=32):
        for i in range(0, len(self.texts), size):
            cols = list(zip(*self.texts[i : i + size]))
            enc = self.tokenizer(
                *cols,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_token_type_ids=True,
                return_tensors="pt",
            )
            yield i, {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def check_out_dir(
    out: Path, record: dict | None = None, *, task: str | None = None, train: dict | None = None
) -> list[str]:
    """An output folder is new, empty, or an earlier export of pkd's (``pkd-export.json`` listing its files) that
    holds nothing else and nothing changed, of the same task and training data (``record``'s, or ``task`` and
    ``train``: {n, checksum}); returns the files pkd may replace. Anything else is an ExportError naming it."""
    out = Path(out).expanduser().resolve()
    if not out.exists():
        return []
    if not out.is_dir() or out.is_symlink():
        raise ExportError(f"{out} exists and is not a folder; choose a new --out")
    if not (out / MANIFEST).is_file():
        if any(out.iterdir()):
            raise ExportError(
                f"{out} exists and is not an export of pkd's (no {MANIFEST}); choose a new folder, "
                f"pkd replaces only its own exports"
            )
        return []
    old = _old_manifest(out)
    listed = old.get("files") if isinstance(old.get("files"), dict) else {}
    if extra := foreign(out, listed, skip=(MANIFEST, TEMP_MARKER)):  # the marker: an export just moved there
        why = "" if "files" in old else f" ({MANIFEST} lists no files: an export by an older pkd)"
        raise ExportError(
            f"{out} holds files the earlier export did not write, or changed since: "
            f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}{why}; nothing replaced. Move "
            f"them elsewhere (or choose another --out), then export again"
        )
    if record is not None:
        task, train = record["config"]["task"], record["data"].get("train")
    if task is not None and (old.get("task") != task or (old.get("data") or {}).get("train") != train):
        raise ExportError(
            f"{out} holds the export of another task or training data ({old.get('task')!r}, run "
            f"{old.get('run_id')}); choose another --out, or remove it yourself"
        )
    return present_files(out)


def _old_manifest(out: Path) -> dict:
    """An earlier export's manifest (a damaged one is refused: pkd cannot tell its files from yours there)."""
    try:
        old = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict):
        raise ExportError(
            f"{out}/{MANIFEST} is damaged, so pkd cannot tell its files from yours there; choose "
            f"another --out, or remove the folder yourself"
        )
    return old


def _label_names(record: dict) -> list:
    from .data import TASKS

    names = record.get("label_names") or list(TASKS[record["config"]["task"]].label_names)
    return [str(n) for n in names]


def save_hf_folder(record: dict, model_dir: str, out: Path) -> None:
    """The student's weights with id2label and the run's max_length, written into ``out`` (a new folder)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import quiet_transformers

    names = _label_names(record)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
        )
        tok = AutoTokenizer.from_pretrained(model_dir)
        tok.model_max_length = record["config"]["max_length"]
        model.save_pretrained(out)
        tok.save_pretrained(out)
    umask_modes(out)


def data_config(record: dict):
    """The run's configuration with its data paths read from the project root, for reading its data only."""
    from .config import RunConfig
    from .paths import from_record

    conf = {**record["config"], "device": "cpu"}  # only the data is read here
    for k in ("teacher_dir", "data_dir", "train_file", "dev_file", "test_file", "unlabeled_file"):
        if conf.get(k) and not str(conf[k]).startswith("hub:"):
            conf[k] = from_record(conf[k])
    if conf.get("method") != "teacher" and not Path(str(conf.get("teacher_dir"))).is_dir():
        conf["teacher_dir"] = record.get("model_dir")  # the data is all that is read here; any folder passes
    return RunConfig.from_dict(conf)


def same_rows(split, recorded: str | None, log=print) -> bool:
    """``split`` holds the rows a record's checksum ``recorded`` names. A local data_dir split's checksum covers its
    texts and labels; a record written before that holds the ids-only checksum, accepted with a note."""
    if split.checksum == recorded:
        return True
    if split.by_content and replace(split, by_content=False).checksum == recorded:
        log(
            f"note: the record holds the ids-only checksum of its {split.name} rows (written before local data files "
            f"were checksummed by content): the ids match, the texts and labels were not compared"
        )
        return True
    return False


def test_rows(record: dict, log=print):
    """The run's test split as it was scored: (ids, texts, labels), re-read and checked against the record."""
    from .data import load_data

    spec, splits = load_data(data_config(record))
    name = spec.test_splits[0]
    split = splits[name]
    if not same_rows(split, record["data"][name]["checksum"], log):
        raise ExportError(
            f"the test split read now ({len(split)} rows) is not the one the run was scored on "
            f"(checksum differs): the data files changed since; rerun"
        )
    return split, spec


def write_test_split(split, spec, out: Path, cfg=None) -> None:
    """The rows the model was scored on; a user's table's rows as they gave them (their ids, their label column)."""
    cols = spec.text_keys
    if cfg is not None and getattr(cfg, "train_file", None):
        from .tables import source_rows

        rows = source_rows(cfg, split.name, split.ids)
    else:
        rows = [
            {"id": i, **{c: t for c, t in zip(cols, text)}, "label": spec.label_names[y]}
            for i, text, y in zip(split.ids, split.texts, split.labels)
        ]
    lines = [json_line(r) for r in rows]
    atomic_write_text(out / "test_split.jsonl", "\n".join(lines) + "\n")


#: characters Python's str.splitlines (and other readers) take for line ends, escaped inside a JSON Lines record
LINE_ENDS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}  # json escapes the C0 ones itself


def json_line(row: dict) -> str:
    """One JSON Lines record, readable text (not ASCII-escaped) with every character some reader takes for a line end
    escaped (Rotten Tomatoes holds U+0085), so that any line reader gives one record a line."""
    text = json.dumps(row, ensure_ascii=False)
    for ch, esc in LINE_ENDS.items():
        text = text.replace(ch, esc)
    return text


@torch.inference_mode()
def torch_logits(model, data: Exported) -> torch.Tensor:
    model.eval()
    out = [model(**b).logits.float() for _, b in data.batches()]
    return torch.cat(out)


def onnx_export(model, data: Exported, path: Path) -> None:
    """Legacy TorchScript ONNX export (no onnxscript needed), dynamic batch and sequence axes."""
    import warnings

    names = ["input_ids", "attention_mask", "token_type_ids"]
    _, sample = next(data.batches(4))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            tuple(sample[k] for k in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{k: {0: "batch", 1: "sequence"} for k in names}, "logits": {0: "batch"}},
        )


def onnx_runtime(int8: bool = False):
    """onnxruntime (with ``int8``: and its quantizer, which imports onnx), or a MissingExtra naming the ``export``
    extra; asked before any work when --onnx or --int8 is given."""
    if int8:
        require("onnxruntime.quantization", "dynamic int8 (--int8)", "export")
    return require("onnxruntime", "ONNX export (--onnx, --int8)", "export")


def ort_session(path: Path):
    """An onnxruntime session whose threads do not spin after a run: spinning threads would take the CPU from the
    model timed next (measured: the teacher looked 3.8x slower than the student beside spinning sessions)."""
    ort = onnx_runtime()
    so = ort.SessionOptions()
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def onnx_logits(path: Path, data: Exported) -> torch.Tensor:
    sess = ort_session(path)
    out = [torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in b.items()})[0]) for _, b in data.batches()]
    return torch.cat(out).float()


def accuracy(preds: torch.Tensor, labels: torch.Tensor) -> float:
    """Counted as pkdlib's evaluation counts it (correct / n in Python floats), so equal predictions give equal numbers."""
    return int((preds == labels).sum()) / len(labels)


def parity(reference: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict:
    acc, ref = accuracy(logits.argmax(-1), labels), accuracy(reference.argmax(-1), labels)
    return {
        "max_abs_logit_diff": float((logits - reference).abs().max()),
        "accuracy": acc,
        "accuracy_change_points": round(100 * (acc - ref), 4),
        "same_predictions": float((logits.argmax(-1) == reference.argmax(-1)).float().mean()),
    }


def latency_ms(predictors: dict, data: Exported, n: int = 100, warmup: int = 3, own: dict | None = None) -> dict:
    """Median ms per example at batch size 1, the predictors interleaved example by example (side by side), after
    ``warmup`` untimed calls each. ``own``: {name: Exported} for a predictor that reads the rows through another
    tokenizer (the full-vocabulary teacher beside a pruned student)."""
    inputs = {k: [b for i, b in (own or {}).get(k, data).batches(1) if i < n] for k in predictors}
    times = {k: [] for k in predictors}
    for k, f in predictors.items():
        for _ in range(warmup):
            f(inputs[k][0])
    for j in range(min(len(v) for v in inputs.values())):
        for k, f in predictors.items():
            t0 = time.perf_counter()
            f(inputs[k][j])
            times[k].append(1000 * (time.perf_counter() - t0))
    return {k: round(sorted(v)[len(v) // 2], 3) for k, v in times.items() if v}


def folder_size_mb(path) -> float:
    """The weights' size on disk in MiB (2**20 bytes; safetensors or pytorch_model*.bin)."""
    files = [p for pat in ("*.safetensors", "pytorch_model*.bin") for p in Path(path).glob(pat)]
    return round(sum(p.stat().st_size for p in files) / 2**20, 2)


def pipeline_accuracy(out: Path, data: Exported) -> float:
    """Accuracy of the folder loaded as a person would: ``pipeline(..., truncation=True)``, one example at a time."""
    from transformers import pipeline

    from .models import quiet_transformers

    with quiet_transformers():
        clf = pipeline("text-classification", model=str(out), truncation=True, device="cpu")
    inputs = [t[0] if len(t) == 1 else {"text": t[0], "text_pair": t[1]} for t in data.texts]
    label2id = clf.model.config.label2id
    first = [r[0] if isinstance(r, list) else r for r in map(clf, inputs)]
    preds = torch.tensor([label2id[r["label"]] for r in first])
    return accuracy(preds, data.labels)


def onnx_checks(model, data: Exported, ref: torch.Tensor, out: Path, int8: bool, log=print) -> tuple[dict, dict]:
    """ONNX (and int8) files, their parity with PyTorch on the test split, and their predictors for latency."""
    path = out / "onnx" / "model.onnx"
    onnx_export(model, data, path)
    checks = {"onnx": parity(ref, onnx_logits(path, data), data.labels)}
    runs = {"onnx": path}
    if int8:  # the truthful gate: kept unless a paired test shows a loss, after the fallbacks (quantize.py)
        q = out / "onnx" / "model_int8.onnx"
        checks["int8"] = int8_gate(
            ref, data.labels, lambda setting: quantize(path, q, setting), lambda p: onnx_logits(p, data), log
        )
        log(("" if checks["int8"]["kept"] else "*** WARNING: ") + gate_text(checks["int8"]))
        if checks["int8"]["kept"]:
            runs["int8"] = q
    predictors = {}
    for k, p in runs.items():
        predictors[k] = (lambda s: lambda b: s.run(None, {n: v.numpy() for n, v in b.items()}))(ort_session(p))
    return checks, predictors


def train_texts(record: dict, log=print) -> list:
    """The rows the run trained on (its training split and its unlabeled rows), re-read and checked against the
    record's checksums."""
    from .data import load_data
    from .unlabeled import load_unlabeled

    cfg = data_config(record)
    spec, splits = load_data(cfg)
    parts = {"train": splits["train"].head(cfg.max_train_examples)}
    if getattr(cfg, "unlabeled_file", None):
        parts["unlabeled"] = load_unlabeled(cfg.unlabeled_file, spec, splits)
    for name, split in parts.items():
        if not same_rows(split, (record["data"].get(name) or {}).get("checksum"), log):
            raise ExportError(
                f"the {name} rows read now ({len(split)}) are not the ones run {record.get('run_id')} trained on "
                f"(checksum differs): the data files changed since; --prune-vocab needs the training text as it was"
            )
    return [t for split in parts.values() for t in split.texts]


def prune_vocab(record: dict, folder: Path, split, log=print) -> dict:
    """The exported folder's vocabulary pruned to the run's training text (``vocab.py``), compared with the full
    vocabulary on the test split (agreement, exact McNemar); written over the folder unless a loss is shown."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import quiet_transformers
    from .quantize import agreement, loss_shown, mcnemar
    from .vocab import prune, tokenization_changes

    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        tok = AutoTokenizer.from_pretrained(folder)
    labels, n = torch.tensor(split.labels), record["config"]["max_length"]
    ref, before = torch_logits(model, Exported(split.texts, labels, tok, n)), folder_size_mb(folder)
    p = prune(model, tok, train_texts(record, log))
    logits = torch_logits(p.model, Exported(split.texts, labels, p.tokenizer, n))
    test = mcnemar(ref.argmax(-1) == labels, logits.argmax(-1) == labels)
    check = {
        **p.info,
        **agreement(ref, logits),
        **test,
        "accuracy": accuracy(logits.argmax(-1), labels),
        "test_tokenization": tokenization_changes(tok, p.tokenizer, split.texts),
        "loss_shown": loss_shown(test),
    }
    if not check["loss_shown"]:
        for f in [*folder.glob("*.safetensors"), *folder.glob("tokenizer*.json"), *folder.glob("vocab.txt")]:
            f.unlink()
        with quiet_transformers():
            p.model.save_pretrained(folder)
            p.tokenizer.save_pretrained(folder)
    check.update(kept=not check["loss_shown"], size_mib={"before": before, "after": folder_size_mb(folder)})
    log(("" if check["kept"] else "*** WARNING: ") + vocab_text(check))
    return check


def _prunable(model_dir) -> None:
    from .vocab import VocabError, check_prunable

    try:
        check_prunable(model_dir)
    except VocabError as e:
        raise ExportError(str(e)) from None


def vocab_text(c: dict) -> str:
    """One line a person reads: the vocabulary kept, the size saved, the parity on the test split."""
    v, t = c["vocabulary"], c["test_tokenization"]
    head = (
        f"vocabulary pruned to the training text: {v['after']:,} of {v['before']:,} tokens, "
        f"{c['size_mib']['before']:.1f} -> {c['size_mib']['after']:.1f} MiB"
        if c["kept"]
        else f"vocabulary NOT pruned (a loss on the test split): {v['after']:,} of {v['before']:,} tokens would remain"
    )
    return (
        f"{head}; test split: {t['changed']} of {t['rows']} rows split otherwise, agreement "
        f"{100 * c['agreement']:.1f}%, accuracy {c['accuracy_change_points']:+.2f} points, exact McNemar "
        f"p = {c['p_value']:.3g} (b={c['ref_only_correct']}, c={c['new_only_correct']})"
    )


def export_run(record: dict, out, onnx: bool = False, int8: bool = False, log=print, prune_vocab: bool = False) -> dict:
    """Export a finished run whose weights were kept; returns (and writes as ``pkd-export.json``) what was checked.
    Everything is built in a new temporary folder beside ``out`` and put in place in one step at the end (see the
    module), so a failed or interrupted export leaves ``out`` as it was."""
    from .records import saved_model_dir, weights_problem

    if onnx or int8:
        onnx_runtime(int8)
    model_dir, out = saved_model_dir(record), Path(out).expanduser().resolve()
    if not model_dir:
        raise ExportError(
            f"run {record.get('run_id')} kept no weights ({record.get('model_dir')}); rerun it with "
            f"save_model=True (pkd train --save-model true; pkd distill keeps them)"
        )
    if problem := weights_problem(record):
        raise ExportError(
            f"run {record.get('run_id')}: {problem}; not exported. Train it again (pkd train ... "
            f"--force --save-model true)"
        )
    check_out_dir(out, record)
    if prune_vocab:
        _prunable(model_dir)
    split, spec = test_rows(record, log)
    if not record["test"].get(spec.test_splits[0]):
        raise ExportError(
            f"run {record['run_id']} has no test labels (a GLUE test split is scored by the GLUE server); "
            f"pkd export checks a model on a labelled test split"
        )
    with saving(out):
        out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent, f".{out.name}.pkd-tmp.", log)
    tmp = make_temp_dir(out.parent, f".{out.name}.pkd-tmp.")
    with saving(out, tmp):
        manifest = _build(record, model_dir, split, spec, tmp, out, onnx, int8, log, prune_vocab)
        try:
            install(tmp, out, lambda old: check_out_dir(old, record))
        except ReplaceError as e:
            raise ExportError(str(e)) from None
    return manifest


def _build(record, model_dir, split, spec, tmp: Path, out: Path, onnx, int8, log, vocab: bool = False) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import count_parameters, load_classifier, load_tokenizer, quiet_transformers

    save_hf_folder(record, model_dir, tmp)
    write_test_split(split, spec, tmp, data_config(record))
    pruned = prune_vocab(record, tmp, split, log) if vocab else None
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(tmp).eval()
        data = Exported(
            split.texts, torch.tensor(split.labels), AutoTokenizer.from_pretrained(tmp), record["config"]["max_length"]
        )
    ref = torch_logits(model, data)
    checks = {
        "pytorch": {
            "accuracy": accuracy(ref.argmax(-1), data.labels),
            "record_accuracy": record["test"][spec.test_splits[0]]["accuracy"],
            "pipeline_accuracy": pipeline_accuracy(tmp, data),
            "per_class": per_class(data.labels, ref.argmax(-1), _label_names(record)),
        }
    }
    predictors, own = {"student": lambda b: model(**b)}, {}
    teacher_dir = saved_teacher(record)
    if teacher_dir:
        teacher = load_classifier(teacher_dir, spec.num_labels).eval()
        predictors = {"teacher": lambda b: teacher(**b), **predictors}
        if pruned and pruned["kept"]:  # the teacher reads the rows through its own, full vocabulary
            own["teacher"] = Exported(data.texts, data.labels, load_tokenizer(teacher_dir), data.max_length)
    if pruned:
        checks["vocab"] = pruned
    if onnx or int8:
        more, runs = onnx_checks(model, data, ref, tmp, int8, log)
        checks.update(more)
        predictors.update(runs)
    with torch.inference_mode():
        latency = latency_ms(predictors, data, own=own)
    shipped = {**record}
    if pruned and pruned["kept"]:  # the numbers of the model shipped: the pruned one
        shipped.update(parameters=count_parameters(model), test=pruned_test(record, spec, ref, data.labels))
    manifest = export_manifest(shipped, checks, latency, teacher_dir, tmp)
    manifest["folder"] = str(out)
    atomic_write_text(tmp / "README.md", model_card(manifest))
    umask_modes(tmp)
    manifest["files"] = file_hashes(tmp, skip=(TEMP_MARKER, MANIFEST))
    atomic_write_json(tmp / MANIFEST, manifest)  # last: what it lists is what the folder holds
    return manifest


def pruned_test(record: dict, spec, logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """The record's test metrics with the pruned model's accuracy and macro F1; the full vocabulary's beside them."""
    from .diagnose import macro_f1

    name, preds = spec.test_splits[0], logits.argmax(-1)
    old = record["test"][name]
    new = {"accuracy": accuracy(preds, labels), "macro_f1": macro_f1(labels, preds)}
    full = {k: old.get(k) for k in new}
    return {**record["test"], name: {**old, **new, "full_vocabulary": full}}


def saved_teacher(record: dict) -> str | None:
    from .paths import from_record

    d = from_record(record["config"].get("teacher_dir"))
    return d if d and Path(d).is_dir() else None


def export_manifest(record, checks, latency, teacher_dir, out: Path) -> dict:
    cfg = record["config"]
    return {
        "run_id": record["run_id"],
        "folder": str(out),
        "method": cfg["method"],
        "objective": record.get("objective"),
        "pretrained": cfg["pretrained"],
        "student_layers": cfg["student_layers"],
        "teacher_layers": record.get("n_teacher_layers"),
        "card": card_facts(record),
        "task": cfg["task"],
        "label_names": _label_names(record),
        "max_length": cfg["max_length"],
        "data": record["data"],
        "label_counts": {c["label"]: c["n"] for c in checks["pytorch"]["per_class"]},
        "dev": record["dev"],
        "test": record["test"],
        "majority_baseline": record.get("majority_baseline"),
        "warnings": record.get("warnings", []),
        "parameters": record.get("parameters"),
        "size_mib": {
            "student": folder_size_mb(out),
            **({"teacher": folder_size_mb(teacher_dir)} if teacher_dir else {}),
        },
        "checks": checks,
        "latency_ms_per_example": latency,
        "latency_setting": f"batch 1, median over up to 100 test examples, CPU, {torch.get_num_threads()} threads, "
        f"models interleaved example by example",
        "provenance": {
            "commit": record["provenance"]["git"].get("commit"),
            "hardware": record["provenance"]["hardware"].get("cpu"),
        },
    }
