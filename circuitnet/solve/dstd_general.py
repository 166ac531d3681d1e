"""Method "dstd" for any compiled circuit: averaged drive on a grid, one Runge-Kutta step per interval.

Units: normalised time (the circuit's time unit) and voltage (reset 0, threshold 1), as in
:mod:`circuitnet.compile`, whose per-phase dynamics it integrates:

    dv/dtau = a(v, tau) + P(tau) k_pos(v) + N(tau) k_neg(v),
    P = sum_j relu(w_j) H(tau - t_j),   N = sum_j min(w_j, 0) H(tau - t_j).

Scheme (DSTD generalised; :mod:`circuitnet.solve.dstd` is its affine special case):

* Grid. Every phase p of length D_p is cut into the M intervals of ``dstd.dstd_grid``
  (T_m = m D_p/M - offset_p), plus the phase's compile-time switching times (``breakpoints``) as
  fixed edges, so that no interval straddles a jump of a time switch.  ``offset`` is given in the
  synapse phase's time, in [0, D_syn/M); phase p uses the same fraction of its own step.
* Drive. In the synapse phase the time-averaged drive of interval m,
      P~_im = sum_j relu(w_ij) S_jm,   N~_im = sum_j min(w_ij, 0) S_jm,
  with the hat/fraction kernel S_jm = clamp((hi_m - t_j)/L_m, 0, 1) of ``dstd.dstd_kernel``, comes
  from one GEMM [B K, J] x [J, 2 I] for all samples, intervals and neurons (K = M + breakpoints),
  piecewise linear in t_j and so differentiable in the input times (custom backward: two GEMMs,
  S recomputed, nothing of size [B, K, J] saved).
* Step. One explicit-midpoint (RK2) step of the compiled dynamics with the constant drive
  (P~_m, N~_m) per interval: v <- v + L F(v + L/2 F(v, s), s + L/2), time switches evaluated at
  the interval middle (``tsw``).
* Crossing. In comparator phases a neuron fires in the first interval whose end state is >= 1;
  inside it, Newton on delta -> step(v_m, delta) = 1 (the step's own interpolant,
  ``ode.polish``) gives delta*, and the spike time is made differentiable by the implicit function
  theorem (y = step(v_m, delta*) evaluated with autograd, t = s_m + delta* - (y - 1)/F(1)).
  A neuron already at v >= 1 when the first comparator phase starts fires there (the clip, zero
  gradient); neurons that never fire get t_max and fired = False.
* Gradients: autograd through the M steps (weights, input times, circuit parameters passed in
  ``params`` as tensors).  Cost per layer: the GEMM of affine DSTD plus about 2 K element-wise
  rhs evaluations on [B, I].

In a phase with both synapses and the comparator (the TTFS shape) the crossing interval's averaged
drive also counts inputs that arrive after the crossing within that interval, exactly as the
affine TTFS DSTD does; the order is then about 1.5, not 2 (measured, t_max = 4, 64 inputs,
quadratic synapses: max spike-time error 1.3e-2, 3.8e-3, 2.4e-3, 6.1e-4 at M = 10, 20, 40, 80;
the affine TTFS DSTD on the paper's circuit: 2.0e-2, 6.2e-3, 1.9e-3, 8.2e-4).

Unclipped firing time (clip=False): :mod:`circuitnet.solve.unclipped` (the time the boundary
dynamics would need to carry v to threshold where the clip acted).

Measured order (RC-Spike, quadratic-CLM synapses, 128 inputs, 32 neurons, 16 samples, float64,
against "ode" at dt = 1/256): max spike-time error 6.3e-4, 1.6e-4, 4.3e-5 at
M = 10, 20, 40 with RK2 (order 1.94), 2.0e-4, 5.2e-5, 1.3e-5 with RK4 (order 1.98): the averaged
drive limits the order to 2 either way, RK4 only lowers the constant (3x) at twice the rhs
evaluations.  Cost (benchmarks/bench_general.py, float32, batch 256, 784 -> 400, forward +
backward / clip-ANN layer): RK2 M = 10 22.3x, RK4 M = 10 30.6x, RK2 M = 17 (RK4 M = 10's
accuracy) 37.0x, with 57 / 105 / 93 MB saved for backward (batch 32: 17.8x, 27.1x, 28.1x).  RK4
is the cheaper way to a given accuracy (by 4 to 17 % in time), RK2 the cheaper default at M = 10
(by 27 to 34 % in time and 45 % in memory); spike-time errors of 1e-3 are far below the training
noise (sigma 0.01), so RK2 is the default (``step=ode._rk4`` selects RK4).
"""
import numbers

import torch

from .affine import scratch, spike_time_from_membrane
from .checks import check_layer_inputs
from .dstd import dstd_grid, dstd_kernel, dstd_kernel_input_grad
from .ode import polish
from .unclipped import unclip


class _Drive(torch.autograd.Function):
    """Averaged drive [B, K, 2 I] = S(t_in; lo, hi) @ wcat^T, wcat = [relu(W); min(W, 0)] [2 I, J].

    Backward: dL/dwcat = dPN^T S (dL/dW_ij: its relu row where W_ij >= 0, else its min row),
    dL/dS = dPN wcat,  dL/dt_j = -sum_m dL/dS_jm [0 < S_jm < 1] / L_m  (S recomputed into a scratch
    buffer)."""

    @staticmethod
    def forward(ctx, t_in, weight, lo, hi):
        B, J = t_in.shape
        K = lo.shape[1]
        S = dstd_kernel(t_in, lo, hi, scratch("dstdg.S", (B, K, J), t_in.dtype, t_in.device))
        wcat = torch.cat([weight.clamp(min=0), weight.clamp(max=0)], 0)
        ctx.save_for_backward(t_in, weight, wcat, lo, hi)
        return torch.mm(S.view(B * K, J), wcat.t()).view(B, K, wcat.shape[0])

    @staticmethod
    def backward(ctx, gpn):
        t_in, weight, wcat, lo, hi = ctx.saved_tensors
        B, J = t_in.shape
        I, K = weight.shape[0], lo.shape[1]
        S = dstd_kernel(t_in, lo, hi, scratch("dstdg.S", (B, K, J), t_in.dtype, t_in.device))
        g2 = gpn.reshape(B * K, -1)
        g_w = None
        if ctx.needs_input_grad[1]:
            g_cat = torch.mm(g2.t(), S.view(B * K, J))
            g_w = torch.where(weight >= 0, g_cat[:I], g_cat[I:])
        g_t = None
        if ctx.needs_input_grad[0]:
            dS = torch.mm(g2, wcat, out=scratch("dstdg.dS", (B * K, J), t_in.dtype, t_in.device)).view(B, K, J)
            g_t = dstd_kernel_input_grad(dS, S, lo, hi)
        return g_t, g_w, None, None


def rk2(ph, v, s, h, tsw, P, N, c):
    """One explicit-midpoint step of dv/dtau = rhs over h from (s, v)."""
    k1 = ph.rhs(v, s, tsw, P, N, c)
    return v + h * ph.rhs(v + 0.5 * h * k1, s + 0.5 * h, tsw, P, N, c)


def phase_grid(ph, steps, offset, t_in):
    """(lo, hi) [B or 1, K] of phase ph: dstd_grid(steps, offset) plus the phase's breakpoints."""
    lo, hi = dstd_grid(steps, offset, ph.duration, t_in)
    if ph.breakpoints:
        bp = torch.tensor(ph.breakpoints, dtype=t_in.dtype, device=t_in.device).expand(hi.shape[0], -1)
        hi = torch.cat([hi, bp], 1).sort(1).values
        lo = torch.cat([torch.zeros_like(hi[:, :1]), hi[:, :-1]], 1)
    return lo, hi


def general_dstd(cc, t_in, weight, params=None, steps=10, offset=0.0, clip=True, step=rk2):
    """Spike times [B, I] (from the start of the first comparator phase) and fired mask of any
    compiled circuit by the scheme of the module docstring.

    cc: CompiledCircuit; t_in [B, J] (>= 0, +inf = no spike); weight [I, J]; params: parameter
    overrides (tensors may require grad); steps M >= 1; offset: float or [B] tensor in
    [0, D_syn/M) (synapse-phase time); clip=False: the unclipped firing time (module docstring).
    """
    check_layer_inputs(t_in, weight)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    phases = cc.phases
    syn = phases[cc.synapse_phase]
    dstd_grid(steps, offset, syn.duration, t_in)  # validates offset (in synapse-phase time)
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))
    B, I = t_in.shape[0], weight.shape[0]
    start = [0.0]
    for ph in phases:
        start.append(start[-1] + ph.duration)
    first = next(i for i, ph in enumerate(phases) if ph.comparator)
    last = max(i for i, ph in enumerate(phases) if ph.comparator)
    t_max = start[last + 1] - start[first]
    zero = t_in.new_zeros(())
    v = t_in.new_zeros(B, I)
    t_out = t_in.new_full((B, I), t_max)
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    v_first = None
    consts = [ph.prepare(p, t_in) for ph in phases]
    for pi, ph in enumerate(phases):
        c = consts[pi]
        off = offset if ph is syn else offset * (ph.duration / syn.duration)
        lo, hi = phase_grid(ph, steps, off, t_in)
        h, mid = hi - lo, 0.5 * (lo + hi)
        K = lo.shape[1]
        P = N = None
        if ph.synapses:
            PN = _Drive.apply(t_in, weight, lo, hi)
            P, N = PN[..., :I], PN[..., I:]
            Ps, Ns = P.unbind(1), N.unbind(1)  # unbind: one gradient stack in backward, not K copies
        if pi == first:
            v_first = v
            done = v.detach() >= 1
            t_out = torch.where(done, torch.zeros_like(t_out), t_out)
        states = [v]
        for m in range(K):
            v = step(ph, v, lo[:, m:m + 1], h[:, m:m + 1], mid[:, m:m + 1],
                     Ps[m] if P is not None else zero, Ns[m] if N is not None else zero, c)
            states.append(v)
        if ph.comparator:
            t_out, done = _crossings(ph, c, torch.stack(states, 1), lo, hi, P, N, step, done, t_out,
                                     start[pi] - start[first])
        if pi == last:
            v_last = v
    if not clip:
        t_out = unclip(cc, consts, t_in, weight, t_out, v_first.detach() >= 1, ~done, v_first, v_last)
    return t_out, done


def _crossings(ph, c, V, lo, hi, P, N, step, done, t_out, t0):
    """First threshold crossing inside this comparator phase for neurons not done yet.

    V [B, K+1, I]: states at the grid points (autograd); returns updated (t_out, done)."""
    B, K1, I = V.shape
    above = V[:, 1:].detach() >= 1
    hit = above.any(1) & ~done
    if not hit.any():
        return t_out, done
    # first interval ending at or above 1 = number of leading intervals below it, [B, 1, I]
    # (a float cumprod: several times faster on the CPU than argmax over the strided dim)
    k = (~above).to(V.dtype).cumprod(1).sum(1, keepdim=True).clamp_(max=K1 - 2).long()
    pick = lambda x: x.expand(B, K1 - 1, I).gather(1, k).squeeze(1)
    s, e = pick(lo.unsqueeze(2)), pick(hi.unsqueeze(2))
    zero = V.new_zeros(())
    Pk = pick(P) if P is not None else zero
    Nk = pick(N) if N is not None else zero
    v0 = V[:, :-1].gather(1, k).squeeze(1)
    tsw = 0.5 * (s + e)
    with torch.no_grad():
        st = dict(v0=v0.detach(), v1=V[:, 1:].detach().gather(1, k).squeeze(1), s=s, h=e - s, tsw=tsw,
                  P=Pk.detach(), N=Nk.detach())
        cd = [x.detach() for x in c]
        d = polish(ph, st, cd, iters=4, step=step)
        rate = ph.rhs(torch.ones_like(d), s + d, tsw, st["P"], st["N"], cd)
        rate = torch.where(hit, rate, torch.ones_like(rate))
    y = step(ph, v0, s, d, tsw, Pk, Nk, c)
    t = spike_time_from_membrane(t0 + s + d, hit, y, rate, 0.0)
    return torch.where(hit, t, t_out), done | hit
