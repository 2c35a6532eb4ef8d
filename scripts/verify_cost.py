"""What pkd's checks of reused files cost a run: each timed with and without the check, on real files.

A study run is one process, so it checks each file (each block of the teacher cache) once:
* the teacher cache: opened memory-mapped and one epoch of batches gathered, as a 3-layer PKD-Skip student reads it
  (the logits and [CLS] of teacher layers 2 and 4), with its blocks checked or not; and every block checked (the
  most a run could check);
* the token caches of train, dev and test, loaded with their checksum compared or not;
* the weights a run reuses: a teacher's fingerprint is computed for its students' identities anyway (no extra
  read); a student's weights are hashed once before an export (``model_fingerprint``);
* every record read with its seal compared or not.

    .venv/bin/python scripts/verify_cost.py --cache-dir /path/to/work/cache --repeats 5

The teacher cache given (rt, a 6-layer teacher) is copied to a temporary folder and its checksums written there
(files written by an older pkd carry none); nothing in --cache-dir is changed.
"""

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pkdlib import files
from pkdlib.cache import CACHE_FORMAT, TeacherOutputs
from pkdlib.files import file_sha256, tensor_digest
from pkdlib.records import seal_problem


def timed(pairs: dict, repeats: int) -> dict:
    """Median wall seconds of each ``fn()`` over ``repeats`` rounds, the functions interleaved round by round (a
    shared machine's load falls on all alike); each call forgets what earlier calls checked."""
    out = {k: [] for k in pairs}
    for _ in range(repeats):
        for k, fn in pairs.items():
            files._verified.clear()
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in out.items()}


def teacher_epoch(path: Path, check: str, batches: int = 200, layers=(2, 4)) -> None:
    d = torch.load(path, weights_only=True, mmap=True)
    t = TeacherOutputs(d["logits"], d["cls"], d["mean"])
    if check == "uses":
        assert t.attach(d["sha256"], path, ("cls", list(layers))) is None
    elif check == "all":
        assert t.attach(d["sha256"], path, ("cls", list(range(t.n_layers + 1)))) is None
        assert t._problem("mean", list(range(t.n_layers + 1))) is None
    g = torch.Generator().manual_seed(0)
    for _ in range(batches):
        t({"index": torch.randint(0, t.logits.shape[0], (32,), generator=g)}, list(layers))


def token_load(paths, check: bool) -> None:
    for p in paths:
        d = torch.load(p, weights_only=True)
        if check:
            tensor_digest(d["input_ids"], d["token_type_ids"], d["lengths"])


def records_read(paths, check: bool) -> None:
    for p in paths:
        r = json.loads(p.read_text())
        if check:
            seal_problem({**r, "seal": "x"} if "seal" not in r else r)  # every record hashed, sealed or not


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", required=True, help="a work/cache holding an rt teacher cache and token caches")
    ap.add_argument("--weights", default="work/models/rt-teacher-s0-9fbe25826b/model.safetensors")
    ap.add_argument("--records", default="results/records")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    src = Path(a.cache_dir)
    tmp = Path(tempfile.mkdtemp(prefix="pkd-verify-cost-"))
    try:
        d = torch.load(next(src.glob("teacher-*.pt")), weights_only=True)
        t = TeacherOutputs(d["logits"], d["cls"], d["mean"])
        cache = tmp / "teacher.pt"
        torch.save(
            {
                "key": d["key"],
                "format": CACHE_FORMAT,
                "logits": t.logits,
                "cls": t.cls,
                "mean": t.mean,
                "sha256": t.digest_all(),
            },
            cache,
        )
        toks, recs = sorted(src.glob("tok-*.pt")), sorted(Path(a.records).glob("*.json"))
        blocks = TeacherOutputs(
            *(torch.load(cache, weights_only=True, mmap=True)[k] for k in ("logits", "cls", "mean"))
        )
        digests = torch.load(cache, weights_only=True, mmap=True)["sha256"]
        r = a.repeats
        out = {
            "teacher_cache_mb": round(cache.stat().st_size / 2**20, 1),
            "token_caches": len(toks),
            "weights_mb": round(Path(a.weights).stat().st_size / 2**20, 1),
            "records": len(recs),
            "repeats": r,
        }
        out.update(
            timed(
                {
                    "teacher_epoch_s": lambda: teacher_epoch(cache, "none"),
                    "teacher_epoch_checked_s": lambda: teacher_epoch(cache, "uses"),
                    "check_alone_pkd_skip_L3_blocks_s": lambda: blocks.attach(digests, cache, ("cls", [2, 4])),
                    "check_alone_every_block_s": lambda: (
                        blocks.attach(digests, cache, ("cls", list(range(7)))),
                        blocks._problem("mean", list(range(7))),
                    ),
                    "token_load_s": lambda: token_load(toks, False),
                    "token_load_checked_s": lambda: token_load(toks, True),
                    "weights_hash_s": lambda: file_sha256(a.weights),
                    "records_read_s": lambda: records_read(recs, False),
                    "records_read_checked_s": lambda: records_read(recs, True),
                },
                r,
            )
        )
    finally:
        shutil.rmtree(tmp)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()})
    return out


if __name__ == "__main__":
    main()
