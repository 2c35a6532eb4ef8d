"""``pkd distill``'s frontier step: build every candidate (``candidates.py``), measure them side by side
(``frontier.py``), pick one by the plan's rule, and write ``pkd-frontier.json``, ``frontier.md`` and
``frontier.png`` into the frontier folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .files import atomic_write_json, atomic_write_text
from .frontier import gap_warnings, plot, quality, recommend, table_markdown, timings
from .records import where_measured

__all__ = ["measure_frontier", "frontier_markdown"]


def _test_data(s_rec: dict, teacher_dir: str):
    """The test split as the students were scored on it, tokenised by the teacher's tokenizer (theirs too), and all
    splits (the static baseline fits on train, picks on dev)."""
    from .data import load_data
    from .export import Exported, data_config, test_rows
    from .models import load_tokenizer

    split, spec = test_rows(s_rec)
    _, splits = load_data(data_config(s_rec))
    tok = load_tokenizer(teacher_dir)
    return Exported(split.texts, torch.tensor(split.labels), tok, s_rec["config"]["max_length"]), spec, splits


def measure_frontier(p, teacher_dir: str, exports: dict, ws, log=print) -> dict:
    """Every candidate on the same test rows and inputs; the table, plot and recommendation written into ``p.out``."""
    from .candidates import static_candidate, student_candidates, teacher_candidates

    folder = Path(p.out).expanduser().resolve()
    s_rec = exports[max(exports)][0]
    data, spec, splits = _test_data(s_rec, teacher_dir)
    log(
        f"== frontier: {len(exports)} student depth(s), the teacher and a static baseline, on {len(data.labels)} "
        f"test rows"
    )
    cands = teacher_candidates(teacher_dir, spec.num_labels, data, folder, log)
    for k, (_, m) in sorted(exports.items()):  # the export's parameters: fewer with a pruned vocabulary
        cands += student_candidates(
            p.export_dir(rec_cfg(p, k)).expanduser().resolve(), f"L{k}", m["parameters"]["total"], k
        )
    cands.append(static_candidate(teacher_dir, spec.num_labels, splits, data, ws, folder, log))
    rows = quality(cands, data, spec.label_names, log)
    times = timings(cands, data)
    for r in rows:
        r.update(times[r["name"]])
    pick, why = recommend(rows, p.rule)
    calls = min(min(r["calls"]) for r in rows)
    setting = (
        f"{len(data.labels)} test rows; latency at batch 1 and throughput at batch 32, each the median of >= "
        f"{calls} timed calls per candidate, round-robin on the same inputs; CPU, {torch.get_num_threads()} "
        f"threads"
    )
    result = {
        "rows": rows,
        "rule": p.rule,
        "recommended": pick["name"],
        "why": why,
        "setting": setting,
        "warnings": gap_warnings(rows),
        "folder": str(folder),
        "table": table_markdown(rows, pick["name"]),
        "plot": str(folder / "frontier.png"),
        "task": spec.name,
        "labels": list(spec.label_names),
        "provenance": where_measured("cpu"),
    }
    plot(rows, folder / "frontier.png", f"{spec.name}: accuracy against CPU latency", pick["name"])
    atomic_write_text(folder / "frontier.md", frontier_markdown(result))
    atomic_write_json(folder / "pkd-frontier.json", {k: v for k, v in result.items() if k != "folder"})
    for w in result["warnings"]:
        log(f"*** WARNING: {w} ***")
    return result


def rec_cfg(p, k: int):
    return next(c for c in p.students if c.student_layers == k)


def frontier_markdown(f: dict) -> str:
    """The frontier as a page: the table, the plot, the recommendation and how it was measured."""
    warn = "".join(f"\n> **Warning:** {w}\n" for w in f["warnings"])
    paths = "\n".join(f"- {r['name']}: `{r['path']}`" for r in f["rows"] if r.get("path"))
    return f"""# {f["task"]}: the frontier of choices

Every candidate on the same test rows and inputs ({f["setting"]}). Accuracy interval: Wilson 95%; macro F1 and the
difference from the teacher: 95% percentile bootstrap (paired for the difference).

{f["table"]}

![accuracy against latency](frontier.png)

**Recommended** by the rule `{f["rule"]}`: **{f["recommended"]}** ({f["why"]}).
{warn}
Where each is (relative to this folder):
{paths}

Accuracy on the rows of each label:

{_per_label(f)}
"""


def _per_label(f: dict) -> str:
    labels = f["labels"]
    lines = ["| candidate | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for r in f["rows"]:
        cells = [f"{c['correct']}/{c['n']}" for c in r["per_class"]]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_frontier(folder) -> dict:
    """A frontier written earlier (``pkd-frontier.json``)."""
    return json.loads((Path(folder) / "pkd-frontier.json").read_text())
