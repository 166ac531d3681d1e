"""robustness: accuracy on mismatched, noisy chips (Monte Carlo), nominal against variation-aware training.

A chip is one seeded draw of every device's deviation (circuitnet.variation, models.chips): a log-normal
current gain per synapse device and per discharger / ramp source, a comparator offset per neuron. Mismatch
levels (``levels``):

* x = 0, 5, 10, 20 %: every MOSFET current spread x; the non-synapse CLM slopes and the comparator
  offset spread scaled with it, x / s_n times their values at the sky130 point (s_n: the sky130 synapse
  nfet's current spread);
* "sky130": the spreads SkyWater's mismatch models give (circuitnet.spice.mismatch, 400 devices in
  ngspice): synapse nfet and pfet (W 1 um, L 0.25 um) biased for one weight unit of the paper's
  circuit, the discharger (L 0.5 um) at its bias, with the comparator offset ``threshold_offset``
  (5 mV: the netlist's comparator is ideal, so this one is assumed, a 3 um^2 input pair at
  A_VT = 6 mV um). Without ngspice and the models the experiment stops with a message saying so.

Networks:

* Iris (the circuit of experiment iris, seed --seed): the nominal PNN (``iris_epochs``, the paper's
  600), and one variation-aware PNN per level (the same recipe with a fresh chip per mini-batch at
  that level, ``iris_aware_epochs`` = 3000: at 600 its training loss was still falling, and on the
  training set at 20 % its mean accuracy over 100 chips rose from 67.9 % at 600 epochs to 79.8 % at
  3000), each on ``chips`` chips over the 45 test samples (method exact, which equals ode on a chip
  to 1e-6).
* Fashion-MNIST MLP: the nominal network is loaded from a fmnist-mlp run (--nominal DIR: its model.pt
  and results.json; its EMA weights where it kept them). Per level, a copy is fine-tuned for at most
  ``epochs`` epochs (--epochs) with a fresh chip per mini-batch (the run's own loss, spike-time noise and
  training set, DSTD, Adam at ``finetune_lr``, constant, with the run's EMA and weight decay), then
  both are tested (exact, sigma_spike on) on ``chips`` chips, each on the same fixed random subset of
  ``test_subset`` test images.
* Declared circuit noise: the nominal and the sky130-aware networks on the circuit with its shot and kT/C
  noise (rc_spike(noise=True)) as per-spike jitter (circuitnet.solve.jitter, 16 grid steps per phase),
  on the nominal chip and on sky130 chips, ``chips`` draws each.

Reported per point and network: mean, standard deviation, 5th percentile, minimum and maximum of the
test accuracy over chips, and each variation-aware F-MNIST network's accuracy without mismatch (mean
over CLEAN_DRAWS = 20 spike-noise draws) (results.json; plot accuracy_vs_mismatch.png). Nothing is
selected on test data.
"""
import json
import os
import time
import warnings

import torch

import circuitnet as cn
from circuitnet import models

from . import iris_net as I
from .cache import cached
from .classify_data import load_data
from .classify_eval import accuracy
from .classify_net import circuit
from .common import configured, pyplot, save_figure, seed_everything, write_results
from .finetune import finetune
from .runs import load_nominal
from .runtime import runtime
from .spreads import COMPARATOR_OFFSET, at_level, on_circuit, sky130_spreads

CFG = dict(levels=(0.0, 0.05, 0.1, 0.2, "sky130"), chips=100, test_subset=2000, epochs=5, finetune_lr=5e-5,
           iris_epochs=600, iris_aware_epochs=3000, threshold_offset=COMPARATOR_OFFSET, jitter_steps=16, nominal=None, data=None)
CLEAN_DRAWS = 20    # spike-noise draws for a variation-aware network's accuracy without mismatch
QUICK = dict(levels=(0.0, 0.2, "sky130"), chips=4, test_subset=64, epochs=1, iris_epochs=20, iris_aware_epochs=40,
             train_limit=256)


# ------------------------------------------------------------------------------------ the mismatch levels
def _label(level):
    return level if isinstance(level, str) else f"{100 * level:g}%"


def _tag(level):
    return level if isinstance(level, str) else f"{level:g}"


def _evaluate(nets, acc, chips, seed):
    """Monte-Carlo accuracy of each network (the same object is evaluated once)."""
    row = {}
    for name, net in nets.items():
        same = next((k for k, n in nets.items() if n is net and k in row), None)
        if same is not None:
            row[name] = row[same]
            continue
        models.use_chip(net, None)
        row[name] = dict(nominal_chip=acc(net), **_monte_carlo(net, acc, chips, seed=seed))
    return row


def _monte_carlo(net, acc, chips, **kw):
    """models.monte_carlo; at the 0 % level (a circuit without mismatch) the identical chips are the
    point, so its warning about them is left out."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="monte_carlo: no layer's circuit declares mismatch")
        return models.monte_carlo(net, acc, chips, **kw)


# ------------------------------------------------------------------------------------ Iris
def _iris(args, cfg, levels, sky, out):
    icfg = dict(I.CFG, epochs=cfg["iris_epochs"])
    acfg = dict(icfg, epochs=cfg["iris_aware_epochs"])
    xtr, ytr, xte, yte = I.load_split(icfg["test_size"])
    base = cn.circuits.rc_spike(firing="discharger")
    acc = lambda n: I.accuracy(n, xte, yte)
    res = {}
    nominal = None
    for level in levels:
        circ = at_level(base, level, sky, cfg["threshold_offset"])
        nets = {}
        for name in ("nominal", "aware"):
            if name == "nominal" and nominal is not None:
                nets[name] = on_circuit(nominal, circ)
                continue
            if name == "aware" and level == 0.0:
                nets[name] = nets["nominal"]
                continue
            seed_everything(args.seed)
            net = models.IrisNet(hidden=icfg["hidden"], circuit=circ, method="exact").to(I.D)
            if name == "aware":
                net.train_on_chips(1.0)
            tag = "nominal" if name == "nominal" else f"aware_{_tag(level)}"
            ckpt = os.path.join(out, f"iris_{tag}_seed{args.seed}.pt")
            I.train_net(net, icfg if name == "nominal" else acfg, xtr, ytr, ckpt, f"iris {tag}",
                        getattr(args, "quiet", False))
            net.train_on_chips(None).eval()
            nets[name] = net
            if name == "nominal":
                nominal = net
        key = dict(cfg, part="iris", level=_tag(level), seed=args.seed, levels=None, nominal=None, data=None)
        row = cached(os.path.join(out, f"iris_point_{_tag(level)}.json"), json.loads(json.dumps(key)),
                      lambda: _evaluate(nets, acc, cfg["chips"], args.seed))
        res[_label(level)] = row
        print(f"iris at {_label(level)}: nominal net {_line(row['nominal'])}; variation-aware {_line(row['aware'])}")
    return res


def _line(r):
    return f"mean {100 * r['mean']:.2f} %, sd {100 * r['std']:.2f}, 5th pct {100 * r['p5']:.2f} %"


# ------------------------------------------------------------------------------------ Fashion-MNIST
def _fmnist(args, cfg, levels, sky, out, rt, loaded):
    nominal, ncfg, seed = loaded
    ncfg = dict(ncfg, train_limit=cfg.get("train_limit", ncfg["train_limit"]))
    data = load_data("fashion-mnist", type("A", (), dict(data=cfg["data"], seed=seed))(), ncfg)
    g = torch.Generator().manual_seed(1234)
    pick = torch.randperm(len(data.y_test), generator=g)[:cfg["test_subset"]]
    x, y = data.x_test[pick], data.y_test[pick]
    base = circuit(ncfg["e_pos"], ncfg["e_neg"], ncfg["circuit"])

    def acc(net):
        return accuracy(net, ncfg, x, y, rt)

    res, aware = {}, {}
    fkey = json.loads(json.dumps(dict(cfg, part="fmnist", seed=args.seed, levels=None, nominal_mtime=os.path.getmtime(
        os.path.join(cfg["nominal"], "model.pt")))))
    torch.manual_seed(args.seed)
    for level in levels:
        circ = at_level(base, level, sky, cfg["threshold_offset"])
        nets = dict(nominal=on_circuit(nominal, circ))
        if level == 0.0:
            nets["aware"] = nets["nominal"]
        else:
            ckpt = os.path.join(out, f"fmnist_aware_{_tag(level)}.pt")
            nets["aware"] = aware[_label(level)] = finetune(nominal, ncfg, data, circ, cfg["epochs"],
                                                            cfg["finetune_lr"], ckpt, rt, getattr(args, "quiet", False))
        row = cached(os.path.join(out, f"fmnist_point_{_tag(level)}.json"), dict(fkey, level=_tag(level)),
                      lambda: _evaluate(nets, acc, cfg["chips"], args.seed))
        if level != 0.0:           # its own mismatch-free accuracy: the mean over spike-noise draws
            row = dict(row, aware_mismatch_free=cached(
                os.path.join(out, f"fmnist_clean_{_tag(level)}.json"), dict(fkey, clean=_tag(level)),
                lambda: models.monte_carlo(nets["aware"], acc, CLEAN_DRAWS, seed=args.seed, scale=0.0)))
        res[_label(level)] = row
        print(f"fmnist at {_label(level)}: nominal net {_line(row['nominal'])}; variation-aware {_line(row['aware'])}")
    noise = {}
    if "sky130" in aware and ncfg["circuit"] is None:      # the paper's circuit, with its declared noise
        noisy = cn.circuits.rc_spike(firing="ideal", noise=True, e_pos=ncfg["e_pos"], e_neg=ncfg["e_neg"])
        for name, net in (("nominal", nominal), ("aware", aware["sky130"])):
            for chips_on in (False, True):
                circ = at_level(noisy, "sky130", sky, cfg["threshold_offset"]) if chips_on else noisy
                n = on_circuit(net, circ)
                for layer in n.spiking_layers:
                    layer.circuit_noise, layer.jitter_steps = True, cfg["jitter_steps"]
                key = f"{name}_{'sky130_chips' if chips_on else 'nominal_chip'}"
                models.use_chip(n, None)
                noise[key] = cached(os.path.join(out, f"fmnist_noise_{key}.json"), dict(fkey, noise=key),
                                     lambda: _monte_carlo(n, acc, cfg["chips"], seed=args.seed,
                                                                scale=1.0 if chips_on else 0.0))
                for layer in n.spiking_layers:
                    layer.circuit_noise = False
                print(f"fmnist with declared circuit noise, {key}: {_line(noise[key])}")
    for net in [nominal, *aware.values()]:
        on_circuit(net, base)
    return res, noise, dict(nominal_run=cfg["nominal"], nominal_config=ncfg, test_subset=len(y))


# ------------------------------------------------------------------------------------ the experiment
def _plot(path, results):
    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), squeeze=False)
    for ax, (title, res) in zip(axes[0], results.items()):
        labels = list(res)
        for name, color in (("nominal", "C0"), ("aware", "C3")):
            mean = [100 * res[k][name]["mean"] for k in labels]
            p5 = [100 * res[k][name]["p5"] for k in labels]
            ax.plot(labels, mean, marker="o", color=color, label=f"{name}: mean")
            ax.plot(labels, p5, marker="v", ls="--", color=color, label=f"{name}: 5th percentile")
        ax.set(xlabel="current mismatch (sd / mean)", ylabel="test accuracy (%)", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("chips", "nominal", "data", "epochs"))
    if cfg["epochs"] > 10:
        raise SystemExit("robustness: at most 10 epochs of variation-aware fine-tuning (--epochs)")
    rt = runtime(args)
    loaded = load_nominal(cfg["nominal"], rt)        # before anything runs: a missing run is an error
    sky = sky130_spreads()
    levels = list(cfg["levels"])
    iris = _iris(args, cfg, levels, sky, args.out)
    fm, noise, info = _fmnist(args, cfg, levels, sky, args.out, rt, loaded)
    _plot(os.path.join(args.out, "accuracy_vs_mismatch.png"), {"Iris (45 test samples)": iris,
                                                              f"F-MNIST MLP ({info['test_subset']} test images)": fm})
    best = fm.get("sky130", fm[_label(levels[-1])])["aware"]["mean"]
    return write_results(args.out, "robustness", args.seed, cfg | dict(levels=[_label(l) for l in levels]), started,
                         sky130=sky, iris=iris, fmnist=fm, fmnist_declared_noise=noise, fmnist_info=info,
                         test_accuracy=best)
