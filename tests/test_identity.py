"""Run identity by meaning: records written before results versions stay reusable, refactors change no
identity, a record that is not what its file name says is redone."""

import json
import shutil

from conftest import ROOT
from test_train import QUIET, student_cfg

from pkdlib import RunConfig
from pkdlib.files import content_key
from pkdlib.identity import FIELDS_V1, LEGACY_OBJECTIVE_CODE, meaning
from pkdlib.records import locate_record, reusable_record
from pkdlib.runs import prepare, run


def test_every_config_field_of_version_1_is_listed():
    from dataclasses import fields

    assert set(FIELDS_V1) <= {f.name for f in fields(RunConfig)}


def test_a_new_field_at_its_default_changes_no_identity(monkeypatch):
    import pkdlib.identity as I

    cfg = RunConfig(method="teacher", device="cpu")
    old_code = {k: v for k, v in I.identity_config(cfg).items() if k != "bucket"}  # code that had no bucket field
    monkeypatch.setattr(I, "FIELDS_V1", tuple(f for f in FIELDS_V1 if f != "bucket"))  # bucket added since
    assert I.identity_config(cfg) == old_code  # at its default: the identity of the code before it
    assert I.identity_config(cfg.replace(bucket=False)) == {**old_code, "bucket": False}


def _as_legacy(path, code="a4d2cfc1489812c4"):
    """Rewrite a record as the code before results versions wrote it: objective_code and cache_key in the
    identity, the hash over them, the file named by that hash, and no seal (schema 1: records were sealed later)."""
    r = json.loads(path.read_text())
    r.pop("seal", None)
    r["schema"] = 1
    ident = {k: v for k, v in r["identity"].items() if k not in ("hash", "results_version")}
    ident.update(objective_code=code, cache_key=r["provenance"]["teacher_cache_key"])
    ident["hash"] = content_key(ident)
    r["identity"], r["run_id"] = ident, path.stem.rsplit("-", 1)[0] + "-" + ident["hash"][:10]
    new = path.with_name(r["run_id"] + ".json")
    new.write_text(json.dumps(r))
    path.unlink()
    return new


def test_a_record_from_before_results_versions_is_reused(tiny_bert, tiny_csv, tiny_teacher, ws):
    rec, _ = tiny_teacher
    cfg = student_cfg(tiny_bert, tiny_csv, rec, method="kd", epochs=1)
    first = run(cfg, ws, **QUIET)
    legacy = _as_legacy(ws.records / f"{first['run_id']}.json")
    logs = []
    again = run(cfg, ws, progress=False, log=logs.append)
    assert again["run_id"] == legacy.stem and any("[skip]" in m for m in logs)
    old = _as_legacy(legacy, code="b4c614650e587335")  # the one-epoch design's code: version 0, not reused
    assert LEGACY_OBJECTIVE_CODE["b4c614650e587335"] == 0
    assert locate_record(ws.records, cfg, prepare(cfg, ws, **{"log": lambda *a: None}).identity) != old


def test_a_record_copied_over_another_runs_name_is_redone(tiny_bert, tiny_csv, tiny_teacher, ws):
    rec, _ = tiny_teacher
    a = run(student_cfg(tiny_bert, tiny_csv, rec, method="kd", epochs=1, seed=1), ws, **QUIET)
    b_cfg = student_cfg(tiny_bert, tiny_csv, rec, method="kd", epochs=1, seed=2)
    b = run(b_cfg, ws, **QUIET)
    shutil.copy(ws.records / f"{a['run_id']}.json", ws.records / f"{b['run_id']}.json")
    logs = []
    again = run(b_cfg, ws, progress=False, log=logs.append)
    assert any("not of" in m and b["run_id"] in m for m in logs), logs
    assert (
        again["config"]["seed"] == 2
        and json.loads((ws.records / f"{b['run_id']}.json").read_text())["config"]["seed"] == 2
    )


def test_an_edited_record_is_not_reused(tiny_bert, tiny_csv, tiny_teacher, ws):
    rec, _ = tiny_teacher
    cfg = student_cfg(tiny_bert, tiny_csv, rec, method="ft", epochs=1)
    r = run(cfg, ws, **QUIET)
    path = ws.records / f"{r['run_id']}.json"
    d = json.loads(path.read_text())
    d["identity"]["config"]["lr"] = 1.0  # the identity no longer matches its hash
    path.write_text(json.dumps(d))
    logs = []
    assert reusable_record(path, "ft", logs.append, prepare(cfg, ws, log=lambda *a: None).identity) is None
    assert "does not match its hash" in logs[0]  # named as an identity edit (the seal covers the results too)
    d.pop("seal")
    d["schema"] = 1  # a record from before seals: the identity's own hash still catches the edit
    path.write_text(json.dumps(d))
    logs.clear()
    assert reusable_record(path, "ft", logs.append, prepare(cfg, ws, log=lambda *a: None).identity) is None
    assert "does not match its hash" in logs[0]


def test_the_committed_studies_are_found_by_the_current_code():
    """The committed full study's teacher and its first and last student are reused as they stand (the
    whole proof: `./run_all.sh --profile full --dry-run` says 0 to run)."""
    from pkdlib.paths import Workspace
    from pkdstudy.study import mark_reuse, plan

    items = plan("full", results=str(ROOT / "results"), work=str(ROOT / "work"))
    runs = [it for it in items if "config" in it.params]
    picked = [runs[0], runs[1], runs[-1]]
    mark_reuse(picked, str(ROOT / "results"), str(ROOT / "work"))
    m = json.loads((ROOT / "results" / "manifest-full.json").read_text())
    assert all(it.result.get("reusable") in m["records"] for it in picked), [it.result for it in picked]
    assert Workspace  # noqa: the workspace is the committed one, read only
    assert (
        meaning(json.loads((ROOT / "results" / "records" / f"{m['records'][1]}.json").read_text())["identity"])[
            "results_version"
        ]
        == 1
    )


def test_no_committed_record_holds_a_machine_path_and_every_identity_is_intact():
    """Records store paths relative to their checkout (the search and precision records were migrated by
    scripts/portable_record_paths.py, which says so in each); a record's stored hash is its identity's hash."""
    import json

    from pkdlib.identity import PATHS, intact

    files = sorted((ROOT / "results").glob("**/records/*.json"))
    assert len(files) > 100
    for f in files:
        r = json.loads(f.read_text())
        for cfg in (r["config"], r["identity"]["config"]):
            held = {k: cfg[k] for k in PATHS if isinstance(cfg.get(k), str) and cfg[k].startswith("/")}
            assert not held, f"{f.name}: {held}"
        assert intact(r["identity"]), f.name
    migrated = [f for f in files if "migrated" in json.loads(f.read_text())]
    assert (
        len(migrated) >= 26
    )  # search 20, precision check 6, and the verdicts students written before the portable-path fix


def test_auto_precision_enters_the_identity_and_the_record_resolved(monkeypatch):
    """'auto' is resolved when the configuration is made: an fp32 run on a CPU, bf16 on a GPU with native bf16, fp16
    on an older one (CUDA mocked). The identity holds the resolved precision, so an 'auto' run is the explicit run
    of that precision (on a CPU it reuses the fp32 record) and never shares a record with another precision."""
    import torch

    from pkdlib.identity import identity_config

    cpu = RunConfig(method="teacher", device="cpu", precision="auto")
    assert cpu.precision == "fp32" and identity_config(cpu) == identity_config(cpu.replace(precision="fp32"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for capability, want in (((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp16")):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: c)
        gpu = RunConfig(method="teacher", device="cuda", precision="auto")
        assert gpu.precision == want and gpu.to_dict()["precision"] == want, capability
        assert identity_config(gpu) == identity_config(gpu.replace(precision=want)) != identity_config(cpu)


def test_the_committed_records_keep_their_precision():
    """An explicit precision is never resolved: every committed record's configuration, made again by this code,
    has the precision its identity holds (fp32 stays fp32, bf16 stays bf16); none of them was an 'auto' run."""
    from pkdlib.identity import identity_config

    files = sorted((ROOT / "results").glob("**/records/*.json"))
    seen = set()
    for f in files:
        r = json.loads(f.read_text())
        cfg = RunConfig.from_dict(r["config"])
        assert cfg.precision == r["config"]["precision"] == r["identity"]["config"]["precision"], f.name
        assert identity_config(cfg)["precision"] == r["identity"]["config"]["precision"], f.name
        seen.add(cfg.precision)
    assert seen == {"fp32", "bf16"} and len(files) > 100
