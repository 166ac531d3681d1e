"""Exact spike times of a layer of piecewise-affine neurons (docs/paper.md section 2).

Units: normalised time (one phase = 1 for RC-Spike, [0, t_max] for TTFS) and normalised voltage
(reset 0, threshold 1).  For a layer with weight W [out, in] and input spike times t_in [batch, in]:

    dv_i/dt = -f_i(t) v_i + g_i(t),   v_i(0) = 0
    f_i(t) = leak + sum_j beta_ij w_ij H(t - t_j),   g_i(t) = bias + sum_j w_ij H(t - t_j)
    beta_ij = 1/e_pos if w_ij >= 0 else 1/e_neg          (e_pos > 0 > e_neg, so f >= 0)

Between consecutive (sorted) input times f and g are constant, and one interval of length d is
solved exactly (docs/paper.md section 2, Eq. 22 written as a recursion, in exponential-Euler form):

    v <- v + d phi1(f d) (g - f v),    phi1(x) = (1 - e^-x)/x     (= e^{-fd} v + g d phi1(fd)).

Inputs at or after the phase end (or +inf) never arrive; inputs before 0 act as if they arrived
at 0.  At exactly simultaneous inputs, intervals of length 0 are harmless.

The interval kernels it shares with :mod:`circuitnet.solve.dstd` (``relax``, ``relax_grads``, the
crossing and firing times, the argument checks, scratch buffers) live in :mod:`circuitnet.solve.kernels`.

Performance (see _MembraneExact): a custom autograd function sweeps the sorted inputs one
interval at a time: one gather of weight rows and a running sum give f, g, and a few fused
element-wise passes over [batch, out] scratch tensors (which stay in cache) do the rest; no
tensor of size [batch, in, out] is ever formed.  The analytic backward is a second forward-order
sweep, so only [batch, out]-sized tensors are saved.  The sweeps (and the sort) run in compiled
code where it builds (circuitnet.solve.compiled; section "compiled path" below): one fused pass over
the neurons per interval.  The pure-torch sweep stays as the fallback and the reference it is tested
against (tests/test_speed_paths.py).  Simultaneous inputs are taken in input order (a stable sort).
"""
import torch

from .compiled import check_codes, kernel_threads, kernels_for, ptr, run_parallel, split_range, suffix
from .kernels import (LOG2E, as_param, check_layer, crossing_time, fire_phase, relax, relax_grads, rho_of, scratch,
                      series_tables, spike_time_from_membrane, weight_cat)


# ---------------------------------------------------------------------------- exact sweep
class _Sweep:
    """One pass over the sorted inputs of a layer, one interval at a time (k = 0..N).

    Interval k is [tau_{k-1}, tau_k] with tau_{-1} = 0, tau_N = t_end (times clamped to
    [0, t_end], sorted per sample); it starts with the arrival of sorted input k-1, whose
    [beta w | w] row (per sample) is wext[idx[k]] (row 0 of wext is zero).  Iterating yields
    (k, raw, f, g, d, nx, phi, dphi, xmax, q): raw [B, 2 out] the rows just arrived, f, g [B, out] the
    running sums, q [B, out] the charge packets (jumps of v, ``jumps`` [out, N]) of the input just
    arrived (None without jumps; 0 for inputs at t <= 0 or >= t_end), d [B, 1] the interval length ([B, out] when per-neuron stop times t_stop clip the
    intervals) and the relax() coefficients.  All are scratch buffers overwritten at the next step.
    ``xmax``/``sort``: per-interval max f d and (tau, perm) of an earlier identical sweep (skip the
    reductions and the sort); the sweep records them in .xmax, .tau, .perm.  The sort is stable:
    simultaneous inputs arrive in input order (as in the compiled sweep), which fixes the one-sided
    input-time gradients of simultaneous inputs that bring charge packets.
    """

    def __init__(self, t_in, wcat, leak, bias, t_end, t_stop=None, tag="sweep", xmax=None, sort=None, jumps=None):
        B, N = t_in.shape
        O = wcat.shape[0] // 2
        self.B, self.N, self.O, self.dtype, self.device = B, N, O, t_in.dtype, t_in.device
        self.t_end, self.t_stop, self.xmax_in, self.xmax = t_end, t_stop, xmax, []
        self.tau, self.perm = sort if sort is not None else torch.sort(t_in.clamp(0.0, t_end), dim=1, stable=True)
        edges = torch.cat([self.tau.new_zeros(B, 1), self.tau, self.tau.new_full((B, 1), t_end)], 1)
        self.edges = edges = edges.t().unsqueeze(2).contiguous()  # [N + 2, B, 1]: interval k is edges[k..k+1]
        d = edges[1:] - edges[:-1]
        self.d, self.nd = d.unbind(0), (-d).unbind(0)
        self.idx = torch.cat([self.perm.new_zeros(B, 1), self.perm + 1], 1).t().contiguous().unbind(0)
        self.wext = torch.cat([wcat.new_zeros(1, 2 * O), wcat.t()], 0)
        self.init = t_in.new_empty(B, 2 * O)
        self.init[:, :O] = leak
        self.init[:, O:] = bias
        self.buf = lambda name, width=O: scratch(f"{tag}.{name}", (B, width), self.dtype, self.device)
        self.raw = self.buf("raw", 2 * O)
        self.qext = None if jumps is None else torch.cat([jumps.new_zeros(1, O), jumps.t()], 0)
        # a packet comes with an input that arrives inside the phase (one on from t <= 0 switched during reset)
        self.live = None if jumps is None else ((self.tau > 0) & (self.tau < t_end)).to(self.dtype)

    def __iter__(self):
        O, buf, raw, wext, idx, xmax_in = self.O, self.buf, self.raw, self.wext, self.idx, self.xmax_in
        G = buf("G", 2 * O).copy_(self.init)
        f, g = G[:, :O], G[:, O:]
        out = {"nx": buf("nx"), "phi": buf("phi"), "dphi": buf("dphi")}
        if self.t_stop is not None:
            d, nd = buf("d"), buf("nd")
        q = None if self.qext is None else buf("q").zero_()
        for k in range(self.N + 1):
            torch.index_select(wext, 0, idx[k], out=raw)
            G.add_(raw)
            if q is not None and k > 0:
                torch.index_select(self.qext, 0, idx[k], out=q).mul_(self.live[:, k - 1:k])
            if self.t_stop is None:
                d, nd = self.d[k], self.nd[k]
            else:
                lo, hi = self.edges[k], self.edges[k + 1]
                torch.minimum(hi, self.t_stop, out=d).sub_(torch.minimum(lo, self.t_stop, out=nd))
                torch.neg(d, out=nd)
            nx, phi, dphi, xmax = relax(f, g, d, nd, out, None if xmax_in is None else xmax_in[k])
            self.xmax.append(xmax)
            yield k, raw, f, g, d, nx, phi, dphi, xmax, q


class _MembraneExact(torch.autograd.Function):
    """v(T) [batch, out] of the exact piecewise-affine membrane, with an analytic backward.

    Inputs: t_in [B, N], wcat = [beta W ; W] [2 out, N], leak, bias (scalar or [out] tensors),
    t_end (phase end, float), t_stop (None: read v at t_end; or a [B, out] tensor of per-neuron
    read-out times <= t_end, treated as constants).

    Forward: v_{k+1} = v_k + dphi_k (g_k - f_k v_k) over the sorted intervals; X = -int_0^T f dt
    (one small GEMM, or summed over the sweep when T varies per neuron).
    Backward: a second forward-order sweep (so nothing of size [N, B, out] is stored) with
        lam_k = dL/dv_k = dL/dv(T) exp(X - sum_{q<k} (-x_q)),  u_k = lam_k v_k = sum_{q<k} lam_{q+1} c_q,
    relax_grads per interval, and for the input arriving at (the start of) interval k
        dL/d[beta w | w] = (sum over all intervals) - (sum over intervals < k),
        dL/dtau = -sum_o (w lam_k - beta w u_k)     (= dL/dd_{k-1} - dL/dd_k, without cancellation).
    """

    @staticmethod
    def forward(ctx, t_in, wcat, leak, bias, t_end, t_stop, jumps):
        lib = kernels_for(t_in, wcat, leak, bias, t_stop, jumps)
        if lib is not None:
            return _kernel_forward(ctx, lib, t_in, wcat, leak, bias, t_end, t_stop, jumps)
        sw = _Sweep(t_in, wcat, leak, bias, t_end, t_stop, tag="exact.fwd", jumps=jumps)
        grad = any(ctx.needs_input_grad)
        v = t_in.new_zeros(sw.B, sw.O)
        X = t_in.new_zeros(sw.B, sw.O)
        r = sw.buf("r")
        for k, raw, f, g, d, nx, phi, dphi, xmax, q in sw:
            if q is not None:
                v.add_(q)
            torch.addcmul(g, f, v, value=-1.0, out=r)
            v.addcmul_(dphi, r)
            if grad and t_stop is not None:
                X.add_(nx)
        if grad and t_stop is None:  # X = -int_0^T f dt = -(leak T + sum_j beta w_j (T - t_j))
            X = torch.mm(t_end - t_in.clamp(0.0, t_end), wcat[:sw.O].t()).add_(leak * t_end).neg_()
        ctx.save_for_backward(t_in, wcat, leak, bias, X.mul_(LOG2E), t_stop if t_stop is not None else X[:0],
                              sw.tau, sw.perm, jumps if jumps is not None else X[:0])
        ctx.meta = (t_end, t_stop is not None, sw.xmax, jumps is not None)
        return v

    @staticmethod
    def backward(ctx, gv):
        t_in, wcat, leak, bias, X2tot, t_stop, tau, perm, jumps = ctx.saved_tensors
        t_end, has_stop, xmax, has_jumps = ctx.meta
        lib = kernels_for(t_in, wcat, leak, bias, gv)
        if lib is not None:
            return _kernel_backward(ctx, lib, gv, t_in, wcat, leak, bias, X2tot, t_stop if has_stop else None, tau,
                                    perm, jumps if has_jumps else None, t_end)
        sw = _Sweep(t_in, wcat, leak, bias, t_end, t_stop if has_stop else None, tag="exact.bwd", xmax=xmax,
                    sort=(tau, perm), jumps=jumps if has_jumps else None)
        B, N, O, buf = sw.B, sw.N, sw.O, sw.buf
        need_t = ctx.needs_input_grad[0]
        gv = gv.contiguous()
        Y, U, inc, jump = buf("Y").copy_(X2tot), buf("U").zero_(), buf("inc"), buf("jump")
        lam0, lam1 = torch.exp2(X2tot, out=buf("lam0")).mul_(gv), buf("lam1")  # dL/dv at 0
        P = buf("P", 2 * O).zero_()  # [-dL/df | dL/dg] summed over the intervals so far
        gfn, gg = P[:, :O], P[:, O:]
        raw_f, raw_g = sw.raw[:, :O], sw.raw[:, O:]
        rho_out = {"rho": buf("rho"), "t1": buf("t1"), "t2": buf("t2")}
        gw = gv.new_zeros(N + 1, 2 * O)
        Dt = gv.new_empty(N + 1, B)  # row k: -dL/dtau of the input arriving at the start of interval k
        gq = gv.new_zeros(N + 1, O) if has_jumps and ctx.needs_input_grad[6] else None
        jq = buf("jq") if has_jumps else None
        for k, raw, f, g, d, nx, phi, dphi, xmax, q in sw:
            Y.add_(nx, alpha=-LOG2E)  # -log2(e) int_tau^T f dt, tau the end of interval k
            torch.exp2(Y, out=lam1).mul_(gv)  # dL/dv at tau
            if q is not None:  # the packet q arrives with the input: u = lam v after it; dL/dq = lam
                torch.mul(lam0, q, out=jq)
                U.add_(jq)
                if gq is not None and k > 0:
                    gq.index_add_(0, sw.idx[k], lam0 * sw.live[:, k - 1:k])
            relax_grads(lam1, U, g, d, dphi, rho_of(nx, phi, xmax, rho_out), gg=gg, gfn=gfn, inc=inc, acc=True)
            if need_t:  # -dL/dtau = sum_o (w lam - beta w u - f_before lam q) at the arrival (u after the packet)
                torch.mul(raw_g, lam0, out=jump).addcmul_(raw_f, U, value=-1.0)
                if q is not None:
                    jump.addcmul_(f - raw_f, jq, value=-1.0)
                if has_stop:
                    jump.mul_(sw.edges[k] < t_stop)
                torch.sum(jump, 1, out=Dt[k])
            U.add_(inc)  # inc = lam_{k+1} c_k
            if k < N:  # P summed through interval k: belongs to the input arriving at interval k + 1
                gw.index_add_(0, sw.idx[k + 1], P)
            lam0, lam1 = lam1, lam0
        tot = P.sum(0)
        g_rows = (tot - gw[1:]).t()  # [2 out, N]: sum over the intervals after each input's arrival
        g_wcat = torch.cat([-g_rows[:O], g_rows[O:]], 0)
        g_t = None
        if need_t:
            g_t = torch.zeros_like(t_in).scatter_(1, perm, Dt[1:].t()).neg_()
            g_t = g_t * ((t_in >= 0) & (t_in <= t_end))
        g_leak = (-tot[:O]).sum_to_size(leak.shape) if ctx.needs_input_grad[2] else None
        g_bias = tot[O:].sum_to_size(bias.shape) if ctx.needs_input_grad[3] else None
        g_jumps = gq[1:].t() if gq is not None else None
        return g_t, g_wcat, g_leak, g_bias, None, None, g_jumps


def membrane_exact(t_in, weight, e_pos, e_neg, t_end=1.0, leak=0.0, bias=0.0, t_stop=None, jumps=None):
    """Exact v_i(t_end) [batch, out] (docs/paper.md section 2, Eq. 22), or v_i(t_stop[b, i]) if t_stop is given.

    Normalised units.  Differentiable w.r.t. t_in, weight, e_pos, e_neg, leak, bias and jumps (t_stop is
    treated as a constant).  Inputs at or after t_end never arrive.  ``jumps`` [out, in]: charge
    packets, v_i += jumps_ij when input j arrives at 0 < t_j < t_end (exact: each interval starts
    from the membrane after the packets that arrived at its start; see _MembraneExact for the
    gradients).
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias, jumps=jumps)
    wcat = weight_cat(weight, e_pos, e_neg)
    if jumps is not None and t_stop is not None:
        raise ValueError("charge packets (jumps) are not supported with per-neuron read-out times (a TTFS neuron)")
    return _MembraneExact.apply(t_in, wcat, as_param(leak, t_in), as_param(bias, t_in), float(t_end),
                                None if t_stop is None else t_stop.detach().to(t_in.dtype), jumps)


def switch_off(v, t_in, jumps, t_end=1.0):
    """The membrane after the synapse phase's end, where every synapse device that was on (input
    t_j < t_end, those on from t <= 0 included) takes its packet back: v_i - sum_j [t_j < t_end] jumps_ij."""
    if jumps is None:
        return v
    return v - torch.mm((t_in < t_end).to(v.dtype), jumps.t())


def rc_spike_exact(t_in, weight, e_pos, e_neg, leak=0.0, bias=0.0, fire_g=1.0, fire_f=0.0, clip=True, jumps=None,
                   fire_jump=None):
    """Exact RC-Spike output spike times [batch, out] in [0, 1] (normalised time).

    Accumulation phase [0, 1] (module docstring, Eq. 22) gives v(1); the firing phase
    dv/dt = fire_g - fire_f v then gives t = time to reach 1, 0 if v(1) >= 1, clipped to 1.
    Ideal ramp: t = clip(1 - v(1), 0, 1).  clip=False: the unclipped ``firing_time``.
    Charge packets: ``jumps`` [out, in] with each input's arrival and back at the phase end
    (switch_off), ``fire_jump`` (scalar, [out] or [batch, out], or a function of v(1) after the
    switch-off that returns one) where the firing phase starts.
    """
    v1 = switch_off(membrane_exact(t_in, weight, e_pos, e_neg, 1.0, leak, bias, jumps=jumps), t_in, jumps)
    if fire_jump is not None:
        v1 = v1 + (fire_jump(v1) if callable(fire_jump) else fire_jump)
    return fire_phase(v1, fire_g, fire_f, clip)


def ttfs_exact(t_in, weight, e_pos, e_neg, t_max, leak=0.0, bias=0.0):
    """Exact TTFS spike times and fired mask, each [batch, out] (docs/paper.md section 2, TTFS variant).

    Single phase [0, t_max]; a neuron fires at the first time v crosses 1, where within the
    interval of constant f, g starting at t0 with v0 the crossing is t0 + crossing_time(v0, f, g).
    No crossing: t_max, fired = False (zero gradient).  Gradients by the implicit function
    theorem at the crossing (spike_time_from_membrane).
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias, t_max=t_max)
    t_max = float(t_max)
    with torch.no_grad():
        wcat = weight_cat(weight, e_pos, e_neg)
        leak_t, bias_t = as_param(leak, t_in), as_param(bias, t_in)
        lib = kernels_for(t_in, wcat, leak_t, bias_t)
        if lib is not None:
            t_star, fired, rate = _kernel_first_crossing(lib, t_in, wcat, leak_t, bias_t, t_max)
        else:
            t_star, fired, rate = _first_crossing(_Sweep(t_in, wcat, leak_t, bias_t, t_max, tag="exact.search"))
    v_at = membrane_exact(t_in, weight, e_pos, e_neg, t_max, leak, bias, t_stop=t_star)
    return spike_time_from_membrane(t_star, fired, v_at, rate, t_max), fired


def _first_crossing(sw):
    """Run a sweep and record, per neuron, the first threshold crossing (no autograd).

    Within an interval v relaxes monotonically toward g/f, so it crosses 1 there iff it starts
    below 1 and ends at or above 1; only those neurons get the crossing_time formula.
    Returns (t_star, fired, rate): crossing time (t_end if none), fired mask, slope g - f there.
    """
    v = sw.init.new_zeros(sw.B, sw.O)
    t_star = torch.full_like(v, sw.t_end)
    rate = torch.ones_like(v)
    fired = torch.zeros_like(v, dtype=torch.bool)
    for k, raw, f, g, d, nx, phi, dphi, xmax, q in sw:
        v_new = v + dphi * (g - f * v)
        hit = (v_new >= 1) & ~fired
        if hit.any():
            b, o = hit.nonzero(as_tuple=True)
            dk = d.expand_as(v)[b, o]
            tau = torch.minimum(crossing_time(v[b, o], f[b, o], g[b, o]), dk)
            t_star[b, o] = sw.edges[k][b, 0] + tau
            rate[b, o] = g[b, o] - f[b, o]
            fired[b, o] = True
        v = v_new
    return t_star, fired, rate


# ------------------------------------------------------------------------ compiled path
# The sweep above in compiled code (circuitnet.solve.compiled), neuron-parallel within each sample:
# per interval it adds the arriving input's [beta w | w] row and updates the membrane (forward) or
# the adjoint sums (backward) in one pass over the neurons, where the torch path needs about twenty
# whole-tensor operations.  phi1 and rho: since beta w >= 0, f never exceeds F = max_i (leak_i +
# sum_j beta_ij w_ij), and an interval whose F d lies within the reach of fixed series degrees
# (float32: phi1 3, rho 1; float64: 5, 2) takes them in one fused pass; any other interval takes
# relax's and rho_of's branch for its own largest f d, as the torch path does.  The sort is a radix
# sort (ties in input order).  Same formulas, saved tensors and outputs: results agree with the torch
# path to rounding (tests/test_speed_paths.py).
def _kernel_sort(lib, t_in, t_end):
    """(tau, perm): each sample's times clamped to [0, t_end], ascending, and their input indices."""
    B, N = t_in.shape
    t = t_in.contiguous()
    tau, perm = torch.empty_like(t), torch.empty(B, N, dtype=torch.int64)
    fn = getattr(lib, "sort_rows" + suffix(t.dtype))
    check_codes(run_parallel([(lambda b0=b0, b1=b1: fn(N, b0, b1, ptr(t), float(t_end), ptr(tau), ptr(perm)))
                         for b0, b1 in split_range(B, kernel_threads(30 * B * N), 1)]))
    return tau, perm


def _kernel_operands(wcat, leak, bias, jumps):
    """(wext, leak [O], bias [O], qext, F) for the kernels: wext [N + 1, 2 out] as _Sweep builds it, F an
    upper bound of f (all inputs on)."""
    O = wcat.shape[0] // 2
    wext = torch.cat([wcat.new_zeros(1, 2 * O), wcat.t()], 0)
    lk = leak.expand(O).contiguous()
    bs = bias.expand(O).contiguous()
    qext = None if jumps is None else torch.cat([jumps.new_zeros(1, O), jumps.t()], 0)
    F = float((wext[:, :O].sum(0) + lk).max()) * 1.001 if O else 0.0
    return wext, lk, bs, qext, F


def _kernel_forward(ctx, lib, t_in, wcat, leak, bias, t_end, t_stop, jumps):
    """_MembraneExact.forward in compiled code."""
    B, N = t_in.shape
    O = wcat.shape[0] // 2
    dt = t_in.dtype
    tau, perm = _kernel_sort(lib, t_in, t_end)
    wext, lk, bs, qext, F = _kernel_operands(wcat, leak, bias, jumps)
    ts = None if t_stop is None else t_stop.contiguous()
    v = t_in.new_empty(B, O)
    X = None if ts is None else t_in.new_empty(B, O)
    fn, tab = getattr(lib, "exact_fwd" + suffix(dt)), series_tables(dt)
    parts = split_range(O, kernel_threads(B * N * O))
    works = [scratch(f"exact.kfwd{i}", (3 * (o1 - o0),), dt) for i, (o0, o1) in enumerate(parts)]
    check_codes(run_parallel([
        (lambda o0=o0, o1=o1, wk=wk: fn(B, N, O, o0, o1, ptr(tau), ptr(perm), ptr(wext), ptr(lk), ptr(bs),
                                        float(t_end), F, ptr(ts), ptr(qext), ptr(tab), ptr(v), ptr(X),
                                        None, None, None, None, None, None, ptr(wk)))
        for (o0, o1), wk in zip(parts, works)]))
    if any(ctx.needs_input_grad):
        if X is None:  # X = -int_0^T f dt = -(leak T + sum_j beta w_j (T - t_j))
            X = torch.mm(t_end - t_in.clamp(0.0, t_end), wcat[:O].t()).add_(leak * t_end).neg_()
        X2 = X.mul_(LOG2E)
    else:
        X2 = v[:0]
    ctx.save_for_backward(t_in, wcat, leak, bias, X2, t_stop if t_stop is not None else v[:0], tau, perm,
                          jumps if jumps is not None else v[:0])
    ctx.meta = (t_end, t_stop is not None, None, jumps is not None)
    return v


def _kernel_backward(ctx, lib, gv, t_in, wcat, leak, bias, X2tot, t_stop, tau, perm, jumps, t_end):
    """_MembraneExact.backward in compiled code (same sums, formulas and outputs)."""
    if torch.is_grad_enabled():  # create_graph=True: the torch path cannot do it either (out= ops)
        raise RuntimeError("method 'exact' has no double backward (create_graph=True)")
    B, N = t_in.shape
    O = wcat.shape[0] // 2
    dt = t_in.dtype
    need_t = ctx.needs_input_grad[0]
    wext, lk, bs, qext, F = _kernel_operands(wcat, leak, bias, jumps)
    gv = gv.contiguous()
    X2tot = X2tot.contiguous()
    ts = None if t_stop is None else t_stop.contiguous()
    gw = gv.new_zeros(N + 1, 2 * O)
    Pfin = gv.new_empty(B, 2 * O)
    gq = gv.new_zeros(N + 1, O) if jumps is not None and ctx.needs_input_grad[6] else None
    fn, tab = getattr(lib, "exact_bwd" + suffix(dt)), series_tables(dt)
    parts = split_range(O, kernel_threads(3 * B * N * O))
    works = [scratch(f"exact.kbwd{i}", (14 * (o1 - o0),), dt) for i, (o0, o1) in enumerate(parts)]
    gts = [gv.new_zeros(B, N) if need_t else None for _ in parts]
    check_codes(run_parallel([
        (lambda o0=o0, o1=o1, wk=wk, gt=gt: fn(B, N, O, o0, o1, ptr(tau), ptr(perm), ptr(wext), ptr(lk),
                                               ptr(bs), float(t_end), F, ptr(ts), ptr(qext), ptr(tab),
                                               ptr(X2tot), ptr(gv), ptr(gw), ptr(Pfin), ptr(gt), ptr(gq),
                                               ptr(wk)))
        for (o0, o1), wk, gt in zip(parts, works, gts)]))
    tot = Pfin.sum(0)
    g_rows = (tot - gw[1:]).t()  # [2 out, N]: sum over the intervals after each input's arrival
    g_wcat = torch.cat([-g_rows[:O], g_rows[O:]], 0)
    g_t = None
    if need_t:
        g_t = gts[0]
        for x in gts[1:]:
            g_t += x
        g_t = g_t * ((t_in >= 0) & (t_in <= t_end))
    g_leak = (-tot[:O]).sum_to_size(leak.shape) if ctx.needs_input_grad[2] else None
    g_bias = tot[O:].sum_to_size(bias.shape) if ctx.needs_input_grad[3] else None
    g_jumps = gq[1:].t() if gq is not None else None
    return g_t, g_wcat, g_leak, g_bias, None, None, g_jumps


def _kernel_first_crossing(lib, t_in, wcat, leak, bias, t_end):
    """_first_crossing in compiled code: the sweep records each neuron's first crossing interval
    (start membrane, f, g, start, length); crossing_time is then evaluated as there."""
    B, N = t_in.shape
    O = wcat.shape[0] // 2
    dt = t_in.dtype
    tau, perm = _kernel_sort(lib, t_in, t_end)
    wext, lk, bs, _, F = _kernel_operands(wcat, leak, bias, None)
    khit = torch.empty(B, O, dtype=torch.int64)
    v0, f0, g0, lo0, d0 = (t_in.new_zeros(B, O) for _ in range(5))
    fn, tab = getattr(lib, "exact_fwd" + suffix(dt)), series_tables(dt)
    parts = split_range(O, kernel_threads(B * N * O))
    works = [scratch(f"exact.kfwd{i}", (3 * (o1 - o0),), dt) for i, (o0, o1) in enumerate(parts)]
    check_codes(run_parallel([
        (lambda o0=o0, o1=o1, wk=wk: fn(B, N, O, o0, o1, ptr(tau), ptr(perm), ptr(wext), ptr(lk), ptr(bs),
                                        float(t_end), F, None, None, ptr(tab), None, None, ptr(khit),
                                        ptr(v0), ptr(f0), ptr(g0), ptr(lo0), ptr(d0), ptr(wk)))
        for (o0, o1), wk in zip(parts, works)]))
    fired = khit >= 0
    tau_x = torch.minimum(crossing_time(v0, f0, g0), d0)
    t_star = torch.where(fired, lo0 + tau_x, torch.full_like(v0, t_end))
    rate = torch.where(fired, g0 - f0, torch.ones_like(v0))
    return t_star, fired, rate
