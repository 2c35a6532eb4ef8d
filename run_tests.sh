#!/usr/bin/env bash
# The test suite: bootstraps .venv, checks lint and format (ruff, pyproject's [tool.ruff]), runs pytest (about 9
# minutes on 2 cores; -m "not slow": the fast half, under 2), then checks that the tests left the working tree as
# they found it. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/bootstrap.sh)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$py" -m ruff check .
"$py" -m ruff format --check .
before=$(git status --porcelain 2>/dev/null || true)
"$py" -m pytest -q "$@"
after=$(git status --porcelain 2>/dev/null || true)
if [ "$before" != "$after" ]; then
  echo "the tests changed the working tree (git status before and after differ):" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
