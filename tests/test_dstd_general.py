"""Method "dstd" on any compiled circuit (circuitnet.solve.dstd_general) and the unclipped firing time
of any circuit (circuitnet.solve.unclipped): convergence to "ode", gradients, agreement with the
affine DSTD on the paper's circuit, edge cases, and training on a non-affine circuit."""
import math

import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

import circuitnet as cn
from circuitnet.neuron import NeuronCircuit, Phase, Synapse
from circuitnet.compile import compile_circuit
from circuitnet.elements import NMOS, PMOS, CapacitiveCoupling, Capacitor, Element
from circuitnet.solve import spike_times
from circuitnet.solve.dstd import rc_spike_dstd
from circuitnet.solve.dstd_general import general_dstd
from circuitnet.solve.ode import ode_spike_times

F64 = torch.float64
C, T, V0, VTH = 140e-15, 1e-6, 1.3, 0.428
SWING = V0 - VTH


class TanhLeak(Element):
    """A user element: a saturating leak towards the reset level, i_in = G V_s tanh((V0 - V)/V_s)."""
    parameters = ("G", "V_s")
    positive = ("G", "V_s")

    def current(self, node):
        return self.G * self.V_s * sp.tanh((node.V0 - node.V) / self.V_s)


def custom_rc(extra=(), firing_lam=0.0):
    """RC-Spike neuron (E_pos = 2.8, E_neg = -1.53, ramp to threshold in one phase) with ``extra``
    elements active in the accumulation phase."""
    pos, neg = NMOS("pos", lam=1 / (2.8 * SWING)), PMOS("neg", lam=1 / (1.53 * SWING))
    ctot = C + sum(e.values.get("C", 0.0) for e in extra if isinstance(e, CapacitiveCoupling))
    dis = NMOS("dis", I=ctot * SWING / T, lam=firing_lam)
    elements = [Capacitor("Cm", C=C), dis, *extra]
    phases = [Phase("accumulate", T, synapses=True, active=[e.name for e in extra]),
              Phase("fire", T, active=["dis"], comparator=True)]
    return NeuronCircuit(elements, Synapse(pos, neg), phases, reset_level=V0, threshold=VTH)


CIRCUITS = {
    "quadratic synapse": lambda: cn.circuits.rc_spike_quadratic(firing="discharger", e_dis=6.44),
    "coupling edge": lambda: custom_rc([CapacitiveCoupling("kick", C=14e-15, swing=-1.0, rise=0.21e-6, at=0.33e-6)]),
    "tanh leak (user element)": lambda: custom_rc([TanhLeak("leak", G=0.6 * C / T, V_s=0.3)]),
}


def spread_layer(seed, B, J, I, dtype=F64):
    """Input times U(0, 1), weights w_ij = s_i (u_ij - 0.35) 8 / J (35 % negative; outputs spread in (0, 1))."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, J, generator=g, dtype=dtype)
    w = torch.rand(I, 1, generator=g, dtype=dtype) * (torch.rand(I, J, generator=g, dtype=dtype) - 0.35) * 8 / J
    return t, w


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_general_dstd_converges_to_ode_at_second_order(name):
    """Spike-time error against ode (dt = 1/256, itself ~1e-10 accurate) falls as M^-p with p >= 1.8
    between M = 10 and M = 40, on a 64-input layer; the circuits take the general path."""
    c = CIRCUITS[name]()
    cc = compile_circuit(c)
    assert not cc.affine or not all(p.time_invariant for p in cc.phases)
    t, w = spread_layer(1, 8, 64, 24)
    ref, fired = ode_spike_times(cc, t, w, dt=1 / 256)
    inside = (ref > 0.02) & (ref < 0.98)
    assert inside.float().mean() > 0.5
    err = {}
    for M in (10, 40):
        d, f = spike_times(c, t, w, method="dstd", steps=M, offset=0.3 / M)
        assert torch.equal(d, general_dstd(cc, t, w, steps=M, offset=0.3 / M)[0])
        err[M] = (d - ref).abs().max().item()
    order = math.log(err[10] / err[40]) / math.log(4)
    assert order >= 1.8, (err, order)
    assert err[10] < 5e-3


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_general_dstd_gradients_converge_to_ode(name):
    """Gradients of a weighted sum of spike times w.r.t. weights and input times approach ode's
    (its adjoint) as M grows: relative error at M = 40 below 2 % and below a third of M = 10's."""
    cc = compile_circuit(CIRCUITS[name]())
    t, w = spread_layer(2, 4, 64, 8)
    r = torch.rand(4, 8, generator=torch.Generator().manual_seed(0), dtype=F64)

    def grads(fn):
        tt, ww = t.clone().requires_grad_(), w.clone().requires_grad_()
        out = fn(tt, ww)[0]
        return torch.cat([g.flatten() for g in torch.autograd.grad((out * r).sum(), (tt, ww))])

    ref = grads(lambda a, b: ode_spike_times(cc, a, b, dt=1 / 256))
    rel = {M: ((grads(lambda a, b: general_dstd(cc, a, b, steps=M)) - ref).norm() / ref.norm()).item()
           for M in (10, 40)}
    assert rel[40] < 0.02 and rel[40] < rel[10] / 3, rel


def test_general_dstd_gradcheck_including_a_circuit_parameter():
    """float64 finite differences: weights, input times and the synapse curvature lam2 (a circuit
    parameter passed as a tensor), with a random per-sample offset; clipped and unclipped."""
    cc = compile_circuit(cn.circuits.rc_spike_quadratic())
    t, w = spread_layer(3, 3, 10, 5)
    t, w = t.requires_grad_(), (2 * w).requires_grad_()
    lam2 = torch.tensor(-0.2, dtype=F64, requires_grad=True)
    off = torch.tensor([0.0, 0.05, 0.13], dtype=F64)
    for clip in (True, False):
        fn = lambda a, b, l: general_dstd(cc, a, b, params={"pos_lam2": l}, steps=7, offset=off, clip=clip)[0]
        assert torch.autograd.gradcheck(fn, (t, w, lam2))


def test_general_dstd_agrees_with_affine_dstd_on_the_papers_circuit():
    """On the paper's affine circuit the general scheme and the specialised DSTD are two O(M^-2)
    discretisations of the same model: they agree to O(M^-2), clipped and unclipped, and the
    dispatch keeps the specialised path there."""
    t, w = spread_layer(4, 8, 64, 16)
    for firing in ("ideal", "discharger"):
        c = cn.circuits.rc_spike(firing=firing, e_pos=2.8, e_neg=-1.53, e_dis=6.44 if firing == "discharger" else None)
        cc = compile_circuit(c)
        for M, tol in ((10, 1e-3), (40, 1e-4)):
            for clip in (True, False):
                a = spike_times(c, t, w, method="dstd", steps=M, offset=0.2 / M, clip=clip)[0]
                g = general_dstd(cc, t, w, steps=M, offset=0.2 / M, clip=clip)[0]
                assert (a - g).abs().max() < tol
    c = cn.circuits.rc_spike(firing="ideal", e_pos=2.8, e_neg=-1.53)
    assert (spike_times(c, t, w, method="dstd", steps=10)[0] - rc_spike_dstd(t, w, 2.8, -1.53, 10)).abs().max() < 1e-12


def test_general_dstd_on_a_ttfs_shaped_circuit_agrees_with_the_affine_ttfs_dstd():
    """One phase with synapses and comparator (the paper's TTFS, t_max = 4): the general scheme finds
    the same neurons firing as the affine TTFS DSTD and the exact solution, and both DSTDs approach
    exact with M (the crossing interval's averaged drive limits both alike)."""
    c = cn.circuits.ttfs(t_max=4.0, e_pos=2.8, e_neg=-1.53)
    g = torch.Generator().manual_seed(0)
    t = 4 * torch.rand(8, 64, generator=g, dtype=F64)
    w = torch.rand(16, 1, generator=g, dtype=F64) * (torch.rand(16, 64, generator=g, dtype=F64) - 0.2) * 6 / 64
    ref, fired = spike_times(c, t, w, method="exact")
    assert fired.float().mean() > 0.5 and not fired.all()
    for M, tol in ((10, 3e-2), (40, 3e-3)):
        a, fa = spike_times(c, t, w, method="dstd", steps=M, offset=0.4 / M)
        d, fd = general_dstd(compile_circuit(c), t, w, steps=M, offset=0.4 / M)
        assert torch.equal(fd, fired) and torch.equal(fa, fired)
        assert (d - ref).abs().max() < tol and (d - a).abs().max() < tol


def test_unclipped_time_of_ode_matches_the_affine_closed_form():
    """ode with clip=False on the paper's circuits (ramp and discharger) reproduces
    kernels.firing_time: below 0 (threshold passed while accumulating), above 1
    (late) and inf in the same places; its gradient is the float64 finite difference."""
    g = torch.Generator().manual_seed(5)
    t = torch.rand(6, 32, generator=g, dtype=F64)
    w = (torch.rand(24, 32, generator=g, dtype=F64) - 0.4) * torch.linspace(-8, 30, 24, dtype=F64)[:, None] / 32
    for c in (cn.circuits.rc_spike(firing="ideal", e_pos=2.8, e_neg=-1.53),
              cn.circuits.rc_spike(firing="discharger", e_pos=2.8, e_neg=-1.53, e_dis=6.44)):
        e = spike_times(c, t, w, method="exact", clip=False)[0]
        o = spike_times(c, t, w, method="ode", clip=False)[0]
        fin = torch.isfinite(e)
        assert torch.equal(fin, torch.isfinite(o))
        assert (e[fin] < 0).any() and (e[fin] > 1).any()
        assert (e - o)[fin].abs().max() < 1e-5
    cc = compile_circuit(cn.circuits.rc_spike_quadratic(firing="discharger", e_dis=6.44))
    tt = (0.5 * t[:2, :8]).clone().requires_grad_()
    ww = torch.cat([torch.full((1, 8), 0.5, dtype=F64), torch.full((1, 8), -0.1, dtype=F64), w[::6, :8]])
    ww = ww.clone().requires_grad_()
    u = ode_spike_times(cc, tt, ww, clip=False)[0]
    assert (u < 0).any() and (u > 1).any()
    assert torch.autograd.gradcheck(lambda a, b: ode_spike_times(cc, a, b, dt=1 / 128, clip=False)[0],
                                    (tt, ww), atol=1e-5, rtol=1e-4)


def test_unclipped_time_of_dstd_matches_ode_on_a_non_affine_circuit():
    """The general unclipped time converges to ode's, and equals the clipped time inside (0, 1)."""
    c = CIRCUITS["tanh leak (user element)"]()
    g = torch.Generator().manual_seed(6)
    t = torch.rand(6, 64, generator=g, dtype=F64)
    w = (torch.rand(24, 64, generator=g, dtype=F64) - 0.4) * torch.linspace(-8, 30, 24, dtype=F64)[:, None] / 64
    o = spike_times(c, t, w, method="ode", clip=False)[0]
    d = spike_times(c, t, w, method="dstd", steps=40, clip=False)[0]
    dc = spike_times(c, t, w, method="dstd", steps=40)[0]
    fin = torch.isfinite(o)
    assert torch.equal(fin, torch.isfinite(d)) and (o[fin] < 0).any() and (o[fin] > 1).any()
    assert (o - d)[fin].abs().max() < 1e-3
    inside = (dc > 0) & (dc < 1)
    assert torch.equal(d[inside], dc[inside])


_times = st.sampled_from([0.0, 0.0, 0.3, 0.3, 1.0, 1.0, math.inf, 0.5])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_general_dstd_edge_cases_stay_finite(data):
    """Spikes at 0 and at the window end, simultaneous spikes, +inf inputs, silent and saturated
    neurons: spike times in [0, 1], finite gradients; the unclipped time is finite or +inf only."""
    B, J, I = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 6)), data.draw(st.integers(1, 3))
    t = torch.tensor(data.draw(st.lists(_times, min_size=B * J, max_size=B * J)), dtype=F64).reshape(B, J)
    scale = data.draw(st.sampled_from([0.0, 1.0, 10.0, -3.0]))
    w = torch.tensor(data.draw(st.lists(st.floats(-1, 1), min_size=I * J, max_size=I * J)), dtype=F64)
    w = (w.reshape(I, J) + (scale if scale < 0 else 0.0)) * abs(scale)
    M = data.draw(st.integers(1, 12))
    frac = data.draw(st.sampled_from([0.0, 0.5, 0.999]))
    name = data.draw(st.sampled_from(sorted(CIRCUITS)))
    cc = compile_circuit(CIRCUITS[name]())
    tt, ww = t.clone().requires_grad_(), w.clone().requires_grad_()
    for clip in (True, False):
        out, fired = general_dstd(cc, tt, ww, steps=M, offset=frac / M, clip=clip)
        if clip:
            assert torch.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
            assert (out[~fired] == 1).all()
        else:
            assert not torch.isnan(out).any() and (out > -math.inf).all()
        fin = torch.isfinite(out)
        if not out.requires_grad:  # every output clipped or constant: nothing to differentiate
            continue
        gt, gw = torch.autograd.grad(out[fin].sum(), (tt, ww), allow_unused=True)
        for gr in (gt, gw):
            assert gr is None or torch.isfinite(gr).all()


def test_general_dstd_rejects_bad_arguments():
    c = cn.circuits.rc_spike_quadratic()
    t, w = spread_layer(0, 2, 4, 3)
    with pytest.raises(ValueError, match="steps"):
        spike_times(c, t, w, method="dstd", steps=0)
    with pytest.raises(ValueError, match="offset"):
        spike_times(c, t, w, method="dstd", steps=10, offset=0.1)
    with pytest.raises(ValueError, match="negative"):
        spike_times(c, -t, w, method="dstd")


def _train_digits(circuit, epochs=15, seed=0):
    """A 64-32-10 network on scikit-learn's digits (1400 train / 397 test, pixels -> spike times
    1 - x/16), trained from scratch with dstd (M = 10, random offset), Adam 3e-3, cross-entropy on
    -t/0.07 plus the temporal penalty 0.1 sum (u - 0.9)^2 on the unclipped output times u."""
    from sklearn.datasets import load_digits
    from circuitnet.models.losses import spike_cross_entropy, temporal_penalty
    from circuitnet.models.networks import mlp
    d = load_digits()
    x = torch.tensor(1.0 - d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    torch.manual_seed(seed)
    net = mlp((64, 32, 10), circuit=circuit, method="dstd", steps=10, sigma_spike=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(epochs):
        net.train()
        order = tr[torch.randperm(len(tr))]
        for i in range(0, len(order), 32):
            j = order[i:i + 32]
            t_out, u = net(x[j], unclipped=True)
            loss = spike_cross_entropy(t_out, y[j], 0.07) + temporal_penalty(u, 0.9, 0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return (net(x[te]).argmin(1) == y[te]).float().mean().item()


def test_training_on_a_non_affine_circuit_matches_its_affine_twin():
    """Digits from scratch: the quadratic-CLM circuit (general dstd) within 3 points of the paper's
    affine circuit (specialised dstd), both well above chance."""
    affine = _train_digits(cn.circuits.rc_spike(firing="ideal"))
    quadratic = _train_digits(cn.circuits.rc_spike_quadratic(firing="ideal"))
    assert affine > 0.9 and quadratic >= affine - 0.03, (affine, quadratic)
