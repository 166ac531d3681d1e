"""paper_repro: accuracy vs spike-time noise (experiment noise): --quick mode, sweeps shared among processes
(paper_repro.sweeps), the noise budget, the cross matrix and the layer gains.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from paper_repro_support import ROOT, launch, quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    res = quick_mode("noise", tmp_path, "--data", fmnist_dir, "--val", "64")
    # with validation images: the choices validation makes
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
