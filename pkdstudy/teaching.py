"""Helpers for the teaching notebook (00_teaching): small, tested pieces that the notebook draws, and the controlled
comparison (FT / KD / PKD from the same fresh student on the same batches) that the notebook runs once and
``scripts/teaching_seeds.py`` runs over many seeds."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pkdlib.cache import CACHE_FORMAT, TeacherOutputs, compute_teacher_outputs, load_or_compute_teacher_outputs
from pkdlib.data import TASKS, LengthBucketSampler, collate
from pkdlib.files import content_key
from pkdlib.layer_maps import layer_map
from pkdlib.losses import Objective, compute_loss, kd_loss, patient_loss, pool
from pkdlib.models import DEFAULT_TEACHER, build_student
from pkdlib.records import load_records, saved_model_dir
from pkdlib.terms import check_values
from pkdlib.train import evaluate, optimizer_step

from .reference import paper_table1
from .report import load_speed
from .stats import paired_t


def lab_teacher(records_dir, task: str = "rt", pretrained: str = DEFAULT_TEACHER) -> str:
    """The lab's teacher: the study's fine-tuned teacher of the lowest seed whose weights exist (the `full` study's,
    committed in work/models/), the same on every machine. (``records.find_teacher`` takes the newest folder; with
    the three teachers of the verdicts study, which is newest depends on when each folder was checked out.)"""
    found = [
        (r["config"].get("seed", 0), r.get("run_id", ""), saved_model_dir(r))
        for r in load_records(records_dir, log=lambda *a: None)
        if r["config"].get("method") == "teacher"
        and r["config"].get("task") == task
        and r["config"].get("pretrained") == pretrained
    ]
    found = sorted(f for f in found if f[2])
    if not found:
        raise FileNotFoundError(
            f"no fine-tuned teacher for task {task!r} and {pretrained!r} under {records_dir}; "
            f"run notebooks/01_teacher first"
        )
    return found[0][2]


def soft_targets(logits: torch.Tensor, temperatures) -> dict:
    """{T: softmax(logits / T)} for each temperature."""
    return {T: F.softmax(logits.float() / T, dim=-1) for T in temperatures}


def binary_kd(student_margin: torch.Tensor, teacher_margin: float, T: float) -> torch.Tensor:
    """T^2 KL(softmax(t/T) || softmax(s/T)) for two classes, as a function of the margins z1 - z0: with two classes
    softmax(z/T) is sigmoid(margin/T), so KD compares two numbers: about (s - t)^2 / 8 for large T."""
    p, q = torch.sigmoid(torch.tensor(teacher_margin / T)), torch.sigmoid(student_margin / T)
    return T**2 * (p * (p.log() - q.log()) + (1 - p) * ((1 - p).log() - (1 - q).log()))


def layer_map_matrix(n_teacher: int, n_student: int, name: str) -> np.ndarray:
    """(n_student x (n_teacher + 1)): 1 where student layer j (row j-1) learns teacher layer i's hidden state (column
    i-1) through the patient loss; the last column is the teacher's output (its logits), which the student's output
    learns through KD (2)."""
    m = np.zeros((n_student, n_teacher + 1), dtype=int)
    for j, t in layer_map(name, n_teacher, n_student).pairs():
        m[j - 1, t - 1] = 1
    m[n_student - 1, n_teacher] = 2
    return m


@torch.inference_mode()
def states(model, batch: dict, pooling: str = "cls") -> torch.Tensor:
    """Every layer's [CLS] (or mean-pooled) state (index 0 = embeddings): (layers+1, batch, hidden)."""
    model.eval()
    out = model(
        input_ids=batch["input_ids"],
        token_type_ids=batch["token_type_ids"],
        attention_mask=batch["attention_mask"],
        output_hidden_states=True,
    )
    return torch.stack([pool(h, batch["attention_mask"], pooling).float() for h in out.hidden_states])


def cls_cosine(student: torch.Tensor, teacher: torch.Tensor, centred: bool = False) -> np.ndarray:
    """Mean over the batch of cos(student layer j, teacher layer i) for the same sentence: (k+1) x (N+1). Centred:
    each layer's mean over the batch removed first, so a component shared by every sentence does not count."""
    if centred:
        student, teacher = student - student.mean(1, keepdim=True), teacher - teacher.mean(1, keepdim=True)
    s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    return torch.einsum("jbh,ibh->ji", s, t).div(s.shape[1]).numpy()


def between_sentences(x: torch.Tensor, centred: bool = False) -> np.ndarray:
    """Per layer, the mean cosine between the states of *different* sentences ((layers+1, batch, hidden) in)."""
    if centred:
        x = x - x.mean(1, keepdim=True)
    x = F.normalize(x, dim=-1)
    sim = torch.einsum("lbh,lch->lbc", x, x)
    n = x.shape[1]
    return ((sim.sum((1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)) / (n * (n - 1))).numpy()


def layer_similarity(student: torch.Tensor, teacher: torch.Tensor, floor: float = 1e-8) -> np.ndarray:
    """``cls_cosine`` centred, NaN where the student's or the teacher's layer does not vary between sentences
    (``varying_share`` below ``floor``: the layer-0 [CLS], the same vector for every sentence up to rounding, whose
    centred cosine would be a cosine of rounding noise)."""
    m = cls_cosine(student, teacher, centred=True).astype(float)
    m[varying_share(student) < floor, :] = np.nan
    m[:, varying_share(teacher) < floor] = np.nan
    return m


def similarity_panels(students: dict, teacher_states: dict, batch: dict) -> dict:
    """{pooling: {student: layer_similarity}}: every student on [CLS] and on mean-pooled states, except that a PKD
    arm appears only on the pooling its patient loss matches (``teacher_states``: {'[CLS]': ..., 'mean': ...})."""
    out = {}
    for pooling, key in (("[CLS]", "cls"), ("mean", "mean")):
        shown = {n: m for n, m in students.items() if not (n.startswith("PKD") and n != f"PKD {pooling}")}
        out[pooling] = {n: layer_similarity(states(m, batch, key), teacher_states[pooling]) for n, m in shown.items()}
    return out


def moved(panels: dict, pairs, before: str = "before training") -> pd.DataFrame:
    """For each trained student and each matched (student, teacher) layer pair: the centred cosine before training
    and after, and the change: did the student's layers move toward the teacher's?"""
    rows = []
    for pooling, students in panels.items():
        b = students[before]
        for name, m in students.items():
            if name == before:
                continue
            for j, t in pairs:
                rows.append(
                    {
                        "pooling": pooling,
                        "student": name,
                        "layers (student, teacher)": f"{j}, {t}",
                        "before": round(float(b[j, t]), 3),
                        "after": round(float(m[j, t]), 3),
                        "change": round(float(m[j, t] - b[j, t]), 3),
                    }
                )
    return pd.DataFrame(rows)


def moved_answer(table: pd.DataFrame, control: str) -> list[str]:
    """The answer to "did the student's layers move toward the teacher's?" for each PKD arm of a ``moved`` table:
    the boxed pairs' change beside the control's (the same student without a patient term)."""
    out = []
    for (pooling, name), rows in table.groupby(["pooling", "student"], sort=False):
        if name == control:
            continue
        ctrl = table[(table["pooling"] == pooling) & (table["student"] == control)]
        diff = rows["change"].to_numpy() - ctrl["change"].to_numpy()
        verdict = (
            "toward the teacher's, more than without the patient term"
            if (diff > 0).all()
            else "away from the teacher's, more than without the patient term"
            if (diff < 0).all()
            else "not consistently more toward the teacher's than without the patient term"
        )
        out.append(
            f"{name} ({pooling}): boxed pairs changed by {', '.join(f'{c:+.3f}' for c in rows['change'])} "
            f"from before training, {control} by {', '.join(f'{c:+.3f}' for c in ctrl['change'])}: {verdict}"
        )
    return out


def varying_share(x: torch.Tensor) -> np.ndarray:
    """Per layer, the share of a state's squared norm that differs between sentences: mean ||x - mean_x||^2 over
    mean ||x||^2 ((layers+1, batch, hidden) in). 0: one vector for every sentence."""
    centred = x - x.mean(1, keepdim=True)
    return (centred.pow(2).sum(-1).mean(1) / x.pow(2).sum(-1).mean(1)).numpy()


def train_steps(model, batches, objective, teacher, steps: int, lr: float = 2e-4) -> list[dict]:
    """``steps`` optimizer steps on ``batches`` (cycled, the same order for every method): constant lr, the real
    loop's step (``train.optimizer_step``). Returns each step's weighted loss terms."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    history = []
    for step in range(1, steps + 1):
        _, parts = compute_loss(model, batches[(step - 1) % len(batches)], objective, teacher)
        optimizer_step(model, opt, parts["loss"], 1.0)
        weighted = objective.weighted({k: v for k, v in parts.items() if k != "loss"})
        history.append({"step": step, "loss": parts["loss"].item(), **{k: v.item() for k, v in weighted.items()}})
    model.eval()
    return history


def dev_accuracy(model, dev, batch_size: int = 64) -> float:
    """Accuracy on ``dev`` (rt's labels), the real loop's ``evaluate``."""
    return evaluate(model, dev, TASKS["rt"], batch_size, torch.device("cpu"), None)[1]["accuracy"]


def logit_spread(model, batch: dict) -> float:
    """The standard deviation over the batch's sentences of the student's margin z1 - z0: about 0 when the
    classifier reads a state that is the same for every sentence (a fresh student's [CLS])."""
    model.eval()
    with torch.inference_mode():
        logits = model(
            input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"], attention_mask=batch["attention_mask"]
        ).logits.float()
    return float((logits[:, 1] - logits[:, 0]).std())


def check_loss(fn, which: str, trials: int = 5, seed: int = 0) -> tuple[bool | None, str]:
    """Compare a loss written by hand with pkdlib's on random tensors. ``which='kd'``: ``fn(student_logits,
    teacher_logits, T)`` against ``kd_loss`` (T^2 KL(softmax(t/T) || softmax(s/T)), averaged over the batch);
    ``which='pt'``: ``fn(student_states, teacher_states)`` ((batch, layers, hidden) each) against ``patient_loss``
    (L2-normalised vectors, mean squared difference). Returns (None: not written yet | True | False, a message)."""
    if which not in ("kd", "pt"):
        raise ValueError(f"which={which!r}; accepted: 'kd', 'pt'")
    g = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        if which == "kd":
            s, t = torch.randn(8, 3, generator=g) * 3, torch.randn(8, 3, generator=g) * 3
            T = [1.0, 2.0, 10.0][trial % 3]
            want, args = kd_loss(s, t, T), (s, t, T)
        else:
            s, t = torch.randn(4, 2, 16, generator=g) * 5, torch.randn(4, 2, 16, generator=g) * 5
            want, args = patient_loss(s, t, normalize=True), (s, t)
        got = fn(*args)
        if got is None:
            return None, f"{which}: not written yet (the function returns None)"
        got = torch.as_tensor(got, dtype=torch.float32)
        if got.shape != () or not torch.allclose(got, want, rtol=1e-4, atol=1e-6):
            return False, (
                f"{which}: differs from pkdlib on random tensors (trial {trial}): yours "
                f"{got.flatten()[:3].tolist()}, pkdlib {want.item():.6f}; a scalar is expected"
            )
    return True, f"{which}: matches pkdlib on {trials} random batches"


# ---- the controlled comparison ------------------------------------------------------------------------------

#: one colour per method, the same in every panel of the notebook
COLOURS = {
    "FT": "tab:gray",
    "KD": "tab:blue",
    "PKD [CLS]": "tab:orange",
    "PKD mean": "tab:green",
    "PKD [CLS] raw": "tab:red",
    "before training": "black",
}
ARMS = ("FT", "KD", "PKD [CLS]", "PKD mean")


@dataclass(frozen=True)
class Setting:
    """The comparison's knobs (the notebook's parameters cell): every arm starts from the same fresh student
    (the pre-trained teacher's embeddings and first ``student_layers`` layers, a new classifier from ``seed``) and
    takes ``steps`` AdamW steps at a constant ``lr`` on the same batches in the same order; ``dev_examples`` = 0:
    the whole dev set (1,066 sentences)."""

    steps: int = 150
    batch_size: int = 32
    temperature: float = 10.0
    alpha: float = 0.5
    beta: float = 1000.0
    normalize: bool = True
    layer_map: str = "pkd_skip"
    student_layers: int = 3
    lr: float = 2e-4
    dev_examples: int = 0
    max_length: int = 64

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.dev_examples < 0:
            raise ValueError(
                f"steps={self.steps} and batch_size={self.batch_size} must be >= 1 and "
                f"dev_examples={self.dev_examples} >= 0 (0: the whole dev set)"
            )
        check_values({"alpha": self.alpha, "temperature": self.temperature, "beta": self.beta})  # the one check
        layer_map(self.layer_map, 6, 3)  # a known map name (raises naming the known ones)

    def as_dict(self) -> dict:
        return asdict(self)


def comparison_arms(s: Setting, n_teacher: int, only=None) -> dict:
    """{arm: Objective}: FT (1*CE); KD ((1-alpha)*CE + alpha*KD), left out when alpha = 0 (it would be 1*CE, the
    FT arm itself); PKD on [CLS] and on mean-pooled states (+ beta*PT), when beta > 0 and the student has an
    intermediate layer to match. ``only``: a subset of these arm names (refused if one is not among them)."""
    lm = layer_map(s.layer_map, n_teacher, s.student_layers)
    arms = {"FT": Objective(temperature=s.temperature)}
    if s.alpha > 0:
        arms["KD"] = Objective(alpha=s.alpha, temperature=s.temperature)
    if s.beta > 0 and len(lm):
        for name, pooling in (("PKD [CLS]", "cls"), ("PKD mean", "mean")):
            arms[name] = Objective(
                alpha=s.alpha,
                temperature=s.temperature,
                beta=s.beta,
                normalize=s.normalize,
                layer_map=lm,
                pooling=pooling,
            )
    if only is not None:
        unknown = [a for a in only if a not in arms]
        if unknown:
            raise ValueError(f"arms {unknown} are not in this setting's comparison; it has: {', '.join(arms)}")
        arms = {a: arms[a] for a in only}
    return arms


def comparison_pool(train, s: Setting):
    """The training sentences of the comparison: the first steps x batch_size (a fixed random subset: the splits
    are in a hash-based order), the same for every seed."""
    return train.head(s.steps * s.batch_size)


def comparison_batches(pool_split, s: Setting, seed: int) -> list:
    """``steps`` length-bucketed batches of the pool in the order ``seed`` draws: the same for every arm."""
    return [
        collate(pool_split, b)
        for b in LengthBucketSampler(pool_split.lengths, s.batch_size, seed=seed).batches()[: s.steps]
    ]


def teacher_outputs(teacher, pool_split, cache_dir=None, key_parts=()) -> TeacherOutputs:
    """The teacher's logits and every layer's [CLS] and mean state for the pool (the teacher cache), computed
    once; kept in ``cache_dir`` under a key of ``key_parts`` (the teacher's and tokenizer's fingerprints) and the
    pool's size when given, so a rerun with other knobs reuses it."""

    def compute():
        return compute_teacher_outputs(teacher, pool_split, 64, torch.device("cpu"), progress=False)

    if cache_dir is None:
        return compute()
    key = content_key("teaching-pool", CACHE_FORMAT, *key_parts, len(pool_split))
    return load_or_compute_teacher_outputs(cache_dir, key, compute, log=print)


def run_arm(
    objective: Objective, batches: list, cached, dev, s: Setting, seed: int, pretrained: str = DEFAULT_TEACHER
) -> dict:
    """One arm of the comparison: a fresh ``student_layers``-layer student (classifier from ``seed``), ``steps``
    steps of ``objective`` on ``batches``, scored on ``dev``. Returns the objective as a formula, each step's
    weighted terms, the dev accuracy, the trained model and the wall and CPU seconds it took."""
    t, c = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = build_student(pretrained, s.student_layers, 2, seed=seed)
    history = train_steps(model, batches, objective, cached, s.steps, s.lr)
    dev_split = dev.head(s.dev_examples) if s.dev_examples else dev
    acc = dev_accuracy(model, dev_split)
    return {
        "objective": str(objective),
        "history": history,
        "dev": acc,
        "model": model,
        "seconds": time.perf_counter() - t,
        "cpu_seconds": time.process_time() - c,
    }


def ce_plateau(history: list, alpha: float, margin: float = 0.05, window: int = 10) -> int | None:
    """The first step from which the cross-entropy (unweighted: the weighted CE / (1 - alpha)), averaged over
    ``window`` steps, stays below ln 2 - margin: how long a fresh student sits at chance. None: never in the run
    (or CE not in the objective)."""
    if alpha >= 1:
        return None
    ce = np.array([h["ce"] for h in history]) / (1 - alpha)
    if len(ce) < window:
        return None
    smooth = np.convolve(ce, np.ones(window) / window, mode="valid")
    below = np.nonzero(smooth < math.log(2) - margin)[0]
    return int(below[0]) + 1 if len(below) else None


def pt_share(history: list, last: int = 20) -> float | None:
    """The weighted patient term's share of the loss over the last ``last`` steps (None without PT)."""
    tail = [h for h in history[-last:] if "pt" in h]
    if not tail:
        return None
    return float(sum(h["pt"] for h in tail) / sum(h["loss"] for h in tail))


def comparison_record(results: dict, arms: dict, s: Setting, seed: int) -> dict:
    """What one run of the comparison found, per arm: dev accuracy (points), where the CE left ln 2, the patient
    term's share of the loss at the end, and the seconds it took (written by the notebook for
    ``scripts/teaching_knobs.py``)."""
    return {
        "setting": s.as_dict(),
        "seed": seed,
        "arms": {
            n: {
                "dev": round(100 * r["dev"], 4),
                "objective": r["objective"],
                "ce_plateau": ce_plateau(r["history"], arms[n].alpha),
                "pt_share": pt_share(r["history"]),
                "seconds": round(r["seconds"], 1),
            }
            for n, r in results.items()
        },
    }


# ---- the seed distribution (results/teaching/seeds.csv, written by scripts/teaching_seeds.py) ----------------

#: the paired differences the notebook shows: (later arm, earlier arm)
PAIRS = (("KD", "FT"), ("PKD [CLS]", "KD"), ("PKD mean", "PKD [CLS]"), ("PKD mean", "KD"))


def read_seeds(folder) -> tuple[pd.DataFrame, dict]:
    """The committed seed distribution: its rows (seed, arm, dev accuracy in points, ...) and its provenance and
    settings (``seeds.json``)."""
    folder = Path(folder)
    return pd.read_csv(folder / "seeds.csv"), json.loads((folder / "seeds.json").read_text())


def arm_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per arm: seeds, mean, sd, lowest, highest and a 95% t-interval of the mean, dev accuracy in points."""
    rows = []
    for arm in [a for a in COLOURS if a in set(df["arm"])]:
        x = df.loc[df["arm"] == arm, "dev"].to_numpy(float)
        t = paired_t(x)  # the interval of a mean (one sample)
        rows.append(
            {
                "arm": arm,
                "n": len(x),
                "mean": x.mean(),
                "sd": t["sd"],
                "low": t["low"],
                "high": t["high"],
                "min": x.min(),
                "max": x.max(),
            }
        )
    return pd.DataFrame(rows).set_index("arm")


def paired(df: pd.DataFrame, a: str, b: str) -> dict:
    """The paired difference a - b over the seeds both arms ran (points): mean, 95% t-interval, sd, n, p, the
    differences by seed and how many are above 0."""
    w = df.pivot(index="seed", columns="arm", values="dev")[[a, b]].dropna()
    d = (w[a] - w[b]).to_numpy(float)
    t = paired_t(d)
    return {**t, "name": f"{a} - {b}", "by_seed": dict(zip(w.index.astype(int), d)), "above": int((d > 0).sum())}


def summary_lines(df: pd.DataFrame) -> list[str]:
    """The sentences the notebook states about the distribution (a test checks them against the file)."""
    a = arm_summary(df)
    out = [
        f"{arm} {r['mean']:.1f} (range {r['min']:.1f} to {r['max']:.1f}, sd {r['sd']:.1f}, N = {int(r['n'])})"
        for arm, r in a.iterrows()
    ]
    for x, y in PAIRS:
        if {x, y} <= set(df["arm"]):
            p = paired(df, x, y)
            out.append(
                f"{p['name']} = {p['mean']:+.1f} [{p['low']:+.1f}, {p['high']:+.1f}], above 0 in "
                f"{p['above']} of {p['n']} seeds"
            )
    return out


def class_run_matches(info: dict, s: Setting, seed: int) -> bool:
    """Whether the notebook's own run is one of the distribution's: the same knobs and a seed the file holds."""
    return info["setting"] == s.as_dict() and seed in info["seeds"]


def plateau_lines(df: pd.DataFrame) -> list[str]:
    """Per arm, the steps at which the CE left ln 2 over the seeds (the solutions file states them)."""
    out = []
    for arm in [a for a in COLOURS if a in set(df["arm"])]:
        p = df.loc[df["arm"] == arm, "ce_plateau"].dropna()
        out.append(
            f"{arm}: CE leaves ln 2 at step {int(p.min())} to {int(p.max())} (median {p.median():.0f}, N = {len(p)})"
            if len(p)
            else f"{arm}: CE never left ln 2"
        )
    return out


def knob_lines(knobs: pd.DataFrame, seeds: pd.DataFrame) -> dict:
    """{knob: sentence}: what the notebook's run with each knob found (``results/teaching/knobs.csv``, one run,
    seed 0), each arm beside the default's run of the same seed and the default's range over the seeds."""
    out = {}
    for knob, runs in knobs.groupby("knob", sort=False):
        parts = []
        for _, r in runs.iterrows():
            base = seeds[seeds["arm"] == r["arm"]]
            same = base.loc[base["seed"] == 0, "dev"]
            where = (
                (
                    f" (default: {float(same.iloc[0]):.1f} at seed 0, {base['dev'].min():.1f} to "
                    f"{base['dev'].max():.1f} over {len(base)} seeds)"
                )
                if len(same)
                else ""
            )
            extra = "" if pd.isna(r["ce_plateau"]) else f", CE leaves ln 2 at step {int(r['ce_plateau'])}"
            extra += "" if pd.isna(r["pt_share"]) else f", PT {100 * r['pt_share']:.0f}% of the loss at the end"
            parts.append(f"{r['arm']} {r['dev']:.1f}{where}{extra}")
        out[knob] = "; ".join(parts)
    return out


#: how the notebook and README name each knob of scripts/teaching_knobs.py
KNOB_TEXT = {
    "default": "the default knobs",
    "beta0": "`beta = 0.0`",
    "alpha0": "`alpha = 0.0`",
    "pkd_last": '`layer_map = "pkd_last"`',
    "raw_beta100": "`normalize = False, beta = 100.0`",
    "temperature1": "`temperature = 1.0`",
    "layers1": "`student_layers = 1`",
}


def times_markdown(info: dict) -> str:
    """The notebook's first cell's timing paragraph: each knob's headless run (wall seconds, the load beside it), the
    machine and the commit (``results/teaching/knobs.json``)."""
    prov = info["provenance"]
    git = prov["git"]
    commit = f"{str(git['commit'])[:7]}{' with uncommitted changes' if git.get('dirty') else ''}"
    where = f"{prov['hardware'].get('cpu')}, {info.get('cpu_count')} cores, commit {commit}"
    runs = "; ".join(f"{KNOB_TEXT.get(k, k)} {v}" for k, v in time_lines(info).items())
    return (
        f"**Time, measured** (`python scripts/teaching_knobs.py`: headless papermill, kernel start to last cell, seed "
        f"0, on {where}; the default first, making the teacher cache the others reuse): {runs}. The 1-minute load "
        f"average beside each run says how shared the machine was (2.0: both cores busy, as the run itself keeps them)."
    )


def time_lines(info: dict) -> dict:
    """{knob: 'N s (load a before, b after)'}: each headless run's wall time and the machine's load beside it
    (``results/teaching/knobs.json``), the default first."""
    runs = sorted(info["runs"].values(), key=lambda r: r["knob"] != "default")
    return {
        r["knob"]: f"{r['seconds']:.0f} s (load {r['load_before'][0]:.1f} before, {r['load_after'][0]:.1f} after)"
        for r in runs
    }


# ---- what the study found -----------------------------------------------------------------------------------

#: the decisive studies, in the order the notebook reads them: the exploratory verdicts study (3 teachers) and
#: the confirmatory beta100-confirm study (declared before its runs)
DECISIVE = ("verdicts", "beta100-confirm")


def _paper_said(layers: int) -> dict:
    paper = paper_table1().set_index(["layers", "method"])["sst2"]
    teacher = paper.loc[(12, "teacher")]
    return {
        "KD - FT": paper.loc[(layers, "kd")] - paper.loc[(layers, "ft")],
        "PKD-Skip - KD": paper.loc[(layers, "pkd-skip")] - paper.loc[(layers, "kd")],
        "PKD-Skip [beta 100, unnormalised] - KD": paper.loc[(layers, "pkd-skip")] - paper.loc[(layers, "kd")],
        "PKD-Skip-Mean - PKD-Skip": None,  # beyond the paper: its patient loss is on [CLS] only
        "PKD-Skip / teacher (%)": 100 * paper.loc[(layers, "pkd-skip")] / teacher,
    }


def paper_vs_study(results, profiles=DECISIVE, layers: int = 3) -> pd.DataFrame:
    """The paper's claims beside this study's answers, read from each study's claims table (made from the committed
    records by ``pkd report``) and the paper's Table 1 (SST-2, 3 layers): the study, its N, the paired difference
    with its 95% interval over seeds, and the verdict its test allows."""
    said, rows = _paper_said(layers), []
    for profile in [profiles] if isinstance(profiles, str) else profiles:
        claims = pd.read_csv(Path(results) / "tables" / profile / "claims.csv")
        claims = claims[pd.to_numeric(claims["layers"], errors="coerce") == layers]
        for _, c in claims.iterrows():
            if c["comparison"] in said:
                sign = "" if c["comparison"].endswith("(%)") else "+"
                paper = said[c["comparison"]]
                rows.append(
                    {
                        "study": profile,
                        "claim": c["claim"],
                        "paper (SST-2, test)": "not in the paper" if paper is None else f"{paper:{sign}.1f}",
                        "N seeds": int(c["n_seeds"]),
                        "this study (rt, test)": f"{float(c['mean_diff']):{sign}.2f} "
                        f"[{float(c['ci_low']):{sign}.2f}, {float(c['ci_high']):{sign}.2f}]",
                        "verdict": c["verdict"],
                    }
                )
    return pd.DataFrame(rows)


def why_compress(results, profile: str = "full", layers: int = 3) -> dict:
    """The measured speed-up and parameters of a ``layers``-layer student against the teacher: the speed-up the
    study cites (``report.load_speed``: the machine's shared measurement, 30 round-robin repeats), the one every
    report and claim of this machine's studies states."""
    manifest = json.loads((Path(results) / f"manifest-{profile}.json").read_text())
    speed = load_speed(Path(results), profile, manifest)
    if speed is None:
        raise FileNotFoundError(f"no speed-up measurement cited by the {profile} study in {results}/speed")
    rows = {r["layers"]: r for r in speed["rows"]}
    t, s = rows[max(rows)], rows[layers]
    return {
        "teacher_layers": t["layers"],
        "speedup": s["speedup"],
        "ideal": s["ideal_speedup"],
        "low": s.get("speedup_low"),
        "high": s.get("speedup_high"),
        "repeats": speed["settings"]["repeats"],
        "file": speed.get("shared") or f"speedup-{profile}.json",
        "params_teacher": t["params_total"],
        "params_student": s["params_total"],
        "params_embedding": s["params_embedding"],
    }


def seeds_markdown(df: pd.DataFrame) -> str:
    """The solutions file's table of the distribution: dev accuracy by seed and arm, then the summary lines."""
    w = df.pivot(index="seed", columns="arm", values="dev")[[a for a in COLOURS if a in set(df["arm"])]]
    rows = ["| seed | " + " | ".join(w.columns) + " |", "|---" * (len(w.columns) + 1) + "|"]
    rows += [f"| {s} | " + " | ".join(f"{v:.1f}" for v in r) + " |" for s, r in w.iterrows()]
    return "\n".join(rows + [""] + [f"- {line}" for line in summary_lines(df)])


def pairing_line(df: pd.DataFrame) -> str:
    """How much pairing by seed narrowed the comparisons of the committed distribution (the arms' spread over seeds
    beside the paired differences')."""
    a = arm_summary(df)
    arms = ", ".join(f"{arm} {r['sd']:.1f}" for arm, r in a.iterrows())
    diffs = ", ".join(
        f"{p['name']} {p['sd']:.1f}" for p in (paired(df, x, y) for x, y in PAIRS if {x, y} <= set(a.index))
    )
    return (
        f"In the committed distribution the arms' standard deviations over the seeds are {arms} points, and those of "
        f"the paired differences {diffs}: at 150 steps a seed's luck is shared by its arms only in part, so pairing "
        f"narrows these intervals little or not at all."
    )
