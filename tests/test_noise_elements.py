"""A declared noise element is simulated: each one follows its source element (on where the source
is on, per synapse and in proportion to |w| on a synapse device), and is never silently dropped.

Each element is switched on and off in an otherwise equal circuit: the derived jitter and the sde
ensemble's spread grow with it, and agree with each other. Thermal noise is also checked against
the Ornstein-Uhlenbeck closed form Var V(T) = k T_K / C (1 - exp(-2 G T / C))."""
import math

import pytest
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve.jitter import spike_jitter
from circuitnet.solve.sde import sde_spike_times
from circuitnet.units import K_B

D = torch.float64
C, T, V0, VTH = 140e-15, 1e-6, 1.3, 0.428


def _circuit(noise, synapse="mos", gain=1.0):
    """The paper's two phases with a leak (on in both) and a discharger; ``noise``: names of the noise
    elements to declare: 'dis_shot', 'leak_thermal', 'syn_shot', 'syn_thermal'. ResetNoise is always
    there, so that every variant has some noise. ``gain`` scales the capacitance down (noise up)."""
    leak = cn.Leak("leak", G="20n", V_to=V0)
    dis = cn.NMOS("dis", I="130n", lam="0.177")
    if synapse == "mos":
        pos, neg = cn.NMOS("pos", lam="0.41"), cn.PMOS("neg", lam="0.75")
    else:
        pos, neg = cn.Resistive1T1R("pos", V_to=0.0), cn.Resistive1T1R("neg", V_to=1.8)
    els = [cn.Capacitor("Cm", C=C / gain), leak, dis, cn.ResetNoise()]
    els += {"dis_shot": lambda: [cn.ShotNoise(dis)], "leak_thermal": lambda: [cn.ThermalNoise(leak)],
            "syn_shot": lambda: [cn.ShotNoise(pos), cn.ShotNoise(neg)],
            "syn_thermal": lambda: [cn.ThermalNoise(pos), cn.ThermalNoise(neg)], None: list}[noise]()
    phases = [cn.Phase("accumulate", T, active=["leak"], synapses=True),
              cn.Phase("fire", T, active=["leak", "dis"], comparator=True)]
    return cn.NeuronCircuit(els, cn.Synapse(pos, neg), phases, reset_level=V0, threshold=VTH)


def _layer(seed=0, B=3, J=10, I=4):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, J, generator=g, dtype=D), 0.3 * torch.randn(I, J, generator=g, dtype=D) + 0.12


@pytest.mark.parametrize("noise, synapse, gain", [("dis_shot", "mos", 30.0), ("leak_thermal", "mos", 1.0),
                                                  ("syn_shot", "mos", 30.0), ("syn_thermal", "r1t1r", 1.0)])
def test_each_noise_element_adds_jitter_and_sde_spread(noise, synapse, gain):
    """The element on against off: the derived jitter grows by more than 5 % on every firing neuron, the
    sde spread (same seed, so the same Brownian draws) grows, and with the element on the spread of
    2000 paths matches the jitter within 10 % (the element's noise reaches both methods)."""
    t_in, w = _layer()
    on, off = compile_circuit(_circuit(noise, synapse, gain)), compile_circuit(_circuit(None, synapse, gain))
    assert on.has_noise
    t_on, sig_on, f_on = spike_jitter(on, t_in, w, steps=256)
    t_off, sig_off, f_off = spike_jitter(off, t_in, w, steps=256)
    assert torch.equal(f_on, f_off) and f_on.sum() >= 6
    assert torch.allclose(t_on, t_off)                    # noise leaves the noise-free path alone
    assert (sig_on[f_on] > 1.05 * sig_off[f_off]).all(), (sig_on[f_on] / sig_off[f_off]).min()
    R = 2000
    rep = lambda x: x.repeat_interleave(R, 0)
    s_on, fs_on = sde_spike_times(on, rep(t_in), w, dt=1 / 256, seed=3)
    s_off, fs_off = sde_spike_times(off, rep(t_in), w, dt=1 / 256, seed=3)
    sd_on, sd_off = s_on.view(-1, R, w.shape[0]).std(1), s_off.view(-1, R, w.shape[0]).std(1)
    all_fired = fs_on.view(-1, R, w.shape[0]).all(1) & fs_off.view(-1, R, w.shape[0]).all(1) & f_on
    assert all_fired.sum() >= 6
    assert (sd_on[all_fired] > 1.03 * sd_off[all_fired]).all()
    ratio = sd_on[all_fired] / sig_on[all_fired]
    assert ((ratio - 1).abs() < 0.10).all(), ratio


def _v_at_end_of_first_phase(circ, t_in, w, paths, seed=0):
    rec = []
    sde_spike_times(compile_circuit(circ), t_in.expand(paths, -1), w, dt=1 / 256, seed=seed, record=rec)
    v = [x for t, x in rec if torch.as_tensor(t).sub(1.0).abs().max() < 1e-12]
    assert v, "no record at the end of the first phase"
    return (VTH - V0) * v[0][:, 0]          # physical V - V0


def test_leak_thermal_noise_is_the_ornstein_uhlenbeck_variance():
    """A leak to the reset level alone in the first phase: Var V(T) = k T_K / C (1 - exp(-2 G T / C))."""
    G = 70e-9
    leak = cn.Leak("leak", G=G, V_to=V0)
    circ = cn.NeuronCircuit([cn.Capacitor("Cm", C=C), leak, cn.ThermalNoise(leak), cn.NMOS("dis", I="130n")],
                            cn.Synapse(cn.NMOS("pos"), cn.PMOS("neg")),
                            [cn.Phase("acc", T, active=["leak"], synapses=True),
                             cn.Phase("fire", T, active=["dis"], comparator=True)], reset_level=V0, threshold=VTH)
    V = _v_at_end_of_first_phase(circ, torch.full((1, 1), math.inf, dtype=D), torch.zeros(1, 1, dtype=D), 20000)
    expect = K_B * 300 / C * (1 - math.exp(-2 * G * T / C))
    assert V.mean().abs().item() < 4 * math.sqrt(expect / 20000)
    assert V.var().item() == pytest.approx(expect, rel=0.05)


@pytest.mark.parametrize("w", [0.5, 2.0])
def test_synapse_thermal_noise_scales_with_the_weight(w):
    """One Resistive1T1R synapse on from t = 0 with G = |w| G_unit (G_unit = I_unit / |V_to - V0|):
    mean V(T) = V_to + (V0 - V_to) exp(-G T / C) and Var V(T) = k T_K / C (1 - exp(-2 G T / C))."""
    pos, neg = cn.Resistive1T1R("pos", V_to=0.0), cn.Resistive1T1R("neg", V_to=1.8)
    circ = cn.NeuronCircuit([cn.Capacitor("Cm", C=C), cn.ThermalNoise(pos), cn.NMOS("dis", I="130n")],
                            cn.Synapse(pos, neg),
                            [cn.Phase("acc", T, synapses=True), cn.Phase("fire", T, active=["dis"], comparator=True)],
                            reset_level=V0, threshold=VTH)
    G = w * (C * (V0 - VTH) / T) / V0
    V = _v_at_end_of_first_phase(circ, torch.zeros(1, 1, dtype=D), torch.full((1, 1), w, dtype=D), 20000)
    assert (V0 + V.mean()).item() == pytest.approx(V0 * math.exp(-G * T / C), abs=1e-4)
    assert V.var().item() == pytest.approx(K_B * 300 / C * (1 - math.exp(-2 * G * T / C)), rel=0.05)


def test_a_noise_element_listed_in_active_is_refused_with_what_to_write():
    dis = cn.NMOS("dis", I="130n")
    with pytest.raises(ValueError, match="'dis_shot' follows its source 'dis'.*list 'dis' in active="):
        cn.NeuronCircuit([cn.Capacitor("Cm", C=C), dis, cn.ShotNoise(dis)], cn.Synapse(cn.NMOS("pos"), cn.PMOS("neg")),
                         [cn.Phase("acc", T, synapses=True), cn.Phase("fire", T, active=["dis", "dis_shot"], comparator=True)],
                         reset_level=V0, threshold=VTH)


def test_noise_of_an_element_outside_the_circuit_is_refused():
    other = cn.Leak("other", G="1n")
    with pytest.raises(ValueError, match="source 'other' is not an element of this circuit"):
        cn.NeuronCircuit([cn.Capacitor("Cm", C=C), cn.NMOS("dis", I="130n"), cn.ThermalNoise(other)],
                         cn.Synapse(cn.NMOS("pos"), cn.PMOS("neg")),
                         [cn.Phase("acc", T, synapses=True), cn.Phase("fire", T, active=["dis"], comparator=True)],
                         reset_level=V0, threshold=VTH)


def test_the_paper_circuit_noise_follows_its_sources_phase_by_phase():
    """rc_spike(noise=True) lists no noise in active=: the discharger's shot noise flows in the fire phase
    only (where the discharger is on), the synapses' shot noise in the accumulate phase only."""
    c = cn.circuits.rc_spike(noise=True)
    assert all(not n.endswith("_shot") for p in c.phases for n in p.active)
    acc, fire = c.normalised
    assert acc.noise == 0 and fire.noise != 0
    assert acc.noise_pos != 0 and acc.noise_neg != 0 and fire.noise_pos == 0 and fire.noise_neg == 0
