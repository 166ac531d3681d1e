"""DSTD: differentiable spike-time discretisation (docs/paper.md section 5).

Units: normalised time and voltage, as in :mod:`circuitnet.solve.exact` (same neuron model).
The phase [0, t_end] (t_end = 1 for RC-Spike, t_max for TTFS) is cut into ``steps`` = M
intervals with grid points

    T_m = m dtau - offset  (m = 1 .. M-1),  dtau = t_end / M,   first point 0, last point t_end

(the paper's grid, clipped to the phase: the first interval is [0, dtau - offset], the last,
pinned at t_end, [(M-1) dtau - offset, t_end]).  ``offset`` lies in [0, dtau): 0 is the fixed grid;
in training the caller draws offset ~ U(0, dtau) per layer and mini-batch (a float) or per sample
(a [batch] tensor), which makes the discretisation error zero-mean.

Each input spike is spread over the grid by the hat kernel; its running sum over the grid,

    S_jm = clamp((T_{m+1} - t_j) / L_m, 0, 1),   L_m = T_{m+1} - T_m,

is the fraction of interval m during which input j is on (the paper's S_jm for the uniform grid),
piecewise linear in t_j, so d/dt_j is exact for the discretised model.  Then, as matrix products,

    f~_im = leak + sum_j beta_ij w_ij S_jm,    g~_im = bias + sum_j w_ij S_jm,

and every grid interval is solved exactly (affine.relax: v <- v + L phi1(f~ L) (g~ - f~ v)).
RC-Spike reads v(t_end) and applies the firing phase; TTFS finds the in-interval threshold
crossing (affine.crossing_time).  Error |v - v~| = O(dtau^2); without leak and bias it vanishes
when all weights of a neuron share one sign (v then depends only on int g dt, which S preserves)
and grows with the mixed-sign conductance sum_j |w_ij| / |E|.

Performance: S is 0 before an input's grid interval, a ramp inside it and 1 after, so the three
products with it (f~, g~ forward; the weight and input gradients backward) need a few rows per input,
not M: compiled kernels (circuitnet.solve.compiled, hat_spread / hat_gather) sum them, and the
pure-torch path (no compiler, or CIRCUITNET_KERNELS=0) does one GEMM [B M, in] x [in, 2 out] forward
and two backward (the second skipped when t_in needs no gradient) with S in a reused scratch buffer;
both agree to rounding (tests/test_speed_paths.py).  The element-wise work is a few passes over
[B, M, out] tensors.  Saved for backward: f~, g~ [B, M, 2 out] and the membrane at the grid points
[B, M + 1, out].
"""
import torch

from .compiled import check_codes, kernel_threads, kernels_for, ptr, run_parallel, split_range, suffix
from .kernels import (LOG2E, as_param, check_layer, crossing_time, fire_phase, relax, relax_grads, rho_of,
                      scratch, spike_time_from_membrane, weight_cat)

_TINY_LEN = 1e-30


def dstd_grid(steps, offset, t_end, t_in):
    """Interval bounds (lo, hi), each [B or 1, M] in t_in's dtype, for the grid described above.

    offset: float or [batch] tensor in [0, dtau).  Raises ValueError otherwise.
    """
    M, dtau = steps, t_end / steps
    off = torch.as_tensor(offset, dtype=t_in.dtype, device=t_in.device).detach()
    if off.dim() > 1 or (off.dim() == 1 and off.shape[0] != t_in.shape[0]):
        raise ValueError(f"offset must be a float or a [batch] tensor, got shape {tuple(off.shape)}")
    if torch.isnan(off).any() or (off < 0).any() or (off >= dtau).any():
        raise ValueError(f"offset must lie in [0, dtau) with dtau = t_end/steps = {dtau:g}")
    off = off.reshape(-1, 1)  # [B or 1, 1]
    m = torch.arange(1, M, dtype=t_in.dtype, device=t_in.device)
    inner = m * dtau - off  # [B|1, M-1]
    zero = torch.zeros_like(off)
    lo = torch.cat([zero, inner], 1)
    hi = torch.cat([inner, zero + t_end], 1)
    return lo, hi


def dstd_kernel(t_in, lo, hi, out=None):
    """S [B, M, N]: S_jm = clamp((hi_m - t_j) / (hi_m - lo_m), 0, 1) (running hat-kernel sum)."""
    inv = 1.0 / (hi - lo).clamp(min=_TINY_LEN)
    S = torch.sub(hi.unsqueeze(2), t_in.unsqueeze(1), out=out).mul_(inv.unsqueeze(2))
    return S.clamp_(0.0, 1.0)


def dstd_kernel_input_grad(dS, S, lo, hi):
    """dL/dt [B, N] from dL/dS [B, M, N]: dS_jm/dt_j = -1/L_m inside the ramp (0 < S < 1), else 0.
    Overwrites dS and S (scratch)."""
    B, M = dS.shape[0], lo.shape[1]
    dS.mul_(torch.addcmul(S, S, S, value=-1.0, out=S).sign_())
    inv = 1.0 / (hi - lo).clamp(min=_TINY_LEN).expand(B, M)
    return torch.bmm(inv.unsqueeze(1), dS).squeeze(1).neg_()


def _kernel_grid(t_in, lo, hi):
    """(hi, inv, per_sample) for the compiled hat kernel: inv = 1/L_m exactly as dstd_kernel computes it."""
    inv = (1.0 / (hi - lo).clamp(min=_TINY_LEN)).contiguous()
    return hi.contiguous(), inv, int(hi.shape[0] == t_in.shape[0] and t_in.shape[0] != 1)


def hat_spread(lib, t_in, wcat, lo, hi):
    """FG = S @ wcat^T [B, M, C] by the compiled sparse hat kernel (compiled.cpp, dstd_fwd)."""
    B, N = t_in.shape
    M, C = lo.shape[1], wcat.shape[0]
    t = t_in.contiguous()
    hi_c, inv, per = _kernel_grid(t_in, lo, hi)
    wT = wcat.t().contiguous()
    FG = t_in.new_empty(B, M, C)
    fn = getattr(lib, "dstd_fwd" + suffix(t.dtype))
    check_codes(run_parallel([(lambda b0=b0, b1=b1: fn(N, M, C, b0, b1, ptr(t), ptr(hi_c), ptr(inv), per, ptr(wT),
                                                  ptr(FG)))
                         for b0, b1 in split_range(B, kernel_threads(2 * B * N * C), 1)]))
    return FG


def hat_gather(lib, t_in, wcat, lo, hi, dFG, need_w, need_t):
    """(dL/dwcat = dFG^T S, dL/dt) by the compiled sparse hat kernel (dstd_bwd); either may be None."""
    B, N = t_in.shape
    M, C = lo.shape[1], wcat.shape[0]
    if not (need_w or need_t):
        return None, None
    t = t_in.contiguous()
    hi_c, inv, per = _kernel_grid(t_in, lo, hi)
    wT = wcat.t().contiguous()
    dF = dFG.contiguous()
    parts = split_range(B, kernel_threads(3 * B * N * C), 1)
    gws = [t.new_zeros(N, C) if need_w else None for _ in parts]
    g_t = t.new_empty(B, N) if need_t else None
    n_work = lib.dstd_bwd_work(M, C, t.element_size())
    works = [scratch(f"dstd.kwork{i}", (n_work,), t.dtype) for i in range(len(parts))]
    fn = getattr(lib, "dstd_bwd" + suffix(t.dtype))
    check_codes(run_parallel([(lambda b0=b0, b1=b1, gw=gw, wk=wk: fn(N, M, C, b0, b1, ptr(t), ptr(hi_c), ptr(inv), per,
                                                                ptr(wT), ptr(dF), ptr(gw), ptr(g_t), ptr(wk)))
                         for (b0, b1), gw, wk in zip(parts, gws, works)]))
    g_wcat = None
    if need_w:
        g_wcat = gws[0]
        for x in gws[1:]:
            g_wcat += x
        g_wcat = g_wcat.t()
    return g_wcat, g_t


class _MembraneDSTD(torch.autograd.Function):
    """v at the end of the DSTD grid [B, out], analytic backward.

    Inputs: t_in [B, N], wcat = [beta W ; W] [2 out, N], leak, bias, lo, hi (grid, [B|1, M]),
    dlen (None: integrate whole intervals; or [B, M, out] per-neuron lengths <= hi - lo, constants).
    Forward:  FG = S @ wcat^T,  v_{m+1} = v_m + dphi_m (g_m - f_m v_m) over the M intervals.
    Backward: lam_m = dL/dv_m by the reverse recursion lam_m = lam_{m+1} e^{-x_m},
    affine.relax_grads per interval, then
        dL/dwcat = dFG^T @ S,   dL/dS = dFG @ wcat,   dL/dt_j = -sum_m dL/dS_jm [0 < S_jm < 1] / L_m.
    """

    @staticmethod
    def forward(ctx, t_in, wcat, leak, bias, lo, hi, dlen, v0):
        B, N = t_in.shape
        jumped = v0 is not None
        O = wcat.shape[0] // (3 if jumped else 2)
        M = lo.shape[1]
        dev = t_in.device
        lib = kernels_for(t_in, wcat, lo, hi)
        if lib is not None:
            FG = hat_spread(lib, t_in, wcat, lo, hi)
        else:
            S = dstd_kernel(t_in, lo, hi, scratch("dstd.S", (B, M, N), t_in.dtype, dev))
            FG = torch.mm(S.view(B * M, N), wcat.t()).view(B, M, wcat.shape[0])
        if leak.requires_grad or bool(leak.ne(0).any()):
            FG[..., :O] += leak
        if bias.requires_grad or bool(bias.ne(0).any()):
            FG[..., O:2 * O] += bias
        f, g, Q = FG[..., :O], FG[..., O:2 * O], FG[..., 2 * O:]
        d = (hi - lo).unsqueeze(2) if dlen is None else dlen
        buf = {k: scratch("dstd." + k, (B, M, O), t_in.dtype, dev) for k in ("nx", "phi", "dphi")}
        _, _, dphi, _ = relax(f, g, d, -d, buf)
        V = t_in.new_empty(B, M + 1, O)       # at the start of each interval, after its packets
        if jumped:
            torch.add(v0, Q[:, 0], out=V[:, 0])
        else:
            V[:, 0] = 0
        r = scratch("dstd.r", (B, O), t_in.dtype, dev)
        for m in range(M):
            torch.addcmul(g[:, m], f[:, m], V[:, m], value=-1.0, out=r)
            torch.addcmul(V[:, m], dphi[:, m], r, out=V[:, m + 1])
            if jumped and m + 1 < M:
                V[:, m + 1] += Q[:, m + 1] - Q[:, m]
        ctx.save_for_backward(t_in, wcat, leak, bias, lo, hi, d, FG, V)
        ctx.jumped = jumped
        return V[:, M] - Q[:, M - 1] if jumped else V[:, M].clone()

    @staticmethod
    def backward(ctx, gv):
        t_in, wcat, leak, bias, lo, hi, d, FG, V = ctx.saved_tensors
        B, N = t_in.shape
        jumped = ctx.jumped
        O = wcat.shape[0] // (3 if jumped else 2)
        M = lo.shape[1]
        dt = gv.dtype
        buf = lambda name, *shape: scratch("dstd." + name, shape, dt, gv.device)
        f, g = FG[..., :O], FG[..., O:2 * O]
        nx, phi, dphi, xmax = relax(f, g, d, -d, {k: buf(k, B, M, O) for k in ("nx", "phi", "dphi")})
        rho = rho_of(nx, phi, xmax, {k: buf(k, B, M, O) for k in ("rho", "t1", "t2")})
        a = torch.mul(nx, LOG2E, out=buf("a", B, M, O)).exp2_()
        lam = buf("lam", B, M + 1, O)
        lam[:, M] = gv
        for m in range(M - 1, -1, -1):
            torch.mul(lam[:, m + 1], a[:, m], out=lam[:, m])
        u = torch.mul(lam[:, :M], V[:, :M], out=buf("t1", B, M, O))
        dFG = buf("dFG", B, M, wcat.shape[0])
        _, gfn = relax_grads(lam[:, 1:], u, g, d, dphi, rho, gg=dFG[..., O:2 * O], gfn=dFG[..., :O])
        gfn.neg_()  # dL/df
        if jumped:  # Q_m enters at the start of interval m and leaves at that of m + 1 (m = M - 1: the read-out)
            torch.sub(lam[:, :M], lam[:, 1:], out=dFG[..., 2 * O:])
        lib = kernels_for(t_in, wcat, lo, hi, dFG)
        if lib is not None:
            g_wcat, g_t = hat_gather(lib, t_in, wcat, lo, hi, dFG, ctx.needs_input_grad[1], ctx.needs_input_grad[0])
        else:
            S = dstd_kernel(t_in, lo, hi, buf("S", B, M, N))
            dFG2 = dFG.view(B * M, wcat.shape[0])
            g_wcat = torch.mm(dFG2.t(), S.view(B * M, N)) if ctx.needs_input_grad[1] else None
            g_t = None
            if ctx.needs_input_grad[0]:
                dS = torch.mm(dFG2, wcat, out=buf("dS", B * M, N)).view(B, M, N)
                g_t = dstd_kernel_input_grad(dS, S, lo, hi)
        g_leak = dFG[..., :O].sum((0, 1)).sum_to_size(leak.shape) if ctx.needs_input_grad[2] else None
        g_bias = dFG[..., O:2 * O].sum((0, 1)).sum_to_size(bias.shape) if ctx.needs_input_grad[3] else None
        g_v0 = lam[:, 0].clone() if jumped and ctx.needs_input_grad[7] else None
        return g_t, g_wcat, g_leak, g_bias, None, None, None, g_v0


def membrane_dstd(t_in, weight, e_pos, e_neg, steps, offset=0.0, t_end=1.0, leak=0.0, bias=0.0, jumps=None):
    """DSTD approximation of v_i(t_end), [batch, out] (normalised units).

    ``jumps`` [out, in]: charge packets (solve.exact.membrane_exact), spread over the grid by the same
    hat kernel: with Q_im = sum_j jumps_ij S_jm, interval m starts with the packets Q_m - Q_{m-1}
    (an input inside interval m puts the fraction S_jm of its packet at the interval's start and the
    rest at the next one: the packet's mean time is t_j, piecewise linear in t_j); an input on from
    t <= 0 brings none. The result is then the membrane after the synapse devices' switch-off
    (every packet back), v~(t_end) - Q_{M-1}, which exact computes as switch_off(membrane_exact(...)).
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias, steps=steps, t_max=t_end, jumps=jumps)
    lo, hi = dstd_grid(steps, offset, float(t_end), t_in)
    wcat = weight_cat(weight, e_pos, e_neg)
    v0 = None
    if jumps is not None:
        wcat = torch.cat([wcat, jumps], 0)
        v0 = -torch.mm((t_in <= 0).to(t_in.dtype), jumps.t())     # S = 1 from 0: no packet for those
    return _MembraneDSTD.apply(t_in, wcat, as_param(leak, t_in), as_param(bias, t_in), lo, hi, None, v0)


def rc_spike_dstd(t_in, weight, e_pos, e_neg, steps, offset=0.0, leak=0.0, bias=0.0, fire_g=1.0, fire_f=0.0,
                  clip=True, jumps=None, fire_jump=None):
    """RC-Spike output spike times [batch, out] with the DSTD membrane (steps = M grid intervals).

    Same output convention as affine.rc_spike_exact: v~(1) from the grid, then the firing phase
    dv/dt = fire_g - fire_f v (ideal ramp: t = clip(1 - v~(1), 0, 1)).  offset: see module docstring
    (float or [batch] tensor in [0, 1/steps); draw it uniformly per mini-batch in training).
    clip=False: the unclipped ``kernels.firing_time``. ``jumps``, ``fire_jump``: charge packets, as
    for rc_spike_exact (membrane_dstd spreads them over the grid).
    """
    v1 = membrane_dstd(t_in, weight, e_pos, e_neg, steps, offset, 1.0, leak, bias, jumps=jumps)
    if fire_jump is not None:
        v1 = v1 + (fire_jump(v1) if callable(fire_jump) else fire_jump)
    return fire_phase(v1, fire_g, fire_f, clip)


def ttfs_dstd(t_in, weight, e_pos, e_neg, t_max, steps, offset=0.0, leak=0.0, bias=0.0):
    """TTFS spike times and fired mask [batch, out] with the DSTD membrane on [0, t_max].

    The grid (steps intervals, offset in [0, t_max/steps)) gives constant f~, g~ per interval; the
    spike is the first in-interval crossing t0 + crossing_time(v~(t0), f~, g~).  No crossing:
    t_max, fired = False.  Gradients by the implicit function theorem at the crossing.
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias, steps=steps, t_max=t_max)
    t_max = float(t_max)
    lo, hi = dstd_grid(steps, offset, t_max, t_in)
    leak_t, bias_t = as_param(leak, t_in), as_param(bias, t_in)
    with torch.no_grad():
        wcat = weight_cat(weight, e_pos, e_neg)
        t_star, fired, rate = _first_crossing_dstd(t_in, wcat, leak_t, bias_t, lo, hi, t_max)
        dlen = (torch.minimum(hi.unsqueeze(2), t_star.unsqueeze(1)) - lo.unsqueeze(2)).clamp_(min=0.0)
    wcat = weight_cat(weight, e_pos, e_neg)
    v_at = _MembraneDSTD.apply(t_in, wcat, leak_t, bias_t, lo, hi, dlen, None)
    return spike_time_from_membrane(t_star, fired, v_at, rate, t_max), fired


def _first_crossing_dstd(t_in, wcat, leak, bias, lo, hi, t_max):
    """First threshold crossing of the DSTD membrane (no autograd): (t_star, fired, rate g~ - f~).

    v relaxes monotonically within a grid interval, so the crossing lies in the first interval
    that ends at or above 1; crossing_time is evaluated there only.
    """
    B, N = t_in.shape
    O = wcat.shape[0] // 2
    M = lo.shape[1]
    lib = kernels_for(t_in, wcat, lo, hi)
    if lib is not None:
        FG = hat_spread(lib, t_in, wcat, lo, hi)
    else:
        S = dstd_kernel(t_in, lo, hi)
        FG = torch.mm(S.view(B * M, N), wcat.t()).view(B, M, 2 * O)
    f, g = FG[..., :O] + leak, FG[..., O:] + bias
    d = (hi - lo).unsqueeze(2)
    _, _, dphi, _ = relax(f, g, d, -d)
    V = t_in.new_zeros(B, M + 1, O)
    for m in range(M):
        V[:, m + 1] = V[:, m] + dphi[:, m] * (g[:, m] - f[:, m] * V[:, m])
    above = V[:, 1:] >= 1
    fired = above.any(1)
    first = above.to(torch.uint8).argmax(1, keepdim=True)  # [B, 1, O]
    pick = lambda x: x.expand(B, M, O).gather(1, first).squeeze(1)
    tau = torch.minimum(crossing_time(pick(V[:, :M]), pick(f), pick(g)), pick(d))
    t_star = torch.where(fired, pick(lo.unsqueeze(2)) + tau, torch.full_like(tau, t_max))
    rate = torch.where(fired, pick(g - f), torch.ones_like(tau))
    return t_star, fired, rate
