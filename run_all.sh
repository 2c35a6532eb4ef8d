#!/usr/bin/env bash
# Regenerate the study: ./run_all.sh [--profile quick|cpu|paper|search] [--dry-run] [--force]
# Default profile: cpu (the embedded study, about an hour on 2 cores). Bootstraps .venv first.
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/bootstrap.sh)
export TOKENIZERS_PARALLELISM=false
exec "$py" -m pkdlib.study "$@"
