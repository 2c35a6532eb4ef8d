"""Copy the committed cpu study's Table 1, claims and timing into README.md (between the RESULTS markers).

    .venv/bin/python scripts/update_readme.py        # after ./run_all.sh; tests check README matches
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- RESULTS:BEGIN (scripts/update_readme.py) -->", "<!-- RESULTS:END -->"


def results_block(root=ROOT) -> str:
    res = root / "results"
    m = json.loads((res / "manifest-cpu.json").read_text())
    hw = m["hardware"]
    table1 = (res / "tables" / "cpu" / "table1.md").read_text().strip()
    claims = (res / "tables" / "cpu" / "claims.txt").read_text().strip().splitlines()
    speed = (res / "tables" / "cpu" / "table3_speed.md").read_text().strip()
    return "\n".join([
        BEGIN,
        f"Latest `cpu` study: git {str(m['git']['commit'])[:10]}, {len(m['records'])} runs, seeds {m['seeds']}, "
        f"on {hw['cpu']} ({hw['cpu_count']} cores, {hw['torch_threads']} torch threads, no GPU); wall time "
        f"{m['duration_s'] / 60:.1f} min (`results/manifest-cpu.json`). Full page: "
        f"[results/tables/cpu/summary.md](results/tables/cpu/summary.md).",
        "", table1, "", "![accuracy vs layers](results/figures/cpu/accuracy_vs_layers_rt.png)", "",
        "The paper's claims, tested on these runs:", "", *[f"- {c}" for c in claims], "", speed, END])


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit("README.md has no RESULTS markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + results_block() + tail)
    print("README.md updated")


if __name__ == "__main__":
    main()
