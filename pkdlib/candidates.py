"""The frontier's candidates built from what ``pkd distill`` made: the teacher (PyTorch, ONNX, int8 through the int8
gate), each exported student (PyTorch, ONNX, int8) and the static baseline (fitted once per teacher and data, kept
under ``work/static/`` and reused). Every candidate reads the same rows, tokenised by the teacher's tokenizer (which
the students were trained with), or a student's own when its vocabulary was pruned (``vocab.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .errors import require
from .export import Exported, folder_size_mb, onnx_export, onnx_logits, torch_logits
from .files import content_key, model_fingerprint, tokenizer_fingerprint
from .frontier import Candidate
from .quantize import file_mib, gate_text, int8_gate, quantize
from .static import L2_GRID, StaticModel, distil_vectors, fit_static

__all__ = ["teacher_candidates", "student_candidates", "static_candidate", "ort_predictor", "torch_predictor"]


def ort_predictor(path: Path, threads: int | None = None):
    """An onnxruntime session on ``threads`` intra-op threads (torch's count: the same CPU share), not spinning."""
    ort = require("onnxruntime", "running an ONNX candidate", "export")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return lambda b: torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in b.items() if k in names})[0])


def torch_predictor(model):
    model.eval()
    return lambda b: model(**b).logits


def teacher_candidates(teacher_dir: str, num_labels: int, data: Exported, folder: Path, log=print) -> list:
    """The teacher in PyTorch fp32, ONNX fp32 and ONNX int8 (the int8 gate's kept setting; left out if refused)."""
    from .models import count_parameters, load_classifier

    model = load_classifier(teacher_dir, num_labels).eval()
    params, n = count_parameters(model)["total"], model.config.num_hidden_layers
    onnx = folder / "teacher" / "onnx" / "model.onnx"
    onnx_export(model, data, onnx)
    out = [
        Candidate(
            "teacher fp32", "teacher", "pytorch fp32", torch_predictor(model), params, folder_size_mb(teacher_dir), n
        ),
        Candidate(
            "teacher onnx",
            "teacher",
            "onnx fp32",
            ort_predictor(onnx),
            params,
            file_mib(onnx),
            n,
            "teacher/onnx/model.onnx",
        ),
    ]
    q = onnx.with_name("model_int8.onnx")
    gate = int8_gate(
        torch_logits(model, data), data.labels, lambda s: quantize(onnx, q, s), lambda p: onnx_logits(p, data), log
    )
    log("teacher " + gate_text(gate))
    if gate["kept"]:
        out.append(
            Candidate(
                "teacher int8",
                "teacher",
                "onnx int8",
                ort_predictor(q),
                params,
                gate["size_mib"],
                n,
                "teacher/onnx/model_int8.onnx",
                {"int8_setting": gate["setting"]},
            )
        )
    return out


def student_candidates(folder: Path, rel: str, parameters: int, layers: int) -> list:
    """An exported student (``folder``, written by ``export_run``) in PyTorch fp32, and ONNX / int8 where written."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import quiet_transformers

    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        tok = AutoTokenizer.from_pretrained(folder)  # its own: a pruned vocabulary (--prune-vocab) has other ids
    out = [
        Candidate(
            f"student L{layers} fp32",
            "student",
            "pytorch fp32",
            torch_predictor(model),
            parameters,
            folder_size_mb(folder),
            layers,
            rel,
            tokenizer=tok,
        )
    ]
    for runtime, name, short in (("onnx fp32", "model.onnx", "onnx"), ("onnx int8", "model_int8.onnx", "int8")):
        f = folder / "onnx" / name
        if f.is_file():
            out.append(
                Candidate(
                    f"student L{layers} {short}",
                    "student",
                    runtime,
                    ort_predictor(f),
                    parameters,
                    file_mib(f),
                    layers,
                    f"{rel}/onnx/{name}",
                    tokenizer=tok,
                )
            )
    return out


def _batches(split, tok, max_length: int, size: int = 256):
    data = Exported(split.texts, torch.tensor(split.labels), tok, max_length)
    return [(b, data.labels[i : i + size]) for i, b in data.batches(size)]


def static_candidate(
    teacher_dir: str, num_labels: int, splits: dict, data: Exported, ws, folder: Path, log=print
) -> Candidate:
    """The static baseline distilled from the teacher and fitted on the training rows (dev picks its L2), reused from
    ``work/static/<key>`` when the same teacher, tokenizer, rows and recipe made one; copied into ``folder/static``."""
    from .models import load_classifier

    tok = data.tokenizer
    key = content_key(
        "static-v1",
        model_fingerprint(teacher_dir),
        tokenizer_fingerprint(tok),
        data.max_length,
        splits["train"].checksum,
        splits["dev"].checksum,
        L2_GRID,
    )
    cache = Path(ws.work) / "static" / key[:20]
    try:
        model = StaticModel.load(cache)
        log(f"static baseline: reused {cache.name}")
    except (OSError, KeyError, ValueError):
        log("static baseline: distilling one vector per token from the teacher ...")
        teacher = load_classifier(teacher_dir, num_labels)
        vectors = distil_vectors(teacher, tok)
        model = fit_static(
            vectors,
            tok.all_special_ids,
            _batches(splits["train"], tok, data.max_length),
            _batches(splits["dev"], tok, data.max_length),
            num_labels,
            log,
        )
        model.save(cache)
    dest = folder / "static"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(cache, dest)
    tok.save_pretrained(dest)
    params = model.vectors.numel() + model.weight.numel() + model.bias.numel()
    return Candidate(
        "static (from teacher)",
        "static",
        "static fp16",
        lambda b: model(**b),
        params,
        file_mib(dest / "static.safetensors"),
        None,
        "static",
    )
