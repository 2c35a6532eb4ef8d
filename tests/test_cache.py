import json

import pytest
import torch

from pkdlib.cache import CachedTeacher, load_or_compute_teacher_outputs, teacher_cache_key
from pkdlib.files import atomic_write, atomic_write_json, content_key


def _fake(n=4, layers=3, h=5):
    return CachedTeacher.from_rows(torch.randn(n, 2), torch.randn(n, layers + 1, h), torch.randn(n, layers + 1, h))


def test_cache_reused_then_recomputed_on_any_change(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _fake()

    base = dict(
        teacher_fp="t1", tokenizer_fp="k1", task="rt", split="train", split_checksum="c1", max_length=64, n_examples=4
    )
    k = teacher_cache_key(**base)
    a = load_or_compute_teacher_outputs(tmp_path, k, compute)
    b = load_or_compute_teacher_outputs(tmp_path, k, compute)
    assert len(calls) == 1 and torch.equal(a.cls, b.cls)
    for field, value in [
        ("teacher_fp", "t2"),
        ("tokenizer_fp", "k2"),
        ("task", "imdb"),
        ("split", "dev"),
        ("split_checksum", "c2"),
        ("max_length", 128),
        ("n_examples", 3),
    ]:
        k2 = teacher_cache_key(**{**base, field: value})
        assert k2 != k, field
        load_or_compute_teacher_outputs(tmp_path, k2, compute)
    assert len(calls) == 8


def test_truncated_or_foreign_cache_file_is_recomputed(tmp_path):
    k = content_key("x")
    path = tmp_path / f"teacher-{k[:24]}.pt"
    path.write_bytes(b"half a file")
    out = load_or_compute_teacher_outputs(tmp_path, k, _fake, log=lambda *a: None)
    assert torch.load(path, weights_only=True)["key"] == k and torch.equal(out.cls, torch.load(path)["cls"])
    # a file under the right name whose stored key differs (e.g. a hash-prefix clash) is not trusted
    torch.save({"key": "other", "format": 1, "logits": out.logits, "cls": out.cls}, path)
    seen = []
    load_or_compute_teacher_outputs(tmp_path, k, _fake, log=seen.append)
    assert "does not match" in seen[0]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})

    def fail(tmp):
        open(tmp, "wb").write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, fail)
    assert json.loads(p.read_text()) == {"a": 1}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.json"]


def test_written_files_respect_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        p = atomic_write_json(tmp_path / "a.json", {"a": 1})
        assert p.stat().st_mode & 0o777 == 0o644  # readable by others, as any other file (mkstemp alone: 0600)
        os.umask(0o077)
        assert atomic_write_json(tmp_path / "b.json", {}).stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_records_are_strict_json(tmp_path):
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(tmp_path / "r.json", {"beta": float("nan")})
    assert not (tmp_path / "r.json").exists()


def test_select_layers():
    rows = torch.randn(4, 4, 5)  # example-major (n, L+1, H); stored layer-major
    t = CachedTeacher.from_rows(torch.randn(4, 2), rows, torch.randn(4, 4, 5))
    logits, cls = t.gather({"index": torch.tensor([2, 0])}, [1, 3])
    assert torch.equal(logits, t.logits[[2, 0]])
    assert torch.equal(cls, rows[[2, 0]][:, [1, 3]]) and torch.equal(t.cls, rows.transpose(0, 1))


def test_the_cache_stays_on_the_host_memory_mapped_and_kd_reads_only_logits():
    """A synthetic BERT-base-shaped cache (scripts/cache_memory.py): reading it costs almost no memory, KD's batches
    touch only the logits, PKD's only its 5 layers of [CLS] (stored layer-major); the device gets one batch."""
    import ast
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cache_memory.py"), "--examples", "2000", "--batches", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    m = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    file_mb = m["file_gb"] * 1024
    assert file_mb > 140
    assert m["rss_mb_after_load"] - m["rss_mb_before_load"] < 0.05 * file_mb
    assert m["rss_mb_after_kd"] - m["rss_mb_before_load"] < 0.05 * file_mb
    assert m["file_mb_mapped_after_kd"] < 1 and m["file_mb_used_kd"] < 0.1
    # 5 of the file's 26 layers (13 [CLS], 13 mean) and the logits, each layer with at most 4 MB of its neighbours
    # (the kernel maps file pages in blocks of up to 2 MB); format 2 mapped all 13 layers of [CLS], half the file
    assert m["file_mb_used_pkd-skip"] <= m["file_mb_mapped_after_pkd-skip"] < m["file_mb_used_pkd-skip"] + 5 * 4 + 1
    assert m["file_mb_used_pkd-skip"] + 5 * 4 + 1 < 0.4 * file_mb
    assert m["pkd-skip_device_batch_mb"] == round((32 * 3 + 32 * 5 * 768) * 4 / 2**20, 3)


def test_a_memory_mapped_cache_gives_the_values_written(tmp_path):
    import torch

    from pkdlib.cache import CACHE_FORMAT, CachedTeacher, load_or_compute_teacher_outputs

    torch.manual_seed(0)
    rows = torch.randn(50, 4, 8)
    made = CachedTeacher.from_rows(torch.randn(50, 2), rows, torch.randn(50, 4, 8))
    first = load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: made)
    again = load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: 1 / 0)  # read, not computed
    idx = torch.tensor([3, 1, 49])
    for pooling in ("cls", "mean"):
        a, b = first.gather({"index": idx}, [1, 3], pooling), again.gather({"index": idx}, [1, 3], pooling)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(again.gather({"index": idx}, [2])[1][:, 0], rows[idx, 2]) and CACHE_FORMAT == 3


def test_the_cache_key_holds_the_teachers_compute_precision_and_fp32_keys_are_unchanged(tmp_path):
    """fp32 keeps the key of the code before the compute precision entered it (the CPU studies' caches stay valid);
    tf32, bf16 and fp16 teachers each get their own cache, so a bf16 run never reads an fp32 run's teacher outputs
    (or the reverse); an unknown precision is refused."""
    base = dict(
        teacher_fp="t1", tokenizer_fp="k1", task="rt", split="train", split_checksum="c1", max_length=64, n_examples=4
    )
    before = content_key("teacher-cache", 3, "t1", "k1", "rt", "train", "c1", 64, 4)  # the format-3 key as it was
    assert teacher_cache_key(**base) == teacher_cache_key(**base, compute="fp32") == before
    keys = {c: teacher_cache_key(**base, compute=c) for c in ("fp32", "tf32", "bf16", "fp16")}
    assert len(set(keys.values())) == 4
    calls = []
    for c, k in keys.items():
        load_or_compute_teacher_outputs(tmp_path, k, lambda: calls.append(c) or _fake())  # noqa: B023
    assert calls == ["fp32", "tf32", "bf16", "fp16"] and len(list(tmp_path.glob("teacher-*.pt"))) == 4
    with pytest.raises(ValueError, match="compute='auto': accepted fp32, tf32, bf16, fp16"):
        teacher_cache_key(**base, compute="auto")
