"""A finished run's trained network, loaded from its output folder.

    from paper_repro.runs import load_run
    net, cfg = load_run("runs/fmnist-mlp")            # fmnist-mlp, fmnist-cnn, cifar10: model.pt
    net, cfg = load_run("runs/iris", seed=0)          # iris: pnn_seed0.pt (name="ann": the ANN-to-IMC's)

The network comes back in evaluation mode with the run's final weights (its weight average where
it kept one, as evaluated), on its own circuit, with the method the run evaluated with, and cfg is
the run's configuration (results.json). A folder without a finished run is a FileNotFoundError
that says what is missing and which command makes it; an iris seed the run did not train is a
ValueError that names the seeds it did. ``load_nominal``: a fmnist-mlp run's network for the chip
experiments (robustness, chip-budget), or a message saying which run to train.
"""
import json
import os
import re

import torch

import circuitnet as cn

from . import iris_net
from .classify_config import CFG
from .classify_eval import evaluation
from .classify_net import build, training_method

IN_SHAPE = {"fmnist-mlp": (1, 28, 28), "fmnist-cnn": (1, 28, 28), "cifar10": (3, 32, 32), "yin-yang": (1, 1, 5), "digits": (1, 8, 8)}


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
        from circuitnet.models import IrisNet
        cfg = dict(iris_net.CFG, **res["config"])
        seed = res["seed"] if seed is None else int(seed)
        if name not in ("pnn", "ann"):
            raise ValueError(f"load_run: an iris run holds networks 'pnn' and 'ann', not {name!r}")
        held = _iris_seeds(path, res)
        if seed not in held:
            raise ValueError(f"load_run: {path} holds iris seeds {', '.join(map(str, held)) or 'none'}, "
                             f"not seed {seed}")
        kw = (dict(circuit=cn.circuits.rc_spike(firing="discharger")) if name == "pnn" else
              dict(e_pos=cfg["e_ann"], e_neg=-cfg["e_ann"], firing="ideal"))
        net = IrisNet(hidden=cfg["hidden"], method="exact", **kw).to(iris_net.D)
        net.load_state_dict(_checkpoint(os.path.join(path, f"{name}_seed{seed}.pt"))["model"])
        return net.eval(), cfg
    if experiment not in IN_SHAPE:
        raise ValueError(f"load_run: {path} holds a {experiment!r} run; networks load from "
                         f"{sorted(IN_SHAPE) + ['iris']} runs")
    cfg = dict(CFG, **res["config"])
    cfg["hidden"] = tuple(cfg["hidden"])
    state = _checkpoint(os.path.join(path, "model.pt"))
    net = build(cfg, IN_SHAPE[experiment], classes=cfg.get("classes", 10))
    net.load_state_dict(state["model"])
    if state.get("ema") is not None:
        with torch.no_grad():
            for p, a in zip(net.parameters(), state["ema"]):
                p.copy_(a)
    method, options = evaluation(cfg)
    return net.set_method(method, **options).eval(), cfg


def load_nominal(path, rt, experiment="robustness", option="--nominal"):
    """(network with the run's final weights, its config, its seed) from a fmnist-mlp run folder
    (load_run); a missing or other run stops ``experiment`` with what to do."""
    if path is None:
        raise SystemExit(f"{experiment}: name the nominal network with --nominal DIR, a finished fmnist-mlp run "
                         "(the main job does not make one): train it with e.g. python -m paper_repro fmnist-mlp "
                         "--schedule cosine --lr 2e-4 --gamma1 0.5 --ema 0.9995 --weight-decay 0.3 --val 5000 "
                         "--out runs/val-wd0.3 (README's headline run: 68 min on 2 cores), then --nominal runs/val-wd0.3")
    try:
        with open(os.path.join(path, "results.json")) as f:
            res = json.load(f)
        if res.get("experiment") != "fmnist-mlp":
            raise SystemExit(f"{experiment}: {path} is a {res.get('experiment')!r} run, not fmnist-mlp")
        net, cfg = load_run(path)
    except FileNotFoundError as e:
        raise SystemExit(f"{experiment}: {option} {path} holds no finished fmnist-mlp run ({e})") from None
    return net.set_method(training_method(cfg)).to(rt.device).eval(), cfg, res["seed"]
