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
# **Why compress?** A BERT-style model is a stack of identical layers; its cost grows with the depth. A student keeps
# the teacher's embeddings and its first k layers and learns to imitate the teacher. PKD (Sun et al., EMNLP 2019) adds
# one idea to classic knowledge distillation (KD): the student also imitates the teacher's *intermediate* layers.
#
# The student's objective (pkdlib prints it):
#
# $$L = (1-\alpha)\,\mathrm{CE} + \alpha\,\mathrm{KD}_T + \beta\,\mathrm{PT}$$
#
# A 30-minute lab: read sections 0-4 (10 min), run section 5's comparison (about 5 minutes on 2 CPU cores), then turn
# the knobs in the parameters cell (`beta = 0.0`, `alpha = 0.0`, `layer_map = "pkd_last"`, `student_layers`, `T`) and
# run all again.

# %% tags=["parameters"]
results_dir = "results"
work_dir = "work/teaching"
# the controlled comparison: every method trains this many steps on the same batches
steps = 150
batch_size = 32
temperature = 10.0
alpha = 0.5
# the study's beta (chosen on dev by its recipe profile; the official SST-2 setting, 100, barely acts here)
beta = 1000.0
layer_map = "pkd_skip"
student_layers = 3
seed = 0

# %%
from pkdstudy.notebooks import check_globals
check_globals(globals(), "00_teaching")

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display

import pkdlib
from pkdlib.cache import compute_teacher_outputs
from pkdlib.data import LengthBucketSampler, collate, load_task, tokenize_split
from pkdlib.losses import TERMS
from pkdlib.models import DEFAULT_TEACHER, build_student, load_classifier, load_tokenizer
from pkdlib.paths import Workspace
from pkdlib.records import find_teacher, load_records
from pkdlib.runs import run
from pkdstudy import in_project
from pkdstudy.teaching import (between_sentences, binary_kd, cls_cosine, dev_accuracy, layer_map_matrix,
                               paper_vs_study, soft_targets, states, train_steps, varying_share, why_compress)

results_dir, work_dir = in_project(results_dir), in_project(work_dir)
_ = torch.manual_seed(seed)

# %% [markdown]
# ## 0. What the study measured
# From the committed study (`results/`, nothing typed here): the speed-up of a 3-layer student over the 6-layer
# teacher, measured side by side on this project's CPU, and where its parameters are. Only depth is removed: the
# embeddings, most of a small model's parameters, stay.

# %%
try:
    w = why_compress(results_dir)
    print(f"3-layer student vs the {w['teacher_layers']}-layer teacher: measured speed-up "
          f"{w['speedup']:.2f}x (ideal from encoder FLOPs {w['ideal']:.2f}x); parameters {w['params_student'] / 1e6:.1f}M "
          f"of the teacher's {w['params_teacher'] / 1e6:.1f}M, of which {w['params_embedding'] / 1e6:.1f}M embeddings")
except FileNotFoundError:
    print("no committed speed-up in", results_dir)

# %% [markdown]
# ## 1. The teacher
# **all-MiniLM-L6-v2** (6 layers, hidden 384), a sentence-embedding model: it was trained to make the *mean over
# tokens* of its last layer a good sentence vector, not its [CLS] token. The study fine-tuned it on Rotten Tomatoes
# sentence polarity; we use that teacher (or, without the committed study, fine-tune one for a minute).

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
train, dev = tokenize_split(load_task("rt", "train"), tok, 64), tokenize_split(load_task("rt", "dev"), tok, 64)
raw = load_task("rt", "train")
batch = collate(train, list(range(8)))
with torch.inference_mode():
    t_logits = teacher(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits
teacher_acc = dev_accuracy(teacher, dev)
print(f"teacher accuracy on the 1,066 dev sentences: {teacher_acc:.4f}")
for text, y, p in zip(raw.texts[:4], batch["labels"][:4], F.softmax(t_logits[:4], -1)):
    print(f"{'pos' if y else 'neg'} | teacher P(pos)={p[1]:.2f} | {text[0][:90]}")

# %% [markdown]
# ## 2. Soft targets, the temperature, and why T²
# KD trains the student on the teacher's probabilities softened by a temperature: softmax(z/T). With **two classes**
# this is sigmoid((z₁ - z₀)/T): one number per sentence, the teacher's *margin* scaled by 1/T. There is no ranking of
# wrong classes to pass on (that "dark knowledge" needs three or more classes, as in MNLI). What KD passes on here is
# how sure the teacher is: at T = 10, T²·KL is about (student margin - teacher margin)²/8, a regression on the
# margin (right plot). The T² keeps the gradient's size the same across temperatures (Hinton et al., 2015): without
# it, the soft term's gradient shrinks like 1/T².
#
# Scalings, named: the paper writes KD as a soft cross-entropy without T² and PT as a sum of squared distances; the
# official code uses `KLDivLoss(reduction='mean')` times T² (which divides by the number of classes) and a mean squared
# error for PT. pkdlib follows the official code for PT (so the paper's beta grid keeps its meaning) and uses the true
# per-example KL for KD (`kd_reduction="mean"` gives the official one).

# %%
temps = [1, 2, 5, 10, 20]
st = soft_targets(t_logits[:4], temps)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
for i in range(4):
    axes[0].plot(temps, [st[T][i, 1].item() for T in temps], marker="o",
                 label=f"sentence {i} ({'pos' if batch['labels'][i] else 'neg'})")
axes[0].axhline(0.5, color="gray", lw=0.8)
axes[0].set(xscale="log", xlabel="temperature T", ylabel="soft target P(positive)", title="softmax(z / T), two classes")
axes[0].legend(fontsize=8)
margins = torch.linspace(-8, 8, 161)
t_margin = float(t_logits[0, 1] - t_logits[0, 0])
axes[1].plot(margins, binary_kd(margins, t_margin, temperature), label=f"T²·KL at T={temperature:g}")
axes[1].plot(margins, (margins - t_margin) ** 2 / 8, ls="--", label="(s - t)² / 8")
axes[1].axvline(t_margin, color="gray", lw=0.8, label=f"teacher margin {t_margin:.1f}")
axes[1].set(xlabel="student margin z₁ - z₀", ylabel="KD loss", title="KD on two classes is a margin regression")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The three loss terms, by hand and by pkdlib
# A fresh student (first k pre-trained layers, new classifier) on the same batch.
# - **CE**: cross-entropy with the gold labels.
# - **KD**: $T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T))$, averaged over the batch.
# - **PT** (patient loss): for the student's intermediate layers j = 1..k-1 and the teacher layers they are mapped
#   to, the [CLS] vectors are L2-normalised and compared by mean squared error.

# %%
student = build_student(DEFAULT_TEACHER, student_layers, 2, seed=seed)
lm = pkdlib.layer_map(layer_map, teacher.config.num_hidden_layers, student_layers)
print(lm)
s_states, t_states = states(student, batch), states(teacher, batch)  # (layers+1, batch, hidden)
with torch.inference_mode():
    s_logits = student(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits
ce_hand = -F.log_softmax(s_logits, -1)[torch.arange(8), batch["labels"]].mean()
p_t, log_p_s = F.softmax(t_logits / temperature, -1), F.log_softmax(s_logits / temperature, -1)
kd_hand = (p_t * (p_t.log() - log_p_s)).sum(-1).mean() * temperature ** 2
s_mid = F.normalize(s_states[1:student_layers].transpose(0, 1), dim=-1)  # (batch, k-1, hidden)
t_mid = F.normalize(t_states[list(lm)].transpose(0, 1), dim=-1)
pt_hand = ((s_mid - t_mid) ** 2).mean() if len(lm) else torch.tensor(0.0)
obj = pkdlib.Objective(alpha=alpha, temperature=temperature, beta=beta if len(lm) else 0.0, layer_map=lm)
parts = obj(s_logits, batch["labels"], t_logits, s_states[1:student_layers].transpose(0, 1),
            t_states[list(lm)].transpose(0, 1))
for name, hand in (("ce", ce_hand), ("kd", kd_hand), ("pt", pt_hand)):
    if name in parts:  # a term with weight 0 is left out of the objective
        assert torch.allclose(hand, parts[name], rtol=1e-4, atol=1e-6), name
        print(f"{name}: by hand {hand.item():.6f}   pkdlib {parts[name].item():.6f}")
print(f"\n{obj}\n= {parts['loss'].item():.4f}")

# %% [markdown]
# ## 4. Which teacher layer teaches which student layer
# **PKD-Skip** spreads the student's layers over the teacher (every N/k-th layer); **PKD-Last** takes the layers just
# below the top. The last column is the teacher's *output* (its logits): the student's last layer feeds its own
# classifier and learns the teacher's output through KD, not the teacher's last hidden state.

# %%
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
cmap = ListedColormap(["white", "tab:blue", "tab:orange"])
fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
for ax, (n, k, name) in zip(axes, [(6, 3, "pkd_skip"), (6, 3, "pkd_last"), (12, 6, "pkd_skip"), (12, 6, "pkd_last")]):
    ax.imshow(layer_map_matrix(n, k, name), cmap=cmap, vmin=0, vmax=2)
    ax.set_xticks(range(n + 1), [str(i) for i in range(1, n + 1)] + ["out"])
    ax.set_yticks(range(k), range(1, k + 1))
    ax.set(xlabel="teacher layer (out = its logits)", ylabel="student layer", title=f"{name}({n}, {k})")
fig.legend(handles=[Patch(color="tab:blue", label="patient loss (hidden state)"),
                    Patch(color="tab:orange", label="KD (the output)")], loc="lower center", ncol=2)
plt.tight_layout(rect=(0, 0.08, 1, 1))
plt.show()

# %% [markdown]
# ## 5. What the patient loss can match on this teacher
# The patient loss compares [CLS] vectors. For this teacher, the [CLS] of layers 0-4 is (nearly) **the same vector for
# every sentence**: the mean cosine between *different* sentences is 1.00 (one large dimension dominates), and the
# part of the vector that differs between sentences is a ten-thousandth of it or less (right). So PKD on [CLS] here
# asks the student to match a constant. The mean over tokens, which this model was trained to make informative,
# differs between sentences far more. pkdlib's `pkd-mean` method applies the patient loss to those mean-pooled states.

# %%
dev_batch = collate(dev, list(range(64)))
t_cls, t_mean = states(teacher, dev_batch, "cls"), states(teacher, dev_batch, "mean")
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
for x, pooling in ((t_cls, "[CLS]"), (t_mean, "mean over tokens")):
    axes[0].plot(between_sentences(x), marker="o", label=pooling)
    axes[1].plot(np.maximum(varying_share(x), 1e-8), marker="o", label=pooling)
axes[0].set(xlabel="teacher layer (0 = embeddings)", ylabel="mean cosine, different sentences", ylim=(-0.05, 1.05),
            title="How alike are two different sentences' states?")
axes[1].set(yscale="log", xlabel="teacher layer (0 = embeddings)", ylabel="share of the squared norm",
            title="The part of a state that differs between sentences")
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print("different-sentence cosine of [CLS], layers 0-6:", np.round(between_sentences(t_cls), 4))

# %% [markdown]
# ## 6. A controlled comparison, in class time
# Fine-tuning (FT), KD, PKD on [CLS] and PKD on mean-pooled states, each from the same fresh student, on the same
# batches in the same order for the same number of steps, scored on the full dev set beside the teacher. The teacher's
# outputs are computed once for the training batches (the *teacher cache*). The loss plots show each **weighted**
# term, the part of the loss it really is. With `beta = 0.0` the PKD arms are KD (left out); with one student layer
# there is no intermediate layer to match. One seed and a few minutes of training: differences of a point or two are
# within seed-to-seed noise (the study's paired seeds vary by about one point); section 8 is what decides.

# %%
pool = train.head(steps * batch_size)  # the training sentences the comparison uses (a fixed random subset)
batches = [collate(pool, b) for b in LengthBucketSampler(pool.lengths, batch_size, seed=seed).batches()[:steps]]
cached = compute_teacher_outputs(teacher, pool, 64, torch.device("cpu"), progress=False)
arms = {"FT": dict(alpha=0.0, beta=0.0, layer_map=None), "KD": dict(alpha=alpha, beta=0.0, layer_map=None)}
if beta > 0 and len(lm):
    arms[f"PKD {layer_map} [CLS]"] = dict(alpha=alpha, beta=beta, layer_map=lm)
    arms[f"PKD {layer_map} mean"] = dict(alpha=alpha, beta=beta, layer_map=lm, pooling="mean")
results, students = {}, {}
for name, kw in arms.items():
    torch.manual_seed(seed)
    students[name] = build_student(DEFAULT_TEACHER, student_layers, 2, seed=seed)
    objective = pkdlib.Objective(temperature=temperature, **kw)
    history = train_steps(students[name], batches, objective, cached, steps)
    results[name] = {"objective": str(objective), "history": history, "dev": dev_accuracy(students[name], dev)}
    print(f"{name:<22} dev accuracy {results[name]['dev']:.4f}   {objective}")
print(f"{'teacher':<22} dev accuracy {teacher_acc:.4f}")

# %%
terms = [k for k in TERMS if any(k in r["history"][0] for r in results.values())]
fig, axes = plt.subplots(1, len(terms) + 1, figsize=(4.2 * (len(terms) + 1), 3.3), squeeze=False)
for name, r in results.items():
    for ax, term in zip(axes[0], terms):
        if term in r["history"][0]:
            ax.plot([h["step"] for h in r["history"]], [h[term] for h in r["history"]], label=name, alpha=0.8)
            ax.set(yscale="log", xlabel="step", ylabel=f"weighted {TERMS[term]}", title=f"{TERMS[term]} (as weighted)")
axes[0][-1].bar(list(results), [r["dev"] for r in results.values()], color="tab:blue")
axes[0][-1].axhline(teacher_acc, color="k", ls="--", label="teacher")
axes[0][-1].set(ylim=(0.5, 1.0), ylabel="dev accuracy (1,066 sentences)", title=f"after {steps} steps")
axes[0][-1].tick_params(axis="x", rotation=30)
for ax in axes[0]:
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Did the student's layers move toward the teacher's?
# The same-sentence cosine between student layer j and teacher layer i on 64 dev sentences, **centred** (each
# layer's mean over the sentences removed, so the shared constant of section 5 does not count), for the KD student
# (the beta = 0 control) and the PKD student. Boxes: the pairs the patient loss matches.

# %%
pkd_name = next((n for n in results if n.startswith("PKD") and n.endswith("[CLS]")), None)
shown = ["KD"] + ([pkd_name] if pkd_name else [])
fig, axes = plt.subplots(1, len(shown), figsize=(5.5 * len(shown), 3.4), squeeze=False)
for ax, name in zip(axes[0], shown):
    m = cls_cosine(states(students[name], dev_batch), t_cls, centred=True)
    im = ax.imshow(m, vmin=-0.2, vmax=0.6, cmap="viridis")
    ax.set(xlabel="teacher layer", ylabel="student layer", title=f"{name}: centred [CLS] cosine")
    for j, t in lm.pairs():
        ax.add_patch(plt.Rectangle((t - 0.5, j - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.text(t, j, f"{m[j, t]:.2f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(im, ax=ax, label="centred cosine, same sentence")
plt.show()

# %% [markdown]
# ## 8. The paper's claims and what this study found
# Read from the committed study's claims table (made by `pkd report` from the records): the paper's SST-2 numbers
# (BERT-base teacher, 3-layer student, test) beside this study's paired differences over seeds (rt, 3 layers,
# test, 95% interval) and the verdict its test allows.

# %%
try:
    display(paper_vs_study(results_dir))
except FileNotFoundError:
    print("no committed claims table in", results_dir)

# %% [markdown]
# Next: `01_teacher` and `02_student` run the real training loop (schedule, dev selection, records), `04_report` the
# study, `05_your_data` your own data.
