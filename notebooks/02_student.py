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
task = "rt"
method = "pkd-skip"
student_layers = 3
pretrained = "embedded:all-MiniLM-L6-v2"
teacher_dir = None
init = "pretrained"
temperature = 10.0
alpha = 0.5
beta = 100.0
normalize = True
kd_reduction = "batchmean"
lr = 2e-04  # chosen on dev for one-epoch students (search profile)
epochs = 1
batch_size = 32
max_length = None
seed = 0
max_train_examples = None
max_eval_examples = None
precision = "fp32"
device = "auto"
data_dir = None
save_model = False
results_dir = "results"
work_dir = "work"
force = False

# %%
import matplotlib.pyplot as plt
import pandas as pd

from pkdlib import RunConfig
from pkdlib.report import find_teacher
from pkdlib.paths import in_project
from pkdlib.train import Workspace, run

results_dir, work_dir, data_dir = in_project(results_dir), in_project(work_dir), in_project(data_dir)
teacher_dir = in_project(teacher_dir)
ws = Workspace(results_dir, work_dir)
if teacher_dir is None:  # the newest teacher record for this task and encoder
    teacher_dir = find_teacher(ws.records, task, pretrained)
cfg = RunConfig(task=task, method=method, student_layers=student_layers, pretrained=pretrained,
                teacher_dir=teacher_dir, init=init, temperature=temperature, alpha=alpha, beta=beta,
                normalize=normalize, kd_reduction=kd_reduction, lr=lr, epochs=epochs, batch_size=batch_size,
                max_length=max_length, seed=seed, max_train_examples=max_train_examples,
                max_eval_examples=max_eval_examples, precision=precision, device=device, data_dir=data_dir,
                save_model=save_model)
record = run(cfg, ws, force=force)
print(record["objective"])

# %% [markdown]
# ## Learning curves
# Loss parts (unweighted) and the running training accuracy, about 20 points per epoch; dev
# accuracy after each epoch.

# %%
curve = pd.DataFrame(record["curve"])
parts = [c for c in ("loss", "ce", "kd", "pt") if c in curve]
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
