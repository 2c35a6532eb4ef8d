import numpy as np
import pytest
from conftest import write_tiny_csv

from pkdlib.data import DataError, LengthBucketSampler, load_task

# sha256 of the ordered ids of each split of the packaged data (the split must never change)
GOLDEN = {
    ("rt", "train"): (6398, "5ae5ad7268f745e3"),
    ("rt", "dev"): (1066, "bb2d353b966fd898"),
    ("rt", "test"): (1066, "59cb02ca339fcd51"),
    ("imdb", "train"): (20000, "c3f464038d0e4fef"),
    ("imdb", "dev"): (2500, "f168ab72219d821f"),
    ("imdb", "test"): (2500, "16b9284d3fc678ed"),
}


@pytest.mark.parametrize("task, split", list(GOLDEN))
def test_embedded_split_sizes_and_checksums(task, split):
    sp = load_task(task, split)
    n, checksum = GOLDEN[task, split]
    assert len(sp) == n
    assert sp.checksum[:16] == checksum
    assert sum(sp.labels) == n // 2  # stratified: balanced like the source


def test_embedded_splits_are_disjoint():
    ids = [set(load_task("rt", s).ids) for s in ("train", "dev", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == 8530


def test_unknown_task():
    with pytest.raises(DataError, match="known tasks: rt, imdb, sst2"):
        load_task("sst-2", "train")


def test_bad_csv_files(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("sentence,label\nfine,1\n")
    with pytest.raises(DataError, match="lacks columns"):
        load_task("rt", "train", p)
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_task("rt", "train", p)
    p.write_text("text,label,source\n")
    with pytest.raises(DataError, match="no rows"):
        load_task("rt", "train", p)
    p.write_text("text,label,source\nok,1,rotten_tomatoes\nbad,7,rotten_tomatoes\n")
    with pytest.raises(DataError, match="outside"):
        load_task("rt", "train", p)
    p.write_bytes(b"text,label,source\n\xff\xfe caf\xe9,1,rotten_tomatoes\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_task("rt", "train", p)
    with pytest.raises(DataError, match="not found"):
        load_task("rt", "train", tmp_path / "missing.csv")


def test_custom_csv_split_by_same_fractions(tmp_path):
    p = write_tiny_csv(tmp_path / "r.csv", n=1000)
    sizes = [len(load_task("rt", s, p)) for s in ("train", "dev", "test")]
    assert sum(sizes) == 1000 and sizes[1] == sizes[2] == 124  # 1066/8530 of 500 per label, rounded


def test_bucket_sampler_covers_everything_and_groups_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=1000)
    s = LengthBucketSampler(lengths, 32, shuffle=True, seed=1, chunk=10)
    batches = s.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    pad_bucket = sum(len(b) * lengths[b].max() for b in batches)
    plain = LengthBucketSampler(lengths, 32, shuffle=True, seed=1, bucket=False).batches()
    pad_plain = sum(len(b) * lengths[b].max() for b in plain)
    assert pad_bucket < 0.8 * pad_plain
    # reproducible per epoch, different across epochs
    assert s.batches() == batches
    s.set_epoch(1)
    assert s.batches() != batches


def test_collate_pads_like_padding_by_hand(tiny_bert, tiny_csv):
    import torch

    from pkdlib.data import collate, tokenize_split
    from pkdlib.models import load_tokenizer

    ts = tokenize_split(load_task("rt", "train", tiny_csv), load_tokenizer(str(tiny_bert)), 64)
    idx = [3, 0, 7]
    b = collate(ts, idx)
    L = max(len(ts.input_ids[i]) for i in idx)
    for r, i in enumerate(idx):
        n = len(ts.input_ids[i])
        assert b["input_ids"][r].tolist() == ts.input_ids[i] + [0] * (L - n)
        assert b["token_type_ids"][r].tolist() == ts.token_type_ids[i] + [0] * (L - n)
        assert b["attention_mask"][r].tolist() == [1] * n + [0] * (L - n)
    assert torch.equal(b["index"], torch.tensor(idx)) and torch.equal(b["labels"], ts.labels[idx])


def test_a_local_csv_edited_in_place_is_another_split_for_identity_and_caches(tmp_path):
    """data_dir's files can change under the same path: their checksum (the run's identity, the teacher cache's key)
    covers the texts and labels, not only the row ids, so an edited CSV never reuses an earlier record or cache."""
    import pandas as pd

    p = write_tiny_csv(tmp_path / "r.csv", n=200)
    before = load_task("rt", "train", p)
    df = pd.read_csv(p)
    df.assign(text=df.text + " again").to_csv(p, index=False)  # same rows, same ids, other texts
    after = load_task("rt", "train", p)
    assert after.ids == before.ids and after.by_content and after.checksum != before.checksum


def test_a_record_with_the_ids_only_checksum_of_local_rows_is_still_exported_with_a_note(tmp_path):
    """Records written before local files were checksummed by content hold the ids-only checksum: export accepts
    the same ids, says their texts were not compared, and still refuses other rows."""
    from dataclasses import replace

    from pkdlib.export import same_rows

    split = load_task("rt", "test", write_tiny_csv(tmp_path / "r.csv", n=200))
    notes = []
    assert same_rows(split, split.checksum, notes.append) and not notes
    assert same_rows(split, replace(split, by_content=False).checksum, notes.append)
    assert "the ids match, the texts and labels were not compared" in notes[0]
    assert not same_rows(split, replace(split, ids=split.ids[1:], by_content=False).checksum, notes.append)
