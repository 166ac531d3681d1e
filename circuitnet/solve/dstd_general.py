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
  S recomputed, nothing of size [B, K, J] saved); where the compiled kernels serve, the sparse sums of
  solve.dstd instead (S is 0, a ramp, then 1: a few rows per input).
* Step. One explicit-midpoint (RK2) step of the compiled dynamics with the constant drive
  (P~_m, N~_m) per interval: v <- v + L F(v + L/2 F(v, s), s + L/2), time switches evaluated at
  the interval middle (``tsw``).
* Crossing. In comparator phases a neuron fires in the first interval whose end state is >= 1;
  inside it, Newton on delta -> step(v_m, delta) = 1 (the step's own interpolant,
  ``ode.polish``) gives delta*, and the spike time is made differentiable by the implicit function
  theorem (y = step(v_m, delta*) evaluated with autograd, t = s_m + delta* - (y - 1)/F(1)).
  A neuron already at v >= 1 when the first comparator phase starts fires there (the clip, zero
  gradient); neurons that never fire get t_max and fired = False.
* Charge packets (GateCharge): spread over the grid by the same kernel as in solve.dstd: interval
  m starts with Q_m - Q_{m-1}, Q_m = sum_j jumps_ij S_jm, and every packet leaves where the synapse
  phase ends; packets of other devices where their phase starts.
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

The general path's accuracy against "ode" and its cost against the ANN layer are measured in
docs/benchmarks.md (benchmarks/bench_general.py): the averaged drive limits the order to 2, RK4
(``DSTD(step="rk4")``) only lowers the constant at twice the rhs evaluations, so RK2 is the default.
"""
import torch

from ..drive import Drive
from ..inputs import check_layer_inputs
from .compiled import kernels_for
from .dstd import dstd_grid, dstd_kernel, dstd_kernel_input_grad, hat_gather, hat_spread
from .kernels import check_steps, polish, rk2_step, scratch, spike_time_from_membrane
from .schedule import Schedule
from .unclipped import unclip


class AveragedDrive(torch.autograd.Function):
    """Averaged drive [B, K, 2 I] = S(t_in; lo, hi) @ wcat^T, wcat = [relu(W); min(W, 0)] [2 I, J].

    Backward: dL/dwcat = dPN^T S (dL/dW_ij: its relu row where W_ij >= 0, else its min row),
    dL/dS = dPN wcat,  dL/dt_j = -sum_m dL/dS_jm [0 < S_jm < 1] / L_m  (S recomputed into a scratch
    buffer). Where the compiled kernels serve, the products are the sparse sums of solve.dstd (S is 0,
    a ramp, then 1: a few rows per input), not the three GEMMs."""

    @staticmethod
    def forward(ctx, t_in, weight, lo, hi, jumps):
        B, J = t_in.shape
        K = lo.shape[1]
        wcat = torch.cat([weight.clamp(min=0), weight.clamp(max=0)] + ([] if jumps is None else [jumps]), 0)
        ctx.save_for_backward(t_in, weight, wcat, lo, hi)
        lib = kernels_for(t_in, wcat, lo, hi)
        if lib is not None:
            return hat_spread(lib, t_in, wcat, lo, hi)
        S = dstd_kernel(t_in, lo, hi, scratch("dstdg.S", (B, K, J), t_in.dtype, t_in.device))
        return torch.mm(S.view(B * K, J), wcat.t()).view(B, K, wcat.shape[0])

    @staticmethod
    def backward(ctx, gpn):
        t_in, weight, wcat, lo, hi = ctx.saved_tensors
        B, J = t_in.shape
        I, K = weight.shape[0], lo.shape[1]
        need_cat = ctx.needs_input_grad[1] or ctx.needs_input_grad[4]
        lib = kernels_for(t_in, wcat, lo, hi, gpn)
        if lib is not None:
            g_cat, g_t = hat_gather(lib, t_in, wcat, lo, hi, gpn, need_cat, ctx.needs_input_grad[0])
            g_w = None if g_cat is None else torch.where(weight >= 0, g_cat[:I], g_cat[I:2 * I])
            g_j = g_cat[2 * I:] if g_cat is not None and ctx.needs_input_grad[4] else None
            return g_t, g_w, None, None, g_j
        S = dstd_kernel(t_in, lo, hi, scratch("dstdg.S", (B, K, J), t_in.dtype, t_in.device))
        g2 = gpn.reshape(B * K, -1)
        g_w = g_j = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[4]:
            g_cat = torch.mm(g2.t(), S.view(B * K, J))
            g_w = torch.where(weight >= 0, g_cat[:I], g_cat[I:2 * I])
            g_j = g_cat[2 * I:] if ctx.needs_input_grad[4] else None
        g_t = None
        if ctx.needs_input_grad[0]:
            dS = torch.mm(g2, wcat, out=scratch("dstdg.dS", (B * K, J), t_in.dtype, t_in.device)).view(B, K, J)
            g_t = dstd_kernel_input_grad(dS, S, lo, hi)
        return g_t, g_w, None, None, g_j


def phase_grid(ph, steps, offset, t_in, edges=()):
    """(lo, hi) [B or 1, K] of phase ph: dstd_grid(steps, offset) plus the phase's breakpoints and
    ``edges`` (the schedule's interior jump times)."""
    lo, hi = dstd_grid(steps, offset, ph.duration, t_in)
    fixed = tuple(ph.breakpoints) + tuple(edges)
    if fixed:
        bp = torch.tensor(fixed, dtype=t_in.dtype, device=t_in.device).expand(hi.shape[0], -1)
        hi = torch.cat([hi, bp], 1).sort(1).values
        lo = torch.cat([torch.zeros_like(hi[:, :1]), hi[:, :-1]], 1)
    return lo, hi


def averaged_drive(t_in, weight, lo, hi, jumps=None):
    """(the :class:`~circuitnet.drive.Drive` [B, K, I] averaged over each grid interval [lo, hi),
    Q [B, K, I] = sum_j jumps_ij S_jm or None), one GEMM (:class:`AveragedDrive`)."""
    PN = AveragedDrive.apply(t_in, weight, lo, hi, jumps)
    I = weight.shape[0]
    return Drive(PN[..., :I], PN[..., I:2 * I]), (PN[..., 2 * I:] if jumps is not None else None)


def general_dstd(cc, t_in, weight, params=None, steps=10, offset=0.0, clip=True, step=rk2_step):
    """Spike times [B, I] (from the start of the first comparator phase) and fired mask of any
    compiled circuit by the scheme of the module docstring.

    cc: CompiledCircuit; t_in [B, J] (>= 0, +inf = no spike); weight [I, J]; params: parameter
    overrides (tensors may require grad); steps M >= 1; offset: float or [B] tensor in
    [0, D_syn/M) (synapse-phase time); clip=False: the unclipped firing time (module docstring);
    step: the step function (circuitnet.solve.kernels: rk2_step, rk4_step).
    """
    check_layer_inputs(t_in, weight)
    steps = check_steps(steps)
    tl = cc.timeline
    syn = cc.phases[tl.synapse_phase]
    dstd_grid(steps, offset, syn.duration, t_in)  # validates offset (in synapse-phase time)
    sched = Schedule(cc, t_in, weight, params)
    B, I = t_in.shape[0], weight.shape[0]
    zero = Drive(t_in.new_zeros(()), t_in.new_zeros(()))
    v = t_in.new_zeros(B, I)
    t_out = t_in.new_zeros(B, I)
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    v_first = v_last = None
    consts, jumps = sched.consts, sched.input_jumps
    for pi, ph in enumerate(cc.phases):
        c = consts[pi]
        off = offset if ph is syn else offset * (ph.duration / syn.duration)
        lo, hi = phase_grid(ph, steps, off, t_in, sched.interior(pi))
        h, mid = hi - lo, 0.5 * (lo + hi)
        K = lo.shape[1]
        drive = Q = None
        v = sched.start(pi, v)
        if ph.synapses:
            drive, Q = averaged_drive(t_in, weight, lo, hi, jumps)
            per_step = list(zip(*(x.unbind(1) for x in drive[:4] if x is not None)))  # one gradient stack in backward
            if Q is not None:   # packets spread by the hat kernel, as in solve.dstd (none from t <= 0)
                v = v - (t_in <= 0).to(v.dtype) @ jumps.t()
                dQ = torch.diff(Q, dim=1, prepend=torch.zeros_like(Q[:, :1])).unbind(1)
        if pi == tl.first:
            v_first = v
            t_out, done, _ = tl.open_window(v.detach(), t_out, done)
        starts, ends = [], []   # each interval's first and last state (before the jumps at its end)
        for m in range(K):
            starts.append(v)
            if Q is not None:
                v = v + dQ[m]
            v = step(ph, v, lo[:, m:m + 1], h[:, m:m + 1], mid[:, m:m + 1],
                     Drive(*per_step[m]) if drive is not None else zero, c)
            ends.append(v)
            v = sched.at(pi, v, hi[:, m:m + 1], h[:, m:m + 1] > 0)     # once, where an edge repeats a grid point
        if Q is not None:       # the synapse devices switch off: every packet back
            v = v - Q[:, K - 1]
        v = sched.end(pi, v)
        if ph.comparator:
            t_out, done = _crossings(ph, c, torch.stack(starts, 1), torch.stack(ends, 1), lo, hi, drive, step, done,
                                     t_out, tl.in_window(pi, 0.0))
        if pi == tl.last:
            v_last = v
    t_out = tl.report(t_out, done)
    if not clip:
        t_out = unclip(cc, consts, t_in, weight, t_out, v_first.detach() >= 1, ~done, v_first, v_last)
    return t_out, done


def _crossings(ph, c, V0, V1, lo, hi, drive, step, done, t_out, t0):
    """First threshold crossing inside this comparator phase for neurons not done yet.

    V0, V1 [B, K, I]: each interval's first and last state (autograd); drive: the phase's averaged
    Drive [B, K, I] or None; t0: the phase's start in window time. Returns updated (t_out, done)."""
    B, K, I = V1.shape
    K1 = K + 1
    above = V1.detach() >= 1
    hit = above.any(1) & ~done
    if not hit.any():
        return t_out, done
    # first interval ending at or above 1 = number of leading intervals below it, [B, 1, I]
    # (a float cumprod: several times faster on the CPU than argmax over the strided dim)
    k = (~above).to(V1.dtype).cumprod(1).sum(1, keepdim=True).clamp_(max=K1 - 2).long()
    pick = lambda x: x.expand(B, K1 - 1, I).gather(1, k).squeeze(1)
    s, e = pick(lo.unsqueeze(2)), pick(hi.unsqueeze(2))
    zero = V1.new_zeros(())
    dk = drive.map(pick) if drive is not None else Drive(zero, zero)
    v0 = V0.gather(1, k).squeeze(1)
    tsw = 0.5 * (s + e)
    with torch.no_grad():
        interval = dict(v0=v0.detach(), v1=V1.detach().gather(1, k).squeeze(1), s=s, h=e - s, tsw=tsw,
                        drive=dk.detach())
        cd = [x.detach() for x in c]
        d = polish(ph, interval, cd, iters=4, step=step)
        rate = ph.rhs(torch.ones_like(d), s + d, tsw, interval["drive"], cd)
        rate = torch.where(hit, rate, torch.ones_like(rate))
    y = step(ph, v0, s, d, tsw, dk, c)
    t = spike_time_from_membrane(t0 + s + d, hit, y, rate, 0.0)
    return torch.where(hit, t, t_out), done | hit
