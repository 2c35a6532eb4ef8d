"""Content keys, atomic writes and the teacher cache.

The teacher cache holds, for one (teacher weights, tokenizer, task, split, max length), the
teacher's logits and the [CLS] hidden state of every layer for every example, computed once in
eval mode (no dropout). Its key hashes all of those, so any change (re-fine-tuned teacher,
another tokenizer, another split or length) gives another key: a cache is never silently reused.
Files are written to a temporary name and renamed, so a killed run leaves no file that is later
read as valid; a file whose stored key does not match its name is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

CACHE_FORMAT = 1


def content_key(*parts) -> str:
    """sha256 of the JSON of the parts (stable across runs and machines)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes):
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(obj, path):
    _atomic_write(path, lambda f: torch.save(obj, f))


def file_sha256(path, chunk=1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def model_fingerprint(model_dir) -> str:
    """sha256 over the weight and config files of a saved model directory."""
    d = Path(model_dir)
    files = sorted(p for p in d.iterdir() if p.suffix in (".safetensors", ".bin", ".json") and p.is_file()
                   and p.name.startswith(("model", "pytorch_model", "config")))
    if not files:
        raise FileNotFoundError(f"no model weights in {d}")
    return content_key([(p.name, file_sha256(p)) for p in files])


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's vocabulary and settings that change token ids."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    settings = {k: getattr(tokenizer, k, None) for k in ("do_lower_case", "model_max_length", "padding_side",
                                                        "truncation_side")}
    return content_key(type(tokenizer).__name__, vocab, settings)


def teacher_cache_key(teacher_fp: str, tokenizer_fp: str, task: str, split: str, split_checksum: str,
                      max_length: int, n_examples: int) -> str:
    return content_key("teacher-cache", CACHE_FORMAT, teacher_fp, tokenizer_fp, task, split, split_checksum,
                       max_length, n_examples)


class TeacherOutputs:
    """Teacher logits (n, C) and [CLS] states (n, L+1, H; index 0 = embeddings) for one split."""

    def __init__(self, logits: torch.Tensor, cls: torch.Tensor, key: str):
        self.logits, self.cls, self.key = logits, cls, key

    @property
    def n_layers(self) -> int:
        return self.cls.shape[1] - 1

    def select(self, index: torch.Tensor, layers):
        """Logits and the [CLS] states of the given 1-based teacher layers for a batch of examples."""
        return self.logits[index], self.cls[index][:, list(layers)] if layers else self.cls[index][:, :0]


@torch.inference_mode()
def compute_teacher_outputs(model, ts, batch_size: int, device, key: str = "", progress: bool = True,
                            autocast_dtype=None) -> TeacherOutputs:
    from .data import LengthBucketSampler, collate
    from .progress import progress as tqdm
    model.eval()
    n = len(ts)
    L, H = model.config.num_hidden_layers, model.config.hidden_size
    logits = torch.zeros(n, model.config.num_labels)
    cls = torch.zeros(n, L + 1, H)
    sampler = LengthBucketSampler(ts.lengths, batch_size, shuffle=False)
    for idx in tqdm(sampler.batches(), desc="teacher cache", disable=not progress, unit="batch"):
        b = collate(ts, idx)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            out = model(input_ids=b["input_ids"].to(device), token_type_ids=b["token_type_ids"].to(device),
                        attention_mask=b["attention_mask"].to(device), output_hidden_states=True)
        logits[b["index"]] = out.logits.float().cpu()
        cls[b["index"]] = torch.stack([h[:, 0] for h in out.hidden_states], dim=1).float().cpu()
    return TeacherOutputs(logits, cls, key)


def load_or_compute_teacher_outputs(cache_dir, key: str, compute, log=print) -> TeacherOutputs:
    """Read the cache file for ``key``; (re)compute and write it atomically if absent or invalid."""
    path = Path(cache_dir) / f"teacher-{key[:24]}.pt"
    if path.is_file():
        try:
            d = torch.load(path, weights_only=True)
            if d.get("key") == key and d.get("format") == CACHE_FORMAT:
                return TeacherOutputs(d["logits"], d["cls"], key)
            log(f"teacher cache {path.name}: stored key does not match, recomputing")
        except Exception as e:  # unreadable / truncated file
            log(f"teacher cache {path.name} unreadable ({type(e).__name__}), recomputing")
    out = compute()
    out.key = key
    atomic_torch_save({"key": key, "format": CACHE_FORMAT, "logits": out.logits, "cls": out.cls}, path)
    return out
