"""Nothing lost, nothing silently wrong: pkd clean touches only pkd's folders, reused artefacts prove what they
hold, paths from input stay inside their folder, bad values are refused before any work."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, teacher_argv

from pkdlib import RunConfig, pkd_skip
from pkdlib.config import ConfigError
from pkdlib.paths import Workspace, WorkspaceError
from pkdlib.records import read_record, reusable_record
from pkdstudy.study import StudyError, StudyLock, clean


def files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_clean_refuses_a_folder_pkd_did_not_make(tmp_path):
    mine = tmp_path / "checkout"
    for rel in (".git/HEAD", ".venv/bin/python", "cache/notes.txt", "models/m.bin", "records/r.json", "src/a.py"):
        (mine / rel).parent.mkdir(parents=True, exist_ok=True)
        (mine / rel).write_text("mine")
    before = files(mine)
    for kw in (
        {"work": mine, "results": tmp_path / "none"},
        {"results": mine, "work": tmp_path / "none2", "everything": True},
    ):
        with pytest.raises(StudyError, match="was not made by pkd"):
            clean(log=lambda *a: None, **kw)
    assert files(mine) == before


def test_a_study_and_a_clean_on_the_same_work_exclude_each_other(tmp_path):
    work = tmp_path / "work"
    Workspace(tmp_path / "results", work).check_writable()
    (work / "cache" / "teacher-x.pt").write_text("x")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pkdstudy.study import StudyLock\n"
            f"with StudyLock({str(work)!r}):\n print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        other = tmp_path / "other-results"  # another --results, the same --work
        with pytest.raises(StudyError, match="another pkd command is running on"):
            clean(other, work, log=lambda *a: None)
        assert (work / "cache" / "teacher-x.pt").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_damaged_lock_holder_file_is_named_not_a_crash(tmp_path):
    (tmp_path / ".lock.holder").write_bytes(b"\xff\xfe pid 1")
    logs = []
    with StudyLock(tmp_path, logs.append):
        pass
    assert "ended without releasing its lock" in logs[0]


def test_teacher_weights_with_a_changed_middle_byte_are_not_reused(tiny_teacher):
    rec, ws = tiny_teacher
    path = ws.records / f"{rec['run_id']}.json"
    assert reusable_record(path, "teacher", lambda *a: None) is not None and rec["weights_fp"]
    weights = next(p for p in (ws.models / rec["run_id"]).glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    original = bytes(data)
    data[len(data) // 2] ^= 0xFF
    try:
        weights.write_bytes(bytes(data))
        logs = []
        assert reusable_record(path, "teacher", logs.append) is None
        assert "not the ones its record wrote" in logs[0]
    finally:
        weights.write_bytes(original)


def test_a_token_cache_swapped_for_another_splits_is_rebuilt(tiny_bert, tiny_csv, tmp_path):
    from pkdlib.data import load_task, tokenize_split
    from pkdlib.models import load_tokenizer

    tok = load_tokenizer(str(tiny_bert))
    train, dev = (load_task("rt", s, str(tiny_csv)) for s in ("train", "dev"))
    tokenize_split(train, tok, 64, tmp_path)
    tokenize_split(dev, tok, 64, tmp_path)
    t_file, d_file = (next(tmp_path.glob(f"tok-rt-{s}-*.pt")) for s in ("train", "dev"))
    t_file.write_bytes(d_file.read_bytes())
    logs = []
    ts = tokenize_split(train, tok, 64, tmp_path, logs.append)
    assert "holds another split" in logs[0] and len(ts) == len(train)


def test_a_record_missing_fields_is_named_and_ignored(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"status": "complete", "config": {"method": "kd"}, "run_id": "r"}))
    logs = []
    assert read_record(p, logs.append) is None and "lacks" in logs[0] and str(p) in logs[0]


@pytest.mark.parametrize(
    "name, msg",
    [
        ("../../../x", "is not accepted"),
        ("a/b", "is not accepted"),
        ("cpu", "is a built-in profile"),
        ("", "is not accepted"),
    ],
)
def test_a_profile_name_is_confined_and_never_shadows_a_built_in(tmp_path, name, msg):
    from pkdstudy.plan import load_profile_file

    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "name": name,
                "description": "d",
                "tasks": ["rt"],
                "pretrained": "x",
                "teacher": {"epochs": 1},
                "students": [{"method": ["ft"]}],
                "speedup": None,
                "needs": "n",
            }
        )
    )
    with pytest.raises(StudyError, match=msg):
        load_profile_file(f)


@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"tasks": "rt"}, "'tasks' must be a non-empty list"),
        ({"tasks": []}, "'tasks' must be a non-empty list"),
        ({"teacher": "x"}, "'teacher' must be a non-empty dict"),
    ],
)
def test_a_malformed_profile_file_is_refused_naming_the_key(tmp_path, bad, msg):
    from pkdstudy.plan import load_profile_file

    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "name": "mine",
                "description": "d",
                "tasks": ["rt"],
                "pretrained": "x",
                "teacher": {"epochs": 1},
                "students": [{"method": ["ft"]}],
                "speedup": None,
                "needs": "n",
                **bad,
            }
        )
    )
    with pytest.raises(StudyError, match=msg):
        load_profile_file(f)
    assert not (tmp_path / "missing.json").exists()
    with pytest.raises(StudyError, match="does not exist"):
        load_profile_file(tmp_path / "missing.json")


def test_values_beyond_what_the_libraries_and_model_accept_are_refused(tiny_bert):
    with pytest.raises(ConfigError, match=r"seed=4294967296 must be in \[0, 2\*\*32\)"):
        RunConfig(method="teacher", seed=2**32)
    cfg = RunConfig(method="teacher", pretrained=str(tiny_bert), max_length=1_000_000_000)
    with pytest.raises(ConfigError, match="exceeds the model's 128 positions; accepted: 3 to 128"):
        cfg.check_models()
    with pytest.raises(WorkspaceError, match="results folder is empty"):
        Workspace("", "work")


def test_zero_workers_is_refused(capsys):
    from pkdstudy.study import main

    assert main(["--profile", "quick", "--dry-run", "--workers", "0"]) == 2
    assert "--workers=0" in capsys.readouterr().err


def test_a_bf16_run_on_a_cpu_without_native_bf16_is_refused_before_it_starts(monkeypatch):
    import pkdlib.models as M
    from pkdstudy.study import LocalRunner, _check_bf16

    monkeypatch.setattr(M, "native_bf16_cpu", lambda: False)
    monkeypatch.delenv("PKD_ALLOW_EMULATED_BF16", raising=False)
    cfg = RunConfig(method="teacher", precision="bf16", device="cpu")
    with pytest.raises(StudyError, match="no native bf16"):
        _check_bf16(cfg, LocalRunner(1))
    _check_bf16(cfg.replace(precision="fp32"), LocalRunner(1))  # fp32: nothing to say
    monkeypatch.setenv("PKD_ALLOW_EMULATED_BF16", "1")
    _check_bf16(cfg, LocalRunner(1))
    monkeypatch.setattr(M, "native_bf16_cpu", lambda: True)
    monkeypatch.delenv("PKD_ALLOW_EMULATED_BF16")
    _check_bf16(cfg, LocalRunner(1))


def test_report_on_a_truncated_manifest_or_record_names_the_file(tmp_path):
    from pkdstudy.report import ReportError, load_study

    (tmp_path / "records").mkdir()
    (tmp_path / "manifest-x.json").write_text('{"records": ["a"')
    with pytest.raises(ReportError, match=r"manifest-x.json is damaged \(JSONDecodeError"):
        load_study(tmp_path, "x")
    (tmp_path / "manifest-x.json").write_text('{"records": ["a"]}')
    (tmp_path / "records" / "a.json").write_text('{"run_id": "a", "conf')
    with pytest.raises(ReportError, match=r"a record the manifest lists .*a.json is damaged.*the run is redone"):
        load_study(tmp_path, "x")


def test_a_refused_run_makes_no_folder(tmp_path, tiny_bert):
    import csv

    from pkdlib.data import DataError
    from pkdlib.runs import run

    with open(tmp_path / "one.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"]] + [[f"a fine film {i}", "pos"] for i in range(40)])
    ws = Workspace(tmp_path / "results", tmp_path / "work")
    with pytest.raises(DataError, match="one label only"):
        run(
            RunConfig(task="mine", method="teacher", pretrained=str(tiny_bert), train_file=str(tmp_path / "one.csv")),
            ws,
            progress=False,
            log=lambda *a: None,
        )
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_numpy_numbers_are_read_as_python_numbers():
    import numpy as np

    cfg = RunConfig(method="teacher", seed=np.int64(7), lr=np.float32(1e-4), epochs=np.int32(2))
    assert cfg.seed == 7 and type(cfg.seed) is int and type(cfg.lr) is float and type(cfg.epochs) is int
    with pytest.raises(ConfigError, match=r"seed=-1 must be in \[0, 2\*\*32\)"):  # named as a number, not np.int64(-1)
        RunConfig(method="teacher", seed=np.int64(-1))


def test_saved_weights_and_failed_notebooks_follow_the_umask(tiny_teacher, tmp_path):
    import os
    import stat

    from pkdlib.files import atomic_write
    from pkdlib.records import saved_model_dir

    rec, _ = tiny_teacher
    mask = os.umask(0)
    os.umask(mask)
    want = 0o666 & ~mask
    for p in Path(saved_model_dir(rec)).iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == want, p.name  # transformers 5 writes model.safetensors 0600

    def fail(tmp):
        Path(tmp).write_text("half a notebook")
        raise RuntimeError("kernel died")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "run.ipynb", fail, keep_failed=tmp_path / "run.failed.ipynb")
    assert stat.S_IMODE((tmp_path / "run.failed.ipynb").stat().st_mode) == want


def test_a_binary_data_file_is_refused_naming_it(tmp_path):
    from pkdlib.data import DataError, load_data

    (tmp_path / "reviews.csv").write_bytes(b"text,label,source\n\x89PNG\r\n\x1a\n\x00\xff,1,rotten_tomatoes\n")
    with pytest.raises(DataError, match=r"reviews.csv is not UTF-8 text"):
        load_data(RunConfig(method="teacher", data_dir=str(tmp_path / "reviews.csv")))


# ------------------------------------------------------------------ issue 37: nothing of the user's is deleted
# (the three data-loss paths: each test failed on the code before the fix, 0bd9c00)


def _export(rec, out, **kw):
    from pkdlib.export import export_run

    return export_run(rec, out, log=lambda *a: None, **kw)


def test_1a_a_reexport_keeps_what_the_user_added_and_refuses_naming_it(tiny_teacher, tmp_path):
    from pkdlib.export import ExportError

    rec, _ = tiny_teacher
    out = tmp_path / "export"
    _export(rec, out)
    (out / "notes.txt").write_text("my notes")
    (out / "eval").mkdir()
    (out / "eval" / "scores.csv").write_text("mine")
    with pytest.raises(ExportError, match=r"notes.txt \(not written by pkd\)"):
        _export(rec, out)
    assert (out / "notes.txt").read_text() == "my notes" and (out / "eval" / "scores.csv").read_text() == "mine"
    (out / "notes.txt").unlink()
    shutil.rmtree(out / "eval")
    card = (out / "README.md").read_text() + "\nmy edit\n"
    (out / "README.md").write_text(card)
    with pytest.raises(ExportError, match=r"README.md \(changed since pkd wrote it\)"):
        _export(rec, out)
    assert (out / "README.md").read_text() == card
    (out / "README.md").write_text(card.removesuffix("\nmy edit\n"))  # as pkd wrote it: replaced
    m = _export(rec, out)
    assert sorted(m["files"]) == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "pkd-export.json"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary left beside it


def test_1b_train_never_adopts_a_folder_holding_the_users_files_and_clean_leaves_it(
    tmp_path, tiny_bert, tiny_csv, monkeypatch, capsys
):
    from pkdlib.cli import main as pkd
    from pkdstudy.cli import main as pkd_study

    mine = tmp_path / "project"
    for rel in ("models/mine.bin", "cache/notes.txt", "records/r.json"):
        (mine / rel).parent.mkdir(parents=True, exist_ok=True)
        (mine / rel).write_text("mine")
    before = files(mine)
    monkeypatch.chdir(mine)
    code = pkd(teacher_argv(tiny_bert, tiny_csv, ".", ".", "--epochs", "1", "--batch-size", "32", "--no-progress"))
    err = capsys.readouterr().err
    assert code == 2 and "already holds files pkd did not write (cache, models, records)" in err, err
    assert files(mine) == before  # nothing written, nothing marked
    assert pkd_study(["clean", "--results", ".", "--work", "."]) == 2
    assert "was not made by pkd" in capsys.readouterr().err and files(mine) == before


def test_1c_a_folder_created_while_an_export_is_built_is_never_deleted(tiny_teacher, tmp_path, monkeypatch):
    import pkdlib.export as E
    from pkdlib.export import ExportError

    rec, _ = tiny_teacher
    out, build = tmp_path / "export", E._build

    def build_then_the_user_makes_the_folder(*a, **k):
        m = build(*a, **k)
        out.mkdir()
        (out / "mine.txt").write_text("made meanwhile")
        return m

    monkeypatch.setattr(E, "_build", build_then_the_user_makes_the_folder)
    with pytest.raises(ExportError, match="not an export of pkd's"):
        _export(rec, out)
    assert files(out) == ["mine.txt"] and (out / "mine.txt").read_text() == "made meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # its temporary is gone too


# ------------------------------------------------------------------ issue 37: nothing damaged is used


def test_edited_results_of_a_record_are_refused_naming_it(tiny_teacher, tmp_path):
    from pkdlib.records import load_records, seal

    rec, ws = tiny_teacher
    assert rec["seal"] and rec["schema"] == 2
    path = tmp_path / f"{rec['run_id']}.json"
    edited = json.loads((ws.records / path.name).read_text())
    edited["test"]["test"]["accuracy"] = 0.99
    path.write_text(json.dumps(edited))
    logs = []
    assert reusable_record(path, "teacher", logs.append) is None and load_records(tmp_path, logs.append) == []
    assert str(path) in logs[0] and "its contents are not the ones pkd wrote" in logs[0]
    from pkdstudy.report import ReportError, load_study  # nor reported

    (tmp_path / "records").mkdir()
    shutil.copy(path, tmp_path / "records" / path.name)
    (tmp_path / "manifest-x.json").write_text(json.dumps({"records": [rec["run_id"]]}))
    with pytest.raises(ReportError, match=f"record {path.name}: its contents are not the ones pkd wrote"):
        load_study(tmp_path, "x")
    unsealed = {k: v for k, v in edited.items() if k != "seal"}  # its seal removed as well: refused too
    path.write_text(json.dumps(unsealed))
    assert read_record(path, logs.append) is None and "it has no seal (schema 2 records carry one)" in logs[-1]
    path.write_text(json.dumps(seal(json.loads((ws.records / path.name).read_text()))))  # rewritten by code
    assert reusable_record(path, "teacher", logs.append) is not None


def test_student_weights_damaged_after_training_are_never_exported(tiny_teacher, tmp_path):
    from pkdlib.export import ExportError
    from pkdlib.records import seal

    rec, _ = tiny_teacher
    model = shutil.copytree(rec["model_dir"], tmp_path / "model")
    copy = seal({**rec, "model_dir": str(model)})
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    start, n = len(data) // 4, min(64 * 1024, len(data) // 2)
    data[start : start + n] = bytes(b ^ 0xFF for b in data[start : start + n])  # 64 KiB inverted
    weights.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="are not the ones its record wrote"):
        _export(copy, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_a_damaged_teacher_given_by_folder_is_refused_before_any_run(tiny_teacher, tiny_bert, tiny_csv, tmp_path):
    from pkdlib.runs import run
    from pkdlib.weights import WEIGHTS_FILE, WeightsError, verified_fingerprint

    rec, _ = tiny_teacher
    teacher = shutil.copytree(rec["model_dir"], tmp_path / "teacher")
    assert (teacher / WEIGHTS_FILE).is_file() and verified_fingerprint(teacher) == rec["weights_fp"]
    weights = teacher / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    ws = Workspace(tmp_path / "results", tmp_path / "work")
    cfg = RunConfig(
        task="rt",
        method="kd",
        student_layers=2,
        pretrained=str(tiny_bert),
        data_dir=str(tiny_csv),
        teacher_dir=str(teacher),
        epochs=1,
        batch_size=16,
        device="cpu",
    )
    with pytest.raises(WeightsError, match=f"the weights in {teacher} are not the ones pkd wrote there"):
        run(cfg, ws, progress=False, log=lambda *a: None)
    assert not list(ws.records.glob("*.json"))


def _zero_inside(path: Path, needle: bytes, n: int) -> None:
    """Overwrite ``n`` bytes of ``path`` with zeros where ``needle`` (bytes of one array) lies."""
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0
    data[at : at + n] = bytes(n)
    path.write_bytes(bytes(data))


def test_a_teacher_cache_with_128_zeroed_bytes_is_named_and_never_trained_on(tmp_path):
    import torch

    from pkdlib.cache import CacheError, TeacherOutputs, load_or_compute_teacher_outputs

    torch.manual_seed(0)
    made = TeacherOutputs(torch.randn(64, 2), torch.randn(4, 64, 16), torch.randn(4, 64, 16))
    load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: made)
    path = next(tmp_path.glob("teacher-*.pt"))
    _zero_inside(path, made.cls[2].numpy().tobytes()[:64], 128)  # key and format intact
    logs, calls = [], []
    again = load_or_compute_teacher_outputs(
        tmp_path, "k" * 30, lambda: calls.append(1) or made, logs.append, uses=("cls", [1, 2])
    )
    assert calls and "its layer 2 of cls states do not match the checksum" in logs[0] and again is made
    # a block a run did not announce is checked when first read: refused, the file removed so the rerun rebuilds it
    _zero_inside(path, made.mean[3].numpy().tobytes()[:64], 128)
    t = load_or_compute_teacher_outputs(tmp_path, "k" * 30, lambda: 1 / 0, uses=("cls", [1]))
    t.gather({"index": torch.tensor([0, 5])}, [1, 2], "cls")  # intact blocks: read
    with pytest.raises(CacheError, match="layer 3 of mean states do not match"):
        t.gather({"index": torch.tensor([0, 5])}, [3], "mean")
    assert not path.exists()


def test_a_run_checks_the_teacher_layers_it_reads_when_it_opens_the_cache(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    """A pkd-skip run announces its teacher layers: a damaged block among them is found when the cache opens, and the
    cache rebuilt there, before training (it used to surface at the first batch as an error that ended the run)."""
    import torch
    from test_train import student_cfg

    from pkdlib.runs import run

    ws = Workspace(tmp_path / "results", tmp_path / "work")
    cfg = student_cfg(tiny_bert, tiny_csv, tiny_teacher[0], epochs=1)  # pkd-skip, 2 of the teacher's 4 layers
    first = run(cfg, ws, progress=False, log=lambda *a: None)
    path = next(ws.cache.glob("teacher-*.pt"))
    (layer,) = pkd_skip(4, 2)
    _zero_inside(path, torch.load(path, weights_only=True)["cls"][layer].numpy().tobytes()[:64], 128)
    logs = []
    again = run(cfg, ws, progress=False, log=logs.append, force=True)
    opened = [m for m in logs if str(path) in m]
    assert opened and f"its layer {layer} of cls states do not match the checksum" in opened[0]
    assert opened[0].endswith("recomputing") and again["test"] == first["test"]


def test_a_token_cache_with_1_kib_overwritten_is_named_and_rebuilt(tiny_bert, tiny_csv, tmp_path):
    import torch

    from pkdlib.data import load_task, tokenize_split
    from pkdlib.models import load_tokenizer

    tok = load_tokenizer(str(tiny_bert))
    train = load_task("rt", "train", str(tiny_csv))
    first = tokenize_split(train, tok, 64, tmp_path)
    path = next(tmp_path.glob("tok-rt-train-*.pt"))
    flat = torch.tensor([t for x in first.input_ids for t in x], dtype=torch.int32)
    _zero_inside(path, flat.numpy().tobytes()[200:264], 1024)
    logs = []
    again = tokenize_split(train, tok, 64, tmp_path, logs.append)
    assert "its arrays do not match the checksum written with them" in logs[0] and again.input_ids == first.input_ids


def test_the_committed_teachers_carry_a_weights_fingerprint_their_students_confirm():
    from pkdlib.records import load_records
    from pkdlib.weights import WEIGHTS_FILE, verified_fingerprint

    records = load_records(ROOT / "results" / "records", lambda *a: None)
    fps = {r["identity"].get("teacher_fp") for r in records}
    for name in ("rt-teacher-s0-9fbe25826b", "rt-teacher-s1-5ba972450f", "rt-teacher-s2-d8957a87be"):  # committed
        d = ROOT / "work" / "models" / name
        rec = next(r for r in records if r["run_id"] == d.name)
        listing = json.loads((d / WEIGHTS_FILE).read_text())
        assert rec["weights_fp"] == listing["weights_fp"] == verified_fingerprint(d) and rec["weights_fp"] in fps


# ------------------------------------------------------------------ issue 37: what a shipped file carries


def test_labels_are_escaped_in_the_model_card():
    from pkdlib.card import model_card

    split = {"n": 2, "checksum": "0" * 64}
    per_class = [
        {"label": "<script>alert(1)</script>", "n": 1, "predicted": 1, "accuracy": 1.0},
        {"label": "a|b\nc", "n": 1, "predicted": 1, "accuracy": 1.0},
    ]
    m = {
        "task": "t<b>x</b>",
        "label_names": ["<script>alert(1)</script>", "a|b\nc"],
        "pretrained": "p",
        "student_layers": 2,
        "teacher_layers": 4,
        "method": "kd",
        "objective": "o",
        "teacher_dir": None,
        "max_length": 32,
        "data": {"train": split},
        "dev": {},
        "test": {"test": {"accuracy": 1.0, "n": 2}},
        "majority_baseline": None,
        "parameters": {},
        "size_mib": {},
        "latency_ms_per_example": {},
        "latency_setting": "",
        "checks": {"pytorch": {"per_class": per_class}},
        "run_id": "r",
        "provenance": {"commit": "c", "hardware": "h"},
        "warnings": ["label 'a|b\nc' is never predicted"],
    }
    card = model_card(m).split("\n---\n", 1)[1]  # the rendered body (the YAML metadata is data, quoted by YAML)
    assert "<script>" not in card and "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "<b>" not in card
    table = [line for line in card.splitlines() if line.startswith("| ")]
    assert table and all(line.replace("\\|", "").count("|") in (3, 5) for line in table)  # 2 or 4 columns each
    assert "0: &lt;script&gt;alert(1)&lt;/script&gt;, 1: a\\|b c" in card
    assert "| a\\|b c | 1 |" in card  # the per-label table's cell


def test_an_export_follows_the_umask_and_removes_a_killed_exports_temporary_only(tiny_teacher, tmp_path):
    import os
    import stat
    import subprocess

    rec, _ = tiny_teacher
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / ".export.pkd-tmp.abc123"  # what a killed export left: pkd's name and marker, its pid gone
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"x" * 1000)
    (killed / ".pkd-temp").write_text(json.dumps({"pid": int(dead.stdout), "host": __import__("socket").gethostname()}))
    alike = tmp_path / ".export.pkd-tmp.mine"  # named alike, no marker: not pkd's
    alike.mkdir()
    (alike / "notes.txt").write_text("mine")
    mask = os.umask(0o022)
    try:
        _export(rec, tmp_path / "export")
    finally:
        os.umask(mask)
    assert not killed.exists() and (alike / "notes.txt").read_text() == "mine"
    for p in [tmp_path / "export", *(tmp_path / "export").rglob("*")]:
        want = 0o755 if p.is_dir() else 0o644
        assert stat.S_IMODE(p.stat().st_mode) == want, p
