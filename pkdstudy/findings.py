"""One table of what the paper claims and what the committed studies find, built from their claims tables only.

Each row names the claim, the paper's number (Sun et al. 2019, Table 1 and 3: SST-2, a 3-layer student of
BERT-base), ours with its 95% interval over seeds and N, the verdict's first clause and the study that decided it.
README and the HTML report both print this table; a test rebuilds it from ``results/tables`` and compares.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .reference import paper_table1


@dataclass(frozen=True)
class Finding:
    label: str  # the claim, as a reader asks it
    study: str  # the committed study that decides it (results/tables/<study>/claims.csv)
    claim: str  # its row in that table (the ``claim`` column)
    paper: str  # the paper's number, or what the paper says


def _paper_diff(a: str, b: str) -> str:
    t = paper_table1().set_index("model")["sst2"]
    return f"{t[a] - t[b]:+.1f} (SST-2: {t[a]} vs {t[b]})"


def findings() -> list[Finding]:
    """The findings table's rows, in the order a reader asks them (the decisive study of each claim)."""
    keep = paper_table1().set_index("model")["sst2"]
    return [
        Finding("KD beats fine-tuning", "verdicts", "1a. KD beats fine-tuning", _paper_diff("BERT3-KD", "BERT3-FT")),
        Finding("PKD-Skip beats KD", "verdicts", "1b. PKD beats KD", _paper_diff("BERT3-PKD", "BERT3-KD")),
        Finding(
            "PKD-Skip beats KD, a patient term that acts (unnormalised, beta 100)",
            "beta100-confirm",
            "1b. PKD beats KD [beta 100, unnormalised]",
            "(the official SST-2 setting is beta 100)",
        ),
        Finding("PKD-Skip beats KD with 8 epochs", "epochs8-confirm", "1b. PKD beats KD [8 epochs]", "(4 epochs only)"),
        Finding(
            "PKD-Skip at least as good as PKD-Last",
            "full",
            "2. PKD-Skip >= PKD-Last",
            "Skip slightly better on most tasks (Table 2)",
        ),
        Finding(
            "the student keeps most of the teacher's accuracy (%)",
            "verdicts",
            "3. a smaller student keeps most of the teacher's accuracy",
            f"{100 * keep['BERT3-PKD'] / keep['BERT12']:.1f}% (SST-2, 3 of 12 layers)",
        ),
        Finding(
            "PKD overfits less than KD (train - dev gap, points)",
            "verdicts",
            "4. PKD overfits less than KD (train - dev gap)",
            "shown by curves, no size given",
        ),
        Finding(
            "exploratory: attention transfer beats KD",
            "attention",
            "9a. attention transfer beats KD",
            "(not in the paper; TinyBERT's attention term)",
        ),
        Finding(
            "exploratory: attention transfer vs PKD-Skip",
            "attention",
            "9b. attention transfer vs PKD-Skip",
            "(not in the paper)",
        ),
    ]


def _state(results: Path, study: str) -> str | None:
    """'interim: k of n runs' for a study committed part-way, None when complete, 'not run' when absent."""
    m = results / f"manifest-{study}.json"
    if not m.is_file():
        return "not run"
    man = json.loads(m.read_text())
    if man.get("status") == "complete":
        return None
    return f"running: {len(man.get('records', []))} runs finished"


def withheld(results: Path, study: str) -> str | None:
    """For a confirmatory study committed part-way, what is said instead of its numbers (a confirmatory test read
    before its declared N is optional stopping); None for any other study."""
    from .profiles import PROFILES

    state = _state(Path(results), study)
    if state and state != "not run" and PROFILES.get(study, {}).get("confirmatory"):
        return f"{state}; a confirmatory study shows no number before all its declared runs have finished"
    return None


def _ours(row: pd.Series) -> str:
    pct = "%" in str(row["comparison"])
    fmt = (lambda v: f"{v:.1f}") if pct else (lambda v: f"{v:+.2f}")
    return f"{fmt(row['mean_diff'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def _wider(row: pd.Series) -> str:
    """The interval "on sentences like these" (seeds and test sentences, two-way variance components), or –."""
    ci = row.get("sentences_ci")
    return str(ci) if isinstance(ci, str) and ci.startswith("[") else "–"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _verdict(row: pd.Series) -> str:
    """The verdict's first clause (what it decides) and the Holm p of its test; the wider intervals and the power
    stay in the claims table."""
    head = str(row["verdict"]).split(" (")[0].split(";")[0].strip()
    if head.startswith("keeps"):
        return "keeps (seeds, teachers and test sentences resampled)"
    if head.startswith("equivalent"):
        return f"{head} (TOST Holm {_p(row['tost_holm'])})"
    return f"{head} (Holm {_p(row['p_holm'])})" if pd.notna(row.get("p_holm")) else head


def table(results: str | Path = "results") -> pd.DataFrame:
    """The findings table from the committed claims tables (a claim whose study is absent or interim says so)."""
    results = Path(results)
    rows = []
    for f in findings():
        state, path = _state(results, f.study), results / "tables" / f.study / "claims.csv"
        hit = pd.DataFrame()
        if state is None and path.is_file():
            t = pd.read_csv(path)
            hit = t[(t["claim"] == f.claim) & (t["layers"] == 3)]
        if hit.empty:
            rows.append(
                {
                    "claim": f.label,
                    "paper": f.paper,
                    "ours (rt, 3 of 6 layers)": "–",
                    "N": "–",
                    "seeds and sentences": "–",
                    "verdict": state or "not tested",
                    "study": f"`{f.study}`",
                }
            )
            continue
        r = hit[hit["family"].fillna("") != "sensitivity"].iloc[0]
        sens = hit[hit["family"].fillna("") == "sensitivity"]
        verdict = _verdict(r) + (
            "".join(
                f"; without the {int(r['n_seeds'] - x['n_seeds'])} pairs known at declaration: "
                f"{_ours(x)}, {_verdict(x)}"
                for _, x in sens.iterrows()
            )
        )
        n = f"{int(r['n_seeds'])}" + (f" ({int(r['n_teachers'])} teachers)" if r.get("n_teachers", 1) > 1 else "")
        rows.append(
            {
                "claim": f.label,
                "paper": f.paper,
                "ours (rt, 3 of 6 layers)": _ours(r),
                "N": n,
                "seeds and sentences": _wider(r),
                "verdict": verdict,
                "study": f"`{f.study}`",
            }
        )
    return pd.DataFrame(rows)


def speedup_line(results: str | Path = "results") -> str:
    """The measured inference speed-up of 3 of 6 layers (the machine's shared measurement), beside the paper's."""
    results = Path(results)
    files = sorted((results / "speed").glob("hardware-*.json"))
    if not files:
        return "Speed-up: not measured here."
    m = json.loads(files[0].read_text())
    row = {r["layers"]: r for r in m["rows"]}[3]
    cpu = m["provenance"]["hardware"]
    return (
        f"Speed-up at inference, 3 of 6 layers: **{row['speedup']:.2f}x** (range {row['speedup_low']:.2f}-"
        f"{row['speedup_high']:.2f} over {row['repeats']} repeats; {cpu.get('cpu')}, {m['settings']['threads']} "
        f"threads, batch {m['settings']['batch_size']} x {m['settings']['seq_len']} tokens, "
        f"`results/speed/{files[0].name}`), {row['params_total'] / 1e6:.1f}M of the teacher's "
        f"{m['rows'][0]['params_total'] / 1e6:.1f}M parameters; the paper: 3.73x for 3 of 12 layers and 1.94x for "
        "6 of 12 (Table 3, BERT-base)."
    )


def markdown(results: str | Path = "results") -> str:
    """The findings table and the speed-up line as Markdown (README's FINDINGS block)."""
    t = table(results)
    rows = [list(t.columns), ["---"] * len(t.columns), *t.astype(str).values.tolist()]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n\n" + textwrap.fill(speedup_line(results), 118)
