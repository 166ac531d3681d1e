#!/usr/bin/env bash
# Installs everything and runs the main job. Extra arguments go to the experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
OMP_NUM_THREADS=1 .venv/bin/python -m paper_repro iris "$@"
