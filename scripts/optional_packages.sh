#!/usr/bin/env bash
# Optional Debian packages: what experiments other than the main job need (and the SPICE tests). This script never
# fails: a package it cannot install now (no apt-get, not root, apt locked by another process, no
# network) is named, with what needs it and the command that installs it later.
set -uo pipefail
PACKAGES=(   # package:what needs it
    "ngspice:method 'spice', its tests (tests/test_spice.py) and the spice-iris and spice-neurons experiments"
    "dataset-fashion-mnist:the Fashion-MNIST experiments (fmnist-mlp, fmnist-cnn, sweep-e, sweep-m, noise, penalty)"
    "g++:the compiled kernels of methods 'exact' and 'dstd' (without it their pure-torch paths run, about 6x slower)"
)
missing=()
for entry in "${PACKAGES[@]}"; do
    dpkg -s "${entry%%:*}" >/dev/null 2>&1 || missing+=("$entry")
done
[ ${#missing[@]} = 0 ] && exit 0
names=$(for e in "${missing[@]}"; do printf '%s ' "${e%%:*}"; done)
why=""
if ! command -v apt-get >/dev/null; then
    why="no apt-get here"
elif [ "$(id -u)" != 0 ]; then
    why="not root"
elif ! log=$( { apt-get update -qq && apt-get install -y -qq $names >/dev/null; } 2>&1 ); then
    why="apt-get failed: $(printf '%s\n' "$log" | grep . | tail -n 1)"
fi
if [ -n "$why" ]; then
    for e in "${missing[@]}"; do
        echo "note: skipped the optional package ${e%%:*} ($why). Only ${e#*:} need it;" \
             "install it later with: sudo apt-get install ${e%%:*}" >&2
    done
fi
exit 0
