"""The teacher cache: the teacher's logits and every layer's [CLS] and mean-pooled state for a training split.
It stays on the host, memory-mapped, and a batch reads only what its method uses: the states are stored
layer-major ((L+1, n, H) per pooling, each layer one contiguous block), and a batch gathers its rows of the logits
and of its matched layers (of its own pooling) onto the device, so neither a GPU nor a process's memory holds the
whole cache (MNLI's is 29 GB for BERT-base, both poolings), and a run's page cache holds the logits and its
layers only (kd: the logits alone).

Computed once in eval mode (no dropout) for one (teacher weights, tokenizer, task, split, max length, compute
precision) and keyed by all of them, so any change (re-fine-tuned teacher, another tokenizer, split or length, a
bf16 run after an fp32 one) gives another key: a cache is never silently reused. A file that cannot be read, or
whose stored key (or format) does not match, is named in the log and recomputed.

The file also holds ``sha256``: the checksum (``files.tensor_digest``) of each block a run reads (the logits, each
layer of each pooling), taken when they were written. A block is compared the first time a process reads it, whole,
through the memory map (nothing is copied; kd checks the logits alone, a PKD run its own layers too), so the cache's
memory stays a run's own blocks. The blocks a run will read are checked when it opens the cache (a mismatch is named
and the cache recomputed); any other block is checked on first use (a mismatch is a CacheError naming the file,
which is removed so that the rerun computes it again). A damaged block is never trained on. Each file written is
added to the cache folder's ledger (what ``pkd clean`` may delete).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .data import LengthBucketSampler, TokenizedSplit, collate
from .errors import KnownError
from .files import atomic_write, content_key, digest_matches, remember_verified, tensor_digest
from .losses import check_map_fits, pool
from .ownership import note_written
from .progress import progress as progress_bar
from .terms import Need, Outputs

#: 2: mean-pooled states beside [CLS] (the [CLS] values are those of format 1); 3: the same values stored
#: layer-major, so a batch reads only its layers (a format-2 file is recomputed once)
CACHE_FORMAT = 3


#: what the teacher's forward pass computes in (``train.compute_precision``): its outputs differ with it (fp32 and
#: bf16 logits of one teacher by up to 1.5e-4), so it is part of the key
COMPUTE_PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def teacher_cache_key(
    teacher_fp: str,
    tokenizer_fp: str,
    task: str,
    split: str,
    split_checksum: str,
    max_length: int,
    n_examples: int,
    compute: str = "fp32",
) -> str:
    """The cache's key: everything its numbers depend on. ``compute`` enters it when not fp32, so an fp32 cache
    keeps the key it had before the compute precision was part of it (a CPU study's caches stay valid)."""
    if compute not in COMPUTE_PRECISIONS:
        raise ValueError(f"compute={compute!r}: accepted {', '.join(COMPUTE_PRECISIONS)}")
    return content_key(
        "teacher-cache",
        CACHE_FORMAT,
        teacher_fp,
        tokenizer_fp,
        task,
        split,
        split_checksum,
        max_length,
        n_examples,
        *(() if compute == "fp32" else (compute,)),
    )


class CacheError(KnownError, ValueError):
    """A teacher cache whose arrays are not the ones written (found while training reads them)."""


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
            raise ValueError(
                f"teacher outputs: states must be layer-major (L+1, n, H) for n={logits.shape[0]} "
                f"examples, got [CLS] {tuple(cls.shape)} and mean {tuple(mean.shape)}"
            )
        self.logits, self.cls, self.mean = logits, cls, mean

    @classmethod
    def from_rows(cls_, logits: torch.Tensor, cls: torch.Tensor, mean: torch.Tensor) -> CachedTeacher:
        """From example-major states (n, L+1, H each: cache format 2's layout), copied layer-major."""
        return cls_(logits, cls.transpose(0, 1).contiguous(), mean.transpose(0, 1).contiguous())

    @property
    def n_layers(self) -> int:
        return self.cls.shape[0] - 1

    def to(self, device: str | torch.device) -> CachedTeacher:
        """Where a batch's rows go; the cache itself stays on the host (memory-mapped when read from disk), so a GPU
        holds one batch of it, and a method reads only the tensors it uses (kd: the logits)."""
        self.device = torch.device(device)
        return self

    device = torch.device("cpu")
    digests: dict | None = None  # the checksum of each block, when read from a file (``source``)
    source: Path | None = None

    def digest_all(self) -> dict:
        """The checksum of each block a run may read: the logits, and each layer of each pooling."""
        return {
            "logits": tensor_digest(self.logits),
            "cls": [tensor_digest(x) for x in self.cls],
            "mean": [tensor_digest(x) for x in self.mean],
        }

    def attach(self, digests, source: Path, uses=None) -> str | None:
        """Keep the file's checksums for checking each block on first use, and check the logits and the blocks of
        ``uses`` ((pooling, layers) a run reads) now; returns what is wrong (nothing kept then), else None."""
        n = self.n_layers + 1
        if not (
            isinstance(digests, dict)
            and isinstance(digests.get("logits"), str)
            and all(isinstance(digests.get(p), list) and len(digests[p]) == n for p in ("cls", "mean"))
        ):
            return "it holds no checksum of its arrays (written by an older pkd)"
        self.digests, self.source, self._ok = digests, Path(source), set()
        pooling, layers = uses or ("cls", [])
        return self._problem(pooling, layers)

    def _problem(self, pooling: str, layers) -> str | None:
        """The first of the blocks (the logits, ``layers`` of ``pooling``) not yet checked that does not match."""
        for block in [("logits", None)] + [(pooling, layer) for layer in layers]:
            if block in self._ok:
                continue
            name, layer = block
            tensor = self.logits if layer is None else (self.cls if name == "cls" else self.mean)[layer]
            digest = self.digests["logits"] if layer is None else self.digests[name][layer]
            if not digest_matches(self.source, digest, tensor):
                return (
                    f"its {'logits' if layer is None else f'layer {layer} of {name} states'} do not match the "
                    f"checksum written with them (the file is damaged)"
                )
            self._ok.add(block)
        return None

    def _check(self, pooling: str, layers) -> None:
        if self.digests is None or (problem := self._problem(pooling, layers)) is None:
            return
        self.source.unlink(missing_ok=True)
        raise CacheError(
            f"teacher cache {self.source}: {problem}; nothing was trained on it. It was removed: rerun, "
            f"and it is computed again"
        )

    def outputs(self, batch: dict, need: Need) -> Outputs:
        if need.attentions:
            raise ValueError(
                "the teacher cache holds no attention maps; a term that reads them needs the online "
                "teacher (teachers.OnlineTeacher, a method's teacher='online')"
            )
        pooling, layers = blocks(need)
        logits, states = self.gather(batch, layers, pooling)
        return Outputs(logits, states if need.states else None)

    def gather(
        self, batch: dict, layers: list[int] | tuple[int, ...], pooling: str = "cls"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's rows (``batch["index"]``) of the logits and of the pooled states of ``layers``, on the device."""
        check_map_fits(layers, self.n_layers, "the cached teacher", first=0)
        self._check(pooling, layers)  # once per block and process: a set lookup after that
        idx = batch["index"].cpu()  # a host tensor in training (fit keeps the index on the host): no device sync
        logits = self.logits[idx].to(self.device, non_blocking=True)
        states = self.cls if pooling == "cls" else self.mean
        if not layers:
            return logits, torch.zeros(len(idx), 0, states.shape[-1], device=self.device)
        # one used layer at a time: never a whole layer, nor another layer's bytes, is read
        gathered = torch.stack([states[layer][idx] for layer in layers], dim=1)
        return logits, gathered.to(self.device, non_blocking=True)


def blocks(need: Need) -> tuple[str, list[int]]:
    """The (pooling, layers) of the cache that ``need`` reads besides the logits (no states: no layer)."""
    return need.pooling, list(need.layers) if need.states else []


#: the name this class had before teachers became a registry (scripts and tests of that time use it)
TeacherOutputs = CachedTeacher


@torch.inference_mode()
def compute_teacher_outputs(
    model: torch.nn.Module,
    ts: TokenizedSplit,
    batch_size: int,
    device: torch.device,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
) -> CachedTeacher:
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
            out = model(
                input_ids=b["input_ids"].to(device),
                token_type_ids=b["token_type_ids"].to(device),
                attention_mask=b["attention_mask"].to(device),
                output_hidden_states=True,
            )
        logits[b["index"]] = out.logits.float().cpu()
        mask = b["attention_mask"].to(device)
        for pooling, dest in (("cls", cls), ("mean", mean)):
            dest[:, b["index"]] = torch.stack([pool(h, mask, pooling) for h in out.hidden_states]).float().cpu()
    return CachedTeacher(logits, cls, mean)


def load_or_compute_teacher_outputs(
    cache_dir: str | Path,
    key: str,
    compute: Callable[[], CachedTeacher],
    log: Callable[[str], object] = print,
    uses=None,
) -> CachedTeacher:
    """Read the cache file for ``key``; (re)compute and write it atomically if absent, invalid, of another
    format (an older layout is rebuilt once: caches are not results) or damaged in the logits or the blocks of
    ``uses`` ((pooling, layers): what the run reads; every other block is checked when first gathered)."""
    path = Path(cache_dir) / f"teacher-{key[:24]}.pt"
    if path.is_file():
        try:
            d = torch.load(path, weights_only=True, mmap=True)  # pages are read when a batch needs them
            if d.get("key") == key and d.get("format") == CACHE_FORMAT:
                t = CachedTeacher(d["logits"], d["cls"], d["mean"])
                if (problem := t.attach(d.get("sha256"), path, uses)) is None:
                    return t
                log(f"teacher cache {path}: {problem}; recomputing")
            elif d.get("key") == key:
                log(
                    f"teacher cache {path}: format {d.get('format')}, this code reads format {CACHE_FORMAT} "
                    f"(states stored layer-major); recomputing once"
                )
            else:
                log(f"teacher cache {path}: stored key does not match, recomputing")
        except Exception as e:  # unreadable / truncated file
            log(f"teacher cache {path} unreadable ({type(e).__name__}), recomputing")
    out = compute()
    digests = out.digest_all()
    atomic_write(
        path,
        lambda tmp: torch.save(
            {
                "key": key,
                "format": CACHE_FORMAT,
                "logits": out.logits,
                "cls": out.cls,
                "mean": out.mean,
                "sha256": digests,
            },
            tmp,
        ),
    )
    for digest in [digests["logits"], *digests["cls"], *digests["mean"]]:
        remember_verified(path, digest)  # what this process wrote it need not check
    note_written(path.parent, [path])
    if stale := older_format_caches(path.parent):
        log(
            f"teacher caches of an older format, read by no run of this code (`pkd clean` removes caches): "
            f"{', '.join(p.name for p in stale)}"
        )
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
