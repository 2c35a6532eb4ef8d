"""Shared fixtures: a tiny BERT saved locally and tiny data in the embedded and GLUE formats."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
POS = "good great fun moving superb charming funny brilliant".split()
NEG = "bad dull boring awful weak tedious clumsy bland".split()
FILL = "the a movie film story plot is was and of it this with acting script".split()


def make_review(rng: random.Random, label: int) -> str:
    words = rng.choices(FILL, k=rng.randint(3, 12)) + rng.choices(POS if label else NEG, k=rng.randint(1, 3))
    rng.shuffle(words)
    return " ".join(words)


def write_tiny_csv(path: Path, n: int = 300, seed: int = 0, source: str = "rotten_tomatoes") -> Path:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "source"])
        for i in range(n):
            y = i % 2
            w.writerow([make_review(rng, y), y, source])
    return path


def save_tiny_bert(path: Path, layers: int = 4, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + sorted(set(POS + NEG + FILL))
        + list("abcdefghijklmnopqrstuvwxyz")
    )
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)  # transformers 5: vocab=
    tok.save_pretrained(path)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(path)
    return path


def teacher_argv(pretrained, data_dir, results, work, *more: str) -> list[str]:
    """``pkd train``'s arguments for a teacher, which most CLI tests share; ``more`` after them."""
    where = ["--results", str(results), "--work", str(work)]
    return ["train", "--method", "teacher", "--pretrained", str(pretrained), "--data-dir", str(data_dir), *where, *more]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert") / "model")


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    return write_tiny_csv(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture()
def ws(tmp_path):
    from pkdlib.paths import Workspace

    return Workspace(tmp_path / "results", tmp_path / "work")


@pytest.fixture(scope="session")
def tiny_teacher(tiny_bert, tiny_csv, tmp_path_factory):
    """A fine-tuned tiny teacher (4 layers) on the tiny rt-format data, with its workspace."""
    from pkdlib import RunConfig
    from pkdlib.paths import Workspace
    from pkdlib.runs import run

    root = tmp_path_factory.mktemp("teacher_ws")
    ws = Workspace(root / "results", root / "work")
    rec = run(
        RunConfig(
            task="rt",
            method="teacher",
            pretrained=str(tiny_bert),
            data_dir=str(tiny_csv),
            epochs=3,
            lr=2e-3,
            batch_size=16,
            device="cpu",
        ),
        ws,
        progress=False,
        log=lambda *a: None,
    )
    return rec, ws
