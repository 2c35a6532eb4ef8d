#!/usr/bin/env bash
# Regenerate the study: ./run_all.sh [--profile quick|cpu|full|beyond|verdicts|mean|paper|search|recipe|...] [--dry-run] [--force] [--remeasure] [--report-again]
# Default profile: cpu (the embedded study, about 2 hours on 2 cores, 2 workers). Bootstraps .venv first.
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/bootstrap.sh)
export TOKENIZERS_PARALLELISM=false
exec "$py" -m pkdstudy.study "$@"
