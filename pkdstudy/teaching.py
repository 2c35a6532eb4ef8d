"""Helpers for the teaching notebook (00_teaching): small, tested pieces that the notebook draws."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pkdlib.layer_maps import layer_map


def soft_targets(logits: torch.Tensor, temperatures) -> dict:
    """{T: softmax(logits / T)} for each temperature."""
    return {T: F.softmax(logits.float() / T, dim=-1) for T in temperatures}


def binary_kd(student_margin: torch.Tensor, teacher_margin: float, T: float) -> torch.Tensor:
    """T^2 KL(softmax(t/T) || softmax(s/T)) for two classes, as a function of the margins z1 - z0: with two classes
    softmax(z/T) is sigmoid(margin/T), so KD compares two numbers: about (s - t)^2 / 8 for large T."""
    p, q = torch.sigmoid(torch.tensor(teacher_margin / T)), torch.sigmoid(student_margin / T)
    return T ** 2 * (p * (p.log() - q.log()) + (1 - p) * ((1 - p).log() - (1 - q).log()))


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
    from pkdlib.losses import pool
    model.eval()
    out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"], output_hidden_states=True)
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


def varying_share(x: torch.Tensor) -> np.ndarray:
    """Per layer, the share of a state's squared norm that differs between sentences: mean ||x - mean_x||^2 over
    mean ||x||^2 ((layers+1, batch, hidden) in). 0: one vector for every sentence."""
    centred = x - x.mean(1, keepdim=True)
    return (centred.pow(2).sum(-1).mean(1) / x.pow(2).sum(-1).mean(1)).numpy()


def train_steps(model, batches, objective, teacher, steps: int, lr: float = 2e-4) -> list[dict]:
    """``steps`` optimizer steps on ``batches`` (cycled, the same order for every method): constant lr, the real
    loop's step (``train.optimizer_step``). Returns each step's weighted loss terms."""
    from pkdlib.losses import compute_loss
    from pkdlib.train import optimizer_step
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
    from pkdlib.data import TASKS
    from pkdlib.train import evaluate
    return evaluate(model, dev, TASKS["rt"], batch_size, torch.device("cpu"), None)[1]["accuracy"]


def paper_vs_study(results, profile: str = "full", layers: int = 3) -> pd.DataFrame:
    """The paper's claims beside this study's answers, read from the report's claims table (made from the committed
    records by ``pkd report``) and the paper's Table 1 (SST-2, 3 layers)."""
    from .reference import paper_table1
    claims = pd.read_csv(Path(results) / "tables" / profile / "claims.csv")
    claims = claims[pd.to_numeric(claims["layers"], errors="coerce") == layers]
    paper = paper_table1().set_index(["layers", "method"])["sst2"]
    teacher = paper.loc[(12, "teacher")]
    said = {"KD - FT": paper.loc[(layers, "kd")] - paper.loc[(layers, "ft")],
            "PKD-Skip - KD": paper.loc[(layers, "pkd-skip")] - paper.loc[(layers, "kd")],
            "PKD-Skip / teacher (%)": 100 * paper.loc[(layers, "pkd-skip")] / teacher}
    rows = []
    for _, c in claims.iterrows():
        if c["comparison"] in said:
            sign = "" if c["comparison"].endswith("(%)") else "+"
            rows.append({"claim": c["claim"], "paper (SST-2, test)": round(float(said[c["comparison"]]), 1),
                         f"this study ({int(c['n_seeds'])} seeds)": f"{float(c['mean_diff']):{sign}.2f} "
                         f"[{float(c['ci_low']):{sign}.2f}, {float(c['ci_high']):{sign}.2f}]", "verdict": c["verdict"]})
    return pd.DataFrame(rows)


def why_compress(results, profile: str = "full", layers: int = 3) -> dict:
    """The measured speed-up and parameters of a ``layers``-layer student against the teacher (committed speed-up)."""
    rows = {r["layers"]: r for r in json.loads((Path(results) / "speed" / f"speedup-{profile}.json").read_text())["rows"]}
    t, s = rows[max(rows)], rows[layers]
    return {"teacher_layers": t["layers"], "speedup": s["speedup"], "ideal": s["ideal_speedup"],
            "params_teacher": t["params_total"], "params_student": s["params_total"],
            "params_embedding": s["params_embedding"]}
