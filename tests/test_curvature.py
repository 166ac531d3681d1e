"""Synapse devices whose I(V) bends (FittedNMOS / FittedPMOS declared with kap: a curvature that depends
on the device's own current): k(v; |w|) = 1 - beta(|w|) v + gamma(|w|) v^2, and any shape separable in
w and v (a cubic, a knee exp(-V / a)), honoured by method ode (and sde), refused with the reason by exact
and dstd; the realised sky130 model with curvature=True against ngspice on mixed-sign neurons."""
import numpy as np
import pytest
import sympy as sp
import torch
from scipy.integrate import solve_ivp

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import ODE, spike_times

D = torch.float64
LAM = dict(pos=(0.41, -0.012, -0.002), neg=(0.69, -0.06, -0.006))
KAP = dict(pos=(-0.006, -0.002, 0.0), neg=(0.03, -0.009, -0.001))


def circuit(kap=KAP):
    """RC-Spike with fitted devices lam(I), kap(I) = sum_k a_k ln(I / 100 nA)^k and an ideal constant discharger."""
    kw = lambda k: dict(**dict(zip(("lam", "lam1", "lam2"), LAM[k])), **dict(zip(("kap", "kap1", "kap2"), kap[k])),
                        I_ref="100n")
    return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.CurrentSource("dis", I="-140n")],
                            cn.Synapse(cn.FittedNMOS("pos", **kw("pos")), cn.FittedPMOS("neg", **kw("neg"))),
                            [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level="1.3", threshold="0.428")


def layer(seed=0, B=3, I=4, J=7):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, J, generator=g, dtype=D), 0.1 + 0.4 * torch.randn(I, J, generator=g, dtype=D)


def test_curvature_makes_the_shape_quadratic_and_only_ode_takes_it():
    curved, straight = compile_circuit(circuit()), compile_circuit(circuit(kap=dict(pos=(0, 0, 0), neg=(0, 0, 0))))
    assert curved.curved and not curved.affine and curved.weight_dependent
    assert not straight.curved and straight.affine          # kap all zero: the line, exact as before
    text = cn.solve.describe(circuit())
    assert "ode: yes" in text and "exact: no" in text and "dstd: no" in text
    t, w = layer()
    with pytest.raises(ValueError, match="affine"):
        spike_times(circuit(), t, w, method="exact")


class Cubic(cn.FittedNMOS):
    """A fitted nfet with a cubic term of its own."""
    def current(self, node):
        x = node.V - node.V0
        return -self.I * (1 + self.clm() * x + 0.01 * x ** 3)


class Knee(cn.FittedNMOS):
    """A fitted nfet whose current falls off near ground (a triode knee, 0.08 V wide), by an amount that
    depends on its own current: g(|w|) (exp(-V / 0.08) - exp(-V0 / 0.08)), nothing at reset."""
    def current(self, node):
        x, knee = node.V - node.V0, sp.exp(-node.V / 0.08) - sp.exp(-node.V0 / 0.08)
        return -self.I * (1 + self.clm() * x - (0.5 + 0.05 * sp.log(self.I / self.I_ref)) * knee)


def Spline(name, **kw):
    """A fitted nfet with a declared shape (circuitnet.elements.SHAPE_V): a piecewise cubic knee below 0.3 V, its
    weight c(I) = -0.4 + 0.03 ln(I / I_ref) (the form circuitnet.spice.knees fits to ngspice's sweeps)."""
    V = cn.elements.SHAPE_V
    knee = sp.Piecewise(((0.3 - V) ** 3 / 0.027, V < 0.3), (0, True))
    return cn.FittedNMOS(name, shapes=[(knee, (-0.4, 0.03))], **kw)


class Tangled(cn.FittedNMOS):
    """Not separable: the weight sits inside a function of v."""
    def current(self, node):
        return -self.I * (1 + self.clm() * (node.V - node.V0)) * sp.exp((node.V0 - node.V) * self.I / self.I_ref)


def _with_positive(device):
    c = circuit()
    return cn.NeuronCircuit(c.elements, cn.Synapse(device, c.synapse.negative), c.phases, reset_level="1.3",
                            threshold="0.428")


def _fitted(kind):
    return kind("pos", lam=0.4, lam1=0.01, I_ref="100n")


def test_separable_shapes_compile_into_terms_and_a_tangled_one_is_refused_by_name():
    cubic, knee = compile_circuit(_with_positive(_fitted(Cubic))), compile_circuit(_with_positive(_fitted(Knee)))
    assert cubic.curved and knee.curved and compile_circuit(_with_positive(_fitted(Spline))).curved
    phis = lambda cc: [str(e) for k, e in cc.phases[0].exprs.items() if k.endswith("_phi")]
    assert any("v**3" in p for p in phis(cubic)) and any("exp" in p for p in phis(knee))
    with pytest.raises(ValueError, match="pos synapse shape.*does not separate"):
        compile_circuit(_with_positive(_fitted(Tangled)))
    with pytest.raises(ValueError, match="each shape must be"):
        cn.FittedNMOS("pos", shapes=[(sp.Symbol("V") ** 2, (1.0,))], lam=0.4, I_ref="100n")


def _independent(c, t, w, dt):
    """ode's spike times against scipy (DOP853, rtol 1e-12) of dv/dtau = sum_j w_j k(v; |w_j|) H(tau - t_j),
    k read from the compiled full shape (not its separable terms), then the constant discharger: to 1e-8."""
    cc = compile_circuit(c)
    t_ode, fired = spike_times(c, t, w, method=ODE(dt=dt))
    consts = [ph.prepare(cc.params(D), t) for ph in cc.phases]
    acc, fire = cc.phases
    rate = fire.drift(torch.zeros(()), torch.zeros(()), torch.zeros(()), consts[1]).item()
    for b in range(t.shape[0]):
        for i in range(w.shape[0]):
            wi = w[i]

            def f(tau, y, on):
                v = torch.tensor(y[0], dtype=D)
                k = torch.where(wi > 0, acc.k_pos(v, 0, 0, consts[0], wi.abs()), acc.k_neg(v, 0, 0, consts[0], wi.abs()))
                return [float((wi * k)[on].sum()) + float(acc.drift(v, 0, 0, consts[0]))]
            edges = sorted({0.0, *t[b].tolist(), 1.0})
            v = 0.0
            for a, e in zip(edges[:-1], edges[1:]):
                on = torch.as_tensor(t[b].numpy() <= a)
                v = solve_ivp(f, (a, e), [v], args=(on,), rtol=1e-12, atol=1e-14, method="DOP853").y[0, -1]
            expect = min(max((1 - v) / rate, 0.0), 1.0)
            assert abs(float(t_ode[b, i]) - expect) < 1e-8, (b, i)


def test_ode_matches_an_independent_integration_of_the_quadratic_shapes():
    t, w = layer(B=2, I=3)
    _independent(circuit(), t, w, 1 / 512)


@pytest.mark.parametrize("kind", [Cubic, Knee, Spline])
def test_ode_matches_an_independent_integration_of_other_separable_shapes(kind):
    t, w = layer(seed=2, B=2, I=3)
    _independent(_with_positive(_fitted(kind)), t, w, 1 / 512)


def test_ode_gradients_through_a_knee_match_central_differences():
    t, w = layer(seed=3, B=2, I=2, J=5)
    t.requires_grad_(), w.requires_grad_()
    c = _with_positive(_fitted(Knee))
    f = lambda t, w: spike_times(c, t, w, method=ODE(dt=1 / 128))[0]
    assert torch.autograd.gradcheck(f, (t, w), eps=1e-6, atol=1e-6, rtol=1e-4)

def test_ode_gradients_match_central_differences():
    c = circuit()
    t, w = layer(seed=1)
    t.requires_grad_(), w.requires_grad_()
    f = lambda t, w: spike_times(c, t, w, method=ODE(dt=1 / 256))[0]
    assert torch.autograd.gradcheck(f, (t, w), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_realised_curvature_is_closer_to_ngspice_on_mixed_sign_neurons():
    """Held-out gaussian neurons (about 45 % negative weights, fan-in 16): the curved model (ode, its
    own netlist) against the line (exact) in ngspice."""
    from paper_repro.spice_neurons import gaussian_neurons
    from paper_repro.spike_errors import errors_ns
    t, w = gaussian_neurons(16, 16, 1, seed=77)
    out = {}
    for curvature, method in ((False, "exact"), (True, "ode")):
        c = cn.spice.realised_rc_spike(16, curvature=curvature)
        ts, fs = spike_times(c, t, w, method="spice")
        tm, fm = spike_times(c, t, w, method=method)
        assert bool((fs == fm).all())
        out[curvature] = errors_ns(tm, ts, fs & fm, c)
    assert out[True]["n"] >= 3
    assert out[True]["rmse_ns"] < 0.6 and out[True]["rmse_ns"] < out[False]["rmse_ns"]


def test_jitter_of_a_noisy_curved_circuit_matches_the_spread_of_sde_paths():
    """The linear-noise jitter carries the gamma sums too: its noise-free time is ode's, its sigma the
    spread of 200 sde paths (within 20 %)."""
    from circuitnet.solve.jitter import spike_jitter
    c = cn.spice.realised_rc_spike(8, noise=True, curvature=True)
    g = torch.Generator().manual_seed(3)
    t, w = torch.rand(1, 8, generator=g, dtype=D), 0.3 + 0.3 * torch.randn(3, 8, generator=g, dtype=D)
    t_j, sigma, fired = spike_jitter(compile_circuit(c), t, w, steps=256)
    t_o, f_o = spike_times(c, t, w, method="ode")
    paths = torch.stack([spike_times(c, t, w, method=cn.solve.SDE(dt=1 / 128, seed=k))[0] for k in range(200)])
    assert bool(fired.all()) and bool(f_o.all())
    assert torch.allclose(t_j, t_o, atol=1e-4)
    assert torch.allclose(sigma, paths.std(0), rtol=0.2)


def test_a_weight_below_the_measured_range_is_held_off_not_refused():
    """A curved device is biased by its measured current at reset, whose extracted range ends elsewhere
    than the line's: a weight under that range keeps its gate off (as for the line) instead of failing."""
    from circuitnet.spice.simulate import realised_tables
    c = cn.spice.realised_rc_spike(4, curvature=True)
    tab = realised_tables(c, c.technology)["neg"]
    lo = tab.range_for(True)[0]
    w = torch.tensor([[0.5, 0.3, 0.2, -0.999 * lo / c.value(c.unit_current)]], dtype=D)
    t = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=D)
    ts, fs = spike_times(c, t, w, method="spice")
    tm, fm = spike_times(c, t, w, method="ode")
    assert bool(fs.all()) and abs(float(ts - tm)) * c.time_unit < 1e-9


def test_a_spline_shape_runs_in_ngspice_as_a_behavioural_source_and_agrees_with_ode():
    """The Piecewise of a declared shape is written as nested ternaries; the behavioural netlist against ode."""
    c = _with_positive(_fitted(Spline))
    t, w = layer(seed=2, B=2, I=3)
    tm, fm = spike_times(c, t, w, method=ODE(dt=1 / 256))
    ts, fs = spike_times(c, t, w, method="spice")
    assert bool((fs == fm).all()) and bool(fm.any())
    assert float((ts - tm)[fm].abs().max()) * 1e3 < 0.05          # ns (time unit 1 us)
