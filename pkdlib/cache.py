"""The teacher cache: the teacher's logits and every layer's [CLS] and mean-pooled state for a training split.
It stays on the host, memory-mapped: each batch gathers its rows (and only the tensors its method uses) onto the
device, so neither a GPU nor a process's memory holds the whole cache (MNLI's is 14.6 GiB for BERT-base).

Computed once in eval mode (no dropout) for one (teacher weights, tokenizer, task, split, max length)
and keyed by all of them, so any change (re-fine-tuned teacher, another tokenizer, split or length)
gives another key: a cache is never silently reused. A file that cannot be read, or whose stored key
does not match its name, is named in the log and recomputed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .data import LengthBucketSampler, collate
from .files import atomic_write, content_key
from .losses import pool
from .progress import progress as progress_bar

CACHE_FORMAT = 2  # 2: mean-pooled states beside [CLS] (the [CLS] values are those of format 1)


def teacher_cache_key(teacher_fp: str, tokenizer_fp: str, task: str, split: str, split_checksum: str,
                      max_length: int, n_examples: int) -> str:
    return content_key("teacher-cache", CACHE_FORMAT, teacher_fp, tokenizer_fp, task, split, split_checksum,
                       max_length, n_examples)


class TeacherOutputs:
    """Teacher logits (n, C), [CLS] states and mean-pooled states (n, L+1, H each; index 0 = embeddings) for one
    split.

    ``outputs(batch, layers, pooling)`` gives a batch's logits and the pooled states of the 1-based ``layers``:
    the ``teacher`` argument of ``losses.compute_loss``."""

    def __init__(self, logits: torch.Tensor, cls: torch.Tensor, mean: torch.Tensor):
        self.logits, self.cls, self.mean = logits, cls, mean

    @property
    def n_layers(self) -> int:
        return self.cls.shape[1] - 1

    def to(self, device) -> "TeacherOutputs":
        """Where a batch's rows go; the cache itself stays on the host (memory-mapped when read from disk), so a GPU
        holds one batch of it, and a method reads only the tensors it uses (kd: the logits)."""
        self.device = torch.device(device)
        return self

    device = torch.device("cpu")

    def __call__(self, batch: dict, layers, pooling: str = "cls"):
        idx = batch["index"].cpu()
        logits = self.logits[idx].to(self.device, non_blocking=True)
        if not layers:
            return logits, torch.zeros(len(idx), 0, self.cls.shape[-1], device=self.device)
        states = (self.cls if pooling == "cls" else self.mean)[idx][:, list(layers)]
        return logits, states.to(self.device, non_blocking=True)


@torch.inference_mode()
def compute_teacher_outputs(model, ts, batch_size: int, device, progress: bool = True,
                            autocast_dtype=None) -> TeacherOutputs:
    model.eval()
    n = len(ts)
    L, H = model.config.num_hidden_layers, model.config.hidden_size
    logits = torch.zeros(n, model.config.num_labels)
    cls, mean = torch.zeros(n, L + 1, H), torch.zeros(n, L + 1, H)
    sampler = LengthBucketSampler(ts.lengths, batch_size, shuffle=False)
    for idx in progress_bar(sampler.batches(), desc="teacher cache", disable=not progress, unit="batch"):
        b = collate(ts, idx)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            out = model(input_ids=b["input_ids"].to(device), token_type_ids=b["token_type_ids"].to(device),
                        attention_mask=b["attention_mask"].to(device), output_hidden_states=True)
        logits[b["index"]] = out.logits.float().cpu()
        mask = b["attention_mask"].to(device)
        for pooling, dest in (("cls", cls), ("mean", mean)):
            dest[b["index"]] = torch.stack([pool(h, mask, pooling) for h in out.hidden_states], dim=1).float().cpu()
    return TeacherOutputs(logits, cls, mean)


def load_or_compute_teacher_outputs(cache_dir, key: str, compute, log=print) -> TeacherOutputs:
    """Read the cache file for ``key``; (re)compute and write it atomically if absent or invalid."""
    path = Path(cache_dir) / f"teacher-{key[:24]}.pt"
    if path.is_file():
        try:
            d = torch.load(path, weights_only=True, mmap=True)  # pages are read when a batch needs them
            if d.get("key") == key and d.get("format") == CACHE_FORMAT:
                return TeacherOutputs(d["logits"], d["cls"], d["mean"])
            log(f"teacher cache {path}: stored key does not match, recomputing")
        except Exception as e:  # unreadable / truncated file
            log(f"teacher cache {path} unreadable ({type(e).__name__}), recomputing")
    out = compute()
    atomic_write(path, lambda tmp: torch.save({"key": key, "format": CACHE_FORMAT, "logits": out.logits,
                                               "cls": out.cls, "mean": out.mean}, tmp))
    return out
