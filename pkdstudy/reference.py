"""The paper's numbers and the official code's dev results, shipped in pkdstudy/reference/."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent / "reference"
GLUE_NAMES = {"SST-2": "sst2", "MRPC": "mrpc", "QQP": "qqp", "MNLI": "mnli", "QNLI": "qnli", "RTE": "rte"}
UNAME = re.compile(
    r"kd(?:\.cls\.(?P<norm>True|False))?_(?P<task>[\w-]+)_nlayer\.(?P<k>\d+)_lr\.(?P<lr>[\d.e-]+)"
    r"_T\.(?P<T>[\d.]+)_alpha\.(?P<alpha>[\d.]+)_beta\.(?P<beta>[\d.]+)_bs\.(?P<bs>\d+)"
)


def paper_table1() -> pd.DataFrame:
    return pd.read_csv(HERE / "paper_table1.csv")


def parse_uname(uname: str) -> dict:
    """'kd.cls.True_SST-2_nlayer.6_lr.5e-05_T.10.0_alpha.0.5_beta.100.0_bs.32' -> configuration dict."""
    m = UNAME.match(uname)
    if not m:
        raise ValueError(f"not an official run name: {uname!r}")
    return {
        "task": m["task"],
        "layers": int(m["k"]),
        "lr": float(m["lr"]),
        "temperature": float(m["T"]),
        "alpha": float(m["alpha"]),
        "beta": float(m["beta"]),
        "normalize": m["norm"] == "True",
    }


@cache
def official(name: str) -> pd.DataFrame:
    """One official results table (e.g. 'pkd_6layer_mean') with its configuration parsed into columns."""
    df = pd.read_csv(HERE / "official_dev_results" / f"{name}.csv")
    conf = pd.DataFrame([parse_uname(u) for u in df["uname"]])
    return pd.concat([df, conf], axis=1)


def best_official_config(task: str, layers: int) -> dict:
    """The official best PKD configuration (lr, T, alpha, beta, normalise) for a GLUE task and student size."""
    df = official(f"pkd_{layers}layer_mean")
    names = {v: k for k, v in GLUE_NAMES.items()}
    row = df[df["task"] == names[task]]
    if row.empty:
        raise KeyError(f"no official {layers}-layer PKD result for {task}")
    r = row.iloc[0]
    return {
        "lr": float(r["lr"]),
        "temperature": float(r["temperature"]),
        "alpha": float(r["alpha"]),
        "beta": float(r["beta"]),
        "normalize": bool(r["normalize"]),
    }
