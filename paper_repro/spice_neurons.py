"""spice-neurons: the realised sky130 RC-Spike model (method "exact") against ngspice ("spice")
on random neurons that took no part in the extraction, at fan-in 4 and 16-32.

Each neuron gets J input spike times t ~ U(0, 1) and weights with mixed signs (70 % positive),
scaled so that its ideal membrane v(1) = sum_j w_j (1 - t_j) lies in U(0.15, 0.85): its output spike
falls inside the firing window, where the comparison means something. The circuit of fan-in J is
``circuitnet.spice.realised_rc_spike(J)``; the layer's neurons share one input sample, as on a
crossbar. Reported: spike-time RMSE, mean error (SPICE - model) and max |error| in ns.
"""
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.solve import spike_times

from .common import write_results

D = torch.float64
# (fan-in, neurons, samples): the layer's neurons share each input sample, as on a crossbar
CFG = dict(plan=[(4, 10, 3), (16, 10, 1), (24, 10, 1), (32, 10, 1)])
QUICK = dict(plan=[(4, 5, 1), (16, 2, 1)])


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


def compare(fan_in, neurons, samples, seed, workers=None):
    """(model spike times, SPICE spike times, fired by both) for the random neurons above."""
    c = cn.spice.realised_rc_spike(fan_in)
    t, w = random_neurons(fan_in, neurons, samples, seed)
    ts, fs = spike_times(c, t, w, method="spice", workers=workers)
    tm, fm = spike_times(c, t, w, method="exact")
    return tm, ts, fs & fm, c


def errors_ns(tm, ts, both, circuit):
    d = ((ts - tm)[both] * circuit.time_unit * 1e9).numpy()
    return dict(rmse_ns=float(np.sqrt((d ** 2).mean())), mean_ns=float(d.mean()), max_abs_ns=float(np.abs(d).max()),
                n=int(d.size))


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
    dis = c.by_name["dis"]
    i_dis = c.value(dis.I)
    return dict(fan_in=fan_in, devices=dev, discharger=dict(
        current_nA=i_dis * 1e9, gate_V=float(tabs["dis"].gate_for(i_dis)), lam_per_V=c.value(dis.lam),
        E_dis=c.reversal("dis"), drain_capacitance_fF=tabs["dis"].capacitance * 1e15),
        node_capacitance_fF=c.value(c.capacitance) * 1e15, unit_current_nA=c.value(c.unit_current) * 1e9,
        E_pos_at_w=dict((str(w), c.reversal(c.synapse.positive, w)) for w in (0.1, 0.5, 1, 2, 4)),
        E_neg_at_w=dict((str(w), c.reversal(c.synapse.negative, w)) for w in (0.1, 0.5, 1, 2, 4)))


def run(args):
    started = time.time()
    plan = (QUICK if args.quick else CFG)["plan"]
    rows = []
    for k, (J, n, b) in enumerate(plan):
        tm, ts, both, c = compare(J, n, b, args.seed + 1000 * k)
        row = dict(fan_in=J, neurons=n * b, e_pos=c.e_pos, e_neg=c.e_neg, e_dis=c.reversal("dis"),
                   c_total_fF=c.value(c.capacitance) * 1e15, unit_current_nA=c.value(c.unit_current) * 1e9,
                   **errors_ns(tm, ts, both, c))
        rows.append(row)
        print(f"fan-in {J:2d}: RMSE {row['rmse_ns']:.2f} ns, mean {row['mean_ns']:+.2f} ns, "
              f"max {row['max_abs_ns']:.2f} ns over {row['n']} neurons", flush=True)
    big = [r for r in rows if r["fan_in"] >= 16]
    pooled = lambda rs: float(np.sqrt(sum(r["rmse_ns"] ** 2 * r["n"] for r in rs) / sum(r["n"] for r in rs)))
    return write_results(args.out, "spice-neurons", args.seed, dict(plan=plan), started, per_fan_in=rows,
                         extraction=extraction_report(),
                         rmse_fan_in_4_ns=pooled([r for r in rows if r["fan_in"] == 4]),
                         rmse_fan_in_16_32_ns=pooled(big) if big else None)
