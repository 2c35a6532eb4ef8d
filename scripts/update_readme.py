"""Copy the committed studies into the documentation: README.md's findings table (between the FINDINGS markers,
``pkdstudy.findings``) and docs/results.md (between the RESULTS markers): the default cpu study's Table 1, claims
and timing, then every other committed study's Table 1, layer figure, arms and claims.

    .venv/bin/python scripts/update_readme.py        # after ./run_all.sh; tests check both match the tables
"""

import json
import sys
from pathlib import Path

from pkdstudy import ROOT, findings, html_report, your_data_report
from pkdstudy.profiles import PROFILES
from pkdstudy.report import progress

BEGIN, END = "<!-- RESULTS:BEGIN (scripts/update_readme.py) -->", "<!-- RESULTS:END -->"
F_BEGIN, F_END = "<!-- FINDINGS:BEGIN (scripts/update_readme.py) -->", "<!-- FINDINGS:END -->"
Y_BEGIN, Y_END = "<!-- YOURDATA:BEGIN (scripts/update_readme.py) -->", "<!-- YOURDATA:END -->"


def results_block(root=ROOT) -> str:
    """docs/results.md's block: every committed study, its links relative to docs/."""
    return _results_block(root).replace("](results/", "](../results/")


def _bench_lines(res: Path) -> list[str]:
    """The benchmark's speed table (results/benchmarks/bench.json), when committed."""
    if not (res / "benchmarks" / "bench.json").is_file():
        return []
    b = json.loads((res / "benchmarks" / "bench.json").read_text())
    rows = {r["layers"]: r for r in b["inference"]["rows"]}
    d, tr, pad = b["distillation"], b["training"], b["padding"]
    n = max(rows)
    bound = 1 + n / (3 * 3)  # online: + teacher forward (2 FLOP/param-token x N) per student step (6 x 3)
    prec = b["precision"]
    return [
        "",
        f"Speed, measured side by side by `python -m pkdstudy.bench` on {b['provenance']['hardware']['cpu']} "
        f"({b['settings']['threads']} threads; `results/benchmarks/bench.json`; paper: BERT6 of 12 layers "
        "1.94x, BERT3 3.73x; the benchmark's own repeats: the studies cite the machine's shared "
        "30-repeat measurement and its range, Table 3 above):",
        "",
        "| measurement | here | target (issue) |",
        "|---|---|---|",
        f"| 3 of 6 layers, inference 32x128 / rt lengths | {rows[3]['speedup']:.2f}x / "
        f"{rows[3]['real_speedup']:.2f}x (ideal 2x) | >= 1.9x |",
        f"| 2 of 6 layers, inference 32x128 / rt lengths | {rows[2]['speedup']:.2f}x / "
        f"{rows[2]['real_speedup']:.2f}x (ideal 3x) | >= 2.7x |",
        *(
            [
                f"| fixed cost every depth pays (fit over depths) | {b['inference']['fit']['fixed_in_layers']:.2f} "
                "layers | (why the speed-up is below N/k) |"
            ]
            if "fit" in b["inference"]
            else []
        ),
        f"| teacher fine-tuning, share of fp32 GEMM peak | {tr['teacher']['fraction_of_peak']:.0%} | >= 50% |",
        f"| kd / pkd step time vs ft (cached teacher) | {d['kd']['vs_ft']:.2f}x / {d['pkd']['vs_ft']:.2f}x "
        f"| <= 1.15x |",
        f"| online teacher vs cached (kd / pkd) | {d['online_vs_cached_kd']:.2f}x / "
        f"{d['online_vs_cached_pkd']:.2f}x slower (FLOP bound {bound:.2f}x for {n}->3) | >= 1.8x |",
        f"| length-bucketed vs random batches | {pad['speedup']:.2f}x faster | >= 1.5x |",
        f"| bf16 autocast vs fp32: training / teacher inference (this CPU) | {prec['bf16_train_speedup']:.2f}x"
        f" / {prec['bf16_vs_fp32_inference_teacher']:.2f}x | the `cpu` profile's students train in bf16 |",
    ]


def _results_block(root=ROOT) -> str:
    res = root / "results"
    m = json.loads((res / "manifest-cpu.json").read_text())
    hw, prog = m["hardware"], progress(m)
    table1 = (res / "tables" / "cpu" / "table1.md").read_text().strip()
    claims = (res / "tables" / "cpu" / "claims.txt").read_text().strip().splitlines()
    speed = (res / "tables" / "cpu" / "table3_speed.md").read_text().strip()
    bench = _bench_lines(res)
    return "\n".join(
        [
            BEGIN,
            (
                f"**Interim** `cpu` study, {prog['finished']} of {prog['planned']} runs finished (`./run_all.sh` resumes "
                f"it): "
                if prog
                else "Latest `cpu` study: "
            )
            + f"started at git {str(m['git']['commit'])[:10]}, {len(m['records'])} runs, planned seeds {m['seeds']}, "
            f"on {hw['cpu']} ({hw['cpu_count']} cores, {hw['torch_threads']} torch threads, no GPU); wall time "
            f"{m['duration_s'] / 60:.1f} min with {m.get('notebooks_run', '?')} notebooks run and "
            f"{m.get('notebooks_reused', '?')} reused, {m['records_total_s'] / 60:.1f} min inside its runs "
            f"(`results/manifest-cpu.json`). Full page: [results/tables/cpu/summary.md](results/tables/cpu/summary.md).",
            "",
            table1,
            "",
            "![accuracy vs layers](results/figures/cpu/accuracy_vs_layers_rt.png)",
            "",
            "The paper's claims, tested on these runs:",
            "",
            *[f"- {c}" for c in claims],
            "",
            speed,
            *study_block(res, "full"),
            *study_block(res, "beyond"),
            *combined_block(res),
            *study_block(res, "mean"),
            *study_block(res, "verdicts"),
            *study_block(res, "beta100-confirm"),
            *study_block(res, "epochs8-confirm"),
            *study_block(res, "attention"),
            *bench,
            END,
        ]
    )


def study_block(res: Path, profile: str) -> list[str]:
    """A committed study's Table 1, layer figure and claims, with its state (complete, or interim and how to resume)."""
    tables, title = res / "tables" / profile, PROFILES[profile]["title"]
    if not (res / f"manifest-{profile}.json").is_file() or not (tables / "claims.txt").is_file():
        return []
    if note := findings.withheld(res, profile):
        return ["", f"**{title}** (`{profile}`: {note}; `./run_all.sh --profile {profile}` resumes it)."]
    prog = progress(json.loads((res / f"manifest-{profile}.json").read_text()))
    claims = (tables / "claims.txt").read_text().strip().splitlines()
    state = (
        f"**interim**: {prog['finished']} of {prog['planned']} runs finished; `./run_all.sh --profile "
        f"{profile}` resumes it"
        if prog
        else "complete"
    )
    fig = f"figures/{profile}/accuracy_vs_layers_rt.png"  # under results/
    return [
        "",
        f"**{title}** (`{profile}`; {state}; full page [results/tables/{profile}/summary.md]"
        f"(results/tables/{profile}/summary.md)):",
        "",
        (tables / "table1.md").read_text().strip(),
        "",
        *([f"![accuracy vs layers, {profile}](results/{fig})", ""] if (res / fig).is_file() else []),
        *([(tables / "table5_arms.md").read_text().strip(), ""] if (tables / "table5_arms.md").is_file() else []),
        *[f"- {c}" for c in claims],
    ]


def combined_block(res: Path) -> list[str]:
    """The layer curve of every comparable run (``pkd report --combined``), when committed."""
    t = res / "tables" / "combined" / "layers.md"
    if not t.is_file():
        return []
    return [
        "",
        "Every comparable run of the studies pooled, each run once (`pkd report --combined`):",
        "",
        t.read_text().strip(),
        "",
        "![accuracy vs layers, every comparable run](results/figures/combined/accuracy_vs_layers_rt.png)",
    ]


def findings_block(root=ROOT) -> str:
    """README's findings table (``pkdstudy.findings``) from root/results, between its markers."""
    return "\n".join([F_BEGIN, findings.markdown(root / "results"), F_END])


def your_data_blocks(root=ROOT) -> tuple[str, str]:
    """README's and docs/your-data.md's measured blocks (``pkdstudy.your_data_report``), between their markers."""
    res = root / "results"
    return (
        "\n".join([Y_BEGIN, your_data_report.readme_block(res), Y_END]),
        "\n".join([Y_BEGIN, your_data_report.your_data_block(res, "../results"), Y_END]),
    )


def _replace(path: Path, begin: str, end: str, block: str) -> None:
    text = path.read_text()
    if begin not in text or end not in text:
        sys.exit(f"{path.name} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    path.write_text(head + block + rest.split(end, 1)[1])


def main(argv=None):
    """Rewrite README's findings table and docs/results.md's results block; ``--root DIR``: from DIR/results (a
    frozen copy of a running study's)."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else ROOT
    _replace(ROOT / "README.md", F_BEGIN, F_END, findings_block(root))
    _replace(ROOT / "docs" / "results.md", BEGIN, END, results_block(root))
    readme, docs = your_data_blocks(root)
    _replace(ROOT / "README.md", Y_BEGIN, Y_END, readme)
    _replace(ROOT / "docs" / "your-data.md", Y_BEGIN, Y_END, docs)
    (ROOT / "results" / "report.html").write_text(html_report.build(root / "results"))
    print("README.md, docs/results.md, docs/your-data.md and results/report.html updated")


if __name__ == "__main__":
    main()
