"""A trained Fashion-MNIST MLP in ngspice (spice-layer, spice-network): the nominal network of a
finished fmnist-mlp run, the fixed random subset of test images both experiments use, and method
"spice" on one input row, kept in OUT under a key that holds a digest of its inputs and weights
(so that a long run resumes where it stopped)."""
import os
import time

import torch

from circuitnet.solve import Spice, spike_times

from .cache import cached, digest
from .classify_data import load_data
from .runs import load_run

PICK_SEED = 1234       # the test images: torch.randperm(n_test, Generator().manual_seed(PICK_SEED))[:images]


def nominal_network(cfg, experiment):
    """(network in float64, eval mode, its run's configuration) of the fmnist-mlp run cfg["nominal"];
    none named stops ``experiment`` with what to name."""
    if cfg["nominal"] is None:
        raise SystemExit(f"{experiment}: name a finished fmnist-mlp run with --nominal DIR (README's headline run, "
                         "e.g. runs/val-wd0.3)")
    net, ncfg = load_run(cfg["nominal"])
    return net.double().eval(), ncfg


def test_images(cfg, ncfg):
    """(images [N, 1, 28, 28] float64, labels [N], their indices in the test set): the first
    cfg["images"] of a fixed random order (seed PICK_SEED) of the run's Fashion-MNIST test set
    (cfg["data"]: its folder, None for the default)."""
    data = load_data("fashion-mnist", type("A", (), dict(data=cfg["data"], seed=0))(), ncfg)
    pick = torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(PICK_SEED))[:cfg["images"]]
    return data.x_test[pick].double(), data.y_test[pick], pick


def spice_row(path, key, circuit, t_row, w, workers):
    """Method "spice" on ``circuit`` for one input row t_row [fan-in] (or [1, fan-in]) and weights
    w [neurons, fan-in], kept in ``path`` (JSON) under ``key`` plus a digest of t_row and w, and
    reused while they are the same. Returns (dict(t=[neurons], fired=[neurons], seconds=ngspice's
    time when it ran; absent in results kept before it was recorded), whether it ran now)."""
    ran = []

    def compute():
        began = time.time()
        t, fired = spike_times(circuit, t_row.reshape(1, -1), w, method=Spice(workers=workers))
        ran.append(True)
        return dict(t=t[0].tolist(), fired=fired[0].tolist(), seconds=time.time() - began)

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return cached(path, dict(key, inputs=digest(t_row, w)), compute), bool(ran)
