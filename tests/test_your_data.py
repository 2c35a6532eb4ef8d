"""Your model, your data: tables of real text shaped as a user's (renamed columns, string labels, 3 labels, sentence
pairs; CSV, JSON Lines, Parquet, a datasets folder), through `pkd distill` to an exported folder that plain
transformers loads in a fresh process with the same test accuracy; ONNX and int8 checked; bad input refused before
any work; BERT, RoBERTa and ELECTRA students built and trained."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from pkdlib.config import ConfigError, RunConfig
from pkdlib.data import DataError, embedded_csv_path, load_data
from pkdlib.distill import auto_epochs, distill, plan, summary_text

QUIET = {"progress": False, "log": lambda *a, **k: None}
TINY = {"epochs": 2, "lr": 3e-3, "batch_size": 16, "max_length": 48}


@pytest.fixture(scope="module")
def real():
    """Real movie-review text from the embedded package: short rt sentences and long IMDB reviews."""
    df = pd.read_csv(embedded_csv_path(), dtype=str, keep_default_na=False)
    rt = df[df.source == "rotten_tomatoes"].sample(n=600, random_state=0).reset_index(drop=True)
    return rt, df[df.source == "imdb"].sample(n=200, random_state=0)


@pytest.fixture(scope="module")
def tables(real, tmp_path_factory):
    rt, imdb = real
    d = tmp_path_factory.mktemp("user")
    two = pd.DataFrame({"review": rt.text[:240], "sentiment": rt.label[:240].map({"0": "negative", "1": "positive"})})
    two.to_csv(d / "reviews.csv", index=False)
    three = pd.concat(
        [
            pd.DataFrame({"body": rt.text[:120], "kind": rt.label[:120].map({"0": "neg", "1": "pos"})}),
            pd.DataFrame({"body": imdb.text[:60].str[:300], "kind": "long"}),
        ]
    ).sample(frac=1, random_state=0)
    three.to_json(d / "three.jsonl", orient="records", lines=True)
    a, b = rt.iloc[200:400].reset_index(drop=True), rt.iloc[400:600].reset_index(drop=True)
    pairs = pd.DataFrame({"first": a.text, "second": b.text, "same": (a.label == b.label).astype(int)})
    pairs.to_parquet(d / "pairs.parquet")
    return d


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    """Tiny random-weight encoders of each supported family, with the embedded WordPiece tokenizer (real tokens)."""
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertModel,
        ElectraConfig,
        ElectraModel,
        RobertaConfig,
        RobertaModel,
    )

    from pkdlib.models import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("embedded:all-MiniLM-L6-v2"))
    kw = {
        "vocab_size": tok.vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "type_vocab_size": 2,
        "pad_token_id": 0,
    }
    out = {}
    for name, (cfg_cls, model_cls, extra) in {
        "bert": (BertConfig, BertModel, {"max_position_embeddings": 128}),
        "roberta": (RobertaConfig, RobertaModel, {"max_position_embeddings": 130}),
        "electra": (ElectraConfig, ElectraModel, {"max_position_embeddings": 128, "embedding_size": 32}),
    }.items():
        path = tmp_path_factory.mktemp(name) / "model"
        model_cls(cfg_cls(**kw, **extra)).save_pretrained(path)
        tok.save_pretrained(path)
        out[name] = path
    return out


def data(path, text, label, **kw):
    return {"train_file": str(path), "text_columns": text, "label_column": label, **kw}


def distill_argv(tables, encoders) -> list[str]:
    """``pkd distill``'s arguments for a 1-layer student of the tiny BERT on reviews.csv, which CLI tests share."""
    where = ["--text-columns", "review", "--label-column", "sentiment"]
    return [
        "distill",
        "--train",
        str(tables / "reviews.csv"),
        *where,
        "--layers",
        "1",
        "--pretrained",
        str(encoders["bert"]),
    ]


def test_tables_keep_label_names_split_deterministically_and_checksum_content(tables, tmp_path):
    spec, s = load_data(
        RunConfig.from_dict(
            {"task": "mine", "method": "teacher", **data(tables / "reviews.csv", "review", "sentiment")}
        )
    )
    assert spec.label_names == ("negative", "positive") and spec.num_labels == 2 and spec.text_keys == ("review",)
    assert [len(s[k]) for k in ("train", "dev", "test")] == [192, 24, 24]  # 10% + 10% of each label, stratified
    assert set(s["train"].ids).isdisjoint(s["test"].ids) and set(s["dev"].ids).isdisjoint(s["test"].ids)
    spec3, s3 = load_data(
        RunConfig.from_dict({"task": "three", "method": "teacher", **data(tables / "three.jsonl", "body", "kind")})
    )
    assert spec3.label_names == ("long", "neg", "pos") and spec3.num_labels == 3
    assert sorted(set(s3["test"].labels)) == [0, 1, 2]
    specp, sp = load_data(
        RunConfig.from_dict(
            {"task": "pairs", "method": "teacher", **data(tables / "pairs.parquet", "first,second", "same")}
        )
    )
    assert specp.label_names == ("0", "1") and len(sp["train"].texts[0]) == 2
    # another file with the same row count but one changed text is another run (content checksum)
    df = pd.read_csv(tables / "reviews.csv")
    df.loc[3, "review"] = "an edited review"
    df.to_csv(tmp_path / "edited.csv", index=False)
    _, e = load_data(
        RunConfig.from_dict(
            {"task": "mine", "method": "teacher", **data(tmp_path / "edited.csv", "review", "sentiment")}
        )
    )
    assert [len(e[k]) for k in e] == [len(s[k]) for k in s]
    changed = [k for k in s if e[k].checksum != s[k].checksum]
    assert len(changed) == 1 and 3 in s[changed[0]].ids


def test_given_splits_and_a_datasets_folder(tables, tmp_path):
    import datasets

    df = pd.read_csv(tables / "reviews.csv")
    df.iloc[:150].to_csv(tmp_path / "tr.tsv", sep="\t", index=False)
    df.iloc[150:200].to_csv(tmp_path / "te.tsv", sep="\t", index=False)
    spec, s = load_data(
        RunConfig.from_dict(
            {
                "task": "tsv",
                "method": "teacher",
                "test_file": str(tmp_path / "te.tsv"),
                **data(tmp_path / "tr.tsv", "review", "sentiment"),
            }
        )
    )
    assert len(s["test"]) == 50 and len(s["dev"]) + len(s["train"]) == 150  # dev split off train only
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(df.iloc[:150], preserve_index=False),
            "validation": datasets.Dataset.from_pandas(df.iloc[150:190], preserve_index=False),
            "test": datasets.Dataset.from_pandas(df.iloc[190:], preserve_index=False),
        }
    )
    dd.save_to_disk(tmp_path / "dd")
    spec, s = load_data(
        RunConfig.from_dict({"task": "dd", "method": "teacher", **data(tmp_path / "dd", "review", "sentiment")})
    )
    assert [len(s[k]) for k in ("train", "dev", "test")] == [150, 40, 50]


def test_bad_input_is_refused_before_any_work(tables, tmp_path, encoders, capsys):
    from transformers import GPT2Config, GPT2Model

    df = pd.read_csv(tables / "reviews.csv")

    def refused(exc, match, d, layers=1):
        with pytest.raises(exc, match=match):
            plan(d, layers=layers, pretrained=str(encoders["bert"]), out=tmp_path / "out")
        assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()

    refused(
        DataError, r"no column 'text'; its columns: review, sentiment", data(tables / "reviews.csv", None, "sentiment")
    )
    df.assign(review=df.review.where(df.index != 7, "  ")).to_csv(tmp_path / "empty.csv", index=False)
    refused(
        DataError,
        r"'review' has 1 empty or non-text cells \(first at row 7",
        data(tmp_path / "empty.csv", "review", "sentiment"),
    )
    df.assign(sentiment="positive").to_csv(tmp_path / "one.csv", index=False)
    refused(DataError, "one label only", data(tmp_path / "one.csv", "review", "sentiment"))
    df.iloc[:20].assign(sentiment=["x"] * 18 + ["y"] * 2).to_csv(tmp_path / "few.csv", index=False)
    refused(DataError, "too few rows per label", data(tmp_path / "few.csv", "review", "sentiment"))
    df.iloc[:30].assign(sentiment="neutral").to_csv(tmp_path / "dev.csv", index=False)
    refused(
        DataError,
        r"labels \['neutral'\] that the training split does not have",
        data(tables / "reviews.csv", "review", "sentiment", dev_file=str(tmp_path / "dev.csv")),
    )
    (tmp_path / "bin.csv").write_bytes(b"review,sentiment\n\xff\xfe\x00bad,1\n")
    refused(DataError, "not UTF-8", data(tmp_path / "bin.csv", "review", "sentiment"))
    GPT2Model(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ConfigError, match="'gpt2' model; pkdlib builds students of bert, roberta, electra"):
        plan(
            data(tables / "reviews.csv", "review", "sentiment"), pretrained=str(tmp_path / "gpt2"), out=tmp_path / "out"
        )
    refused(ConfigError, "layers=3", data(tables / "reviews.csv", "review", "sentiment"), layers=3)  # the encoder has 3
    with pytest.raises(ConfigError, match="method='teacher' trains no student; accepted: ft, kd, "):
        plan(
            data(tables / "reviews.csv", "review", "sentiment"),
            pretrained=str(encoders["bert"]),
            out=tmp_path / "out",
            layers=1,
            student={"method": "teacher"},
        )
    from pkdlib.cli import main

    for flag in ("--epochs", "--teacher-epochs"):  # 0 is refused as any other value out of range, not ignored
        argv = [
            *distill_argv(tables, encoders),
            flag,
            "0",
            "--out",
            str(tmp_path / "out"),
            "--results",
            str(tmp_path / "results"),
            "--work",
            str(tmp_path / "work"),
        ]
        err = (main(argv, commands=[]), capsys.readouterr().err)
        assert err[0] == 2 and "epochs=0 must be > 0" in err[1]
        assert ("the teacher's settings" in err[1]) == (flag == "--teacher-epochs")
        assert not (tmp_path / "out").exists() and not (tmp_path / "results" / "records").exists()
    with pytest.raises(ConfigError, match="need train_file"):
        RunConfig(method="teacher", text_columns="review")
    with pytest.raises(ConfigError, match="name your task"):
        RunConfig(method="teacher", task="rt", train_file=str(tables / "reviews.csv"))


@pytest.mark.slow
def test_distill_end_to_end_exports_a_folder_plain_transformers_reproduces(tables, encoders, tmp_path):
    from pkdlib.paths import Workspace

    ws = Workspace(tmp_path / "results", tmp_path / "work")
    p = plan(
        data(tables / "reviews.csv", "review", "sentiment"),
        layers=1,
        pretrained=str(encoders["bert"]),
        out=tmp_path / "export",
        student={**TINY, "epochs": 3},
        teacher_overrides=TINY,
    )
    s = distill(p, ws, onnx=True, int8=True, **QUIET)
    m = json.loads((tmp_path / "export" / "pkd-export.json").read_text())
    rec_acc = m["test"]["test"]["accuracy"]
    assert s["student"]["accuracy"] == rec_acc and s["pipeline_accuracy"] == rec_acc
    assert m["checks"]["onnx"]["max_abs_logit_diff"] < 1e-4 and m["checks"]["onnx"]["accuracy_change_points"] == 0
    assert (
        "int8" in m["checks"]
        and (tmp_path / "export" / "onnx" / "model_int8.onnx").exists() == m["checks"]["int8"]["kept"]
    )
    cfg = json.loads((tmp_path / "export" / "config.json").read_text())
    assert cfg["id2label"] == {"0": "negative", "1": "positive"} and cfg["num_hidden_layers"] == 1
    tok_cfg = json.loads((tmp_path / "export" / "tokenizer_config.json").read_text())
    assert tok_cfg["model_max_length"] == TINY["max_length"]
    card = (tmp_path / "export" / "README.md").read_text()
    assert "layers kept | 1 of 3" in card and "truncation=True" in card and "majority-class baseline" in card
    from huggingface_hub import ModelCard

    meta = ModelCard(card).data.to_dict()  # the Hub's parser accepts the metadata
    assert meta["pipeline_tag"] == "text-classification" and meta["model-index"][0]["results"]
    assert str(tmp_path) not in card and "size (MiB)" in card
    int8 = m["checks"]["int8"]
    assert {"agreement", "p_value", "size_mib", "setting", "attempts"} <= set(int8)
    assert int8["kept"] != all(a["loss_shown"] for a in int8["attempts"])  # refused only when every setting lost
    check = """
import json, sys
from transformers import pipeline
clf = pipeline("text-classification", model=sys.argv[1], truncation=True, device="cpu")
rows = [json.loads(l) for l in open(sys.argv[1] + "/test_split.jsonl")]
long = clf("great " * 3000)  # longer than the model's positions: truncated, no crash
out = [clf(r["review"], top_k=None) for r in rows]
print(json.dumps({"accuracy": sum(o[0]["label"] == r["sentiment"] for o, r in zip(out, rows)) / len(rows),
                  "positive": [next(x["score"] for x in o if x["label"] == "positive") for o in out]}))
"""
    out = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path / "export")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert fresh["accuracy"] == rec_acc
    # the same probabilities as pkdlib's student on every test row (not only the same accuracy)
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pkdlib.export import Exported, test_rows, torch_logits
    from pkdlib.records import read_record

    rec = read_record(ws.records / f"{m['run_id']}.json")
    split, _ = test_rows(rec)
    model = AutoModelForSequenceClassification.from_pretrained(rec["model_dir"])
    probs = torch_logits(
        model,
        Exported(
            split.texts,
            torch.tensor(split.labels),
            AutoTokenizer.from_pretrained(tmp_path / "export"),
            TINY["max_length"],
        ),
    ).softmax(-1)[:, 1]
    assert torch.allclose(probs, torch.tensor(fresh["positive"]), atol=1e-5)
    text = summary_text(s)
    assert "majority-class baseline" in text and "speed-up" in text and "onnx: accuracy" in text
    assert "size on disk (MiB)" in text and "agreement with fp32" in text and " MB" not in text
    # a second call reuses both runs and exports again over its own folder
    again = distill(p, ws, **QUIET)
    assert again["runs"] == s["runs"] and again["student"]["accuracy"] == rec_acc


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,text,label,arch",
    [("three.jsonl", "body", "kind", "roberta"), ("pairs.parquet", "first,second", "same", "electra")],
)
def test_three_labels_and_pairs_on_roberta_and_electra(tables, encoders, tmp_path, name, text, label, arch):
    from pkdlib.paths import Workspace

    p = plan(
        data(tables / name, text, label),
        layers=2,
        pretrained=str(encoders[arch]),
        out=tmp_path / "export",
        student={**TINY, "epochs": 1},
        teacher_overrides={**TINY, "epochs": 1},
    )
    s = distill(p, Workspace(tmp_path / "results", tmp_path / "work"), **QUIET)
    assert s["student"]["accuracy"] == s["pipeline_accuracy"]  # pipeline() on the export, pairs as text/text_pair
    assert len(s["labels"]) == (3 if label == "kind" else 2) and s["student"]["layers"] == 2


def test_a_given_teacher_with_another_label_count_is_refused(tables, encoders, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    m = AutoModelForSequenceClassification.from_pretrained(encoders["bert"], num_labels=3)
    m.save_pretrained(tmp_path / "t3")
    AutoTokenizer.from_pretrained(encoders["bert"]).save_pretrained(tmp_path / "t3")
    with pytest.raises(ConfigError, match="has 3 labels, the data 2"):
        plan(
            data(tables / "reviews.csv", "review", "sentiment"),
            layers=1,
            teacher=str(tmp_path / "t3"),
            out=tmp_path / "o",
        )


def test_small_data_grows_epochs_to_a_minimum_of_steps():
    assert auto_epochs(800, 32, 4) == 12 and auto_epochs(20000, 32, 4) == 4 and auto_epochs(50, 32, 3) == 20


def test_export_refuses_a_folder_it_did_not_write(tables, tmp_path):
    from pkdlib.export import ExportError, check_out_dir

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an export of pkd's"):
        check_out_dir(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_cli_distill_prints_the_summary(tables, encoders, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pkdlib.cli",
            *distill_argv(tables, encoders),
            "--epochs",
            "1",
            "--teacher-epochs",
            "1",
            "--max-length",
            "32",
            "--no-progress",
            "--results",
            str(tmp_path / "r"),
            "--work",
            str(tmp_path / "w"),
            "--out",
            str(tmp_path / "e"),
            "--prune-vocab",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test accuracy" in out.stdout and "CPU latency" in out.stdout and "exported to" in out.stdout
    # --prune-vocab: the exported student keeps its training text's vocabulary, said in the summary and the card
    m = json.loads((tmp_path / "e" / "pkd-export.json").read_text())
    v = m["checks"]["vocab"]
    assert v["kept"] and v["vocabulary"]["after"] < v["vocabulary"]["before"] == 30522
    assert f"vocabulary pruned to the training text: {v['vocabulary']['after']:,} of 30,522 tokens" in out.stdout
    assert m["parameters"]["total"] == v["parameters"]["after"] and m["size_mib"]["student"] == v["size_mib"]["after"]
    assert "Its vocabulary was pruned to the" in (tmp_path / "e" / "README.md").read_text()
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "e").vocab_size == v["vocabulary"]["after"]
    bad = subprocess.run(
        [sys.executable, "-m", "pkdlib.cli", "distill", "--train", str(tables / "reviews.csv")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "no column 'text'; its columns: review, sentiment" in bad.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_your_data_notebook_runs_the_journey(tables, encoders, tmp_path):
    import papermill as pm

    from pkdstudy.notebooks import notebook_path

    out = tmp_path / "out.ipynb"
    pm.execute_notebook(
        str(notebook_path("05_your_data")),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
        parameters={
            "train_file": str(tables / "reviews.csv"),
            "layers": 1,
            "pretrained": str(encoders["bert"]),
            "student": {**TINY, "epochs": 1},
            "teacher_config": {**TINY, "epochs": 1},
            "onnx": True,
            "int8": False,
            "out": str(tmp_path / "export"),
            "results_dir": str(tmp_path / "r"),
            "work_dir": str(tmp_path / "w"),
        },
    )
    text = out.read_text()
    assert "majority-class baseline" in text and "speed-up" in text and "student says" in text
    assert (tmp_path / "export" / "onnx" / "model.onnx").is_file()


def test_renamed_labels_json_lines_named_json_and_macro_f1(tables, tmp_path):
    import torch

    from pkdlib.data import TaskSpec
    from pkdlib.metrics import compute_metrics

    df = pd.read_csv(tables / "reviews.csv")
    df.assign(sentiment=df.sentiment.map({"negative": "neg", "positive": "pos"})).to_json(
        tmp_path / "renamed.json", orient="records", lines=True
    )  # JSON Lines under a .json name
    a = load_data(
        RunConfig.from_dict({"task": "m", "method": "teacher", **data(tables / "reviews.csv", "review", "sentiment")})
    )
    b = load_data(
        RunConfig.from_dict(
            {"task": "m", "method": "teacher", **data(tmp_path / "renamed.json", "review", "sentiment")}
        )
    )
    assert b[0].label_names == ("neg", "pos") and a[1]["train"].labels == b[1]["train"].labels
    assert all(a[1][s].checksum != b[1][s].checksum for s in a[1])  # same rows, other label names: another run
    spec = TaskSpec("m", 3, ("t",), ("accuracy", "macro_f1"), "files", label_names=("a", "b", "c"))
    m = compute_metrics(spec, torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 1]))
    assert m["macro_f1"] == 1.0  # label c in neither the gold nor the predicted labels is no error


def test_export_refuses_another_tasks_export_and_record_paths_are_read_from_the_project_root(tmp_path, monkeypatch):
    from pkdlib.export import ExportError, check_out_dir
    from pkdlib.paths import from_record
    from pkdstudy import ROOT

    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "pkd-export.json").write_text(
        json.dumps({"task": "a", "run_id": "a-1", "data": {"train": {"n": 1}}})
    )
    rec = {"config": {"task": "b"}, "data": {"train": {"n": 1}}}
    with pytest.raises(ExportError, match="holds the export of another task"):
        check_out_dir(tmp_path / "e", rec)
    check_out_dir(tmp_path / "e", {"config": {"task": "a"}, "data": {"train": {"n": 1}}})  # its own: replaced
    monkeypatch.chdir(ROOT / "notebooks")
    assert from_record("work/models/x") == str(ROOT / "work" / "models" / "x")


def test_json_lines_with_a_byte_order_mark_is_read(tables, tmp_path):
    plain = (tables / "three.jsonl").read_bytes()
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + plain)  # what Notepad and PowerShell write
    cfg = {"task": "three", "method": "teacher", "text_columns": "body", "label_column": "kind"}
    a = load_data(RunConfig.from_dict({**cfg, "train_file": str(tables / "three.jsonl")}))
    b = load_data(RunConfig.from_dict({**cfg, "train_file": str(tmp_path / "bom.jsonl")}))
    assert b[0].label_names == a[0].label_names and all(a[1][s].checksum == b[1][s].checksum for s in a[1])


def test_a_fine_tuned_classifier_as_pretrained_is_refused_with_what_to_do(tables, encoders, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    m = AutoModelForSequenceClassification.from_pretrained(encoders["bert"], num_labels=3)
    m.save_pretrained(tmp_path / "clf")
    AutoTokenizer.from_pretrained(encoders["bert"]).save_pretrained(tmp_path / "clf")
    with pytest.raises(
        ConfigError,
        match=r"is a fine-tuned classifier \(BertForSequenceClassification, labels "
        r"\['LABEL_0', 'LABEL_1', 'LABEL_2'\]\).*give it as --teacher",
    ):
        plan(
            data(tables / "reviews.csv", "review", "sentiment"),
            layers=1,
            pretrained=str(tmp_path / "clf"),
            out=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


def test_a_numeric_label_column_with_missing_cells_is_refused_naming_column_and_values(tables, tmp_path):
    df = pd.read_csv(tables / "reviews.csv").iloc[:200]
    stars = (df.sentiment == "positive").astype(int).astype(str).tolist()
    for many in (12, 1):
        cells = ["N/A" if i < many else s for i, s in enumerate(stars)]
        df.assign(stars=cells).to_csv(tmp_path / "stars.csv", index=False)
        with pytest.raises(
            DataError,
            match=rf"label column 'stars' holds numbers but {many} cells say 'N/A' "
            rf"\({many}x\) \(first at row 0\): a missing label, not a class",
        ):
            load_data(
                RunConfig.from_dict(
                    {
                        "task": "stars",
                        "method": "teacher",
                        "train_file": str(tmp_path / "stars.csv"),
                        "text_columns": "review",
                        "label_column": "stars",
                    }
                )
            )
    df.assign(kind=["none"] * 100 + ["some"] * 100).to_csv(tmp_path / "words.csv", index=False)  # words: a class
    spec, _ = load_data(
        RunConfig.from_dict(
            {
                "task": "w",
                "method": "teacher",
                "train_file": str(tmp_path / "words.csv"),
                "text_columns": "review",
                "label_column": "kind",
            }
        )
    )
    assert spec.label_names == ("none", "some")


def test_too_few_rows_names_the_label_not_its_id(tables, tmp_path):
    df = pd.read_csv(tables / "reviews.csv").iloc[:40]
    df.assign(sentiment=["neg"] * 20 + ["pos"] * 18 + ["zzz-rare"] * 2).to_csv(tmp_path / "rare.csv", index=False)
    with pytest.raises(DataError, match=r"too few rows per label to split off dev and test \('zzz-rare': 2 rows\)"):
        load_data(
            RunConfig.from_dict(
                {"task": "r", "method": "teacher", **data(tmp_path / "rare.csv", "review", "sentiment")}
            )
        )


def test_test_split_jsonl_keeps_the_users_ids_and_label_column(tables, tmp_path):
    from pkdlib.export import write_test_split

    df = pd.read_csv(tables / "reviews.csv")
    df.insert(0, "id", [f"rev-{1000 + 7 * i}" for i in range(len(df))])
    df["stars"] = [5 if s == "positive" else 1 for s in df.sentiment]
    df.to_csv(tmp_path / "ids.csv", index=False)
    cfg = RunConfig.from_dict({"task": "ids", "method": "teacher", **data(tmp_path / "ids.csv", "review", "sentiment")})
    spec, splits = load_data(cfg)
    write_test_split(splits["test"], spec, tmp_path, cfg)
    rows = [json.loads(x) for x in (tmp_path / "test_split.jsonl").read_text().splitlines()]
    assert len(rows) == len(splits["test"]) == 24 and list(rows[0]) == ["id", "review", "sentiment", "stars"]
    by_id = df.set_index("id")
    for r, text, y in zip(rows, splits["test"].texts, splits["test"].labels):
        assert by_id.loc[r["id"], "review"] == r["review"] == text[0]  # joined back by the user's id: the same row
        assert r["sentiment"] == spec.label_names[y] and r["stars"] == str(
            by_id.loc[r["id"], "stars"]
        )  # CSV cells: text
    df["review"] = df.review + " \x85 and \u2028 end"  # characters str.splitlines takes for line ends (rt holds U+0085)
    df.drop(columns="id").to_csv(tmp_path / "noid.csv", index=False)  # no id column: the row number is the id
    cfg = cfg.replace(train_file=str(tmp_path / "noid.csv"))
    spec, splits = load_data(cfg)
    write_test_split(splits["test"], spec, tmp_path, cfg)
    rows = [json.loads(x) for x in (tmp_path / "test_split.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == splits["test"].ids and rows[0]["review"] == df.review[rows[0]["id"]]
    assert all(r["review"].endswith(" \x85 and \u2028 end") for r in rows)
