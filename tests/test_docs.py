"""README and docs/: short, leading with the findings, every link resolving, the findings table from the tables."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pkdstudy import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_one_page_that_leads_with_the_findings():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines (at most 250; the rest belongs in docs/)"
    first_screen = "\n".join(lines[:60])
    assert "## What the study found" in first_screen and "FINDINGS:BEGIN" in first_screen
    long = [i + 1 for i, line in enumerate(lines) if len(line) > 200 and not line.startswith("|")]
    assert not long, f"README lines over 200 characters: {long}"


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for h in re.findall(r"^#+ (.+)$", text, flags=re.M):
        out.add(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    """A link to a file names one that exists; a link to a heading names one of that page's headings."""
    text, bad = page.read_text(), []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
            bad.append(target)
    assert not bad, f"{page.relative_to(ROOT)}: links that resolve to nothing: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_holds_an_unfilled_placeholder(page):
    """A number or paragraph to come («TIMES», <<TIMES>>) never reaches a reader."""
    left = re.findall(r"«[^»]*»|<<[A-Z_]+>>", page.read_text())
    assert not left, f"{page.relative_to(ROOT)}: unfilled placeholders {left}"


def test_the_claims_tables_point_to_the_rules_where_they_are():
    """Every claims table names the page and section of the decision rules, and that section exists."""
    from pkdstudy.claims import __doc__ as rules_doc

    page, section = re.search(r"rules \((\S+), \"([^\"]+)\"\)", rules_doc).groups()
    assert f"## {section}" in (ROOT / page).read_text()
    citing = 0
    for claims in (ROOT / "results" / "tables").glob("*/claims.txt"):
        cited = set(re.findall(r"rules: (\S+), '([^']+)'", claims.read_text()))
        assert cited <= {(page, section)}, f"{claims.relative_to(ROOT)} points to {cited}"
        citing += bool(cited)
    assert citing >= 5  # every study with a decided row; a search study decides none


def test_findings_table_rows_are_the_committed_claims_rows():
    """Each finding's interval, N and verdict are those of its study's claims table (recomputed here from the CSV,
    not from the function that wrote the table)."""
    from pkdstudy.findings import findings, table

    t = table(ROOT / "results").set_index("claim")
    checked = 0
    for f in findings():
        path = ROOT / "results" / "tables" / f.study / "claims.csv"
        if t.loc[f.label, "ours (rt, 3 of 6 layers)"] == "–":
            continue
        c = pd.read_csv(path)
        r = c[(c["claim"] == f.claim) & (c["layers"] == 3) & (c["family"].fillna("") != "sensitivity")].iloc[0]
        cell = t.loc[f.label, "ours (rt, 3 of 6 layers)"]
        nums = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", cell)]
        assert nums == pytest.approx(
            [r["mean_diff"], r["ci_low"], r["ci_high"]], abs=0.006 if "%" not in r["comparison"] else 0.06
        ), f.label
        assert t.loc[f.label, "N"].startswith(str(int(r["n_seeds"])))
        assert t.loc[f.label, "verdict"].split(" (")[0] in r["verdict"]
        checked += 1
    assert checked >= 5


def test_findings_table_says_interim_and_gives_no_verdict(tmp_path):
    """A study committed part-way gives no verdict in the findings table (reading it early is optional stopping)."""
    import json
    import shutil

    from pkdstudy.findings import table

    res = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "tables" / "verdicts", res / "tables" / "verdicts")
    (res / "manifest-verdicts.json").write_text(json.dumps({"status": "running", "records": ["a", "b"]}))
    row = table(res).set_index("claim").loc["KD beats fine-tuning"]
    assert row["verdict"] == "running: 2 runs finished" and row["ours (rt, 3 of 6 layers)"] == "–"


def test_an_interim_confirmatory_study_shows_no_number(tmp_path):
    """docs/results.md and the HTML report print no estimate of a confirmatory study before its declared runs have
    finished (its interim claims table holds one); the same tables, once the manifest says complete, are shown."""
    import json
    import shutil
    import sys

    from pkdstudy import html_report

    sys.path.insert(0, str(ROOT / "scripts"))
    from update_readme import study_block

    res = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "tables" / "beta100-confirm", res / "tables" / "beta100-confirm")
    manifest = res / "manifest-beta100-confirm.json"
    manifest.write_text(json.dumps({"status": "running", "records": ["a", "b"], "planned": 56}))
    numbers = re.compile(r"[-+]\d+\.\d\d")
    for text in (
        "\n".join(study_block(res, "beta100-confirm")),
        "\n".join(html_report._study(res, "beta100-confirm", "t")),
    ):
        assert "shows no number" in text and not numbers.search(text), text
    manifest.write_text(json.dumps({"status": "complete", "records": ["a", "b"]}))
    assert numbers.search("\n".join(html_report._study(res, "beta100-confirm", "t")))


def test_the_html_report_is_the_one_the_tables_make():
    """results/report.html is rebuilt from the committed tables byte for byte (no number typed into it), and it shows
    the findings table and each decisive study's claims."""
    from pkdstudy.html_report import build

    page = (ROOT / "results" / "report.html").read_text()
    assert page == build(ROOT / "results"), "results/report.html is stale: run scripts/update_readme.py"
    assert "What the study found" in page and 'id="verdicts"' in page and 'id="beta100-confirm"' in page
    for src in re.findall(r'src="([^"]+)"', page):
        assert (ROOT / "results" / src).is_file(), src


def test_reproduction_summary_cites_only_committed_claims():
    """docs/reproduction.md's results paragraph cites numbers only from the committed claims tables: every number
    `cited_numbers` finds in it is in some study's claims.txt (a finished study changes the page, not a typed
    number)."""
    from test_bench_and_report import cited_numbers

    page = re.sub(r"\s+", " ", (ROOT / "docs" / "reproduction.md").read_text())
    claims = "\n".join(p.read_text() for p in (ROOT / "results" / "tables").glob("*/claims.txt"))
    cited = cited_numbers(page)
    assert len(cited) >= 10
    missing = [c for c in cited if c not in claims]
    assert not missing, f"docs/reproduction.md cites numbers no claims table holds: {missing}"
