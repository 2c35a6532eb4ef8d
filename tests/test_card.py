"""The exported model card (pkdlib/card.py): Hub metadata that huggingface_hub parses (license and base_model from the
base model, model-index with the test metrics), intended use, limitations with the accuracy on each label, the teacher
by name and fingerprint and never a machine path, framework versions; a teacher run is not '0 of N layers kept'."""

from __future__ import annotations

from pathlib import Path

from pkdlib.card import base_model_facts


def test_the_embedded_base_is_named_by_its_hub_id_with_its_license():
    f = base_model_facts("embedded:all-MiniLM-L6-v2")
    assert f["hub_id"] == "sentence-transformers/all-MiniLM-L6-v2" and f["license"] == "apache-2.0"
    assert f["language"] == "en"
    assert base_model_facts("bert-base-uncased")["hub_id"] == "bert-base-uncased"  # a Hub id is its own name
    gone = base_model_facts("/no/such/folder/model")
    assert gone["hub_id"] is None and "/no/such" not in gone["name"]


def test_an_exported_teacher_run_gets_a_card_the_hub_parses(tiny_teacher, tmp_path):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from pkdlib.export import export_run

    rec, _ = tiny_teacher
    m = export_run(rec, tmp_path / "teacher-export", log=lambda *a: None)
    text = (tmp_path / "teacher-export" / "README.md").read_text()
    card = ModelCard(text)  # parses the YAML front matter and validates it
    meta = card.data.to_dict()
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "transformers"
    assert "base_model" not in meta and "license" not in meta  # a random local test encoder has neither
    name, results = model_index_to_eval_results(meta["model-index"])
    acc = next(r for r in results if r.metric_type == "accuracy")
    assert acc.metric_value == round(rec["test"]["test"]["accuracy"], 4) and acc.dataset_split == "test"
    assert "0 of" not in text and "all 4 layers (the fine-tuned model itself" in text
    for heading in ("## Intended use", "## Limitations", "## How it was made", "## Framework versions"):
        assert heading in text
    assert "| negative |" in text and "accuracy on its rows" in text  # measured accuracy on each label
    assert f"transformers {rec['provenance']['versions']['transformers']}" in text
    assert str(tmp_path) not in text and "/tmp/" not in text and str(Path.home()) + "/" not in text
    assert "size (MiB)" in text and "(MB)" not in text and "size_mib" in m


def test_a_student_card_names_base_model_license_and_the_teacher_by_fingerprint(tmp_path):
    from huggingface_hub import ModelCard

    from pkdlib.card import model_card

    m = {
        "run_id": "r-pkd-skip-1",
        "method": "pkd-skip",
        "objective": "0.5*CE + 0.5*KD(T=10)",
        "student_layers": 3,
        "teacher_layers": 6,
        "task": "reviews",
        "label_names": ["neg", "pos"],
        "max_length": 128,
        "pretrained": "embedded:all-MiniLM-L6-v2",
        "data": {"train": {"n": 800, "checksum": "ab" * 32}},
        "dev": {"dev": {"accuracy": 0.8}},
        "test": {"test": {"accuracy": 0.81234, "macro_f1": 0.8, "n": 100}},
        "majority_baseline": {"test": {"label": 1, "accuracy": 0.5}},
        "warnings": ["the student never predicts 'neg'"],
        "parameters": {"total": 17_400_000},
        "size_mib": {"student": 66.4},
        "latency_ms_per_example": {"student": 3.1},
        "latency_setting": "batch 1",
        "provenance": {"commit": "abc", "hardware": "a CPU"},
        "checks": {
            "pytorch": {
                "accuracy": 0.81234,
                "per_class": [
                    {"label": "neg", "n": 50, "predicted": 45, "correct": 40, "accuracy": 0.8},
                    {"label": "pos", "n": 50, "predicted": 55, "correct": 41, "accuracy": 0.82},
                ],
            }
        },
        "card": {
            "base": base_model_facts("embedded:all-MiniLM-L6-v2"),
            "teacher": {"name": "reviews-teacher-s0-1a2b", "fingerprint": "f" * 64, "layers": 6, "base": None},
            "recipe": {"epochs": 4, "lr": 1e-4},
            "best_epoch": 3,
            "versions": {"torch": "2.13.0"},
        },
    }
    text = model_card(m)
    meta = ModelCard(text).data.to_dict()
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["license"] == "apache-2.0"
    assert meta["model-index"][0]["results"][0]["metrics"][0] == {
        "type": "accuracy",
        "value": 0.8123,
        "name": "Accuracy",
    }
    assert {"type": "f1", "value": 0.8, "name": "Macro F1", "args": {"average": "macro"}} in [
        x for r in meta["model-index"][0]["results"] for x in r["metrics"]
    ]
    assert "reviews-teacher-s0-1a2b (6 layers), weights fingerprint sha256 " + "f" * 64 in text
    assert "3 of 6 (embeddings and the first 3" in text and "> **Warning:** the student never predicts 'neg'" in text
    assert "| neg | 50 | 45 | 0.8000 |" in text and "torch 2.13.0" in text
