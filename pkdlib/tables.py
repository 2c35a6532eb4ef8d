"""Your data as a task: text-classification tables from files, a ``datasets`` folder or the Hub.

    train_file="my.csv", text_columns="review", label_column="sentiment"      # one file: dev/test split off
    train_file="tr.jsonl", dev_file="dev.jsonl", test_file="te.jsonl", text_columns="premise,hypothesis"

Formats: CSV, TSV, JSON Lines (``.jsonl``/``.json``), Parquet, a ``datasets`` folder (``save_to_disk``: a
Dataset, or a DatasetDict whose train/validation/test splits are used), or ``hub:owner/name`` where the
network allows. One text column, or two for sentence pairs; a label column of integers or strings, any
number of labels >= 2. Label names are the train split's labels in sorted order (label id = position);
they are kept in the record and in an exported model's ``id2label``. A split not given is cut off the
training rows (10% each for dev and test), stratified by label and deterministic: rows are ranked by
``sha256(seed:row)`` within each label, as the embedded ``rt`` and ``imdb`` tasks are (``data.py`` loads
those through :func:`frame_split` too). A split's checksum covers its ids, texts and labels, so another
file of the same length is another run.
"""

from __future__ import annotations

import csv
import math
import re
from functools import lru_cache
from pathlib import Path

from .errors import require
from .splits import SPLIT_SEED, DataError, Split, TaskSpec, stratified_split

__all__ = ["load_tables", "read_table", "frame_split", "FORMATS", "SPLIT_OFF"]

FORMATS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", "a datasets folder (save_to_disk)", "hub:owner/name")
#: the share of the training rows cut off for a split that is not given
SPLIT_OFF = {"dev": 0.1, "test": 0.1}
#: the splits a DatasetDict folder or Hub dataset provides, by our name
DICT_SPLITS = {"train": ("train",), "dev": ("validation", "dev"), "test": ("test",)}


def read_table(path: str, split: str = "train"):
    """A pandas DataFrame of one split (its row numbers are its ids), or a DataError naming what is wrong."""
    import pandas as pd  # here, not at the top: pkdlib.cache imports this module where no table is read (gpu_check)

    if str(path).startswith("hub:"):
        return _from_datasets(str(path)[4:], split, hub=True)
    p = Path(path).expanduser()
    if p.is_dir():
        return _from_datasets(str(p), split, hub=False)
    if not p.is_file():
        raise DataError(f"data file not found: {path}; accepted: {', '.join(FORMATS)}")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        require("pyarrow", "reading Parquet tables", "datasets")
    try:
        if suffix in (".csv", ".tsv"):
            tsv = {"sep": "\t", "quoting": csv.QUOTE_NONE} if suffix == ".tsv" else {}  # TSV: quotes are text
            df = pd.read_csv(p, encoding="utf-8", dtype=str, keep_default_na=False, **tsv)
        elif suffix in (".jsonl", ".json"):
            try:  # utf-8-sig: a byte-order mark (Windows editors write one) is read past, as for CSV
                df = pd.read_json(p, lines=suffix == ".jsonl", dtype=False, encoding="utf-8-sig")
            except ValueError:  # a .json file holding JSON Lines
                df = pd.read_json(p, lines=True, dtype=False, encoding="utf-8-sig")
        elif suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            raise DataError(f"{p}: unknown file type {suffix!r}; accepted: {', '.join(FORMATS)}")
    except pd.errors.EmptyDataError:
        raise DataError(f"{p} is empty; give a table with a header row (your text and label columns)") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{p} is not UTF-8 text ({e.reason} at byte {e.start}); give a UTF-8 {suffix} file") from None
    except (ValueError, pd.errors.ParserError, OSError, ImportError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{p} cannot be read as {suffix} ({type(e).__name__}: {str(e)[:200]})") from None
    if len(df) == 0:
        raise DataError(f"{p} has no rows")
    return df.reset_index(drop=True)


def _from_datasets(name: str, split: str, hub: bool):
    datasets = require("datasets", "a Hugging Face dataset (a `datasets` folder or hub: id)", "datasets")
    try:
        ds = datasets.load_dataset(name) if hub else datasets.load_from_disk(name)
    except Exception as e:  # offline, not a dataset folder, unknown id
        raise DataError(
            f"{'Hub dataset' if hub else 'folder'} {name!r} cannot be loaded as a dataset "
            f"({type(e).__name__}: {str(e)[:200]}); accepted: {', '.join(FORMATS)}"
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        names = [n for n in DICT_SPLITS[split] if n in ds]
        if not names:
            return None
        ds = ds[names[0]]
    elif split != "train":
        return None
    return ds.to_pandas()


def _texts(df, columns: tuple, where: str) -> list:
    """Each row's text(s) as a tuple of non-empty strings."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{where} has no column {', '.join(map(repr, missing))}; its columns: "
            f"{', '.join(map(str, df.columns))} (name yours with text_columns=, label_column=)"
        )
    cols = [df[c].tolist() for c in columns]
    for c, values in zip(columns, cols):
        bad = [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip()]
        if bad:
            raise DataError(
                f"{where}: column {c!r} has {len(bad)} empty or non-text cells (first at row {bad[0]}: "
                f"{values[bad[0]]!r}); every row needs text"
            )
    return list(zip(*cols))


def _label_values(df, column: str, where: str) -> list:
    import pandas as pd

    if column not in df.columns:
        raise DataError(f"{where} has no label column {column!r}; its columns: {', '.join(map(str, df.columns))}")
    values = df[column].tolist()
    bad = [
        i
        for i, v in enumerate(values)
        if v is None or (not isinstance(v, str) and bool(pd.isna(v))) or (isinstance(v, str) and not v.strip())
    ]
    if bad:
        raise DataError(f"{where}: {len(bad)} rows have no label (first: row {bad[0]})")
    keys = [_label_key(v) for v in values]
    _refuse_missing_markers(keys, column, where)
    return keys


#: cells that mean "no value" in a numeric label column
MISSING_MARKERS = {"n/a", "na", "nan", "null", "none", "-", "?", "missing", "#n/a"}


def _refuse_missing_markers(keys: list, column: str, where: str) -> None:
    """A numeric label column with cells such as 'N/A' would silently gain an 'N/A' class: refused, naming them."""
    numeric = [k for k in keys if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", k)]
    others = [k for k in keys if k not in numeric]
    if numeric and others and all(k.lower() in MISSING_MARKERS for k in others):
        counts = {v: others.count(v) for v in sorted(set(others))}
        first = next(i for i, k in enumerate(keys) if k in counts)
        raise DataError(
            f"{where}: label column {column!r} holds numbers but {len(others)} cells say "
            f"{', '.join(f'{v!r} ({n}x)' for v, n in counts.items())} (first at row {first}): a missing "
            f"label, not a class; fill those labels in or remove those rows"
        )


def _label_key(v) -> str:
    """Labels compare as text: 1, 1.0 and '1' are the same label."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def label_names_of(keys: list, where: str) -> tuple:
    """The sorted distinct labels (numbers in numeric order), at least two."""
    distinct = sorted(set(keys), key=lambda k: (0, int(k), k) if re.fullmatch(r"-?[0-9]+", k) else (1, 0, k))
    if not distinct:
        raise DataError(f"{where} has no rows")
    if len(distinct) < 2:
        raise DataError(f"{where} has one label only ({distinct[0]!r}); a classifier needs at least two")
    return tuple(distinct)


def frame_split(df, text_columns: tuple, label_column: str, names: tuple | None, where: str):
    """(ids, texts, label ids, label names) of one table: ids are its row numbers; names default to its own."""
    texts, keys = _texts(df, text_columns, where), _label_values(df, label_column, where)
    names = names or label_names_of(keys, where)
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise DataError(
            f"{where} has labels {unknown[:5]} that the training split does not have; known labels: {list(names)}"
        )
    return list(df.index), texts, [index[k] for k in keys], names


def _cut(task, ids, texts, labels, names, fractions: dict, where: str) -> dict:
    """Stratified, deterministic dev/test cut of the training rows (only the splits in ``fractions``)."""
    counts = {c: labels.count(c) for c in set(labels)}
    need = 1 + sum(1 for f in fractions.values() if f)
    few = {c: n for c, n in counts.items() if any(round(f * n) < 1 for f in fractions.values()) or n < need}
    if few:
        raise DataError(
            f"{where}: too few rows per label to split off {' and '.join(fractions)} "
            f"({', '.join(f'{names[c]!r}: {n} rows' for c, n in sorted(few.items()))}); give at least "
            f"{math.ceil(1 / min(fractions.values()))} rows per label, or give the splits as files"
        )
    parts = stratified_split(ids, labels, fractions.get("dev", 0.0), fractions.get("test", 0.0), SPLIT_SEED)
    by_id = {i: (t, y) for i, t, y in zip(ids, texts, labels)}
    return {
        name: _make_split(task, name, sel, [by_id[i][0] for i in sel], [by_id[i][1] for i in sel], names)
        for name, sel in parts.items()
        if name == "train" or name in fractions
    }


def _make_split(task, name, ids, texts, labels, names) -> Split:
    return Split(task, name, list(ids), list(texts), list(labels), by_content=True, label_names=tuple(names))


@lru_cache(maxsize=8)
def _load(task, files: tuple, text_columns: tuple, label_column: str, stamps: tuple):
    given = dict(files)
    frames = {s: read_table(f, s) for s, f in given.items() if f}
    for s, df in frames.items():
        if df is None:
            raise DataError(
                f"{given[s]} has no {' or '.join(DICT_SPLITS[s])} split to use as {s}; give a file or a "
                f"dataset with that split"
            )
    train = frames["train"]
    for s in ("dev", "test"):  # a DatasetDict folder (or Hub dataset) given as train brings its own dev and test
        if (
            s not in frames
            and not given.get(s)
            and (Path(str(given["train"])).is_dir() or str(given["train"]).startswith("hub:"))
        ):
            if (df := read_table(given["train"], s)) is not None:
                frames[s] = df
    where = {s: f"{given.get(s) or given['train']} ({s})" for s in ("train", "dev", "test")}
    ids, texts, labels, names = frame_split(train, text_columns, label_column, None, where["train"])
    missing = {s: SPLIT_OFF[s] for s in ("dev", "test") if s not in frames}
    splits = (
        _cut(task, ids, texts, labels, names, missing, where["train"])
        if missing
        else {"train": _make_split(task, "train", ids, texts, labels, names)}
    )
    for s in ("dev", "test"):
        if s in frames:
            i, t, y, _ = frame_split(frames[s], text_columns, label_column, names, where[s])
            splits[s] = _make_split(task, s, i, t, y, names)
    spec = TaskSpec(task, len(names), text_columns, ("accuracy", "macro_f1"), "files", label_names=names)
    return spec, splits


def load_tables(cfg) -> tuple[TaskSpec, dict]:
    """The task spec and train/dev/test splits of a configuration with ``train_file`` (see the module doc)."""
    text_columns = tuple(c.strip() for c in (cfg.text_columns or "text").split(",") if c.strip())
    if not 1 <= len(text_columns) <= 2:
        raise DataError(f"text_columns={cfg.text_columns!r}: give one column, or two for sentence pairs (a,b)")
    files = (("train", cfg.train_file), ("dev", cfg.dev_file), ("test", cfg.test_file))
    stamps = tuple(_stamp(f) for _, f in files)
    return _load(cfg.task, files, text_columns, cfg.label_column or "label", stamps)


def _stamp(f):
    """A file's size and time, so an edited file is read again (folders and Hub ids: their name)."""
    if f and Path(f).is_file():
        st = Path(f).stat()
        return (st.st_size, st.st_mtime_ns)
    return f


def source_rows(cfg, split: str, ids: list) -> list[dict]:
    """The user's own rows of a split as read from their file, every column as given (their id values, their label
    column's name and values), in the split's order; ``ids`` are the split's row numbers in that file. A table without
    an ``id`` column gets one: the row number."""
    import json

    given = {"train": cfg.train_file, "dev": cfg.dev_file, "test": cfg.test_file}
    frame = read_table(given[split], split) if given.get(split) else None
    if (
        frame is None
        and split != "train"
        and (Path(str(cfg.train_file)).is_dir() or str(cfg.train_file).startswith("hub:"))
    ):
        frame = read_table(cfg.train_file, split)
    if frame is None:  # cut off the training rows
        frame = read_table(cfg.train_file, "train")
    rows = frame.iloc[list(ids)]
    out = [
        json.loads(line)
        for line in rows.to_json(orient="records", lines=True, force_ascii=False, date_format="iso").split("\n")
        if line.strip()
    ]
    return out if "id" in frame.columns else [{"id": i, **r} for i, r in zip(ids, out)]
