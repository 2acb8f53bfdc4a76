#!/usr/bin/env bash
# The whole pipeline as CI for users runs it; the same script runs locally:
#   bash scripts/pipeline.sh [BASE_REF]     (BASE_REF defaults to main)
# Installs with the README command, runs the tests, runs `dvc repro`, and writes
# `dvc metrics diff BASE_REF --md` to the job summary (GITHUB_STEP_SUMMARY) or stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-main}"
make setup
export PATH="$PWD/.venv/bin:$PATH"
python -m pytest -q
python -m stages.check
dvc repro
summary="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
{
  echo "## Metrics against $base"
  echo
  dvc metrics diff "$base" --md --precision 3 || echo "(no metrics to compare on $base)"
} >> "$summary"
