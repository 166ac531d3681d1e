"""spice-layer: layers of a trained Fashion-MNIST MLP in ngspice (sky130 transistors), driven by
the model's own spike times.

The network of a finished fmnist-mlp run (``--nominal DIR``, paper_repro.runs.load_run) classifies
``images`` test images (a fixed random subset, seed 1234). Its last layer (fan-in 400, 10 neurons)
is realised in sky130 (``circuitnet.spice.realised_rc_spike(400)``, the same normalised weights),
and its inputs are the model's spike times of the layer before. Per image, three output-time
vectors of that layer: method "spice" on the realised circuit, method "exact" on the realised
model, and the trained network's own layer (its declared circuit, method "exact"). Reported: the
fraction of images on which SPICE and the realised model pick the same class (earliest output),
the spike-time RMSE and mean error (ns) over the neurons both fire, SPICE's accuracy against
the labels beside the models', and the seconds per image. Beside it a sample of the first
layer (fan-in 784): ``first_neurons`` random neurons on the first ``first_images`` of those
images, driven by the pixels' spike times, SPICE against the realised model.
Each SPICE run is kept in OUT (spice_layer_K.json, spice_first_K.json) under a key that holds a
digest of its inputs and weights, and reused, so a long run resumes image by image.
"""
import os
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.solve import spike_times

from .classify_net import inputs
from .common import configured, write_results
from .spice_runs import nominal_network, spice_row, test_images
from .spike_errors import errors

CFG = dict(images=100, first_images=10, first_neurons=4, nominal=None, data=None, workers=None)
QUICK = dict(images=1, first_images=1, first_neurons=1)


def hidden_times(net, cfg, x):
    """(spike times into the last spiking layer [N, fan-in], the trained network's last-layer times [N, 10])."""
    with torch.no_grad():
        times = net(inputs(cfg, x), all_times=True)[1]
    return times[-2], times[-1]


def spice_rows(out, stem, t_in, w, key, workers, label):
    """Method "spice" on the realised circuit of fan-in w.shape[1], one row of t_in at a time, each
    kept in OUT/{stem}_K.json: (t [N, I], fired [N, I], seconds per row this run)."""
    circuit = cn.spice.realised_rc_spike(w.shape[1])
    ts, fs, secs = [], [], []
    for k in range(len(t_in)):
        began = time.time()
        r, _ = spice_row(os.path.join(out, f"{stem}_{k}.json"), dict(key, row=k), circuit, t_in[k], w, workers)
        ts.append(r["t"])
        fs.append(r["fired"])
        secs.append(time.time() - began)
        print(f"spice-layer: {label(k, r)} ({secs[-1]:.0f} s)", flush=True)
    return torch.tensor(ts, dtype=torch.float64), torch.tensor(fs), secs


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("nominal", "data"))
    net, ncfg = nominal_network(cfg, "spice-layer")
    x, y, _ = test_images(cfg, ncfg)
    torch.manual_seed(0)
    h, t_trained = hidden_times(net, ncfg, x)
    key = dict(nominal=cfg["nominal"], mtime=os.path.getmtime(os.path.join(cfg["nominal"], "model.pt")))

    w = net.spiking_layers[-1].weight.detach().double()
    circuit = cn.spice.realised_rc_spike(w.shape[1])
    t_model, f_model = spike_times(circuit, h, w, method="exact")
    ts, fs, secs = spice_rows(args.out, "spice_layer", h, w, key, cfg["workers"], lambda k, r: (
        f"image {k + 1}/{len(y)}: SPICE class {int(np.argmin(r['t']))}, model class {int(t_model[k].argmin())}, "
        f"label {int(y[k])}"))
    same = float((ts.argmin(1) == t_model.argmin(1)).double().mean())
    output = dict(images=len(y), fan_in=int(w.shape[1]), class_agreement=same,
                  **errors(circuit, ts, fs, t_model, f_model),
                  accuracy_spice=float((ts.argmin(1) == y).double().mean()),
                  accuracy_realised_model=float((t_model.argmin(1) == y).double().mean()),
                  accuracy_trained_model=float((t_trained.argmin(1) == y).double().mean()),
                  seconds_per_image_this_run=float(np.mean(secs)))

    w1 = net.spiking_layers[0].weight.detach().double()
    neurons = torch.randperm(w1.shape[0], generator=torch.Generator().manual_seed(1234))[:cfg["first_neurons"]]
    w1 = w1[neurons]
    x1 = inputs(ncfg, x[:cfg["first_images"]])
    circuit1 = cn.spice.realised_rc_spike(w1.shape[1])
    t1_model, f1_model = spike_times(circuit1, x1, w1, method="exact")
    t1, f1, secs1 = spice_rows(args.out, "spice_first", x1, w1, key, cfg["workers"],
                               lambda k, r: f"first layer, image {k + 1}/{len(x1)}: {sum(r['fired'])} of "
                                            f"{len(r['fired'])} neurons fire in SPICE, {int(f1_model[k].sum())} in the model")
    first = dict(images=len(x1), neurons=neurons.tolist(), fan_in=int(w1.shape[1]),
                 active_inputs_mean=float((x1 < 1).double().sum(1).mean()),
                 **errors(circuit1, t1, f1, t1_model, f1_model),
                 seconds_per_image_this_run=float(np.mean(secs1)))
    return write_results(args.out, "spice-layer", args.seed, cfg, started, output_layer=output, first_layer=first,
                         test_accuracy=same)
