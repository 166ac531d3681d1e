"""The paper's neuron circuits (docs/paper.md section 3, Table 2), declared with circuitnet elements."""
import math

from .neuron import NeuronCircuit, Phase, Synapse
from .elements import NMOS, PMOS, Capacitor, Leak, NMOSQuadratic, PMOSQuadratic, ResetNoise, ShotNoise, Transconductor
from .nodes import ChargeSynapse, MultiNodeCircuit
from .units import parse_value

# Table 2 of the paper (sky130, post-layout).
PAPER = dict(C="140f", T="1u", V0="1.3", V_th="0.428", lam_n="0.41", lam_p="0.75", lam_dis="0.177")


def ramp_current(C, T, V0, V_th, lam_dis):
    """Discharger current (A) that brings v from 0 to 1 in one phase T despite its CLM:
    dv/dt = a (1 - b v), b = |V_th - V0| lam_dis, a = -ln(1 - b) / b, I = a C |V_th - V0| / T."""
    swing = abs(V_th - V0)
    b = swing * lam_dis
    a = 1.0 if b == 0 else -math.log1p(-b) / b
    return a * C * swing / T


def _lam(e, swing):
    """CLM slope (1/V) that gives the normalised reversal potential |e|: |e| = 1 / (swing lam)."""
    return 0.0 if math.isinf(e) else 1.0 / (abs(e) * swing)


def _with_reversals(p, e_pos, e_neg, e_dis):
    """Replace lam_n / lam_p / lam_dis by the values that realise the given reversal potentials."""
    swing = abs(p["V_th"] - p["V0"])
    for key, e, sign in (("lam_n", e_pos, 1), ("lam_p", e_neg, -1), ("lam_dis", e_dis, 1)):
        if e is None:
            continue
        e = float(e)
        if not (sign * e > 0):
            raise ValueError(f"reversal potential for {key} must be {'> 0' if sign > 0 else '< 0'}, got {e}")
        p[key] = _lam(e, swing)
    return p


def rc_spike(firing="discharger", noise=False, e_pos=None, e_neg=None, e_dis=None, **overrides):
    """The RC-Spike neuron: accumulate (synapses on, T) then fire (discharger ramps v to threshold, T).

    firing: "discharger" (NMOS discharger with CLM lam_dis, calibrated to reach threshold in one phase
    from reset: docs/paper.md section 2, Eqs. 82-85) or "ideal" (lam_dis = 0: dv/dt = 1).
    noise: add shot noise on the synapses and discharger and kT/C reset noise.
    e_pos, e_neg, e_dis: normalised reversal potentials; when given they set lam_n, lam_p, lam_dis
    (E = +-inf: no CLM, the ideal neuron).
    overrides: any of C, T, V0, V_th, lam_n, lam_p, lam_dis (SI values or strings).
    The same neuron realised in SkyWater 130 nm transistors, every parameter extracted from ngspice:
    :func:`circuitnet.spice.realised_rc_spike`.
    """
    p = _rc_spike_parameters("rc_spike", firing, overrides, e_pos, e_neg, e_dis)
    return rc_spike_cycle(p, NMOS("pos", lam=p["lam_n"]), PMOS("neg", lam=p["lam_p"]), firing, noise)


def _rc_spike_parameters(who, firing, overrides, e_pos, e_neg, e_dis):
    """The paper's Table 2 values with ``overrides`` (SI) and the given reversal potentials, checked."""
    unknown = set(overrides) - set(PAPER)
    if unknown:
        raise ValueError(f"{who}: unknown parameter(s) {sorted(unknown)}; known: {sorted(PAPER)}")
    if firing not in ("discharger", "ideal"):
        raise ValueError(f"{who}: firing must be 'discharger' or 'ideal', got {firing!r}")
    return _with_reversals({k: parse_value(v, k) for k, v in {**PAPER, **overrides}.items()}, e_pos, e_neg, e_dis)


def rc_spike_cycle(p, pos, neg, firing, noise, dis=None, load=(), technology=None, always=()):
    """The RC-Spike cycle (accumulate, then fire) around the synapse devices pos, neg; ``dis``: the
    discharger (default: calibrated from p), ``load``: further elements on the node that no phase
    switches (capacitances, charge packets), ``always``: elements on in both phases (leakage)."""
    if dis is None:
        lam_dis = p["lam_dis"] if firing == "discharger" else 0.0
        dis = NMOS("dis", I=ramp_current(p["C"], p["T"], p["V0"], p["V_th"], lam_dis), lam=lam_dis)
    elements = [Capacitor("Cm", C=p["C"]), *load, *always, dis]
    if noise:
        elements += [ShotNoise(pos), ShotNoise(neg), ShotNoise(dis), ResetNoise()]
    on = [e.name for e in always]
    phases = [Phase("accumulate", p["T"], synapses=True, active=on),
              Phase("fire", p["T"], active=on + ["dis"], comparator=True)]
    return NeuronCircuit(elements, Synapse(pos, neg), phases, reset_level=p["V0"], threshold=p["V_th"],
                         technology=technology)


def ttfs(t_max=4.0, noise=False, e_pos=None, e_neg=None, **overrides):
    """The TTFS neuron (docs/paper.md section 2, TTFS variant): one phase of t_max time units in which the synapses
    conduct and the comparator fires the first time v crosses threshold. Inputs arrive in [0, t_max].
    e_pos, e_neg and overrides as for :func:`rc_spike`."""
    unknown = set(overrides) - set(PAPER)
    if unknown:
        raise ValueError(f"ttfs: unknown parameter(s) {sorted(unknown)}; known: {sorted(PAPER)}")
    if not float(t_max) > 0:
        raise ValueError(f"ttfs: t_max must be > 0, got {t_max}")
    p = _with_reversals({k: parse_value(v, k) for k, v in {**PAPER, **overrides}.items()}, e_pos, e_neg, None)
    pos = NMOS("pos", lam=p["lam_n"])
    neg = PMOS("neg", lam=p["lam_p"])
    elements = [Capacitor("Cm", C=p["C"])]
    if noise:
        elements += [ShotNoise(pos), ShotNoise(neg), ResetNoise()]
    phases = [Phase("integrate", float(t_max) * p["T"], synapses=True, comparator=True)]
    return NeuronCircuit(elements, Synapse(pos, neg), phases, reset_level=p["V0"], threshold=p["V_th"],
                         time_unit=p["T"])


def rc_spike_quadratic(lam2_n=-0.2, lam2_p=-0.2, firing="ideal", noise=False, e_pos=None, e_neg=None, e_dis=None,
                       **overrides):
    """A non-affine RC-Spike neuron: the paper's circuit with a second-order I_D(V_DS) term on both
    synapse devices (:class:`~circuitnet.elements.NMOSQuadratic`, :class:`~circuitnet.elements.PMOSQuadratic`):

        I_D = I (1 + lam x + lam2 x^2),   x = V_DS - V_DS0   (lam2 in 1/V^2)

    In normalised units (swing s = |V_th - V0|, reset v = 0, threshold v = 1) the synapse shapes become
        k_pos(v) = 1 - v/E_pos + lam2_n s^2 v^2,    k_neg(v) = 1 - v/E_neg + lam2_p s^2 v^2,
    quadratic in v, so the closed-form methods do not apply and method "dstd" takes the general
    path (circuitnet.solve.dstd_general). The default lam2 = -0.2 / V^2 (an illustrative
    curvature, not a fitted one) gives lam2 s^2 = -0.15: at threshold the positive synapse
    delivers 0.49 of its reset current instead of the affine 0.64.
    lam2 = 0 is numerically :func:`rc_spike` (still solved by the general path: the declared
    shape is quadratic). Other arguments as for :func:`rc_spike`.
    """
    p = _rc_spike_parameters("rc_spike_quadratic", firing, overrides, e_pos, e_neg, e_dis)
    pos = NMOSQuadratic("pos", lam=p["lam_n"], lam2=parse_value(lam2_n, "lam2_n"))
    neg = PMOSQuadratic("neg", lam=p["lam_p"], lam2=parse_value(lam2_p, "lam2_p"))
    return rc_spike_cycle(p, pos, neg, firing, noise)


def lif_current_synapse(tau_s="6u", tau_m="12u", C_syn="1p", C_mem="2p", rest="0.6", threshold="0.8", window=None,
                        time_unit=None):
    """The leaky integrate-and-fire neuron with an exponential current synapse (BrainScaleS-2's
    time-to-first-spike neuron, Goeltz et al. 2021), as two nodes in physical units:

        C_syn dV_syn/dt = G_syn (rest - V_syn) + Q_j delta(t - t_j)        tau_s = C_syn / G_syn
        C_mem dV_mem/dt = G_mem (rest - V_mem) + gm (V_syn - rest)         tau_m = C_mem / G_mem

    with gm = G_mem (a weight of 1 lifts the synaptic node by one swing, threshold - rest, and the
    membrane then follows V = sum_j w_j / C tau_m tau_s / (tau_m - tau_s) (e^-(t - t_j)/tau_m -
    e^-(t - t_j)/tau_s) in units of that swing, C = tau_m / T). Defaults: the chip's tau_s = 6 us and
    tau_m = 12 us, time unit tau_s, window (inputs and comparator) 4 time units."""
    tau_s, tau_m = parse_value(tau_s, "tau_s"), parse_value(tau_m, "tau_m")
    C_syn, C_mem = parse_value(C_syn, "C_syn"), parse_value(C_mem, "C_mem")
    T = parse_value(time_unit, "time_unit") if time_unit is not None else tau_s
    window = parse_value(window, "window") if window is not None else 4 * T
    G_mem = C_mem / tau_m
    return MultiNodeCircuit(
        nodes={"syn": rest, "mem": rest},
        elements=[Capacitor("C_syn", C=C_syn, node="syn"), Leak("G_syn", G=C_syn / tau_s, V_to=rest, node="syn"),
                  Capacitor("C_mem", C=C_mem, node="mem"), Leak("G_mem", G=G_mem, V_to=rest, node="mem"),
                  Transconductor("gm", gm=G_mem, V_ref=rest, node="mem", control="syn")],
        synapse=ChargeSynapse("syn"), comparator="mem", threshold=threshold, window=window, time_unit=T)
