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
# # 2. One student
# A k-layer student (the embeddings and first k layers of the pre-trained encoder, a fresh
# classifier) trained with one method:
#
# | method | objective |
# |---|---|
# | `ft` | CE |
# | `kd` | (1-alpha) CE + alpha KD(T) |
# | `pkd-last` / `pkd-skip` | (1-alpha) CE + alpha KD(T) + beta PT on intermediate [CLS] states |

# %% tags=["parameters"]
# Any RunConfig field (`pkd train --help` lists them with defaults and accepted values); fields left out
# take RunConfig's defaults. Without teacher_dir, the newest teacher of this task in results_dir is used.
config = {"task": "rt", "method": "pkd-skip", "student_layers": 3}
results_dir = "results"
work_dir = "work"
force = False
threads = 0  # torch threads (0: torch's default); run_all.sh --workers N gives each run cores / N

# %%
from pkdstudy.notebooks import check_globals, set_threads

check_globals(globals(), "02_student")
set_threads(threads)

import matplotlib.pyplot as plt
import pandas as pd

from pkdlib import RunConfig
from pkdlib.losses import TERMS
from pkdlib.paths import Workspace
from pkdlib.records import find_teacher
from pkdlib.runs import run
from pkdstudy import in_project

ws = Workspace(in_project(results_dir), in_project(work_dir))
config = {
    **config,
    "data_dir": in_project(config.get("data_dir")),
    "teacher_dir": in_project(config.get("teacher_dir"))
    or find_teacher(ws.records, config.get("task", "rt"), config.get("pretrained", RunConfig.pretrained)),
}
print("teacher:", config["teacher_dir"])
record = run(RunConfig.from_dict(config), ws, force=force)
print(record["objective"])

# %% [markdown]
# ## Learning curves
# Loss parts (unweighted) and the running training accuracy, about 20 points per epoch; dev
# accuracy after each epoch.

# %%
curve = pd.DataFrame(record["curve"])
parts = [c for c in ("loss", *TERMS) if c in curve]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
curve.plot(x="epoch", y=parts, ax=axes[0], logy=True, title="training loss (parts unweighted)")
curve.plot(x="epoch", y="train_acc", ax=axes[1], label="train (running)")
dev = [(e["epoch"], e[list(k for k in e if k.startswith("dev"))[0]]["accuracy"]) for e in record["epochs"]]
axes[1].plot(*zip(*dev), "o-", label="dev")
axes[1].set_title("accuracy")
axes[1].legend()
plt.tight_layout()
plt.show()

# %%
print("best epoch:", record["best_epoch"], "| dev:", record["dev"], "| test:", record["test"])
print(f"train time {record['timings']['train_s']:.0f}s, total {record['timings']['total_s']:.0f}s")
