"""Exact closed-form spike times (circuitnet.solve.exact) against the slow reference."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from strategies import edge_layers
from closed_form import DISCHARGER, E_NEG, E_POS, membrane_at, rc_spike_reference, ttfs_reference
from circuitnet.solve.exact import membrane_exact, rc_spike_exact, ttfs_exact
from circuitnet.solve.kernels import check_layer, crossing_time, fire_phase, firing_time, psi_of, relax, rho_of

F64 = torch.float64




def random_layer(seed, B=4, N=60, O=7, scale=0.15, shift=0.0, t_hi=1.0):
    """Random times with ties, spikes at exactly 0 and at the phase end, and +inf."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, N, generator=g, dtype=F64) * t_hi
    t[0, 3] = t[0, 4] = t[0, 5]  # simultaneous spikes
    t[1, :4] = 0.0
    t[2, 6] = t_hi
    t[2, 7] = math.inf
    t[3, 8] = 0.0
    w = ((torch.rand(O, N, generator=g, dtype=F64) * 2 - 1) * scale + shift / N)
    return t, w


# ---------------------------------------------------------------------------- values
@pytest.mark.parametrize("kw", [{}, DISCHARGER, dict(leak=0.7, bias=0.4), dict(leak=0.3, bias=-0.2, **DISCHARGER)],
                         ids=["ramp", "discharger", "leak-bias", "leak-bias-discharger"])
def test_rc_exact_matches_reference(kw):
    inside = []
    for seed in range(3):
        t, w = random_layer(seed, shift=1.0 * seed)
        ref = rc_spike_reference(t.numpy(), w.numpy(), E_POS, E_NEG, **kw)
        out = rc_spike_exact(t, w, E_POS, E_NEG, **kw)
        assert out.shape == (4, 7)
        assert np.abs(out.numpy() - ref).max() <= 1e-10
        inside.append(((ref > 0) & (ref < 1)).mean())
    assert np.mean(inside) > 0.2  # most spike times are not clipped


def test_membrane_exact_matches_reference_strong_conductance():
    """Large f d (the expm1 branch, not the Taylor one) in both float64 and float32."""
    t, w = random_layer(7, N=50, scale=3.0)
    ref = membrane_at(t.numpy(), w.numpy(), 1.3, -1.1, 1.0, leak=2.0, bias=0.5)
    out = membrane_exact(t, w, 1.3, -1.1, 1.0, leak=2.0, bias=0.5)
    assert np.abs(out.numpy() - ref).max() <= 1e-10
    out32 = membrane_exact(t.float(), w.float(), 1.3, -1.1, 1.0, leak=2.0, bias=0.5)
    assert np.abs(out32.double().numpy() - ref).max() <= 1e-5


@pytest.mark.parametrize("kw", [{}, dict(leak=0.4, bias=0.3)], ids=["plain", "leak-bias"])
def test_ttfs_exact_matches_reference(kw):
    for seed in range(3):
        t, w = random_layer(seed, O=9, scale=0.4, shift=5.0, t_hi=2.0)
        ref_t, ref_f = ttfs_reference(t.numpy(), w.numpy(), E_POS, E_NEG, 2.0, **kw)
        out_t, out_f = ttfs_exact(t, w, E_POS, E_NEG, 2.0, **kw)
        assert np.array_equal(out_f.numpy(), ref_f)
        assert 0 < ref_f.sum() < ref_f.size  # some fire, some never do
        assert np.abs(out_t.detach().numpy() - ref_t).max() <= 1e-10


def test_ideal_limit_is_clip_mlp():
    """|E| -> inf: v(1) = sum_j w_j (1 - t_j); with x = 1 - t the layer is t_out = 1 - clip(W x, 0, 1)."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(8, 100, generator=g, dtype=F64)
    w = (torch.rand(20, 100, generator=g, dtype=F64) - 0.3) * 0.05
    ideal = 1 - torch.clamp(x @ w.t(), 0, 1)
    assert 0.1 < ((ideal > 0) & (ideal < 1)).double().mean()
    out = rc_spike_exact(1 - x, w, 1e4, -1e4)
    assert (out - ideal).abs().max() <= 1e-3
    assert (rc_spike_exact(1 - x, w, E_POS, E_NEG) - ideal).abs().max() > 1e-2  # the test can fail


def test_float32_close_to_float64_at_benchmark_scale():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(8, 784, generator=g, dtype=F64)
    w = torch.rand(50, 1, generator=g, dtype=F64) * (torch.rand(50, 784, generator=g, dtype=F64) - 0.35) * 8 / 784
    r64 = rc_spike_exact(t, w, E_POS, E_NEG)
    r32 = rc_spike_exact(t.float(), w.float(), E_POS, E_NEG)
    assert (r32.double() - r64).abs().max() <= 2e-6


def test_float32_gradients_close_to_float64():
    g = torch.Generator().manual_seed(1)
    t = torch.rand(6, 300, generator=g, dtype=F64)
    w = torch.rand(40, 1, generator=g, dtype=F64) * (torch.rand(40, 300, generator=g, dtype=F64) - 0.35) * 8 / 300
    c = torch.rand(6, 40, generator=g, dtype=F64)

    def grads(dtype):
        args = (t.to(dtype).requires_grad_(), w.to(dtype).requires_grad_(), torch.tensor(E_POS, dtype=dtype,
                                                                                          requires_grad=True))
        out = rc_spike_exact(*args, E_NEG, leak=0.1)
        return [x.double() for x in torch.autograd.grad((out * c.to(dtype)).sum(), args)]

    for a, b in zip(grads(torch.float32), grads(torch.float64)):
        assert ((a - b).norm() / b.norm()).item() < 1e-6


# ------------------------------------------------------------------- shared kernels
def _phi_psi_f64(x):
    """High-accuracy float64 phi1 and psi (series below 0.1, closed form above)."""
    x = np.asarray(x, dtype=np.float64)
    series = sum((-x) ** n / math.factorial(n + 1) for n in range(12))
    phi = np.where(x < 0.1, series, -np.expm1(-x) / np.maximum(x, 1e-300))
    ser = sum((-x) ** n / (math.factorial(n) * (n + 2)) for n in range(14))
    closed = (phi - np.exp(-x)) / np.maximum(x, 1e-300)
    return phi, np.where(x < 0.1, ser, closed)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("xmax", [0.0, 1e-9, 1e-4, 5e-3, 0.05, 0.3, 60.0])
def test_relax_and_psi_are_accurate(dtype, tol, xmax):
    x = torch.linspace(0, xmax, 2001, dtype=F64)
    f = x.to(dtype).reshape(1, -1)
    one = torch.ones(1, 1, dtype=dtype)
    nx, phi, dphi, xm = relax(f, f, one, -one)
    psi = psi_of(nx, phi, xm)
    rho = rho_of(nx, phi, xm)
    ref_phi, ref_psi = _phi_psi_f64(f.double().numpy())
    assert np.abs(phi.double().numpy() / ref_phi - 1).max() <= tol
    assert np.abs(psi.double().numpy() / ref_psi - 1).max() <= 5 * tol
    assert np.abs(rho.double().numpy() / (ref_psi / ref_phi) - 1).max() <= 5 * tol
    assert torch.equal(dphi, phi)


def test_crossing_time_formula_and_limits():
    v0 = torch.tensor([0.0, 0.5, 0.2, 1.0, 0.3, 0.3], dtype=F64)
    f = torch.tensor([0.0, 2.0, 1.0, 1.0, 5.0, 0.0], dtype=F64)
    g = torch.tensor([2.0, 4.0, 0.5, 0.0, 4.0, -1.0], dtype=F64)
    t = crossing_time(v0, f, g)
    assert t[0] == pytest.approx(0.5)  # f = 0: (1 - v0)/g
    assert t[1] == pytest.approx(0.5 * math.log((2 - 0.5) / (2 - 1)))  # (1/f) ln[(g/f - v0)/(g/f - 1)]
    assert math.isinf(t[2])  # g/f = 0.5 < 1: never reaches threshold
    assert t[3] == 0  # already at threshold
    assert math.isinf(t[4])  # g/f = 0.8 < 1
    assert math.isinf(t[5])  # falling


@pytest.mark.parametrize("kw", [dict(fire_g=1.0, fire_f=0.0), DISCHARGER], ids=["ramp", "discharger"])
def test_unclipped_firing_time_solves_the_firing_phase(kw):
    """firing_time(v1) is the signed time T at which the firing-phase solution from v1,
    v(T) = g/f - (g/f - v1) exp(-f T) (ramp: v1 + g T), equals the threshold 1, also for v1 > 1
    (T < 0) and v1 < 0 (T > 1); its clip to [0, 1] is the spike time, equal to crossing_time's."""
    v1 = torch.tensor([-3.0, -0.7, 0.0, 0.2, 0.999, 1.0, 1.4, 2.5], dtype=F64)
    T = firing_time(v1, **kw)
    g, f = kw["fire_g"], kw["fire_f"]
    v_T = v1 + g * T if f == 0 else g / f - (g / f - v1) * torch.exp(-f * T)
    assert torch.allclose(v_T, torch.ones_like(v1), atol=1e-12)
    assert (T[v1 < 0] > 1).all() and (T[v1 > 1] < 0).all() and T[v1 == 1].abs().max() < 1e-15
    ct = crossing_time(v1, torch.full_like(v1, f), torch.full_like(v1, g)).clamp(max=1.0)
    assert torch.equal(fire_phase(v1, **kw), T.clamp(0.0, 1.0)) and torch.allclose(fire_phase(v1, **kw), ct)
    assert torch.equal(fire_phase(v1, clip=False, **kw), T)


def test_unclipped_firing_time_is_infinite_where_threshold_is_unreachable():
    # a discharger whose asymptote g/f = 0.8 lies below threshold never fires, from any v1 < g/f
    assert torch.isinf(firing_time(torch.tensor([0.0, 0.5], dtype=F64), fire_g=0.8, fire_f=1.0)).all()
    # above the discharger's asymptote E_dis the membrane never comes down to 1 (no signed time),
    # but it passed threshold during accumulation: the spike is at 0, not at the end of the phase
    v1 = torch.tensor([7.0, 50.0], dtype=F64)
    assert torch.isinf(firing_time(v1, **DISCHARGER)).all()
    assert torch.equal(fire_phase(v1, **DISCHARGER), torch.zeros_like(v1))


# ------------------------------------------------------------------------- gradients
def _leaf(x):
    return x.clone().requires_grad_()


def _scalar(x):
    return torch.tensor(x, dtype=F64, requires_grad=True)


@pytest.mark.parametrize("clip", [True, False], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("kw", [{}, DISCHARGER], ids=["ramp", "discharger"])
def test_gradcheck_rc_exact(kw, clip):
    g = torch.Generator().manual_seed(11)
    t = _leaf(torch.rand(2, 9, generator=g, dtype=F64))
    w = _leaf((torch.rand(3, 9, generator=g, dtype=F64) - 0.3) * (0.5 if clip else 2.0))
    out = rc_spike_exact(t, w, E_POS, E_NEG, clip=clip, **kw)
    if not clip:  # the weights are large enough that some outputs lie outside [0, 1]
        assert ((out < 0) | (out > 1)).any()
    assert torch.autograd.gradcheck(lambda t, w, ep, en: rc_spike_exact(t, w, ep, en, clip=clip, **kw),
                                    (t, w, _scalar(E_POS), _scalar(E_NEG)))


def test_gradcheck_membrane_exact_leak_bias():
    g = torch.Generator().manual_seed(12)
    t = _leaf(torch.rand(2, 8, generator=g, dtype=F64))
    w = _leaf((torch.rand(3, 8, generator=g, dtype=F64) - 0.5) * 2.0)  # strong: expm1 branch
    leak = _leaf(torch.tensor([0.1, 0.5, 1.0], dtype=F64))
    assert torch.autograd.gradcheck(lambda t, w, ep, en, lk, bs: membrane_exact(t, w, ep, en, 1.0, lk, bs),
                                    (t, w, _scalar(1.7), _scalar(-1.2), leak, _scalar(0.3)))


def test_gradcheck_ttfs_exact():
    g = torch.Generator().manual_seed(13)
    t = _leaf(torch.rand(2, 8, generator=g, dtype=F64) * 1.5)
    w = _leaf((torch.rand(4, 8, generator=g, dtype=F64) - 0.2) * 1.2)
    _, fired = ttfs_exact(t, w, E_POS, E_NEG, 1.5, leak=0.2, bias=0.1)
    assert fired.any()
    assert torch.autograd.gradcheck(
        lambda t, w, ep, en: ttfs_exact(t, w, ep, en, 1.5, leak=0.2, bias=0.1)[0],
        (t, w, _scalar(E_POS), _scalar(E_NEG)))


def test_input_time_gradient_matches_physics():
    """dv(1)/dt_j = -w_j lambda(t_j) (1 - beta_j v(t_j)); finite differences of the reference."""
    g = torch.Generator().manual_seed(5)
    t = (torch.rand(2, 12, generator=g, dtype=F64) * 0.98 + 0.01).requires_grad_()
    w = (torch.rand(3, 12, generator=g, dtype=F64) - 0.4) * 0.8
    v = membrane_exact(t, w, E_POS, E_NEG)
    gt, = torch.autograd.grad(v.sum(), t)
    h = 1e-6
    tp, tm = t.detach().numpy().copy(), t.detach().numpy().copy()
    tp[1, 5] += h
    tm[1, 5] -= h
    fd = (membrane_at(tp, w.numpy(), E_POS, E_NEG).sum() - membrane_at(tm, w.numpy(), E_POS, E_NEG).sum()) / (2 * h)
    assert gt[1, 5].item() == pytest.approx(fd, rel=1e-6, abs=1e-9)


# -------------------------------------------------------------------- edge cases
def _finite_grads(fn, t, w, e_pos, e_neg):
    t, w, ep, en = _leaf(t), _leaf(w), _scalar(e_pos), _scalar(e_neg)
    out = fn(t, w, ep, en)
    assert torch.isfinite(out).all()
    grads = torch.autograd.grad(out.sum(), (t, w, ep, en))
    for gr in grads:
        assert torch.isfinite(gr).all()
    return out


@settings(max_examples=40, deadline=None)
@given(edge_layers(), st.sampled_from([{}, DISCHARGER]))
def test_exact_rc_edge_cases_finite(layer, kw):
    t, w, e_pos, e_neg, leak, bias = layer
    out = _finite_grads(lambda t, w, ep, en: rc_spike_exact(t, w, ep, en, leak, bias, **kw), t, w, e_pos, e_neg)
    assert ((out >= 0) & (out <= 1)).all()
    ref = rc_spike_reference(t.numpy(), w.numpy(), e_pos, e_neg, leak, bias, **kw)
    assert np.abs(out.detach().numpy() - ref).max() <= 1e-9


@settings(max_examples=40, deadline=None)
@given(edge_layers())
def test_exact_ttfs_edge_cases_finite(layer):
    t, w, e_pos, e_neg, leak, bias = layer
    out = _finite_grads(lambda t, w, ep, en: ttfs_exact(t, w, ep, en, 1.5, leak, bias)[0], t, w, e_pos, e_neg)
    ref_t, ref_f = ttfs_reference(t.numpy(), w.numpy(), e_pos, e_neg, 1.5, leak, bias)
    _, fired = ttfs_exact(t, w, e_pos, e_neg, 1.5, leak, bias)
    assert np.array_equal(fired.numpy(), ref_f)
    assert np.abs(out.detach().numpy() - ref_t).max() <= 1e-9
    assert (out[~fired] == 1.5).all()


# ------------------------------------------------------------------------ validation
def _ok():
    return torch.rand(2, 5, dtype=F64), torch.rand(3, 5, dtype=F64)


@pytest.mark.parametrize("bad,match", [
    (dict(t_in=torch.rand(5, dtype=F64)), "t_in must be 2-D"),
    (dict(t_in=torch.rand(2, 4, dtype=F64)), "4 input features but weight expects 5"),
    (dict(t_in=-torch.rand(2, 5, dtype=F64)), "negative spike times"),
    (dict(weight=torch.rand(3, 5, 1, dtype=F64)), "weight must be 2-D"),
    (dict(t_in=torch.tensor([[0.1, float("nan"), 0.2, 0.3, 0.4]] * 2, dtype=F64)), "t_in contains NaN"),
    (dict(weight=torch.full((3, 5), float("nan"), dtype=F64)), "weight contains NaN"),
    (dict(e_pos=0.0), "e_pos must be > 0"),
    (dict(e_pos=-1.0), "e_pos must be > 0"),
    (dict(e_neg=0.0), "e_neg must be < 0"),
    (dict(e_neg=2.0), "e_neg must be < 0"),
    (dict(leak=-0.1), "leak must be >= 0"),
    (dict(t_in=torch.rand(2, 5, dtype=torch.float32)), "share dtype"),
])
@pytest.mark.parametrize("fn", ["rc", "ttfs"])
def test_bad_input_raises(bad, match, fn):
    t, w = _ok()
    args = dict(t_in=t, weight=w, e_pos=E_POS, e_neg=E_NEG, leak=0.0)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        if fn == "rc":
            rc_spike_exact(**args)
        else:
            ttfs_exact(t_max=2.0, **args)


def test_bad_t_max_and_steps_raise():
    t, w = _ok()
    with pytest.raises(ValueError, match="t_max must be positive"):
        ttfs_exact(t, w, E_POS, E_NEG, 0.0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        check_layer(t, w, E_POS, E_NEG, steps=0)
