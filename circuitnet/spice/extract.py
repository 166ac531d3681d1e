"""Device parameters the model needs, extracted from ngspice sweeps and cached.

For a MOSFET whose drain sits on the membrane node (V between the threshold V_th and the reset
level V0), a nested DC sweep of drain voltage and gate bias gives, per gate bias Vg, the line

    |I_D|(V) = I (1 + s lam x)      (least squares over V in [V_th, V0]; x = V - V0, s = +1 nfet, -1 pfet)

i.e. the current at reset I and the channel-length-modulation slope lam of the element's current
(NMOS: i = -I (1 + lam x), PMOS: i = I (1 - lam x)), and the residual of the line; and the parabola

    |I_D|(V) = I_r (1 + s lam_q x + kap x^2)    (least squares through the measured I_r = |I_D|(V0))

the devices' curvature kap (1/V^2) with its own slope lam_q. The line's I is its intercept (0.03-0.4 %
off the measured I_r): a line element is biased for its line's current at reset, a curved one for
the measured current (circuitnet.spice.netlist). Neurons with many mixed-sign inputs (tens of swing
units of charge in and out) see the curvature: it moved their spikes by 1-2 ns (docs/spice.md).
An AC analysis at 1 MHz with the device off gives its drain capacitance on the membrane C(V) (F)
at 17 voltages over [V_th, V0]; the table keeps its charge average int C dV / (V0 - V_th) (the
capacitance that takes the node over the swing with the charge the devices really store: the
drain junctions' C(V) varies by +-8-14 %, and the mean of three points, used before, was 0.6 %
high for a crossbar point, which moved spikes by about 1.5 ns at fan-in 128). A transient gives the charge a gate edge pushes into the
drain at each bias (``gate_charge_table``, the GateCharge element of circuitnet.spice.realised). ``DeviceTable`` inverts I(Vg) (the weight -> gate-bias map)
and interpolates lam(Vg). Tables are cached as JSON under $CIRCUITNET_CACHE (default
~/.cache/circuitnet) per technology, corner, temperature, device geometry and voltage range.
"""
import json
import math
import os

import numpy as np

from .runner import run

VG_STEP = 0.005     # V
_NV = 23             # drain-voltage points over [V_th, V0]
_NC = 17             # drain voltages of the capacitance (AC) points


def cache_dir():
    d = os.environ.get("CIRCUITNET_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "circuitnet")
    os.makedirs(os.path.join(d, "spice"), exist_ok=True)
    return os.path.join(d, "spice")


class DeviceTable:
    """Extracted I(Vg) at the reset level, lam(Vg) of the line, lam_q(Vg) and kap(Vg) of the parabola
    (module docstring) and the off-state drain capacitance of one device."""

    def __init__(self, data):
        self.data = data
        self.vg = np.asarray(data["vg"])
        self.current = np.asarray(data["current"])
        self.lam = np.asarray(data["lam"])
        self.current_at_reset = np.asarray(data["current_at_reset"])
        self.lam_q, self.kap = np.asarray(data["lam_q"]), np.asarray(data["kap"])
        self.capacitance = float(data["capacitance"])
        self.off_gate = float(data["off_gate"])
        self.polarity = int(data["polarity"])
        self._maps = {}
        for measured, col in ((False, self.current), (True, self.current_at_reset)):
            ok = col > 0
            order = np.argsort(col[ok])
            self._maps[measured] = (np.log(col[ok][order]), self.vg[ok][order])

    @property
    def current_range(self):
        """(lowest, highest) extracted drain current at reset (A), the line's."""
        return self.range_for(False)

    def range_for(self, measured):
        """(lowest, highest) drain current at reset (A) of the line (its intercept) or, ``measured``, the device's own."""
        logi = self._maps[measured][0]
        return math.exp(logi[0]), math.exp(logi[-1])

    def gate_for(self, current, measured=False):
        """Gate bias (V) that sets the drain current at reset to ``current`` (A, array-like): the line's
        (its intercept) or, ``measured``, the device's own."""
        current = np.asarray(current, dtype=float)
        logi, vg = self._maps[measured]
        lo, hi = self.range_for(measured)
        if np.any(current < lo) or np.any(current > hi):
            bad = current[(current < lo) | (current > hi)]
            raise ValueError(f"device {self.data['device']}: current {bad.flat[0]:.3g} A is outside the "
                             f"extracted range [{lo:.3g}, {hi:.3g}] A (weight too large or too small)")
        return np.interp(np.log(current), logi, vg)

    def lam_at(self, current):
        """CLM slope lam (1/V) of the device biased for ``current`` (A) at reset."""
        return np.interp(self.gate_for(current), self.vg, self.lam)


def sweep_netlist(tech, mos, vg):
    """A netlist of the device alone, drain on source Vd (1 V), gate on source Vg (``vg``), for DC sweeps of either."""
    s = "0" if tech.polarity(mos.model) > 0 else "vdd"
    return (f"* circuitnet extraction: {mos!r}\n{tech.header()}\nVdd vdd 0 {tech.vdd}\nVd d 0 1\nVg g 0 {vg}\n"
            f"X1 d g {s} {s} {mos.model} W={mos.W * 1e6:g} L={mos.L * 1e6:g}\n")


def extract_device(tech, mos, v_th, v0):
    """Run the sweeps described in the module docstring; returns the table's data (dict)."""
    pol = tech.polarity(mos.model)
    lo, hi = min(v_th, v0), max(v_th, v0)
    vdd = tech.vdd
    g0, g1 = (0.25, 1.0) if pol > 0 else (vdd - 1.0, vdd - 0.25)
    ng = int(round((g1 - g0) / VG_STEP))
    dv = (hi - lo) / (_NV - 1)
    res = run(sweep_netlist(tech, mos, g0), ["i(vd)"],
              f"dc Vd {lo:.6f} {hi + dv / 2:.6f} {dv:.8f} Vg {g0:.4f} {g1 + VG_STEP / 2:.4f} {VG_STEP}")
    i = np.abs(res["i(vd)"]).reshape(ng + 1, -1)[:, :_NV]
    v = res["scale"].reshape(ng + 1, -1)[0, :_NV]
    vg = g0 + VG_STEP * np.arange(ng + 1)
    x = v - v0
    A = np.stack([np.ones_like(x), x], 1)
    coef, *_ = np.linalg.lstsq(A, i.T, rcond=None)          # [2, n_vg]: the line
    I0, slope = coef
    lam = pol * slope / I0
    resid = np.abs(A @ coef - i.T).max(0) / np.maximum(I0, 1e-30)
    at_reset = i[:, int(np.argmin(np.abs(x)))]               # the current at reset, measured
    y = (i / np.maximum(at_reset, 1e-30)[:, None] - 1).T     # [n_v, n_vg]: the relative change through it
    lin, kap = np.linalg.lstsq(np.stack([x, x ** 2], 1), y, rcond=None)[0]
    off = 0.0 if pol > 0 else vdd
    s = "0" if pol > 0 else "vdd"
    net = f"{tech.header()}\nVdd vdd 0 {vdd}\nVg g 0 {off}\n"
    bias = np.linspace(lo, hi, _NC)
    for k, vd in enumerate(bias):              # independent devices, one AC run
        net += f"Vd{k} d{k} 0 DC {vd} AC 1\nX{k} d{k} g {s} {s} {mos.model} W={mos.W * 1e6:g} L={mos.L * 1e6:g}\n"
    r = run(net, [f"i(vd{k})" for k in range(_NC)], "ac lin 1 1meg 1meg")
    caps = np.array([abs(r[f"i(vd{k})"][0].imag) / (2 * math.pi * 1e6) for k in range(_NC)])
    charge = float(np.trapezoid(caps, bias) / (hi - lo))       # Q(V0) - Q(V_th) over the swing
    return dict(device=mos.key, technology=tech.key, polarity=pol, v_th=v_th, v0=v0, vg=vg.tolist(),
                current=I0.tolist(), lam=lam.tolist(), line_residual=resid.tolist(),
                current_at_reset=at_reset.tolist(), lam_q=(pol * lin).tolist(), kap=kap.tolist(),
                capacitance=charge, capacitance_at=caps.tolist(), capacitance_v=bias.tolist(), off_gate=off)


def cached_json(name, compute, refresh=False):
    """The JSON data cached under ``name`` in cache_dir(), or compute() written there first."""
    path = os.path.join(cache_dir(), name)
    if not refresh and os.path.exists(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass                      # a damaged cache entry is re-extracted
    data = compute()
    tmp = path + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return data


def device_table(tech, mos, v_th, v0, refresh=False):
    """Cached :func:`extract_device` as a :class:`DeviceTable`."""
    name = f"{tech.key}_{mos.key}_{min(v_th, v0):.4f}-{max(v_th, v0):.4f}V_r.json"     # _r: through the current at reset
    try:
        return DeviceTable(cached_json(name, lambda: extract_device(tech, mos, v_th, v0), refresh))
    except KeyError:                  # an entry of another layout
        return DeviceTable(cached_json(name, lambda: extract_device(tech, mos, v_th, v0), True))


GATE_EDGE = 1e-9          # s: the gate ramp of the charge probe (the netlist's default edge)
GATE_CURRENTS = 15        # probe currents, log-spaced over the device table's range


def extract_gate_charge(tech, mos, v_th, v0):
    """The charge (C, into the drain node) a gate edge from off to the bias of current I at reset
    pushes through the device's drain, at I log-spaced over the extracted range.

    One transient: per current a device with its drain held at the mid-swing voltage (V_th + V0)/2
    by a source, its gate ramped from off to the bias in GATE_EDGE; the charge is the integral of
    that source's current minus the device's DC current at the instantaneous gate voltage (a DC
    sweep of the gate), over the edge and 2 ns after it (quasi-static charge: nothing flows later).
    Measured so on sky130 (W = 1 um): nfet 0.09-0.25 fC, pfet -0.04 to -0.17 fC from 0.5 nA to 2 uA,
    the same within 3 % at any drain voltage in [V_th, V0], and the switch-off edge takes it back to 0.3 %."""
    tab = device_table(tech, mos, v_th, v0)
    pol, vdd = tab.polarity, tech.vdd
    s = "0" if pol > 0 else "vdd"
    vd = 0.5 * (v_th + v0)
    lo, hi = tab.current_range
    currents = np.exp(np.linspace(math.log(lo) + 0.05, math.log(hi) - 0.05, GATE_CURRENTS))
    gates = tab.gate_for(currents)
    t0, settle = 2e-9, 2e-9
    net = f"{tech.header()}\nVdd vdd 0 {vdd}\n"
    for k, vg in enumerate(gates):
        net += (f"Vd{k} d{k} 0 {vd}\nVg{k} g{k} 0 PWL(0 {tab.off_gate} {t0} {tab.off_gate} {t0 + GATE_EDGE} {vg:.6f})\n"
                f"X{k} d{k} g{k} {s} {s} {mos.model} W={mos.W * 1e6:g} L={mos.L * 1e6:g}\n")
    t_end = t0 + GATE_EDGE + settle
    tr = run(net, [f"i(vd{k})" for k in range(len(gates))] + [f"v(g{k})" for k in range(len(gates))],
             f"tran 1p {t_end} 0 5p")
    dc = run(sweep_netlist(tech, mos, 0.0).replace("Vd d 0 1", f"Vd d 0 {vd}"), ["i(vd)"], "dc Vg 0 1.8 0.0005")
    t = tr["scale"]
    m = t >= t0
    charges = []
    for k in range(len(gates)):
        i = tr[f"i(vd{k})"] - np.interp(tr[f"v(g{k})"], dc["scale"], dc["i(vd)"])
        charges.append(float(np.trapezoid(i[m], t[m])))
    return dict(device=mos.key, technology=tech.key, polarity=pol, v_th=v_th, v0=v0, drain_voltage=vd,
                edge=GATE_EDGE, current=currents.tolist(), gate=np.asarray(gates).tolist(), charge=charges)


def edge_conduction(tab, currents, edge=GATE_EDGE):
    """tau(I) (s) of a device biased for each of ``currents`` (A) at reset whose gate ramps linearly
    over ``edge`` seconds between its off level and that bias: the conduction during the ramp over
    the current at its top (circuitnet.EdgeConduction),

        tau(I) = edge / |V_g(I) - V_off| * integral from V_off to V_g(I) of I_dc(V) dV / I,

    I_dc the current at reset along the DeviceTable's gate sweep (no new SPICE run); below the sweep's
    low end the exponential tail of its first two points, I_low s (s its volts per e-fold). Measured
    so on sky130 (W = 1 um, 1 ns): 72-116 ps for the nfet from 0.5 uA down to 1 nA, 77-92 ps for the
    pfet, about n U_T / (dV_gate / edge)."""
    order = np.argsort(tab.current_at_reset)
    i_dc, vg = tab.current_at_reset[order], tab.vg[order]          # rising current, gate toward on
    i_dc, vg = i_dc[i_dc > 0], vg[i_dc > 0]
    slope = abs(vg[1] - vg[0]) / math.log(i_dc[1] / i_dc[0])        # V per e-fold at the low end
    tail = i_dc[0] * slope
    g = np.abs(vg - vg[0])
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (i_dc[1:] + i_dc[:-1]) * np.diff(g))]) + tail
    out = []
    for current in np.atleast_1d(np.asarray(currents, dtype=float)):
        gate = float(tab.gate_for(current, measured=True))
        at = abs(gate - vg[0])
        area = np.interp(at, g, cum)
        out.append(edge / abs(gate - tab.off_gate) * area / current)
    return np.asarray(out)


def gate_charge_table(tech, mos, v_th, v0, refresh=False):
    """Cached :func:`extract_gate_charge`: dict with "current" (A) and "charge" (C) lists."""
    name = f"{tech.key}_{mos.key}_{min(v_th, v0):.4f}-{max(v_th, v0):.4f}V_gate.json"
    return cached_json(name, lambda: extract_gate_charge(tech, mos, v_th, v0), refresh)


def extract_off_leakage(tech, mos, v_th, v0):
    """The device's drain current into the membrane with its gate off (A), a DC sweep of the drain
    over [V_th, V0], and the line through it: i_in(V) = G (V_to - V) (least squares). Measured so on
    sky130 (W = 1 um, L = 0.25 um): nfet -0.46 to -1.34 pA, pfet +1.39 to +0.51 pA, both close to
    lines of -1.0 pA/V: a crossbar point leaks like 2 pS toward about 0.89 V."""
    pol = tech.polarity(mos.model)
    off = 0.0 if pol > 0 else tech.vdd
    lo, hi = min(v_th, v0), max(v_th, v0)
    dv = (hi - lo) / (_NV - 1)
    res = run(sweep_netlist(tech, mos, off), ["i(vd)"], f"dc Vd {lo:.6f} {hi + dv / 2:.6f} {dv:.8f}")
    v, i = res["scale"][:_NV], res["i(vd)"][:_NV]
    slope, intercept = np.polyfit(v, i, 1)
    return dict(device=mos.key, technology=tech.key, v=v.tolist(), current=i.tolist(), G=float(-slope),
                V_to=float(intercept / -slope) if slope != 0 else None)


def off_leakage(tech, mos, v_th, v0, refresh=False):
    """Cached :func:`extract_off_leakage`: dict with the sweep and the line's G (S) and V_to (V)."""
    name = f"{tech.key}_{mos.key}_{min(v_th, v0):.4f}-{max(v_th, v0):.4f}V_off.json"
    return cached_json(name, lambda: extract_off_leakage(tech, mos, v_th, v0), refresh)
