"""spice-layer: the output layer of a trained Fashion-MNIST MLP in ngspice (sky130 transistors),
driven by the model's hidden-layer spike times.

The network of a finished fmnist-mlp run (``--nominal DIR``, paper_repro.runs.load_run) classifies
``images`` test images (a fixed random subset, seed 1234). Its last layer (fan-in 400, 10 neurons)
is realised in sky130 (``circuitnet.spice.realised_rc_spike(400)``, the same normalised weights),
and its inputs are the model's spike times of the layer before. Per image, three output-time
vectors of that layer: method "spice" on the realised circuit, method "exact" on the realised
model, and the trained network's own layer (its declared circuit, method "exact"). Reported: the
fraction of images on which SPICE and the realised model pick the same class (earliest output),
the spike-time RMSE and mean error (ns) over the neurons both fire, SPICE's accuracy against
the labels beside the models', and the seconds per image. Each image's SPICE run is kept in OUT
(spice_layer_K.json) and reused, so a long run resumes image by image.
"""
import os
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.solve import Spice, spike_times

from . import classify as C
from .common import write_results
from .robustness import cached
from .runs import load_run

CFG = dict(images=100, nominal=None, data=None, workers=None)
QUICK = dict(images=1)


def hidden_times(net, cfg, x):
    """(spike times into the last spiking layer [N, fan-in], the trained network's last-layer times [N, 10])."""
    with torch.no_grad():
        times = net(C.inputs(cfg, x), all_times=True)[1]
    return times[-2], times[-1]


def run(args):
    started = time.time()
    cfg = dict(CFG, **(QUICK if args.quick else {}))
    for key in ("nominal", "data"):
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if cfg["nominal"] is None:
        raise SystemExit("spice-layer: name a finished fmnist-mlp run with --nominal DIR (README's headline run, "
                         "e.g. runs/val-wd0.3)")
    net, ncfg = load_run(cfg["nominal"])
    net = net.double()
    data = C.load_data("fashion-mnist", type("A", (), dict(data=cfg["data"], seed=0))(), ncfg)
    pick = torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(1234))[:cfg["images"]]
    x, y = data.x_test[pick].double(), data.y_test[pick]
    torch.manual_seed(0)
    h, t_trained = hidden_times(net, ncfg, x)
    w = net.spiking_layers[-1].weight.detach().double()
    circuit = cn.spice.realised_rc_spike(w.shape[1])
    t_model, f_model = spike_times(circuit, h, w, method="exact")
    key = dict(nominal=cfg["nominal"], mtime=os.path.getmtime(os.path.join(cfg["nominal"], "model.pt")))
    t_spice, f_spice, secs = [], [], []
    for k in range(len(y)):
        began = time.time()
        r = cached(os.path.join(args.out, f"spice_layer_{k}.json"), dict(key, image=int(pick[k])),
                   lambda: dict(zip(("t", "fired"), (v[0].tolist() for v in spike_times(
                       circuit, h[k:k + 1], w, method=Spice(workers=cfg["workers"]))))))
        t_spice.append(r["t"])
        f_spice.append(r["fired"])
        secs.append(time.time() - began)
        print(f"spice-layer: image {k + 1}/{len(y)}: SPICE class {int(np.argmin(r['t']))}, model class "
              f"{int(t_model[k].argmin())}, label {int(y[k])} ({secs[-1]:.0f} s)", flush=True)
    ts = torch.tensor(t_spice, dtype=torch.float64)
    fs = torch.tensor(f_spice)
    both = fs & f_model
    d = ((ts - t_model)[both] * circuit.time_unit * 1e9).numpy()
    same = float((ts.argmin(1) == t_model.argmin(1)).double().mean())
    return write_results(
        args.out, "spice-layer", args.seed, cfg, started, images=len(y), fan_in=int(w.shape[1]),
        class_agreement=same, rmse_ns=float(np.sqrt((d ** 2).mean())) if d.size else None,
        mean_ns=float(d.mean()) if d.size else None, max_abs_ns=float(np.abs(d).max()) if d.size else None,
        accuracy_spice=float((ts.argmin(1) == y).double().mean()),
        accuracy_realised_model=float((t_model.argmin(1) == y).double().mean()),
        accuracy_trained_model=float((t_trained.argmin(1) == y).double().mean()),
        seconds_per_image_this_run=float(np.mean(secs)), test_accuracy=same)
