"""Helpers for the teaching notebook (00_teaching): small, tested pieces that the notebook draws."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from pkdlib.layer_maps import layer_map


def soft_targets(logits: torch.Tensor, temperatures) -> dict:
    """{T: softmax(logits / T)} for each temperature."""
    return {T: F.softmax(logits.float() / T, dim=-1) for T in temperatures}


def layer_map_matrix(n_teacher: int, n_student: int, name: str) -> np.ndarray:
    """(n_student x n_teacher) 0/1 matrix: 1 where student layer j (row j-1) learns from teacher layer i
    (column i-1) through the patient loss; the last student layer is matched to the teacher's output
    through KD (marked 2)."""
    m = np.zeros((n_student, n_teacher), dtype=int)
    for j, t in layer_map(name, n_teacher, n_student).pairs():
        m[j - 1, t - 1] = 1
    m[n_student - 1, n_teacher - 1] = 2
    return m


@torch.inference_mode()
def cls_states(model, batch: dict) -> torch.Tensor:
    """[CLS] hidden state of every layer (index 0 = embeddings): (layers+1, batch, hidden)."""
    model.eval()
    out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"], output_hidden_states=True)
    return torch.stack([h[:, 0].float() for h in out.hidden_states])


def cls_cosine(student_cls: torch.Tensor, teacher_cls: torch.Tensor) -> np.ndarray:
    """Mean over the batch of cos(student layer j, teacher layer i): (k+1) x (N+1), layer 0 = embeddings."""
    s = F.normalize(student_cls, dim=-1)
    t = F.normalize(teacher_cls, dim=-1)
    return torch.einsum("jbh,ibh->ji", s, t).div(s.shape[1]).numpy()


def train_for(seconds: float, model, batches, objective, teacher, lr=2e-4, callback=None, every=5):
    """Train ``model`` on ``batches`` (cycled) for about ``seconds``; ``callback(history)`` every ``every`` steps.

    Returns the history: one dict per step with the loss parts. A teaching loop: constant lr, no
    schedule (the real loop is pkdlib.train.fit; the step is the same, ``train.optimizer_step``).
    """
    from pkdlib.losses import compute_loss
    from pkdlib.train import optimizer_step
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    history, t0, step = [], time.time(), 0
    while time.time() - t0 < seconds:
        b = batches[step % len(batches)]
        _, parts = compute_loss(model, b, objective, teacher)
        optimizer_step(model, opt, parts["loss"], 1.0)
        step += 1
        history.append({"step": step, "seconds": time.time() - t0, **{k: v.item() for k, v in parts.items()}})
        if callback and step % every == 0:
            callback(history)
    model.eval()
    return history
