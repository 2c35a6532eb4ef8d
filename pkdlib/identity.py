"""A run's identity: what makes two runs the same, by meaning rather than by the bytes of the code.

    identity = {config (less where it runs, what it keeps, where its teacher lies), results_version,
                teacher_fp, tokenizer_fp, split_checksums}

``RESULTS_VERSION`` is bumped by hand whenever a change alters a run's numbers (the objective, the training
loop, data loading or tokenisation, model construction). ``tests/test_golden.py`` replays a tiny
deterministic teacher and student run and compares its losses and predictions with stored values, so a
numeric change without a bump fails CI. A refactor (moving code, docstrings, a new method row, a new
config field at its default) changes no identity, so committed records stay reusable.

A record is reused when its identity *means* the same: equal configuration, results version, teacher and
tokenizer fingerprints and data checksums. Records written before results versions existed carry
``objective_code`` (a hash of the objective's source files) instead; ``LEGACY_OBJECTIVE_CODE`` says which
results version the code that wrote them is.
"""

from __future__ import annotations

from dataclasses import fields

from .files import content_key
from .paths import portable

RESULTS_VERSION = 1

#: objective_code of records written before results versions: a4d2cfc1 is the code of the cpu, full, beyond
#: and recipe studies (results version 1; the golden replay was taken on it); b4c61465 is the earlier
#: one-epoch design's (search profile, superseded study), whose loop differed: version 0, never reused
LEGACY_OBJECTIVE_CODE = {"a4d2cfc1489812c4": 1, "b4c614650e587335": 0}

#: config fields that do not change a run's result (where it runs, what is kept, where the teacher and a user's
#: files lie: the teacher's weights enter by fingerprint, the files' rows by the splits' content checksums)
NON_IDENTITY = ("device", "save_model", "teacher_dir", "train_file", "dev_file", "test_file", "unlabeled_file")
PATHS = ("teacher_dir", "data_dir", "train_file", "dev_file", "test_file", "unlabeled_file")

#: the configuration fields of results version 1; a field added since enters the identity only when it is
#: set away from its default, so adding one never changes an existing run's identity
FIELDS_V1 = (
    "task",
    "method",
    "student_layers",
    "pretrained",
    "teacher_dir",
    "init",
    "temperature",
    "alpha",
    "beta",
    "normalize",
    "kd_reduction",
    "lr",
    "epochs",
    "batch_size",
    "max_length",
    "warmup",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "max_train_examples",
    "max_eval_examples",
    "precision",
    "device",
    "data_dir",
    "bucket",
    "save_model",
)


def portable_config(cfg) -> dict:
    """The configuration as a record stores it: paths inside the project relative to it."""
    d = cfg.to_dict()
    d.update({k: portable(d[k]) if d[k] and not str(d[k]).startswith("hub:") else d[k] for k in PATHS})
    return d


def identity_config(cfg) -> dict:
    """The part of the configuration that decides a run's result."""
    defaults = {f.name: f.default for f in fields(cfg)}
    return {
        k: v for k, v in portable_config(cfg).items() if k not in NON_IDENTITY and (k in FIELDS_V1 or v != defaults[k])
    }


def run_identity(cfg, **extra) -> dict:
    """``extra``: teacher_fp, tokenizer_fp, split_checksums. ``hash`` names the record file."""
    ident = {"config": identity_config(cfg), "results_version": RESULTS_VERSION, **extra}
    ident["hash"] = content_key(ident)
    return ident


def meaning(identity) -> dict | None:
    """What decides reuse in a stored identity: its hash and derived keys (the teacher cache key follows from
    the rest) dropped, a legacy ``objective_code`` read as its results version. None: not an identity."""
    if not isinstance(identity, dict) or not isinstance(identity.get("config"), dict):
        return None
    m = {k: v for k, v in identity.items() if k not in ("hash", "objective_code", "cache_key")}
    if "objective_code" in identity:
        m["results_version"] = LEGACY_OBJECTIVE_CODE.get(identity["objective_code"], -1)
    return m


def intact(identity) -> bool:
    """The stored hash is the hash of the stored identity (both schemes hash everything but ``hash``)."""
    return isinstance(identity, dict) and identity.get("hash") == content_key(
        {k: v for k, v in identity.items() if k != "hash"}
    )
