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
import torch

from ..drive import Drive
from ..inputs import check_layer_inputs
from .dstd_general import averaged_drive, phase_grid
from .kernels import check_steps
from .schedule import Schedule


def _rates(ph, m, var, s, tsw, drive, c):
    """(dm/dtau, dVar/dtau) of the linearised system in one phase."""
    f = ph.rhs(m, s, tsw, drive, c)
    return f, 2 * ph.rhs_dv(m, s, tsw, drive, c) * var + ph.noise_rate(m, s, tsw, drive, c)


def _rk2(ph, m, var, s, h, tsw, drive, c):
    f1, g1 = _rates(ph, m, var, s, tsw, drive, c)
    f2, g2 = _rates(ph, m + 0.5 * h * f1, var + 0.5 * h * g1, s + 0.5 * h, tsw, drive, c)
    return m + h * f2, var + h * g2


def spike_jitter(cc, t_in, weight, params=None, steps=64):
    """(t [B, I], sigma_t [B, I], fired [B, I]): the noise-free spike time on the grid, the jitter of
    the module docstring (0 where the neuron does not fire, or fires at the start of the comparator
    phase: clipped) and the fired mask. cc: CompiledCircuit with declared noise; t_in [B, J]; weight
    [I, J]; params: per-neuron parameter overrides (a mismatched chip: variation.apply)."""
    check_layer_inputs(t_in, weight)
    steps = check_steps(steps)
    if not cc.has_noise:
        raise ValueError("spike_jitter: the circuit declares no noise (ShotNoise, ThermalNoise, ResetNoise)")
    if cc.several_nodes:
        from .nodes_jitter import nodes_spike_jitter
        return nodes_spike_jitter(cc, t_in, weight, params, steps)
    with torch.no_grad():
        sched = Schedule(cc, t_in, weight, params)
        consts, jumps = sched.consts, sched.input_jumps
        B, I = t_in.shape[0], weight.shape[0]
        tl = cc.timeline
        m = t_in.new_zeros(B, I)
        var = cc.initial_variance(sched.params, t_in).expand(B, I).clone()
        t_out = t_in.new_zeros(B, I)
        sigma = t_in.new_zeros(B, I)
        done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
        zero = t_in.new_zeros(())
        for pi, ph in enumerate(cc.phases):
            c = consts[pi]
            lo, hi = phase_grid(ph, steps, 0.0, t_in, sched.interior(pi))
            drive = Q = None
            m = sched.start(pi, m)
            if ph.synapses:
                drive, Q = averaged_drive(t_in, weight, lo, hi, jumps)
                if ph.weight_dependent:          # the beta sums (and the separable terms' sums), averaged the same way
                    wb = cc.synapse_weights(consts, weight)
                    beta, _ = averaged_drive(t_in, wb.pos_beta + wb.neg_beta, lo, hi)
                    curves = tuple(sum(averaged_drive(t_in, x, lo, hi)[0][:2]) for x in wb.curves)
                    drive = Drive(drive.pos, drive.neg, beta.pos, beta.neg, curves)
                if Q is not None:    # charge packets on the grid, as in dstd_general
                    m = m - (t_in <= 0).to(m.dtype) @ jumps.t()
                    dQ = torch.diff(Q, dim=1, prepend=torch.zeros_like(Q[:, :1]))
            if pi == tl.first:
                t_out, done, _ = tl.open_window(m, t_out, done)
            for k in range(lo.shape[1]):
                if Q is not None:
                    m = m + dQ[:, k]
                s, h = lo[:, k:k + 1], hi[:, k:k + 1] - lo[:, k:k + 1]
                dk = Drive(zero, zero) if drive is None else drive.map(lambda x: x[..., k, :])
                m1, var1 = _rk2(ph, m, var, s, h, s + 0.5 * h, dk, c)
                if ph.comparator:          # no host sync: every step computes the crossing, masked
                    hit = tl.crossed(m1, done)
                    frac = ((1 - m) / torch.where(hit, m1 - m, torch.ones_like(m))).clamp(0, 1)
                    d = frac * h
                    v_at = var + frac * (var1 - var)
                    slope = ph.rhs(torch.ones_like(m), s + d, s + 0.5 * h, dk, c)
                    t_out = torch.where(hit, tl.in_window(pi, s + d), t_out)
                    sigma = torch.where(hit, v_at.clamp(min=0).sqrt() / slope.clamp(min=1e-12), sigma)
                    done = done | hit
                m, var = sched.at(pi, m1, hi[:, k:k + 1], h > 0), var1
            if Q is not None:
                m = m - Q[:, -1]
            var = var * sched.end_gain(pi, m) ** 2     # a jump that depends on v scales the variance
            m = sched.end(pi, m)
        return tl.report(t_out, done), sigma, done
