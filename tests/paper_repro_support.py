"""Helpers of the paper_repro tests (tests/test_paper_repro_*.py): synthetic data in the real formats,
running an experiment's --quick mode through the CLI and the checks every experiment's results pass,
and a torchrun-like launch.

The quick modes run the same code path as the full experiments on a few hundred images. Fashion-
MNIST comes from /usr/share/datasets/fashion-mnist when installed, else from a small synthetic set
in the real idx format; CIFAR-10 always from small synthetic batches in the real pickle format
(the fixtures fmnist_dir and cifar_dir in tests/conftest.py).
"""
import gzip
import json
import os
import pickle
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

from paper_repro.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- synthetic data in the real formats
def write_idx(path, array):
    """idx file: magic 0x00 0x00 0x08 (uint8) ndim, big-endian uint32 sizes, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_fashion_mnist(root, n_train=400, n_test=200, seed=0):
    """Ten classes of noisy class-specific patterns (learnable), 28x28, in the four idx .gz files."""
    rng = np.random.default_rng(seed)
    protos = rng.random((10, 28, 28)) < 0.3
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = np.where(protos[y], 200, 20) + rng.integers(0, 40, (n, 28, 28))
        arrays[part] = (x.astype(np.uint8), y)
        write_idx(os.path.join(root, f"{part}-images-idx3-ubyte.gz"), arrays[part][0])
        write_idx(os.path.join(root, f"{part}-labels-idx1-ubyte.gz"), arrays[part][1])
    return arrays


def write_cifar10(root, n_per_batch=60, n_test=100, seed=0):
    """cifar-10-batches-py/data_batch_1..5 and test_batch: pickled dicts with bytes keys, data
    [n, 3072] uint8 (R, G, B planes of 32x32, row-major), labels a list of ints."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    batches = {}
    for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = rng.integers(0, 10, n).tolist()
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        d = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
             b"filenames": [f"img_{k}.png".encode() for k in range(n)]}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(d, f, protocol=2)
        batches[name] = (data, labels)
    return batches


# ---------------------------------------------------------------------------- experiments
EXPECTED = {  # experiment: (keys in results.json, PNGs)
    "iris": (["summary", "per_seed", "test_accuracy"], ["training_curves.png", "spike_raster.png"]),
    "demo": (["max_abs_diff_vs_exact", "e_pos", "e_neg", "unit_current_nA"], ["membrane_traces.png"]),
    "fmnist-mlp": (["test_accuracy", "test_accuracy_sigma0", "test_accuracy_noise_mean", "history", "time_per_epoch_s",
                    "best_test_accuracy", "e_pos", "e_neg"], ["training_curves.png", "spike_raster.png"]),
    "fmnist-cnn": (["test_accuracy", "test_accuracy_sigma0", "test_accuracy_noise_mean", "history", "time_per_epoch_s"],
                   ["training_curves.png", "spike_raster.png"]),
    "cifar10": (["test_accuracy", "test_accuracy_sigma0", "test_accuracy_noise_mean", "history", "time_per_epoch_s"],
                ["training_curves.png", "spike_raster.png"]),
    "sweep-e": (["test_accuracy", "accuracy", "ann_scale", "ann_scale_rmse", "best_e"],
                ["accuracy_vs_e.png", "training_curves.png"]),
    "sweep-m": (["test_accuracy", "accuracy", "best"], ["accuracy_vs_m.png", "training_curves.png"]),
    "noise": (["test_accuracy", "accuracy"], ["accuracy_vs_noise.png", "training_curves.png"]),
    "penalty": (["test_accuracy", "accuracy", "silent_outputs"], ["training_curves.png"]),
    "spice-iris": (["test_accuracy", "pnn_rmse_ns", "ann_rmse_ns", "pnn_spice_acc", "ann_spice_acc", "rmse_ratio"],
                   ["membrane_model_vs_spice.png"]),
    "spice-neurons": (["rmse_ns", "mean_ns", "per_fan_in", "extraction"], []),
    "robustness": (["iris", "fmnist", "fmnist_declared_noise", "sky130", "test_accuracy"], ["accuracy_vs_mismatch.png"]),
    "chip-budget": (["results", "fmnist_info", "test_accuracy"], ["accuracy_vs_budget.png"]),
    "spice-layer": (["output_layer", "first_layer", "test_accuracy"], []),
    "spice-network": (["layers", "class_agreement", "accuracy_spice", "per_image", "test_accuracy"], []),
    "spice-chips": (["chips", "spice_acc_mean", "model_acc_mean", "max_sample_difference", "rmse_ns_max",
                     "drawn_spice_acc_mean", "test_accuracy"], []),
    "digits": (["test_accuracy", "val_accuracy", "best_val_epoch", "history"], ["training_curves.png"]),
    "yin-yang": (["test_accuracy", "val_accuracy", "best_val_epoch", "test_accuracy_at_best_val", "history"],
                 ["training_curves.png", "spike_raster.png"]),
    "yin-yang-spice": (["output_layer", "test_accuracy"], []),
    "yin-yang-chips": (["nominal_accuracy", "drawn", "trimmed", "programmed_trimmed", "test_accuracy"], []),
}


# yin-yang on the two-node LIF, as README's row trains it
LIF = ("--circuit", "circuitnet.circuits:lif_current_synapse", "--gamma1", "0", "--bump", "0.005", "--clip", "1",
       "--tau-soft", "0.2")


def run_quick(name, out, *extra):
    assert main([name, "--quick", "--out", str(out), *extra]) == 0
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def accuracies(obj):
    """Every number stored under a key that names an accuracy, at any depth."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if "acc" in k and isinstance(v, (int, float)):
                yield v
            else:
                yield from accuracies(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from accuracies(v)


def quick_mode(name, out, *args):
    """Run experiment ``name`` --quick with ``args`` into ``out`` and check what every experiment's run
    holds: results.json with the EXPECTED keys, every accuracy in [0, 1], the EXPECTED plots as PNGs, and a
    classification run's history and noise draws. Returns the results."""
    res = run_quick(name, out, *args)
    keys, pngs = EXPECTED[name]
    assert res["experiment"] == name and res["wall_time_s"] > 0
    assert set(keys) <= set(res), f"missing keys {set(keys) - set(res)}"
    accs = list(accuracies(res))
    assert all(0.0 <= a <= 1.0 for a in accs)
    if name not in ("demo", "spice-neurons"):
        assert accs and 0.0 <= res["test_accuracy"] <= 1.0
    for png in pngs:
        path = out / png
        assert path.exists() and path.stat().st_size > 1000, png
        assert path.read_bytes()[:8] == PNG_MAGIC
    if "history" in res and name in ("fmnist-mlp", "fmnist-cnn", "cifar10"):
        hist = res["history"]
        assert len(hist) == res["epochs"] >= 1
        assert all(h["train_s"] > 0 and h["eval_s"] > 0 and np.isfinite(h["loss"]) and 0 <= h["train_acc"] <= 1
                   for h in hist)
        assert res["time_per_epoch_s"] > 0
        assert len(res["test_accuracy_noise_draws"]) == 5
        assert res["test_accuracy_noise_mean"] == pytest.approx(np.mean(res["test_accuracy_noise_draws"]))
        assert res["train_samples"] <= 1000 and res["test_samples"] <= 500   # quick means small
    return res


def nominal_run(tmp_path, fmnist_dir):
    """The nominal network of robustness and spice-layer: a finished fmnist-mlp run (one epoch) in
    tmp_path/nominal; returns the --nominal option naming it."""
    run_quick("fmnist-mlp", tmp_path / "nominal", "--data", fmnist_dir, "--epochs", "1")
    return ["--nominal", str(tmp_path / "nominal")]


def launch(world, args):
    """What torchrun --nproc_per_node WORLD does: WORLD processes of python -m paper_repro ARGS with
    RANK, LOCAL_RANK, WORLD_SIZE and a free rendezvous port in their environment (gloo on the CPU)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs.append(subprocess.Popen([sys.executable, "-m", "paper_repro", *args], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
    finally:                                    # one failed rank leaves the other waiting in gloo
        for proc in procs:
            proc.kill()
            proc.wait()
