#!/usr/bin/env bash
# The GPU path checked offline with the python the machine has (scripts/gpu_check.py says what it checks): no pip,
# no network, no Hub. Writes gpu_check.json and gpu_check.log to OUT ($OUT when set, else the first argument);
# exits 1 when a check fails, 0 when all passed or were skipped (without CUDA: the CUDA parts, said so).
#     scripts/gpu_check.sh OUT [--model base|tiny] [--only CHECK,...]      PYTHON=/path/to/python3 to choose one
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null; then
  echo "error: no $py here; set PYTHON to a python with torch, transformers and accelerate" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CUBLAS_WORKSPACE_CONFIG="${CUBLAS_WORKSPACE_CONFIG:-:4096:8}"
exec "$py" scripts/gpu_check.py "$@"
