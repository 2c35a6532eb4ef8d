"""Embedding compression (``pkdlib.vocab``, ``pkd export --prune-vocab``): the vocabulary pruned to the training text
gives the same logits on every training row, spells unseen words in smaller pieces (never a new [UNK]), refuses a
tokenizer it cannot prune before any work, and is kept only when the test split shows no loss."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from pkdlib.data import embedded_csv_path
from pkdlib.vocab import VocabError, check_prunable, prune, tokenization_changes


@pytest.fixture(scope="module")
def sentences():
    df = pd.read_csv(embedded_csv_path(), dtype=str, keep_default_na=False)
    rt = df[df.source == "rotten_tomatoes"].sample(n=300, random_state=1)
    return [(t,) for t in rt.text[:200]], [(t,) for t in rt.text[200:]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A random 1-layer BERT classifier with the embedded all-MiniLM-L6-v2 WordPiece tokenizer (real tokens)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from pkdlib.models import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("embedded:all-MiniLM-L6-v2"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=0,
    )
    path = tmp_path_factory.mktemp("vocab") / "model"
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def load(path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


@torch.inference_mode()
def logits(model, tok, texts):
    enc = tok([t[0] for t in texts], padding=True, truncation=True, max_length=64, return_tensors="pt")
    return model(**enc).logits


def test_pruned_vocabulary_gives_the_same_logits_on_every_training_row_and_is_much_smaller(folder, sentences):
    train, _ = sentences
    model, tok = load(folder)
    full = logits(model, tok, train)
    p = prune(model, tok, train)
    v = p.info["vocabulary"]
    assert v["before"] == 30522 and 2000 < v["after"] < 6000, v  # 200 sentences' tokens and the single characters
    assert p.model.get_input_embeddings().num_embeddings == v["after"] == len(p.tokenizer)
    assert p.info["parameters"]["before"] - p.info["parameters"]["after"] == (v["before"] - v["after"]) * 32
    assert torch.equal(logits(p.model, p.tokenizer, train), full)  # bit for bit: the same ids' rows, in order
    assert p.model.config.pad_token_id == p.tokenizer.pad_token_id == 0


def test_an_unseen_word_is_spelled_in_smaller_pieces_never_a_new_unk(folder, sentences):
    train, test = sentences
    model, tok = load(folder)
    p = prune(model, tok, [("a good film",)])
    assert tok.tokenize("zebra") == ["zebra"]
    assert p.tokenizer.tokenize("zebra") == ["z", "##e", "##b", "##r", "##a"]
    changes = tokenization_changes(tok, p.tokenizer, test + [("zebra",)])
    assert changes["changed"] > 0 and changes["more_unk"] == 0 and changes["rows"] == len(test) + 1


def test_a_tokenizer_that_is_not_wordpiece_is_refused_before_any_work(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "[UNK]": 2}, merges=[], unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="[UNK]").save_pretrained(tmp_path)
    with pytest.raises(VocabError, match="WordPiece"):
        check_prunable(tmp_path)


@pytest.mark.parametrize("damage", [False, True])
def test_the_export_keeps_the_pruned_vocabulary_unless_the_test_split_shows_a_loss(
    folder, sentences, tmp_path, monkeypatch, damage
):
    """The export's check on a folder: kept when predictions barely move; the full vocabulary kept (files untouched)
    when a paired test shows a loss (here: the pruned model's classifier negated, so every prediction flips)."""
    import shutil

    import pkdlib.export as ex
    import pkdlib.vocab as vocab
    from pkdlib.ownership import file_hashes

    train, test = sentences
    out = tmp_path / "export"
    shutil.copytree(folder, out)
    model, tok = load(out)
    labels = logits(model, tok, test).argmax(-1).tolist()  # the full model is right on every row
    monkeypatch.setattr(ex, "train_texts", lambda record, log=print: train)
    if damage:
        real = vocab.prune

        def zeroed(*a):
            p = real(*a)
            with torch.no_grad():
                p.model.classifier.weight.neg_(), p.model.classifier.bias.neg_()
            return p

        monkeypatch.setattr(vocab, "prune", zeroed)
    before = file_hashes(out)
    said = []
    c = ex.prune_vocab({"config": {"max_length": 64}}, out, SimpleNamespace(texts=test, labels=labels), said.append)
    assert c["kept"] is (not damage) and c["loss_shown"] is damage
    assert c["ref_only_correct"] >= c["new_only_correct"] == 0  # the reference is right everywhere
    if damage:
        assert file_hashes(out) == before and said[0].startswith("*** WARNING: vocabulary NOT pruned")
        return
    assert c["size_mib"]["after"] < c["size_mib"]["before"] and "vocabulary pruned to the training text" in said[0]
    again, tok2 = load(out)
    assert len(tok2) == c["vocabulary"]["after"] == again.config.vocab_size
    assert torch.equal(logits(again, tok2, train), logits(model, tok, train))
    assert json.loads((out / "config.json").read_text())["vocab_size"] == c["vocabulary"]["after"]


def test_a_wordpiece_tokenizer_that_cannot_be_rebuilt_is_refused_before_any_work(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    wp = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=wp, unk_token="[UNK]").save_pretrained(tmp_path)
    with pytest.raises(VocabError, match="cannot rebuild this tokenizer"):
        check_prunable(tmp_path)


def test_the_training_rows_are_checked_against_the_record_before_pruning():
    from pkdlib.config import RunConfig
    from pkdlib.export import ExportError, train_texts

    cfg = RunConfig(task="rt", method="teacher", max_train_examples=50).to_dict()
    with pytest.raises(ExportError, match="not the ones run r1 trained on"):
        train_texts({"run_id": "r1", "config": cfg, "data": {"train": {"n": 50, "checksum": "another"}}})


def test_latency_gives_a_predictor_its_own_inputs():
    """The full-vocabulary teacher beside a pruned student reads the rows through its own tokenizer."""
    from pkdlib.export import Exported, latency_ms

    def tok(value):
        def encode(*cols, **kw):
            ids = torch.full((len(cols[0]), 3), value, dtype=torch.long)
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}

        return encode

    def reads(value):
        def f(b):
            assert bool((b["input_ids"] == value).all())

        return f

    rows = [("x",)] * 5
    data, theirs = Exported(rows, torch.zeros(5), tok(1), 8), Exported(rows, torch.zeros(5), tok(2), 8)
    t = latency_ms({"teacher": reads(2), "student": reads(1)}, data, own={"teacher": theirs})
    assert set(t) == {"teacher", "student"}
