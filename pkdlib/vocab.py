"""Embedding compression: keep only the vocabulary a model's training text uses (``pkd export --prune-vocab``).

A BERT-size student keeps its teacher's whole embedding matrix (all-MiniLM-L6-v2: 30,522 x 384 = 11.7M of a 3-layer
student's 17.4M parameters), though a task's text uses a few thousand of its tokens. The kept tokens are

- the special tokens ([PAD], [UNK], [CLS], [SEP], [MASK]),
- every token the training text (labelled and unlabeled rows) is split into,
- every single-character piece (``a`` and ``##a`` for each character the vocabulary has): **the rule for unseen
  words**. WordPiece splits a word greedily into the longest pieces it has, so with the single characters kept a
  word the training text never used is spelled out in smaller pieces, down to characters, instead of becoming
  [UNK]: the model still sees its letters (a whole-word [UNK] would erase them), and no text gets an [UNK] the full
  vocabulary would not have given it.

A word of the training text keeps its exact tokenization (each of its pieces is kept, and no longer piece existed),
so the pruned model gives the same logits on every training row; this is checked when the tokenizer is built. Text
with unseen words may change; ``pkd export`` measures that on the test split (parity and a paired test) and keeps
the full vocabulary if a loss is shown. Only WordPiece tokenizers (BERT's family) are pruned; others are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import KnownError

__all__ = ["VocabError", "Pruned", "check_prunable", "kept_ids", "prune", "tokenization_changes"]

#: the tokenizer settings carried over to the pruned tokenizer
TOKENIZER_KWARGS = (
    "do_lower_case",
    "strip_accents",
    "tokenize_chinese_chars",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class VocabError(KnownError, ValueError):
    """A model or tokenizer whose vocabulary cannot be pruned, with why."""


@dataclass
class Pruned:
    model: object  # the classifier with the kept rows of its embedding matrix
    tokenizer: object  # a WordPiece tokenizer of the kept tokens, ids in the original order
    kept: list  # the original ids kept, in order (new id = position)
    info: dict  # vocabulary and parameter counts before and after, what was kept and why


def _wordpiece(tokenizer) -> None:
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    kind = json.loads(backend.to_str())["model"]["type"] if backend is not None else None
    if kind != "WordPiece":
        raise VocabError(
            f"--prune-vocab prunes WordPiece vocabularies (BERT's family); this tokenizer is "
            f"{type(tokenizer).__name__} ({kind or 'no fast backend'}); export without --prune-vocab"
        )


def _ids(tokenizer, texts, chunk: int = 1000):
    """Each row's token ids (no special tokens, no truncation), the rows tokenized in chunks."""
    for i in range(0, len(texts), chunk):
        cols = [list(c) for c in zip(*texts[i : i + chunk])]
        yield from tokenizer(*cols, add_special_tokens=False, truncation=False)["input_ids"]


#: strings a rebuilt tokenizer must split as the original does (accents, case, punctuation, digits, CJK, a pair)
PROBES = (
    [("Héllo, WORLD! naïve café 1984 -- it's",), ("日本語 text  with   spaces",)],
    [("a first text", "and its pair")],
)


def check_prunable(model_dir) -> None:
    """Refuse, before any work, a tokenizer ``prune`` cannot rebuild: not WordPiece, or one whose rebuild from its own
    full vocabulary splits text otherwise (another normaliser, a class that takes no ``vocab``)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    _wordpiece(tok)
    try:
        same = _new_tokenizer(tok, sorted(tok.get_vocab().values()))
        changed = sum(tokenization_changes(tok, same, rows)["changed"] for rows in PROBES)
    except (TypeError, ValueError) as e:
        changed = f"its rebuild failed: {e}"
    if changed:
        raise VocabError(
            f"--prune-vocab cannot rebuild this tokenizer ({type(tok).__name__}; {changed}); export without "
            f"--prune-vocab"
        )


def _pieces(tokenizer, texts) -> set[int]:
    return {i for ids in _ids(tokenizer, texts) for i in ids}


def kept_ids(tokenizer, texts) -> tuple[list[int], dict]:
    """The original ids kept for ``texts`` (tuples of one or two strings), sorted, and how many came from each rule."""
    vocab = tokenizer.get_vocab()
    used = _pieces(tokenizer, texts)
    chars = {i for w, i in vocab.items() if len(w) == 1 or (w.startswith("##") and len(w) == 3)}
    special = set(tokenizer.all_special_ids)
    kept = sorted(special | used | chars)
    return kept, {"special": len(special), "used_by_training_text": len(used), "single_characters": len(chars)}


def _new_tokenizer(tokenizer, kept: list[int]):
    inv = {i: w for w, i in tokenizer.get_vocab().items()}
    kwargs = {k: tokenizer.init_kwargs[k] for k in TOKENIZER_KWARGS if k in tokenizer.init_kwargs}
    new = type(tokenizer)(vocab={inv[i]: j for j, i in enumerate(kept)}, **kwargs)
    new.model_max_length = tokenizer.model_max_length
    return new


def _new_model(model, kept: list[int], pad_id: int | None):
    old = model.get_input_embeddings()
    w = old.weight
    emb = torch.nn.Embedding(len(kept), old.embedding_dim, padding_idx=pad_id, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        emb.weight.copy_(w[torch.tensor(kept, device=w.device)])
    model.set_input_embeddings(emb)
    model.config.vocab_size = len(kept)
    if pad_id is not None:
        model.config.pad_token_id = pad_id
    return model


def prune(model, tokenizer, train_texts) -> Pruned:
    """The model and tokenizer with only the kept vocabulary (see the module). ``train_texts``: the rows the model was
    trained on, tuples of one or two strings. Checked: every training row tokenizes to the same tokens as before."""
    _wordpiece(tokenizer)
    n_before = model.get_input_embeddings().num_embeddings
    params_before = sum(p.numel() for p in model.parameters())
    kept, why = kept_ids(tokenizer, train_texts)
    new_tok = _new_tokenizer(tokenizer, kept)
    changed = tokenization_changes(tokenizer, new_tok, train_texts)
    if changed["changed"]:
        raise VocabError(
            f"the pruned tokenizer splits {changed['changed']} training rows differently (first: "
            f"{changed['first']!r}); this tokenizer is not plain WordPiece; export without --prune-vocab"
        )
    pad = new_tok.pad_token_id if tokenizer.pad_token_id is not None else None
    new_model = _new_model(model, kept, pad)
    info = {
        "vocabulary": {"before": n_before, "after": len(kept)},
        "kept_because": why,
        "parameters": {"before": params_before, "after": sum(p.numel() for p in new_model.parameters())},
        "rule_for_unseen_words": "spelled out in the longest kept pieces, down to single characters (never a new "
        "[UNK])",
        "training_rows": len(train_texts),
    }
    return Pruned(new_model, new_tok, kept, info)


def tokenization_changes(old, new, texts) -> dict:
    """How many rows ``new`` splits into other tokens than ``old`` (compared as token strings), and how many gain an
    [UNK] they did not have."""
    changed, more_unk, first = 0, 0, None
    for t, ia, ib in zip(texts, _ids(old, texts), _ids(new, texts)):
        a, b = old.convert_ids_to_tokens(ia), new.convert_ids_to_tokens(ib)
        if a != b:
            changed += 1
            first = first if first is not None else t[0][:80]
            more_unk += b.count(new.unk_token) > a.count(old.unk_token)
    return {"rows": len(texts), "changed": changed, "more_unk": more_unk, "first": first}
