"""Plan and run a profile of the study: teacher -> students -> speed-up -> report, each one an
executed notebook under results/runs/, each training run one record under results/records/.

    python -m pkdlib.study --profile cpu [--dry-run] [--force]     (what ./run_all.sh and `pkd study` call)

Resumable: a run whose record exists for the same identity is skipped (``records.reusable_record``,
the rule ``runs.run`` applies too). A failed run stops the study with its error; everything finished
before it stays. One study at a time per results/ folder (a lock names the holder). A profile with a
``results`` entry (``quick``) writes there, apart from the committed study.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .files import atomic_write_json
from .methods import METHODS
from .paths import Workspace
from .profiles import PROFILES

#: cost model for --dry-run estimates, seconds on the 2-core reference machine (fp32, rt lengths):
#: one epoch = n_train * (EX_BASE + EX_LAYER * layers) * (hidden / 384)**2; plus a notebook's start-up.
EX_BASE, EX_LAYER, NOTEBOOK_S, EVAL_FRACTION = 0.002, 0.0015, 18.0, 0.08
TRAIN_SIZES = {"rt": 6398, "imdb": 20000, "sst2": 67349, "mrpc": 3668, "qqp": 363846, "mnli": 392702,
               "qnli": 104743, "rte": 2490}


class StudyError(RuntimeError):
    """A known failure of the study; printed as ``error: ...`` with exit status 2."""


@dataclass
class Item:
    kind: str                 # teacher | student | speedup | report
    task: str
    params: dict              # notebook parameters (for runs: {"config": {...}} and where to write)
    estimate_s: float = 0.0
    label: str = ""
    result: dict = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        return {"teacher": "01_teacher", "student": "02_student", "speedup": "03_speedup", "report": "04_report"}[self.kind]


def _grid(spec: dict):
    """Cross every list-valued entry of a grid spec (scikit-learn's ParameterGrid)."""
    from sklearn.model_selection import ParameterGrid
    return ParameterGrid({k: v if isinstance(v, list) else [v] for k, v in spec.items()})


def _estimate(epochs, n_train, layers, hidden=384):
    scale = (hidden / 384) ** 2
    return epochs * n_train * (EX_BASE + EX_LAYER * layers) * scale * (1 + EVAL_FRACTION) + NOTEBOOK_S


def default_results(profile: str) -> str:
    """Where a profile writes unless told: its own ``results`` entry (quick: results/quick, not committed)."""
    return PROFILES[profile].get("results", "results") if profile in PROFILES else "results"


def plan(profile: str, grid: str = "best", results=None, work="work") -> list[Item]:
    """Expand a profile into an ordered list of items (teachers first, report last)."""
    if profile not in PROFILES:
        raise StudyError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if grid not in ("best", "full"):
        raise StudyError(f"unknown grid {grid!r}; accepted: best, full")
    P = PROFILES[profile]
    common = {"results_dir": str(results or default_results(profile)), "work_dir": str(work)}
    hidden = 768 if P["pretrained"] == "bert-base-uncased" else 384
    items = []
    for task in P["tasks"]:
        t = {"task": task, "pretrained": P["pretrained"], "method": "teacher", **P["teacher"]}
        rc = _config(t, f"profile {profile!r}, teacher")
        n = rc.max_train_examples or TRAIN_SIZES.get(task, 10_000)
        items.append(Item("teacher", task, {"config": t, **common},
                          _estimate(rc.epochs, n, 12 if hidden == 768 else 6, hidden), f"{task} teacher"))
        items += _students(profile, P, task, grid, common, hidden)
    _disambiguate(items)
    if P.get("speedup"):
        sp = dict(P["speedup"])
        items.append(Item("speedup", P["tasks"][0], {"pretrained": P["pretrained"], **sp, **common,
                                                     "profile": profile},
                          30.0 + 3 * len(sp["layers"]) * sp["repeats"], "inference speed-up"))
    items.append(Item("report", P["tasks"][0], {**common, "profile": profile}, 25.0, "tables and figures"))
    return items


def _students(profile, P, task, grid, common, hidden) -> list[Item]:
    items, seen = [], set()
    for spec in P["students"]:
        for s in _grid(spec):
            s = dict(s)
            if s.pop("best_official", False):
                from .reference import best_official_config
                s.update(best_official_config(task, s["student_layers"]))
            variants = [{**s, **g} for g in _grid(P["full_grid"])] if grid == "full" and "full_grid" in P else [s]
            for v in variants:
                cfg = {"task": task, "pretrained": P["pretrained"], "teacher_dir": f"@teacher:{task}", **v}
                rc = _config(cfg, f"profile {profile!r}, student {v}")
                key = json.dumps(rc.to_dict(), sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                n = rc.max_train_examples or TRAIN_SIZES.get(task, 10_000)
                label = f"{task} {rc.method} L{rc.student_layers} seed {rc.seed}"
                items.append(Item("student", task, {"config": cfg, **common},
                                  _estimate(rc.epochs, n, rc.student_layers, hidden), label))
    return items


def _config(d: dict, where: str) -> RunConfig:
    """Validate a profile's run now, before any training; the message says which entry is wrong."""
    try:
        return RunConfig.from_dict(d)
    except (ValueError, TypeError) as e:
        raise StudyError(f"{where}: {e}") from None


def _disambiguate(items: list[Item]):
    """Where a grid gives several runs the same label (a hyper-parameter search), add what differs."""
    by_label: dict[str, list[Item]] = {}
    for it in items:
        by_label.setdefault(it.label, []).append(it)
    short = {"lr": "lr", "epochs": "ep", "temperature": "T", "alpha": "alpha", "beta": "beta", "normalize": "norm"}
    for same in by_label.values():
        if len(same) > 1:
            varying = [k for k in short if len({str(it.params["config"].get(k)) for it in same}) > 1]
            for it in same:
                it.label += " " + " ".join(f"{short[k]} {it.params['config'].get(k)}" for k in varying)


def describe(profile: str, items: list[Item]) -> str:
    P = PROFILES[profile]
    lines = [f"profile {profile}: {P['description']}", f"needs: {P['needs']}",
             f"writes: {items[-1].params['results_dir']}/", ""]
    for i, it in enumerate(items, 1):
        extra = ""
        if "config" in it.params:
            c, m = it.params["config"], METHODS[it.params["config"]["method"]]
            keys = (["epochs", "lr"] + (["temperature", "alpha"] if m.uses_teacher else [])
                    + (["beta", "normalize"] if m.uses_pt else []) + ["max_train_examples"])
            extra = " ".join(f"{k}={c[k]}" for k in keys if c.get(k) is not None)
        lines.append(f"{i:4d}. {it.kind:8s} {it.label:32s} ~{it.estimate_s / 60:5.1f} min  {extra}")
    total = sum(it.estimate_s for it in items)
    counts = {k: sum(1 for it in items if it.kind == k) for k in ("teacher", "student", "speedup", "report")}
    lines += ["", f"{len(items)} notebooks ({counts['teacher']} teacher, {counts['student']} student, "
                  f"{counts['speedup']} speed-up, {counts['report']} report); estimated {total / 60:.0f} min "
                  f"on the 2-core reference CPU" + (" (GPU profile: the estimate is for CPU and only indicative)"
                                                    if profile == "paper" else "")]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- lock
class StudyLock:
    """An exclusive lock (filelock) on results/.lock; a second study, or ``pkd clean``, on the same folder is
    refused, naming the holder (written to results/.lock.holder). A holder file left by a killed study is
    reported and taken over (the operating system released its lock when the process died)."""

    def __init__(self, results, log=print):
        from filelock import FileLock
        self.dir, self.log = Path(results), log
        self.holder = self.dir / ".lock.holder"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.dir / ".lock"), timeout=0)

    def __enter__(self):
        from filelock import Timeout
        try:
            self.lock.acquire()
        except Timeout:
            who = self.holder.read_text().strip() if self.holder.is_file() else "unknown process"
            raise StudyError(f"another study is running on {self.dir}/ ({who}); wait for it to finish "
                             f"or use another --results folder") from None
        if self.holder.is_file() and self.holder.read_text().strip():
            self.log(f"note: a previous study on {self.dir}/ ended without releasing its lock "
                     f"({self.holder.read_text().strip()}); taking it over")
        self.holder.write_text(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}, "
                               f"command {' '.join(sys.argv)}\n")
        return self

    def __exit__(self, *exc):
        self.holder.unlink(missing_ok=True)
        self.lock.release()


# ------------------------------------------------------------------------------------------- run
def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@contextlib.contextmanager
def heartbeat(say, every: float = 60.0):
    """Call ``say()`` every ``every`` seconds while the block runs: a log never stays silent for minutes."""
    stop = threading.Event()
    t = threading.Thread(target=lambda: [say() for _ in iter(lambda: stop.wait(every), True)], daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


_interrupted = False  # set by main()'s SIGINT handler


def _on_sigint(signum, frame):
    # remember the interrupt: a KeyboardInterrupt raised inside papermill's event loop can be swallowed
    # there, and the study must still stop at the next run boundary instead of finishing the grid
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


class Study:
    """One execution of a profile's items: runs or reuses each, keeps the manifest."""

    def __init__(self, profile, items, results, work, force, log):
        self.profile, self.items, self.force, self.log = profile, items, force, log
        self.ws = Workspace(results, work)
        self.teachers: dict[str, dict] = {}
        self.records: dict[str, float] = {}   # run id -> seconds inside the run (from its record)
        self.ran, self.reused, self.t0 = [], [], time.time()
        self.remaining = sum(it.estimate_s for it in items)
        self.done_est = self.done_real = 0.0
        prev = _read_json(self.ws.results / f"manifest-{profile}.json")
        # an unfinished earlier execution (interrupted or failed) is a part of this study: its time counts
        self.parts = prev.get("parts", []) if prev and prev.get("status") != "complete" else []

    def manifest(self, status) -> dict:
        from .records import git_state, hardware, versions
        part = {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.t0)),
                "duration_s": round(time.time() - self.t0, 1), "ran": len(self.ran), "reused": len(self.reused)}
        parts = self.parts + [part]
        return {
            "profile": self.profile, "description": PROFILES[self.profile]["description"], "status": status,
            "smoke_test": PROFILES[self.profile].get("smoke_test", False),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "duration_s": round(sum(p["duration_s"] for p in parts), 1), "parts": parts,
            "notebooks_run": len(self.ran), "notebooks_reused": len(self.reused),
            "runs_reused": [it.label for it in self.reused if it.kind in ("teacher", "student")],
            "seeds": sorted({it.params["config"].get("seed", 0) for it in self.items if it.kind == "student"}),
            "records": list(self.records), "records_total_s": round(sum(self.records.values()), 1),
            "git": git_state(), "hardware": hardware("cpu"), "versions": versions(),
            "items": [{"kind": it.kind, "label": it.label, "seconds": round(it.result.get("seconds", 0), 1),
                       "reused": "seconds" not in it.result} for it in self.items],
        }

    def write_manifest(self, status):
        atomic_write_json(self.ws.results / f"manifest-{self.profile}.json", self.manifest(status))

    def run_config(self, it: Item) -> RunConfig:
        c = dict(it.params["config"])
        if str(c.get("teacher_dir", "")).startswith("@teacher:"):
            c["teacher_dir"] = self.teachers[c["teacher_dir"].split(":", 1)[1]]["model_dir"]
        return RunConfig.from_dict(c)

    def execute(self) -> dict:
        for i, it in enumerate(self.items, 1):
            if _interrupted:
                raise KeyboardInterrupt
            if it.kind in ("speedup", "report") and not self.ran and not self.force and self.finished_before():
                self.log(f"[{i}/{len(self.items)}] keep {it.label}: no run changed since the last complete study")
                self.reused.append(it)
                continue
            self.item(i, it)
        if self.ran or self.force or not self.finished_before():
            self.write_manifest("complete")
        self.log(f"done: {len(self.ran)} notebooks run, {len(self.reused)} reused, {_fmt(time.time() - self.t0)}")
        return self.manifest("complete")

    def finished_before(self) -> bool:
        m = _read_json(self.ws.results / f"manifest-{self.profile}.json")
        return bool(m) and m.get("status") == "complete" and sorted(m.get("records", [])) == sorted(self.records)

    def item(self, i, it: Item):
        from . import notebooks
        from .records import reusable_record
        from .runs import prepare
        params, name, out = dict(it.params), f"{it.notebook}-{self.profile}", None
        if "config" in params:
            cfg = self.run_config(it)
            out = prepare(cfg, self.ws, self.log).out_path
            record = None if self.force else reusable_record(out, cfg.method, self.log)
            if record:
                return self.reuse(i, it, record)
            params.update(config=cfg.to_dict(), force=True)  # the study decided to run it
            name = out.stem
        if it.kind == "report":  # the report reads exactly the records listed in the manifest
            self.write_manifest("report pending")
        eta = self.remaining * (self.done_real / self.done_est if self.done_est else 1.0)
        self.log(f"[{i}/{len(self.items)}] {it.kind} {it.label} (elapsed {_fmt(time.time() - self.t0)}, "
                 f"ETA {_fmt(eta)})")
        t1 = time.time()
        try:
            with heartbeat(lambda: self.log(f"      ... {it.label}: {_fmt(time.time() - t1)} so far, study elapsed "
                                            f"{_fmt(time.time() - self.t0)}")):
                notebooks.execute(it.notebook, self.ws.runs / f"{name}.ipynb", params)
        except Exception as e:
            self.write_manifest("failed")
            raise StudyError(f"{it.kind} {it.label} failed: {type(e).__name__}: {_short(e)}\n"
                             f"  executed notebook: {self.ws.runs / (name + '.failed.ipynb')}\n"
                             f"  finished work before it is kept; rerun to resume") from e
        it.result["seconds"] = time.time() - t1
        self.ran.append(it)
        self.remaining -= it.estimate_s
        self.done_est += it.estimate_s
        self.done_real += it.result["seconds"]
        self.log(f"[{i}/{len(self.items)}] finished {it.label} in {_fmt(it.result['seconds'])}")
        if out is not None:
            self.add_record(it, json.loads(out.read_text()))
            self.write_manifest("running")

    def reuse(self, i, it, record):
        self.log(f"[{i}/{len(self.items)}] reuse {it.label}: record {record['run_id']}.json exists")
        self.reused.append(it)
        self.remaining -= it.estimate_s
        self.add_record(it, record)

    def add_record(self, it, record):
        self.records[record["run_id"]] = record["timings"]["total_s"]
        if it.kind == "teacher":
            self.teachers[it.task] = record


def _read_json(path) -> dict | None:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def execute(profile: str, items: list[Item], results=None, work="work", force=False, log=print) -> dict:
    results = results or default_results(profile)
    Workspace(results, work).check_writable()
    with StudyLock(results, log):
        for tmp in Path(results, "runs").glob(".tmp.*"):  # left by a killed study
            tmp.unlink(missing_ok=True)
        return Study(profile, items, results, work, force, log).execute()


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    # papermill's PapermillExecutionError carries the cell's exception name and value
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return msg[-1] if msg else repr(e)


PROFILE_KEYS = {"description", "tasks", "pretrained", "teacher", "students", "speedup", "needs"}


def load_profile_file(path) -> str:
    """Register a profile defined in a JSON file; return its name."""
    p = Path(path)
    spec = _read_json(p)
    if spec is None:
        raise StudyError(f"cannot read profile file {p}: not a JSON object")
    missing = PROFILE_KEYS - set(spec)
    if missing:
        raise StudyError(f"profile file {p} lacks keys {sorted(missing)}; a profile has {sorted(PROFILE_KEYS)}")
    name = spec.pop("name", p.stem)
    PROFILES[name] = spec
    return name


def clean(results="results", work="work", everything=False, log=print) -> list[Path]:
    """Delete caches and model weights (work/), failed and temporary notebooks; with ``everything``, also the
    records, executed notebooks, tables, figures, speed files, predictions and manifests. Takes the study
    lock: refused while a study runs on ``results``. Returns (and logs) what it removed."""
    r = Path(results)
    targets = [Path(work), *r.glob("runs/*.failed.ipynb"), *r.glob("runs/.tmp.*")]
    if everything:
        targets += [r / d for d in ("records", "runs", "tables", "figures", "speed", "predictions")]
        targets += list(r.glob("manifest-*.json"))
    removed = []
    with StudyLock(r, log):
        for t in targets:
            if t.is_dir():
                shutil.rmtree(t)
            elif t.exists():
                t.unlink()
            else:
                continue
            removed.append(t)
            log(f"removed {t}")
    if not removed:
        log("nothing to remove")
    return removed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="run_all.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)} (default cpu)")
    ap.add_argument("--grid", default="best", help="paper profile: 'best' official configuration per task, "
                                                   "or 'full' (the paper's grid)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, run count and time estimate")
    ap.add_argument("--force", action="store_true", help="rerun everything, even runs with a matching record")
    ap.add_argument("--profile-file", help="a JSON file defining an extra profile (same keys as pkdlib/profiles.py); "
                                         "its 'name' (or the file's stem) becomes a --profile value")
    ap.add_argument("--results", default=None, help="results folder (default: results/, or the profile's own: "
                                                    "quick -> results/quick, not committed)")
    ap.add_argument("--work", default="work", help="caches and teacher weights (default work/)")
    a = ap.parse_args(argv)
    from .cli import guarded
    try:
        return guarded(lambda: _main(a, argv))
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerun to resume", file=sys.stderr)
        return 130


def _main(a, argv) -> int:
    global _interrupted
    if a.profile_file:
        name = load_profile_file(a.profile_file)
        if a.profile == "cpu" and "--profile" not in (argv or sys.argv):
            a.profile = name
    items = plan(a.profile, a.grid, a.results, a.work)
    print(describe(a.profile, items), flush=True)
    if a.dry_run:
        return 0
    print(flush=True)
    _interrupted, previous = False, signal.signal(signal.SIGINT, _on_sigint)
    try:
        execute(a.profile, items, a.results, a.work, force=a.force, log=lambda m: print(m, flush=True))
    finally:
        signal.signal(signal.SIGINT, previous)
    if _interrupted:
        raise KeyboardInterrupt
    return 0


if __name__ == "__main__":  # through the package, so that its exception classes are the ones the boundary knows
    from pkdlib.study import main as package_main
    sys.exit(package_main())
