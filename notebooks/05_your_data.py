# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Your data, your student
# From a labelled table to a small model you can serve: fine-tune a teacher on your data (or bring one), distil a
# student from its first `layers` layers, test both on the same split, export the student for
# `transformers.pipeline`, ONNX and int8, and compare accuracy, size and speed. The same journey as
# `pkd distill` (README, "Compress your own model"). Left empty, `train_file` is a demo: 1,000 IMDB reviews of the
# embedded data, written as a user's CSV (columns `review`, `sentiment`, labels `negative`/`positive`).

# %% tags=["parameters"]
# your data: .csv .tsv .jsonl .parquet, a datasets folder, or hub:owner/name (empty: the demo)
train_file = ""
# dev and test splits (empty: 10% of train_file each, stratified by label)
dev_file = ""
test_file = ""
# one text column, or two for sentence pairs ("premise,hypothesis"); the label column
text_columns = "review"
label_column = "sentiment"
layers = 3
# a fine-tuned teacher's folder (empty: fine-tune `pretrained` on your data); empty pretrained: all-MiniLM-L6-v2
teacher = ""
pretrained = ""
# RunConfig fields for the student and the teacher, e.g. {"method": "kd", "epochs": 6}
student = {}
teacher_config = {}
onnx = True
int8 = True
# the export folder (empty: exports/<task>-<method>-L<layers>)
out = ""
results_dir = "results"
work_dir = "work"
threads = 0

# %%
from pkdstudy.notebooks import check_globals, set_threads

check_globals(globals(), "05_your_data")
set_threads(threads)

import matplotlib.pyplot as plt
import pandas as pd

from pkdlib.distill import distill, plan, summary_text
from pkdlib.paths import Workspace
from pkdstudy import in_project

ws = Workspace(in_project(results_dir), in_project(work_dir))
if not train_file:  # the demo: real reviews shaped as a user's file
    from pkdlib.data import embedded_csv_path

    reviews = pd.read_csv(embedded_csv_path(), dtype=str, keep_default_na=False).query("source == 'imdb'")
    demo = reviews.sample(n=1000, random_state=0)
    train_file = str(ws.work / "demo_reviews.csv")
    ws.work.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"review": demo.text, "sentiment": demo.label.map({"0": "negative", "1": "positive"})}).to_csv(
        train_file, index=False
    )


def given(path):  # an empty parameter is "not given"; a relative path is relative to the project
    return in_project(path) if path else None


data = {
    "train_file": given(train_file),
    "dev_file": given(dev_file),
    "test_file": given(test_file),
    "text_columns": text_columns,
    "label_column": label_column,
}
p = plan(data, layers, given(teacher), pretrained or None, given(out), student, teacher_config)
print(
    "teacher:",
    "given, " + p.teacher_dir if p.teacher_dir else f"fine-tune {p.teacher.pretrained}, {p.teacher.epochs} epochs",
)
print(f"student: {layers} layers, {p.student.method}, {p.student.epochs} epochs; export to {p.out}")

# %%
summary = distill(p, ws, onnx=onnx, int8=int8)
print(summary_text(summary))

# %% [markdown]
# ## Accuracy against the majority class, and speed
# The dashed line is what always answering the most frequent training label scores; a model at or under it did not
# learn (the summary above says so). Latency is per example at batch size 1 on this CPU, the models measured
# side by side.

# %%
models = {"teacher": summary["teacher"], "student": summary["student"]}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].bar(list(models), [m["accuracy"] for m in models.values()], color=["#555555", "#1f77b4"])
axes[0].axhline(summary["majority_baseline"], ls="--", color="k", label="majority class")
axes[0].set(ylabel=f"{summary['test_split']} accuracy", ylim=(0, 1), title="accuracy")
axes[0].legend(loc="lower right")
lat = summary["latency_ms"]
axes[1].bar(list(lat), list(lat.values()), color="#2ca02c")
axes[1].set(ylabel="ms per example (batch 1)", title=f"CPU latency (speed-up {summary['speedup']}x)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Use the student
# The exported folder loads with plain transformers; `truncation=True` cuts long inputs at the run's length.

# %%
from transformers import pipeline

clf = pipeline("text-classification", model=str(p.out), truncation=True)
rows = pd.read_json(p.out / "test_split.jsonl", lines=True, dtype=False).head(5)
cols = [c.strip() for c in text_columns.split(",")]
inputs = [r[cols[0]] if len(cols) == 1 else {"text": r[cols[0]], "text_pair": r[cols[1]]} for _, r in rows.iterrows()]
answers = [clf(x) for x in inputs]
rows["student says"] = [(a[0] if isinstance(a, list) else a)["label"] for a in answers]
rows
