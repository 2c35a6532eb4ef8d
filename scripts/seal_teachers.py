"""Record the committed teachers' weights fingerprints (a one-off migration; idempotent).

The cpu study's teacher record was written before records held ``weights_fp``, so nothing compared its committed
weights with what its students were trained against: a teacher damaged mid-file was reused. For every teacher
record in the given folders whose weights lie in this checkout (``work/models/<run id>``), this computes the
weights' fingerprint (``pkdlib.files.model_fingerprint``) and accepts it only when it equals the ``teacher_fp`` its
students' identities hold (the weights they were trained against); it then

* writes ``weights_fp`` into a record that has none (with a ``migrated`` note), and seals it (``records.seal``);
* writes ``pkd-weights.json`` beside the weights (``pkdlib.weights``), so a ``--teacher-dir`` naming the folder is
  checked too.

No identity changes: a teacher's identity does not hold its own weights, and its students' hold them by
``teacher_fp``, which is exactly what is checked here. A record whose weights are absent, or whose fingerprint no
student confirms, is left as it is (and named).

    .venv/bin/python scripts/seal_teachers.py results/records
"""

import json
import sys
from pathlib import Path

from pkdlib.files import atomic_write_json, model_fingerprint
from pkdlib.ownership import file_hashes
from pkdlib.records import seal
from pkdlib.weights import WEIGHTS_FILE
from pkdstudy import ROOT

NOTE = (
    "2026-12-07: weights_fp filled from the committed weights, whose fingerprint equals the teacher_fp of the "
    "students trained against them (scripts/seal_teachers.py); identity unchanged; record sealed"
)


def student_fps(folders) -> set:
    return {
        json.loads(p.read_text()).get("identity", {}).get("teacher_fp") for f in folders for p in Path(f).glob("*.json")
    }


def migrate(path: Path, confirmed: set) -> str:
    r = json.loads(path.read_text())
    if r.get("config", {}).get("method") != "teacher":
        return ""
    model_dir = ROOT / "work" / "models" / r["run_id"]
    if not model_dir.is_dir():
        return f"{path.name}: no weights in {model_dir.relative_to(ROOT)}; left as it is"
    fp = model_fingerprint(model_dir)
    if fp not in confirmed or r.get("weights_fp") not in (None, fp):
        return f"{path.name}: fingerprint {fp[:12]} is not the one its students or its record hold; left as it is"
    said = []
    if r.get("weights_fp") is None:
        atomic_write_json(path, seal({**r, "weights_fp": fp, "migrated": NOTE}))
        said.append("weights_fp written, record sealed")
    if not (model_dir / WEIGHTS_FILE).is_file():
        atomic_write_json(model_dir / WEIGHTS_FILE, {"weights_fp": fp, "files": file_hashes(model_dir)})
        said.append(f"{WEIGHTS_FILE} written")
    return f"{path.name}: {', '.join(said) or 'already done'} (fingerprint {fp[:12]})"


def main(folders) -> int:
    confirmed = student_fps(folders)
    for folder in folders:
        for p in sorted(Path(folder).glob("*-teacher-*.json")):
            if msg := migrate(p, confirmed):
                print(msg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
