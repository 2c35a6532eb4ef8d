"""One HTML page a reader opens: the findings table, then each decisive study's Table 1, claims and figures.

Written from ``results/tables`` and ``results/figures`` only (no run is read twice, no number typed), by
``scripts/update_readme.py`` beside README's findings table; a test rebuilds it and compares byte for byte.

    .venv/bin/python -m pkdstudy.html_report            # writes results/report.html
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pandas as pd

from . import findings
from .profiles import PROFILES

#: the studies the page shows, in the order a reader asks (the decisive ones first, the quick reproduction last);
#: each one's heading is its profile's title
SHOWN = ("verdicts", "beta100-confirm", "epochs8-confirm", "attention", "full", "cpu")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.45}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:0.3em 0.6em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:48%;margin:0.5em 1% 0 0}"
    "li{margin:0.3em 0}.note{color:#555}"
)


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in df.astype(str).values.tolist()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _study(results: Path, study: str, title: str) -> list[str]:
    tables, figures = results / "tables" / study, results / "figures" / study
    if not (tables / "claims.txt").is_file():
        return []
    head = f'<h2 id="{study}"><code>{study}</code>: {html.escape(title)}</h2>'
    if note := findings.withheld(results, study):
        return [head, f'<p class="note">{html.escape(note)}</p>']
    out = [head, f'<p class="note">Full page: <a href="tables/{study}/summary.md">tables/{study}/summary.md</a></p>']
    if (tables / "table1.csv").is_file():
        out += [
            "<h3>Table 1: test accuracy (%), mean ± std over seeds (N)</h3>",
            _table(pd.read_csv(tables / "table1.csv").fillna("")),
        ]
    claims = [c for c in (tables / "claims.txt").read_text().splitlines() if c.strip()]
    out += ["<h3>Claims</h3>", "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in claims) + "</ul>"]
    imgs = sorted(figures.glob("*.png")) if figures.is_dir() else []
    out += [f'<img src="figures/{study}/{p.name}" alt="{html.escape(p.stem)}">' for p in imgs]
    return out


def build(results: str | Path = "results") -> str:
    """The page's HTML, from the committed tables and figures under ``results``."""
    results = Path(results)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>pkd-study: what the study found</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>pkd-study: Patient Knowledge Distillation, reproduced</h1>",
        "<p>Sun et al. (EMNLP 2019) on all-MiniLM-L6-v2 (6 layers) and Rotten Tomatoes (<code>rt</code>, "
        "1,066 test sentences), CPU only. Generated from <code>results/tables</code> by "
        "<code>scripts/update_readme.py</code>; every number is a row of a committed table.</p>",
        "<h2>What the study found</h2>",
        _table(findings.table(results)),
        f"<p>{html.escape(findings.speedup_line(results))}</p>",
    ]
    for study in SHOWN:
        parts += _study(results, study, PROFILES[study]["title"])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(results: str | Path = "results") -> Path:
    out = Path(results) / "report.html"
    out.write_text(build(results))
    return out


if __name__ == "__main__":
    print(f"{write(sys.argv[1] if len(sys.argv) > 1 else 'results')} written")
