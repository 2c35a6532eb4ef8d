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
# # 3. Inference speed-up
# The teacher and each student size timed side by side in one process (round-robin, median of
# repeats), on the same device, batch, length and dtype; parameter counts and compression.
# The ideal speed-up is the ratio of encoder FLOPs (N/k layers). With `shared`, this is the machine's one
# measurement (`results/speed/hardware-<machine>.json`) that every study run on it cites; the study runs this
# notebook only where that file is missing (or with `--remeasure`).

# %% tags=["parameters"]
pretrained = "embedded:all-MiniLM-L6-v2"
layers = [1, 2, 3, 4, 5]
batch_size = 32
seq_len = 128
repeats = 5
warmup = 2
precision = "fp32"
device = "auto"
real_lengths_task = "rt"
real_lengths_examples = 1066
profile = "cpu"
shared = False
results_dir = "results"
work_dir = "work"

# %%
from pkdstudy.notebooks import check_globals

check_globals(globals(), "03_speedup")

from pathlib import Path

import pandas as pd

from pkdstudy import in_project
from pkdstudy.speed import measure_and_write, shared_target

results = Path(in_project(results_dir))
settings = {"layers": layers, "batch_size": batch_size, "seq_len": seq_len, "precision": precision}
out = shared_target(results, device, pretrained, settings) if shared else results / "speed" / f"speedup-{profile}.json"
speed = measure_and_write(
    out,
    pretrained,
    layers,
    batch_size,
    seq_len,
    repeats,
    warmup,
    precision,
    device,
    real_lengths_task,
    real_lengths_examples,
)
print(f"wrote {out}")

# %%
table = pd.DataFrame(speed["rows"]).set_index("layers")
table[
    ["role", "params_total", "compression", "ms_per_batch", "speedup", "ideal_speedup"]
    + [c for c in ("real_speedup",) if c in table]
].round(3)
