"""End-to-end runs on a tiny randomly initialised BERT saved locally: teacher -> cache -> 4 methods."""

import json

import pytest
import torch

from pkdlib import RunConfig
from pkdlib.paths import Workspace
from pkdlib.runs import run
from pkdlib.train import NumericalError

QUIET = dict(progress=False, log=lambda *a: None)


def student_cfg(tiny_bert, tiny_csv, teacher_rec, **kw):
    base = dict(
        task="rt",
        method="pkd-skip",
        student_layers=2,
        pretrained=str(tiny_bert),
        data_dir=str(tiny_csv),
        teacher_dir=teacher_rec["model_dir"],
        epochs=2,
        lr=1e-3,
        batch_size=16,
        device="cpu",
        beta=10.0,
    )
    return RunConfig(**{**base, **kw})


def test_teacher_record(tiny_teacher):
    rec, ws = tiny_teacher
    assert rec["status"] == "complete" and rec["objective"] == "1*CE"
    assert len(rec["epochs"]) == 3 and rec["best_epoch"] in (1, 2, 3)
    assert rec["dev"]["dev"]["accuracy"] > 0.6  # the tiny task is learnable
    assert (ws.models / rec["run_id"] / "config.json").is_file()
    prov = rec["provenance"]
    for key in ("git", "versions", "hardware", "seed", "teacher_cache_key"):
        assert key in prov
    assert prov["hardware"]["torch_threads"] >= 1 and prov["versions"]["torch"]
    assert rec["data"]["train"]["n"] == 224 and len(rec["data"]["train"]["checksum"]) == 64


@pytest.mark.parametrize(
    "method, objective, layer_map",
    [
        ("ft", "1*CE", None),
        ("kd", "0.5*CE + 0.5*KD(T=10)", None),
        ("pkd-last", "0.5*CE + 0.5*KD(T=10) + 10*PT(pkd_last(4, 2) -> [3], normalized)", [3]),
        ("pkd-skip", "0.5*CE + 0.5*KD(T=10) + 10*PT(pkd_skip(4, 2) -> [2], normalized)", [2]),
        ("pkd-mean", "0.5*CE + 0.5*KD(T=10) + 10*PT(pkd_skip(4, 2) -> [2], mean-pooled, normalized)", [2]),
    ],
)
def test_each_method_end_to_end(tiny_bert, tiny_csv, tiny_teacher, ws, method, objective, layer_map):
    rec = run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], method=method), ws, **QUIET)
    assert rec["objective"] == objective and rec["layer_map"] == layer_map
    parts = rec["epochs"][0]
    assert ("train_kd" in parts) == (method != "ft") and ("train_pt" in parts) == method.startswith("pkd")
    e = rec["epochs"][0]  # the recorded loss is the printed objective of the recorded parts
    want = (
        (1 - cfg_alpha(method)) * e["train_ce"] + cfg_alpha(method) * e.get("train_kd", 0) + 10.0 * e.get("train_pt", 0)
    )
    assert e["train_loss"] == pytest.approx(want, rel=1e-5)
    assert rec["test"]["test"]["n"] == rec["data"]["test"]["n"] == 38
    correct = rec["test_correct"]["test"]  # per example, in split order: what paired example-level tests read
    assert len(correct) == 38 and correct.count("1") / 38 == rec["test"]["test"]["accuracy"]
    assert e["train_eval"]["n"] == 224  # accuracy in eval mode on a fixed training subset (here: all 224)
    assert sum(e["loss_share"].values()) == pytest.approx(1.0) and set(e["loss_share"]) == set(e["grad_share"])
    assert set(e["grad_share"]) == {"ce", "kd", "pt"} - ({"kd", "pt"} if method == "ft" else set()) - (
        {"pt"} if method == "kd" else set()
    )
    assert e["grad_norm"]["sampled_steps"] == 1 and min(e["grad_norm"].values()) > 0
    assert (rec["provenance"]["teacher_cache_key"] is None) == (method == "ft")
    assert rec["model_dir"] is None  # student weights are not kept unless asked
    saved = json.loads((ws.records / f"{rec['run_id']}.json").read_text())
    assert saved["run_id"] == rec["run_id"]


def cfg_alpha(method):
    return 0.0 if method == "ft" else 0.5


def test_same_seed_same_metrics_other_seed_differs(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    cfg = student_cfg(tiny_bert, tiny_csv, tiny_teacher[0])
    a = run(cfg, Workspace(tmp_path / "a", tmp_path / "w"), **QUIET)
    b = run(cfg, Workspace(tmp_path / "b", tmp_path / "w"), **QUIET)
    c = run(cfg.replace(seed=1), Workspace(tmp_path / "c", tmp_path / "w"), **QUIET)
    strip = lambda r: [{k: v for k, v in e.items() if not k.endswith("_s")} for e in r["epochs"]]  # noqa: E731
    assert strip(a) == strip(b) and a["test"] == b["test"]
    assert strip(a) != strip(c)


def test_record_reused_only_on_full_match(tiny_bert, tiny_csv, tiny_teacher, ws):
    logs = []
    cfg = student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], epochs=1)
    first = run(cfg, ws, progress=False, log=logs.append)
    again = run(cfg, ws, progress=False, log=logs.append)
    assert again == first and any("[skip]" in m for m in logs)
    other = run(cfg.replace(beta=20.0), ws, progress=False, log=logs.append)
    assert other["run_id"] != first["run_id"]
    assert len(list(ws.records.glob("*.json"))) == 2


def test_changed_teacher_gives_new_cache_key(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    rec, _ = tiny_teacher
    ws = Workspace(tmp_path / "r", tmp_path / "w")
    t2 = run(
        RunConfig(
            task="rt",
            method="teacher",
            pretrained=str(tiny_bert),
            data_dir=str(tiny_csv),
            epochs=1,
            lr=1e-3,
            batch_size=16,
            device="cpu",
            seed=5,
        ),
        ws,
        **QUIET,
    )
    a = run(student_cfg(tiny_bert, tiny_csv, rec, method="kd", epochs=1), ws, **QUIET)
    b = run(student_cfg(tiny_bert, tiny_csv, t2, method="kd", epochs=1), ws, **QUIET)
    assert a["provenance"]["teacher_cache_key"] != b["provenance"]["teacher_cache_key"]
    assert a["identity"]["teacher_fp"] != b["identity"]["teacher_fp"] and a["run_id"] != b["run_id"]
    assert len(list(ws.cache.glob("teacher-*.pt"))) == 2


def test_non_finite_loss_stops_and_writes_nothing(tiny_bert, tiny_csv, tiny_teacher, ws, monkeypatch):
    import pkdlib.terms as L

    monkeypatch.setattr(L, "patient_loss", lambda s, t, normalize=True: torch.tensor(float("nan")))
    with pytest.raises(NumericalError, match=r"non-finite loss at epoch 1, step 1: .*pt=nan"):
        run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0]), ws, **QUIET)
    assert not ws.records.exists() or not list(ws.records.glob("*.json"))


def test_bf16_autocast_runs_on_cpu(tiny_bert, tiny_csv, tiny_teacher, ws):
    rec = run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], precision="bf16", epochs=1), ws, **QUIET)
    ref = run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], precision="fp32", epochs=1), ws, **QUIET)
    assert rec["config"]["precision"] == "bf16" and rec["run_id"] != ref["run_id"]
    # same data order and init: bf16 rounding moves the loss a little, not the training
    assert rec["epochs"][0]["train_loss"] == pytest.approx(ref["epochs"][0]["train_loss"], abs=0.05)
    assert rec["epochs"][0]["train_loss"] != ref["epochs"][0]["train_loss"]


def test_bad_input_fails_before_training(tiny_bert, tiny_csv, tiny_teacher, ws):
    from pkdlib import ConfigError

    with pytest.raises(ConfigError, match="must be in 1..3"):
        run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], student_layers=4), ws, **QUIET)
    with pytest.raises(ConfigError, match="does not exist"):
        run(student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], teacher_dir="/no/such/teacher"), ws, **QUIET)
    assert not ws.results.exists()


def test_precision_check_script_pairs_fp32_and_bf16(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    import importlib.util
    import json

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("precision_check", ROOT / "scripts" / "precision_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench"
    mod.main(
        [
            "--teacher-dir",
            tiny_teacher[0]["model_dir"],
            "--seeds",
            "0",
            "1",
            "--student-layers",
            "2",
            "--pretrained",
            str(tiny_bert),
            "--data-dir",
            str(tiny_csv),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ]
    )
    res = json.loads((out / "precision.json").read_text())
    assert [(r["seed"], r["precision"]) for r in res["runs"]] == [(0, "fp32"), (0, "bf16"), (1, "fp32"), (1, "bf16")]
    assert len({r["run_id"] for r in res["runs"]}) == 4  # precision is part of a run's identity
    assert (
        res["summary"]["dev"]["ci95"][0] <= res["summary"]["dev"]["bf16_minus_fp32"] <= res["summary"]["dev"]["ci95"][1]
    )
    assert (out / "precision.md").read_text().startswith("bf16 autocast vs fp32")
    with pytest.raises(SystemExit):
        mod.main(["--teacher-dir", str(tmp_path / "missing")])


def test_teacher_record_is_reused_only_while_its_weights_exist(tiny_bert, tiny_csv, ws):
    import shutil
    from pathlib import Path

    cfg = RunConfig(
        task="rt",
        method="teacher",
        pretrained=str(tiny_bert),
        data_dir=str(tiny_csv),
        epochs=1,
        lr=2e-3,
        batch_size=16,
        device="cpu",
        max_train_examples=64,
        max_eval_examples=32,
    )
    rec = run(cfg, ws, **QUIET)
    out = ws.records / f"{rec['run_id']}.json"
    stamp = out.stat().st_mtime_ns
    assert run(cfg, ws, **QUIET)["run_id"] == rec["run_id"] and out.stat().st_mtime_ns == stamp  # reused
    shutil.rmtree(rec["model_dir"])  # e.g. a fresh clone: records committed, weights not
    lines = []
    rec2 = run(cfg, ws, progress=False, log=lines.append)
    assert any("weights" in line and "are gone" in line for line in lines)
    assert Path(rec2["model_dir"]).is_dir() and out.stat().st_mtime_ns != stamp


def test_run_identity_does_not_depend_on_where_the_clone_lives(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    """Two clones in different folders, each with the same teacher weights: the same run id; a record
    finished in one (committed, then pulled into the other) is reused there, not retrained."""
    import shutil

    from pkdlib.runs import prepare

    clones = {}
    for name in ("clone_a", "clone_b"):
        root = tmp_path / name
        ws = Workspace(root / "results", root / "work")
        ws.check_writable()  # pkd makes (and marks) its folders before the teacher's weights are copied in
        teacher = shutil.copytree(tiny_teacher[0]["model_dir"], root / "work" / "models" / "teacher")
        clones[name] = (ws, student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], teacher_dir=str(teacher), epochs=1))
    (ws_a, cfg_a), (ws_b, cfg_b) = clones["clone_a"], clones["clone_b"]
    pa, pb = prepare(cfg_a, ws_a, log=lambda *a: None), prepare(cfg_b, ws_b, log=lambda *a: None)
    assert cfg_a.teacher_dir != cfg_b.teacher_dir
    assert pa.identity == pb.identity and pa.out_path.name == pb.out_path.name
    rec = run(cfg_a, ws_a, **QUIET)
    assert str(tmp_path / "clone_a") not in json.dumps(rec["identity"])
    shutil.copytree(ws_a.records, ws_b.records, dirs_exist_ok=True)  # committed in one clone, pulled into the other
    logs = []
    assert run(cfg_b, ws_b, progress=False, log=logs.append) == rec and any("[skip]" in m for m in logs)


def test_paths_inside_the_project_are_written_relative():
    from conftest import ROOT

    from pkdlib.paths import portable

    assert portable(str(ROOT / "work" / "models" / "t")) == "work/models/t"
    assert portable("/elsewhere/model") == "/elsewhere/model" and portable(None) is None


def test_term_gradient_norms_add_up_to_the_loss_gradient():
    from pkdlib.layer_maps import pkd_skip
    from pkdlib.losses import Objective
    from pkdlib.train import term_grad_norms

    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2)
    x, cls_w = torch.randn(8, 4), torch.nn.Parameter(torch.randn(8, 2, 3))
    model = torch.nn.ModuleDict({"lin": lin, "cls": torch.nn.ParameterList([cls_w])})
    obj = Objective(alpha=0.5, temperature=2.0, beta=10.0, layer_map=pkd_skip(6, 3))
    parts = obj(lin(x), torch.randint(0, 2, (8,)), torch.randn(8, 2), cls_w, torch.randn(8, 2, 3))
    norms = term_grad_norms(model, parts, obj)
    parts["loss"].backward()
    real = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert norms["total"] == pytest.approx(float(real), rel=1e-5)
    assert set(norms) == {"ce", "kd", "pt", "total"} and norms["pt"] > 0


def test_each_study_worker_gets_its_own_gpu_and_the_gpu_becomes_current(monkeypatch):
    """CUDA mocked: the study gives worker slot i cuda:i, and the run makes it the current GPU (where Accelerate's
    bare 'cuda' device lands); fp32 on Ampere or newer turns TF32 on, bf16/fp16 autocast leaves it off; 'auto'
    picks bf16 only on native-bf16 GPUs."""
    import torch

    from pkdlib.models import autocast_dtype
    from pkdlib.train import use_gpu
    from pkdstudy import notebooks
    from pkdstudy.study import LocalRunner

    calls = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.append(("set_device", i)))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
    # use_gpu also turns CUDA determinism on (tests/test_gpu_path_more.py): kept out of this process's global state
    monkeypatch.setattr("pkdlib.train.cuda_determinism", lambda: None)
    use_gpu(torch.device("cuda:1"), None)
    assert calls == [("set_device", 1)] and torch.backends.cuda.matmul.allow_tf32
    use_gpu(torch.device("cuda:1"), torch.bfloat16)
    assert not torch.backends.cuda.matmul.allow_tf32
    assert autocast_dtype(torch.device("cuda:0"), "auto") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 0))  # V100: emulated bf16
    assert autocast_dtype(torch.device("cuda:0"), "auto") is torch.float16
    seen = []
    monkeypatch.setattr(notebooks, "execute", lambda nb, out, params: seen.append(params["config"]["device"]))
    runner = LocalRunner(workers=2)
    runner.gpus = 2
    for slot in (0, 1):
        runner("02_student", "x.ipynb", {"config": {"method": "kd"}}, slot, parallel=2)
    assert seen == ["cuda:0", "cuda:1"]
