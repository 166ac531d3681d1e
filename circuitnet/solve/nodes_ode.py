"""Spike times of a several-node circuit (circuitnet.nodes) by RK4 with events, differentiable.

State x [B, I, n] (sample, neuron, node), x(0) = 0. Per sample the inputs are sorted; between two
consecutive input times (and from the last one to the window's end t_max) the interval is cut into
the same number m of RK4 steps for every sample of the batch (m = ceil(longest interval / dt), so
no step is longer than dt and every input time is a step edge):

    x_{i+1} = RK4(f, x_i, h)          f(x) = dx/dtau (circuitnet.compile_nodes)
    x(t_j+) = x(t_j-) + w_j u          at input j (u: the charge synapse's jump)

The comparator's node c crosses threshold in the first step with x_c >= 1 at its end (or at an
input whose jump carries x_c to 1: it fires at the input's time). The crossing inside that step is
polished by Newton's method on the RK4 step of variable length s from the step's start,

    g(s) = RK4(f, x_i, s)_c - 1,   g'(s) ~ f(RK4(f, x_i, s))_c,

and its last iteration is taken differentiably: the spike time's gradient is the implicit one,
-dg/dtheta / g', with dg/dtheta by autograd through every step before it (the discretised
trajectory: memory grows with the number of steps; no adjoint yet).
"""
import math

import torch


def rk4(f, x, h):
    """Classical RK4 step of the autonomous dx/dtau = f(x): x + h/6 (k1 + 2 k2 + 2 k3 + k4)."""
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def rk2(f, x, h):
    """Explicit midpoint step: x + h f(x + h/2 f(x))."""
    return x + h * f(x + 0.5 * h * f(x))


NODE_STEPS = {"rk2": rk2, "rk4": rk4}
CEILING = 2.0     # the comparator's node as the drift reads it, at most: one swing past threshold


def capped(cc, x):
    """x with the comparator's node at most CEILING (what the drift and the noise read)."""
    c = cc.comparator
    return torch.cat([x[..., :c], x[..., c:c + 1].clamp(max=CEILING), x[..., c + 1:]], -1)


def prepared(cc, t_in, params):
    """(parameter tensors p like t_in, the guarded drift f (guarded_drift), the input jump u [n] or [I, n])
    of a several-node solve (every method's first step)."""
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))
    return p, guarded_drift(cc, p), cc.jump(p, t_in.new_zeros(()))


def guarded_drift(cc, p):
    """f(x) = dx/dtau with the comparator's node read at most at CEILING. What a neuron does after it
    fired never matters; a current that explodes past threshold (positive feedback) then cannot
    overflow a step, whose inf or NaN would reach the gradients through autograd (0 * inf)."""
    return lambda x: cc.drift(capped(cc, x), p)


def input_intervals(t_in, weight, t_max, dt):
    """The per-sample schedule of the inputs: (ts [B, J] sorted input times (t_max where one never
    arrives), w [B, J, I] the weights in that order (0 where none arrives), edges [B, J + 2] (0, ts,
    t_max), lengths [B, J + 1] of the intervals between them, steps [J + 1]: the common number of
    steps per interval, ceil(longest / dt))."""
    B = t_in.shape[0]
    arrives = torch.isfinite(t_in) & (t_in < t_max)
    ts, order = torch.sort(torch.where(arrives, t_in, torch.full_like(t_in, t_max)), dim=1)
    w = weight.t()[order] * arrives.gather(1, order)[..., None]
    edges = torch.cat([ts.new_zeros(B, 1), ts, ts.new_full((B, 1), t_max)], 1)
    lengths = edges[:, 1:] - edges[:, :-1]
    steps = [int(math.ceil(x / dt - 1e-9)) for x in lengths.detach().max(0).values.tolist()]
    return ts, w, edges, lengths, steps


def input_jump(x, w_k, u, c, t_k, done, at_jump, t_jump):
    """x after an input's jump w_k u (w_k [B, I]) at times t_k [B], and the jump rule: a neuron not
    done yet that the jump carries to x_c >= 1 fires at t_k. Returns (x, done, at_jump, t_jump)."""
    x = x + w_k[..., None] * u
    hit = (~done) & (x[..., c] >= 1)
    t_jump = torch.where(hit, t_k[:, None].expand_as(t_jump), t_jump)
    return x, done | hit, at_jump | hit, t_jump


def nodes_spike_times(cc, t_in, weight, params, dt, polish):
    """(t_out [B, I], fired [B, I]) of a compiled several-node circuit (module docstring)."""
    B, J = t_in.shape
    I, n, c = weight.shape[0], cc.n, cc.comparator
    t_max = cc.timeline.t_max
    p, f, u = prepared(cc, t_in, params)                                       # u: [n] or [I, n]
    ts, w, edges, lengths, steps = input_intervals(t_in, weight, t_max, dt)
    x = t_in.new_zeros(B, I, n)
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    at_jump = torch.zeros_like(done)
    t_jump = t_in.new_zeros(B, I)
    x0 = x.clone()
    t0 = t_in.new_zeros(B, I)
    h0 = t_in.new_zeros(B, I)         # no crossing step: polish sees a step of length 0 (finite, discarded)
    for k in range(J + 1):
        m = steps[k]
        if m:
            h = (lengths[:, k] / m)[:, None, None]                              # [B, 1, 1]
            start = edges[:, k][:, None]
            for i in range(m):
                x1 = rk4(f, x, h)
                new = (~done) & ~(x1[..., c] < 1)            # a step that overflowed (NaN) crossed too
                x0 = torch.where(new[..., None], x, x0)
                t0 = torch.where(new, start + i * h[..., 0], t0)
                h0 = torch.where(new, h[..., 0].expand_as(t0), h0)
                done = done | new
                x = torch.where(done[..., None], x, x1)      # a neuron that fired stops: its state is not needed
        if k < J:
            x, done, at_jump, t_jump = input_jump(x, w[:, k], u, c, ts[:, k], done, at_jump, t_jump)
    s = polish_crossing(f, x0, h0, c, polish)
    t_out = torch.where(at_jump, t_jump, t0 + s)
    return torch.where(done, t_out, torch.full_like(t_out, t_max)), done


def polish_crossing(f, x0, h0, c, iterations, step=rk4):
    """s in [0, h0] with step(f, x0, s)_c = 1: Newton from the linear guess, kept inside the bracket
    [lo, hi] of the crossing (bisection where a Newton step leaves it or the step overflows), then one
    last Newton step taken differentiably (the implicit-function gradient, -dg/dtheta / g')."""
    with torch.no_grad():
        x0d, hd = x0.detach(), h0.detach()
        g0 = x0d[..., c] - 1
        g1 = step(f, x0d, hd[..., None])[..., c] - 1
        lo, hi = torch.zeros_like(hd), hd.clone()
        finite = torch.isfinite(g1)
        s = torch.where(finite & (g1 > g0), hd * (-g0) / torch.where(finite, g1 - g0, 1.0).clamp(min=1e-300), 0.5 * hd)
        s = torch.minimum(s.clamp(min=0), hd)
        for _ in range(iterations + 20):
            xs = step(f, x0d, s[..., None])
            g = xs[..., c] - 1
            below = g < 0                                   # NaN (an overflowed step) counts as above
            lo, hi = torch.where(below, s, lo), torch.where(below, hi, s)
            slope = f(xs)[..., c]
            newton = s - g / torch.where(slope.abs() > 0, slope, torch.ones_like(slope))
            inside = torch.isfinite(newton) & (newton > lo) & (newton < hi)
            s = torch.where(inside, newton, 0.5 * (lo + hi))
    xs = step(f, x0, s[..., None])
    slope = f(xs)[..., c].detach()
    return s - (xs[..., c] - 1) / torch.where(slope.abs() > 0, slope, torch.ones_like(slope))
