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
# # 4. Report
# Built from the run records listed in the study's manifest, nothing else: the tables of the
# paper (1: teacher / FT / KD / PKD per student size, 2: PKD-Last vs PKD-Skip, 3: size and speed),
# the paper's claims tested with paired differences over seeds, and the figures.

# %% tags=["parameters"]
results_dir = "results"
profile = "cpu"
work_dir = "work"

# %%
from pkdstudy.notebooks import check_globals

check_globals(globals(), "04_report")

from IPython.display import Markdown, display

from pkdstudy import in_project
from pkdstudy.report import build, markdown

out = build(in_project(results_dir), profile)
print(f"metric: {out['split']} accuracy (%), mean ± std over seeds")

# %% [markdown]
# ## Table 1: teacher and students

# %%
display(Markdown(markdown(out["table1"])))

# %% [markdown]
# ## Hyper-parameter search (only for profiles that try several settings per cell)
# Each Table 1 cell uses the setting with the best mean dev accuracy; test plays no part in the choice.

# %%
if "search" in out:
    display(Markdown(markdown(out["search"].set_index("task"), ".1f")))
else:
    print("one setting per cell: no search")

# %% [markdown]
# ## Table 2: PKD-Last vs PKD-Skip

# %%
if "table2" in out:
    display(Markdown(markdown(out["table2"])))

# %% [markdown]
# ## Table 3: size and inference speed (paper: 1.94x for 6 of 12 layers, 3.73x for 3 of 12)

# %%
if "table3" in out:
    display(Markdown(markdown(out["table3"])))

# %% [markdown]
# ## The paper's claims, tested here

# %%
display(Markdown("\n".join(f"- {s}" for s in out["claims"]) or "no paired comparisons (one seed)"))

# %% [markdown]
# ## Figures

# %%
for name, fig in out["figures"].items():  # noqa: B007
    display(fig)
