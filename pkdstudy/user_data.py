"""The embedded data shaped as a practitioner's files, for docs/your-data.md's two measurements: the frontier of one
real ``pkd distill`` run, and what unlabeled text buys (``scripts/your_data_runs.py``).

    python -m pkdstudy.user_data DIR      # writes the five files below into DIR

- ``rt1000.csv``: 1,000 labelled Rotten Tomatoes training sentences (text, label as "negative"/"positive")
- ``rt_dev.csv``, ``rt_test.csv``: rt's own dev and test splits (1,066 rows each)
- ``rt_rest.csv``: in-domain unlabeled text, the other 5,398 rt training sentences (none a dev or test row)
- ``imdb_sents.csv``: out-of-domain unlabeled text, as many sentences cut from IMDB reviews (20-300 characters)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

__all__ = ["NAMES", "write_user_files"]

NAMES = ("negative", "positive")
FILES = ("rt1000.csv", "rt_dev.csv", "rt_test.csv", "rt_rest.csv", "imdb_sents.csv")


def _table(split, a: int = 0, b: int | None = None) -> pd.DataFrame:
    return pd.DataFrame({"text": [t[0] for t in split.texts[a:b]], "label": [NAMES[y] for y in split.labels[a:b]]})


def _imdb_sentences(n: int) -> list[str]:
    from pkdlib.data import embedded_csv_path

    imdb = pd.read_csv(embedded_csv_path(), dtype=str, keep_default_na=False).query("source == 'imdb'")
    sents = [
        x.strip()
        for r in imdb.text.sample(n=3000, random_state=0)
        for x in re.split(r"(?<=[.!?])\s+", r.replace("<br />", " "))
        if 20 <= len(x.strip()) <= 300
    ]
    return sents[:n]


def write_user_files(folder, n_labelled: int = 1000) -> dict[str, Path]:
    """The five files (see the module) in ``folder``; returns their paths by name."""
    from pkdlib.config import RunConfig
    from pkdlib.data import load_data
    from pkdlib.unlabeled import text_key

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, s = load_data(RunConfig(task="rt", method="teacher"))  # rt's own split: 6,398 / 1,066 / 1,066
    held = {text_key(t) for n in ("dev", "test") for t in s[n].texts}
    rest = [t[0] for t in s["train"].texts[n_labelled:] if text_key(t) not in held]
    tables = {
        "rt1000.csv": _table(s["train"], 0, n_labelled),
        "rt_dev.csv": _table(s["dev"]),
        "rt_test.csv": _table(s["test"]),
        "rt_rest.csv": pd.DataFrame({"text": rest}),
        "imdb_sents.csv": pd.DataFrame({"text": _imdb_sentences(len(rest))}),
    }
    out = {}
    for name, df in tables.items():
        out[name] = folder / name
        df.to_csv(out[name], index=False)
    return out


if __name__ == "__main__":
    for path in write_user_files(sys.argv[1] if len(sys.argv) > 1 else ".").values():
        print(f"{path}: {len(pd.read_csv(path))} rows")
