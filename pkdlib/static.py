"""A static-embedding baseline distilled from the teacher: one vector per vocabulary token, a linear head.

model2vec's recipe, written here in a few lines because model2vec cannot join the shared environment (it is on the
package list; ``pip install model2vec`` in a venv of your own gives the original, with PCA and Zipf weighting):

* distil: every token ``t`` of the teacher's tokenizer is run alone through the fine-tuned teacher's encoder as
  ``[CLS] t [SEP]``; its vector is the mean of the last hidden states over those positions (the mean pooling
  all-MiniLM-L6-v2 was trained with). Stored in float16: vocabulary x hidden.
* embed a text: the mean of its tokens' vectors (the same tokenizer and truncation as the students; [CLS], [SEP] and
  padding left out).
* head: multinomial logistic regression on the standardised text vectors of the training rows,
  ``mean CE + lambda * ||W||^2``, fitted by L-BFGS; ``lambda`` chosen on dev accuracy from ``L2_GRID``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .files import atomic_write, atomic_write_json

__all__ = ["StaticModel", "distil_vectors", "fit_static", "L2_GRID"]

#: the L2 strengths tried for the head (chosen on dev accuracy)
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
WEIGHTS, META = "static.safetensors", "static.json"


@dataclass
class StaticModel:
    vectors: torch.Tensor  # (vocab, hidden), float16 as stored
    mean: torch.Tensor  # (hidden,) standardisation of the text vectors
    std: torch.Tensor
    weight: torch.Tensor  # (labels, hidden)
    bias: torch.Tensor  # (labels,)
    special_ids: tuple

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the token vectors of each row (padding and special tokens left out), standardised."""
        keep = attention_mask.bool()
        for s in self.special_ids:
            keep &= input_ids != s
        v = self.vectors[input_ids].float() * keep.unsqueeze(-1)
        text = v.sum(1) / keep.sum(1, keepdim=True).clamp(min=1)
        return (text - self.mean) / self.std

    @torch.inference_mode()
    def __call__(self, input_ids, attention_mask, **_) -> torch.Tensor:
        """Logits of a tokenised batch (token_type_ids ignored)."""
        return self.embed(input_ids, attention_mask) @ self.weight.T + self.bias

    def save(self, folder: Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        tensors = {
            "vectors": self.vectors.contiguous(),
            "mean": self.mean,
            "std": self.std,
            "weight": self.weight,
            "bias": self.bias,
        }
        atomic_write(folder / WEIGHTS, lambda tmp: save_file(tensors, tmp))
        atomic_write_json(folder / META, {"special_ids": list(self.special_ids), "recipe": __doc__.split("\n\n")[1]})
        return folder / WEIGHTS

    @classmethod
    def load(cls, folder: Path) -> StaticModel:
        from safetensors.torch import load_file

        t = load_file(str(Path(folder) / WEIGHTS))
        meta = json.loads((Path(folder) / META).read_text())
        return cls(t["vectors"], t["mean"], t["std"], t["weight"], t["bias"], tuple(meta["special_ids"]))


@torch.inference_mode()
def distil_vectors(teacher, tokenizer, batch_size: int = 1024) -> torch.Tensor:
    """One vector per token id: the teacher encoder's mean last hidden state over ``[CLS] t [SEP]``, float16."""
    enc = teacher.base_model.eval()
    n = len(tokenizer)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = []
    for i in range(0, n, batch_size):
        ids = torch.arange(i, min(n, i + batch_size))
        batch = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], 1)
        h = enc(
            input_ids=batch, attention_mask=torch.ones_like(batch), token_type_ids=torch.zeros_like(batch)
        ).last_hidden_state
        out.append(h.mean(1).half())
    return torch.cat(out)


def _texts(model: StaticModel, batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for b, y in batches:
        xs.append(model.embed(b["input_ids"], b["attention_mask"]))
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def _logreg(x: torch.Tensor, y: torch.Tensor, num_labels: int, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    w = torch.zeros(num_labels, x.shape[1], requires_grad=True)
    b = torch.zeros(num_labels, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w.T + b, y) + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def fit_static(
    vectors: torch.Tensor, special_ids, train_batches, dev_batches, num_labels: int, log=print
) -> StaticModel:
    """The head fitted on the training rows, its L2 strength chosen on dev accuracy (``*_batches``: iterables of
    (tokenised batch, labels))."""
    model = StaticModel(
        vectors,
        torch.zeros(vectors.shape[1]),
        torch.ones(vectors.shape[1]),
        torch.zeros(num_labels, vectors.shape[1]),
        torch.zeros(num_labels),
        tuple(special_ids),
    )
    with torch.no_grad():
        x, y = _texts(model, train_batches)
        model.mean, model.std = x.mean(0), x.std(0).clamp(min=1e-6)
        x = (x - model.mean) / model.std
        xd, yd = _texts(model, dev_batches)
    best = None
    for l2 in L2_GRID:
        w, b = _logreg(x, y, num_labels, l2)
        acc = int(((xd @ w.T + b).argmax(-1) == yd).sum()) / len(yd)
        if best is None or acc > best[0]:
            best = (acc, l2, w, b)
    log(f"static baseline: head L2 {best[1]} (dev accuracy {best[0]:.4f})")
    model.weight, model.bias = best[2], best[3]
    return model
