"""Spike-time jitter of a noisy circuit, derived from its declared noise (linear-noise approximation).

Units: normalised time and voltage (:mod:`circuitnet.compile`). The SDE of method "sde",

    dv = F(v, tau) dtau + sqrt(s(v, tau)) dW,    F = a + P k_pos + N k_neg,
    s = noise + P noise_pos - N noise_neg       (shot, thermal noise; variance rate),
    Var v(0) = Var_reset                         (kT/C),

is linearised about its noise-free path m(tau): the membrane variance then obeys

    dm/dtau = F(m, tau),    dVar/dtau = 2 dF/dv(m, tau) Var + s(m, tau),

and a spike, where m crosses threshold at t*, moves by the voltage error over the slope there:

    sigma_t = sqrt(Var(t*)) / F(1, t*).

Both equations are integrated on the DSTD grid of :mod:`circuitnet.solve.dstd_general` (``steps``
intervals per phase, each with the hat-kernel averaged drive of one GEMM, one RK2 step of (m, Var));
t* is located by linear interpolation of m in the interval where it reaches 1, and Var is
interpolated there the same way. Nothing is differentiated: the jitter is a noise amplitude, a
training pass adds sigma_t z to the spike times (z ~ N(0, 1)) at the cost of about one DSTD
forward pass. Valid while sigma_t is small against the curvature of the path (the membrane moves
little during one jitter; the sde tests check it against the ensemble).
"""
import numbers

import torch

from .checks import check_layer_inputs
from .dstd_general import _Drive, phase_grid
from .ode import W_FLOOR, _betas


def _rates(ph, m, var, s, tsw, P, N, c):
    """(dm/dtau, dVar/dtau) of the linearised system in one phase (stacked P, N where weight-dependent)."""
    f = ph.rhs(m, s, tsw, P, N, c)
    fv = ph.ddrift_dv(m, s, tsw, c)
    q = ph.noise(m, s, tsw, c)
    if ph.synapses:
        if ph.weight_dependent:
            fv = fv - (P[1] + N[1])
            p, n = P[0], N[0]
        else:
            fv = fv + P * ph.dk_pos_dv(m, s, tsw, c) + N * ph.dk_neg_dv(m, s, tsw, c)
            p, n = P, N
        q = q + p * ph.noise_pos(m, s, tsw, c) - n * ph.noise_neg(m, s, tsw, c)
    return f, 2 * fv * var + q


def _rk2(ph, m, var, s, h, tsw, P, N, c):
    f1, g1 = _rates(ph, m, var, s, tsw, P, N, c)
    f2, g2 = _rates(ph, m + 0.5 * h * f1, var + 0.5 * h * g1, s + 0.5 * h, tsw, P, N, c)
    return m + h * f2, var + h * g2


def spike_jitter(cc, t_in, weight, params=None, steps=64):
    """(t [B, I], sigma_t [B, I], fired [B, I]): the noise-free spike time on the grid, the jitter of
    the module docstring (0 where the neuron does not fire, or fires at the start of the comparator
    phase: clipped) and the fired mask. cc: CompiledCircuit with declared noise; t_in [B, J]; weight
    [I, J]; params: per-neuron parameter overrides (a mismatched chip: variation.apply)."""
    check_layer_inputs(t_in, weight)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not cc.has_noise:
        raise ValueError("spike_jitter: the circuit declares no noise (ShotNoise, ThermalNoise, ResetNoise)")
    with torch.no_grad():
        p = cc.params(t_in.dtype, t_in.device, **(params or {}))
        consts = [ph.prepare(p, t_in) for ph in cc.phases]
        B, I = t_in.shape[0], weight.shape[0]
        phases = cc.phases
        first = next(i for i, ph in enumerate(phases) if ph.comparator)
        last = max(i for i, ph in enumerate(phases) if ph.comparator)
        start = [0.0]
        for ph in phases:
            start.append(start[-1] + ph.duration)
        m = t_in.new_zeros(B, I)
        var = cc.initial_variance(p, t_in).expand(B, I).clone()
        t_out = t_in.new_full((B, I), start[last + 1] - start[first])
        sigma = t_in.new_zeros(B, I)
        done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
        zero = t_in.new_zeros(())
        for pi, ph in enumerate(phases):
            c = consts[pi]
            lo, hi = phase_grid(ph, steps, 0.0, t_in)
            P = N = None
            if ph.synapses:
                PN = _Drive.apply(t_in, weight, lo, hi)
                P, N = PN[..., :I], PN[..., I:]
                if ph.weight_dependent:
                    bp, bn = _betas(cc, consts, weight.t().abs().clamp(min=W_FLOOR))
                    wb = torch.where(weight >= 0, weight * bp.t(), weight * bn.t())
                    PN1 = _Drive.apply(t_in, wb, lo, hi)
                    P, N = torch.stack([P, PN1[..., :I]]), torch.stack([N, PN1[..., I:]])
            if pi == first:
                done = m >= 1
                t_out = torch.where(done, torch.zeros_like(t_out), t_out)
            for k in range(lo.shape[1]):
                s, h = lo[:, k:k + 1], hi[:, k:k + 1] - lo[:, k:k + 1]
                pk = zero if P is None else P[..., k, :]
                nk = zero if N is None else N[..., k, :]
                m1, var1 = _rk2(ph, m, var, s, h, s + 0.5 * h, pk, nk, c)
                if ph.comparator:          # no host sync: every step computes the crossing, masked
                    hit = (m1 >= 1) & ~done
                    frac = ((1 - m) / torch.where(hit, m1 - m, torch.ones_like(m))).clamp(0, 1)
                    d = frac * h
                    v_at = var + frac * (var1 - var)
                    slope = ph.rhs(torch.ones_like(m), s + d, s + 0.5 * h, pk, nk, c)
                    t_out = torch.where(hit, start[pi] - start[first] + s + d, t_out)
                    sigma = torch.where(hit, v_at.clamp(min=0).sqrt() / slope.clamp(min=1e-12), sigma)
                    done = done | hit
                m, var = m1, var1
        return t_out, sigma, done
