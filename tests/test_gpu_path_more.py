"""The GPU path, the parts testable on CPU: the teacher cache stored layer-major (a batch reads only the logits and
its own layers, with the values of the example-major format 2), no host sync per training step (the recorded
numbers are those of per-step ``.item()`` sums), and CUDA's determinism settings (CUDA mocked)."""

from __future__ import annotations

import importlib.util
import math
import warnings

import pytest
import torch
from conftest import ROOT

from pkdlib.cache import CACHE_FORMAT, CachedTeacher, compute_teacher_outputs, load_or_compute_teacher_outputs
from pkdlib.train import Meter, NumericalError


def _rows(n=300, layers=6, h=16, seed=0):
    """Example-major logits and states (format 2's layout) with awkward floats: -0.0, subnormals, huge values."""
    g = torch.Generator().manual_seed(seed)
    cls, mean = torch.randn(n, layers + 1, h, generator=g), torch.randn(n, layers + 1, h, generator=g)
    cls[0, 0, 0], cls[1, 2, 3], mean[2, 1, 0], mean[3, 3, 1] = -0.0, 1e-42, 3e38, -1e-40
    return torch.randn(n, 3, generator=g), cls, mean


def test_the_format_3_gather_equals_the_format_2_gather_bit_for_bit(tmp_path):
    """Written layer-major, read back memory-mapped, gathered per used layer: the same float32 numbers in the same
    order as format 2's ``cls[idx][:, layers]``, for both poolings, any layers, repeated and unsorted rows."""
    logits, cls, mean = _rows()
    made = CachedTeacher.from_rows(logits, cls, mean)
    assert made.cls.shape == (7, 300, 16) and made.cls.is_contiguous() and made.n_layers == 6
    load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: made)
    read = load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: 1 / 0)  # memory-mapped, not computed
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 300, (32,), generator=g) for _ in range(5)] + [torch.tensor([299, 0, 0, 7])]
    for idx in batches:
        for layers in ([2, 4], [1, 2, 3, 4, 5], [6, 1], [3], [0, 6]):
            for pooling, rows in (("cls", cls), ("mean", mean)):
                got_logits, got = read.gather({"index": idx}, layers, pooling)
                want = rows[idx][:, list(layers)]  # format 2's gather
                assert torch.equal(got_logits, logits[idx]) and got_logits.dtype == torch.float32
                assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape and got.is_contiguous()
                assert torch.equal(got, want) and torch.equal(got.view(torch.int32), want.view(torch.int32))
        kd_logits, none = read.gather({"index": idx}, [], "cls")
        assert torch.equal(kd_logits, logits[idx]) and none.shape == (len(idx), 0, 16)


def test_the_teacher_cache_is_computed_with_the_format_2_values(tiny_bert, tiny_csv):
    """The real computation, stored layer-major, holds the very numbers format 2's loop stored example-major."""
    from pkdlib.data import LengthBucketSampler, collate, load_task, tokenize_split
    from pkdlib.losses import pool
    from pkdlib.models import load_classifier, load_tokenizer

    ts = tokenize_split(load_task("rt", "train", tiny_csv), load_tokenizer(str(tiny_bert)), 32, log=lambda *a: None)
    torch.manual_seed(0)
    model = load_classifier(str(tiny_bert), 2)
    new = compute_teacher_outputs(model, ts, 64, torch.device("cpu"), progress=False)
    L, H, n = model.config.num_hidden_layers, model.config.hidden_size, len(ts)
    cls, mean = torch.zeros(n, L + 1, H), torch.zeros(n, L + 1, H)  # format 2's loop, as it was
    with torch.inference_mode():
        for idx in LengthBucketSampler(ts.lengths, 64, shuffle=False).batches():
            b = collate(ts, idx)
            out = model(
                input_ids=b["input_ids"],
                token_type_ids=b["token_type_ids"],
                attention_mask=b["attention_mask"],
                output_hidden_states=True,
            )
            for pooling, dest in (("cls", cls), ("mean", mean)):
                dest[b["index"]] = torch.stack(
                    [pool(h, b["attention_mask"], pooling) for h in out.hidden_states], dim=1
                ).float()
    assert new.cls.shape == (L + 1, n, H) and new.n_layers == L
    assert torch.equal(new.cls.transpose(0, 1), cls) and torch.equal(new.mean.transpose(0, 1), mean)


def _mapped_mb(path) -> float:
    spec = importlib.util.spec_from_file_location("cache_memory", ROOT / "scripts" / "cache_memory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.file_mb_mapped(path)


def test_an_epoch_reads_the_logits_and_its_own_layers_only(tmp_path):
    """A whole epoch of batches (every row) maps in, of the memory-mapped file, the logits and the used layers of
    the used pooling, never the others (format 2 mapped every layer of the pooling: 4 layers' bytes, 32 MB, here).
    The kernel maps pages in blocks (fault-around, large folios: up to 2 MB here), so a layer may bring in up to
    2 MB of its neighbours; wide rows keep the number of batches, and of slow page faults, small."""
    n, layers, h = 1024, 3, 2048
    layer_mb = n * h * 4 / 2**20  # 8 MB
    made = CachedTeacher(torch.randn(n, 2), torch.randn(layers + 1, n, h), torch.randn(layers + 1, n, h))
    load_or_compute_teacher_outputs(tmp_path, "m" * 30, lambda: made)
    (path,) = tmp_path.glob("teacher-*.pt")
    for used, pooling in (([], "cls"), ([1, 3], "mean")):
        read = load_or_compute_teacher_outputs(tmp_path, "m" * 30, lambda: 1 / 0)
        assert _mapped_mb(path) < 0.1
        for idx in torch.randperm(n, generator=torch.Generator().manual_seed(0)).split(32):
            read.gather({"index": idx}, used, pooling)
        mapped = _mapped_mb(path)
        assert len(used) * layer_mb <= mapped < len(used) * (layer_mb + 2.5) + 0.25, (used, mapped)
        del read
    assert CACHE_FORMAT == 3


def test_a_format_2_cache_is_rebuilt_once_and_older_files_are_named(tmp_path):
    logits, cls, mean = _rows(n=20, layers=3, h=4)
    path = tmp_path / f"teacher-{'f' * 24}.pt"
    torch.save({"key": "f" * 30, "format": 2, "logits": logits, "cls": cls, "mean": mean}, path)  # format 2
    old = tmp_path / f"teacher-{'o' * 24}.pt"
    torch.save({"key": "o" * 30, "format": 2, "logits": logits, "cls": cls, "mean": mean}, old)
    seen, calls = [], []

    def compute():
        calls.append(1)
        return CachedTeacher.from_rows(logits, cls, mean)

    out = load_or_compute_teacher_outputs(tmp_path, "f" * 30, compute, log=seen.append)
    again = load_or_compute_teacher_outputs(tmp_path, "f" * 30, compute, log=seen.append)
    assert len(calls) == 1 and "format 2" in seen[0] and "recomputing once" in seen[0]
    assert old.name in seen[1] and path.name not in seen[1] and len(seen) == 2  # named, not removed
    assert old.exists() and torch.equal(again.cls, out.cls) and again.cls.shape == (4, 20, 4)
    with pytest.raises(ValueError, match="layer-major"):
        CachedTeacher(logits, cls, mean)  # example-major states are refused, not misread


class _Format2Meter:
    """Meter.update as it was (a per-step ``.item()`` of every part and of ``correct``): the reference."""

    def __init__(self, n_batches):
        self.n_batches, self.window, self.curve = n_batches, {}, []

    def start_epoch(self):
        self.sums = {"loss": 0.0, "n": 0, "correct": 0, "seen": 0, "tokens": 0, "padded": 0}

    def update(self, step, epoch, parts, logits, b, lr=None):
        vals = {
            **{k: v.item() for k, v in parts.items()},
            "n": 1,
            "correct": (logits.argmax(-1) == b["labels"]).sum().item(),
            "seen": len(b["labels"]),
        }
        for k, v in vals.items():
            self.window[k] = self.window.get(k, 0) + v
            self.sums[k] = self.sums.get(k, 0) + v
        self.sums["tokens"] += int(b["attention_mask"].sum())
        self.sums["padded"] += b["attention_mask"].numel()
        i = self.sums["n"]
        if i % max(1, self.n_batches // 20) == 0 or i == self.n_batches:
            w, self.window = self.window, {}
            n = w.pop("n")
            point = {
                "step": step,
                "epoch": round(epoch - 1 + i / self.n_batches, 4),
                "train_acc": w.pop("correct") / w.pop("seen"),
                **({"lr": lr} if lr is not None else {}),
            }
            self.curve.append({**point, **{k: v / n for k, v in w.items()}})


def _steps(n_steps, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_steps):
        scale = 10.0 ** torch.randint(-6, 6, (3,), generator=g)
        ce, kd, pt = ((torch.rand(3, generator=g) * scale).to(dtype)).unbind()
        bs = int(torch.randint(1, 33, (), generator=g))
        yield (
            {"ce": ce, "kd": kd, "pt": pt, "loss": (0.5 * ce + 0.5 * kd + 100 * pt).to(dtype)},
            torch.randn(bs, 3, generator=g),
            {
                "labels": torch.randint(0, 3, (bs,), generator=g),
                "attention_mask": (torch.rand(bs, 9, generator=g) > 0.3).long(),
            },
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n_batches", [7, 47, 60])
def test_the_meter_records_the_numbers_of_per_step_item_sums(n_batches, dtype):
    """Summed on the device and read at the curve points, every curve point and epoch sum is the number (and the
    type) the per-step ``.item()`` Python sums gave: compared with ==, not approximately."""
    new, ref = Meter(n_batches), _Format2Meter(n_batches)
    step = 0
    for epoch in (1, 2):
        new.start_epoch()
        ref.start_epoch()
        for parts, logits, b in _steps(n_batches, seed=epoch, dtype=dtype):
            step += 1
            mask = b["attention_mask"]
            new.update(step, epoch, parts, logits, b["labels"], 1e-3 / step, int(mask.sum()), mask.numel())
            ref.update(step, epoch, parts, logits, b, 1e-3 / step)
        new.flush(epoch)
        assert new.sums == ref.sums and list(new.sums) == list(ref.sums)
        assert all(type(new.sums[k]) is type(ref.sums[k]) for k in ref.sums)
    assert new.curve == ref.curve and [list(p) for p in new.curve] == [list(p) for p in ref.curve]
    assert len(new.curve) == 2 * (n_batches // max(1, n_batches // 20) + (n_batches % max(1, n_batches // 20) > 0))


def test_no_host_sync_between_curve_points(monkeypatch):
    """Between curve points a step reads nothing from the device; at a point, one copy of the pending steps."""
    reads = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu"):

        def counted(self, *a, _name=name, _real=getattr(torch.Tensor, name), **k):  # noqa: B008
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    meter = Meter(60)  # a curve point every 3 steps
    meter.start_epoch()
    steps = list(_steps(60, seed=3))
    reads.clear()
    for step, (parts, logits, b) in enumerate(steps, 1):
        meter.update(step, 1, parts, logits, b["labels"], 1e-3, 10, 20)
        assert reads == (["tolist"] if step % 3 == 0 else []), (step, reads)
        reads.clear()


def test_a_non_finite_loss_is_found_at_the_next_check_and_named_by_its_step():
    meter = Meter(80, context="objective X")  # a curve point every 4 steps
    meter.start_epoch()
    steps = list(_steps(8, seed=4))
    steps[5][0]["pt"], steps[5][0]["loss"] = torch.tensor(float("inf")), torch.tensor(float("inf"))
    steps[6][0]["loss"] = torch.tensor(float("nan"))
    for step, (parts, logits, b) in enumerate(steps[:5], 1):
        meter.update(step, 2, parts, logits, b["labels"])
    sums = dict(meter.sums)
    for step, (parts, logits, b) in enumerate(steps[5:7], 6):
        meter.update(step, 2, parts, logits, b["labels"])  # steps 6 and 7: not checked yet
    with pytest.raises(
        NumericalError,
        match=r"non-finite loss at epoch 2, step 6: ce=.*pt=inf, loss=inf "
        r"\(found when steps 5-8 were checked.*objective X; no record written",
    ):
        meter.update(8, 2, *steps[7][:2], steps[7][2]["labels"])
    assert sums["n"] == 4 and meter.sums["n"] == 5 and math.isfinite(meter.sums["loss"])  # step 5 added, not 6


@pytest.fixture()
def mocked_cuda(monkeypatch):
    """CUDA mocked; torch's global determinism settings and the environment restored afterwards."""
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Mocked GPU")
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    for flag in ("deterministic", "benchmark", "allow_tf32"):
        monkeypatch.setattr(torch.backends.cudnn, flag, getattr(torch.backends.cudnn, flag))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "restored-after-the-test")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    yield monkeypatch
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cuda.matmul.allow_tf32 = tf32


def test_a_cuda_run_turns_determinism_on_and_records_it(mocked_cuda):
    import os

    from pkdlib.records import hardware
    from pkdlib.train import use_gpu

    torch.backends.cudnn.benchmark = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CUDA not used before: no warning
        use_gpu(torch.device("cuda:1"), torch.bfloat16)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    # strict: warn_only would leave SDPA's flash and memory-efficient backward on their nondeterministic kernels
    assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    hw = hardware("cuda:1")
    assert hw["gpu"] == "Mocked GPU" and hw["deterministic"] == {
        "algorithms": True,
        "warn_only": False,
        "nondeterministic_ops": [],
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "cublas_workspace_config": ":4096:8",
    }
    assert "deterministic" not in hardware("cpu")  # CPU records are as they were


def test_a_workspace_config_already_set_is_kept_and_a_late_one_is_warned_about(mocked_cuda):
    import os

    from pkdlib.records import hardware
    from pkdlib.train import use_gpu

    mocked_cuda.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    use_gpu(torch.device("cuda"), None)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert hardware("cuda")["deterministic"]["cublas_workspace_config"] == ":16:8"
    mocked_cuda.delenv("CUBLAS_WORKSPACE_CONFIG")
    mocked_cuda.setattr(torch.cuda, "is_initialized", lambda: True)
    mocked_cuda.setattr(torch.cuda, "device_count", lambda: 2)
    stats = {0: {}, 1: {"allocation.all.allocated": 3}}  # a tensor was made on GPU 1: cuBLAS may have run
    mocked_cuda.setattr(torch.cuda, "memory_stats", lambda i: stats[i])
    with pytest.warns(UserWarning, match="CUDA memory was used in this process before the run set CUBLAS_WORK"):
        use_gpu(torch.device("cuda"), None)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_cuda_initialised_by_a_device_query_gives_no_workspace_warning(mocked_cuda):
    """The capability query of precision='auto' initialises CUDA but allocates nothing (cuBLAS has not run): the
    workspace configuration set then is in time, so no warning (it was given on every 'auto' run)."""
    import os

    from pkdlib import RunConfig
    from pkdlib.train import Hardware

    mocked_cuda.setattr(torch.cuda, "is_available", lambda: True)
    mocked_cuda.setattr(torch.cuda, "device_count", lambda: 1)
    mocked_cuda.setattr(torch.cuda, "is_initialized", lambda: True)  # as after get_device_capability
    mocked_cuda.setattr(torch.cuda, "memory_stats", lambda i: {"allocation.all.allocated": 0})
    made = []
    mocked_cuda.setattr("accelerate.Accelerator", lambda **kw: made.append(kw) or _FakeAccelerator())
    cfg = RunConfig(method="teacher", device="cuda", precision="auto")
    assert cfg.precision == "bf16"  # resolved when made (capability 8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hw = Hardware.setup(cfg)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and hw.amp is torch.bfloat16 and hw.compute == "bf16"
    assert made[0]["dynamo_backend"] == "no" and made[0]["mixed_precision"] == "no"
    assert made[0]["kwargs_handlers"][0].timeout.total_seconds() == 3600


def test_a_workspace_config_torch_would_refuse_is_refused_before_the_run(mocked_cuda):
    from pkdlib.determinism import DeterminismError
    from pkdlib.train import use_gpu

    mocked_cuda.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")
    with pytest.raises(DeterminismError, match=r"CUBLAS_WORKSPACE_CONFIG=':0:0' is set.*:4096:8 or :16:8"):
        use_gpu(torch.device("cuda"), None)


class _FakeAccelerator:
    device = torch.device("cpu")
    is_main_process = True


def test_cpu_runs_leave_the_determinism_settings_alone(tiny_bert):
    """Only CUDA runs turn them on (a CPU run computes and records as before)."""
    from pkdlib import RunConfig
    from pkdlib.train import Hardware

    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    hw = Hardware.setup(RunConfig(task="rt", method="teacher", pretrained=str(tiny_bert), device="cpu"))
    assert hw.device.type == "cpu"
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


def test_a_run_whose_loss_turns_non_finite_between_checks_stops_and_writes_nothing(
    tiny_bert, tiny_csv, tiny_teacher, ws, monkeypatch
):
    """A NaN from step 3 on (not a step whose gradient norms are sampled) is found at the next curve point."""
    import pkdlib.terms as L
    from pkdlib import RunConfig
    from pkdlib.runs import run

    real, calls = L.patient_loss, []

    def patient_loss(s, t, normalize=True):
        calls.append(1)
        return real(s, t, normalize) * (float("nan") if len(calls) >= 3 else 1.0)

    monkeypatch.setattr(L, "patient_loss", patient_loss)
    cfg = RunConfig(
        task="rt",
        method="pkd-skip",
        student_layers=2,
        pretrained=str(tiny_bert),
        data_dir=str(tiny_csv),
        teacher_dir=tiny_teacher[0]["model_dir"],
        epochs=1,
        lr=2e-3,
        batch_size=16,
        beta=10.0,
        device="cpu",
    )
    with pytest.raises(NumericalError, match=r"non-finite loss at epoch 1, step 3: .*pt=nan.*\(found when steps 3-"):
        run(cfg, ws, progress=False, log=lambda *a: None)
    assert not ws.records.exists() or not list(ws.records.glob("*.json"))


def test_an_op_without_a_deterministic_kernel_would_make_the_run_warn_only_and_be_named(mocked_cuda):
    """None is known (strict mode); were one listed, the run would warn instead of stopping, and its record say so."""
    import pkdlib.determinism as D
    from pkdlib.records import hardware
    from pkdlib.train import use_gpu

    mocked_cuda.setattr(D, "NONDETERMINISTIC_OPS", ("cumsum_cuda_kernel",))
    use_gpu(torch.device("cuda"), None)
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    det = hardware("cuda")["deterministic"]
    assert det["warn_only"] and det["nondeterministic_ops"] == ["cumsum_cuda_kernel"]


def test_fp16_gradient_norms_are_taken_of_the_scaled_terms_and_unscaled():
    """An fp16 gradient of 1e-8 underflows to 0 unscaled (fp16's smallest subnormal is 6e-8); taken of the term times
    the loss scale, as training's backward is, and divided by it in float32, it is measured."""
    from pkdlib.losses import Objective
    from pkdlib.train import loss_scale, term_grad_norms

    p = torch.nn.Parameter(torch.ones(4, dtype=torch.float16))
    model = torch.nn.ParameterList([p])

    def parts():
        term = (p * 1e-4).float().sum() * 1e-4  # d term / dp = 1e-8 per element, computed in fp16
        return {"ce": term, "loss": term}

    assert term_grad_norms(model, parts(), Objective())["ce"] == 0.0
    scaled = term_grad_norms(model, parts(), Objective(), scale=2.0**16)
    assert scaled["ce"] == pytest.approx(2e-8, rel=1e-2) and scaled["total"] == pytest.approx(2e-8, rel=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    assert loss_scale(scaler) == 65536.0 and loss_scale(torch.amp.GradScaler("cpu", enabled=False)) == 1.0
    assert loss_scale(None) == 1.0


class _TwoProcesses:
    """Accelerate's reduce as a second process with the given window would make it (sum)."""

    device = torch.device("cpu")

    def __init__(self, other: list):
        self.other = other

    def reduce(self, t, op):
        assert op == "sum"
        return t + self.other.pop(0)


def test_curve_points_sum_the_steps_of_every_process():
    """Several processes: a curve point's loss is the mean over every process's steps, its accuracy over every
    process's examples (it was the main process's alone); counts stay integers."""
    from functools import partial

    from pkdlib.train import sum_over_processes

    steps = list(_steps(20, seed=5))
    windows = []  # what the second process's meter sums at each of its curve points (one per step: 10 batches)
    other = Meter(10, reduce=lambda w: windows.append(dict(w)) or w)
    other.start_epoch()
    for i, (parts, logits, b) in enumerate(steps[10:], 1):
        other.update(i, 1, parts, logits, b["labels"], 1e-3)
    acc = _TwoProcesses([torch.tensor([float(w[k]) for k in sorted(w)], dtype=torch.float64) for w in windows])
    main, alone = Meter(10, reduce=partial(sum_over_processes, acc)), Meter(10)
    for m in (main, alone):
        m.start_epoch()
        for i, (parts, logits, b) in enumerate(steps[:10], 1):
            m.update(i, 1, parts, logits, b["labels"], 1e-3)
    assert len(main.curve) == len(alone.curve) == len(other.curve) == 10
    for i, (both, mine, theirs, w) in enumerate(zip(main.curve, alone.curve, other.curve, windows)):
        assert both["loss"] == pytest.approx((mine["loss"] + theirs["loss"]) / 2)  # one step each
        seen = len(steps[i][2]["labels"])
        assert both["train_acc"] == pytest.approx((round(mine["train_acc"] * seen) + w["correct"]) / (seen + w["seen"]))
        assert both["step"] == mine["step"] and both["lr"] == mine["lr"]
    assert any(b["loss"] != m["loss"] for b, m in zip(main.curve, alone.curve))
    summed = sum_over_processes(_TwoProcesses([torch.tensor([0.5, 3.0])]), {"n": 2, "loss": 1.25})
    assert summed == {"loss": 1.75, "n": 5} and isinstance(summed["n"], int)


def test_the_accelerator_is_pinned_whatever_the_environment_asks(tiny_bert, monkeypatch):
    """ACCELERATE_DYNAMO_BACKEND would compile the model and ACCELERATE_MIXED_PRECISION add Accelerate's autocast:
    a run's Accelerator is told no to both (and records it)."""
    from accelerate.state import AcceleratorState

    from pkdlib import RunConfig
    from pkdlib.train import Hardware

    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "INDUCTOR")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    AcceleratorState._reset_state(True)
    try:
        hw = Hardware.setup(RunConfig(task="rt", method="teacher", pretrained=str(tiny_bert), device="cpu"))
        assert str(hw.accelerator.state.dynamo_plugin.backend.value).lower() == "no"
        assert str(hw.accelerator.mixed_precision) == "no" and hw.compute == "fp32"
    finally:
        AcceleratorState._reset_state(True)


def test_the_speed_up_on_a_gpu_is_timed_as_training_runs_many_batches_per_call(monkeypatch):
    """CUDA mocked: TF32 and determinism as training sets them (train.use_gpu), 20 batches per timed call; a CPU
    is timed as before (one batch per call, nothing set)."""
    from pkdstudy import speed

    calls = []
    monkeypatch.setattr("pkdlib.train.use_gpu", lambda dev, amp: calls.append((str(dev), amp)))
    assert speed._as_training(torch.device("cpu"), None) == 1 and calls == []
    assert speed._as_training(torch.device("cuda"), torch.bfloat16) == speed.CUDA_BATCHES_PER_CALL == 20
    assert calls == [("cuda", torch.bfloat16)]


def test_the_study_manifest_records_the_machines_device(mocked_cuda):
    """On a CPU the manifest's hardware is what it was; with a GPU it names the GPU (the report finds the machine's
    shared speed measurement by it), without the per-run TF32 and determinism settings."""
    from pkdlib.records import hardware
    from pkdstudy.study import machine

    assert machine() == hardware("cpu")
    mocked_cuda.setattr(torch.cuda, "is_available", lambda: True)
    hw = machine()
    assert hw["device"] == "cuda" and hw["gpu"] == "Mocked GPU" and "tf32" not in hw and "deterministic" not in hw


def test_a_sampled_step_whose_fp16_gradient_overflowed_is_left_out_of_the_gradient_shares():
    """GradScaler overflows by design (its first steps, each time it grows the scale): such a step's norms are not
    finite and are left out, so the epoch's shares stay numbers and the record can be written (JSON refuses NaN)."""
    import json

    from pkdlib.losses import Objective

    m = Meter(4)
    m.start_epoch()
    m.add_grad_norms({"ce": float("inf"), "kd": 1.0, "total": float("inf")}, scaled=True)
    m.add_grad_norms({"ce": 1.0, "kd": 3.0, "total": 3.5}, scaled=True)
    with pytest.raises(NumericalError, match="non-finite gradient norm at epoch 1, step 7: ce=nan"):
        m.add_grad_norms({"ce": float("nan"), "kd": 1.0, "total": float("nan")}, scaled=False, step=7, epoch=1)
    m.update(
        1,
        1,
        {"loss": torch.tensor(1.0), "ce": torch.tensor(1.0), "kd": torch.tensor(1.0)},
        torch.zeros(2, 2),
        torch.tensor([0, 1]),
    )
    row = m.epoch_row(1, 1.0, {"loss": 0, "ce": 0, "kd": 0}, Objective(alpha=0.5))
    assert row["grad_norm"]["sampled_steps"] == 1 and row["grad_share"] == {"ce": 0.25, "kd": 0.75}
    json.dumps(row, allow_nan=False)
