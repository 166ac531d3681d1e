"""A device's I(V) over the whole supply range as a separable fit: the knees near the rails.

A membrane driven by hundreds of mixed-sign synapses (a trained layer on real images) leaves the
threshold swing [V_th, V0] far, towards the rails, where an nfet synapse (near ground) or a pfet one
(near the supply) leaves saturation and its current falls off. The line and the parabola of
circuitnet.spice.extract, fitted over the swing, extrapolate there. Per gate bias, a nested DC sweep
of the drain over [0, V_dd] gives the current's relative change from its value at reset,

    r_I(V) = |I_D|(V) / I - 1      (I = |I_D|(V0), the measured current at reset; r_I(V0) = 0),

and over the table of bias currents the K leading right singular vectors of [r_I(V)] are shapes
phi_p(V) (1, each zero at V0) shared by every bias, with per-bias least-squares weights c_p(I):

    |I_D|(V) = I (1 + sum_p c_p(I) phi_p(V)),

a shape separable in the weight and the voltage, which method "ode" takes (circuitnet.compile).
Measured so on sky130 (W = 1 um, L = 0.25 um; docs/spice.md): with K = 3 a reference integrator of
first-layer neurons on real images comes within 1.22 ns of ngspice, where the line is 3.42 ns off
and the devices' real I(V) 1.37 ns.
"""
import numpy as np

from .extract import VG_STEP, sweep_netlist, cached_json, device_table
from .runner import run

DV = 0.01            # V: drain step of the full-range sweep


def extract_full_range(tech, mos, v_th, v0):
    """|I_D| (A) on the grid of the device table's gate biases x drain voltages 0, DV, ..., V_dd:
    dict(vg, v, current [n_vg][n_v], at_reset [n_vg])."""
    tab = device_table(tech, mos, v_th, v0)
    vg = tab.vg
    g0, g1 = float(vg[0]), float(vg[-1])
    vdd = tech.vdd
    res = run(sweep_netlist(tech, mos, g0), ["i(vd)"],
              f"dc Vd 0 {vdd + DV / 2:.6f} {DV} Vg {g0:.4f} {g1 + VG_STEP / 2:.4f} {VG_STEP}")
    n_v = int(round(vdd / DV)) + 1
    i = np.abs(res["i(vd)"]).reshape(len(vg), -1)[:, :n_v]
    v = res["scale"].reshape(len(vg), -1)[0, :n_v]
    at = i[:, int(np.argmin(np.abs(v - v0)))]
    return dict(device=mos.key, technology=tech.key, v_th=v_th, v0=v0, vg=vg.tolist(), v=v.tolist(),
                current=i.tolist(), at_reset=at.tolist())


def full_range_table(tech, mos, v_th, v0, refresh=False):
    """Cached :func:`extract_full_range`."""
    name = f"{tech.key}_{mos.key}_{min(v_th, v0):.4f}-{max(v_th, v0):.4f}V_full.json"
    return cached_json(name, lambda: extract_full_range(tech, mos, v_th, v0), refresh)


def relative_changes(data, current_range):
    """(I [n], V [n_v], r [n, n_v]): r_I(V) (module docstring) at the table's biases whose current at reset
    lies inside ``current_range`` (A)."""
    i, at = np.asarray(data["current"]), np.asarray(data["at_reset"])
    ok = (at >= current_range[0]) & (at <= current_range[1])
    order = np.argsort(at[ok])
    return at[ok][order], np.asarray(data["v"]), (i[ok] / at[ok][:, None] - 1)[order]


def separable_fit(r, k):
    """The K = ``k`` shapes phi [k, n_v] (the leading right singular vectors of r [n, n_v], sign fixed so that
    each is positive at its largest magnitude) and the least-squares weights c [n, k] of each row."""
    if not 1 <= k <= min(r.shape):
        raise ValueError(f"separable_fit: k must be in [1, {min(r.shape)}], got {k}")
    _, _, vt = np.linalg.svd(r, full_matrices=False)
    phi = vt[:k] * np.sign(vt[:k][np.arange(k), np.abs(vt[:k]).argmax(1)])[:, None]
    coef = np.linalg.lstsq(phi.T, r.T, rcond=None)[0].T
    return phi, coef
