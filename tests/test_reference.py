"""Method "ode" against the torchdiffeq reference (dopri5 with jumps, odeint_event restarts).

Spike times must agree to 1e-6 (float64) on the paper's circuits and on a circuit with no closed
form (leak + charge injection on a control edge + discharger with CLM + CLM synapses); the ode
backward must pass gradcheck on that circuit and agree with autograd through torchdiffeq.
"""
import numpy as np
import pytest
import torch

import circuitnet as cn
from circuitnet.circuits import PAPER, ramp_current
from circuitnet.compile import compile_circuit
from circuitnet.solve.ode import ode_spike_times
from circuitnet.solve.torchdiffeq_ref import torchdiffeq_spike_times
from closed_form import rc_spike_reference, ttfs_reference

D = torch.float64
LEAK_G = 20e-9          # leak conductance (S): normalised leak rate T G / C ~ 0.14


def leaky_kicked_circuit():
    """No closed form in tests/closed_form.py: leak to V0 in both phases, a 5 fF coupling capacitor whose
    control line falls by 0.3 V over 20 ns at 300 ns into the firing phase (charge injection towards
    threshold), a CLM discharger and CLM synapses; the paper's C, T, V0 and threshold."""
    pos, neg = cn.NMOS("pos", lam=PAPER["lam_n"]), cn.PMOS("neg", lam=PAPER["lam_p"])
    dis = cn.NMOS("dis", I=ramp_current(145e-15, 1e-6, 1.3, 0.428, 0.177), lam=PAPER["lam_dis"])
    leak = cn.Leak("leak", G=LEAK_G, V_to=PAPER["V0"])
    kick = cn.CapacitiveCoupling("kick", C="5f", swing="-0.3", rise="20n", at="300n")
    phases = [cn.Phase("accumulate", PAPER["T"], active=["leak"], synapses=True),
              cn.Phase("fire", PAPER["T"], active=["leak", "dis", "kick"], comparator=True)]
    return cn.NeuronCircuit([cn.Capacitor("Cm", C=PAPER["C"]), leak, dis, kick], cn.Synapse(pos, neg),
                            phases, reset_level=PAPER["V0"], threshold=PAPER["V_th"])


_CACHE = {}


def compiled(name):
    if name not in _CACHE:
        circ = {"rc_spike": lambda: cn.circuits.rc_spike(), "ttfs": lambda: cn.circuits.ttfs(t_max=2.0),
                "leaky_kicked": leaky_kicked_circuit}[name]()
        _CACHE[name] = (circ, compile_circuit(circ))
    return _CACHE[name]


def layer(B, J, I, seed, t_scale=1.0, lo=-0.3, hi=1.0, w_scale=None):
    g = torch.Generator().manual_seed(seed)
    t = t_scale * torch.rand(B, J, generator=g, dtype=D)
    w = (lo + (hi - lo) * torch.rand(I, J, generator=g, dtype=D)) * (w_scale if w_scale is not None else 4.0 / J)
    return t, w


CASES = {   # circuit: (layer kwargs, window length)
    "rc_spike": (dict(B=6, J=24, I=8, seed=1), 1.0),
    "ttfs": (dict(B=6, J=24, I=8, seed=2, t_scale=2.0, lo=-0.4, w_scale=6 / 24), 2.0),
    "leaky_kicked": (dict(B=6, J=24, I=8, seed=3, w_scale=5 / 24), 1.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ode_matches_torchdiffeq_reference(name):
    _, cc = compiled(name)
    kw, window = CASES[name]
    t, w = layer(**kw)
    w[0] = -w[0].abs()                                     # one neuron that never fires
    ref, ref_fired = torchdiffeq_spike_times(cc, t, w)
    out, fired = ode_spike_times(cc, t, w, dt=1 / 64)
    inside = ref_fired & (ref > 1e-3) & (ref < window - 1e-3)
    assert inside.double().mean() > 0.5                    # spike times spread inside the window
    assert (~ref_fired).any()
    assert torch.equal(fired, ref_fired)
    assert (out - ref).abs().max() < 1e-6
    assert (out[~fired] == window).all() and (ref[~ref_fired] == window).all()


def test_reference_matches_closed_forms():
    circ, cc = compiled("rc_spike")
    t, w = layer(4, 16, 6, seed=4)
    fire = cc.phases[1]
    c = fire.prepare(cc.params(), torch.zeros((), dtype=D))
    z = torch.zeros((), dtype=D)
    ref = rc_spike_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg,
                             fire_g=fire.bias(z, 0, 0, c).item(), fire_f=fire.leak(z, 0, 0, c).item())
    assert np.abs(torchdiffeq_spike_times(cc, t, w)[0].numpy() - ref).max() < 1e-9

    circ, cc = compiled("ttfs")
    t, w = layer(4, 16, 6, seed=5, t_scale=2.0, lo=-0.6, w_scale=0.5)
    ref, ref_fired = ttfs_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, t_max=2.0)
    out, fired = torchdiffeq_spike_times(cc, t, w)
    assert (fired.numpy() == ref_fired).all() and np.abs(out.numpy() - ref).max() < 1e-9


def _grad_case(seed=9, B=2, J=4, I=3):
    t, w = layer(B, J, I, seed=seed, lo=-0.2, w_scale=3.0 / J)
    t = 0.05 + 0.9 * t                                     # away from tau = 0 (not a step point)
    return t, w


def test_ode_gradcheck_no_closed_form_circuit():
    """d t_out / d (input times, weights, leak conductance, discharger CLM), float64 central differences."""
    _, cc = compiled("leaky_kicked")
    t, w = _grad_case()
    out, fired = ode_spike_times(cc, t, w, dt=1 / 64)
    assert fired.all() and ((out > 1e-3) & (out < 1 - 1e-3)).all()   # no clipped or silent neuron

    def f(t, w, g_scale, lam_dis):
        params = {"leak_G": g_scale * LEAK_G, "dis_lam": lam_dis}
        return ode_spike_times(cc, t, w, params=params, dt=1 / 64)[0]

    inputs = (t.requires_grad_(), w.requires_grad_(), torch.tensor(1.0, dtype=D, requires_grad=True),
              torch.tensor(0.177, dtype=D, requires_grad=True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["leaky_kicked", "ttfs"])
def test_ode_gradients_match_reference_gradients(name):
    _, cc = compiled(name)
    t, w = _grad_case(seed=8, B=3, J=5, I=4)
    if name == "ttfs":
        t, w = 1.5 * t, 2.0 * w
    grads = []
    for solve in (lambda *a, **k: ode_spike_times(*a, dt=1 / 64, **k), torchdiffeq_spike_times):
        tt, ww = t.clone().requires_grad_(), w.clone().requires_grad_()
        lam = torch.tensor(0.41, dtype=D, requires_grad=True)
        out, fired = solve(cc, tt, ww, params={"pos_lam": lam})
        assert fired.double().mean() > 0.5
        seed = torch.Generator().manual_seed(0)
        upstream = torch.randn(out.shape, generator=seed, dtype=D)
        grads.append(torch.autograd.grad((out * upstream).sum(), (tt, ww, lam)))
    for g_ode, g_ref in zip(*grads):
        assert g_ode.abs().max() > 0
        assert (g_ode - g_ref).abs().max() < 1e-6 * max(1.0, g_ref.abs().max().item())


def test_reference_gradients_match_finite_differences():
    """The reference's own autograd (through dopri5 and odeint_event) against central differences."""
    _, cc = compiled("leaky_kicked")
    t, w = _grad_case()
    g_scale = torch.tensor(1.0, dtype=D)

    def total(t, w, g_scale):
        return torchdiffeq_spike_times(cc, t, w, params={"leak_G": g_scale * LEAK_G})[0].sum()

    xs = [t.clone().requires_grad_(), w.clone().requires_grad_(), g_scale.clone().requires_grad_()]
    grads = torch.autograd.grad(total(*xs), xs)
    eps = 1e-4
    with torch.no_grad():
        for k, idx in ((0, (0, 1)), (0, (1, 3)), (1, (0, 0)), (1, (2, 1)), (2, ())):
            x = [a.detach().clone() for a in xs]
            x0 = x[k][idx].item()
            x[k][idx] = x0 + eps
            up = total(*x).item()
            x[k][idx] = x0 - eps
            down = total(*x).item()
            assert abs((up - down) / (2 * eps) - grads[k][idx].item()) < 1e-5


def test_simultaneous_spikes_each_get_their_time_and_gradient():
    """Identical neurons cross at the same instant: one odeint_event stop fires all of them."""
    _, cc = compiled("ttfs")
    t, w = _grad_case(seed=8, B=2, J=5, I=3)
    w = 2.0 * torch.cat([w[:1], w[:1], w[1:2]])
    outs = []
    for solve in (lambda *a: ode_spike_times(*a, dt=1 / 64), torchdiffeq_spike_times):
        ww = w.clone().requires_grad_()
        out, fired = solve(cc, t, ww)
        assert fired[:, :2].all() and torch.equal(out[:, 0], out[:, 1])
        outs.append((out, torch.autograd.grad(out[:, 1].sum(), ww)[0]))
    assert (outs[0][0] - outs[1][0]).abs().max() < 1e-6
    assert (outs[0][1] - outs[1][1]).abs().max() < 1e-6
    assert outs[1][1][0].abs().max() < 1e-8     # neuron 0's weights: only solver-tolerance-level coupling
