"""Content keys, fingerprints and the one atomic writer every file of pkdlib goes through.

``atomic_write(path, write)`` lets ``write(tmp)`` fill a temporary file beside ``path`` (a unique name: two
writers never share one), fsyncs it, gives it the usual permissions (0666 less the umask; ``mkstemp`` alone would
leave 0600) and renames it over ``path``: a killed run never leaves a half-written file under the final name, and a
failed write (disk full) leaves no temporary and reaches the error boundary as one line (``errors.saving``).
``tensor_digest`` is the checksum a cache stores beside its arrays; ``rename_noreplace`` moves a folder onto a
name only while nothing is there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from .errors import saving


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
    with saving(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp.{path.name}.", suffix=path.suffix)
        os.close(fd)
        with saving(path, tmp):
            try:
                write(tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o666 & ~_umask())
                os.replace(tmp, path)
            except BaseException:
                if keep_failed is not None and Path(tmp).exists():
                    os.chmod(tmp, 0o666 & ~_umask())  # a failed notebook kept for inspection is readable
                    os.replace(tmp, keep_failed)
                raise
    return path


def umask_modes(folder) -> None:
    """Give a folder, its sub-folders and its files the modes the umask says (``mkdtemp`` makes 0700 folders;
    libraries write some files through 0600 temporaries: transformers 5's model.safetensors)."""
    os.chmod(folder, 0o777 & ~_umask())
    for p in Path(folder).rglob("*"):
        if p.is_symlink():
            continue
        if p.is_dir():
            os.chmod(p, 0o777 & ~_umask())
        elif p.is_file():
            os.chmod(p, 0o666 & ~_umask())


def tensor_digest(*tensors) -> str:
    """sha256 over the dtype, shape and bytes of each tensor, in order: the checksum a cache stores beside its
    arrays when it writes them and compares when it first reads them (a memory-mapped tensor is read through the
    page cache, not copied)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)};".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


#: files whose arrays this process has checked or written: (path, size, mtime, checksum)
_verified: set = set()


def _stamp(path: Path, digest) -> tuple:
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, digest)


def remember_verified(path, digest: str) -> None:
    """``path`` was just written with arrays of checksum ``digest``: this process need not check it again."""
    _verified.add(_stamp(path, digest))


def arrays_problem(path, d: dict, names) -> str | None:
    """Why the arrays ``names`` of a loaded cache file ``d`` are not the ones written (no checksum: written by an
    older pkd; or a checksum that does not match), else None. Checked once per process and file (size and mtime)."""
    digest = d.get("sha256")
    if not isinstance(digest, str):
        return "it holds no checksum of its arrays (written by an older pkd)"
    if not digest_matches(path, digest, *(d[n] for n in names)):
        return "its arrays do not match the checksum written with them (the file is damaged)"
    return None


def digest_matches(path, digest: str, *tensors) -> bool:
    """``tensor_digest(*tensors) == digest``, computed once per process for a file ``path`` of unchanged size and
    mtime (a memory-mapped tensor is read through the page cache, not copied)."""
    stamp = _stamp(path, digest)
    if stamp in _verified:
        return True
    if tensor_digest(*tensors) != digest:
        return False
    _verified.add(stamp)
    return True


_RENAME_NOREPLACE, _AT_FDCWD = 1, -100


@lru_cache(maxsize=1)
def _renameat2():
    try:
        f = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return f


def rename_noreplace(src, dst) -> None:
    """Rename ``src`` to ``dst`` only if nothing is at ``dst`` (FileExistsError otherwise): one atomic step where
    the system has renameat2 (Linux), else a check then a rename, which never replaces a folder that holds files."""
    f = _renameat2()
    if f is not None:
        if f(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: a file system without the flag
            raise (FileExistsError if code in (errno.EEXIST, errno.ENOTEMPTY) else OSError)(
                code, os.strerror(code), str(dst)
            )
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


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
    files = sorted(
        p
        for p in d.iterdir()
        if p.suffix in (".safetensors", ".bin", ".json")
        and p.is_file()
        and p.name.startswith(("model", "pytorch_model", "config"))
    )
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
    settings = {
        k: getattr(tokenizer, k, None) for k in ("do_lower_case", "model_max_length", "padding_side", "truncation_side")
    }
    return content_key(type(tokenizer).__name__, vocab, settings)
