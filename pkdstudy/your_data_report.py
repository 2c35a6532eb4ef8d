"""docs/your-data.md's and README's measured blocks from ``results/your-data/`` (``scripts/your_data_runs.py``): the
frontier of one real ``pkd distill`` run on the embedded data, and what unlabeled text bought. Filled in by
``scripts/update_readme.py``; tests check the documents hold exactly these blocks."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["frontier_block", "unlabeled_block", "prune_block", "your_data_block", "readme_block"]

ARM_TEXT = {
    "none": "none (1,000 labelled rt sentences only)",
    "rt_rest": "`rt_rest`: the other 5,398 rt training sentences (in domain)",
    "imdb_sents": "`imdb_sents`: 5,398 IMDB sentences (out of domain)",
}


def _fill(text: str) -> str:
    """A paragraph wrapped at 116 characters (README lines stay short)."""
    import textwrap

    return textwrap.fill(text, 116, break_on_hyphens=False, break_long_words=False)


def _load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _made(prov: dict) -> str:
    git = prov.get("git") or {}
    return f"commit {str(git.get('commit'))[:7]}{' (+ changes)' if git.get('dirty') else ''}, {prov['hardware']['cpu']}"


def _vocab_line(exports: dict) -> str:
    parts = []
    for name, e in sorted(exports.items()):
        v, q = e["checks"].get("vocab"), e["checks"].get("int8")
        if not v:
            continue
        t = v["test_tokenization"]
        kept = "kept" if v.get("kept") else "NOT kept (a loss shown; the full vocabulary shipped)"
        parts.append(
            f"{name}: {v['vocabulary']['after']:,} of {v['vocabulary']['before']:,} tokens, pruning {kept}, "
            f"{v['size_mib']['before']:.1f} -> {v['size_mib']['after']:.1f} MiB, {t['changed']} of {t['rows']} test "
            f"rows split otherwise, agreement {100 * v['agreement']:.1f}%, accuracy "
            f"{v['accuracy_change_points']:+.2f} points (exact McNemar p = {v['p_value']:.2g})"
            + (
                f"; int8 ({q['setting']}) {q['size_mib']:.1f} MiB, agreement {100 * q['agreement']:.1f}%, "
                f"{q['accuracy_change_points']:+.2f} points (p = {q['p_value']:.2g}), "
                + ("kept" if q.get("kept") else "refused")
                if q
                else ""
            )
        )
    return "".join(f"\n- {p}" for p in parts)


def _reused(d: Path) -> str:
    """How many of the call's training runs were reused from an earlier call (``[skip]`` lines of its output)."""
    n = (d / "summary.txt").read_text().count("[skip]") if (d / "summary.txt").is_file() else 0
    return f" ({n} of its training runs reused from an earlier, interrupted call)" if n else ""


def frontier_block(res: Path, rel: str = "results") -> str:
    """The frontier of the committed run: command, table, plot, choice, vocabulary pruning and int8 per student."""
    d = Path(res) / "your-data" / "frontier"
    f, run, exports = (_load(d / n) for n in ("pkd-frontier.json", "run.json", "exports.json"))
    if not f or not run:
        return "Not measured yet: `python scripts/your_data_runs.py frontier`."
    return f"""One run on the embedded data shaped as a user's files (`python scripts/your_data_runs.py frontier`: 1,000
labelled rt sentences, rt's own dev and test splits of 1,066), {_made(f["provenance"])}, {run["seconds"] / 60:.0f}
minutes{_reused(d)}:

```bash
{run["command"]}
```

{f["table"]}

Recommended by `{f["rule"]}`: **{f["recommended"]}**: {f["why"]}. Setting: {f["setting"]}.

![accuracy against CPU latency]({rel}/your-data/frontier/frontier.png)

Each student's export (`--prune-vocab`; its int8 file through the gate):{_vocab_line(exports or {})}"""


def unlabeled_block(res: Path) -> str:
    """What unlabeled text bought: per arm the students' test accuracy over seeds and the paired difference."""
    u = _load(Path(res) / "your-data" / "unlabeled.json")
    if not u:
        return "Not measured yet: `python scripts/your_data_runs.py unlabeled --seeds 0 1 2`."
    s = u["summary"]
    rows = ["| unlabeled text | student test accuracy, mean (seeds) | minus none, paired mean [95% t] | p |"]
    rows.append("|---|---|---|---|")
    for arm, text in ARM_TEXT.items():
        a = s.get(arm) or {}
        if not a.get("n"):
            continue
        acc = ", ".join(f"{x:.1f}" for x in a["accuracy"])
        d = a.get("minus_none")
        diff = f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] (N = {d['n']})" if d else "-"
        p = f"{d['p']:.2f}" if d else "-"
        rows.append(f"| {text} | {a['mean']:.2f} ({acc}) | {diff} | {p} |")
    teacher = [100 * r["teacher_test_accuracy"] for r in u["runs"] if r["arm"] == "none"]
    t_line = f" The teachers scored {', '.join(f'{x:.1f}' for x in teacher)}." if teacher else ""
    return (
        "\n".join(rows)
        + "\n\n"
        + _fill(
            f"Measured by `{u['command'].strip()}` ({_made(u['provenance'])}): a teacher per seed fine-tuned on the"
            " 1,000 labelled sentences, a 3-layer student (`pkd distill`'s recipe) per arm, all scored on rt's 1,066"
            f" test sentences.{t_line} Exploratory: three paired seeds give a t interval on 2 degrees of freedom, and"
            " the arms differ in training steps as well as in text (a user's comparison, not an equal-compute one)."
        )
    )


def prune_block(res: Path) -> str:
    """``--prune-vocab`` on seed 0's 3-layer students trained without and with the in-domain unlabeled text."""
    d = _load(Path(res) / "your-data" / "prune.json")
    if not d:
        return "Not measured yet: `python scripts/your_data_runs.py prune`."
    rows = ["| student trained on | tokens kept | test rows split otherwise | agreement | accuracy change | "]
    rows[0] += "exact McNemar p | pruned |"
    rows.append("|---|---|---|---|---|---|---|")
    for arm, c in d["checks"].items():
        v, t = c["vocab"], c["vocab"]["test_tokenization"]
        rows.append(
            f"| {ARM_TEXT[arm]} | {v['vocabulary']['after']:,} of {v['vocabulary']['before']:,} | {t['changed']} of "
            f"{t['rows']} | {100 * v['agreement']:.1f}% | {v['accuracy_change_points']:+.2f} | {v['p_value']:.2g} | "
            f"{'yes' if v['kept'] else 'no (a loss shown)'} |"
        )
    return (
        "\n".join(rows)
        + "\n\n"
        + _fill(
            f"`{d['command']}` ({_made(d['provenance'])}): the same students as the first two rows of the table "
            "above (seed 0). The unlabeled text's words join the kept vocabulary, so fewer test words are spelled out."
        )
    )


def your_data_block(res: Path, rel: str = "results") -> str:
    return (
        "### The frontier of one real run\n\n"
        + frontier_block(res, rel)
        + "\n\n### What unlabeled text bought\n\n"
        + unlabeled_block(res)
        + "\n\n### The vocabulary pruned, with and without more text\n\n"
        + prune_block(res)
    )


def _pruned_sentence(res: Path) -> str:
    """Which students shipped a pruned vocabulary (the gate refuses one whose test split shows a loss)."""
    e = _load(Path(res) / "your-data" / "frontier" / "exports.json") or {}
    kept = [k for k, v in sorted(e.items()) if (v["checks"].get("vocab") or {}).get("kept")]
    refused = [k for k, v in sorted(e.items()) if (v["checks"].get("vocab") or {}).get("kept") is False]
    out = f"Vocabulary pruned for {', '.join(kept) or 'no student'}"
    return out + (f"; refused for {', '.join(refused)} (a loss shown on the test split)." if refused else ".")


def readme_block(res: Path) -> str:
    """README's short form: the frontier's table, choice and plot, and the unlabeled-text table."""
    f = _load(Path(res) / "your-data" / "frontier" / "pkd-frontier.json")
    head = (
        "Not measured yet: `python scripts/your_data_runs.py frontier`."
        if not f
        else f"""The frontier of one real run (`pkd distill --layers 1,2,3 --prune-vocab` on 1,000 labelled rt sentences, scored
on rt's 1,066 test sentences; {_made(f["provenance"])}; the command and every check:
[docs/your-data.md](docs/your-data.md#measured-on-the-embedded-data)):

{f["table"]}

Recommended by `{f["rule"]}`: **{f["recommended"]}**. {_pruned_sentence(res)}

![accuracy against CPU latency](results/your-data/frontier/frontier.png)"""
    )
    return (
        head
        + "\n\nWhat unlabeled text bought (`--unlabeled`), the same 1,000 labelled sentences:\n\n"
        + unlabeled_block(res)
    )
