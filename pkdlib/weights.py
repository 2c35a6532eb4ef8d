"""A run's kept weights: saved into a unique temporary folder beside the final one and moved there in one step,
with ``pkd-weights.json`` (the weights' fingerprint and every file's sha256) written beside them and each file
added to the ``models/`` ledger; verified against that fingerprint before a teacher folder is used.

The fingerprint is ``files.model_fingerprint`` (sha256 over the weight and config files), the one a record
stores as ``weights_fp`` and every student's identity as ``teacher_fp``: it is computed once per process while the
files' size and mtime stay, so checking it costs no second read.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from .errors import KnownError, saving
from .files import atomic_write_json, model_fingerprint, umask_modes
from .models import quiet_transformers
from .ownership import (
    TEMP_MARKER,
    ReplaceError,
    file_hashes,
    foreign,
    install,
    ledger_entry,
    make_temp_dir,
    note_written,
    present_files,
    remove_stale_temps,
)

__all__ = ["WEIGHTS_FILE", "WeightsError", "save_model_dir", "verified_fingerprint"]

WEIGHTS_FILE = "pkd-weights.json"
#: the files of a model folder written before pkd listed them (transformers' and tokenizers' own names)
HF_NAMES = (
    "config.json",
    "generation_config.json",
    "model*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
    "tokenizer*.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template*",
)


class WeightsError(KnownError, ValueError):
    """Weights that are not the ones pkd wrote, or a model folder pkd may not replace."""


def _temp_prefix(model_dir: Path) -> str:
    return f".{model_dir.name}.pkd-tmp."


def save_model_dir(model, tokenizer, model_dir, log=print) -> str:
    """Save ``model`` and ``tokenizer`` as ``model_dir`` (replacing an earlier folder of pkd's there); returns the
    weights' fingerprint. A failed save (disk full) removes its temporary folder and raises ``SaveError``."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(model_dir.parent, _temp_prefix(model_dir), log)
    tmp = make_temp_dir(model_dir.parent, _temp_prefix(model_dir))
    with saving(model_dir, tmp):
        with quiet_transformers():  # no library progress bar in an executed notebook
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        umask_modes(tmp)
        fp, files = model_fingerprint(tmp), file_hashes(tmp, skip=(TEMP_MARKER,))
        atomic_write_json(tmp / WEIGHTS_FILE, {"weights_fp": fp, "files": files})
        # listed as they will lie in model_dir (a rename keeps size and mtime), before another save may replace it
        entries = [ledger_entry(tmp / n, f"{model_dir.name}/{n}") for n in [*files, WEIGHTS_FILE]]
        try:
            left = install(tmp, model_dir, _replaceable)
        except ReplaceError as e:
            raise WeightsError(str(e)) from None
    if left:
        log(f"warning: the earlier weights folder kept files pkd did not list: {left}")
    note_written(model_dir.parent, entries=entries)
    return fp


def _replaceable(folder: Path) -> list[str]:
    """The files of an earlier model folder pkd may delete: those its ``pkd-weights.json`` lists (changed or not:
    damaged weights are what a rerun replaces), or, in a folder written before that file, transformers' own file
    names; anything else refuses the replacement, named."""
    listing = _listing(folder)
    if listing is not None:
        names = set(listing["files"]) | {WEIGHTS_FILE, TEMP_MARKER}  # the marker: a save that just moved it here
        extra = foreign(folder, dict.fromkeys(names, ""), changed_ok=True)
    else:
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
        extra = [
            f"{n} (not a model file)" for n in sorted(names) if not any(fnmatch.fnmatch(n, pat) for pat in HF_NAMES)
        ]
    if extra:
        raise WeightsError(
            f"the model folder {folder} holds files pkd did not write: {', '.join(extra[:5])}; "
            f"nothing replaced. Move them elsewhere, then rerun"
        )
    return present_files(folder)


def _listing(folder: Path) -> dict | None:
    """``pkd-weights.json`` of a folder, None when it has none; a damaged one is a WeightsError."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        if isinstance(d.get("weights_fp"), str) and isinstance(d.get("files"), dict):
            return d
    except (OSError, ValueError, AttributeError):
        pass
    raise WeightsError(
        f"{path} is damaged (not pkd's listing of the folder's weights); the weights there cannot be "
        f"checked: train the model again or give another folder"
    )


def verified_fingerprint(model_dir) -> str:
    """The weights' fingerprint, checked against the one pkd wrote into the folder (``pkd-weights.json``; a folder
    pkd did not write has none and is taken as it is). A mismatch names the folder and is never used."""
    fp = model_fingerprint(model_dir)
    listing = _listing(Path(model_dir))
    if listing is not None and listing["weights_fp"] != fp:
        raise WeightsError(
            f"the weights in {model_dir} are not the ones pkd wrote there (fingerprint {fp[:12]}, "
            f"written {listing['weights_fp'][:12]}): damaged or replaced since; train that model again "
            f"or give another folder"
        )
    return fp
