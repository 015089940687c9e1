#!/usr/bin/env bash
# The prepared GPU check: one table (perception, extraction and QA at the paper presets; projections for real
# CLEVRER), within 8 minutes on one H100/H200, with the project's own install.
#   bash benchmarks/gpu_check.sh [--out docs/gpu_check.md] [--compile]
#   bash benchmarks/gpu_check.sh --smoke        # tiny presets on the CPU, seconds
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ ! -x "$PY" ]; then PY=python3; fi
exec "$PY" benchmarks/gpu_check.py "$@"
