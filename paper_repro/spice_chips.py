"""spice-chips: the whole chain on Iris in ngspice: sky130 Monte-Carlo chips, programmed and
trimmed through the library, run transistor by transistor, against the model of each chip.

The network is spice-iris's PNN (IrisNet 5-5-3 on the sky130-realised circuit of each layer's
fan-in, trained with method "exact"; trained here with the same recipe and seed). Each of ``chips``
chips (chip k from seed (seed, k)) draws every transistor's threshold from SkyWater's own mismatch
model (circuitnet.spice.LayerChip: one z per device, kept from the DC bench to the transient) and
each comparator's offset (sd ``threshold_offset`` V). Bring-up (circuitnet.chip: SpiceBench), as on
silicon: every weight's device programmed against its ngspice current (8-bit gate DAC over
``dac_range``, ``iterations`` verify steps, ``measurement_noise``), then every neuron trimmed from
spike times (comparator and discharger trims, chip-budget's). Per chip:

* SPICE: the test samples through both layers in ngspice on the chip (each layer's SPICE spike
  times drive the next), programmed and trimmed, and as drawn (no programming, no trims);
* the model of the chip: method "exact" with the deviation bring-up measured (each device's current
  over its target, each trimmed discharger's over nominal, comparator offset plus trim);

and reported: both accuracies, their difference in samples, the output spike-time RMSE of the model
against SPICE (ns, where both fire), and the as-drawn SPICE accuracy. Each chip is cached in OUT
(spice_chip_K.json) and reused, so a long run resumes chip by chip.
"""
import os
import time

import numpy as np
import torch

from circuitnet.chip import SpiceBench, calibrate, program_spice, spice_deviation
from circuitnet.solve import Spice
from circuitnet.spice import LayerChip, Sky130

from . import iris_net
from .cache import cached
from .chip_bringup import BRING_UP, trims, weight_programmer
from .common import configured, seed_everything, write_results
from .iris_net import load_split, realised_net
from .spike_errors import errors
from .spreads import COMPARATOR_OFFSET

CFG = dict({k: v for k, v in iris_net.CFG.items() if k != "seeds"}, chips=20, test_samples=45,
           threshold_offset=COMPARATOR_OFFSET, bits=8, iterations=3, **BRING_UP)
QUICK = dict(epochs=40, chips=1, test_samples=3, trim_bits=4)


def network_times(net, x, methods, deviations):
    """(hidden, output) spike times of ``net`` on x with each layer's method and deviation (net left as it was)."""
    saved = [(l.method, l.deviation) for l in net.layers]
    try:
        for layer, m, d in zip(net.layers, methods, deviations):
            layer.method, layer.deviation = m, d
        with torch.no_grad():
            return net(x, all_times=True)[1]
    finally:
        for layer, (m, d) in zip(net.layers, saved):
            layer.method, layer.deviation = m, d


def bring_up(net, cfg, seed):
    """([drawn LayerChip], [programmed and trimmed LayerChip]) of every layer of ``net`` for one chip."""
    program, trim = weight_programmer(cfg, cfg["bits"], cfg["iterations"]), trims(cfg)
    drawn, ready = [], []
    for n, layer in enumerate(net.layers):
        w = layer.weight.detach()
        chip = LayerChip.draw(layer.circuit, *w.shape, seed=(seed, n), threshold_offset=cfg["threshold_offset"])
        drawn.append(chip)
        chip = program_spice(layer.circuit, chip, w, program, torch.Generator().manual_seed(seed * 31 + n))
        ready.append(calibrate(SpiceBench(layer.circuit, chip), trim)[0])
    return drawn, ready


def one_chip(net, cfg, k, seed, x, y):
    """The per-chip row (module docstring)."""
    began = time.time()
    drawn, ready = bring_up(net, cfg, 1000003 * seed + k)
    spice = [Spice(chip=c) for c in ready]
    h_s, out_s = network_times(net, x, spice, [None, None])
    devs = [spice_deviation(l.circuit, c, l.weight.detach()) for l, c in zip(net.layers, ready)]
    h_m, out_m = network_times(net, x, ["exact", "exact"], devs)
    _, out_d = network_times(net, x, [Spice(chip=c) for c in drawn], [None, None])
    circuit = net.layers[-1].circuit
    out_err = errors(circuit, out_m, out_m < 1, out_s, out_s < 1)          # model - SPICE, where both fire
    hid_err = errors(circuit, h_m, h_m < 1, h_s, h_s < 1)
    acc = lambda t: float((t.argmin(1) == y).double().mean())
    rail = (2 ** (cfg["bits"] - 1) - 1) * cfg["dac_range"] / 2 ** cfg["bits"] - 1e-12    # V: the DAC's last code
    return dict(spice_acc=acc(out_s), model_acc=acc(out_m), drawn_spice_acc=acc(out_d),
                sample_difference=int(round(abs(acc(out_s) - acc(out_m)) * len(y))),
                class_agreement=float((out_s.argmin(1) == out_m.argmin(1)).double().mean()),
                rmse_ns=out_err["rmse_ns"], mean_ns=out_err["mean_ns"], hidden_rmse_ns=hid_err["rmse_ns"],
                dac_codes_at_rail=int(sum((np.abs(g) >= rail).sum() for c in ready for g in (c.gate_pos, c.gate_neg))),
                seconds=time.time() - began)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("chips",))
    xtr, ytr, xte, yte = load_split(cfg["test_size"])
    x, y = xte[:cfg["test_samples"]], yte[:cfg["test_samples"]]
    seed_everything(args.seed)
    net = realised_net(cfg["hidden"], Sky130())
    iris_net.train_net(net, cfg, xtr, ytr, os.path.join(args.out, f"pnn_seed{args.seed}.pt"), "spice-chips pnn",
                   getattr(args, "quiet", False))
    net.eval()
    with torch.no_grad():
        nominal_acc = float((net(x).argmin(1) == y).double().mean())
    key = dict({k: v for k, v in cfg.items() if k != "chips"}, seed=args.seed,
               weights=[l.weight.detach().sum().item() for l in net.layers])
    key = {k: list(v) if isinstance(v, tuple) else v for k, v in key.items()}
    rows = []
    for k in range(cfg["chips"]):
        r = cached(os.path.join(args.out, f"spice_chip_{k}.json"), dict(key, chip=k), lambda: one_chip(net, cfg, k, args.seed, x, y))
        rows.append(r)
        print(f"spice-chips: chip {k + 1}/{cfg['chips']}: SPICE {100 * r['spice_acc']:.2f} %, model "
              f"{100 * r['model_acc']:.2f} % ({r['sample_difference']} samples apart), RMSE {np.nan if r['rmse_ns'] is None else r['rmse_ns']:.2f} ns, "
              f"as drawn {100 * r['drawn_spice_acc']:.2f} % ({r['seconds']:.0f} s)", flush=True)
    col = lambda name: np.array([r[name] for r in rows if r[name] is not None] or [np.nan], float)
    summary = dict(spice_acc_mean=col("spice_acc").mean(), spice_acc_min=col("spice_acc").min(),
                   model_acc_mean=col("model_acc").mean(), drawn_spice_acc_mean=col("drawn_spice_acc").mean(),
                   drawn_spice_acc_min=col("drawn_spice_acc").min(),
                   max_sample_difference=int(col("sample_difference").max()),
                   rmse_ns_max=col("rmse_ns").max(), rmse_ns_mean=col("rmse_ns").mean())
    print(f"spice-chips: {len(rows)} chips: SPICE mean {100 * summary['spice_acc_mean']:.2f} % (min "
          f"{100 * summary['spice_acc_min']:.2f} %), model-to-SPICE at most {summary['max_sample_difference']} samples, "
          f"RMSE at most {summary['rmse_ns_max']:.2f} ns; as drawn {100 * summary['drawn_spice_acc_mean']:.2f} %")
    return write_results(args.out, "spice-chips", args.seed, cfg, started, nominal_model_acc=nominal_acc,
                         chips=rows, **{k: float(v) for k, v in summary.items()}, test_accuracy=float(summary["spice_acc_mean"]))
