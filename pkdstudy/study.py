"""Run a profile of the study: teacher -> students -> speed-up -> report, each an executed notebook under
results/runs/, each training run one record under results/records/.

    python -m pkdstudy.study --profile cpu [--workers N] [--dry-run] [--force] [--remeasure]
    (./run_all.sh, `pkd study`)

Resumable: a run whose record exists for the same identity is reused (``records.reusable_record``, the
rule ``runs.run`` applies too). Phases run in order (teachers, then students, then the speed-up, then
the report); within a phase, ``--workers`` runs execute at once: on CPU each gets cores / N torch
threads, on CUDA machines each gets a GPU (``--workers-per-gpu`` to share one). ``--executor slurm``
submits every run as a Slurm job through submitit instead; records stay the single source of truth, so
a rerun anywhere reuses what finished anywhere. A failed run stops new work and keeps every finished
one. One study at a time per results/ folder (a lock names the holder). A profile with a ``results``
entry (``quick``) writes there, apart from the committed study.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from pkdlib.config import RunConfig
from pkdlib.files import atomic_write_json
from pkdlib.locks import FolderLock, LockError
from pkdlib.ownership import TEMP_MARKER, listed, rewrite_ledger, unchanged
from pkdlib.paths import MARKER, Workspace

from .plan import Item, StudyError, default_results, describe, load_profile_file, plan, read_json
from .profiles import PROFILES

__all__ = ["execute", "plan", "describe", "StudyLock", "StudyError", "clean", "main"]


class StudyLock(FolderLock):
    """The lock of a folder a study or ``pkd clean`` writes to (``pkdlib.locks``): refused, never waited for, while
    another pkd command holds it, naming the holder."""

    def __init__(self, results, log=print):
        super().__init__(results, wait=False, log=log)

    def __enter__(self):
        try:
            return super().__enter__()
        except LockError as e:
            raise StudyError(str(e)) from None


def study_locks(*folders, log=print) -> contextlib.ExitStack:
    """``StudyLock`` on each folder once (``--results X --work X`` is one folder: the study never refuses itself)."""
    stack, seen = contextlib.ExitStack(), set()
    with stack:
        for d in map(Path, folders):
            if d.exists() and d.resolve() not in seen:
                seen.add(d.resolve())
                stack.enter_context(StudyLock(d, log))
        return stack.pop_all()


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


# ------------------------------------------------------------------------------------------- where runs execute
class LocalRunner:
    """Notebooks executed by papermill on this machine, ``workers`` at once. Each worker slot gets its own
    share of the machine: a GPU (``workers_per_gpu`` slots per GPU) or cores / workers torch threads."""

    def __init__(self, workers: int = 1, workers_per_gpu: int = 1):
        import torch

        self.workers, self.gpus, self.per_gpu = workers, torch.cuda.device_count(), workers_per_gpu

    def __call__(self, notebook, output, params, slot: int, parallel: int = 1):
        """``parallel``: how many runs share the machine now (a lone teacher gets all of it)."""
        from . import notebooks

        params = dict(params)
        if "config" in params:
            params["threads"] = max(1, (os.cpu_count() or 1) // parallel) if parallel > 1 and not self.gpus else 0
            if self.gpus and parallel > 1:  # device is not part of a run's identity
                params["config"] = {**params["config"], "device": f"cuda:{slot // self.per_gpu % self.gpus}"}
        notebooks.execute(notebook, output, params)


class SubmititRunner:
    """Every run a job of a submitit executor (``slurm`` on a cluster; ``local`` or ``debug`` here). The results/
    and work/ folders must be on a file system the nodes share."""

    def __init__(self, cluster: str, folder, **parameters):
        import submitit  # noqa: F401 (refused here, before any work, when it is not installed)

        self.folder, self.cluster, self.parameters = Path(folder), cluster, parameters
        self.executor, self.workers, self._made = None, 10_000, threading.Lock()

    def _executor(self):
        """Made at the first job, after the study made (and marked) work/: never a folder before the study's check."""
        import submitit

        with self._made:
            if self.executor is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / MARKER).touch()  # pkd made it: ``pkd clean`` may remove it
                ex = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
                ex.update_parameters(**{k: v for k, v in self.parameters.items() if v is not None})
                self.executor = ex
        return self.executor

    def __call__(self, notebook, output, params, slot: int, parallel: int = 1):
        from . import notebooks

        self._executor().submit(
            notebooks.execute, notebook, str(Path(output).resolve()), params, str(Path.cwd())
        ).result()


# ------------------------------------------------------------------------------------------- the study
class Study:
    """One execution of a profile's items: runs or reuses each, phase by phase, and keeps the manifest."""

    def __init__(self, profile, items, results, work, force, log, runner=None, remeasure=False):
        self.profile, self.items, self.force, self.runner = profile, items, force, runner or LocalRunner()
        self.remeasure = remeasure  # the speed-up and the report again; a finished study's time still counts
        self.ws, self.lock, self._log = Workspace(results, work), threading.RLock(), log
        self.teachers: dict[str, dict] = {}
        self.t0, self.failed, self.before_report = time.time(), None, None
        from pkdlib.records import hardware, read_git

        hw = hardware("cpu")  # this part's commit (as it started) and machine, named in the manifest's parts
        self.where = {"git": read_git(), "machine": f"{hw['cpu']}, {hw['cpu_count']} cores"}
        self.remaining = sum(it.estimate_s for it in items)
        self.done_est = self.done_real = 0.0
        prev = self._previous_manifest(self.ws.results / f"manifest-{profile}.json")
        # the shared speed measurement this study cites (``keep_shared_speed``, ``cite_shared_speed``): a resumed
        # study keeps the one its earlier part named
        cited = (prev or {}).get("speed")
        self.speed_file = cited if cited and (self.ws.results / "speed" / cited).is_file() else None
        # an unfinished earlier execution (interrupted or failed) is a part of this study: its time counts; so is a
        # finished one whose design has since grown (more runs planned than it recorded: the profile was extended)
        runs = sum(1 for it in items if it.kind in ("teacher", "student"))
        grown = bool(prev) and len(prev.get("records", [])) < runs
        self.parts = prev.get("parts", []) if prev and (prev.get("status") != "complete" or remeasure or grown) else []
        declared = list((PROFILES.get(profile) or {}).get("confirmatory") or [])
        if prev and list(prev.get("confirmatory") or []) != declared:
            raise StudyError(
                f"the study '{profile}' in {self.ws.results} declared the confirmatory claims "
                f"{prev.get('confirmatory') or []} when it started; the profile now says {declared}. A "
                f"confirmatory study's question cannot change once it has run: declare a new profile"
            )

    def _previous_manifest(self, path: Path) -> dict | None:
        """The manifest of an earlier execution; a damaged one is named, kept aside as ``.damaged`` and rebuilt
        from the records (they are the source of truth), never silently replaced."""
        prev = read_json(path)
        if prev is None and path.exists():
            kept = path.with_name(path.name + f".damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, kept)
            self.log(f"warning: {path} is damaged (not a JSON object); kept as {kept.name}, rebuilt from the records")
        return prev

    def log(self, message: str):
        with self.lock:  # one line at a time from several workers
            self._log(message)

    @property
    def ran(self):
        return [it for it in self.items if "seconds" in it.result]

    @property
    def reused(self):
        return [it for it in self.items if it.result.get("reused")]

    def records(self) -> dict:
        """run id -> seconds inside the run, in plan order (whatever order the workers finished in)."""
        return {it.result["record"]: it.result["record_s"] for it in self.items if "record" in it.result}

    def manifest(self, status) -> dict:
        from pkdlib.records import git_state, versions

        part = {
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.t0)),
            "duration_s": round(time.time() - self.t0, 1),
            "ran": len(self.ran),
            "reused": len(self.reused),
            "workers": self.runner.workers if isinstance(self.runner, LocalRunner) else "submitit",
            **self.where,
        }
        parts, records = self.parts + [part], self.records()
        return {
            "profile": self.profile,
            "description": PROFILES[self.profile]["description"],
            "status": status,
            "smoke_test": PROFILES[self.profile].get("smoke_test", False),
            **{k: PROFILES[self.profile][k] for k in ("arms", "confirmatory") if PROFILES[self.profile].get(k)},
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "duration_s": round(sum(p["duration_s"] for p in parts), 1),
            "parts": parts,
            "notebooks_run": len(self.ran),
            "notebooks_reused": len(self.reused),
            "runs_reused": [it.label for it in self.reused if it.kind in ("teacher", "student")],
            "seeds": sorted({it.params["config"].get("seed", 0) for it in self.items if it.kind == "student"}),
            "records": list(records),
            "records_total_s": round(sum(records.values()), 1),
            "git": git_state(),
            "hardware": machine(),
            "versions": versions(),
            **({"speed": self.speed_file} if self.speed_file else {}),
            **({"before_report": self.before_report} if self.before_report else {}),
            "items": [
                {
                    "kind": it.kind,
                    "label": it.label,
                    "seconds": round(it.result.get("seconds", 0), 1),
                    "reused": bool(it.result.get("reused")),
                    **({} if it.result else {"pending": True}),
                }
                for it in self.items
            ],
        }

    def write_manifest(self, status):
        with self.lock:
            atomic_write_json(self.ws.results / f"manifest-{self.profile}.json", self.manifest(status))

    def execute(self) -> dict:
        for kind in ("teacher", "student", "speedup", "report"):
            phase = [(i, it) for i, it in enumerate(self.items, 1) if it.kind == kind]
            if (
                kind in ("speedup", "report")
                and not self.ran
                and not self.force
                and not self.remeasure
                and self.finished_before()
            ):
                for i, it in phase:
                    self.log(f"[{i}/{len(self.items)}] keep {it.label}: no run changed since the last complete study")
                    it.result["reused"] = True
                continue
            if kind == "report":  # what the report states of the study: the same while it runs and after
                m = self.manifest("running")
                self.before_report = {k: m[k] for k in ("duration_s", "notebooks_run", "notebooks_reused")}
            self.run_phase(phase, self.runner.workers if kind in ("teacher", "student") else 1)
        final = self.manifest("complete")  # what is written is what is returned (its times taken once)
        if self.ran or self.force or not self.finished_before():
            with self.lock:
                atomic_write_json(self.ws.results / f"manifest-{self.profile}.json", final)
        self.log(f"done: {len(self.ran)} notebooks run, {len(self.reused)} reused, {_fmt(time.time() - self.t0)}")
        return final

    def report_again(self) -> dict:
        """The report notebook of a complete study again, with this code, over its manifest as it stands: every
        run and the speed-up are kept, the manifest is not rewritten (its times stay the study's), and a failed
        report leaves the earlier executed report in place (``<name>.failed.ipynb`` beside it)."""
        m = complete_manifest(self.ws.results, self.profile)
        ((i, it),) = [(i, it) for i, it in enumerate(self.items, 1) if it.kind == "report"]
        name = f"{it.notebook}-{self.profile}"
        self.log(
            f"[{i}/{len(self.items)}] report again {it.label} with this code ({m.get('notebooks_run', '?')} notebooks "
            f"run, {m.get('notebooks_reused', '?')} reused by the study: kept)"
        )
        t1 = time.time()
        with tempfile.TemporaryDirectory(dir=self.ws.results, prefix=".tmp.report-again.") as kept:
            outputs = [self.ws.results / kind / self.profile for kind in ("tables", "figures")]
            for d in outputs:
                if d.is_dir():
                    shutil.copytree(d, Path(kept) / d.parent.name)
            try:
                self.runner(it.notebook, self.ws.runs / f"{name}.ipynb", dict(it.params), 0, 1)
            except BaseException as e:
                for d in outputs:  # the earlier tables and figures back, as they were
                    if (Path(kept) / d.parent.name).is_dir():
                        shutil.rmtree(d, ignore_errors=True)
                        shutil.copytree(Path(kept) / d.parent.name, d)
                if not isinstance(e, Exception):
                    raise
                raise StudyError(
                    f"the report failed: {type(e).__name__}: {_short(e)}\n  executed notebook: "
                    f"{self.ws.runs / (name + '.failed.ipynb')}\n  the earlier report, tables and "
                    f"figures are kept"
                ) from e
        self.log(f"[{i}/{len(self.items)}] finished {it.label} in {_fmt(time.time() - t1)}")
        return m

    def run_phase(self, phase, workers: int):
        """Run a phase's items, ``workers`` at once; the first failure stops new work, finished runs stay.
        Ctrl-C stops new work at once; runs in flight finish (a second Ctrl-C abandons them: their kernels
        exit with this process and no record is half-written)."""
        workers = min(workers, len(phase))
        if workers <= 1:  # in this thread: Ctrl-C interrupts the run itself
            for i, it in phase:
                if _interrupted:
                    raise KeyboardInterrupt
                self.item(i, it)
            return
        slots = list(range(workers))
        _import_in_this_thread()

        def job(i, it):
            if _interrupted or self.failed:
                return
            with self.lock:
                slot = slots.pop()
            try:
                self.item(i, it, slot, workers)
            except BaseException as e:
                self.failed = self.failed or e
                raise
            finally:
                with self.lock:
                    slots.append(slot)

        pool = ThreadPoolExecutor(max_workers=workers)
        futures = [pool.submit(job, i, it) for i, it in phase]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            pool.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            self.log("interrupted: no new run starts; finishing the runs in flight (Ctrl-C again abandons them)")
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            except KeyboardInterrupt:
                print("interrupted: runs in flight abandoned; finished runs are kept", file=sys.stderr, flush=True)
                os._exit(130)
            raise
        if self.failed:
            raise self.failed

    def finished_before(self) -> bool:
        m = read_json(self.ws.results / f"manifest-{self.profile}.json")
        return bool(m) and m.get("status") == "complete" and sorted(m.get("records", [])) == sorted(self.records())

    def run_config(self, it: Item) -> RunConfig:
        return RunConfig.from_dict(
            with_teacher(it.params["config"], {t: r["model_dir"] for t, r in self.teachers.items()})
        )

    def item(self, i, it: Item, slot: int = 0, parallel: int = 1):
        from pkdlib.records import reusable_record
        from pkdlib.runs import prepare

        params, name, out = dict(it.params), f"{it.notebook}-{self.profile}", None
        if "config" in params:
            cfg = self.run_config(it)
            prep = prepare(cfg, self.ws, self.log)
            out = prep.out_path
            record = None if self.force else reusable_record(prep.found, cfg.method, self.log, prep.identity)
            if record and (self.ws.runs / f"{record['run_id']}.ipynb").is_file():
                self.log(f"[{i}/{len(self.items)}] reuse {it.label}: record {record['run_id']}.json exists")
                self.remaining -= it.estimate_s
                return self.add_record(it, record, reused=True)
            if record:  # finished, but killed before its notebook was written: render it (the run is reused)
                self.log(
                    f"[{i}/{len(self.items)}] {it.label}: record {record['run_id']}.json exists, its executed "
                    f"notebook does not; rendering it (no training)"
                )
                self.runner(
                    it.notebook,
                    self.ws.runs / f"{record['run_id']}.ipynb",
                    {**params, "config": cfg.to_dict(), "force": False},
                    slot,
                    parallel,
                )
                self.remaining -= it.estimate_s  # a reused run: no time of its own in the ETA's statistics
                return self.add_record(it, record, reused=True)
            _check_bf16(cfg, self.runner)
            params.update(config=cfg.to_dict(), force=True)  # the study decided to run it
            name = out.stem
        if it.kind == "speedup" and params.get("shared") and self.keep_shared_speed(i, it):
            return
        if it.kind == "report":  # the report reads exactly the records listed in the manifest
            self.write_manifest("report pending")
        self.run_notebook(i, it, name, params, slot, parallel)
        if it.kind == "speedup" and params.get("shared"):
            self.cite_shared_speed(it)
        if out is not None:
            self.add_record(it, json.loads(out.read_text()))
            self.write_manifest("running")

    def run_notebook(self, i, it, name, params, slot, parallel):
        eta = self.remaining * (self.done_real / self.done_est if self.done_est else 1.0) / self.runner.workers
        self.log(
            f"[{i}/{len(self.items)}] {it.kind} {it.label} (elapsed {_fmt(time.time() - self.t0)}, ETA {_fmt(eta)})"
        )
        t1 = time.time()
        try:
            with heartbeat(
                lambda: self.log(
                    f"      ... {it.label}: {_fmt(time.time() - t1)} so far, study elapsed "
                    f"{_fmt(time.time() - self.t0)}"
                )
            ):
                self.runner(it.notebook, self.ws.runs / f"{name}.ipynb", params, slot, parallel)
        except Exception as e:
            self.write_manifest("failed")
            raise StudyError(
                f"{it.kind} {it.label} failed: {type(e).__name__}: {_short(e)}\n"
                f"  executed notebook: {self.ws.runs / (name + '.failed.ipynb')}\n"
                f"  finished work before it is kept; rerun to resume"
            ) from e
        with self.lock:
            it.result["seconds"] = time.time() - t1
            self.remaining -= it.estimate_s
            self.done_est += it.estimate_s
            self.done_real += it.result["seconds"]
        self.log(f"[{i}/{len(self.items)}] finished {it.label} in {_fmt(it.result['seconds'])}")

    def keep_shared_speed(self, i, it: Item) -> bool:
        """A study's speed-up is the machine's shared measurement (``speed.shared_measurement``): measured once
        (this notebook, 30 repeats) by the first study on a machine and cited by every later one; ``--remeasure``
        or ``--force`` measures it again. Records in the manifest which file the study cites."""
        from .speed import shared_path

        found, hw = _shared_speed(self.ws.results, it)
        if found is None or self.remeasure or self.force:
            return False
        self.speed_file = shared_path(self.ws.results, hw).name
        self.log(
            f"[{i}/{len(self.items)}] keep {it.label}: this machine's shared measurement "
            f"results/speed/{self.speed_file} ({found['settings']['repeats']} repeats)"
        )
        it.result["reused"] = True
        return True

    def cite_shared_speed(self, it: Item) -> None:
        """After notebook 03 took the shared measurement: cite the file it wrote for this machine. A notebook that
        ran on another machine (a cluster node) wrote that machine's file: nothing is cited by name then, and the
        report finds a measurement by the hardware the manifest records."""
        from .speed import shared_path

        found, hw = _shared_speed(self.ws.results, it)
        path = shared_path(self.ws.results, hw)
        if found is not None and path.stat().st_mtime >= self.t0:
            self.speed_file = path.name
        else:
            self.speed_file = None
            self.log(
                f"note: the speed-up ran on another machine than this one ({path.name} not written here); "
                f"the manifest names no speed file"
            )

    def add_record(self, it, record, reused=False):
        with self.lock:
            it.result.update(record=record["run_id"], record_s=record["timings"]["total_s"], reused=reused)
            if it.kind == "teacher":
                self.teachers[it.key or it.task] = record


def _shared_speed(results, it: Item) -> tuple[dict | None, dict]:
    """The shared speed measurement of the machine a speed-up item would run on (None if not taken with its
    settings), and that machine's hardware."""
    from pkdlib.models import pick_device
    from pkdlib.records import hardware

    from .speed import shared_measurement

    hw = hardware(pick_device(it.params.get("device", "auto")))
    return shared_measurement(results, hw, it.params["pretrained"], it.params), hw


def machine() -> dict:
    """The machine the study runs on (``records.hardware`` of the device its runs get: a GPU when there is one),
    less what each run sets for itself and its record holds (TF32, determinism)."""
    from pkdlib.models import pick_device
    from pkdlib.records import hardware

    return {k: v for k, v in hardware(pick_device("auto")).items() if k not in ("tf32", "deterministic")}


def _import_in_this_thread() -> None:
    """transformers' lazy module is not safe to import from two threads at once (two teachers preparing together
    failed with "cannot import name 'AutoTokenizer' from 'transformers'"): import what a run's preparation uses
    here, before the workers start."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401


def _check_bf16(cfg: RunConfig, runner) -> None:
    """A bf16 run on a CPU without native bf16 is emulated (about 15x slower than fp32): refused before it starts,
    unless PKD_ALLOW_EMULATED_BF16=1. Finished runs stay; the study resumes on a CPU with native bf16."""
    from pkdlib.models import native_bf16_cpu

    on_cpu = cfg.device == "cpu" or (isinstance(runner, LocalRunner) and not runner.gpus)
    if (
        cfg.precision == "bf16"
        and on_cpu
        and native_bf16_cpu() is False
        and os.environ.get("PKD_ALLOW_EMULATED_BF16") != "1"
    ):
        raise StudyError(
            "this run trains in bf16, but this CPU has no native bf16 (no AVX512-BF16 or AMX): "
            "emulated bf16 is about 15x slower than fp32 here. Resume the study on a CPU with native "
            "bf16 (the committed studies' records say which), or set PKD_ALLOW_EMULATED_BF16=1 to "
            "run it anyway; finished runs are kept"
        )


def complete_manifest(results, profile: str) -> dict:
    """The manifest of a complete study (what ``--report-again`` needs), read without touching it."""
    path = Path(results) / f"manifest-{profile}.json"
    m = read_json(path)
    if not m or m.get("status") != "complete":
        raise StudyError(
            f"--report-again needs a complete study; {path} says "
            f"{(m or {}).get('status', 'nothing (missing or damaged)')!r}: run ./run_all.sh "
            f"--profile {profile} to finish it (its report then runs with this code)"
        )
    return m


def execute(
    profile: str,
    items: list[Item],
    results=None,
    work="work",
    force=False,
    log=print,
    runner=None,
    remeasure=False,
    report_again=False,
) -> dict:
    results = results or default_results(profile)
    if report_again:
        complete_manifest(results, profile)  # before anything is touched (a damaged manifest stays where it is)
    Workspace(results, work).check_writable()
    with study_locks(results, work, log=log):
        for tmp in Path(results, "runs").glob(".tmp.*"):  # left by a killed study
            tmp.unlink(missing_ok=True)
        for tmp in Path(results).glob(".tmp.report-again.*"):  # the copy a killed --report-again kept
            shutil.rmtree(tmp, ignore_errors=True)
        study = Study(profile, items, results, work, force, log, runner, remeasure)
        return study.report_again() if report_again else study.execute()


def with_teacher(config: dict, teachers: dict) -> dict:
    """A student's configuration with ``@teacher:<key>`` replaced by that teacher's folder (None: not known); the key
    is the task for a profile's own teacher, ``<task>:s<seed>`` for its other teachers."""
    c = dict(config)
    if str(c.get("teacher_dir", "")).startswith("@teacher:"):
        c["teacher_dir"] = teachers.get(c["teacher_dir"].split(":", 1)[1])
    return c


def mark_reuse(items, results, work, log=lambda *a: None, remeasure: bool = False) -> None:
    """For ``--dry-run``: mark the runs a study would reuse (``it.result['reusable']``: the record's run id), by
    the rule the study applies (``records.reusable_record`` on the run's identity); writes nothing. A student whose
    teacher must run first runs too; a run that cannot be prepared here (no network for a Hub model) is counted
    as one that runs."""
    from pkdlib.records import reusable_record, saved_model_dir
    from pkdlib.runs import prepare

    ws, teachers = Workspace(results, work), {}
    for it in items:
        if "config" not in it.params or not ws.records.is_dir():
            continue
        c = with_teacher(it.params["config"], teachers)
        if c.get("teacher_dir") is None and it.kind == "student":  # its teacher must run first: so must it
            continue
        try:
            cfg = RunConfig.from_dict(c)
            prep = prepare(cfg, ws, log)
            record = reusable_record(prep.found, cfg.method, log, prep.identity)
        except Exception as e:  # noqa: BLE001 -- a dry run reports, it does not fail on what the run would
            log(f"dry run: cannot check {it.label} here ({type(e).__name__}); counted as a run")
            record = None
        if record:
            it.result["reusable"] = record["run_id"]
            if it.kind == "teacher":
                teachers[it.key or it.task] = saved_model_dir(record)
    runs = [it for it in items if "config" in it.params]
    m = read_json(ws.results / f"manifest-{items[-1].params.get('profile')}.json")
    if (
        not remeasure
        and m
        and m.get("status") == "complete"
        and all(it.result.get("reusable") for it in runs)
        and sorted(m.get("records", [])) == sorted(it.result["reusable"] for it in runs)
    ):
        for it in items:  # the study keeps its speed-up and report when no run changed
            it.result.setdefault("reusable", "kept")
    for it in items:  # a speed-up that is the machine's shared measurement, already taken, is cited, not measured
        if (
            it.kind == "speedup"
            and it.params.get("shared")
            and not remeasure
            and _shared_speed(ws.results, it)[0] is not None
        ):
            it.result.setdefault("reusable", "shared")


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    # papermill's PapermillExecutionError carries the cell's exception name and value
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return msg[-1] if msg else repr(e)


#: the sub-folders of results/ pkd creates: ``pkd clean --all`` removes these (and manifests) and nothing else
RESULTS_PARTS = ("records", "runs", "tables", "figures", "speed", "predictions")
#: the sub-folders of work/ whose ledger lists what pkd wrote there (``pkdlib.ownership``)
WORK_PARTS = ("cache", "models")


def clean(results="results", work="work", everything=False, log=print) -> list[Path]:
    """Delete what pkd wrote into work/ and can name: the files the ledgers of its cache/ and models/ list, each
    while unchanged since pkd wrote it (anything else there is kept and named), the temporaries a killed command
    left there (``.tmp.*`` files of an atomic write, ``.*.pkd-tmp.*`` folders holding pkd's marker) and submitit/
    when pkd made it; failed and temporary notebooks; with ``everything``, also the records, executed notebooks,
    tables, figures, speed files, predictions and manifests. Only inside folders pkd made (``paths.MARKER``); no
    program runs in them. Takes the locks of both folders: refused while another pkd command uses either. Returns
    (and logs) what it removed."""
    r, w = Path(results), Path(work)
    for d, flag in ((r, "--results"), (w, "--work")):
        if d.exists() and not (d / MARKER).is_file():
            raise StudyError(
                f"{flag} {d}/ was not made by pkd (it has no {MARKER} marker); nothing removed. "
                f"pkd clean removes only what pkd wrote inside the results/ and work/ folders it made"
            )
    removed = []
    with study_locks(r, w, log=log):
        for part in WORK_PARTS:
            removed += _clean_listed(w / part, log)
        targets = [*r.glob("runs/*.failed.ipynb"), *r.glob("runs/.tmp.*")]
        targets += [w / "submitit"] if (w / "submitit" / MARKER).is_file() else []
        if everything:
            targets += [r / d for d in RESULTS_PARTS] + list(r.glob("manifest-*.json"))
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


def _clean_listed(base: Path, log) -> list[Path]:
    """The files of ``base`` its ledger lists, unchanged, and pkd's temporaries there; then the folders left empty."""
    if not base.is_dir():
        return []
    keep, removed = {}, []
    for rel, e in listed(base).items():
        p = base / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not p.is_file() or p.is_symlink():
            continue  # never a path outside the folder (a ledger is a file like any other)
        if unchanged(p, e):
            p.unlink()
            removed.append(p)
        else:
            keep[rel] = e
            log(f"kept {p}: changed since pkd wrote it")
    temps = [p for p in base.glob(".tmp.*") if p.is_file()]
    temps += [d for d in base.glob(".*.pkd-tmp.*") if (d / TEMP_MARKER).is_file()]  # under the lock: none is live
    for t in temps:
        shutil.rmtree(t) if t.is_dir() else t.unlink()
    removed += temps
    for d in sorted({p.parent for p in removed if p.parent != base}, key=lambda d: -len(d.parts)):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    rewrite_ledger(base, keep)
    if removed:
        log(f"removed {len(removed)} files pkd wrote in {base}/")
    if others := sorted(p.name for p in base.iterdir()):
        log(
            f"kept in {base}/: {', '.join(others[:8])}{' ...' if len(others) > 8 else ''} (not listed as pkd's, "
            f"or changed since; pkd deletes only what it wrote)"
        )
    else:
        base.rmdir()
        removed.append(base)
        log(f"removed {base}")
    return removed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="pkd study (or ./run_all.sh)", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)} (default cpu)")
    ap.add_argument(
        "--grid",
        default="best",
        help="paper profile: 'best' official configuration per task, or 'full' (the paper's grid)",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the plan, run count and time estimate")
    ap.add_argument("--force", action="store_true", help="rerun everything, even runs with a matching record")
    ap.add_argument(
        "--remeasure",
        action="store_true",
        help="measure the speed-up again and rebuild the report "
        "(on a quiet machine: timings are noisy on a shared one); finished training runs are reused",
    )
    ap.add_argument(
        "--report-again",
        action="store_true",
        help="a complete study's report notebook again with this "
        "code (after a change to the report): every run and the speed-up kept, the manifest unchanged",
    )
    ap.add_argument(
        "--profile-file",
        help="a JSON file defining an extra profile (same keys as pkdstudy/profiles.py); "
        "its 'name' (or the file's stem) becomes a --profile value",
    )
    ap.add_argument(
        "--results",
        default=None,
        help="results folder (default: results/, or the profile's own: quick -> results/quick, not committed)",
    )
    ap.add_argument("--work", default="work", help="caches and teacher weights (default work/)")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs at once (default: one per GPU on CUDA "
        "machines, else 2 when the CPU has 2 or more cores); on CPU each gets cores/N threads",
    )
    _add_executor_args(ap)
    a = ap.parse_args(argv)
    from pkdlib.errors import guarded

    try:
        return guarded(lambda: _main(a, argv))
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerun to resume", file=sys.stderr)
        return 130


def _add_executor_args(ap: argparse.ArgumentParser) -> None:
    """Where runs go: workers on this machine, or Slurm jobs through submitit."""
    ap.add_argument("--workers-per-gpu", type=int, default=1, help="runs sharing one GPU (default 1)")
    ap.add_argument(
        "--executor",
        default="local",
        choices=("local", "slurm", "submitit-local", "submitit-debug"),
        help="local: this machine; slurm: one Slurm job per run through submitit",
    )
    ap.add_argument(
        "--slurm-partition", default=None, help="the Slurm partition jobs go to (needed with --executor slurm)"
    )
    ap.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per job (slurm)")
    ap.add_argument("--slurm-cpus", type=int, default=8, help="CPUs per job (slurm)")
    ap.add_argument(
        "--slurm-mem-gb",
        type=int,
        default=64,
        help="host memory per job, GiB (slurm; default 64: a BERT-base run with its memory-mapped teacher cache)",
    )
    ap.add_argument(
        "--slurm-timeout-min", type=int, default=240, help="time limit of each Slurm job, minutes (default 240)"
    )


def make_runner(a):
    """The runner the command line asks for; bad values fail here, before any work."""
    if a.executor == "local":
        import torch

        # on CPU, 2 workers x cores/2 threads: 0.81x the wall time of 1 x all cores on the 2-core reference machine
        workers = (
            a.workers
            if a.workers is not None
            else (torch.cuda.device_count() * a.workers_per_gpu or min(2, os.cpu_count() or 1))
        )
        if workers < 1 or a.workers_per_gpu < 1:
            raise StudyError(f"--workers={a.workers} --workers-per-gpu={a.workers_per_gpu}: both must be >= 1")
        return LocalRunner(workers, a.workers_per_gpu)
    cluster = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}[a.executor]
    if cluster == "slurm" and not a.slurm_partition:
        raise StudyError("--executor slurm needs --slurm-partition (the partition your jobs go to)")
    extra = (
        {
            "slurm_partition": a.slurm_partition,
            "gpus_per_node": a.slurm_gpus,
            "cpus_per_task": a.slurm_cpus,
            "mem_gb": a.slurm_mem_gb,
        }
        if cluster == "slurm"
        else {}
    )
    return SubmititRunner(cluster, Path(a.work) / "submitit", timeout_min=a.slurm_timeout_min, **extra)


def _main(a, argv) -> int:
    global _interrupted
    if a.profile_file:
        name = load_profile_file(a.profile_file)
        if a.profile == "cpu" and "--profile" not in (argv or sys.argv):
            a.profile = name
    if a.report_again and (a.force or a.remeasure):
        raise StudyError(
            "--report-again keeps every run and the speed-up: it does not go with --force or --remeasure "
            "(which rerun them); use one or the other"
        )
    items = plan(a.profile, a.grid, a.results, a.work)
    runner = make_runner(a)
    checked = a.dry_run and not a.force
    if checked:
        mark_reuse(items, a.results or default_results(a.profile), a.work, remeasure=a.remeasure)
    if a.dry_run or not a.report_again:
        print(describe(a.profile, items, reuse_checked=checked), flush=True)
    if a.dry_run:
        return 0
    print(flush=True)
    _interrupted, previous = False, signal.signal(signal.SIGINT, _on_sigint)
    try:
        execute(
            a.profile,
            items,
            a.results,
            a.work,
            force=a.force,
            log=lambda m: print(m, flush=True),
            runner=runner,
            remeasure=a.remeasure,
            report_again=a.report_again,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    if _interrupted:
        raise KeyboardInterrupt
    return 0


if __name__ == "__main__":  # through the package, so that its exception classes are the ones the boundary knows
    from pkdstudy.study import main as package_main

    sys.exit(package_main())
