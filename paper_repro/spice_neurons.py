"""spice-neurons: the realised sky130 RC-Spike model against ngspice ("spice") on random neurons that
took no part in any extraction, at the fan-in of real layers (4 to 784), in two regimes:

* "uniform" (``random_neurons``): J input spike times t ~ U(0, 1) and weights with mixed signs (70 %
  positive), scaled so that each neuron's ideal membrane v(1) = sum_j w_j (1 - t_j) lies in
  U(0.15, 0.85): its output spike falls inside the firing window;
* "gaussian" (``gaussian_neurons``): weights N(0.02 (64 / J), 0.15^2 (64 / J)), 45-48 % negative, as
  trained layers have them: many swing units of charge flow in and out while the net drive is small,
  and the membrane goes below reset.

* "trained" (with ``--nominal DIR``, a finished fmnist-mlp run): random neurons of the MLP's layers 1
  and 2 (fan-in 784 and 400) on the first test images of spice-layer's fixed order, driven by the
  pixels' spike times (layer 1; most pixels of an image are dark, t = 1, and the lit ones cluster)
  or by the model's hidden spike times (layer 2), with their trained weights;
* "digits" (with ``--digits DIR``, a finished digits run): the same for the small digits MLP's layers
  1 and 2 (fan-in 64 and 100) on its first test images (8x8 pixels, most of them dark or lit).

In all, the neurons compared are those that fire inside the window in SPICE and in the model (a
neuron already past threshold when the window opens fires at its start in both, and says nothing).

The circuit of fan-in J is ``circuitnet.spice.realised_rc_spike(J)``; the layer's neurons share one
input sample, as on a crossbar. Reported per regime and fan-in: spike-time RMSE, mean error
(SPICE - model) and max |error| in ns for the model (method "exact"), for the model with the
devices' I(V) curvature (``curvature=True``, method "ode", against its own SPICE run: its netlist
biases each device for its measured current at reset), and for model variants with one effect
taken out again, all against the same SPICE runs (the effect table of docs/spice.md):

* "without gate charge": no GateCharge packets (the gate edges' charge);
* "without leakage": no DeviceLeakage (the off devices' drain currents);
* "3-point capacitance": the devices' drain capacitance as the mean of C(V) at V_th, the middle and
  V0 (the earlier extraction) instead of its charge average; the physical currents are the same,
  so the weights are rescaled to the variant's weight unit;
* "before": all three (the model as it was before them).
"""
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.elements import DeviceCapacitance, DeviceLeakage, GateCharge
from circuitnet.solve import Spice, spike_times

from .common import configured, pyplot, save_figure, write_results
from .spike_errors import errors_ns

D = torch.float64
# (fan-in, neurons, samples): the layer's neurons share each input sample, as on a crossbar; a fan-in
# added later goes last, so that every earlier one keeps its draws (seed + 1000 k, k its place here)
CFG = dict(plan=[(4, 10, 3), (16, 10, 1), (32, 10, 1), (64, 8, 1), (128, 6, 1), (256, 4, 1), (784, 2, 1), (400, 4, 1)],
           gaussian=[(16, 10, 1), (64, 8, 1), (256, 6, 1), (400, 4, 1), (784, 3, 1)],
           trained=[(1, 4, 40), (2, 4, 40)], nominal=None, data=None,      # trained: (layer, images, neurons)
           digits_layers=[(1, 4, 25), (2, 4, 10)], digits=None)
QUICK = dict(plan=[(4, 5, 1), (16, 2, 1)], gaussian=[(16, 4, 1)], trained=[(1, 1, 2), (2, 1, 2)],
             digits_layers=[(1, 1, 3), (2, 1, 2)])
VARIANTS = ("model", "without gate charge", "without leakage", "3-point capacitance", "before")
CURVED = "with curvature (ode)"


def random_neurons(fan_in, neurons, samples, seed):
    """Inputs t_in [samples, fan_in] and weights [neurons, fan_in] as in the module docstring: each
    neuron's magnitudes U(0.2, 1) with 70 % positive signs are redrawn until the positive drive
    dominates (sum_j w_j (1 - t_j) >= 0.4 sum_j |w_j| (1 - t_j)), then scaled to its target v(1)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(samples, fan_in, generator=g, dtype=D)
    rows = []
    for _ in range(neurons):                      # data generation, not a hot path
        while True:
            sign = torch.where(torch.rand(fan_in, generator=g, dtype=D) < 0.7, 1.0, -1.0)
            w = sign * (0.2 + 0.8 * torch.rand(fan_in, generator=g, dtype=D))
            drive, mass = (w * (1 - t[0])).sum(), (w.abs() * (1 - t[0])).sum()
            if drive >= 0.4 * mass:
                break
        target = 0.15 + 0.7 * torch.rand((), generator=g, dtype=D)
        rows.append(w * target / drive)
    return t, torch.stack(rows)


def gaussian_neurons(fan_in, neurons, samples, seed):
    """Inputs t_in [samples, fan_in] ~ U(0, 1) and weights [neurons, fan_in] ~ N(0.02 (64 / J), 0.15^2 (64 / J))
    (the "gaussian" regime of the module docstring: about 45 % negative at J = 64, 48 % at 784; the
    mean net drive sum_j w_j (1 - t_j) is 0.64 at every fan-in, the charge in and out grows as sqrt(J))."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(samples, fan_in, generator=g, dtype=D)
    r = 64 / fan_in
    return t, 0.02 * r + 0.15 * r ** 0.5 * torch.randn(neurons, fan_in, generator=g, dtype=D)


REGIMES = {"uniform": random_neurons, "gaussian": gaussian_neurons}


def trained_neurons(cfg, layers):
    """[(fan-in, t_in [images, fan-in], weights [neurons, fan-in])] of the "trained" regime: per
    (layer, images, neurons) of ``layers``, random neurons (seed 1234 + layer) of that layer of the
    fmnist-mlp run cfg["nominal"] on its first test images (spice_runs.test_images), driven by the
    pixels' spike times (layer 1) or by the model's spike times of the layer before."""
    from .spice_runs import nominal_network, test_images
    net, ncfg = nominal_network(cfg, "spice-neurons")
    return _layer_neurons(net, ncfg, lambda images: test_images(dict(cfg, images=images), ncfg)[0], layers)


def digits_neurons(cfg, layers):
    """The same (``trained_neurons``) for the "digits" regime: the digits run cfg["digits"] on the first
    test images of paper_repro.data.load_digits."""
    from .data import load_digits
    from .runs import load_run
    try:
        net, ncfg = load_run(cfg["digits"])
    except FileNotFoundError as e:
        raise SystemExit(f"spice-neurons: --digits: {e}") from None
    x = load_digits().x_test.double()
    deepest = max(layer for layer, _, _ in layers)
    if (ncfg.get("arch") != "mlp" or len(net.spiking_layers) < deepest
            or net.spiking_layers[0].weight.shape[1] != x[0].numel()):
        raise SystemExit(f"spice-neurons: --digits {cfg['digits']} is not a digits MLP run (64 inputs, at least "
                         f"{deepest} layers; python -m paper_repro digits)")
    return _layer_neurons(net.double().eval(), ncfg, lambda images: x[:images], layers)


def _layer_neurons(net, ncfg, images_of, layers):
    from .classify_net import inputs
    out = []
    for layer, images, neurons in layers:
        x = images_of(images)
        with torch.no_grad():
            t0 = inputs(ncfg, x).double()
            t = t0 if layer == 1 else net(t0, all_times=True)[1][layer - 2].double()
        w = net.spiking_layers[layer - 1].weight.detach().double()
        pick = torch.randperm(w.shape[0], generator=torch.Generator().manual_seed(1234 + layer))[:neurons]
        out.append((int(w.shape[1]), t, w[pick]))
    return out


def _redeclared(c, drop=(), device_capacitance=None):
    """The realised circuit c declared again without the elements of the classes ``drop`` and, if
    given, with the DeviceCapacitance set to ``device_capacitance`` (F)."""
    keep = [e for e in c.elements if not isinstance(e, drop)]
    if device_capacitance is not None:
        keep = [DeviceCapacitance(e.name, C=device_capacitance) if isinstance(e, DeviceCapacitance) else e
                for e in keep]
    names = {e.name for e in keep}
    phases = [cn.Phase(p.name, p.duration, active=[a for a in p.active if a in names], synapses=p.synapses,
                       comparator=p.comparator, reset=p.reset) for p in c.phases]
    return cn.NeuronCircuit(keep, c.synapse, phases, reset_level=c.V0_value, threshold=c.Vth_value,
                            temperature=c.temperature, time_unit=c.time_unit, technology=c.technology,
                            threshold_offset=c.threshold_offset)


def variants(c, fan_in):
    """{name: (circuit, weight scale)} of VARIANTS for c = realised_rc_spike(fan_in): the weight scale
    maps a weight of c to the variant's weight unit (the same device current, in A)."""
    from circuitnet.spice.simulate import realised_tables
    tabs = realised_tables(c, c.technology)
    mean3 = lambda tab: float(np.mean(np.asarray(tab.data["capacitance_at"])[[0, len(tab.data["capacitance_at"]) // 2, -1]]))
    c3 = fan_in * (mean3(tabs["pos"]) + mean3(tabs["neg"])) + mean3(tabs["dis"])
    scale = lambda v: c.value(c.unit_current) / v.value(v.unit_current)
    out = {"model": c, "without gate charge": _redeclared(c, (GateCharge,)),
           "without leakage": _redeclared(c, (DeviceLeakage,)),
           "3-point capacitance": _redeclared(c, device_capacitance=c3),
           "before": _redeclared(c, (GateCharge, DeviceLeakage), device_capacitance=c3)}
    return {k: (v, scale(v)) for k, v in out.items()}


def extraction_report(fan_in=5):
    """The extracted parameters beside the paper's Table 2 (docs/paper.md): lambda and E of the synapse
    devices at a few bias currents, the discharger, device capacitances, the weight unit."""
    from circuitnet.spice.simulate import realised_tables
    c = cn.spice.realised_rc_spike(fan_in)
    tabs = realised_tables(c, c.technology)
    swing = abs(c.Vth_value - c.V0_value)
    currents = [15.7e-9, 30e-9, 103e-9, 319e-9, 880e-9]
    dev = {}
    for name in ("pos", "neg"):
        t = tabs[name]
        lam = t.lam_at(np.array(currents))
        dev[name] = dict(current_nA=[i * 1e9 for i in currents], gate_V=t.gate_for(np.array(currents)).tolist(),
                         lam_per_V=lam.tolist(), E=[(1 if name == "pos" else -1) / (swing * x) for x in lam],
                         drain_capacitance_fF=t.capacitance * 1e15)
    from circuitnet.spice.extract import gate_charge_table, off_leakage
    for name in ("pos", "neg"):
        mos = c.by_name[name].silicon
        q = gate_charge_table(c.technology, mos, c.Vth_value, c.V0_value)
        dev[name]["gate_charge_fC"] = np.interp(np.log(currents), np.log(q["current"]), q["charge"]).__mul__(1e15).tolist()
        dev[name]["off_leakage_pS"] = off_leakage(c.technology, mos, c.Vth_value, c.V0_value)["G"] * 1e12
    dis = c.by_name["dis"]
    i_dis = c.value(dis.I)
    return dict(fan_in=fan_in, devices=dev, discharger=dict(
        current_nA=i_dis * 1e9, gate_V=float(tabs["dis"].gate_for(i_dis)), lam_per_V=c.value(dis.lam),
        E_dis=c.reversal("dis"), drain_capacitance_fF=tabs["dis"].capacitance * 1e15,
        gate_charge_fC=c.value(c.by_name["dis_gate"].q) * 1e15),
        node_capacitance_fF=c.value(c.capacitance) * 1e15, unit_current_nA=c.value(c.unit_current) * 1e9,
        E_pos_at_w=dict((str(w), c.reversal(c.synapse.positive, w)) for w in (0.1, 0.5, 1, 2, 4)),
        E_neg_at_w=dict((str(w), c.reversal(c.synapse.negative, w)) for w in (0.1, 0.5, 1, 2, 4)))


def _window_errors(tm, ts, both, circuit):
    """errors_ns over the neurons that fire inside the window in both (not at its opening)."""
    return errors_ns(tm, ts, both & (ts > 0) & (tm > 0), circuit)


def measure(t, w, workers=None):
    """Errors (errors_ns) of every variant and of the curved model against SPICE runs of neurons w
    [neurons, J] on inputs t [samples, J], and the seconds of SPICE per neuron-sample (of the model's netlist)."""
    fan_in = int(w.shape[1])
    c = cn.spice.realised_rc_spike(fan_in)
    began = time.time()
    ts, fs = spike_times(c, t, w, method=Spice(workers=workers))
    spice_s = time.time() - began
    out = {}
    for name, (v, scale) in variants(c, fan_in).items():
        tm, fm = spike_times(v, t, w * scale, method="exact")
        out[name] = _window_errors(tm, ts, fs & fm, c)
    cq = cn.spice.realised_rc_spike(fan_in, curvature=True)
    tq, fq = spike_times(cq, t, w, method=Spice(workers=workers))
    tm, fm = spike_times(cq, t, w, method="ode")
    out[CURVED] = _window_errors(tm, tq, fq & fm, cq)
    return out, spice_s / (w.shape[0] * t.shape[0]), c


def _plot(path, rows):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    J = [r["fan_in"] for r in rows]
    for name, style in (("before", "o--"), ("model", "s-"), (CURVED, "^-")):
        mean = [np.nan if r["variants"][name]["mean_ns"] is None else r["variants"][name]["mean_ns"] for r in rows]
        rmse = [np.nan if r["variants"][name]["rmse_ns"] is None else r["variants"][name]["rmse_ns"] for r in rows]
        ax.plot(J, rmse, style, label=f"{name}: RMSE")
        ax.plot(J, mean, style, alpha=0.5, label=f"{name}: mean (SPICE - model)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("fan-in (inputs per neuron)")
    ax.set_ylabel("spike-time error (ns)")
    ax.set_title("sky130 model vs ngspice, held-out random neurons")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _rows(draws, regime):
    """One row per (t_in, weights) of ``draws``: measure's errors of the model, its variants and the curved model."""
    rows = []
    for t, w in draws:
        J, n, b = int(w.shape[1]), int(w.shape[0]), int(t.shape[0])
        errs, spice_s, c = measure(t, w)
        rows.append(dict(fan_in=J, neurons=n * b, spice_s_per_neuron_sample=spice_s,
                         e_pos=c.e_pos, e_neg=c.e_neg, e_dis=c.reversal("dis"),
                         c_total_fF=c.value(c.capacitance) * 1e15, unit_current_nA=c.value(c.unit_current) * 1e9,
                         **errs["model"], variants=errs))
        print(f"{regime} fan-in {J:3d}: " + ", ".join(f"{name} {e['rmse_ns']:.2f} / {e['mean_ns']:+.2f}"
                                                     for name, e in errs.items() if e["n"])
              + f" ns (RMSE / mean, {errs['model']['n']} of {n * b} neuron-samples fire inside the window, "
                f"SPICE {spice_s:.1f} s each)", flush=True)
    return rows


def _worst(rows, name):
    """The largest RMSE, |mean| and max |error| (ns) of variant ``name`` over the rows that compared any
    neuron (None where none did)."""
    es = [r["variants"][name] for r in rows if r["variants"][name]["n"]]
    return None if not es else dict(worst_rmse_ns=max(e["rmse_ns"] for e in es),
                                    worst_abs_mean_ns=max(abs(e["mean_ns"]) for e in es),
                                    worst_max_abs_ns=max(e["max_abs_ns"] for e in es))


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("nominal", "data", "digits"))
    drawn = lambda regime, plan, shift: [REGIMES[regime](J, n, b, args.seed + 1000 * k + shift)
                                         for k, (J, n, b) in enumerate(plan)]
    digits = None if cfg["digits"] is None else digits_neurons(cfg, cfg["digits_layers"])   # a bad run stops here
    by_fan_in = lambda rows: sorted(rows, key=lambda r: r["fan_in"])
    per_regime = {"uniform": by_fan_in(_rows(drawn("uniform", cfg["plan"], 0), "uniform")),
                  "gaussian": by_fan_in(_rows(drawn("gaussian", cfg["gaussian"], 500), "gaussian"))}
    if cfg["nominal"] is not None:
        per_regime["trained"] = _rows([(t, w) for _, t, w in trained_neurons(cfg, cfg["trained"])], "trained")
    if digits is not None:
        per_regime["digits"] = _rows([(t, w) for _, t, w in digits], "digits")
    rows = per_regime["uniform"]
    _plot(f"{args.out}/error_vs_fan_in.png", rows)
    _plot(f"{args.out}/error_vs_fan_in_gaussian.png", per_regime["gaussian"])
    worst = lambda name, cap: max(r["variants"][name]["rmse_ns"] for r in rows if r["fan_in"] <= cap)
    summary = {regime: {name: _worst(rs, name) for name in ("model", CURVED)} for regime, rs in per_regime.items()}
    return write_results(args.out, "spice-neurons", args.seed, cfg, started,
                         per_fan_in=rows, per_regime=per_regime, summary=summary,
                         extraction=extraction_report(), variants=list(VARIANTS) + [CURVED],
                         rmse_ns={str(r["fan_in"]): r["rmse_ns"] for r in rows},
                         mean_ns={str(r["fan_in"]): r["mean_ns"] for r in rows},
                         worst_rmse_up_to_256_ns=worst("model", 256), worst_rmse_before_up_to_256_ns=worst("before", 256))
