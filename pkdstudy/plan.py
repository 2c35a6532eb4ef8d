"""A profile expanded into the study's items: teachers first, then students, the speed-up and the report.

Every run's configuration is validated here, before anything trains; ``describe`` prints the plan.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pkdlib.config import RunConfig
from pkdlib.errors import KnownError
from pkdlib.methods import METHODS
from pkdlib.terms import TERMS

from .profiles import PROFILES

#: cost model for --dry-run estimates, seconds on the 2-core reference machine (fp32, rt lengths):
#: one epoch = n_train * (EX_BASE + EX_LAYER * layers) * (hidden / 384)**2; plus a notebook's start-up.
EX_BASE, EX_LAYER, NOTEBOOK_S, EVAL_FRACTION = 0.002, 0.0015, 18.0, 0.08
#: bf16 autocast's time per epoch over fp32's on the reference CPU (AMX; 3-layer pkd-skip, 41 vs 69 s per epoch)
BF16_FACTOR = 0.6
TRAIN_SIZES = {
    "rt": 6398,
    "imdb": 20000,
    "sst2": 67349,
    "mrpc": 3668,
    "qqp": 363846,
    "mnli": 392702,
    "qnli": 104743,
    "rte": 2490,
}


class StudyError(KnownError, RuntimeError):
    """A known failure of the study; printed as ``error: ...`` with exit status 2."""


@dataclass
class Item:
    kind: str  # teacher | student | speedup | report
    task: str
    params: dict  # notebook parameters (for runs: {"config": {...}} and where to write)
    estimate_s: float = 0.0
    label: str = ""
    result: dict = field(default_factory=dict)
    key: str = ""  # a teacher's name for its students' ``@teacher:<key>`` (the task; ``rt:s1`` for others)

    @property
    def notebook(self) -> str:
        return {"teacher": "01_teacher", "student": "02_student", "speedup": "03_speedup", "report": "04_report"}[
            self.kind
        ]


def _grid(spec: dict):
    """Cross every list-valued entry of a grid spec (scikit-learn's ParameterGrid)."""
    from sklearn.model_selection import ParameterGrid

    return ParameterGrid({k: v if isinstance(v, list) else [v] for k, v in spec.items()})


def _estimate(epochs, n_train, layers, hidden=384, precision="fp32"):
    scale = (hidden / 384) ** 2 * (BF16_FACTOR if precision == "bf16" else 1.0)
    return epochs * n_train * (EX_BASE + EX_LAYER * layers) * scale * (1 + EVAL_FRACTION) + NOTEBOOK_S


def default_results(profile: str) -> str:
    """Where a profile writes unless told: its own ``results`` entry (quick: results/quick, not committed)."""
    return PROFILES[profile].get("results", "results") if profile in PROFILES else "results"


def _check_confirmatory(profile: str, P: dict) -> None:
    """A confirmatory profile's declared claims are claims the report makes: a paired claim's name, with
    ``[arm]`` for one of the profile's arms."""
    from .claims import CLAIMS

    names = [name for _, _, name in CLAIMS]
    known = names + [f"{n} [{arm}]" for n in names for arm in P.get("arms") or {}]
    bad = [c for c in P.get("confirmatory") or [] if c not in known]
    if bad:
        raise StudyError(
            f"profile {profile!r}: confirmatory claims {bad} are not claims the report makes; "
            f"accepted: {', '.join(known)}"
        )


def _check_known(profile: str, P: dict) -> None:
    """A profile's ``known_at_declaration`` (the runs whose results were known when it was declared) is
    ``{"runs": {"method": [...], "seed": [...], "teacher_seed": [...]}}`` (teacher_seed optional)."""
    spec = P.get("known_at_declaration")
    if spec is None:
        return
    runs = spec.get("runs") if isinstance(spec, dict) else None
    if (
        not isinstance(runs, dict)
        or not {"method", "seed"} <= set(runs)
        or set(runs) - {"method", "seed", "teacher_seed"}
        or not all(isinstance(v, list) for v in runs.values())
    ):
        raise StudyError(
            f"profile {profile!r}: known_at_declaration must be {{'runs': {{'method': [...], 'seed': [...], "
            f"'teacher_seed': [...] (optional)}}}}, got {spec!r}"
        )


def plan(profile: str, grid: str = "best", results=None, work="work") -> list[Item]:
    """Expand a profile into an ordered list of items (teachers first, report last)."""
    if profile not in PROFILES:
        raise StudyError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if grid not in ("best", "full"):
        raise StudyError(f"unknown grid {grid!r}; accepted: best, full")
    P = PROFILES[profile]
    _check_shape(profile, P)
    _check_confirmatory(profile, P)
    n_teacher = teacher_layers(P["pretrained"])
    _check_known(profile, P)
    common = {"results_dir": str(results or default_results(profile)), "work_dir": str(work)}
    hidden = 768 if P["pretrained"] == "bert-base-uncased" else 384
    items = []
    for task in P["tasks"]:
        for seed in teacher_seeds(P):
            t = {"task": task, "pretrained": P["pretrained"], "method": "teacher", **P["teacher"], "seed": seed}
            rc = _config(t, f"profile {profile!r}, teacher")
            n = rc.max_train_examples or TRAIN_SIZES.get(task, 10_000)
            key = teacher_key(P, task, seed)
            items.append(
                Item(
                    "teacher",
                    task,
                    {"config": t, **common},
                    _estimate(rc.epochs, n, 12 if hidden == 768 else 6, hidden),
                    f"{task} teacher" + (f" seed {seed}" if key != task else ""),
                    key=key,
                )
            )
        items += _students(profile, P, task, grid, common, hidden, n_teacher)
    _disambiguate(items)
    if P.get("speedup"):
        sp = _speedup(profile, P["speedup"], n_teacher)
        items.append(
            Item(
                "speedup",
                P["tasks"][0],
                {"pretrained": P["pretrained"], **sp, **common, "profile": profile},
                30.0 + 3 * len(sp["layers"]) * sp.get("repeats", 5),
                "inference speed-up",
            )
        )
    items.append(Item("report", P["tasks"][0], {**common, "profile": profile}, 25.0, "tables and figures"))
    return items


def teacher_seeds(P: dict) -> list[int]:
    """The profile's teachers, by seed: its teacher's own seed, then every other ``teacher_seed`` its students name
    (several teachers: fine-tunes of the same pre-trained model that differ only in seed)."""
    own = P["teacher"].get("seed", 0)
    named = {
        t
        for spec in P["students"]
        for t in (
            spec.get("teacher_seed", own)
            if isinstance(spec.get("teacher_seed", own), list)
            else [spec.get("teacher_seed", own)]
        )
    }
    return [own] + sorted(named - {own})


def teacher_key(P: dict, task: str, seed: int) -> str:
    """``rt`` for the profile's own teacher (as before there were several), ``rt:s1`` for the teacher of seed 1."""
    return task if seed == P["teacher"].get("seed", 0) else f"{task}:s{seed}"


def _students(profile, P, task, grid, common, hidden, n_teacher=None) -> list[Item]:
    items, seen = [], set()
    for spec in P["students"]:
        for s in _grid(spec):
            s = dict(s)
            key = teacher_key(P, task, s.pop("teacher_seed", P["teacher"].get("seed", 0)))
            if s.pop("best_official", False):
                from .reference import best_official_config

                s.update(best_official_config(task, s["student_layers"]))
            variants = [{**s, **g} for g in _grid(P["full_grid"])] if grid == "full" and "full_grid" in P else [s]
            for v in variants:
                cfg = {"task": task, "pretrained": P["pretrained"], "teacher_dir": f"@teacher:{key}", **v}
                rc = _config(cfg, f"profile {profile!r}, student {v}")
                if n_teacher and METHODS[rc.method].student:
                    _layers_fit(f"profile {profile!r}, student {v}: student_layers", [rc.student_layers], n_teacher)
                same = json.dumps({**rc.to_dict(), "teacher_dir": key}, sort_keys=True)
                if same in seen:
                    continue
                seen.add(same)
                n = rc.max_train_examples or TRAIN_SIZES.get(task, 10_000)
                label = f"{task} {rc.method} L{rc.student_layers} seed {rc.seed}" + (
                    f" teacher {key.split(':', 1)[1]}" if key != task else ""
                )
                items.append(
                    Item(
                        "student",
                        task,
                        {"config": cfg, **common},
                        _estimate(rc.epochs, n, rc.student_layers, hidden, rc.precision),
                        label,
                    )
                )
    return items


def _check_shape(profile: str, P: dict) -> None:
    """The profile's entries have the types the plan reads (a profile file may hold anything), each named."""
    where = f"profile {profile!r}"
    for key, kind in (("tasks", list), ("students", list), ("teacher", dict)):
        if not isinstance(P.get(key), kind) or not P[key]:
            raise StudyError(f"{where}: {key!r} must be a non-empty {kind.__name__}, got {P.get(key)!r}")
    if bad := [t for t in P["tasks"] if not isinstance(t, str)]:
        raise StudyError(f"{where}: 'tasks' must name tasks (strings), got {bad}")
    if not isinstance(P.get("pretrained"), str):
        raise StudyError(
            f"{where}: 'pretrained' must be a model name or folder (a string), got {P.get('pretrained')!r}"
        )
    for i, spec in enumerate(P["students"]):
        if not isinstance(spec, dict) or not spec:
            raise StudyError(
                f'{where}: students[{i}] must be an object of run settings (e.g. {{"method": '
                f'["kd"], "student_layers": [3]}}), got {spec!r}'
            )
        seeds = spec.get("teacher_seed", 0)
        if not all(
            isinstance(x, int) and not isinstance(x, bool) for x in (seeds if isinstance(seeds, list) else [seeds])
        ):
            raise StudyError(f"{where}: students[{i}].teacher_seed must be an integer or a list of them, got {seeds!r}")
    if P.get("speedup") is not None and not isinstance(P["speedup"], dict):
        raise StudyError(
            f'{where}: \'speedup\' must be null or an object (e.g. {{"layers": [3], "batch_size": 32, '
            f'"seq_len": 128, "repeats": 5, "warmup": 2}}), got {P["speedup"]!r}'
        )


def teacher_layers(pretrained: str) -> int | None:
    """The pre-trained encoder's layer count from a local folder or the Hugging Face cache (never the network), or
    None when it is not here (its runs check it)."""
    from transformers import AutoConfig

    from pkdlib.models import quiet_transformers, resolve_model_path

    try:
        with quiet_transformers():
            return int(
                AutoConfig.from_pretrained(resolve_model_path(pretrained), local_files_only=True).num_hidden_layers
            )
    except Exception:  # noqa: BLE001 -- not available here: the run itself says what is wrong
        return None


def _layers_fit(where: str, layers, n_teacher: int | None) -> None:
    """Student sizes are integers 1 <= k < the teacher's layers (when known)."""
    top = n_teacher or 2**31
    bad = [k for k in layers if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < top]
    if bad:
        accepted = f"a {n_teacher}-layer teacher keeps 1 to {n_teacher - 1} layers" if n_teacher else "integers >= 1"
        raise StudyError(f"{where} {bad} not accepted: {accepted}")


def _speedup(profile: str, sp: dict, n_teacher: int | None) -> dict:
    """The speed-up's settings, checked against its notebook's parameters and the teacher's layers."""
    from .notebooks import NotebookParameterError, check_parameters, notebook_path

    sp = dict(sp)
    if not isinstance(sp.get("layers"), list) or not sp["layers"]:
        raise StudyError(
            f"profile {profile!r}: speedup.layers must be a non-empty list of student sizes, got {sp.get('layers')!r}"
        )
    _layers_fit(f"profile {profile!r}: speedup.layers", sp["layers"], n_teacher)
    try:
        check_parameters(notebook_path("03_speedup"), sp)
    except NotebookParameterError as e:
        raise StudyError(f"profile {profile!r}, speedup: {e}") from None
    return sp


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
    short = {
        "lr": "lr",
        "epochs": "ep",
        "temperature": "T",
        "alpha": "alpha",
        "beta": "beta",
        "normalize": "norm",
        "init": "init",
    }
    for same in by_label.values():
        if len(same) > 1:
            varying = [k for k in short if len({str(it.params["config"].get(k)) for it in same}) > 1]
            for it in same:
                it.label += " " + " ".join(f"{short[k]} {it.params['config'].get(k)}" for k in varying)


def describe(profile: str, items: list[Item], reuse_checked: bool = False) -> str:
    P = PROFILES[profile]
    lines = [
        f"profile {profile}: {P['description']}",
        f"needs: {P['needs']}",
        f"writes: {items[-1].params['results_dir']}/",
        "",
    ]
    for i, it in enumerate(items, 1):
        extra = ""
        if "config" in it.params:
            c, m = it.params["config"], METHODS[it.params["config"]["method"]]
            keys = (
                ["epochs", "lr"]
                + [p.name for key in m.terms for p in TERMS[key].params if p.label]
                + ["max_train_examples"]
            )
            extra = " ".join(f"{k}={c[k]}" for k in keys if c.get(k) is not None)
        when = "reuse     " if it.result.get("reusable") else f"~{it.estimate_s / 60:5.1f} min"
        lines.append(f"{i:4d}. {it.kind:8s} {it.label:32s} {when}  {extra}")
    to_run = [it for it in items if not it.result.get("reusable")]
    total = sum(it.estimate_s for it in to_run)
    counts = {k: sum(1 for it in items if it.kind == k) for k in ("teacher", "student", "speedup", "report")}
    n_reuse = len(items) - len(to_run)
    lines += [
        "",
        f"{len(items)} notebooks ({counts['teacher']} teacher, {counts['student']} student, "
        f"{counts['speedup']} speed-up, {counts['report']} report); "
        + (
            f"{n_reuse} reused (a record with the same identity; speed-up and report of an unchanged "
            f"finished study; the machine's shared speed measurement), {len(to_run)} to run; "
            if reuse_checked
            else "reuse is checked as it runs; "
        )
        + f"estimated {total / 60:.0f} min on the 2-core reference CPU"
        + (" (GPU profile: the estimate is for CPU and only indicative)" if profile == "paper" else ""),
    ]
    return "\n".join(lines)


BUILTIN = tuple(PROFILES)
PROFILE_KEYS = {"description", "tasks", "pretrained", "teacher", "students", "speedup", "needs"}


def load_profile_file(path) -> str:
    """Register a profile defined in a JSON file; return its name."""
    p = Path(path)
    if not p.is_file():
        raise StudyError(f"profile file {p} does not exist")
    spec = read_json(p)
    if spec is None:
        raise StudyError(f"cannot read profile file {p}: not a JSON object")
    missing = PROFILE_KEYS - set(spec)
    if missing:
        raise StudyError(f"profile file {p} lacks keys {sorted(missing)}; a profile has {sorted(PROFILE_KEYS)}")
    name = spec.pop("name", p.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise StudyError(
            f"profile file {p}: name {name!r} is not accepted; a name is letters, digits, '-' and '_' "
            f"(it names files under results/)"
        )
    if name in BUILTIN:
        raise StudyError(
            f"profile file {p}: name {name!r} is a built-in profile; choose another name (built-in: "
            f"{', '.join(BUILTIN)})"
        )
    for key, kind in (("tasks", list), ("students", list), ("teacher", dict)):
        if not isinstance(spec[key], kind) or not spec[key]:
            raise StudyError(f"profile file {p}: {key!r} must be a non-empty {kind.__name__}, got {spec[key]!r}")
    PROFILES[name] = spec
    return name


def read_json(path) -> dict | None:
    """A JSON object from a file, or None when it is missing, unreadable or not an object."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None
