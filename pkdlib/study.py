"""Plan and run a profile of the study: teacher -> students -> speed-up -> report, each one an
executed notebook under results/runs/, each training run one record under results/records/.

    python -m pkdlib.study --profile cpu [--dry-run] [--force]     (what ./run_all.sh calls)

Resumable: a run whose record exists for the same full identity is skipped. A failed run stops the
study with its error; everything finished before it stays. One study at a time per results/ folder
(a lock file names the holder).
"""
from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .profiles import PROFILES

#: cost model for --dry-run estimates, seconds on the 2-core reference machine (fp32, rt lengths):
#: one epoch = n_train * (EX_BASE + EX_LAYER * layers) * (hidden / 384)**2; plus a notebook's start-up.
EX_BASE, EX_LAYER, NOTEBOOK_S, EVAL_FRACTION = 0.002, 0.0015, 18.0, 0.08
TRAIN_SIZES = {"rt": 6398, "imdb": 20000, "sst2": 67349, "mrpc": 3668, "qqp": 363846, "mnli": 392702,
               "qnli": 104743, "rte": 2490}


class StudyError(RuntimeError):
    pass


@dataclass
class Item:
    kind: str                 # teacher | student | speedup | report
    task: str
    params: dict              # notebook parameters
    estimate_s: float = 0.0
    label: str = ""
    result: dict = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        return {"teacher": "01_teacher", "student": "02_student", "speedup": "03_speedup", "report": "04_report"}[self.kind]


def _grid(spec: dict):
    """Cross every list-valued entry of a grid spec."""
    keys = [k for k, v in spec.items() if isinstance(v, list)]
    for combo in itertools.product(*(spec[k] for k in keys)):
        yield {**{k: v for k, v in spec.items() if k not in keys}, **dict(zip(keys, combo))}


def _estimate(epochs, n_train, layers, hidden=384):
    scale = (hidden / 384) ** 2
    return epochs * n_train * (EX_BASE + EX_LAYER * layers) * scale * (1 + EVAL_FRACTION) + NOTEBOOK_S


def plan(profile: str, grid: str = "best", results="results", work="work") -> list[Item]:
    """Expand a profile into an ordered list of items (teachers first, report last)."""
    if profile not in PROFILES:
        raise StudyError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if grid not in ("best", "full"):
        raise StudyError(f"unknown grid {grid!r}; accepted: best, full")
    P = PROFILES[profile]
    common = {"results_dir": str(results), "work_dir": str(work)}
    hidden = 768 if P["pretrained"] == "bert-base-uncased" else 384
    n_layers_teacher = 12 if hidden == 768 else 6
    items, seen = [], set()
    for task in P["tasks"]:
        n_train = TRAIN_SIZES[task]
        t = {"task": task, "pretrained": P["pretrained"], **P["teacher"]}
        RunConfig.from_dict({**t, "method": "teacher"})  # validate now
        n = t.get("max_train_examples") or n_train
        items.append(Item("teacher", task, {**t, **common},
                          _estimate(t["epochs"], n, n_layers_teacher, hidden), f"{task} teacher"))
        for spec in P["students"]:
            for s in _grid(spec):
                s = dict(s)
                best = s.pop("best_official", False)
                if best:
                    from .reference import best_official_config
                    s.update(best_official_config(task, s["student_layers"]))
                variants = [s]
                if grid == "full" and "full_grid" in P:
                    variants = [{**s, **g} for g in _grid(P["full_grid"])]
                for v in variants:
                    cfg = {"task": task, "pretrained": P["pretrained"], "teacher_dir": f"@teacher:{task}", **v}
                    key = json.dumps(RunConfig.from_dict(cfg).to_dict(), sort_keys=True)  # validates, canonical
                    if key in seen:
                        continue
                    seen.add(key)
                    n = v.get("max_train_examples") or n_train
                    label = f"{task} {v['method']} L{v['student_layers']} seed {v['seed']}"
                    items.append(Item("student", task, {**cfg, **common},
                                      _estimate(v["epochs"], n, v["student_layers"], hidden), label))
    _disambiguate(items)
    if P.get("speedup"):
        sp = dict(P["speedup"])
        items.append(Item("speedup", P["tasks"][0], {"pretrained": P["pretrained"], **sp, **common,
                                                     "profile": profile},
                          30.0 + 3 * len(sp["layers"]) * sp["repeats"], "inference speed-up"))
    items.append(Item("report", P["tasks"][0], {**common, "profile": profile}, 25.0, "tables and figures"))
    return items


def _disambiguate(items: list[Item]):
    """Where a grid gives several runs the same label (a hyper-parameter search), add what differs."""
    by_label: dict[str, list[Item]] = {}
    for it in items:
        by_label.setdefault(it.label, []).append(it)
    short = {"lr": "lr", "temperature": "T", "alpha": "alpha", "beta": "beta", "normalize": "norm"}
    for same in by_label.values():
        if len(same) > 1:
            varying = [k for k in short if len({str(it.params.get(k)) for it in same}) > 1]
            for it in same:
                it.label += " " + " ".join(f"{short[k]} {it.params.get(k)}" for k in varying)


def describe(profile: str, items: list[Item]) -> str:
    P = PROFILES[profile]
    lines = [f"profile {profile}: {P['description']}", f"needs: {P['needs']}", ""]
    for i, it in enumerate(items, 1):
        extra = ""
        if it.kind in ("teacher", "student"):
            p = it.params
            keys = ["epochs", "lr"] + (["temperature", "alpha", "beta", "normalize"] if p.get("method") in
                                       ("kd", "pkd-last", "pkd-skip") else [])
            if p.get("max_train_examples"):
                keys.append("max_train_examples")
            extra = " ".join(f"{k}={p[k]}" for k in keys if k in p)
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
    """An exclusive lock on results/.lock; a second study on the same folder is refused, naming the first."""

    def __init__(self, results):
        self.path = Path(results) / ".lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "a+")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.f.seek(0)
            holder = self.f.read().strip() or "unknown process"
            self.f.close()
            raise StudyError(f"another study is running on {self.path.parent}/ ({holder}); wait for it to finish "
                             f"or use another --results folder") from None
        self.f.seek(0)
        self.f.truncate()
        self.f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}, command {' '.join(sys.argv)}")
        self.f.flush()
        return self

    def __exit__(self, *exc):
        self.f.seek(0)
        self.f.truncate()
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


# ------------------------------------------------------------------------------------------- run
def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _config_part(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in ("results_dir", "work_dir", "force")}


_interrupted = False  # set by main()'s SIGINT handler


def _on_sigint(signum, frame):
    # remember the interrupt: a KeyboardInterrupt raised inside papermill's event loop can be swallowed
    # there, and the study must still stop at the next run boundary instead of finishing the grid
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def execute(profile: str, items: list[Item], results="results", work="work", force=False, log=print) -> dict:
    from . import notebooks
    from .cache import atomic_write_json
    from .records import git_state, hardware, saved_model_dir, versions
    from .train import Workspace, prepare

    ws = Workspace(results, work)
    teachers: dict[str, dict] = {}
    t0 = time.time()
    done_est = done_real = 0.0
    total_est = sum(it.estimate_s for it in items)
    ran = skipped = 0
    record_ids: list[str] = []
    record_s: dict[str, float] = {}

    def manifest(status):
        return {
            "profile": profile, "description": PROFILES[profile]["description"], "status": status,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "duration_s": round(time.time() - t0, 1),
            "notebooks_run": ran, "notebooks_skipped": skipped,
            "seeds": sorted({it.params.get("seed") for it in items if it.kind == "student"}),
            "records": record_ids,
            "records_total_s": round(sum(record_s.values()), 1),  # training+eval time of every run, from records
            "git": git_state(), "hardware": hardware("cpu"), "versions": versions(),
            "items": [{"kind": it.kind, "label": it.label, "seconds": round(it.result.get("seconds", 0), 1),
                       "skipped": "seconds" not in it.result} for it in items],
        }
    with StudyLock(results):
        for i, it in enumerate(items, 1):
            if _interrupted:
                raise KeyboardInterrupt
            params = dict(it.params)
            if params.get("teacher_dir", "").startswith("@teacher:"):
                task = params["teacher_dir"].split(":", 1)[1]
                params["teacher_dir"] = teachers[task]["model_dir"]
            name, record = f"{it.notebook}-{profile}", None  # per profile: one profile's report keeps its own
            if it.kind in ("teacher", "student"):
                cfg = RunConfig.from_dict({**_config_part(params), **({"method": "teacher"} if it.kind == "teacher" else {})})
                out = prepare(cfg, ws).out_path
                name = out.stem
                record = json.loads(out.read_text()) if out.is_file() and not force else None
                if record and (it.kind != "teacher" or saved_model_dir(record)):  # weights cleaned: retrain
                    record_ids.append(record["run_id"])
                    record_s[record["run_id"]] = record["timings"]["total_s"]
                    skipped += 1
                    log(f"[{i}/{len(items)}] skip {it.label}: record {out.name} exists")
                    if it.kind == "teacher":
                        teachers[it.task] = record
                    total_est -= it.estimate_s
                    continue
                params["force"] = True  # the study decided to run it
            if it.kind == "report":  # the report reads exactly the records listed here
                atomic_write_json(ws.results / f"manifest-{profile}.json", manifest("report pending"))
            eta = (total_est - done_est) * (done_real / done_est if done_est else 1.0)
            log(f"[{i}/{len(items)}] {it.kind} {it.label} (elapsed {_fmt(time.time() - t0)}, ETA {_fmt(eta)})")
            t1 = time.time()
            try:
                notebooks.execute(it.notebook, ws.results / "runs" / f"{name}.ipynb", params)
            except Exception as e:
                raise StudyError(f"{it.kind} {it.label} failed: {type(e).__name__}: {_short(e)}\n"
                                 f"  executed notebook: {ws.results / 'runs' / (name + '.failed.ipynb')}\n"
                                 f"  finished work before it is kept; rerun to resume") from e
            ran += 1
            it.result["seconds"] = time.time() - t1
            done_est += it.estimate_s
            done_real += it.result["seconds"]
            if it.kind in ("teacher", "student"):
                record = json.loads(out.read_text())
                record_ids.append(record["run_id"])
                record_s[record["run_id"]] = record["timings"]["total_s"]
                if it.kind == "teacher":
                    teachers[it.task] = record
        final = manifest("complete")
        atomic_write_json(ws.results / f"manifest-{profile}.json", final)
    log(f"done: {ran} run, {skipped} skipped, {_fmt(time.time() - t0)}")
    return final


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
    try:
        spec = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise StudyError(f"cannot read profile file {p}: {e}") from e
    missing = PROFILE_KEYS - set(spec)
    if missing:
        raise StudyError(f"profile file {p} lacks keys {sorted(missing)}; a profile has {sorted(PROFILE_KEYS)}")
    name = spec.pop("name", p.stem)
    PROFILES[name] = spec
    return name


def clean(results="results", work="work", everything=False, log=print):
    """Delete caches and model weights (work/) and executed notebooks; with everything, records too."""
    targets = [Path(work)]
    targets += [Path(results) / "runs"] if everything else list(Path(results).glob("runs/*.failed.ipynb"))
    if everything:
        targets += [Path(results) / d for d in ("records", "tables", "figures", "speed", "predictions")]
    for t in targets:
        if t.is_dir():
            shutil.rmtree(t)
        elif t.exists():
            t.unlink()
        log(f"removed {t}")


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
    ap.add_argument("--results", default="results")
    ap.add_argument("--work", default="work")
    a = ap.parse_args(argv)
    try:
        if a.profile_file:
            name = load_profile_file(a.profile_file)
            if a.profile == "cpu" and "--profile" not in (argv or sys.argv):
                a.profile = name
        items = plan(a.profile, a.grid, a.results, a.work)
        print(describe(a.profile, items))
        if a.dry_run:
            return 0
        print()
        global _interrupted
        _interrupted, previous = False, signal.signal(signal.SIGINT, _on_sigint)
        try:
            execute(a.profile, items, a.results, a.work, force=a.force)
        finally:
            signal.signal(signal.SIGINT, previous)
        if _interrupted:
            raise KeyboardInterrupt
    except (StudyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerun to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
