"""spice-iris: the paper's model-vs-circuit test (docs/paper.md section 4) against ngspice.

The Iris network 5-5-3 (iris.py: 4 features + a bias spike -> 5 hidden -> 3 outputs) on the RC-Spike
circuit realised in SkyWater 130 nm (``circuitnet.spice.realised_rc_spike(J)``: each layer's
circuit has its own fan-in, 5 and 6, so its own device load), every parameter extracted from
ngspice sweeps. Both networks are then simulated transistor by transistor in ngspice, layer by
layer (each layer's SPICE spike times drive the next layer's synapse gates: ideal comparators
and gate drivers between layers, as in the pipelined circuit), on all 45 test samples.

* PNN-to-IMC: trained (method "exact") on the realised model itself, E(w) per synapse, device
  capacitance, calibrated discharger; weights -> currents with the circuit's own weight unit, no
  fitted scale.
* ANN-to-IMC: trained at |E| = 100 with the ideal ramp, then mapped with two current scales
  (positive, negative; 1 % grid, RMSE-optimal against the ANN's own output times), as the paper
  does against SPICE: the grid search runs on the realised model (method "exact", all training
  samples; it agrees with ngspice to about 1 ns), then a coordinate search in 1 % steps refines the
  pair against ngspice itself on the first ``spice_search_samples`` training samples
  (at most ``spice_search_evals`` network simulations).

Reported: output-layer spike-time RMSE against SPICE in ns (T = 1 us) for both (PNN: its model vs
SPICE; ANN-to-IMC: the ANN vs SPICE, the paper's measure, and the mapped model vs SPICE), accuracy
by SPICE spike times, and a plot of model and SPICE membrane traces.
"""
import os
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.solve.exact import membrane_exact
from circuitnet.solve.kernels import firing_time
from circuitnet.models import IrisNet, fit_current_scales, scale_weights_

from . import iris_net
from .common import configured, pyplot, seed_everything, write_results
from .iris_net import D, load_split, realised_net

CFG = dict({k: v for k, v in iris_net.CFG.items() if k != "seeds"}, test_samples=45, spice_search_samples=20,
           spice_search_evals=16)
QUICK = dict(epochs=40, test_samples=6, spice_search_samples=3, spice_search_evals=2)


def on_method(net, method, x):
    """Output and hidden spike times of ``net``'s weights with another method (net left unchanged)."""
    old = [l.method for l in net.layers]
    for l in net.layers:
        l.method = method
    try:
        with torch.no_grad():
            return net(x, all_times=True)[1]
    finally:
        for l, m in zip(net.layers, old):
            l.method = m


def refine_on_spice(net, x, target, s0, step, max_evals):
    """Coordinate search of the two current scales (s_pos, s_neg) in ``step``s from s0, against the
    output spike-time RMSE of ``net`` simulated in ngspice on x to ``target``: each round tries
    +-step on each scale and keeps the first improvement, until none improves or max_evals
    simulations were spent. net's weights are restored. Returns (scales, rmse, simulations)."""
    w0 = [l.weight.detach().clone() for l in net.layers]

    def rmse(s):
        with torch.no_grad():
            for layer, w in zip(net.layers, w0):
                layer.weight.copy_(w)
        scale_weights_(net, *s)
        return ((on_method(net, "spice", x)[1] - target) ** 2).mean().sqrt().item()

    best, err, evals = tuple(s0), rmse(s0), 1
    improved = True
    while improved and evals < max_evals:
        improved = False
        for cand in ((best[0] + step, best[1]), (best[0] - step, best[1]), (best[0], best[1] + step),
                     (best[0], best[1] - step)):
            if evals >= max_evals:
                break
            cand = tuple(round(c, 6) for c in cand)
            e = rmse(cand)
            evals += 1
            if e < err:
                best, err, improved = cand, e, True
                break
    with torch.no_grad():
        for layer, w in zip(net.layers, w0):
            layer.weight.copy_(w)
    return best, err, evals


def model_trace(circuit, t_in, weight, times):
    """v(t) of the realised model (closed form) at ``times`` (normalised, [0, 2]) for one sample:
    accumulation by membrane_exact up to each time, then the discharger's relaxation."""
    from circuitnet.solve.coefficients import affine_coefficients
    from circuitnet.compile import compile_circuit
    cc = compile_circuit(circuit)
    k = affine_coefficients(cc, cc.params(D))
    e_pos, e_neg = (k[e](weight.abs()) if callable(k[e]) else k[e] for e in ("e_pos", "e_neg"))
    out = []
    v1 = membrane_exact(t_in, weight, e_pos, e_neg, 1.0)
    g, f = k["fire_g"], k["fire_f"]
    for t in times:
        if t <= 1:
            out.append(membrane_exact(t_in, weight, e_pos, e_neg, max(float(t), 1e-9)))
        else:
            s = float(t) - 1
            out.append(g / f + (v1 - g / f) * torch.exp(-f * s) if float(f) > 0 else v1 + g * s)
    return torch.stack(out, -1)           # [B, I, n_t]


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK)
    tech = cn.spice.Sky130()
    xtr, ytr, xte, yte = load_split(cfg["test_size"])
    xte, yte = xte[:cfg["test_samples"]], yte[:cfg["test_samples"]]
    T_ns = 1e3                                              # one time unit = 1 us
    nets, row = {}, {}
    for name in ("pnn", "ann"):
        seed_everything(args.seed)
        if name == "pnn":
            model = realised_net(cfg["hidden"], tech)
        else:
            model = IrisNet(hidden=cfg["hidden"], method="exact", e_pos=cfg["e_ann"], e_neg=-cfg["e_ann"],
                            firing="ideal").to(D)

        iris_net.train_net(model, cfg, xtr, ytr, os.path.join(args.out, f"{name}.pt"), f"spice-iris {name}",
                       getattr(args, "quiet", False))
        model.eval()
        with torch.no_grad():
            target = model(xte)
        row[f"{name}_model_acc"] = (target.argmin(1) == yte).double().mean().item()
        if name == "ann":
            net = realised_net(cfg["hidden"], tech)
            net.load_state_dict(model.state_dict())
            sp, sn, _ = fit_current_scales(net, xtr, model(xtr).detach(), lo=cfg["scale_grid"][0],
                                           hi=cfg["scale_grid"][1], fine=cfg["scale_grid"][2])
            row["ann_scales_model"] = (sp, sn)
            xs = xtr[:cfg["spice_search_samples"]]
            with torch.no_grad():
                (sp, sn), _, row["ann_scale_simulations"] = refine_on_spice(
                    net, xs, model(xs), (sp, sn), cfg["scale_grid"][2], cfg["spice_search_evals"])
            scale_weights_(net, sp, sn)
            row["ann_scales"] = (sp, sn)
            with torch.no_grad():
                row["ann_mapped_model_rmse_vs_ann_ns"] = ((net(xte) - target) ** 2).mean().sqrt().item() * T_ns
        else:
            net = model
        nets[name] = net
        t0 = time.time()
        h_sp, out_sp = on_method(net, "spice", xte)
        row[f"{name}_spice_s"] = time.time() - t0
        h_m, out_m = on_method(net, "exact", xte)
        row[f"{name}_spice_acc"] = (out_sp.argmin(1) == yte).double().mean().item()
        row[f"{name}_rmse_ns"] = ((out_sp - target) ** 2).mean().sqrt().item() * T_ns
        row[f"{name}_hidden_rmse_ns"] = ((h_sp - h_m) ** 2).mean().sqrt().item() * T_ns
        if name == "ann":
            row["ann_mapped_rmse_ns"] = ((out_sp - out_m) ** 2).mean().sqrt().item() * T_ns
        print(f"{name}: model accuracy {100 * row[f'{name}_model_acc']:.2f} %, on SPICE "
              f"{100 * row[f'{name}_spice_acc']:.2f} %, output RMSE vs SPICE {row[f'{name}_rmse_ns']:.2f} ns "
              f"({row[f'{name}_spice_s']:.0f} s of ngspice)", flush=True)
    _plot(args.out, nets["pnn"], xte, tech)
    return write_results(args.out, "spice-iris", args.seed, cfg, started, **row,
                         rmse_ratio=row["ann_rmse_ns"] / max(row["pnn_rmse_ns"], 1e-12),
                         test_accuracy=row["pnn_spice_acc"])


def _plot(out, net, xte, tech):
    """Hidden-layer membranes of the PNN on the first test sample: model (lines) and SPICE (dots)."""
    layer = net.layers[0]
    t_in = IrisNet.with_bias(xte[:1])
    rec = []
    cn.solve.spike_times(layer.circuit, t_in, layer.weight.detach(), method="spice", record=rec)
    t_sp, V = rec[0]
    c = layer.circuit
    v_sp = (V[:, 0, :] - c.V0_value) / (c.Vth_value - c.V0_value)
    times = np.linspace(0, 2, 161)
    v_m = model_trace(c, t_in, layer.weight.detach(), times)[0]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i in range(v_m.shape[0]):
        ax.plot(times, v_m[i].numpy(), color=f"C{i}", lw=1.2, label=f"neuron {i}" if i < 5 else None)
        ax.plot(t_sp * 1e6, v_sp[:, i], ".", color=f"C{i}", ms=1.5)
    ax.axhline(1.0, color="k", ls=":", lw=0.8)
    ax.axvline(1.0, color="grey", lw=0.6)
    ax.text(0.5, 0.02, "accumulate", transform=ax.get_xaxis_transform(), ha="center")
    ax.text(1.5, 0.02, "fire", transform=ax.get_xaxis_transform(), ha="center")
    ax.set(xlabel="time (us)", ylabel="v = (V - V0)/(V_th - V0)",
           title="Iris hidden layer, PNN, test sample 0: model (lines) vs ngspice sky130 (dots)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "membrane_model_vs_spice.png"), dpi=120)
