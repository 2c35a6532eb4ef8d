"""Bad inputs and damaged files: each is named and rebuilt, skipped or refused with an ``error:`` line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, teacher_argv

from pkdlib import RunConfig
from pkdlib.models import ModelError, check_weight_files
from pkdlib.paths import Workspace, WorkspaceError
from pkdlib.records import load_records, reusable_record, seal
from pkdlib.runs import run

QUIET = dict(progress=False, log=lambda *a: None)


def student(tiny_bert, tiny_csv, teacher_dir, **kw):
    return RunConfig(
        **{
            **dict(
                task="rt",
                method="kd",
                student_layers=2,
                pretrained=str(tiny_bert),
                data_dir=str(tiny_csv),
                teacher_dir=str(teacher_dir),
                epochs=1,
                lr=1e-3,
                batch_size=16,
                device="cpu",
            ),
            **kw,
        }
    )


def test_truncated_token_cache_is_named_and_rebuilt(tiny_bert, tiny_csv, tiny_teacher, ws):
    cfg = student(tiny_bert, tiny_csv, tiny_teacher[0]["model_dir"])
    first = run(cfg, ws, **QUIET)
    for f in ws.cache.glob("tok-*.pt"):
        f.write_bytes(f.read_bytes()[:40])
    logs = []
    again = run(cfg, ws, progress=False, log=logs.append)  # the run is reused, its tokens are rebuilt
    assert again == first and any("token cache" in m and "unreadable" in m and "rebuilding" in m for m in logs)
    run(cfg, ws, progress=False, log=logs.append)
    assert sum("rebuilding" in m for m in logs) == 3  # train, dev, test once each, then intact


@pytest.mark.parametrize("content", ["", '{"status": "compl', "[1, 2]", '{"status": "complete"}'])
def test_damaged_record_is_named_and_its_run_redone(tiny_bert, tiny_csv, tiny_teacher, ws, content):
    cfg = student(tiny_bert, tiny_csv, tiny_teacher[0]["model_dir"])
    rec = run(cfg, ws, **QUIET)
    path = ws.records / f"{rec['run_id']}.json"
    path.write_text(content)
    logs = []
    assert reusable_record(path, "kd", logs.append) is None and str(path) in logs[0]
    assert load_records(ws.records, log=logs.append) == []
    redone = run(cfg, ws, **QUIET)
    assert redone["run_id"] == rec["run_id"] and json.loads(path.read_text())["status"] == "complete"


def test_truncated_teacher_weights_refused_before_training_and_retrained_by_the_study(
    tiny_bert, tiny_csv, tiny_teacher, tmp_path
):
    teacher = shutil.copytree(tiny_teacher[0]["model_dir"], tmp_path / "teacher")
    weights = teacher / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match=f"model weights {weights} are damaged"):
        check_weight_files(teacher)
    ws = Workspace(tmp_path / "results", tmp_path / "work")
    with pytest.raises(Exception, match="are damaged"):
        run(student(tiny_bert, tiny_csv, teacher), ws, **QUIET)
    assert not list(ws.records.glob("*.json"))
    # a teacher record whose weights are damaged is not reused: the teacher reruns before any student
    rec, tws = tiny_teacher
    model = tmp_path / "copy"
    shutil.copytree(rec["model_dir"], model)
    fake = seal({**rec, "model_dir": str(model)})  # moved by code, which seals again (an edit by hand is refused)
    path = tmp_path / f"{rec['run_id']}.json"
    path.write_text(json.dumps(fake))
    assert reusable_record(path, "teacher", lambda *a: None) is not None
    (model / "model.safetensors").write_bytes(b"\0" * 10)
    logs = []
    assert reusable_record(path, "teacher", logs.append) is None and "damaged" in logs[0]


def test_read_only_or_blocked_results_fail_before_training(tiny_bert, tiny_csv, tiny_teacher, tmp_path):
    if os.geteuid() == 0:
        blocked = tmp_path / "results"
        blocked.write_text("a file where the results folder should be")
    else:
        blocked = tmp_path / "results"
        (blocked / "records").mkdir(parents=True)
        os.chmod(blocked / "records", 0o500)
    ws = Workspace(blocked, tmp_path / "work")
    with pytest.raises(WorkspaceError, match=f"cannot write to {blocked}"):
        run(student(tiny_bert, tiny_csv, tiny_teacher[0]["model_dir"]), ws, **QUIET)
    out = subprocess.run(
        [sys.executable, "-m", "pkdlib.cli", *teacher_argv(tiny_bert, tiny_csv, blocked, tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.startswith("error: cannot write to") and "Traceback" not in out.stderr


def test_tiny_csv_and_bad_profile_give_error_lines(tmp_path, tiny_bert):
    csv = tmp_path / "three.csv"
    csv.write_text("text,label,source\ngood,1,rotten_tomatoes\nbad,0,rotten_tomatoes\nfine,1,rotten_tomatoes\n")
    out = subprocess.run(
        [sys.executable, "-m", "pkdlib.cli", *teacher_argv(tiny_bert, csv, tmp_path / "r", tmp_path / "w")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "leave the dev split empty" in out.stderr and "Traceback" not in out.stderr
    for bad, msg in [
        ({"tasks": ["sst-9"]}, "task='sst-9' is not accepted"),
        ({"students": [{"method": "kd", "student_layers": 0}]}, "student_layers=0"),
    ]:
        spec = {
            "name": "bad",
            "description": "d",
            "tasks": ["rt"],
            "pretrained": str(tiny_bert),
            "needs": "-",
            "teacher": {"epochs": 1},
            "students": [{"method": "kd"}],
            "speedup": None,
            **bad,
        }
        (tmp_path / "bad.json").write_text(json.dumps(spec))
        out = subprocess.run(
            [sys.executable, "-m", "pkdstudy.study", "--profile-file", str(tmp_path / "bad.json"), "--dry-run"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr, out.stderr


# ------------------------------------------------------------------ issue 37: early refusals, no tracebacks


def _main(args, capsys, module="pkdlib.cli"):
    import importlib

    code = importlib.import_module(module).main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("failure", ["OSError", "SafetensorError"])
def test_no_space_while_saving_weights_is_one_error_line_and_leaves_no_temporary(
    tiny_bert, tiny_csv, tmp_path, monkeypatch, capsys, failure
):
    import errno

    import transformers.modeling_utils as MU
    from safetensors import SafetensorError

    def disk_full(tensors, filename, *a, **k):
        with open(filename, "wb") as f:
            f.write(b"\0" * 100)  # half a file, then the disk is full
        if failure == "OSError":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(MU, "safe_save_file", disk_full)
    res, work = tmp_path / "results", tmp_path / "work"
    code, err = _main(teacher_argv(tiny_bert, tiny_csv, res, work, "--epochs", "1", "--no-progress"), capsys)
    assert code == 2 and err.startswith(f"error: cannot write {work / 'models'}/") and "Traceback" not in err, err
    assert "No space left on device" in err and "no partial file was left" in err
    assert list((work / "models").iterdir()) == [] and list(res.glob("records/*")) == []


def test_no_space_in_an_atomic_write_removes_its_temporary(tmp_path):
    import errno

    from pkdlib.errors import SaveError, guarded
    from pkdlib.files import atomic_write

    def full(tmp):
        Path(tmp).write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SaveError, match="No space left on device"):
        atomic_write(tmp_path / "record.json", full)
    assert list(tmp_path.iterdir()) == []
    assert guarded(lambda: atomic_write(tmp_path / "record.json", full)) == 2


def test_one_class_data_is_refused_by_pkd_train_data_dir_too(tmp_path, tiny_bert, capsys):
    import csv

    with open(tmp_path / "one.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [["text", "label", "source"]] + [[f"a fine film {i}", 1, "rotten_tomatoes"] for i in range(80)]
        )
    code, err = _main(teacher_argv(tiny_bert, tmp_path / "one.csv", tmp_path / "r", tmp_path / "w"), capsys)
    assert code == 2 and "has one label only ('positive'); a classifier needs at least two" in err, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "bad, msg",
    [
        (
            {"speedup": {"layers": [9], "batch_size": 8, "seq_len": 16, "repeats": 1, "warmup": 0}},
            "speedup.layers [9] not accepted: a 4-layer teacher keeps 1 to 3 layers",
        ),
        ({"speedup": {"layers": [2], "batch_sise": 8}}, "unknown parameter 'batch_sise' (did you mean 'batch_size'?)"),
        ({"speedup": 5}, "'speedup' must be null or an object"),
        ({"students": [5]}, "students[0] must be an object of run settings"),
        ({"students": [{"method": "kd", "student_layers": [9]}]}, "student_layers [9] not accepted: a 4-layer teacher"),
        ({"students": [{"method": "kd", "teacher_seed": "one"}]}, "students[0].teacher_seed must be an integer"),
        ({"tasks": [7]}, "'tasks' must name tasks (strings)"),
    ],
)
def test_profile_values_are_refused_before_the_first_run(tmp_path, tiny_bert, capsys, bad, msg):
    spec = {
        "name": "badvalues",
        "description": "d",
        "tasks": ["rt"],
        "pretrained": str(tiny_bert),
        "needs": "-",
        "teacher": {"epochs": 1},
        "students": [{"method": "kd", "student_layers": 2}],
        "speedup": None,
        **bad,
    }
    (tmp_path / "p.json").write_text(json.dumps(spec))
    code, err = _main(
        [
            "--profile-file",
            str(tmp_path / "p.json"),
            "--dry-run",
            "--results",
            str(tmp_path / "r"),
            "--work",
            str(tmp_path / "w"),
        ],
        capsys,
        "pkdstudy.study",
    )
    assert code == 2 and msg in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


def test_distill_refuses_another_tasks_export_at_plan_time(tmp_path, tiny_bert, tiny_csv):
    from pkdlib.distill import plan
    from pkdlib.export import ExportError

    out = tmp_path / "export"
    out.mkdir()
    (out / "pkd-export.json").write_text(
        json.dumps({"task": "other", "run_id": "other-1", "files": {}, "data": {"train": {"n": 3, "checksum": "x"}}})
    )
    with pytest.raises(ExportError, match="holds the export of another task or training data"):
        plan({"train_file": str(tiny_csv)}, layers=2, pretrained=str(tiny_bert), out=out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"notes.txt \(not written by pkd\)"):
        plan({"train_file": str(tiny_csv)}, layers=2, pretrained=str(tiny_bert), out=out)
