"""Method "ode": agreement with the paper's closed forms, finite-difference gradients, edge cases."""
import numpy as np
import pytest
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import spike_times
from closed_form import rc_spike_reference, ttfs_reference

D = torch.float64


def layer(B, J, I, seed, lo=-0.3, hi=1.0, scale=None):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, J, generator=g, dtype=D)
    scale = scale if scale is not None else 4.0 / J
    w = (lo + (hi - lo) * torch.rand(I, J, generator=g, dtype=D)) * scale
    return t, w


def fire_coeffs(circ):
    fire = compile_circuit(circ).phases[1]
    c = fire.prepare(compile_circuit(circ).params(), torch.zeros((), dtype=D))
    z = torch.zeros((), dtype=D)
    return fire.bias(z, 0, 0, c).item(), fire.leak(z, 0, 0, c).item()


@pytest.mark.parametrize("firing", ["ideal", "discharger"])
def test_rc_spike_matches_closed_form(firing):
    circ = cn.circuits.rc_spike(firing=firing)
    t, w = layer(8, 60, 12, seed=1)
    out, fired = spike_times(circ, t, w, dt=1 / 32)
    g, f = fire_coeffs(circ)
    ref = rc_spike_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, fire_g=g, fire_f=f)
    inside = (ref > 1e-3) & (ref < 1 - 1e-3)
    assert inside.mean() > 0.5                       # the test exercises real crossings
    assert np.abs(out.numpy() - ref).max() < 1e-6
    assert fired.numpy()[inside].all()


def test_ttfs_matches_closed_form_including_silent_neurons():
    circ = cn.circuits.ttfs(t_max=2.0)
    t, w = layer(8, 64, 12, seed=2, lo=-0.5, scale=12 / 64)
    w[0] = -w[0].abs()                              # a neuron that can never fire
    out, fired = spike_times(circ, t, w, dt=1 / 32)
    ref, ref_fired = ttfs_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, t_max=2.0)
    assert ref_fired.mean() > 0.3 and (~ref_fired).any()
    assert (fired.numpy() == ref_fired).all()
    assert np.abs(out.numpy() - ref).max() < 1e-6
    assert (out[:, 0] == 2.0).all() and not fired[:, 0].any()


def test_edge_cases_simultaneous_spikes_window_edges_and_absent_inputs():
    circ = cn.circuits.ttfs(t_max=1.0)
    t = torch.tensor([[0.0, 0.0, 0.3, 0.3, 1.0, float("inf")],
                      [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]], dtype=D)
    w = torch.full((3, 6), 0.9, dtype=D)
    w[1] = -0.2
    w[2, :4] = 0.0
    out, fired = spike_times(circ, t, w, dt=1 / 32)
    ref, ref_fired = ttfs_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, t_max=1.0)
    assert np.abs(out.numpy() - ref).max() < 1e-6 and (fired.numpy() == ref_fired).all()


def _gradcheck(circ, t, w, extra, dt=1 / 64):
    names = list(extra)

    def f(t, w, *vals):
        params = {n: s * v for n, (s, v) in zip(names, zip([extra[n] for n in names], vals))}
        return spike_times(circ, t, w, params=params, dt=dt)[0]

    vals = [torch.tensor(1.0, dtype=D, requires_grad=True) for _ in names]
    return torch.autograd.gradcheck(f, (t.requires_grad_(), w.requires_grad_(), *vals),
                                    eps=1e-6, atol=1e-5, rtol=1e-5)


def test_rc_spike_gradients_match_finite_differences():
    """d t_out / d (input times, weights, lambda_N, lambda_P, C, threshold), float64 central differences."""
    circ = cn.circuits.rc_spike()
    t, w = layer(3, 7, 4, seed=3, lo=-0.4, scale=0.5)
    assert _gradcheck(circ, t, w, {"pos_lam": 0.41, "neg_lam": 0.75, "Cm_C": 140e-15, "V_th": 0.428})


def test_ttfs_gradients_match_finite_differences():
    circ = cn.circuits.ttfs(t_max=2.0)
    t, w = layer(3, 7, 5, seed=4, lo=-0.3, scale=0.6)
    assert _gradcheck(circ, t, w, {"pos_lam": 0.41, "neg_lam": 0.75})


def test_gradients_on_a_50_input_layer_against_finite_differences():
    circ = cn.circuits.rc_spike()
    t, w = layer(2, 50, 3, seed=5)
    t.requires_grad_(), w.requires_grad_()
    out = spike_times(circ, t, w, dt=1 / 32)[0]
    gt, gw = torch.autograd.grad(out.sum(), (t, w))
    eps = 1e-6
    for (x, g, idx) in ((w, gw, (1, 7)), (w, gw, (2, 33)), (t, gt, (0, 11)), (t, gt, (1, 42))):
        xp, xm = x.detach().clone(), x.detach().clone()
        xp[idx] += eps
        xm[idx] -= eps
        args = lambda y: (y, w.detach()) if x is t else (t.detach(), y)
        fd = (spike_times(circ, *args(xp), dt=1 / 32)[0].sum() - spike_times(circ, *args(xm), dt=1 / 32)[0].sum()) / (2 * eps)
        assert g[idx].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-8)


def test_per_neuron_parameters_broadcast():
    """Device variation: a lambda per output neuron equals running neurons one at a time."""
    circ = cn.circuits.rc_spike()
    t, w = layer(4, 10, 3, seed=6)
    lam = torch.tensor([0.3, 0.41, 0.6], dtype=D)
    out = spike_times(circ, t, w, params={"pos_lam": lam})[0]
    for i in range(3):
        one = spike_times(circ, t, w[i:i + 1], params={"pos_lam": lam[i]})[0]
        assert torch.allclose(out[:, i:i + 1], one, atol=1e-12)


@pytest.mark.parametrize("curvature", [False, True])
def test_per_neuron_parameters_on_weight_dependent_shapes(curvature):
    """The sky130 devices' shapes depend on |w| (and carry the switch-off's edge conduction): a threshold
    per neuron (a trimmed chip) equals running neurons one at a time, spike times and weight gradients."""
    circ = cn.spice.realised_rc_spike(6, curvature=curvature)
    t, w = layer(3, 6, 4, seed=8, scale=0.8)
    w.requires_grad_(True)
    vth = torch.tensor([0.428, 0.431, 0.425, 0.44], dtype=D)
    out, fired = spike_times(circ, t, w, params={"V_th": vth})
    (g,) = torch.autograd.grad(out[fired].sum(), w)
    assert fired.sum() >= 6
    for i in range(4):
        w_i = w[i:i + 1].detach().clone().requires_grad_(True)
        one, f_one = spike_times(circ, t, w_i, params={"V_th": vth[i]})
        assert torch.allclose(out[:, i:i + 1], one, atol=1e-12)
        if f_one.any():
            (g_i,) = torch.autograd.grad(one[f_one].sum(), w_i)
            assert torch.allclose(g[i:i + 1], g_i, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("t_in, w, message", [
    (torch.rand(3, dtype=D), torch.rand(2, 3, dtype=D), "t_in must be 2-D"),
    (torch.rand(2, 3, dtype=D), torch.rand(2, 4, dtype=D), "3 input features but weight expects 4"),
    (torch.tensor([[0.1, float("nan")]], dtype=D), torch.rand(2, 2, dtype=D), "NaN"),
    (torch.tensor([[0.1, -0.2]], dtype=D), torch.rand(2, 2, dtype=D), "negative spike times"),
    (torch.rand(2, 2, dtype=D), torch.tensor([[0.1, float("inf")]], dtype=D), "weight contains NaN or infinite"),
    (torch.rand(2, 2, dtype=torch.float32), torch.rand(2, 2, dtype=D), "share dtype"),
    (torch.ones(2, 2, dtype=torch.long), torch.rand(2, 2, dtype=D), "floating-point"),
])
def test_bad_tensors_name_the_problem(t_in, w, message):
    with pytest.raises(ValueError, match=message):
        spike_times(cn.circuits.rc_spike(), t_in, w)


def test_bad_options_name_the_problem():
    circ = cn.circuits.rc_spike()
    t, w = layer(2, 3, 2, seed=0)
    with pytest.raises(ValueError, match="unknown method"):
        spike_times(circ, t, w, method="magic")
    with pytest.raises(ValueError, match="unknown circuit parameter"):
        spike_times(circ, t, w, params={"lambda": 0.1})
    with pytest.raises(ValueError, match="dt must be > 0"):
        spike_times(circ, t, w, dt=0)
    with pytest.raises(ValueError, match="non-finite"):
        spike_times(circ, t, w, params={"pos_lam": torch.tensor(float("nan"), dtype=D)})
