#!/usr/bin/env bash
# Installs circuitnet and everything its tests and experiments need into ./.venv.
# Safe to re-run. torch is pinned to the CPU build that lies on this kind of machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: Fashion-MNIST (the fmnist experiments; tests fall back to synthetic idx files).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "note: run 'sudo apt-get install dataset-fashion-mnist' for the Fashion-MNIST experiments" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test]"
