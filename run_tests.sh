#!/usr/bin/env bash
# The test suite: bootstraps .venv, then runs pytest (about 9 minutes on 2 cores). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/bootstrap.sh)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" -m pytest -q "$@"
