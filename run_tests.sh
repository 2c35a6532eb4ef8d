#!/usr/bin/env bash
# The test suite: bootstraps .venv, checks lint and format (ruff, pyproject's [tool.ruff]), runs pytest on 2 worker
# processes (pytest-xdist, a file per worker; PKD_TEST_WORKERS=0 runs in this process), then checks that the tests
# left the working tree as they found it. About 12 minutes on 2 cores.
#   ./run_tests.sh -m "not slow"   the fast half (about 2 minutes)
#   ./run_tests.sh --heavy         also the longest end-to-end runs (marker heavy: about 20 more minutes)
# Other args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/bootstrap.sh)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
args=()
if [ "${1:-}" = "--heavy" ]; then shift; args+=(-m "heavy or not heavy"); fi
workers=${PKD_TEST_WORKERS:-2}
[ "$workers" = 0 ] || args+=(-n "$workers" --dist loadfile)
"$py" -m ruff check .
"$py" -m ruff format --check .
before=$(git status --porcelain 2>/dev/null || true)
"$py" -m pytest -q "${args[@]}" "$@"
after=$(git status --porcelain 2>/dev/null || true)
if [ "$before" != "$after" ]; then
  echo "the tests changed the working tree (git status before and after differ):" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
