"""DSTD (circuitnet.solve.dstd): exactness on the grid, O(M^-2) convergence, gradients, edge cases."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from strategies import edge_layers, grids
from closed_form import DISCHARGER, E_NEG, E_POS, rc_spike_reference, ttfs_reference
from circuitnet.solve.exact import rc_spike_exact, ttfs_exact
from circuitnet.solve.dstd import dstd_grid, membrane_dstd, rc_spike_dstd, ttfs_dstd

F64 = torch.float64




def spread_layer(seed, B, N, O, dtype=F64):
    """Input times U(0, 1); weights w_ij = s_i (u_ij - 0.35) * 8 / N with s_i, u_ij ~ U(0, 1).

    About 35 % negative weights and a per-neuron scale, so that RC-Spike output times spread over
    roughly (0.4, 1) instead of piling up at the clip.
    """
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, N, generator=g, dtype=dtype)
    w = torch.rand(O, 1, generator=g, dtype=dtype) * (torch.rand(O, N, generator=g, dtype=dtype) - 0.35) * 8 / N
    return t, w


# --------------------------------------------------------------------- exactness
@pytest.mark.parametrize("steps,offset", [(1, 0.0), (5, 0.0), (8, 0.03), (16, 0.06)])
def test_dstd_is_exact_for_inputs_on_grid_points(steps, offset):
    """When every input arrives on a grid point, f~ and g~ are the true piecewise constants."""
    g = torch.Generator().manual_seed(steps)
    lo, hi = dstd_grid(steps, offset, 1.0, torch.zeros(1, 1, dtype=F64))
    points = torch.cat([lo[0], hi[0, -1:]])
    t = points[torch.randint(0, steps + 1, (3, 40), generator=g)]
    t[0, 0] = math.inf
    w = (torch.rand(6, 40, generator=g, dtype=F64) - 0.4) * 0.3
    for kw in ({}, dict(leak=0.5, bias=0.2), DISCHARGER):
        exact = rc_spike_exact(t, w, E_POS, E_NEG, **kw)
        assert (rc_spike_dstd(t, w, E_POS, E_NEG, steps, offset, **kw) - exact).abs().max() <= 1e-12
    t2, w2 = 2.0 * t, w * 2.0
    e_t, e_f = ttfs_exact(t2, w2, E_POS, E_NEG, 2.0, leak=0.1)
    d_t, d_f = ttfs_dstd(t2, w2, E_POS, E_NEG, 2.0, steps, 2.0 * offset, leak=0.1)
    assert torch.equal(d_f, e_f) and e_f.any()
    assert (d_t - e_t).abs().max() <= 1e-12


def test_dstd_single_step_is_time_averaged_coefficients():
    """M = 1: one interval with f~ = leak + sum beta w (1 - t), g~ = bias + sum w (1 - t)."""
    t, w = spread_layer(1, 3, 20, 4)
    beta = torch.where(w >= 0, w.new_tensor(1 / E_POS), w.new_tensor(1 / E_NEG))
    f = 0.3 + (1 - t) @ (beta * w).t()
    g = 0.1 + (1 - t) @ w.t()
    v = g * (1 - torch.exp(-f)) / f
    assert (membrane_dstd(t, w, E_POS, E_NEG, 1, leak=0.3, bias=0.1) - v).abs().max() <= 1e-14


def test_dstd_converges_to_exact_second_order_784_400():
    t, w = spread_layer(0, 16, 784, 400)
    exact = rc_spike_exact(t, w, E_POS, E_NEG)
    assert ((exact > 0) & (exact < 1)).double().mean() > 0.95 and exact.std() > 0.1
    err = {M: (rc_spike_dstd(t, w, E_POS, E_NEG, M) - exact).abs().max().item() for M in (10, 20, 30, 40)}
    assert err[10] <= 2e-4
    assert err[30] <= 3e-5
    order = math.log(err[10] / err[40]) / math.log(4)
    assert 1.8 <= order <= 2.2
    assert err[10] > err[20] > err[30] > err[40]


def test_dstd_discharger_and_leak_converge():
    t, w = spread_layer(2, 4, 200, 30)
    kw = dict(leak=0.5, bias=0.2, **DISCHARGER)
    exact = rc_spike_exact(t, w, E_POS, E_NEG, **kw)
    err = [(rc_spike_dstd(t, w, E_POS, E_NEG, M, **kw) - exact).abs().max().item() for M in (8, 16, 32, 64)]
    assert all(a > 3 * b for a, b in zip(err, err[1:]))
    assert err[-1] < 1e-5


def test_random_offset_per_sample_matches_per_sample_calls():
    t, w = spread_layer(3, 3, 50, 5)
    off = torch.tensor([0.0, 0.05, 0.099], dtype=F64)
    batched = rc_spike_dstd(t, w, E_POS, E_NEG, 10, off)
    for b in range(3):
        single = rc_spike_dstd(t[b:b + 1], w, E_POS, E_NEG, 10, float(off[b]))
        assert (batched[b] - single[0]).abs().max() <= 1e-14


def test_ttfs_dstd_converges():
    g = torch.Generator().manual_seed(4)
    t = torch.rand(4, 100, generator=g, dtype=F64) * 2
    w = (torch.rand(20, 100, generator=g, dtype=F64) - 0.25) * torch.rand(20, 1, generator=g, dtype=F64) * 0.2
    e_t, e_f = ttfs_exact(t, w, E_POS, E_NEG, 2.0)
    assert 0.2 < e_f.double().mean() < 0.95
    errs = []
    for M in (20, 80, 320):
        d_t, d_f = ttfs_dstd(t, w, E_POS, E_NEG, 2.0, M)
        both = d_f & e_f
        errs.append((d_t - e_t)[both].abs().max().item())
        assert (d_f != e_f).double().mean() < 0.05
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-3


def test_float32_matches_float64():
    t, w = spread_layer(5, 8, 784, 100)
    r64 = rc_spike_dstd(t, w, E_POS, E_NEG, 10, 0.05)
    r32 = rc_spike_dstd(t.float(), w.float(), E_POS, E_NEG, 10, 0.05)
    assert (r32.double() - r64).abs().max() <= 2e-6


# -------------------------------------------------------------------------- gradients
def _leaf(x):
    return x.clone().requires_grad_()


def _scalar(x):
    return torch.tensor(x, dtype=F64, requires_grad=True)


@pytest.mark.parametrize("offset", [0.0, 0.071, "per-sample"])
def test_gradcheck_rc_dstd(offset):
    g = torch.Generator().manual_seed(21)
    t = _leaf(torch.rand(2, 9, generator=g, dtype=F64))
    w = _leaf((torch.rand(3, 9, generator=g, dtype=F64) - 0.4) * 1.5)
    off = torch.tensor([0.01, 0.15], dtype=F64) if offset == "per-sample" else offset
    assert torch.autograd.gradcheck(
        lambda t, w, ep, en, lk, bs: membrane_dstd(t, w, ep, en, 5, off, 1.0, lk, bs),
        (t, w, _scalar(E_POS), _scalar(E_NEG), _scalar(0.3), _scalar(0.2)))
    assert torch.autograd.gradcheck(lambda t, w, ep, en: rc_spike_dstd(t, w, ep, en, 7, off / 1.4, **DISCHARGER),
                                    (t, w * 0.3, _scalar(E_POS), _scalar(E_NEG)))


def test_gradcheck_ttfs_dstd():
    g = torch.Generator().manual_seed(22)
    t = _leaf(torch.rand(2, 8, generator=g, dtype=F64) * 1.5)
    w = _leaf((torch.rand(4, 8, generator=g, dtype=F64) - 0.2) * 1.2)
    _, fired = ttfs_dstd(t, w, E_POS, E_NEG, 1.5, 9, 0.05, leak=0.2)
    assert fired.any()
    assert torch.autograd.gradcheck(lambda t, w, ep, en: ttfs_dstd(t, w, ep, en, 1.5, 9, 0.05, leak=0.2)[0],
                                    (t, w, _scalar(E_POS), _scalar(E_NEG)))


def test_dstd_gradients_converge_to_exact():
    t, w = spread_layer(6, 4, 100, 20)

    def grads(fn):
        args = (_leaf(t), _leaf(w), _scalar(E_POS), _scalar(E_NEG))
        return torch.autograd.grad(fn(*args).sum(), args)

    exact = grads(lambda *a: rc_spike_exact(*a))
    rel = []
    for M in (8, 16, 32, 64):
        approx = grads(lambda *a: rc_spike_dstd(*a, steps=M))
        rel.append([((x - y).norm() / y.norm()).item() for x, y in zip(approx, exact)])
    rel = np.array(rel)  # [M, (t_in, weight, e_pos, e_neg)]
    assert (np.diff(rel, axis=0) < 0).all()  # every gradient improves with every doubling of M
    assert rel[-1, 0] < 3e-3  # input times: first order (the hat kernel is piecewise linear in t)
    assert rel[-1, 1:].max() < 3e-5  # weights and reversal potentials: second order


def test_weight_gradient_without_input_gradient():
    t, w = spread_layer(7, 3, 30, 4)
    wl = _leaf(w)
    g1, = torch.autograd.grad(rc_spike_dstd(t, wl, E_POS, E_NEG, 6).sum(), wl)
    tl = _leaf(t)
    g2, _ = torch.autograd.grad(rc_spike_dstd(tl, wl, E_POS, E_NEG, 6).sum(), (wl, tl))
    assert torch.equal(g1, g2)


# -------------------------------------------------------------------- edge cases
def _finite(fn, t, w, e_pos, e_neg):
    args = (_leaf(t), _leaf(w), _scalar(e_pos), _scalar(e_neg))
    out = fn(*args)
    assert torch.isfinite(out).all()
    for gr in torch.autograd.grad(out.sum(), args):
        assert torch.isfinite(gr).all()
    return out.detach()


@settings(max_examples=40, deadline=None)
@given(edge_layers(), grids, st.sampled_from([{}, DISCHARGER]))
def test_dstd_rc_edge_cases_finite(layer, grid, kw):
    t, w, e_pos, e_neg, leak, bias = layer
    steps, frac = grid
    off = frac / steps
    out = _finite(lambda *a: rc_spike_dstd(*a, steps, off, leak, bias, **kw), t, w, e_pos, e_neg)
    assert ((out >= 0) & (out <= 1)).all()
    # zero weights: the output is the leak/bias-only neuron, identical to the exact one
    if not w.any():
        ref = rc_spike_reference(t.numpy(), w.numpy(), e_pos, e_neg, leak, bias, **kw)
        assert np.abs(out.numpy() - ref).max() < 1e-12


@settings(max_examples=40, deadline=None)
@given(edge_layers(), grids)
def test_dstd_ttfs_edge_cases_finite(layer, grid):
    t, w, e_pos, e_neg, leak, bias = layer
    steps, frac = grid
    off = 1.5 * frac / steps
    out = _finite(lambda *a: ttfs_dstd(*a, 1.5, steps, off, leak, bias)[0], t, w, e_pos, e_neg)
    _, fired = ttfs_dstd(t, w, e_pos, e_neg, 1.5, steps, off, leak, bias)
    assert (out[~fired] == 1.5).all() and (out[fired] <= 1.5).all()
    if not w.any():
        ref_t, ref_f = ttfs_reference(t.numpy(), w.numpy(), e_pos, e_neg, 1.5, leak, bias)
        assert np.array_equal(fired.numpy(), ref_f) and np.abs(out.numpy() - ref_t).max() < 1e-12


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kw,match", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=2.5), "steps must be an integer >= 1"),
    (dict(steps=True), "steps must be an integer >= 1"),
    (dict(offset=0.2), r"offset must lie in \[0, dtau\)"),
    (dict(offset=-0.01), r"offset must lie in \[0, dtau\)"),
    (dict(offset=torch.tensor([0.0, 0.3], dtype=F64)), r"offset must lie in \[0, dtau\)"),
    (dict(offset=torch.zeros(3, dtype=F64)), "offset must be a float or a \\[batch\\] tensor"),
    (dict(t_in=torch.rand(2, 4, dtype=F64)), "4 input features but weight expects 5"),
    (dict(t_in=torch.rand(2, 5, 1, dtype=F64)), "t_in must be 2-D"),
    (dict(weight=torch.full((3, 5), float("nan"), dtype=F64)), "weight contains NaN"),
    (dict(t_in=torch.full((2, 5), float("nan"), dtype=F64)), "t_in contains NaN"),
    (dict(e_pos=0.0), "e_pos must be > 0"),
    (dict(e_neg=1.0), "e_neg must be < 0"),
])
@pytest.mark.parametrize("fn", ["rc", "ttfs"])
def test_bad_input_raises(kw, match, fn):
    args = dict(t_in=torch.rand(2, 5, dtype=F64), weight=torch.rand(3, 5, dtype=F64), e_pos=E_POS, e_neg=E_NEG,
                steps=5, offset=0.0)
    args.update(kw)
    if fn == "ttfs":
        args["offset"] = args["offset"] * 2.0  # t_max = 2: dtau = 0.4
    with pytest.raises(ValueError, match=match):
        if fn == "rc":
            rc_spike_dstd(**args)
        else:
            ttfs_dstd(t_max=2.0, **args)
