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
# # Patient Knowledge Distillation, step by step
#
# A 6-layer BERT **teacher**, fine-tuned on movie-review sentiment (Rotten Tomatoes), and a
# 3-layer **student** built from the first 3 layers of the same pre-trained encoder. Distillation
# trains the student to imitate the teacher. PKD (Sun et al., 2019) adds one idea to classic
# knowledge distillation: the student also imitates the teacher's *intermediate* layers, not only
# its output. Everything below runs on a CPU in a few minutes, with real tensors.
#
# The student's objective:
#
# $$L = (1-\alpha)\,\mathrm{CE} + \alpha\,\mathrm{KD}_T + \beta\,\mathrm{PT}$$

# %% tags=["parameters"]
results_dir = "results"
work_dir = "work/teaching"
train_seconds = 120
batch_size = 32
temperature = 10.0
alpha = 0.5
beta = 100.0
student_layers = 3
seed = 0

# %%
from pkdstudy.notebooks import check_globals
check_globals(globals(), "00_teaching")

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import clear_output, display

import pkdlib
from pkdlib.cache import compute_teacher_outputs
from pkdlib.data import LengthBucketSampler, collate, load_task, tokenize_split
from pkdlib.losses import TERMS
from pkdlib.models import DEFAULT_TEACHER, build_student, load_classifier, load_tokenizer
from pkdlib.paths import Workspace, in_project
from pkdlib.records import find_teacher
from pkdlib.runs import run
from pkdstudy.teaching import cls_cosine, cls_states, layer_map_matrix, soft_targets, train_for

results_dir, work_dir = in_project(results_dir), in_project(work_dir)

torch.manual_seed(seed)

# %% [markdown]
# ## 1. A teacher
# We use a teacher fine-tuned by the study if there is one; otherwise we fine-tune one quickly here
# (one epoch on 2,000 sentences, about a minute).

# %%
try:
    teacher_dir = find_teacher(f"{results_dir}/records", "rt", DEFAULT_TEACHER)
    print("using the study's teacher:", teacher_dir)
except FileNotFoundError:
    ws = Workspace(f"{work_dir}/results", work_dir)
    rec = run(pkdlib.RunConfig(task="rt", method="teacher", epochs=1, lr=1e-4, max_train_examples=2000,
                               max_eval_examples=300), ws)
    teacher_dir = in_project(rec["model_dir"])
teacher = load_classifier(teacher_dir, 2).eval()
tok = load_tokenizer(teacher_dir)
train = tokenize_split(load_task("rt", "train"), tok, 64)
raw = load_task("rt", "train")
batch = collate(train, list(range(8)))
with torch.inference_mode():
    t_logits = teacher(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits
for text, y, p in zip(raw.texts[:4], batch["labels"][:4], F.softmax(t_logits[:4], -1)):
    print(f"{'pos' if y else 'neg'} | teacher P(pos)={p[1]:.2f} | {text[0][:90]}")

# %% [markdown]
# ## 2. Soft targets
# The teacher's logits divided by a temperature T before the softmax. At T=1 the teacher is
# confident; a higher T spreads the probability and shows *how* sure it is: that "dark
# knowledge" is what KD passes on.

# %%
temps = [1, 2, 5, 10, 20]
st = soft_targets(t_logits[:4], temps)
fig, axes = plt.subplots(1, 4, figsize=(13, 2.8), sharey=True)
for i, ax in enumerate(axes):
    ax.bar([str(T) for T in temps], [st[T][i, 1].item() for T in temps], color="tab:orange")
    ax.axhline(0.5, color="gray", lw=0.8)
    ax.set(title=f"sentence {i} ({'pos' if batch['labels'][i] else 'neg'})", xlabel="temperature T")
axes[0].set_ylabel("soft target P(positive)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The three loss terms, by hand and by pkdlib
# A fresh student (first 3 pre-trained layers, new classifier) on the same batch.
# - **CE**: cross-entropy with the gold labels.
# - **KD**: $T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T))$, averaged over the batch.
# - **PT** (patient loss): for the student's intermediate layers j = 1..k-1 and the teacher layers
#   they are mapped to, the [CLS] vectors are L2-normalised and compared by mean squared error.

# %%
student = build_student(DEFAULT_TEACHER, student_layers, 2, seed=seed)
lm = pkdlib.pkd_skip(teacher.config.num_hidden_layers, student_layers)
print(lm)
s_states = cls_states(student, batch)            # (k+1, batch, hidden)
t_states = cls_states(teacher, batch)            # (N+1, batch, hidden)
with torch.inference_mode():
    s_logits = student(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits

ce_hand = -F.log_softmax(s_logits, -1)[torch.arange(8), batch["labels"]].mean()
p_t, log_p_s = F.softmax(t_logits / temperature, -1), F.log_softmax(s_logits / temperature, -1)
kd_hand = (p_t * (p_t.log() - log_p_s)).sum(-1).mean() * temperature ** 2
s_mid = F.normalize(s_states[1:student_layers].transpose(0, 1), dim=-1)  # (batch, k-1, hidden)
t_mid = F.normalize(t_states[list(lm)].transpose(0, 1), dim=-1)
pt_hand = ((s_mid - t_mid) ** 2).mean()

obj = pkdlib.Objective(alpha=alpha, temperature=temperature, beta=beta, layer_map=lm)
parts = obj(s_logits, batch["labels"], t_logits, s_states[1:student_layers].transpose(0, 1),
            t_states[list(lm)].transpose(0, 1))
for name, hand in (("ce", ce_hand), ("kd", kd_hand), ("pt", pt_hand)):
    assert torch.allclose(hand, parts[name], rtol=1e-4, atol=1e-6), name
    print(f"{name}: by hand {hand.item():.6f}   pkdlib {parts[name].item():.6f}")
print(f"\n{obj}\n= {parts['loss'].item():.4f}")

# %% [markdown]
# ## 4. Which teacher layer teaches which student layer
# **PKD-Skip** spreads the student's layers over the teacher (every N/k-th layer);
# **PKD-Last** takes the layers just below the top. Blue: patient loss; orange: the last student
# layer learns the teacher's output through KD.

# %%
from matplotlib.colors import ListedColormap
cmap = ListedColormap(["white", "tab:blue", "tab:orange"])
fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
for ax, (n, k, name) in zip(axes, [(6, 3, "pkd_skip"), (6, 3, "pkd_last"), (12, 6, "pkd_skip"), (12, 6, "pkd_last")]):
    ax.imshow(layer_map_matrix(n, k, name), cmap=cmap, vmin=0, vmax=2)
    ax.set_xticks(range(n), range(1, n + 1))
    ax.set_yticks(range(k), range(1, k + 1))
    ax.set(xlabel="teacher layer", ylabel="student layer", title=f"{name}({n}, {k})")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Train the student with PKD, live
# The teacher's outputs for the training batches are computed once (the *teacher cache*); then the
# student trains for about two minutes. The curves update as it learns.

# %%
n_batches = 60
idx = LengthBucketSampler(train.lengths, batch_size, shuffle=True, seed=seed).batches()[:n_batches]
cached = compute_teacher_outputs(teacher, train, 64, torch.device("cpu"), progress=False)
batches = [collate(train, b) for b in idx]
fig_handle = display(None, display_id=True)


def live(history):
    steps = [h["step"] for h in history]
    terms = [k for k in TERMS if k in history[0]]  # the objective leaves out terms with weight 0
    fig, ax = plt.subplots(1, len(terms), figsize=(4.4 * len(terms), 3), squeeze=False)
    for a, key in zip(ax[0], terms):
        a.plot(steps, [h[key] for h in history])
        a.set(title=f"{TERMS[key]} (unweighted)", xlabel="step", ylabel=f"{TERMS[key]} loss")
    plt.tight_layout()
    fig_handle.update(fig)
    plt.close(fig)


history = train_for(train_seconds, student, batches, obj, cached,
                    callback=live)
live(history)
print(f"{len(history)} steps in {history[-1]['seconds']:.0f}s")

# %% [markdown]
# ## 6. Does the student think like the teacher now?
# Cosine similarity between the student's and the teacher's [CLS] vectors, layer by layer (0 is the
# embedding layer), on a held-out batch, before and after training. Before training the student *is*
# the pre-trained encoder's first layers, and the teacher was fine-tuned from that same encoder, so
# the lower layers already agree (fine-tuning changes the top layers most). Watch two things: the
# boxed pairs of the layer map, which the patient loss holds together while the student learns the
# task, and the student's last layer, which feeds a new classifier and is shaped by CE and KD: they
# match the teacher's *output*, not its last [CLS] vector.

# %%
dev = tokenize_split(load_task("rt", "dev"), tok, 64)
dev_batch = collate(dev, list(range(64)))
t_dev = cls_states(teacher, dev_batch)
after = cls_cosine(cls_states(student, dev_batch), t_dev)
fresh = cls_cosine(cls_states(build_student(DEFAULT_TEACHER, student_layers, 2, seed=seed), dev_batch), t_dev)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
for ax, m, title in zip(axes, (fresh, after), ("before PKD", "after PKD")):
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set(xlabel="teacher layer", ylabel="student layer", title=title)
    for j, t in lm.pairs():
        ax.add_patch(plt.Rectangle((t - 0.5, j - 0.5), 1, 1, fill=False, ec="red", lw=2))
fig.colorbar(im, ax=axes, label="cosine of student and teacher [CLS]")
plt.show()
with torch.inference_mode():
    acc = (student(**{k: dev_batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits.argmax(-1)
           == dev_batch["labels"]).float().mean().item()
for j, t in lm.pairs():
    print(f"student layer {j} vs teacher layer {t} (patient loss): cosine {fresh[j, t]:.2f} -> {after[j, t]:.2f}")
k, n = student_layers, teacher.config.num_hidden_layers
print(f"student layer {k} vs teacher layer {n} (no patient loss): cosine {fresh[k, n]:.2f} -> {after[k, n]:.2f}")
print(f"student accuracy on 64 dev sentences after {train_seconds}s: {acc:.2f}")

# %% [markdown]
# Red boxes: the (student, teacher) pairs of the PKD-Skip map. To see what the patient loss does,
# set `beta = 0.0` in the parameters cell (plain KD), run all again and compare the boxes. Next:
# `01_teacher` and `02_student` run the real training loop (schedule, dev selection, records),
# `04_report` the study.
