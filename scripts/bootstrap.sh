#!/usr/bin/env bash
# Create the project's virtual environment (.venv) if missing and (re)install the project into it
# whenever pyproject.toml changed. Sourced by run_all.sh and run_tests.sh; prints the venv's python.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${PKD_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.pkd-installed"
want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing pkdlib, the study and the tests' tools into $venv (first time: a few minutes)" >&2
  # .[study,dev]: the library, the study's extra (which includes export, datasets and the embedded teacher and data)
  # and the tests' (pytest, ruff); `pip install .` alone is the library (docs/install.md)
  # torch is pinned to the CPU wheel (torch==2.13.0); GPU users install their CUDA torch first (docs/install.md)
  # constraints.txt: the exact versions of the committed studies (scripts/reproducibility.py writes it)
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$root/constraints.txt" \
    -e "$root[study,dev]" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
