"""spice-network: a trained Fashion-MNIST MLP entirely in ngspice (sky130 transistors), every layer
driven by the spike times SPICE gave the layer before.

The network of a finished fmnist-mlp run (``--nominal DIR``, paper_repro.runs.load_run; the headline
784-400-400-10 RC-Spike MLP) classifies ``images`` test images, the first of the same fixed random
subset as spice-layer (seed 1234), in eval mode, float64, without spike-time noise. Per image, layer
by layer, each layer is realised in sky130 at its fan-in (``circuitnet.spice.realised_rc_spike``,
the trained normalised weights) and simulated by method "spice", its inputs the pixels' spike times
(layer 1) or the previous layer's SPICE times; a neuron that SPICE finds silent passes t = 1 (the
end of the window, as the model passes a silent neuron), which opens no synapse, i.e. no input.
The realised circuit is the model with the devices' I(V) curvature (``curvature=True``, method "ode";
its netlist biases each device for its measured current at reset). Beside SPICE, per layer, that
realised model driven by
the same SPICE inputs: the local error of the layer, spike-time RMSE, mean (SPICE - model) and
largest |difference| (ns) over the neurons both fire, and the fraction of neurons whose firing
agrees; and against the realised model chained on its own times from the pixels (the error
accumulated to that layer). Reported: the class by SPICE (earliest output spike) against the class
of the realised model chain (class_agreement, the headline, also test_accuracy) and of the trained
network (its own circuit and method, as its run evaluated it), accuracies against the labels, per
image the classes and the output margins, and the seconds per image. Each chunk of at most
``chunk`` neurons of one layer on one image is one SPICE run, kept in OUT/spice/ under a key that
holds a digest of its inputs and weights and reused, so that the same command resumes where a run
stopped; results_partial.json holds the images finished so far. Cost, on one core: about 1-3 s of
ngspice per fan-in-784 neuron (0.8 s on an image with 215 lit pixels: a dark pixel switches no
synapse) and about 1 s per fan-in-400 one, some 15-25 min per image (--workers K runs K ngspice
processes). --quick: one image; on the tests' width-0.25 MLP (784-100-100-10) about 100 s.
"""
import json
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

CFG = dict(images=20, chunk=50, nominal=None, data=None, workers=None)
MODEL, METHOD = dict(curvature=True), "ode"          # the realised model (and netlist) of every layer
QUICK = dict(images=1)


def layers_of(net, ncfg):
    """The weights [out, in] (float64) of the MLP's spiking layers; a run that is not an RC-Spike MLP of
    the paper's circuit stops the experiment with why."""
    if ncfg.get("arch") != "mlp" or ncfg.get("circuit") is not None:
        raise SystemExit(f"spice-network: --nominal must be an fmnist-mlp run of the paper's RC-Spike circuit (the "
                         f"circuit realised in sky130), not arch {ncfg.get('arch')!r} with circuit "
                         f"{ncfg.get('circuit')!r}")
    return [l.weight.detach().double() for l in net.spiking_layers]


def trained_times(net, t):
    """The trained network's spike times of every layer [N, out] for input times t: its own layers,
    circuit and evaluation method, no spike-time noise (sigma_spike is left out)."""
    times = []
    with torch.no_grad():
        for layer in net.spiking_layers:
            t = layer(t)
            times.append(t)
    return times


def margin_ns(t, circuit):
    """The gap (ns) between the earliest and second-earliest output spike time of t [classes]."""
    two = torch.sort(t).values[:2]
    return float((two[1] - two[0]) * circuit.time_unit * 1e9)


def summary(circuits, ws, spice, local, chain, trained, y, per_image):
    """The results of the images done so far (the first len(per_image))."""
    n = len(per_image)
    stack = lambda rows, i: torch.cat([r[i] for r in rows])          # [n, neurons] of layer i
    layers = []
    for i, (circuit, w) in enumerate(zip(circuits, ws)):
        ts, fs = stack([s[0] for s in spice], i), stack([s[1] for s in spice], i)
        tl, fl = stack([s[0] for s in local], i), stack([s[1] for s in local], i)
        tc, fc = chain[0][i][:n], chain[1][i][:n]
        layers.append(dict(layer=i + 1, fan_in=int(w.shape[1]), neurons=int(w.shape[0]),
                           **errors(circuit, ts, fs, tl, fl),
                           against_model_chain=errors(circuit, ts, fs, tc, fc),
                           spikes_per_image_spice=float(fs.double().sum(1).mean()),
                           spikes_per_image_model=float(fl.double().sum(1).mean()),
                           spikes_per_image_model_chain=float(fc.double().sum(1).mean()),
                           spice_seconds_per_image=float(np.mean([p["spice_seconds"][i] for p in per_image]))))
    c_spice = torch.tensor([p["class_spice"] for p in per_image])
    c_chain = torch.tensor([p["class_realised_model"] for p in per_image])
    c_trained = torch.tensor([p["class_trained_model"] for p in per_image])
    frac = lambda a, b: float((a == b).double().mean())
    return dict(images=n, layers=layers,
                class_agreement=frac(c_spice, c_chain), class_agreement_trained=frac(c_spice, c_trained),
                model_class_agreement=frac(c_chain, c_trained),
                accuracy_spice=frac(c_spice, y[:n]), accuracy_realised_model=frac(c_chain, y[:n]),
                accuracy_trained_model=frac(c_trained, y[:n]),
                seconds_per_image_this_run=float(np.mean([p["seconds_this_run"] for p in per_image])),
                spice_seconds_per_image=float(np.mean([sum(p["spice_seconds"]) for p in per_image])),
                per_image=per_image)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("nominal", "data", "images", "workers"))
    quiet = getattr(args, "quiet", False)
    net, ncfg = nominal_network(cfg, "spice-network")
    ws = layers_of(net, ncfg)
    x, y, pick = test_images(cfg, ncfg)
    circuits = [cn.spice.realised_rc_spike(int(w.shape[1]), **MODEL) for w in ws]
    t0 = inputs(ncfg, x)                                  # [N, 784] the pixels' spike times (1: none)
    trained = trained_times(net, t0)
    chain_t, chain_f, t = [], [], t0                      # the realised model on its own times from the pixels
    for circuit, w in zip(circuits, ws):
        t, f = spike_times(circuit, t, w, method=METHOD)
        chain_t.append(t)
        chain_f.append(f)

    spice, local, per_image = [], [], []
    for k in range(len(y)):
        began = time.time()
        t_prev, s_img, l_img, secs = t0[k:k + 1], ([], []), ([], []), []
        for i, (circuit, w) in enumerate(zip(circuits, ws)):
            chunks = list(range(0, w.shape[0], cfg["chunk"]))
            ts, fs, sec = [], [], 0.0
            for c, a in enumerate(chunks):
                b = min(a + cfg["chunk"], w.shape[0])
                chunk_began = time.time()
                r, ran = spice_row(os.path.join(args.out, "spice", f"image{int(pick[k])}_layer{i + 1}_chunk{c}.json"),
                                   dict(image=int(pick[k]), layer=i + 1, fan_in=int(w.shape[1]), neurons=[a, b], **MODEL),
                                   circuit, t_prev, w[a:b], cfg["workers"])
                ts += r["t"]
                fs += r["fired"]
                sec += r.get("seconds", 0.0)
                if not quiet:
                    print(f"spice-network: image {k + 1}/{len(y)}, layer {i + 1} (fan-in {w.shape[1]}), chunk "
                          f"{c + 1}/{len(chunks)} (neurons {a}-{b - 1}): {sum(r['fired'])} of {b - a} fire in SPICE "
                          f"({time.time() - chunk_began:.0f} s{'' if ran else ', kept from an earlier run'})",
                          flush=True)
            t_s, f_s = torch.tensor([ts], dtype=torch.float64), torch.tensor([fs])
            t_m, f_m = spike_times(circuit, t_prev, w, method=METHOD)      # the same SPICE inputs
            for into, (tt, ff) in ((s_img, (t_s, f_s)), (l_img, (t_m, f_m))):
                into[0].append(tt)
                into[1].append(ff)
            secs.append(sec)
            t_prev = t_s                                  # a silent neuron: t = 1, no input to the next layer
        spice.append(s_img)
        local.append(l_img)
        out_s, out_c = s_img[0][-1][0], chain_t[-1][k]
        per_image.append(dict(test_index=int(pick[k]), label=int(y[k]), class_spice=int(out_s.argmin()),
                              class_realised_model=int(out_c.argmin()),
                              class_trained_model=int(trained[-1][k].argmin()),
                              margin_ns_spice=margin_ns(out_s, circuits[-1]),
                              margin_ns_realised_model=margin_ns(out_c, circuits[-1]),
                              spikes_spice=[int(f.sum()) for f in s_img[1]], spice_seconds=secs,
                              seconds_this_run=time.time() - began))
        p = per_image[-1]
        if not quiet:
            print(f"spice-network: image {k + 1}/{len(y)} (test image {p['test_index']}): SPICE class "
                  f"{p['class_spice']}, realised model {p['class_realised_model']}, trained network "
                  f"{p['class_trained_model']}, label {p['label']} (margin {p['margin_ns_spice']:.1f} ns in SPICE; "
                  f"{p['seconds_this_run']:.0f} s)", flush=True)
        partial = dict(experiment="spice-network", config=cfg, images_done=k + 1,
                       **summary(circuits, ws, spice, local, (chain_t, chain_f), trained, y, per_image))
        path = os.path.join(args.out, "results_partial.json")
        with open(path + ".tmp", "w") as f:
            json.dump(partial, f, indent=2)
        os.replace(path + ".tmp", path)

    res = summary(circuits, ws, spice, local, (chain_t, chain_f), trained, y, per_image)
    print(f"spice-network: SPICE class = realised model class on {100 * res['class_agreement']:.1f} % of {len(y)} "
          f"images (trained network: {100 * res['class_agreement_trained']:.1f} %); accuracy SPICE "
          f"{100 * res['accuracy_spice']:.1f} %, realised model {100 * res['accuracy_realised_model']:.1f} %, trained "
          f"{100 * res['accuracy_trained_model']:.1f} %; local spike-time RMSE per layer "
          + ", ".join("none fire in both" if l["rmse_ns"] is None else f"{l['rmse_ns']:.2f} ns"
                      for l in res["layers"]), flush=True)
    results = write_results(args.out, "spice-network", args.seed, cfg, started, **res,
                            test_accuracy=res["class_agreement"])
    os.remove(os.path.join(args.out, "results_partial.json"))
    return results
