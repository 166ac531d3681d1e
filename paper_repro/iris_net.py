"""The Iris network's recipe (experiment iris; docs/paper.md section 3), shared by the experiments that
train it (iris, robustness, chip-budget, spice-iris, spice-chips) and by runs.load_run: the
hyper-parameters, the stratified data split, the loss, the training loop, the accuracy, and the
IrisNet on the sky130-realised circuit of each layer's fan-in."""
import json

import numpy as np
import torch

import circuitnet as cn
from circuitnet.models import IrisNet, early_spike_penalty, spike_cross_entropy, temporal_penalty, weight_penalty

from .train import check_config, fit

CFG = dict(epochs=600, seeds=5, lr=1e-3, batch=50, tau_soft=0.07, gamma_T=0.1, t_ref=0.9, gamma_W=1e-2,
           gamma_V=0.2, hidden=5, test_size=0.3, e_ann=100.0, scale_grid=(0.5, 2.0, 0.01))
# keys whose change makes a checkpoint unusable (epochs may grow: training resumes)
_MODEL_KEYS = ("lr", "batch", "tau_soft", "gamma_T", "t_ref", "gamma_W", "gamma_V", "hidden", "test_size", "e_ann")
D = torch.float64


def load_split(test_size, seed=0):
    """Stratified split of scikit-learn's bundled Iris; features min-max scaled on the training set."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    X, y = load_iris(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    lo, hi = Xtr.min(0), Xtr.max(0)
    f = lambda a: torch.tensor(np.clip((a - lo) / (hi - lo), 0, 1), dtype=D)
    return f(Xtr), torch.tensor(ytr), f(Xte), torch.tensor(yte)


def loss_fn(cfg):
    def loss(model, x, y):
        out, times = model(x, all_times=True)
        return (spike_cross_entropy(out, y, cfg["tau_soft"]) + temporal_penalty(out, cfg["t_ref"], cfg["gamma_T"])
                + weight_penalty(model, cfg["gamma_W"]) + early_spike_penalty(times, cfg["gamma_V"]))
    return loss


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmin(1) == y).double().mean().item()


def train_net(model, cfg, xtr, ytr, ckpt, desc, quiet=False, evaluate=None):
    """Adam on the Iris loss (loss_fn) in shuffled mini-batches for cfg["epochs"] epochs, checkpointed
    at ``ckpt`` and resumed from it; a checkpoint written with another configuration is refused.
    Returns fit's history."""
    def batches():
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), cfg["batch"]):
            j = perm[i:i + cfg["batch"]]
            yield xtr[j], ytr[j]

    want = check_config(ckpt[:-3] + ".json", {k: cfg[k] for k in _MODEL_KEYS})
    with open(ckpt[:-3] + ".json", "w") as f:
        json.dump(want, f, indent=1)
    return fit(model, batches, loss_fn(cfg), cfg["epochs"], cfg["lr"], ckpt=ckpt, desc=desc, quiet=quiet,
               evaluate=evaluate)


def realised_net(hidden, technology, method="exact"):
    """IrisNet whose layers run on the sky130 circuit of their own fan-in."""
    net = IrisNet(hidden=hidden, method=method).to(D)
    for layer in net.layers:
        layer.circuit = cn.spice.realised_rc_spike(layer.in_features, technology)
    return net
