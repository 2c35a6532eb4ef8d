"""The teacher cache: the teacher's logits and every layer's [CLS] and mean-pooled state for a training split.
It stays on the host, memory-mapped, and a batch reads only what its method uses: the states are stored
layer-major ((L+1, n, H) per pooling, each layer one contiguous block), and a batch gathers its rows of the logits
and of its matched layers (of its own pooling) onto the device, so neither a GPU nor a process's memory holds the
whole cache (MNLI's is 29 GB for BERT-base, both poolings), and a run's page cache holds the logits and its
layers only (kd: the logits alone).

Computed once in eval mode (no dropout) for one (teacher weights, tokenizer, task, split, max length)
and keyed by all of them, so any change (re-fine-tuned teacher, another tokenizer, split or length)
gives another key: a cache is never silently reused. A file that cannot be read, or whose stored key
(or format) does not match, is named in the log and recomputed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .data import LengthBucketSampler, TokenizedSplit, collate
from .files import atomic_write, content_key
from .losses import pool
from .progress import progress as progress_bar
from .terms import Need, Outputs

#: 2: mean-pooled states beside [CLS] (the [CLS] values are those of format 1); 3: the same values stored
#: layer-major, so a batch reads only its layers (a format-2 file is recomputed once)
CACHE_FORMAT = 3


def teacher_cache_key(teacher_fp: str, tokenizer_fp: str, task: str, split: str, split_checksum: str,
                      max_length: int, n_examples: int) -> str:
    return content_key("teacher-cache", CACHE_FORMAT, teacher_fp, tokenizer_fp, task, split, split_checksum,
                       max_length, n_examples)


class CachedTeacher:
    """The teacher cache of one split: logits (n, C) and, layer-major, [CLS] states and mean-pooled states (L+1, n, H
    each; layer 0 = embeddings). A teacher (``teachers.Teacher``) that gives a batch's logits and pooled states,
    never attention maps (too large to keep: ``teachers.OnlineTeacher`` computes those).

    ``outputs(batch, need)`` gives a batch's logits (b, C) and, when ``need.states``, the pooled states of the
    1-based ``need.layers`` (b, len(layers), H), gathered by ``gather``: one used layer at a time
    (``states[l][index]``), so only those rows of those layers are read."""

    #: what its outputs hold besides the logits
    gives = frozenset({"states"})

    def __init__(self, logits: torch.Tensor, cls: torch.Tensor, mean: torch.Tensor):
        if cls.dim() != 3 or cls.shape != mean.shape or cls.shape[1] != logits.shape[0]:
            raise ValueError(f"teacher outputs: states must be layer-major (L+1, n, H) for n={logits.shape[0]} "
                             f"examples, got [CLS] {tuple(cls.shape)} and mean {tuple(mean.shape)}")
        self.logits, self.cls, self.mean = logits, cls, mean

    @classmethod
    def from_rows(cls_, logits: torch.Tensor, cls: torch.Tensor, mean: torch.Tensor) -> "CachedTeacher":
        """From example-major states (n, L+1, H each: cache format 2's layout), copied layer-major."""
        return cls_(logits, cls.transpose(0, 1).contiguous(), mean.transpose(0, 1).contiguous())

    @property
    def n_layers(self) -> int:
        return self.cls.shape[0] - 1

    def to(self, device: str | torch.device) -> "CachedTeacher":
        """Where a batch's rows go; the cache itself stays on the host (memory-mapped when read from disk), so a GPU
        holds one batch of it, and a method reads only the tensors it uses (kd: the logits)."""
        self.device = torch.device(device)
        return self

    device = torch.device("cpu")

    def outputs(self, batch: dict, need: Need) -> Outputs:
        if need.attentions:
            raise ValueError("the teacher cache holds no attention maps; a term that reads them needs the online "
                             "teacher (teachers.OnlineTeacher, a method's teacher='online')")
        logits, states = self.gather(batch, need.layers if need.states else [], need.pooling)
        return Outputs(logits, states if need.states else None)

    def gather(self, batch: dict, layers: list[int] | tuple[int, ...], pooling: str = "cls") -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's rows (``batch["index"]``) of the logits and of the pooled states of ``layers``, on the device."""
        idx = batch["index"].cpu()  # a host tensor in training (fit keeps the index on the host): no device sync
        logits = self.logits[idx].to(self.device, non_blocking=True)
        states = self.cls if pooling == "cls" else self.mean
        if not layers:
            return logits, torch.zeros(len(idx), 0, states.shape[-1], device=self.device)
        # one used layer at a time: never a whole layer, nor another layer's bytes, is read
        gathered = torch.stack([states[layer][idx] for layer in layers], dim=1)
        return logits, gathered.to(self.device, non_blocking=True)


@torch.inference_mode()
def compute_teacher_outputs(model: torch.nn.Module, ts: TokenizedSplit, batch_size: int, device: torch.device,
                            progress: bool = True, autocast_dtype: torch.dtype | None = None) -> CachedTeacher:
    """Run the teacher (eval mode, no gradient) over a tokenised split once: its logits and every layer's [CLS] and
    mean-pooled state, as a ``CachedTeacher`` held in memory (``load_or_compute_teacher_outputs`` writes it)."""
    model.eval()
    n = len(ts)
    L, H = model.config.num_hidden_layers, model.config.hidden_size
    logits = torch.zeros(n, model.config.num_labels)
    cls, mean = torch.zeros(L + 1, n, H), torch.zeros(L + 1, n, H)
    sampler = LengthBucketSampler(ts.lengths, batch_size, shuffle=False)
    for idx in progress_bar(sampler.batches(), desc="teacher cache", disable=not progress, unit="batch"):
        b = collate(ts, idx)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            out = model(input_ids=b["input_ids"].to(device), token_type_ids=b["token_type_ids"].to(device),
                        attention_mask=b["attention_mask"].to(device), output_hidden_states=True)
        logits[b["index"]] = out.logits.float().cpu()
        mask = b["attention_mask"].to(device)
        for pooling, dest in (("cls", cls), ("mean", mean)):
            dest[:, b["index"]] = torch.stack([pool(h, mask, pooling) for h in out.hidden_states]).float().cpu()
    return CachedTeacher(logits, cls, mean)


def load_or_compute_teacher_outputs(cache_dir: str | Path, key: str, compute: Callable[[], CachedTeacher],
                                    log: Callable[[str], object] = print) -> CachedTeacher:
    """Read the cache file for ``key``; (re)compute and write it atomically if absent, invalid or of another
    format (an older layout is rebuilt once: caches are not results)."""
    path = Path(cache_dir) / f"teacher-{key[:24]}.pt"
    if path.is_file():
        try:
            d = torch.load(path, weights_only=True, mmap=True)  # pages are read when a batch needs them
            if d.get("key") == key and d.get("format") == CACHE_FORMAT:
                return CachedTeacher(d["logits"], d["cls"], d["mean"])
            if d.get("key") == key:
                log(f"teacher cache {path}: format {d.get('format')}, this code reads format {CACHE_FORMAT} "
                    f"(states stored layer-major); recomputing once")
            else:
                log(f"teacher cache {path}: stored key does not match, recomputing")
        except Exception as e:  # unreadable / truncated file
            log(f"teacher cache {path} unreadable ({type(e).__name__}), recomputing")
    out = compute()
    atomic_write(path, lambda tmp: torch.save({"key": key, "format": CACHE_FORMAT, "logits": out.logits,
                                               "cls": out.cls, "mean": out.mean}, tmp))
    if stale := older_format_caches(path.parent):
        log(f"teacher caches of an older format, read by no run of this code (`pkd clean` removes caches): "
            f"{', '.join(p.name for p in stale)}")
    return out


def older_format_caches(cache_dir: str | Path) -> list[Path]:
    """Teacher cache files in ``cache_dir`` written in another format (their key, which holds the format, is no
    longer asked for); named in the log when a cache is computed, never removed here."""
    stale = []
    for p in sorted(Path(cache_dir).glob("teacher-*.pt")):
        try:
            if torch.load(p, weights_only=True, mmap=True).get("format") != CACHE_FORMAT:
                stale.append(p)
        except Exception:  # unreadable: recomputed under its own key when asked for
            continue
    return stale
