#!/usr/bin/env bash
# The GPU path in under 10 minutes on one GPU (scripts/gpu_check.py says what it checks); without a GPU it says so
# and exits 0.   scripts/gpu_check.sh [--out results/gpu_check] [--skip-quick]
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/bootstrap.sh)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" scripts/gpu_check.py "$@"
