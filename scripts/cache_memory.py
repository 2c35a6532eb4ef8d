"""Host memory of a teacher cache as training reads it: a synthetic cache of N examples (BERT-base shapes: 12 layers
+ embeddings, hidden 768, 3 labels) written in pkdlib's format (states layer-major), then read as a run reads it
(memory-mapped) and gathered batch by batch for KD (logits only) and PKD-Skip (5 layers of [CLS]). Prints the file
size, the process's resident memory after each step (``rss_mb_*``) and how much of the file it has mapped in
(``file_mb_mapped_*``: the cache's pages its reads touched, file-backed and reclaimable), beside the bytes of the
tensors the method uses (``file_mb_used_*``: the logits, and for PKD its 5 layers of one pooling); the device holds
one batch (batch x layers x hidden floats).

    .venv/bin/python scripts/cache_memory.py --examples 39270 --batches 200   # a tenth of MNLI's 392,702
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pkdlib.cache import CACHE_FORMAT, TeacherOutputs, load_or_compute_teacher_outputs


def rss_mb() -> float:
    """This process's resident memory now (file pages of a memory map that were read count too)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def file_mb_mapped(path: Path) -> float:
    """How much of ``path`` this process has resident through its memory maps (/proc/self/smaps)."""
    kb, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:  # a mapping's header line
            inside = line.split()[-1] == str(path)
        elif inside and line.startswith("Rss:"):
            kb += int(line.split()[1])
    return kb / 1024


def write(path: Path, key: str, examples: int, layers: int, hidden: int) -> None:
    shape = (layers + 1, examples, hidden)  # layer-major, as pkdlib.cache stores it
    t = TeacherOutputs(torch.randn(examples, 3), torch.randn(*shape), torch.randn(*shape))
    torch.save(
        {
            "key": key,
            "format": CACHE_FORMAT,
            "logits": t.logits,
            "cls": t.cls,
            "mean": t.mean,
            "sha256": t.digest_all(),
        },
        path,
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=39270, help="examples in the synthetic cache")
    ap.add_argument("--hidden", type=int, default=768, help="hidden size")
    ap.add_argument("--layers", type=int, default=12, help="teacher layers")
    ap.add_argument("--batches", type=int, default=200, help="batches of 32 to gather per method")
    ap.add_argument("--dir", default=None, help="where to write the file (default: a temporary folder)")
    ap.add_argument("--write-to", default=None, help=argparse.SUPPRESS)  # the child process that writes the file
    a = ap.parse_args(argv)
    if a.write_to:
        return write(Path(a.write_to), Path(a.write_to).stem.removeprefix("teacher-"), a.examples, a.layers, a.hidden)
    folder = Path(a.dir or tempfile.mkdtemp(prefix="pkd-cache-"))
    key = f"synthetic-{a.examples}"
    path = folder / f"teacher-{key}.pt"
    # written by a child process, so that this one's memory is only what reading takes
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--write-to",
            str(path),
            "--examples",
            str(a.examples),
            "--layers",
            str(a.layers),
            "--hidden",
            str(a.hidden),
        ],
        check=True,
    )
    base = rss_mb()
    out = {"examples": a.examples, "file_gb": round(path.stat().st_size / 2**30, 3), "rss_mb_before_load": round(base)}
    cache = load_or_compute_teacher_outputs(folder, key, compute=None, log=print)
    out["rss_mb_after_load"] = round(rss_mb())
    out["file_mb_mapped_after_load"] = round(file_mb_mapped(path), 1)
    g = torch.Generator().manual_seed(0)
    for name, layers in (("kd", []), ("pkd-skip", [2, 4, 6, 8, 10])):
        t0 = time.time()
        for _ in range(a.batches):
            idx = torch.randint(0, a.examples, (32,), generator=g)
            logits, states = cache.gather({"index": idx}, layers)
        out[f"rss_mb_after_{name}"] = round(rss_mb())
        out[f"file_mb_mapped_after_{name}"] = round(file_mb_mapped(path), 1)
        out[f"file_mb_used_{name}"] = round((a.examples * 3 + len(layers) * a.examples * a.hidden) * 4 / 2**20, 1)
        out[f"{name}_ms_per_batch"] = round(1000 * (time.time() - t0) / a.batches, 3)
        out[f"{name}_device_batch_mb"] = round((logits.numel() + states.numel()) * 4 / 2**20, 3)
    out["growth_mb"] = round(rss_mb() - base)
    if not a.dir:
        path.unlink()
        os.rmdir(folder)
    print(out)
    return out


if __name__ == "__main__":
    main()
