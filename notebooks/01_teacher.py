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
# # 1. The teacher
# Fine-tune the pre-trained encoder on the task (cross-entropy only), keep the epoch that is best on
# dev, then fill the **teacher cache**: the teacher's logits and the [CLS] state of every layer for
# every training example, computed once in eval mode and read back by every student run.

# %% tags=["parameters"]
# Any RunConfig field (`pkd train --help`); fields left out take RunConfig's defaults.
config = {"task": "rt", "method": "teacher", "epochs": 3, "lr": 5e-05}
results_dir = "results"
work_dir = "work"
force = False
threads = 0  # torch threads (0: torch's default); run_all.sh --workers N gives each run cores / N

# %%
from pkdstudy.notebooks import check_globals, set_threads

check_globals(globals(), "01_teacher")
set_threads(threads)

import pandas as pd

from pkdlib import RunConfig
from pkdlib.paths import Workspace
from pkdlib.runs import fill_teacher_cache, run
from pkdstudy import in_project

ws = Workspace(in_project(results_dir), in_project(work_dir))
cfg = RunConfig.from_dict({**config, "method": "teacher", "data_dir": in_project(config.get("data_dir"))})
record = run(cfg, ws, force=force)

# %% [markdown]
# Per-epoch training loss, running training accuracy and dev accuracy; the best dev epoch is the
# teacher every student learns from, and its test accuracy is measured once.

# %%
pd.DataFrame(
    [
        {
            "epoch": e["epoch"],
            "train loss": e["train_loss"],
            "train acc": e["train_acc"],
            "dev acc": e["dev"]["accuracy"] if "dev" in e else None,
            "seconds": e["train_time_s"],
        }
        for e in record["epochs"]
    ]
).set_index("epoch").round(4)

# %%
print("best epoch:", record["best_epoch"], "| dev:", record["dev"], "| test:", record["test"])
print("weights:", record["model_dir"])

# %% [markdown]
# ## Fill the teacher cache
# Students read the teacher's outputs from disk instead of running the teacher every step.

# %%
key = fill_teacher_cache(cfg.replace(method="kd", student_layers=1, teacher_dir=in_project(record["model_dir"])), ws)
print("teacher cache key:", key[:16])
