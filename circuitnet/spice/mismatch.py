"""Device mismatch measured in ngspice: the spread of a device's current and CLM slope across many
instances drawn by the technology's mismatch models (Sky130(mismatch=True): MC_MM_SWITCH=1).

For a MOSFET biased at gate voltage Vg with its drain on the membrane node, ``n`` independent
instances in one netlist (each draws its own threshold shift) are swept over two drain voltages,
V_th and V0, and each instance gives the line |I_D|(V) = I (1 + s lam (V - V0)) through them (s = +1
nfet, -1 pfet; :mod:`circuitnet.spice.extract` fits the same line over 23 points, which are
collinear to 0.4 %). The spread of a quantity is its sd / mean over the instances. Results are
cached as JSON beside the device tables.
"""
import math

import numpy as np

from .extract import cached_json
from .runner import run


def measure_mismatch(tech, mos, vg, v_th, v0, n=400, seed=1):
    """Dict with current_spread, lam_spread, current_mean_ratio (mean over nominal), the correlation
    of I and lam, and the nominal I and lam, for ``mos`` (circuitnet.silicon.Mosfet) at gate bias vg."""
    from .technology import Sky130
    if not isinstance(tech, Sky130):
        raise ValueError(f"measure_mismatch: needs a Sky130 technology, got {tech!r}")
    if n < 2:
        raise ValueError(f"measure_mismatch: n must be >= 2 instances, got {n}")
    drawn = Sky130(tech.corner, tech.temperature, tech.vdd, mismatch=True, seed=seed)
    nominal = Sky130(tech.corner, tech.temperature, tech.vdd, mismatch=False)
    pol = tech.polarity(mos.model)
    s = "0" if pol > 0 else "vdd"
    geom = f"W={mos.W * 1e6:g} L={mos.L * 1e6:g}"

    def sweep(t, count):
        net = f"* circuitnet mismatch: {mos!r}\n{t.header()}\nVdd vdd 0 {t.vdd}\nVd d 0 {v0}\nVg g 0 {vg}\n"
        net += "".join(f"Vm{k} d d{k} 0\nX{k} d{k} g {s} {s} {mos.model} {geom}\n" for k in range(count))
        lo, hi = min(v_th, v0), max(v_th, v0)
        res = run(net, [f"i(vm{k})" for k in range(count)], f"dc Vd {lo:.6f} {hi:.6f} {hi - lo:.6f}")
        i = np.abs(np.stack([res[f"i(vm{k})"][:2] for k in range(count)]))        # [count, 2]: at lo, hi
        v = res["scale"][:2]
        at_v0 = i[:, int(np.argmin(np.abs(v - v0)))]
        slope = (i[:, 1] - i[:, 0]) / (v[1] - v[0])
        return at_v0, pol * slope / at_v0

    i, lam = sweep(drawn, n)
    i_nom, lam_nom = sweep(nominal, 1)
    return dict(device=mos.key, technology=drawn.key, vg=float(vg), n=int(n), seed=int(seed),
                current_nominal=float(i_nom[0]), lam_nominal=float(lam_nom[0]),
                current_spread=float(i.std(ddof=1) / i.mean()), lam_spread=float(lam.std(ddof=1) / lam.mean()),
                current_mean_ratio=float(i.mean() / i_nom[0]), correlation=float(np.corrcoef(i, lam)[0, 1]))


def device_mismatch(tech, mos, vg, v_th, v0, n=400, seed=1, refresh=False):
    """Cached :func:`measure_mismatch`."""
    name = f"mismatch_{tech.key}_{mos.key}_vg{vg:.4f}_{min(v_th, v0):.4f}-{max(v_th, v0):.4f}V_n{n}_s{seed}.json"
    return cached_json(name, lambda: measure_mismatch(tech, mos, vg, v_th, v0, n, seed), refresh)


def sky130_mismatch(circuit, n=400, seed=1):
    """The spreads SkyWater's mismatch models give the devices of a realised circuit
    (``circuitnet.spice.realised_rc_spike(...)``), as a dict element name -> measure_mismatch result:
    each synapse device biased for a unit weight (I_unit), every other device with silicon and a
    current ``I`` at that current."""
    from .extract import device_table
    tech = circuit.technology
    if tech is None:
        raise ValueError("sky130_mismatch: the circuit is not realised in a technology (circuitnet.spice.realised_rc_spike)")
    v_th, v0 = circuit.Vth_value, circuit.V0_value
    i_unit = float(circuit.value(circuit.capacitance)) * abs(v_th - v0) / circuit.time_unit
    devices = {circuit.synapse.positive.name, circuit.synapse.negative.name}
    out = {}
    for e in circuit.all_elements:
        if e.silicon is None or "I" not in e.parameters:
            continue
        current = i_unit if e.name in devices else e.values.get("I")
        if current is None or not current > 0 or math.isnan(current):
            continue
        vg = float(device_table(tech, e.silicon, v_th, v0).gate_for(current))
        out[e.name] = device_mismatch(tech, e.silicon, vg, v_th, v0, n, seed)
    return out
