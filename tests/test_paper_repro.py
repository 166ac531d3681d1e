"""paper_repro: every experiment's --quick mode through the CLI, checkpoint resume, data loaders.

The quick modes run the same code path as the full experiments on a few hundred images. Fashion-
MNIST comes from /usr/share/datasets/fashion-mnist when installed, else from a small synthetic set
in the real idx format; CIFAR-10 always from small synthetic batches in the real pickle format.
"""
import gzip
import json
import math
import os
import pickle
import socket
import struct
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
import torch

import circuitnet as cn

from paper_repro import data as D
from paper_repro.__main__ import EXPERIMENTS, main

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


@pytest.fixture(scope="module")
def fmnist_dir(tmp_path_factory):
    real = D.FASHION_MNIST_DIR
    if all(os.path.exists(os.path.join(real, n + ".gz")) for n in D.FASHION_MNIST_FILES.values()):
        return real
    root = tmp_path_factory.mktemp("fmnist")
    write_fashion_mnist(str(root), n_train=600, n_test=300)
    return str(root)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(str(root))
    return str(root)


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
    "spice-chips": (["chips", "spice_acc_mean", "model_acc_mean", "max_sample_difference", "rmse_ns_max",
                     "drawn_spice_acc_mean", "test_accuracy"], []),
}


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


def test_the_help_names_as_sweeps_exactly_the_experiments_that_train_many():
    from paper_repro.__main__ import SWEEPS
    many = {n for n in EXPERIMENTS if "train_many(" in open(os.path.join(ROOT, "paper_repro",
                                                                         n.replace("-", "_") + ".py")).read()}
    assert set(SWEEPS) == many


def test_every_experiment_is_tested():
    assert set(EXPECTED) == set(EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_mode_writes_sane_results_and_plots(name, tmp_path, fmnist_dir, cifar_dir):
    data = {"cifar10": ["--data", cifar_dir], "iris": [], "demo": [], "spice-iris": [], "spice-neurons": [],
            "spice-chips": []}.get(
        name, ["--data", fmnist_dir])
    if name == "noise":                          # with validation images: the choices validation makes
        data += ["--val", "64"]
    if name in ("robustness", "spice-layer"):    # its nominal network: a finished fmnist-mlp run
        run_quick("fmnist-mlp", tmp_path / "nominal", "--data", fmnist_dir, "--epochs", "1")
        data += ["--nominal", str(tmp_path / "nominal")]
    res = run_quick(name, tmp_path, *data)
    keys, pngs = EXPECTED[name]
    assert res["experiment"] == name and res["wall_time_s"] > 0
    assert set(keys) <= set(res), f"missing keys {set(keys) - set(res)}"
    accs = list(accuracies(res))
    assert all(0.0 <= a <= 1.0 for a in accs)
    if name not in ("demo", "spice-neurons"):
        assert accs and 0.0 <= res["test_accuracy"] <= 1.0
    for png in pngs:
        path = tmp_path / png
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
    if name == "fmnist-mlp":   # default: the circuit's own reversal potentials
        assert res["e_pos"] == pytest.approx(2.80, abs=0.01) and res["e_neg"] == pytest.approx(-1.53, abs=0.01)
    if name == "sweep-e":
        assert set(res["accuracy"]) == {"pnn", "ann", "scaled_ann"}
        assert list(res["ann_scale"]) == ["1", "2", "4", "7.4", "100"]
        assert res["ann_scale"]["100"] == pytest.approx(1.0)          # the ANN needs no scaling on itself
        assert all(0.5 <= s <= 5.0 for s in res["ann_scale"].values())
        assert all(abs(100 * s - round(100 * s)) < 1e-6 for s in res["ann_scale"].values())   # 1 % grid
    if name == "sweep-m":
        assert set(res["accuracy"]) == {"random", "fixed"}
        assert all(list(v) == ["1", "2", "4", "10", "30"] for v in res["accuracy"].values())
    if name == "noise":
        assert list(res["accuracy"]) == list(res["paper_accuracy"]) == ["0", "0.01", "0.02", "0.04"]
        assert list(res["noise_budget"]) == ["0.01", "0.02", "0.04"]      # where the noise costs, per sigma > 0
        assert all(list(row) == list(res["accuracy"]) for row in res["cross"].values())   # every network at every sigma
        assert all(res["cross"][s][s] == a for s, a in res["accuracy"].items())
        for u, pick in res["chosen"].items():                             # the best on validation of ...
            tuned = res["gain_tuned"][u]
            best = max([row[u] for row in res["val_cross"].values()] + [tuned["val_accuracy"]])
            assert pick["val_accuracy"] == best and len(tuned["gains"]) == 3
            assert pick["test_accuracy"] == (tuned["test_accuracy"] if pick["gains"] is not None
                                             else res["cross"][f"{pick['trained_at']:g}"][u])
        for b in res["noise_budget"].values():
            assert b["on"] == "validation" and b["images"] == 64              # --val 64
            assert len(b["after_layer"]) == 3 and b["margin_q10"] <= b["margin_median"]
            assert all(0 <= a <= 1 for a in [b["noise_free"], b["all"], *b["after_layer"]])
    if name == "spice-layer":        # one image, a width-0.25 MLP (fan-in 100): SPICE and the realised model agree
        out, first = res["output_layer"], res["first_layer"]
        assert out["images"] == 1 and out["class_agreement"] == 1.0 and out["rmse_ns"] < 1.5
        assert first["fan_in"] == 784 and first["firing_agreement"] == 1.0   # a first-layer neuron too
        assert first["rmse_ns"] is None or first["rmse_ns"] < 2.0
    if name == "spice-chips":        # one programmed and trimmed chip: its model predicts ngspice on it
        (chip,) = res["chips"]
        assert chip["sample_difference"] <= 1 and chip["rmse_ns"] < 3.0 and chip["class_agreement"] >= 0.5
    if name == "spice-neurons":      # the realised model against ngspice: the bounds, on fewer neurons
        assert res["rmse_ns"]["4"] < 1.0 and res["rmse_ns"]["16"] < 1.0 and abs(res["mean_ns"]["16"]) < 0.75
        row = res["per_fan_in"][1]["variants"]       # fan-in 16: the new effects matter already
        assert row["model"]["rmse_ns"] < row["before"]["rmse_ns"]
    if name == "robustness":
        assert 0.2 < res["sky130"]["pos"]["current_spread"] < 0.4 and res["sky130"]["pos"]["correlation"] < -0.9
        for part in ("iris", "fmnist"):
            assert list(res[part]) == ["0%", "20%", "sky130"]
            assert res[part]["0%"]["aware"] == res[part]["0%"]["nominal"]     # no mismatch: nothing to adapt to
            for level, row in res[part].items():
                for name in ("nominal", "aware"):
                    r = row[name]
                    assert len(r["accuracies"]) == res["config"]["chips"]
                    assert r["min"] <= r["p5"] <= r["mean"] <= r["max"]
                if part == "fmnist" and level != "0%":
                    assert len(row["aware_mismatch_free"]["accuracies"]) == 20
        assert res["iris"]["0%"]["nominal"]["std"] == 0.0                     # iris has no spike-time noise
        assert set(res["fmnist_declared_noise"]) == {"nominal_nominal_chip", "nominal_sky130_chips",
                                                     "aware_nominal_chip", "aware_sky130_chips"}
    if name == "penalty":
        runs = {"clipped_circuit", "unclipped_circuit", "clipped_E100", "unclipped_E100"}
        assert set(res["accuracy"]) == set(res["silent_outputs"]) == runs
        assert all(0.0 <= f <= 1.0 for f in res["silent_outputs"].values())


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tmp_path, fmnist_dir):
    out, fresh = tmp_path / "resumed", tmp_path / "fresh"
    first = run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "2")["history"]
    assert [h["epoch"] for h in first] == [1, 2]
    again = run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "3")["history"]
    assert [h["epoch"] for h in again] == [1, 2, 3]
    assert again[:2] == first                                   # loaded, not retrained
    # the resumed run is the run that was never interrupted: same data order, offsets, noise, Adam state
    straight = run_quick("fmnist-mlp", fresh, "--data", fmnist_dir, "--epochs", "3")["history"]
    for a, b in zip(again, straight):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["test_acc"] == pytest.approx(b["test_acc"])
    # a checkpoint written before a configuration key existed resumes: the key had its default then
    meta = out / "model.json"
    old = json.loads(meta.read_text())
    del old["dropout"]
    meta.write_text(json.dumps(old))
    assert run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "3")["history"] == again
    # a checkpoint from another configuration is refused with a clear message, not a shape error
    with pytest.raises(SystemExit, match="another configuration"):
        main(["fmnist-mlp", "--quick", "--out", str(out), "--data", fmnist_dir, "--epochs", "3", "--width", "0.5"])


@pytest.mark.slow
def test_wall_time_of_a_resumed_run_counts_the_restored_epochs(tmp_path, fmnist_dir):
    """results.json's wall_time_s = this invocation + the recorded time of the epochs loaded from the
    checkpoint (here made 1000 s long by editing it), not this invocation alone."""
    run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1")
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    state["history"][0]["train_s"] += 1000.0
    torch.save(state, tmp_path / "model.pt")
    t0 = time.time()
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "2")
    invocation = time.time() - t0
    restored = res["history"][0]["train_s"] + res["history"][0]["eval_s"]
    assert restored > 1000.0
    assert restored <= res["wall_time_s"] <= restored + invocation + 0.01


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


@pytest.mark.slow
def test_two_processes_train_in_step_shard_the_test_set_and_resume_in_one(tmp_path, fmnist_dir):
    """torchrun with two processes: DistributedDataParallel keeps their weights equal, the sharded
    evaluation counts every test image once (the noise-free accuracy equals one process's on the
    saved weights), and the checkpoint resumes in a single process."""
    from paper_repro import classify as C
    launch(2, ["fmnist-mlp", "--quick", "--epochs", "1", "--out", str(tmp_path), "--data", fmnist_dir])
    res = json.loads((tmp_path / "results.json").read_text())
    cfg = res["config"]
    assert res["world_size"] == 2 and res["test_samples"] == cfg["test_limit"] and len(res["history"]) == 1
    ranks = [torch.load(tmp_path / name, weights_only=False) for name in ("model.pt", "model.pt.rank1")]
    assert ranks[0]["model"].keys() == ranks[1]["model"].keys()
    for k, w in ranks[0]["model"].items():
        assert not k.startswith("module.") and torch.equal(w, ranks[1]["model"][k]), k
    args = type("Args", (), dict(data=fmnist_dir, seed=res["seed"]))()
    data = C.load_data("fashion-mnist", args, cfg)
    net = C.build(dict(cfg, sigma_spike=0.0), tuple(data.x_test.shape[1:]))
    net.load_state_dict(ranks[0]["model"])
    one = C.accuracy(net, cfg, data.x_test, data.y_test, C.Runtime(torch.device("cpu")))
    assert res["test_accuracy_sigma0"] == pytest.approx(one, abs=1e-12)
    again = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "2")
    assert again["world_size"] == 1 and again["history"][0] == res["history"][0] and len(again["history"]) == 2


@pytest.mark.slow
def test_processes_sharing_an_out_split_a_sweep_and_end_where_one_process_does(tmp_path, fmnist_dir):
    """Sweep processes on one --out skip a setting another process holds, train the others, wait,
    then take it over when it is released; checkpoints and results equal those of one process alone."""
    from paper_repro.classify import CLAIM_POLL_S
    from paper_repro.train import claim
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "paper_repro", "noise", "--quick", "--data", fmnist_dir, "--out"]
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    subprocess.run(cmd + [str(alone)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    shared.mkdir()
    with claim(str(shared / "sigma0")) as held:                     # "another process" holds sigma = 0
        assert held
        log = tmp_path / "shared.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd + [str(shared)], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 300
            while "noise: sigma0 held by another process" not in log.read_text():   # it has done the rest, waits
                assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            assert all((shared / f"sigma{s}.pt").exists() for s in ("0.01", "0.02", "0.04"))
            assert not (shared / "sigma0.pt").exists()
            time.sleep(2 * CLAIM_POLL_S + 1)                            # it polls again, and says nothing new
        except BaseException:
            proc.kill()
            raise
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert log.read_text().count("held by another process") == 1
    for tag in ("sigma0", "sigma0.01", "sigma0.02", "sigma0.04"):
        a, b = (torch.load(d / f"{tag}.pt", weights_only=False)["model"] for d in (alone, shared))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), tag
    res = [json.loads((d / "results.json").read_text()) for d in (alone, shared)]
    assert res[0]["accuracy"] == res[1]["accuracy"]


@pytest.mark.slow
def test_a_torchrun_job_claims_its_sweep_settings_as_one(tmp_path, fmnist_dir):
    """Under torchrun the main process claims each setting for the whole job: both ranks train every
    setting in step (no rank waits on a collective the other skipped) and the sweep completes."""
    launch(2, ["noise", "--quick", "--out", str(tmp_path), "--data", fmnist_dir])
    res = json.loads((tmp_path / "results.json").read_text())
    assert list(res["accuracy"]) == ["0", "0.01", "0.02", "0.04"]
    assert all((tmp_path / f"sigma{s}.pt.rank1").exists() for s in res["accuracy"])


def test_a_claim_is_exclusive_and_ends_with_its_block(tmp_path):
    from paper_repro.train import claim
    path = str(tmp_path / "setting")
    with claim(path) as first:
        with claim(path) as second:                  # flock: a second open file description conflicts
            assert first and not second
    with claim(path) as again:
        assert again


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path, fmnist_dir):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["fmnist-cnn", "--quick", "--device", "cuda", "--out", str(tmp_path), "--data", fmnist_dir])


# ---------------------------------------------------------------------------- loaders
def test_fashion_mnist_loader_reads_the_idx_format(tmp_path):
    arrays = write_fashion_mnist(str(tmp_path), n_train=30, n_test=12)
    split = D.load_fashion_mnist(str(tmp_path))
    assert split.x_train.shape == (30, 1, 28, 28) and split.x_test.shape == (12, 1, 28, 28)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert torch.equal(split.x_train[:, 0], torch.from_numpy(arrays["train"][0]).float() / 255)
    assert torch.equal(split.y_test, torch.from_numpy(arrays["t10k"][1]).long())


def test_fashion_mnist_missing_or_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist.*--data DIR"):
        D.load_fashion_mnist(str(tmp_path / "nowhere"))
    write_fashion_mnist(str(tmp_path), n_train=5, n_test=5)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        D.load_fashion_mnist(str(tmp_path))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x12\x34\x08\x01garbage")
    with pytest.raises(ValueError, match="not an idx file"):
        D.load_fashion_mnist(str(tmp_path))


def test_cifar10_loader_reads_the_pickle_batches(tmp_path):
    batches = write_cifar10(str(tmp_path), n_per_batch=7, n_test=5)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
        split = D.load_cifar10(str(root))
        assert split.x_train.shape == (35, 3, 32, 32) and split.x_test.shape == (5, 3, 32, 32)
        assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
        data, labels = batches["data_batch_2"]
        i, c, r, col = 3, 2, 5, 17                              # image 3 of batch 2: blue plane, row 5
        assert split.x_train[7 + i, c, r, col].item() == pytest.approx(data[i, c * 1024 + r * 32 + col] / 255)
        assert split.y_train[7:14].tolist() == labels
        assert split.y_test.tolist() == batches["test_batch"][1]


def test_cifar10_tarball_is_extracted_and_missing_data_is_a_clear_error(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_cifar10(str(src), n_per_batch=2, n_test=3)
    dst.mkdir()
    with tarfile.open(dst / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    assert D.load_cifar10(str(dst)).x_train.shape == (10, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*cifar-10-python.tar.gz"):
        D.load_cifar10(str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="CIFAR-10 not found"):    # the CLI says the same, without a traceback
        main(["cifar10", "--quick", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "nowhere")])


def test_augmentation_is_seedable_and_does_flip_rotate_crop():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 32, 32)
    gen = lambda: torch.Generator().manual_seed(1)
    a, b = D.augment(x, gen()), D.augment(x, gen())
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, D.augment(x, torch.Generator().manual_seed(2)))
    assert torch.equal(D.augment(x, gen(), flip=1.0, degrees=0, padding=0), x.flip(3))
    assert torch.allclose(D.augment(x, gen(), flip=0.0, degrees=0, padding=0), x, atol=1e-6)
    # crop with padding 4: every image is a 32x32 window of the zero-padded original
    crop = D.augment(x, gen(), flip=0.0, degrees=0, padding=4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    shifts = set()
    for k in range(len(x)):
        hits = [(dy, dx) for dy in range(9) for dx in range(9)
                if torch.allclose(crop[k], padded[k, :, dy:dy + 32, dx:dx + 32], atol=1e-6)]
        assert hits, f"image {k} is not a crop of the padded image"
        shifts.add(hits[0])
    assert len(shifts) > 1
    # rotation about the centre: a smooth image moves little there and more towards the edges
    i = torch.arange(32.0)
    smooth = (0.5 + 0.25 * torch.sin(i / 4).view(32, 1) + 0.25 * torch.cos(i / 5).view(1, 32)).expand(6, 3, 32, 32)
    rot = D.augment(smooth, gen(), flip=0.0, degrees=15, padding=0)
    assert not torch.allclose(rot, smooth, atol=1e-3)
    diff = (rot - smooth).abs()
    assert diff[:, :, 14:18, 14:18].mean() < diff[:, :, 4:28, 4:28].mean()


def test_cosine_schedule_sets_adams_step_per_epoch(tmp_path):
    """With loss = p (constant gradient) Adam moves p by its learning rate per step, so the step of
    each epoch reads back the schedule: lr (1 + cos(pi e / E)) / 2 for "cosine", lr for "constant"."""
    from paper_repro.train import epoch_lr, fit
    assert epoch_lr(1e-3, 0, 4, "cosine") == pytest.approx(1e-3)
    assert epoch_lr(1e-3, 2, 4, "cosine") == pytest.approx(5e-4)
    assert epoch_lr(1e-3, 3, 4, "constant") == 1e-3
    with pytest.raises(ValueError, match="schedule"):
        epoch_lr(1e-3, 0, 4, "linear")
    for schedule in ("constant", "cosine"):
        p = torch.nn.Parameter(torch.zeros(()))
        model = torch.nn.Module()
        model.p = p
        seen = []
        fit(model, lambda: iter([(torch.zeros(1),)]), lambda m, _: m.p * 1.0, 4, 1e-2, quiet=True, schedule=schedule,
            evaluate=lambda m: seen.append(m.p.item()) or {})
        steps = -np.diff([0.0] + seen)
        want = [epoch_lr(1e-2, e, 4, schedule) for e in range(4)]
        assert np.allclose(steps, want, rtol=1e-3), (schedule, steps, want)


def _scalar_fit(ema, epochs=3, ckpt=None, batches=5):
    """fit on loss = (p - 1 - x)^2 with a random x per step, so that Adam's steps vary; returns (raw
    weight before every optimiser step, the weight evaluate() saw after every epoch, the final weight)."""
    from paper_repro.train import fit
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.p = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
    raw, seen = [], []

    def loss_fn(m, x):
        raw.append(m.p.item())                      # the weight before this step = after the previous one
        return ((m.p - 1.0 - x) ** 2).sum()

    def evaluate(m):
        seen.append(m.p.item())
        return {}

    fit(model, lambda: iter([(torch.randn(1, dtype=torch.float64),) for _ in range(batches)]), loss_fn, epochs,
        0.3, ckpt=ckpt, quiet=True, ema=ema, evaluate=evaluate)
    return raw, seen, model.p.item()


def test_weight_average_is_the_exponential_moving_average_of_the_raw_steps(tmp_path):
    """With ema = d the raw trajectory is the one without averaging; evaluate() and the returned model
    hold a_n = d_n a_{n-1} + (1 - d_n) w_n, a_0 = w_0, d_n = min(d, (1 + n) / (10 + n))."""
    from paper_repro.train import ema_decay
    raw0, seen0, final0 = _scalar_fit(0.0)
    with_ema = _scalar_fit(0.9)
    raw, seen, final = with_ema
    w = raw0[1:] + [final0]                         # raw weight after step n = 1..15
    assert raw == raw0 and seen0[-1] == final0
    a, want = raw0[0], []
    for n, wn in enumerate(w, start=1):
        d = ema_decay(0.9, n)
        a = d * a + (1 - d) * wn
        want.append(a)
    assert np.allclose(seen, want[4::5], rtol=0, atol=1e-12) and final == pytest.approx(want[-1], abs=1e-12)
    assert abs(final - final0) > 1e-3                # the average is not the last raw weight
    assert ema_decay(0.999, 1) == pytest.approx(2 / 11) and ema_decay(0.999, 10 ** 6) == 0.999
    # an interrupted run resumes its average: 2 epochs, then 3 from the checkpoint == 3 at once
    ckpt = str(tmp_path / "m.pt")
    _scalar_fit(0.9, epochs=2, ckpt=ckpt)
    assert _scalar_fit(0.9, epochs=3, ckpt=ckpt)[2] == final
    # a checkpoint resumes only with the averaging it was written with
    with pytest.raises(ValueError, match="written with weight averaging"):
        _scalar_fit(0.0, epochs=4, ckpt=ckpt)
    plain = str(tmp_path / "plain.pt")
    _scalar_fit(0.0, epochs=1, ckpt=plain)
    with pytest.raises(ValueError, match="written without weight averaging"):
        _scalar_fit(0.9, epochs=2, ckpt=plain)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="ema decay must be in"):
            _scalar_fit(bad)


def test_weight_decay_shrinks_every_weight_by_one_minus_lr_times_decay_per_step():
    """Decoupled (AdamW) decay: with a loss of zero gradient Adam's own step is 0, so after the steps of
    epochs e = 0..E-1 (b steps each, cosine rates lr_e) w = w_0 prod_e (1 - lr_e wd)^b; wd = 0 leaves w_0."""
    from paper_repro.train import epoch_lr, fit
    for wd in (0.0, 0.5):
        model = torch.nn.Module()
        model.p = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
        fit(model, lambda: iter([(torch.zeros(1),)] * 5), lambda m, _: 0.0 * m.p, 3, 0.3, quiet=True, schedule="cosine",
            weight_decay=wd)
        want = 3.0 * math.prod((1 - epoch_lr(0.3, e, 3, "cosine") * wd) ** 5 for e in range(3))
        assert model.p.item() == pytest.approx(want, rel=1e-12)
    assert want < 1.0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weight decay must be"):
            fit(model, lambda: iter([]), lambda m, _: 0.0 * m.p, 1, 0.3, quiet=True, weight_decay=bad)


def test_lr_schedule_dropout_and_augmentation_options_reach_the_config(tmp_path, fmnist_dir):
    from paper_repro.classify import FMNIST_AUGMENT
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1", "--lr", "3e-4",
                    "--schedule", "cosine", "--augment", "--dropout", "0.2", "--ema", "0.99", "--gamma1", "0.5",
                    "--t-ref", "0.6", "--weight-decay", "0.01")
    assert res["config"]["lr"] == 3e-4 and res["config"]["schedule"] == "cosine" and res["config"]["dropout"] == 0.2
    assert res["config"]["ema"] == 0.99 and res["config"]["gamma1"] == 0.5 and res["config"]["t_ref"] == 0.6
    assert res["config"]["weight_decay"] == 0.01
    assert res["config"]["augment"] == FMNIST_AUGMENT and res["config"]["penalty_on"] == "unclipped"


def test_unknown_penalty_target_is_refused_before_anything_is_written(tmp_path):
    from paper_repro import classify as C
    with pytest.raises(ValueError, match="penalty_on must be"):
        C.train(dict(C.CFG, penalty_on="hidden"), None, str(tmp_path), "model", C.Runtime(torch.device("cpu")))
    assert not list(tmp_path.iterdir())


def test_bad_training_options_are_refused_before_anything_is_written(tmp_path):
    """An invalid --dropout, --ema, --t-ref or --weight-decay must not leave a model.json that would block
    the corrected rerun."""
    from paper_repro import classify as C
    from paper_repro.data import Split
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    for key, bad, message in [("dropout", 1.0, "dropout probability"), ("dropout", -0.5, "dropout probability"),
                              ("dropout", float("nan"), "dropout probability"), ("ema", 1.0, "ema decay"),
                              ("ema", float("nan"), "ema decay"), ("t_ref", 0.0, "t_ref"), ("t_ref", 1.5, "t_ref"),
                              ("t_ref", float("nan"), "t_ref"), ("weight_decay", -1.0, "weight decay"),
                              ("weight_decay", float("nan"), "weight decay")]:
        with pytest.raises(ValueError, match=message):
            C.train(dict(C.CFG, hidden=(8,), **{key: bad}), Split(x, y, x, y), str(tmp_path), "model",
                    C.Runtime(torch.device("cpu")))
    assert not list(tmp_path.iterdir())


def test_noise_draws_are_reproducible_independent_and_collapse_without_noise():
    """noise_draws evaluates the same weights under k seeded draws of the spike-time noise: the same seed
    repeats them, the draws differ from each other, and without noise one draw, the noise-free accuracy."""
    from paper_repro import classify as C
    torch.manual_seed(0)
    cfg = dict(C.CFG, hidden=(32,), sigma_spike=0.05)
    net = C.build(cfg, (1, 28, 28)).eval()
    x, rt = torch.rand(400, 1, 28, 28), C.Runtime(torch.device("cpu"))
    with torch.no_grad():
        y = C.output_times(C.copy_at(net, cfg, (1, 28, 28), sigma_spike=0.0), cfg, x, rt).argmin(1)
    y[::2] = (y[::2] + 1) % 10                  # half the labels right for the noise-free network
    draws = C.noise_draws(net, cfg, x, y, rt, 4, seed=3)
    assert draws == C.noise_draws(net, cfg, x, y, rt, 4, seed=3)
    assert len(set(draws)) > 1
    quiet = dict(cfg, sigma_spike=0.0)
    assert C.noise_draws(C.copy_at(net, quiet, (1, 28, 28)), quiet, x, y, rt, 3) == [0.5]
    with pytest.raises(ValueError, match="noise_draws must be"):
        C.noise_draws(net, cfg, x, y, rt, 0)


def test_noise_free_copy_is_deterministic_and_differs_from_noisy_inference_by_the_spike_noise():
    """results' test_accuracy_sigma0 evaluates copy_at(net, sigma_spike=0): the same weights without the
    spike-time noise; the configured network (sigma 0.01) scatters its output times around it."""
    from paper_repro import classify as C
    torch.manual_seed(0)
    cfg = dict(C.CFG, hidden=(32,))
    net = C.build(cfg, (1, 28, 28)).eval()
    x = C.inputs(cfg, torch.rand(64, 1, 28, 28))
    clean = C.copy_at(net, cfg, (1, 28, 28), sigma_spike=0.0)
    with torch.no_grad():
        a, b, noisy = clean(x), clean(x), net(x)
    assert torch.equal(a, b)
    inside = (a > 0.05) & (a < 0.95)            # away from the clip at 0 and 1
    spread = (noisy - a)[inside].std()
    assert inside.sum() > 50 and 0.008 < spread < 0.05, spread


def test_noise_budget_puts_the_noise_after_one_layer_at_a_time():
    """noise.noise_budget's after_layer[k] jitters the spikes of spiking layer k only: the layers before k
    keep their noise-free times, layer k's move; and the network's own noise is back afterwards."""
    from paper_repro import classify as C
    from paper_repro.noise import _OnlyAfter, noise_budget
    torch.manual_seed(0)
    cfg = dict(C.CFG, hidden=(32, 32), sigma_spike=0.05)
    net = C.build(cfg, (1, 28, 28)).eval()
    x = C.inputs(cfg, torch.rand(64, 1, 28, 28))
    with torch.no_grad():
        _, clean = C.copy_at(net, cfg, (1, 28, 28), sigma_spike=0.0)(x, all_times=True)
        noise = net.noise
        for k in range(3):
            net.noise = _OnlyAfter(noise, k, 3)
            for _ in range(2):                        # the count restarts with every forward pass
                _, times = net(x, all_times=True)
                assert all(torch.equal(times[j], clean[j]) for j in range(k))
                assert not torch.equal(times[k], clean[k])
        net.noise = noise
    y = torch.randint(0, 10, (64,))
    b = noise_budget(net, cfg, (1, 28, 28), torch.rand(64, 1, 28, 28), y, C.Runtime(torch.device("cpu")))
    assert net.noise is noise and len(b["after_layer"]) == 3 and b["images"] == 64
    assert 0 <= b["margin_q10"] <= b["margin_median"] and 0 <= b["winner_median"] <= 1


def test_cross_tests_each_network_at_every_sigma_and_validation_chooses_per_tested_sigma():
    """noise.cross: the network trained at one sigma, tested at another, is its weights rebuilt at that
    sigma (noise-free at 0, the noise_mean of its own draws on its diagonal); noise.choose picks per
    tested sigma the training sigma best on validation, the smaller on a tie, and reports its test number;
    a network with layer gains chosen at the tested sigma competes too and loses ties."""
    from paper_repro import classify as C
    from paper_repro.noise import choose, cross
    torch.manual_seed(0)
    rt, shape = C.Runtime(torch.device("cpu")), (1, 28, 28)
    cfg = dict(C.CFG, hidden=(32, 32), noise_draws=3)
    runs = {f"sigma{s:g}": dict(net=C.build(dict(cfg, sigma_spike=s), shape).eval(), in_shape=shape) for s in (0.0, 0.05)}
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    m = cross(runs, cfg, (0.0, 0.05), x, y, rt)
    for s in (0.0, 0.05):
        net = runs[f"sigma{s:g}"]["net"]
        assert m[f"{s:g}"][f"{s:g}"] == C.noise_mean(net, dict(cfg, sigma_spike=s), x, y, rt)
        assert m[f"{s:g}"]["0"] == C.accuracy(C.copy_at(net, cfg, shape, sigma_spike=0.0), cfg, x, y, rt)
    assert m["0"]["0.05"] != m["0"]["0"] or m["0.05"]["0.05"] != m["0.05"]["0"]     # the noise is there
    given = cross(runs, cfg, (0.0, 0.05), x, y, rt, diagonal={"0.05": -2.0})     # measured elsewhere: not again
    assert given["0.05"]["0.05"] == -2.0 and given["0"] == m["0"] and given["0.05"]["0"] == m["0.05"]["0"]
    val = {"0": {"0": 0.91, "0.04": 0.89}, "0.04": {"0": 0.90, "0.04": 0.905}, "0.06": {"0": 0.91, "0.04": 0.905}}
    test = {"0": {"0": 0.90, "0.04": 0.88}, "0.04": {"0": 0.89, "0.04": 0.897}, "0.06": {"0": 0.89, "0.04": 0.899}}
    assert choose(val, test) == {"0": dict(trained_at=0.0, gains=None, val_accuracy=0.91, test_accuracy=0.90),
                                 "0.04": dict(trained_at=0.04, gains=None, val_accuracy=0.905, test_accuracy=0.897)}
    tuned = {"0": dict(gains=[1.0, 1.4], val_accuracy=0.91, test_accuracy=0.85),        # a tie: no gains
             "0.04": dict(gains=[2.0, 1.0], val_accuracy=0.907, test_accuracy=0.901)}   # better: chosen
    assert choose(val, test, tuned) == {"0": dict(trained_at=0.0, gains=None, val_accuracy=0.91, test_accuracy=0.90),
                                        "0.04": dict(trained_at=0.04, gains=[2.0, 1.0], val_accuracy=0.907,
                                                     test_accuracy=0.901)}


def test_gain_tuned_chooses_layer_gains_on_validation_and_reports_that_network_on_test():
    """noise.gain_tuned: the run's network at sigma with the layer gains validation chooses (never
    worse on validation than the gains of 1, which are candidates), its test number that network's
    noise mean, and the run's own network untouched."""
    from paper_repro import classify as C
    from paper_repro.noise import gain_tuned
    torch.manual_seed(1)
    rt, shape = C.Runtime(torch.device("cpu")), (1, 28, 28)
    cfg = dict(C.CFG, hidden=(32, 32), noise_draws=2)
    net = C.build(dict(cfg, sigma_spike=0.05), shape).eval()
    w = [l.weight.detach().clone() for l in net.spiking_layers]
    val = torch.rand(96, 1, 28, 28), torch.randint(0, 10, (96,))
    test = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    c = dict(cfg, sigma_spike=0.05)
    g = gain_tuned(dict(net=net, in_shape=shape), cfg, 0.05, val, test, rt)
    assert all(torch.equal(l.weight, x) for l, x in zip(net.spiking_layers, w))
    assert len(g["gains"]) == 3 and g["val_accuracy"] >= C.noise_mean(net, c, *val, rt)
    scaled = C.copy_at(net, cfg, shape, sigma_spike=0.05)
    with torch.no_grad():
        for l, x in zip(scaled.spiking_layers, g["gains"]):
            l.weight.mul_(x)
    assert g["val_accuracy"] == C.noise_mean(scaled, c, *val, rt)
    assert g["test_accuracy"] == C.noise_mean(scaled, c, *test, rt)


# ---------------------------------------------------------------------------- seed summary
def write_run(root, name, seed, acc, config=None, experiment="fmnist-mlp"):
    d = root / name
    d.mkdir()
    res = dict(experiment=experiment, seed=seed, config=config or dict(lr=2e-4, weight_decay=0.3),
               wall_time_s=10.0 + seed, test_accuracy=acc, epochs=50, converged=True,
               history=[dict(test_acc=acc)])
    (d / "results.json").write_text(json.dumps(res))
    return str(d)


def test_summary_is_the_mean_and_sample_spread_over_seeds(tmp_path, capsys):
    from paper_repro import summary
    accs = [0.9059, 0.9021, 0.9077]
    dirs = [write_run(tmp_path, f"s{i}", i, a) for i, a in enumerate(accs)]
    stats = summary.main(dirs)
    assert set(stats) == {"test_accuracy", "wall_time_s", "epochs"}   # numbers only, not the seed or a flag
    s = stats["test_accuracy"]
    assert s["n"] == 3 and s["min"] == min(accs) and s["max"] == max(accs)
    assert s["mean"] == pytest.approx(np.mean(accs)) and s["std"] == pytest.approx(np.std(accs, ddof=1))
    printed = capsys.readouterr().out
    assert f"{100 * np.mean(accs):.2f} +- {100 * np.std(accs, ddof=1):.2f} %" in printed
    assert "the same in every run: epochs 50" in printed and "epochs  " not in printed
    assert math.isnan(summary.main(dirs[:1])["test_accuracy"]["std"])


def test_summary_refuses_runs_that_are_not_seeds_of_one_configuration(tmp_path):
    from paper_repro import summary
    a = write_run(tmp_path, "a", 0, 0.9)
    with pytest.raises(SystemExit, match="weight_decay"):
        summary.main([a, write_run(tmp_path, "b", 1, 0.9, config=dict(lr=2e-4, weight_decay=0.1))])
    with pytest.raises(SystemExit, match="both seed 0"):
        summary.main([a, write_run(tmp_path, "c", 0, 0.9)])
    with pytest.raises(SystemExit, match="noise run"):
        summary.main([a, write_run(tmp_path, "d", 1, 0.9, experiment="noise")])
    with pytest.raises(SystemExit, match="nowhere/results.json does not exist"):
        summary.main([a, str(tmp_path / "nowhere")])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"experiment": "fmnist-mlp", "se')
    with pytest.raises(SystemExit, match="broken/results.json is not valid JSON"):
        summary.main([a, str(broken)])
    (broken / "results.json").write_text('[0.9]')
    with pytest.raises(SystemExit, match="broken/results.json is not a run's results"):
        summary.main([a, str(broken)])


def test_summary_enters_objects_so_that_a_noise_sweep_averages_per_sigma(tmp_path, capsys):
    """noise reports its accuracies per sigma in objects (accuracy, cross): the summary averages each
    path over the seeds, prints cross entries as accuracies, and leaves lists (histories) out."""
    from paper_repro import summary

    def noise_run(seed, a0, a4):
        d = tmp_path / f"noise{seed}"
        d.mkdir()
        res = dict(experiment="noise", seed=seed, config=dict(sigmas=[0.0, 0.04]), test_accuracy=a0,
                   accuracy={"0": a0, "0.04": a4}, cross={"0": {"0": a0, "0.04": a4 - 0.004}},
                   history={"sigma0": [dict(test_acc=a0)]}, time_per_epoch_s={"sigma0": 70.0 + seed})
        (d / "results.json").write_text(json.dumps(res))
        return str(d)

    runs = [(0.9063, 0.8970), (0.9071, 0.8990), (0.9050, 0.8981)]
    stats = summary.main([noise_run(i, *r) for i, r in enumerate(runs)])
    assert set(stats) == {"test_accuracy", "accuracy/0", "accuracy/0.04", "cross/0/0", "cross/0/0.04",
                          "time_per_epoch_s/sigma0"}
    a4 = [r[1] for r in runs]
    assert stats["accuracy/0.04"]["mean"] == pytest.approx(np.mean(a4))
    assert stats["accuracy/0.04"]["std"] == pytest.approx(np.std(a4, ddof=1))
    assert stats["cross/0/0.04"]["min"] == pytest.approx(min(a4) - 0.004)
    printed = capsys.readouterr().out
    assert "cross/0/0.04 " in printed and f"{100 * (np.mean(a4) - 0.004):.2f} +- " in printed
    assert "time_per_epoch_s/sigma0    71 +- 1 (min 70, max 72, n = 3)" in printed


def test_summary_counts_every_seed_of_a_run_that_trained_several(tmp_path, capsys):
    """iris trains its five seeds in one run (per_seed rows): the summary is over the five, and two
    such runs at --seed 0 and --seed 5 combine into ten; overlapping seeds are refused."""
    from paper_repro import summary

    def iris_run(name, seeds, accs):
        d = tmp_path / name
        d.mkdir()
        rows = [dict(seed=s, pnn_circuit_acc=a, ann_scales=[1.0, 1.1]) for s, a in zip(seeds, accs)]
        res = dict(experiment="iris", seed=seeds[0], config=dict(epochs=600, seeds=seeds), per_seed=rows,
                   wall_time_s=200.0, test_accuracy=float(np.mean(accs)))
        (d / "results.json").write_text(json.dumps(res))
        return str(d)

    accs = [1.0, 0.9778, 0.9778, 1.0, 0.9778]
    stats = summary.main([iris_run("a", [0, 1, 2, 3, 4], accs)])
    assert stats["pnn_circuit_acc"]["n"] == 5
    assert stats["pnn_circuit_acc"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert "seeds [0, 1, 2, 3, 4]" in capsys.readouterr().out
    both = summary.main([str(tmp_path / "a"), iris_run("b", [5, 6, 7, 8, 9], accs[::-1])])
    assert both["pnn_circuit_acc"]["n"] == 10
    with pytest.raises(SystemExit, match="both seed 4"):
        summary.main([str(tmp_path / "a"), iris_run("c", [4, 5, 6, 7, 8], accs)])


# ---------------------------------------------------------------------------- command line
def test_each_experiment_has_its_own_help_with_defaults_and_what_quick_shrinks(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")                # argparse wraps help to the terminal's width
    for argv, expected in ((["iris", "--help"], ["--epochs N", "default 600; --quick 100", "epochs=100, seeds=1",
                                                 "SEED+4", "--quiet"]),
                           (["fmnist-mlp", "--help"], ["default 50; --quick 2", "--weight-decay WD", "default 0.0001",
                                                       "width=0.25, epochs=2, train_limit=512"]),
                           (["sweep-m", "--help"], ["--epochs N", "--e-pos"])):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert all(x in out for x in expected), (argv, out)
    main_help = subprocess.run([sys.executable, "-m", "paper_repro", "sweep-m", "--help"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    assert "--steps" not in main_help                  # sweep-m sweeps the steps itself


@pytest.mark.parametrize("argv, message", [
    (["fmnist-mlp", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["fmnist-mlp", "--epochs", "-1"], "argument --epochs: expected an integer >= 1"),
    (["fmnist-mlp", "--lr", "nan"], "argument --lr: expected a number > 0"),
    (["fmnist-mlp", "--e-neg", "1.5"], "argument --e-neg: expected a number < 0"),
    (["fmnist-mlp", "--dropout", "1"], r"argument --dropout: expected a probability in \[0, 1\)"),
    (["iris", "--width", "2"], "iris does not take --width 2; its options: .*--epochs"),
    (["demo", "--epochs", "3"], "demo does not take --epochs 3"),
    (["sweep-e", "--e-pos", "3"], "sweep-e does not take --e-pos 3"),
])
def test_invalid_or_unused_options_are_refused_argparse_style(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--quick", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    import re
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_iris_checks_its_checkpoints_and_keeps_the_recorded_wall_time(tmp_path):
    out = tmp_path / "iris"
    first = run_quick("iris", out, "--epochs", "3", "--quiet")
    assert first["config"]["epochs"] == 3
    with pytest.raises(SystemExit, match="holds 3 epochs, more than the 2 asked for"):
        main(["iris", "--quick", "--quiet", "--out", str(out), "--epochs", "2"])
    state = torch.load(out / "pnn_seed0.pt", weights_only=False)
    state["history"][0]["time_s"] += 1000.0
    torch.save(state, out / "pnn_seed0.pt")
    again = run_quick("iris", out, "--epochs", "3", "--quiet")          # everything restored
    assert again["per_seed"] == first["per_seed"]
    assert 1000.0 <= again["wall_time_s"] < 1000.0 + first["wall_time_s"] + 60
    meta = json.loads((out / "ann_seed0.json").read_text())
    meta["gamma_V"] = 0.5
    (out / "ann_seed0.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="another configuration.*gamma_V"):
        main(["iris", "--quick", "--quiet", "--out", str(out), "--epochs", "4"])


def test_progress_is_lines_without_a_terminal_and_nothing_when_quiet(capsys, monkeypatch):
    from paper_repro import train
    fit = train.fit
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    loss = lambda m, a, b: ((m(a) - b) ** 2).mean()
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, evaluate=lambda m: dict(test_acc=0.5), desc="toy")
    out, err = capsys.readouterr()
    lines = out.splitlines()          # fast epochs: the first and the last (at most one line every 10 s)
    assert len(lines) == 2 and lines[0].startswith("toy: epoch 1/4 loss=") and "test_acc=0.5" in lines[0]
    assert lines[1].startswith("toy: epoch 4/4")
    assert "\r" not in out + err and "it/s" not in err                  # no bar redraws in a log
    monkeypatch.setattr(train, "LOG_EVERY_S", 0.0)
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, desc="toy")
    assert [l.split(" loss")[0] for l in capsys.readouterr().out.splitlines()] == [f"toy: epoch {e}/4" for e in range(1, 5)]
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, desc="toy", quiet=True)
    assert capsys.readouterr() == ("", "")


def test_validation_split_is_held_out_of_training_fixed_by_the_seed_and_reported(tmp_path, fmnist_dir):
    from paper_repro.classify import hold_out
    from paper_repro.data import Split
    x = torch.arange(100.0).reshape(100, 1, 1, 1)
    split = Split(x, torch.arange(100), x[:10], torch.arange(10))
    a, b, c = hold_out(split, 20, seed=3), hold_out(split, 20, seed=3), hold_out(split, 20, seed=4)
    assert torch.equal(a.y_val, b.y_val) and not torch.equal(a.y_val, c.y_val)
    assert len(a.y_val) == 20 and len(a.y_train) == 80
    assert not set(a.y_val.tolist()) & set(a.y_train.tolist())          # disjoint, nothing lost
    assert sorted(a.y_val.tolist() + a.y_train.tolist()) == list(range(100))
    assert torch.equal(a.x_val.flatten().long(), a.y_val) and torch.equal(a.x_test, split.x_test)
    assert hold_out(split, 0) is split
    with pytest.raises(SystemExit, match="leaves no training images"):
        hold_out(split, 100)
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--val", "64")
    assert res["val_samples"] == 64 and res["train_samples"] == 512 - 64 and res["config"]["val"] == 64
    assert all(0 <= h["val_acc"] <= 1 for h in res["history"])
    assert res["val_accuracy"] == res["history"][-1]["val_acc"]
    best = max(res["history"], key=lambda h: h["val_acc"])
    assert res["best_val_epoch"] == best["epoch"] and res["test_accuracy_at_best_val"] == best["test_acc"]
    with pytest.raises(SystemExit, match="another configuration"):     # the checkpoint knows its split
        main(["fmnist-mlp", "--quick", "--out", str(tmp_path), "--data", fmnist_dir, "--val", "32"])


def test_circuit_option_trains_every_layer_on_the_named_circuit(tmp_path, fmnist_dir):
    """--circuit module:function: the circuit's parameters go into results.json and the checkpoint's
    config, resuming with another circuit is refused, a bad name is a clear error; a circuit without a
    closed form is evaluated with dstd on 4 x the training grid."""
    from paper_repro import classify as C
    spec = "circuitnet.circuits:rc_spike_quadratic"
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1", "--circuit", spec)
    assert res["config"]["circuit"] == spec and res["config"]["circuit_parameters"]["pos_lam2"] == -0.2
    assert json.loads((tmp_path / "model.json").read_text())["circuit_parameters"]["neg_lam2"] == -0.2
    assert 0.1 < res["test_accuracy"] <= 1.0
    assert res["evaluation"] == "dstd, 40 steps" and res["config"]["init"] == "firing"   # a user's circuit
    from paper_repro.runs import load_run
    loaded, lcfg = load_run(str(tmp_path))                   # the finished run's network, as evaluated
    state = torch.load(tmp_path / "model.pt", weights_only=False)["model"]
    assert lcfg["circuit"] == spec and not loaded.training
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())
    assert all(l.method == cn.solve.DSTD(steps=40) for l in loaded.spiking_layers)
    with pytest.raises(FileNotFoundError, match="no finished run.*python -m paper_repro"):
        load_run(str(tmp_path / "nothing"))
    cfg = dict(C.CFG, circuit=spec)
    assert C.evaluation(cfg) == ("dstd", {"steps": 40}) and C.evaluation(C.CFG) == ("exact", {})
    net = C.build(cfg, (1, 28, 28))
    assert all(l.circuit.synapse.positive.values["lam2"] == -0.2 for l in net.spiking_layers)
    with pytest.raises(SystemExit, match="another configuration"):
        main(["fmnist-mlp", "--quick", "--out", str(tmp_path), "--data", fmnist_dir, "--epochs", "2",
              "--circuit", "circuitnet.circuits:rc_spike"])
    for bad in ("circuitnet.circuits", "circuitnet.circuits:nothing", "circuitnet.circuits:_lam",
                "circuitnet.circuits:PAPER", "circuitnet.circuits:parse_value"):
        with pytest.raises(ValueError, match="--circuit"):
            C.load_circuit(bad)


def test_robustness_refuses_a_missing_nominal_run_and_long_finetuning(tmp_path):
    with pytest.raises(SystemExit, match="--nominal DIR, a finished fmnist-mlp run.*main job does not make one"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r")])       # no default run to fall back on
    with pytest.raises(SystemExit, match="no finished fmnist-mlp run"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r"), "--nominal", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="at most 10 epochs"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r"), "--epochs", "11"])


@pytest.mark.slow
def test_mismatch_trains_on_a_fresh_sky130_chip_per_mini_batch(tmp_path, fmnist_dir):
    """--mismatch sky130: the same seed and data, but every training pass on another chip, so the
    weights learnt differ from the nominal run's; the run's config says so and load_run rebuilds it."""
    from paper_repro.runs import load_run
    a = run_quick("fmnist-mlp", tmp_path / "nominal", "--data", fmnist_dir, "--epochs", "1")
    b = run_quick("fmnist-mlp", tmp_path / "aware", "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    assert a["config"]["mismatch"] is None and b["config"]["mismatch"] == "sky130"
    wa = load_run(str(tmp_path / "nominal"))[0].spiking_layers[0].weight
    wb = load_run(str(tmp_path / "aware"))[0].spiking_layers[0].weight
    assert not torch.equal(wa, wb)
    with pytest.raises(SystemExit):
        main(["fmnist-mlp", "--quick", "--mismatch", "tt"])


@pytest.mark.slow
def test_chip_budget_adds_the_networks_trained_for_the_chip(tmp_path, fmnist_dir):
    """chip-budget --aware: the network trained on chips as drawn gets its point beside the nominal's,
    on the same chips and images; adding it leaves every nominal point's cached result as it was; --aware
    without --nominal scores it alone, the same; a run trained without --mismatch is refused. Iris
    always has both trained networks; their training chips are never test chips."""
    from paper_repro import chip_budget as CB
    nominal, aware, out = tmp_path / "nominal", tmp_path / "aware", tmp_path / "budget"
    run_quick("fmnist-mlp", nominal, "--data", fmnist_dir, "--epochs", "1")
    run_quick("fmnist-mlp", aware, "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    first = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal))
    (iris, fm), (rows, fm_rows) = first["results"], first["results"].values()
    assert {"as drawn, trained on chips", "trims only, trained on trimmed chips"} <= set(rows)
    assert "as drawn, trained on chips" not in fm_rows and "trims only, trained on trimmed chips" in fm_rows
    assert (out / "fmnist_on_trimmed_chips_seed0.pt").exists()          # the MLP fine-tuned on trimmed chips
    cache = {p: p.stat().st_mtime_ns for p in out.glob("chip_budget_fmnist_*.json")}
    again = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal), "--aware", str(aware))
    fm_rows = again["results"][fm]
    assert set(fm_rows) == set(first["results"][fm]) | {"as drawn, trained on chips"}
    assert all(p.stat().st_mtime_ns == t for p, t in cache.items())          # nominal points reused
    assert len(fm_rows["as drawn, trained on chips"]["accuracies"]) == again["config"]["chips"]
    with pytest.raises(SystemExit, match="--mismatch sky130"):
        main(["chip-budget", "--quick", "--out", str(out), "--nominal", str(nominal), "--aware", str(nominal)])
    alone = run_quick("chip-budget", tmp_path / "alone", "--data", fmnist_dir, "--aware", str(aware))
    assert set(alone["results"][fm]) == {"as drawn, trained on chips"}          # no nominal network, no point of it
    assert alone["results"][fm]["as drawn, trained on chips"] == fm_rows["as drawn, trained on chips"]  # same chips
    assert alone["test_accuracy"] == alone["results"][fm]["as drawn, trained on chips"]["mean"]   # its headline
    cfg = dict(CB.CFG, chips=100, pool=3)
    seen = []
    real = CB.models.draw_chip
    CB.models.draw_chip = lambda net, seed=None, **kw: seen.append(seed) or real(net, seed=seed, **kw)
    circuit = cn.variation.with_uniform_mismatch(cn.circuits.rc_spike(firing="discharger"), current=0.1,
                                                 threshold_offset=0.005)
    try:
        pool = CB.trimmed_pool(CB.models.IrisNet(circuit=circuit, method="exact"), cfg, 2)
    finally:
        CB.models.draw_chip = real
    assert len(pool) == len(seen) == 3 and all(s - 1000003 * 2 >= 100 for s in seen)   # none of the 100 test chips
    with pytest.raises(ValueError, match="no training or validation chip is a test chip"):
        CB.trimmed_pool(CB.models.IrisNet(circuit=circuit, method="exact"), dict(cfg, chips=10 ** 6), 2)


@pytest.mark.slow
def test_chip_budget_chooses_among_aware_runs_on_validation_chips(tmp_path, fmnist_dir):
    """chip-budget --aware A B: each candidate is scored on validation chips (never test chips) and
    validation images; the best mean is the network tested, and every candidate's score is recorded.
    Candidates that do not hold out the nominal run's validation images are refused."""
    from paper_repro import chip_budget as CB
    nominal, a, b, out = (tmp_path / n for n in ("nominal", "a", "b", "budget"))
    run_quick("fmnist-mlp", nominal, "--data", fmnist_dir, "--epochs", "1", "--val", "100")
    for d, g in ((a, "0.5"), (b, "0.02")):
        run_quick("fmnist-mlp", d, "--data", fmnist_dir, "--epochs", "1", "--val", "100", "--mismatch", "sky130",
                  "--gamma1", g)
    seen = []
    real = CB.models.chips.draw_chip                 # what models.monte_carlo draws with
    CB.models.chips.draw_chip = lambda net, seed=None, **kw: seen.append(seed) or real(net, seed=seed, **kw)
    try:
        res = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal), "--aware", str(a), str(b))
    finally:
        CB.models.chips.draw_chip = real
    info, cfg = res["fmnist_info"], res["config"]
    val = info["aware_validation"]
    assert set(val) == {str(a), str(b)} and all(len(v["accuracies"]) == cfg["val_chips"] for v in val.values())
    assert info["aware_chosen"] == max(val, key=lambda d: val[d]["mean"])
    validation = {s for s in seen if s is not None and CB.VAL_OFFSET <= s < CB.POOL_OFFSET}    # seed 0
    assert validation == set(range(CB.VAL_OFFSET, CB.VAL_OFFSET + cfg["val_chips"]))
    rows = list(res["results"].values())[-1]
    assert len(rows["as drawn, trained on chips"]["accuracies"]) == cfg["chips"]
    run_quick("fmnist-mlp", tmp_path / "noval", "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    with pytest.raises(SystemExit, match="validation images"):
        main(["chip-budget", "--quick", "--out", str(out), "--data", fmnist_dir, "--nominal", str(nominal),
              "--aware", str(a), str(tmp_path / "noval")])
