"""Content keys, fingerprints and the one atomic writer every file of pkdlib goes through.

``atomic_write(path, write)`` lets ``write(tmp)`` fill a temporary file beside ``path``, fsyncs it,
gives it the usual permissions (0666 less the umask; ``mkstemp`` alone would leave 0600) and
renames it over ``path``: a killed run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path


def content_key(*parts) -> str:
    """sha256 of the JSON of the parts (stable across runs and machines)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def atomic_write(path, write, keep_failed: Path | None = None) -> Path:
    """``write(tmp_path)`` then rename onto ``path``. On failure the temporary file is removed, or moved
    to ``keep_failed`` (an executed notebook kept for inspection)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp.{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if keep_failed is not None and Path(tmp).exists():
            os.chmod(tmp, 0o666 & ~_umask())  # a failed notebook kept for inspection is readable like the others
            os.replace(tmp, keep_failed)
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def umask_modes(folder) -> None:
    """Give the files of a folder the modes the umask says (libraries write some through 0600 temporary files:
    transformers 5's model.safetensors)."""
    for p in Path(folder).rglob("*"):
        if p.is_file():
            os.chmod(p, 0o666 & ~_umask())


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path, obj) -> Path:
    """Strict JSON (NaN and infinity refused), indented."""
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n")


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
    return _fingerprint(tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@lru_cache(maxsize=64)
def _fingerprint(stats: tuple) -> str:
    """Hash the files once per process while their size and mtime stay (the study prepares every run)."""
    return content_key([(Path(p).name, file_sha256(p)) for p, _, _ in stats])


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's vocabulary and settings that change token ids."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    settings = {k: getattr(tokenizer, k, None) for k in ("do_lower_case", "model_max_length", "padding_side",
                                                        "truncation_side")}
    return content_key(type(tokenizer).__name__, vocab, settings)
