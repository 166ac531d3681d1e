"""A finished run's trained network, loaded from its output folder.

    from paper_repro.runs import load_run
    net, cfg = load_run("runs/fmnist-mlp")            # fmnist-mlp, fmnist-cnn, cifar10: model.pt
    net, cfg = load_run("runs/iris", seed=0)          # iris: pnn_seed0.pt (name="ann": the ANN-to-IMC's)

The network comes back in evaluation mode with the run's final weights (its weight average where
it kept one, as evaluated), on its own circuit, with the method the run evaluated with, and cfg is
the run's configuration (results.json). A folder without a finished run is a FileNotFoundError
that says what is missing and which command makes it; an iris seed the run did not train is a
ValueError that names the seeds it did.
"""
import json
import os
import re

import torch

import circuitnet as cn

from . import classify as C

IN_SHAPE = {"fmnist-mlp": (1, 28, 28), "fmnist-cnn": (1, 28, 28), "cifar10": (3, 32, 32)}


def _results(path):
    res_path = os.path.join(path, "results.json")
    if not os.path.exists(res_path):
        raise FileNotFoundError(f"{path} holds no finished run (no results.json); train one first, e.g. "
                                f"python -m paper_repro fmnist-mlp --out {path}")
    with open(res_path) as f:
        return json.load(f)


def _checkpoint(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the run folder holds its results but not the trained weights")
    return torch.load(path, map_location="cpu", weights_only=False)


def _iris_seeds(path, res):
    """The seeds an iris run trained: its results.json's config seeds, else those of its pnn_seedN.pt files."""
    seeds = res.get("config", {}).get("seeds")
    if isinstance(seeds, list):
        return sorted(int(s) for s in seeds)
    return sorted(int(m.group(1)) for f in os.listdir(path) if (m := re.fullmatch(r"pnn_seed(\d+)\.pt", f)))


def load_run(path, seed=None, name="pnn"):
    """(network in eval mode, configuration) of the finished run in folder ``path`` (module docstring).
    seed, name: which of an iris run's networks (default: the run's first seed, the PNN)."""
    res = _results(path)
    experiment = res.get("experiment")
    if experiment == "iris":
        from . import iris as I
        from circuitnet.models import IrisNet
        cfg = dict(I.CFG, **res["config"])
        seed = res["seed"] if seed is None else int(seed)
        if name not in ("pnn", "ann"):
            raise ValueError(f"load_run: an iris run holds networks 'pnn' and 'ann', not {name!r}")
        held = _iris_seeds(path, res)
        if seed not in held:
            raise ValueError(f"load_run: {path} holds iris seeds {', '.join(map(str, held)) or 'none'}, "
                             f"not seed {seed}")
        kw = (dict(circuit=cn.circuits.rc_spike(firing="discharger")) if name == "pnn" else
              dict(e_pos=cfg["e_ann"], e_neg=-cfg["e_ann"], firing="ideal"))
        net = IrisNet(hidden=cfg["hidden"], method="exact", **kw).to(I.D)
        net.load_state_dict(_checkpoint(os.path.join(path, f"{name}_seed{seed}.pt"))["model"])
        return net.eval(), cfg
    if experiment not in IN_SHAPE:
        raise ValueError(f"load_run: {path} holds a {experiment!r} run; networks load from "
                         f"{sorted(IN_SHAPE) + ['iris']} runs")
    cfg = dict(C.CFG, **res["config"])
    cfg["hidden"] = tuple(cfg["hidden"])
    state = _checkpoint(os.path.join(path, "model.pt"))
    net = C.build(cfg, IN_SHAPE[experiment], classes=10)
    net.load_state_dict(state["model"])
    if state.get("ema") is not None:
        with torch.no_grad():
            for p, a in zip(net.parameters(), state["ema"]):
                p.copy_(a)
    method, options = C.evaluation(cfg)
    return net.set_method(method, **options).eval(), cfg
