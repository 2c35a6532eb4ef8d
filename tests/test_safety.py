"""Nothing lost, nothing silently wrong: pkd clean touches only pkd's folders, reused artefacts prove what they
hold, paths from input stay inside their folder, bad values are refused before any work."""
import json
from pathlib import Path
import subprocess
import sys

import pytest
from conftest import ROOT

from pkdlib import RunConfig
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
    for kw in ({"work": mine, "results": tmp_path / "none"}, {"results": mine, "work": tmp_path / "none2",
                                                               "everything": True}):
        with pytest.raises(StudyError, match="was not made by pkd"):
            clean(log=lambda *a: None, **kw)
    assert files(mine) == before


def test_a_study_and_a_clean_on_the_same_work_exclude_each_other(tmp_path):
    work = tmp_path / "work"
    Workspace(tmp_path / "results", work).check_writable()
    (work / "cache" / "teacher-x.pt").write_text("x")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pkdstudy.study import StudyLock\n"
                               f"with StudyLock({str(work)!r}):\n print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        other = tmp_path / "other-results"  # another --results, the same --work
        with pytest.raises(StudyError, match="another study is running on"):
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


@pytest.mark.parametrize("name, msg", [("../../../x", "is not accepted"), ("a/b", "is not accepted"),
                                       ("cpu", "is a built-in profile"), ("", "is not accepted")])
def test_a_profile_name_is_confined_and_never_shadows_a_built_in(tmp_path, name, msg):
    from pkdstudy.plan import load_profile_file
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": name, "description": "d", "tasks": ["rt"], "pretrained": "x",
                             "teacher": {"epochs": 1}, "students": [{"method": ["ft"]}], "speedup": None,
                             "needs": "n"}))
    with pytest.raises(StudyError, match=msg):
        load_profile_file(f)


@pytest.mark.parametrize("bad, msg", [({"tasks": "rt"}, "'tasks' must be a non-empty list"),
                                      ({"tasks": []}, "'tasks' must be a non-empty list"),
                                      ({"teacher": "x"}, "'teacher' must be a non-empty dict")])
def test_a_malformed_profile_file_is_refused_naming_the_key(tmp_path, bad, msg):
    from pkdstudy.plan import load_profile_file
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": "mine", "description": "d", "tasks": ["rt"], "pretrained": "x",
                             "teacher": {"epochs": 1}, "students": [{"method": ["ft"]}], "speedup": None,
                             "needs": "n", **bad}))
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
        run(RunConfig(task="mine", method="teacher", pretrained=str(tiny_bert), train_file=str(tmp_path / "one.csv")),
            ws, progress=False, log=lambda *a: None)
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
