"""yin-yang-spice: the output layer of a trained Yin-Yang network in ngspice, driven by the model's
hidden spike times.

The network of a finished yin-yang run (``--nominal DIR``, paper_repro.runs.load_run) classifies
the Yin-Yang test set (1,000 samples, seed 40; ``samples`` of them). Its output layer (fan-in 120,
3 neurons) runs in ngspice: the declared circuit's own netlist (method "spice": for the two-node
LIF, behavioural sources for the element currents and a charge pulse per input), its inputs the
model's spike times of the hidden layer. Reported: the fraction of samples on which SPICE and the
model pick the same class (earliest output spike), the spike-time RMSE, mean and largest error (ns)
over the neurons both fire, the fraction whose firing agrees, and the accuracies against the labels.
SPICE runs ``chunk`` samples at a time, each kept in OUT (yin_yang_spice_K.json) under a digest of its
inputs and weights (all a chunk's result depends on), so a run resumes chunk by chunk.
"""
import os
import time

import numpy as np
import torch

from circuitnet.solve import Spice, spike_times

from .cache import cached, digest
from .classify_net import inputs
from .common import configured, write_results
from .data import load_yin_yang
from .runs import load_run
from .spike_errors import errors

CFG = dict(samples=1000, chunk=100, nominal=None, workers=None)
QUICK = dict(samples=20, chunk=10)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("nominal",))
    if cfg["nominal"] is None:
        raise SystemExit("yin-yang-spice: name a finished yin-yang run with --nominal DIR (e.g. python -m paper_repro "
                         "yin-yang --circuit circuitnet.circuits:lif_current_synapse ... --out runs/yy-lif)")
    net, ncfg = load_run(cfg["nominal"])
    net = net.double()
    data = load_yin_yang()
    x, y = data.x_test[:cfg["samples"]].double(), data.y_test[:cfg["samples"]]
    with torch.no_grad():
        times = net(inputs(ncfg, x), all_times=True)[1]
    h, t_model = times[-2], times[-1]
    layer = net.spiking_layers[-1]
    w, circuit = layer.weight.detach().double(), layer.circuit
    f_model = t_model < layer.t_max
    ts, fs, secs = [], [], []
    for k, i in enumerate(range(0, len(y), cfg["chunk"])):
        began = time.time()
        hk = h[i:i + cfg["chunk"]]
        r = cached(os.path.join(args.out, f"yin_yang_spice_{k}.json"), dict(chunk=k, inputs=digest(hk, w)),
                   lambda: dict(zip(("t", "fired"), (v.tolist() for v in spike_times(
                       circuit, hk, w, method=Spice(workers=cfg["workers"]))))))
        ts.append(torch.tensor(r["t"], dtype=torch.float64))
        fs.append(torch.tensor(r["fired"]))
        secs.append((time.time() - began) / len(hk))
        same = (ts[-1].argmin(1) == t_model[i:i + len(hk)].argmin(1)).double().mean().item()
        print(f"yin-yang-spice: samples {i + 1}-{i + len(hk)} of {len(y)}: SPICE class = model class on "
              f"{100 * same:.1f} % ({time.time() - began:.0f} s)", flush=True)
    ts, fs = torch.cat(ts), torch.cat(fs)
    agree = float((ts.argmin(1) == t_model.argmin(1)).double().mean())
    output = dict(samples=len(y), fan_in=int(w.shape[1]), class_agreement=agree,
                  **errors(circuit, ts, fs, t_model, f_model),
                  accuracy_spice=float((ts.argmin(1) == y).double().mean()),
                  accuracy_model=float((t_model.argmin(1) == y).double().mean()),
                  seconds_per_sample_this_run=float(np.mean(secs)), circuit=ncfg.get("circuit"))
    timing = (f"spike-time RMSE {output['rmse_ns']:.4f} ns, largest {output['max_abs_ns']:.4f} ns" if output["compared"]
              else "no output neuron fires in both")
    print(f"yin-yang-spice: SPICE class = model class on {100 * agree:.2f} % of {len(y)} test samples; {timing}; "
          f"accuracy SPICE {100 * output['accuracy_spice']:.2f} %, model {100 * output['accuracy_model']:.2f} %")
    return write_results(args.out, "yin-yang-spice", args.seed, cfg, started, output_layer=output,
                         test_accuracy=agree)
