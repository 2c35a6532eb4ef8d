# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. The teacher
# Fine-tune the pre-trained encoder on the task (cross-entropy only), keep the epoch that is best on
# dev, then fill the **teacher cache**: the teacher's logits and the [CLS] state of every layer for
# every training example, computed once in eval mode and read back by every student run.

# %% tags=["parameters"]
task = "rt"
pretrained = "embedded:all-MiniLM-L6-v2"
epochs = 3
lr = 5e-05
seed = 0
batch_size = 32
max_length = None
max_train_examples = None
max_eval_examples = None
precision = "fp32"
device = "auto"
data_dir = None
results_dir = "results"
work_dir = "work"
force = False

# %%
import pandas as pd

from pkdlib import RunConfig
from pkdlib.paths import in_project
from pkdlib.train import Workspace, fill_teacher_cache, run

results_dir, work_dir, data_dir = in_project(results_dir), in_project(work_dir), in_project(data_dir)
ws = Workspace(results_dir, work_dir)
cfg = RunConfig(task=task, method="teacher", pretrained=pretrained, epochs=epochs, lr=lr, seed=seed,
                batch_size=batch_size, max_length=max_length, max_train_examples=max_train_examples,
                max_eval_examples=max_eval_examples, precision=precision, device=device, data_dir=data_dir)
record = run(cfg, ws, force=force)

# %% [markdown]
# Per-epoch training loss, running training accuracy and dev accuracy; the best dev epoch is the
# teacher every student learns from, and its test accuracy is measured once.

# %%
pd.DataFrame([{"epoch": e["epoch"], "train loss": e["train_loss"], "train acc": e["train_acc"],
               "dev acc": e["dev"]["accuracy"] if "dev" in e else None, "seconds": e["train_time_s"]}
              for e in record["epochs"]]).set_index("epoch").round(4)

# %%
print("best epoch:", record["best_epoch"], "| dev:", record["dev"], "| test:", record["test"])
print("weights:", record["model_dir"])

# %% [markdown]
# ## Fill the teacher cache
# Students read the teacher's outputs from disk instead of running the teacher every step.

# %%
key = fill_teacher_cache(cfg.replace(method="kd", student_layers=1, teacher_dir=in_project(record["model_dir"])), ws)
print("teacher cache key:", key[:16])
