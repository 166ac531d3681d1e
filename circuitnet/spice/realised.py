"""The paper's RC-Spike neuron realised in a technology's transistors, its parameters extracted
from ngspice (the model of the circuit that method "spice" simulates).

Units: SI (F, s, V, A); the declared circuit is normalised as any other (circuitnet.neuron).
"""
import math

import numpy as np

from ..circuits import PAPER, ramp_current, rc_spike_cycle
from ..elements import (FIT_DEGREE, NMOS, DeviceCapacitance, DeviceLeakage, EdgeConduction, FittedNMOS, FittedPMOS,
                        GateCharge, NMOSQuadratic)
from ..silicon import Mosfet
from ..units import parse_value
from .extract import device_table, edge_conduction, gate_charge_table, off_leakage
from .technology import Sky130

# Device geometry of the paper's circuit (Table 2): synapses W = 1 um, L = 0.25 um; discharger
# L = 0.5 um, which gives the paper's lambda_dis = 0.177 1/V (0.40 at L = 0.25 um).
SKY130_GEOMETRY = dict(synapse=("1u", "0.25u"), discharger=("1u", "0.5u"))


WEIGHT_RANGE = (0.001, 6.0)  # |w| over which the devices' lam(I) and Q(I) are fitted (fan-in 784 layers: |w| ~ 0.001-0.1)


def _fit_log_poly(current, value, i_unit, degree=3, low=None):
    """Coefficients (a0, ..., a_degree) of y(I) = sum_k a_k ln(I / i_unit)^k, least squares over the
    extracted points whose current is that of a |w| in WEIGHT_RANGE, or from ``low`` (A) up where
    given (the points just outside it too, so that the fit spans the range)."""
    k = np.argsort(current)
    i, y = np.asarray(current)[k], np.asarray(value)[k]
    lo, hi = WEIGHT_RANGE[0] * i_unit if low is None else low, WEIGHT_RANGE[1] * i_unit
    a = max(np.searchsorted(i, lo, side="right") - 1, 0)
    b = min(np.searchsorted(i, hi, side="left") + 1, len(i))
    coef = np.polynomial.polynomial.polyfit(np.log(i[a:b] / i_unit), y[a:b], degree)
    return [float(c) for c in coef]


def realised_rc_spike(fan_in, technology="sky130", noise=False, curvature=False, **overrides):
    """The paper's RC-Spike neuron (circuitnet.circuits.rc_spike) of a layer with ``fan_in`` inputs,
    realised in ``technology`` ("sky130" or a :class:`Sky130`), every device parameter extracted
    from ngspice sweeps (cached):

    * each synapse slot is a crossbar point holding an nfet (positive weights) and a pfet (negative
      ones), W = 1 um, L = 0.25 um; the discharger is an nfet W = 1 um, L = 0.5 um;
    * node capacitance C_total = C + fan_in (C_n + C_p) + C_dis, the extracted drain capacitances
      (DeviceCapacitance element), so one weight unit is I_unit = C_total |V_th - V0| / T;
    * synapse devices FittedNMOS / FittedPMOS: their CLM slope is a polynomial of degree 7 in ln(I / I_unit) fitted to
      the extracted lam(I) over |w| in WEIGHT_RANGE, so each synapse has its own E(w) (E_pos 2.8 at
      small weights, about 3.2 at 7 units; E_neg -1.5 to -2.4);
    * curvature=True: the synapse devices' I(V) as the parabola through the current at reset
      (circuitnet.spice.extract), lam_q(I) and kap(I) polynomials in ln(I / I_unit) like lam: no longer
      affine in v (methods ode and sde; exact and dstd refuse it), and within about 0.3 ns of ngspice
      where many mixed-sign inputs move charge in and out (the line: 1-2 ns; docs/spice.md); the
      discharger too (NMOSQuadratic); the netlist biases such devices for their measured current at reset;
    * the discharger: the current that ramps v from 0 to 1 in one phase (Eqs. 82-85 of the paper,
      docs/paper.md) with the lam_dis extracted at that current (fixed point of I -> lam(I));
    * gate-edge charge (GateCharge elements): each device's gate edge pushes a packet Q(I) into the
      membrane when it switches on and takes it back when it switches off (extracted by transient,
      circuitnet.spice.extract.gate_charge_table; for the synapses a cubic in ln(I / I_unit) fitted
      from the device's lowest current I_off up to |w| = 6). At fan-in 64-128 the switch-off of all
      synapses moves v by about 0.03, and their on/off asymmetry moved the spike by 5-20 ns before
      the model had them. A packet held below |w| = 0.001 at its value there (0.09 fC for the nfet,
      where a device biased at 33 pA pushes 0.065 fC) left the headline MLP's first layer 0.4 ns early
      against ngspice (many of its weights lie there; docs/spice.md);
    * conduction through the gate edges (EdgeConduction elements): a device whose gate ramps over the
      netlist's 1 ns edge conducts during the top of the ramp, I tau(I) more at each switch-on and
      each switch-off (extract.edge_conduction from the DC sweep, 72-144 ps; a cubic in ln(I / I_unit)
      for the synapses; the discharger's at its current). Without it the model was 0.27-0.29 ns late
      against ngspice at fan-in 4-64 (docs/spice.md);
    * the synapse devices' lowest current I_off, the low end of their extracted sweeps (about 33 pA
      for the nfet, 3.7 pA for the pfet): a weight below it leaves its device off in the model as in
      the netlist, which cannot bias it (a trained first layer has 2 % of its weights there; the model
      that kept their currents and gate packets was 2 ns early against ngspice; docs/spice.md);
    * off-state leakage (DeviceLeakage, on in both phases): every crossbar device and the discharger
      leak about 1 pS toward ground (nfet) or the supply (pfet) (extract.off_leakage), together
      a conductance of about 2 fan_in pS toward 0.89 V.
    """
    if isinstance(technology, str):
        if technology != "sky130":
            raise ValueError(f"realised_rc_spike: unknown technology {technology!r}; known: 'sky130' "
                             f"(or a Sky130(...) object)")
        technology = Sky130()
    if isinstance(fan_in, bool) or not isinstance(fan_in, int) or fan_in < 1:
        raise ValueError(f"realised_rc_spike: fan_in must be the layer's number of inputs (int >= 1), got {fan_in!r}")
    unknown = set(overrides) - {"C", "T", "V0", "V_th"}
    if unknown:
        raise ValueError(f"realised_rc_spike: unknown or extracted parameter(s) {sorted(unknown)} (lambda and E "
                         f"come from the devices); settable: C, T, V0, V_th")
    p = {k: parse_value(v, k) for k, v in {**PAPER, **overrides}.items()}
    tech = technology
    syn_w, syn_l = SKY130_GEOMETRY["synapse"]
    n_dev, p_dev = Mosfet(tech.nfet, syn_w, syn_l), Mosfet(tech.pfet, syn_w, syn_l)
    d_dev = Mosfet(tech.nfet, *SKY130_GEOMETRY["discharger"])
    tn, tp, td = (device_table(tech, d, p["V_th"], p["V0"]) for d in (n_dev, p_dev, d_dev))
    c_total = p["C"] + fan_in * (tn.capacitance + tp.capacitance) + td.capacitance
    swing = abs(p["V_th"] - p["V0"])
    i_unit = c_total * swing / p["T"]
    lam_dis, i_dis = float(td.lam_at(1e-7)), 0.0
    for _ in range(20):
        i_dis = ramp_current(c_total, p["T"], p["V0"], p["V_th"], lam_dis)
        lam_new = float(td.lam_at(i_dis))
        if abs(lam_new - lam_dis) < 1e-9:
            break
        lam_dis = lam_new
    i_min = WEIGHT_RANGE[0] * i_unit          # below the fit's range lam(I) is held at its value there
    poly = lambda name, current, values: {name + (str(n) if n else ""): a for n, a in enumerate(
        _fit_log_poly(current, values, i_unit, FIT_DEGREE))}
    fit = lambda tab: (dict(poly("lam", tab.current_at_reset, tab.lam_q), **poly("kap", tab.current_at_reset, tab.kap))
                       if curvature else poly("lam", tab.current, tab.lam)) | dict(I_ref=i_unit, I_min=i_min,
                                                                                    I_off=tab.range_for(curvature)[0])
    pos = FittedNMOS("pos", silicon=n_dev, **fit(tn))
    neg = FittedPMOS("neg", silicon=p_dev, **fit(tp))
    dis = NMOS("dis", I=i_dis, lam=lam_dis, silicon=d_dev)
    if curvature:                 # the discharger's own parabola at its measured current
        vg = float(td.gate_for(i_dis, measured=True))
        dis = NMOSQuadratic("dis", I=i_dis, lam=float(np.interp(vg, td.vg, td.lam_q)),
                            lam2=float(np.interp(vg, td.vg, td.kap)), silicon=d_dev)
    qn, qp, qd = (gate_charge_table(tech, d, p["V_th"], p["V0"]) for d in (n_dev, p_dev, d_dev))
    def packet(dev, tab):             # fitted from the device's lowest current up: held below it, where it is off
        i_off = dev.values["I_off"]
        return GateCharge(dev, I_ref=i_unit, I_min=i_off, **dict(zip(("q", "q1", "q2", "q3"), _fit_log_poly(
            tab["current"], tab["charge"], i_unit, low=i_off))))
    q_dis = float(np.interp(math.log(i_dis), np.log(qd["current"]), qd["charge"]))

    def conduction(dev, tab):         # tau(I) over the device's range, fitted like its packet
        i_off, (lo, hi) = dev.values["I_off"], tab.range_for(True)
        currents = np.exp(np.linspace(math.log(max(i_off, lo)) + 1e-9, math.log(hi) - 1e-9, 40))
        return EdgeConduction(dev, I_ref=i_unit, I_min=i_off, **dict(zip(("tau", "tau1", "tau2", "tau3"), _fit_log_poly(
            currents, edge_conduction(tab, currents), i_unit, low=i_off))))
    load = [DeviceCapacitance("Cdev", C=c_total - p["C"]), packet(pos, qn), packet(neg, qp), GateCharge(dis, q=q_dis),
            conduction(pos, tn), conduction(neg, tp), EdgeConduction(dis, tau=float(edge_conduction(td, [i_dis])[0]))]
    ln, lp, ld = (off_leakage(tech, d, p["V_th"], p["V0"]) for d in (n_dev, p_dev, d_dev))
    g = [fan_in * ln["G"], fan_in * lp["G"], ld["G"]]
    leak = DeviceLeakage("Ileak", G=sum(g), V_to=sum(x * l["V_to"] for x, l in zip(g, (ln, lp, ld))) / sum(g))
    return rc_spike_cycle(p, pos, neg, "discharger", noise, dis=dis, load=load, technology=tech, always=[leak])
