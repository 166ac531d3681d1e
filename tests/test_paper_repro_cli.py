"""python -m paper_repro as a user runs it: interruption by Ctrl-C or SIGTERM, failed starts, load_run's seeds.

The CLI runs in a subprocess (sys.executable), on tmp_path; Fashion-MNIST is a small synthetic set in the
real idx format.
"""
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="1")
RESUME = "run the same command again"


def cli(*argv, **kw):
    """A python -m paper_repro process, stdout and stderr merged; SIGINT acts as on a terminal (even if the
    test runner's shell ignores it)."""
    return subprocess.Popen([sys.executable, "-m", "paper_repro", *map(str, argv)], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def stop_when(proc, ready, signum, timeout=60):
    """Send ``signum`` once ready() holds (polled; unless the process ended first); (exit status, output)."""
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def write_fashion_mnist(root, n_train=256, n_test=64):
    """Noisy class patterns, 28x28, in the four Fashion-MNIST idx .gz files."""
    rng = np.random.default_rng(0)
    protos = rng.random((10, 28, 28)) < 0.3
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = (np.where(protos[y], 200, 20) + rng.integers(0, 40, (n, 28, 28))).astype(np.uint8)
        for kind, a in (("images-idx3", x), ("labels-idx1", y)):
            with gzip.open(os.path.join(root, f"{part}-{kind}-ubyte.gz"), "wb") as f:
                f.write(bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())


# ---------------------------------------------------------------------------- Ctrl-C and SIGTERM
def test_sigterm_and_ctrl_c_stop_iris_with_one_resume_line_and_no_traceback(tmp_path):
    ckpt = tmp_path / "iris" / "pnn_seed0.pt"
    cmd = ("iris", "--quick", "--epochs", "500", "--out", tmp_path / "iris")
    rc, out = stop_when(cli(*cmd), ckpt.exists, signal.SIGTERM)
    assert rc == 143, out
    assert "Traceback" not in out and out.count(RESUME) == 1, out
    line = next(l for l in out.splitlines() if RESUME in l)
    assert line.startswith(f"iris pnn seed 0: interrupted; {ckpt} holds the ")
    held = torch.load(ckpt, weights_only=False)["epoch"]
    assert f"holds the {held} epochs finished so far" in line
    # the same command resumes from the checkpoint; Ctrl-C (SIGINT) stops it the same way, status 130
    before = ckpt.stat().st_mtime_ns
    rc, out = stop_when(cli(*cmd), lambda: ckpt.stat().st_mtime_ns != before, signal.SIGINT)
    assert f"iris pnn seed 0: resuming from {ckpt} after epoch {held} of 500" in out
    assert rc == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out and out.count(RESUME) == 1, out


def test_sigterm_stops_a_quiet_classification_run_with_one_resume_line(tmp_path):
    """--quiet: fit says nothing, so the one line comes from the CLI; the run resumes from its checkpoint."""
    data = tmp_path / "data"
    data.mkdir()
    write_fashion_mnist(str(data))
    out_dir = tmp_path / "run"
    cmd = ("fmnist-mlp", "--quick", "--quiet", "--epochs", "200", "--data", data, "--out", out_dir)
    rc, out = stop_when(cli(*cmd), (out_dir / "model.pt").exists, signal.SIGTERM)
    assert rc == 143, out
    assert "Traceback" not in out and out.count(RESUME) == 1 and "interrupted (SIGTERM)" in out, out
    assert torch.load(out_dir / "model.pt", weights_only=False)["epoch"] >= 1


# ---------------------------------------------------------------------------- failed starts
@pytest.mark.parametrize("argv, status, message", [
    (["fmnist-mlp", "--data", "{tmp}/missing"], 1, "error: Fashion-MNIST not found in '{tmp}/missing'.*--data DIR"),
    (["noise", "--data", "{tmp}/empty"], 1, "error: Fashion-MNIST not found in '{tmp}/empty'"),
    (["cifar10", "--data", "{tmp}/empty"], 1, "error: CIFAR-10 not found in"),
    (["fmnist-mlp", "--circuit", "nosuchmodule:rc"], 2,
     r"argument --circuit: invalid value 'nosuchmodule:rc' \(No module named 'nosuchmodule'\); expected "
     "MODULE:FUNCTION, .* e.g. .*circuitnet.circuits:rc_spike_quadratic"),
    (["sweep-m", "--circuit", "circuitnet.circuits:nothing"], 2,
     "argument --circuit: invalid value 'circuitnet.circuits:nothing' .*circuitnet.circuits:rc_spike,"),
    (["cifar10", "--circuit", "circuitnet"], 2, "argument --circuit: invalid value 'circuitnet' "
                                                r"\(not module:function\); expected"),
    (["fmnist-mlp", "--circuit", "circuitnet.circuits:rc_spike", "--e-pos", "3"], 2,
     "argument --circuit: not allowed with --e-pos/--e-neg"),
    (["robustness"], 1, "robustness: name the nominal network with --nominal DIR"),
])
def test_a_failed_start_is_a_one_line_error_and_leaves_no_output_folder(tmp_path, argv, status, message):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "new" / "out"                      # neither folder exists before the run
    proc = cli(*[a.format(tmp=tmp_path) for a in argv], "--quick", "--out", out)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == status, text
    assert "Traceback" not in text
    errors = [l for l in text.splitlines() if re.search(message.format(tmp=tmp_path), l)]
    assert len(errors) == 1, text
    assert not (tmp_path / "new").exists()              # nor the parent it created
    assert (tmp_path / "empty").exists()


def test_a_failed_start_keeps_an_output_folder_that_existed(tmp_path):
    from paper_repro.common import out_dir
    (tmp_path / "mine").mkdir()
    proc = cli("fmnist-mlp", "--quick", "--data", tmp_path / "mine", "--out", tmp_path / "mine")
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Fashion-MNIST not found" in text
    assert (tmp_path / "mine").is_dir()                 # the user's folder, not the run's
    with pytest.raises(RuntimeError):                   # a failure after the run wrote something keeps it
        with out_dir(str(tmp_path / "a" / "b")) as path:
            open(os.path.join(path, "x.json"), "w").close()
            raise RuntimeError
    assert (tmp_path / "a" / "b" / "x.json").exists()


# ---------------------------------------------------------------------------- load_run
def write_iris_run(path, seeds, seeds_in_results=True):
    """An iris run folder: results.json and a pnn_seedN.pt with an IrisNet's weights per seed."""
    import circuitnet as cn
    from circuitnet.models import IrisNet
    path.mkdir()
    config = dict(epochs=1, seeds=list(seeds) if seeds_in_results else len(seeds))
    (path / "results.json").write_text(json.dumps(dict(experiment="iris", seed=seeds[0], config=config)))
    nets = {}
    for s in seeds:
        torch.manual_seed(s)
        nets[s] = IrisNet(hidden=5, circuit=cn.circuits.rc_spike(firing="discharger"), method="exact").double()
        torch.save(dict(model=nets[s].state_dict()), path / f"pnn_seed{s}.pt")
    return nets


@pytest.mark.parametrize("seeds_in_results", [True, False])
def test_load_run_of_a_seed_the_iris_run_did_not_train_names_the_seeds_it_did(tmp_path, seeds_in_results):
    from paper_repro.runs import load_run
    nets = write_iris_run(tmp_path / "iris", range(5), seeds_in_results)
    with pytest.raises(ValueError, match=r"holds iris seeds 0, 1, 2, 3, 4, not seed 7"):
        load_run(str(tmp_path / "iris"), seed=7)
    net, cfg = load_run(str(tmp_path / "iris"), seed=3)     # a seed it holds loads as before
    assert not net.training
    assert all(torch.equal(v, nets[3].state_dict()[k]) for k, v in net.state_dict().items())
    os.remove(tmp_path / "iris" / "pnn_seed2.pt")            # a held seed without weights: the file is missing
    if seeds_in_results:
        with pytest.raises(FileNotFoundError, match="pnn_seed2.pt is missing"):
            load_run(str(tmp_path / "iris"), seed=2)
    else:
        with pytest.raises(ValueError, match=r"holds iris seeds 0, 1, 3, 4, not seed 2"):
            load_run(str(tmp_path / "iris"), seed=2)
