"""The exported folder's model card (README.md) as users of the Hugging Face Hub expect it.

YAML metadata written by ``huggingface_hub.ModelCardData`` (license and language taken from the base model's own card
where it has one, ``base_model`` as a Hub id where one is known, ``pipeline_tag``, ``model-index`` with the test
accuracy and macro F1), then: how to load it, intended use, limitations (the data it saw, the measured accuracy on each
label, the warnings), how it was made (objective, the teacher by name and fingerprint, never a machine path),
evaluation (checks, size in MiB, latency) and framework versions.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

__all__ = ["HUB_IDS", "card_facts", "model_card", "base_model_facts"]

#: pkdlib's names of models with a Hub id
HUB_IDS = {
    "embedded:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "embedded": "sentence-transformers/all-MiniLM-L6-v2",
}


def _card_metadata(folder: Path) -> dict:
    """The YAML metadata of a model folder's README.md ({} when it has none or it does not parse)."""
    from huggingface_hub import ModelCard

    readme = Path(folder) / "README.md"
    if not readme.is_file():
        return {}
    try:
        return ModelCard.load(readme, ignore_metadata_errors=True).data.to_dict()
    except Exception:  # a README that is not a model card
        return {}


def base_model_facts(pretrained: str) -> dict:
    """The base model as a card names it: ``hub_id`` (None when unknown), ``license`` and ``language`` from its own
    card where it has one, and a ``name`` that is never a machine path."""
    from .models import resolve_model_path
    from .paths import from_record

    if pretrained in HUB_IDS:
        meta = _card_metadata(Path(resolve_model_path(pretrained)))
        return {
            "hub_id": HUB_IDS[pretrained],
            "name": HUB_IDS[pretrained],
            "license": meta.get("license"),
            "language": meta.get("language"),
        }
    local = Path(from_record(pretrained) or pretrained).expanduser()
    if local.is_dir() or pretrained.startswith((".", "/", "~")) or pretrained.count("/") > 1:
        meta = _card_metadata(local) if local.is_dir() else {}  # a folder's own card may name its base (pkd's do)
        hub = meta.get("base_model")
        hub = hub[0] if isinstance(hub, list) and hub else hub
        return {
            "hub_id": hub,
            "name": hub or f"a local model ({local.name})",
            "license": meta.get("license"),
            "language": meta.get("language"),
        }
    return {"hub_id": pretrained, "name": pretrained, "license": None, "language": None}  # a Hub id


def card_facts(record: dict) -> dict:
    """What the card says beyond the export's checks, from the run's record: base model, teacher, recipe, versions."""
    from .paths import from_record

    cfg = record["config"]
    teacher = None
    if cfg.get("teacher_dir"):
        t = Path(from_record(cfg["teacher_dir"]) or cfg["teacher_dir"])
        teacher = {
            "name": t.name,
            "fingerprint": (record.get("identity") or {}).get("teacher_fp"),
            "layers": record.get("n_teacher_layers"),
            "base": base_model_facts(cfg["teacher_dir"])["hub_id"],
        }
    recipe = {
        k: cfg.get(k)
        for k in (
            "epochs",
            "lr",
            "batch_size",
            "seed",
            "alpha",
            "temperature",
            "beta",
            "normalize",
            "init",
            "max_length",
        )
        if cfg.get(k) is not None
    }
    return {
        "base": base_model_facts(cfg["pretrained"]),
        "teacher": teacher,
        "recipe": recipe,
        "best_epoch": record.get("best_epoch"),
        "versions": (record.get("provenance") or {}).get("versions", {}),
    }


def _metadata(m: dict, facts: dict) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    test = next(iter(m["test"].values()))
    split = next(iter(m["test"]))
    on = {  # the task and split every result is measured on
        "task_type": "text-classification",
        "task_name": "Text Classification",
        "dataset_type": m["task"],
        "dataset_name": m["task"],
        "dataset_split": split,
    }
    results = [
        EvalResult(**on, metric_type="accuracy", metric_name="Accuracy", metric_value=round(test["accuracy"], 4))
    ]
    if test.get("macro_f1") is not None:
        f1 = round(test["macro_f1"], 4)
        results.append(
            EvalResult(
                **on, metric_type="f1", metric_name="Macro F1", metric_args={"average": "macro"}, metric_value=f1
            )
        )
    base = facts["base"]
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        license=base["license"],
        language=base["language"],
        base_model=base["hub_id"],
        model_name=_title(m),
        tags=["text-classification", "knowledge-distillation", "pkdlib"],
        metrics=["accuracy", "f1"],
        eval_results=results,
    )
    return data.to_yaml().rstrip("\n") + "\n"


def _title(m: dict) -> str:
    if m["student_layers"]:
        return f"{_text(m['task'])}: a {m['student_layers']}-layer student distilled with pkdlib"
    return f"{_text(m['task'])}: a {m['teacher_layers']}-layer model fine-tuned with pkdlib"


def _layers(m: dict) -> str:
    if not m["student_layers"]:  # a teacher run: nothing was cut
        return f"all {m['teacher_layers']} layers (the fine-tuned model itself, not a student)"
    return (
        f"{m['student_layers']} of {m['teacher_layers']} (embeddings and the first {m['student_layers']} "
        f"transformer layers)"
    )


def _per_class(m: dict) -> str:
    rows = m["checks"]["pytorch"].get("per_class") or []
    lines = [
        f"| {_cell(c['label'])} | {c['n']} | {c['predicted']} | "
        f"{'-' if c['accuracy'] is None else format(c['accuracy'], '.4f')} |"
        for c in rows
    ]
    return "\n".join(["| label | test rows | predicted as it | accuracy on its rows |", "|---|---|---|---|"] + lines)


def _made(m: dict, facts: dict) -> list:
    t = facts["teacher"]
    teacher = (
        "-"
        if not t
        else (
            f"{t['name']} ({t['layers']} layers"
            + (f", from {t['base']}" if t["base"] else "")
            + f"), weights fingerprint "
            f"sha256 {t['fingerprint'] or 'unknown'}"
        )
    )
    return [
        ("base model", facts["base"]["name"]),
        ("layers kept", _layers(m)),
        ("method", f"{m['method']}: {m['objective']}"),
        ("teacher", teacher),
        (
            "recipe",
            ", ".join(f"{k} {v}" for k, v in facts["recipe"].items())
            + f"; best epoch {facts['best_epoch']} (chosen on dev)",
        ),
        ("data", "; ".join(f"{s} {d['n']} rows, sha256 {d['checksum'][:16]}" for s, d in m["data"].items())),
        ("made by", f"pkdlib run {m['run_id']}, commit {m['provenance']['commit']}, on {m['provenance']['hardware']}"),
    ]


def _vocab(m: dict) -> str:
    v = m["checks"].get("vocab")
    if not v or not v.get("kept"):
        return ""
    t = v["test_tokenization"]
    return (
        f" Its vocabulary was pruned to the {v['vocabulary']['after']:,} tokens its training text uses (of "
        f"{v['vocabulary']['before']:,}): a word it never saw is spelled out in smaller pieces, down to single "
        f"characters; {t['changed']} of {t['rows']} test rows were split otherwise than by the full vocabulary, and "
        f"its predictions agree with the full vocabulary's on {100 * v['agreement']:.1f}% of the test rows."
    )


def _evaluation(m: dict) -> list:
    base = next(iter((m["majority_baseline"] or {}).values()), None)
    sizes = m.get("size_mib") or m.get("size_mb") or {}
    return [
        ("labels", ", ".join(f"{i}: {n}" for i, n in enumerate(m["label_names"]))),
        ("dev", json.dumps(m["dev"])),
        ("test", json.dumps(m["test"])),
        ("majority-class baseline (test)", f"{base['accuracy']:.4f}" if base else "-"),
        ("parameters", json.dumps(m["parameters"])),
        ("size (MiB)", json.dumps(sizes)),
        ("latency (ms per example)", f"{json.dumps(m['latency_ms_per_example'])} ({m['latency_setting']})"),
        (
            "checks",
            json.dumps(
                {k: {x: y for x, y in v.items() if x not in ("per_class", "attempts")} for k, v in m["checks"].items()}
            ),
        ),
    ]


def _text(v) -> str:
    """Text from the data (a label, a task name, a warning quoting them) as the card renders it: HTML escaped, so a
    label is shown, never run (``<script>``), and on one line, so it cannot end a quote or a table row."""
    return " ".join(html.escape(str(v), quote=False).splitlines())


def _cell(v) -> str:
    """A Markdown table cell: ``_text``, with ``|`` escaped so that a label cannot open another column."""
    return _text(v).replace("|", "\\|")


def _table(rows) -> str:
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {_cell(v)} |" for k, v in rows)


def model_card(m: dict) -> str:
    """The exported folder's README from its manifest (``export.export_manifest``; ``m['card']``: ``card_facts``)."""
    facts = m.get("card") or {
        "base": {"hub_id": None, "name": m["pretrained"], "license": None, "language": None},
        "teacher": None,
        "recipe": {},
        "best_epoch": None,
        "versions": {},
    }
    test = next(iter(m["test"].values()))
    warn = "".join(f"\n> **Warning:** {_text(w)}\n" for w in m["warnings"]) or "\nNo warning was raised.\n"
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v)
    onnx = (
        (
            "ONNX: `onnx/model.onnx` (onnxruntime, inputs input_ids, attention_mask, token_type_ids)"
            + ("; int8: `onnx/model_int8.onnx`" if (m["checks"].get("int8") or {}).get("kept") else "")
            + "."
        )
        if "onnx" in m["checks"]
        else ""
    )
    return f"""---
{_metadata(m, facts)}---
# {_title(m)}

Test accuracy {test.get("accuracy", float("nan")):.4f} on the {test.get("n", 0)} rows of `test_split.jsonl`.

```python
from transformers import pipeline
clf = pipeline("text-classification", model="PATH/TO/THIS/FOLDER", truncation=True)
clf("a text to classify")
```
(`truncation=True` cuts inputs at {m["max_length"]} tokens, as in training; without it a long input fails.)
{onnx}

## Intended use

Classifying text like its training data into {_text(", ".join(repr(n) for n in m["label_names"]))}. It was trained and
tested on one table only (`{_text(m["task"])}`, below); check it on your own rows before relying on it elsewhere.

## Limitations

It saw {", ".join(f"{d['n']} {s}" for s, d in m["data"].items())} rows; longer inputs than {m["max_length"]} tokens
are cut.{_vocab(m)} Measured accuracy on the test rows of each label:

{_per_class(m)}
{warn}
## How it was made

{_table(_made(m, facts))}

## Evaluation

{_table(_evaluation(m))}

## Framework versions

{versions or "-"}
"""
