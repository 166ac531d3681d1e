"""Method "ode": spike times of any compiled circuit, with adjoint event sensitivities.

Forward. Each phase is cut into intervals whose edges are a uniform grid (step <= dt), the phase's
switching times and, in the synapse phase, every input spike time of the sample (sorted per sample).
The synaptic drive P, N is constant inside an interval, so each interval is one classical RK4 step
of dv/dtau = a(v, tau) + P k_pos(v) + N k_neg(v) and input jumps are never smeared. In comparator
phases a neuron fires in the first interval where v reaches 1; its time is then polished by Newton
on delta -> RK4(v_k, delta) - 1 inside that interval. A neuron already at v >= 1 when a comparator
phase starts fires at the phase start (the paper's clip; zero gradient). Neurons that never fire
report t_max (end of the comparator window) and fired = False. Loops run over intervals only.

Backward (nothing of the trajectory is stored). For a neuron firing at T*, v(T*; theta) = 1 gives
dT*/dtheta = -(dv(T*)/dtheta) / F(1, T*), and dv(T*)/dtheta follows from the adjoint
lambda' = -lambda dF/dv, lambda(T*) = 1, integrated backward with v itself (v(T*) = 1 exactly):

    dv(T*)/dw_ij   = int_{t_j}^{T*} lambda k_s(v) dtau       (s = sign of w_ij)
    dv(T*)/dt_j    = -lambda(t_j) w_ij k_s(v(t_j))           (jump of F at the input event)
    dv(T*)/dc      = int_0^{T*} lambda dF/dc dtau            (c: hoisted circuit constants; autograd
                                                              carries them to the physical parameters)
The integrals are running accumulators read when the backward sweep passes each input event.

Synapse shapes that depend on the weight (FittedNMOS, k = 1 - beta(|w|) v) make the drive
sum_j w_j - v sum_j w_j beta(|w_j|): P and N are then stacked [2, B, I] (both sums) and the weight
gradient is int lambda dtau - D_j int lambda v dtau with D_j = beta + |w_j| dbeta/d|w| (two running
accumulators instead of one per sign).
"""
import math

import torch

from .checks import check_layer_inputs
from .unclipped import unclip


def _grid(phase, dt, ref):
    n = max(1, math.ceil(phase.duration / dt - 1e-9))
    pts = sorted(set([phase.duration * m / n for m in range(1, n + 1)]) | set(phase.breakpoints))
    return torch.tensor(pts, dtype=ref.dtype, device=ref.device)


def schedule(cc, t_in, dt):
    """Per phase: interval end times [B or 1, K] and, in the synapse phase, the input index that
    arrives at each end ([B, K]; J = no input)."""
    B, J = t_in.shape
    out = []
    for ph in cc.phases:
        grid = _grid(ph, dt, t_in)
        if not ph.synapses:
            out.append((grid[None, :], None))
            continue
        arrive = t_in < ph.duration
        t = torch.where(arrive, t_in, torch.full_like(t_in, ph.duration))
        j = torch.arange(J, device=t_in.device).expand(B, J)
        j = torch.where(arrive, j, torch.full_like(j, J))
        times = torch.cat([t, grid.expand(B, -1)], 1)
        idx = torch.cat([j, torch.full((B, grid.numel()), J, device=t_in.device, dtype=j.dtype)], 1)
        times, order = times.sort(dim=1, stable=True)
        out.append((times, idx.gather(1, order)))
    return out


def _rk4(ph, v, s, h, tsw, P, N, c):
    """One RK4 step of dv/dtau = rhs from (s, v) over h (tensors broadcastable to v)."""
    k1 = ph.rhs(v, s, tsw, P, N, c)
    k2 = ph.rhs(v + 0.5 * h * k1, s + 0.5 * h, tsw, P, N, c)
    k3 = ph.rhs(v + 0.5 * h * k2, s + 0.5 * h, tsw, P, N, c)
    k4 = ph.rhs(v + h * k3, s + h, tsw, P, N, c)
    return v + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


W_FLOOR = 1e-6   # |w| at which a weight-dependent shape is read for w = 0 (coefficients.W_FLOOR)


def _padded_columns(weight, cc=None, consts=None):
    """relu(w)^T and min(w, 0)^T, [J+1, I], with a zero row J for events that are not inputs, and
    w^T. Where the synapse shape depends on the weight (cc.weight_dependent, k = 1 - beta(|w|) v),
    the first two are stacked [2, J+1, I] with the columns of w beta(|w|) (compile.CompiledPhase.rhs)."""
    wt = weight.t()
    z = wt.new_zeros(1, wt.shape[1])
    pad = lambda x: torch.cat([x, z])
    wp, wn = wt.clamp(min=0), wt.clamp(max=0)
    if cc is None or not cc.weight_dependent:
        return pad(wp), pad(wn), pad(wt)
    bp, bn = _betas(cc, consts, wt.abs().clamp(min=W_FLOOR))
    return (torch.stack([pad(wp), pad(wp * bp)]), torch.stack([pad(wn), pad(wn * bn)]), pad(wt))


def _betas(cc, consts, wabs, derivative=False):
    """beta_pos(|w|), beta_neg(|w|) of the synapse phase (or their derivatives in |w|)."""
    ph, c = cc.phases[cc.synapse_phase], consts[cc.synapse_phase]
    z = wabs.new_zeros(())
    fns = (ph.dbeta_pos_dw, ph.dbeta_neg_dw) if derivative else (ph.beta_pos, ph.beta_neg)
    return tuple(f(z, z, z, c, wabs).expand_as(wabs) for f in fns)


def _rows(cols, j):
    """Rows j of padded columns, [B, I] (or [2, B, I] for stacked weight-dependent columns)."""
    return cols[j] if cols.dim() == 2 else cols[:, j]


def forward_pass(cc, consts, t_in, weight, dt, step, locate, v0=None, record=None):
    """Integrate all phases; returns (t_out, fired, saved) where saved holds what backward needs.

    step(ph, v, s, h, tsw, P, N, c) -> v after one interval; locate(ph, st, c) -> time of the crossing
    after the start st["s"] of the interval in which v reached 1 (st: v0, v1, s, h, tsw, P, N).
    v0: initial state (default 0). record: a list that receives (absolute time, v) after each interval.
    Plain torch ops: differentiable by autograd when called outside ODESpikeTimes (the SDE path).
    """
    B, J = t_in.shape
    I = weight.shape[0]
    wpos, wneg, _ = _padded_columns(weight, cc, consts)
    v = t_in.new_zeros(B, I) if v0 is None else v0
    P, N = t_in.new_zeros(wpos.shape[:-2] + (B, I)), t_in.new_zeros(wpos.shape[:-2] + (B, I))
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    clipped = done.clone()
    t_abs = t_in.new_zeros(B, I)
    st = {k: t_in.new_zeros(B, I) for k in ("v0", "v1", "s", "h", "tsw", "P", "N")}
    phase_of = torch.full((B, I), -1, dtype=torch.long, device=t_in.device)
    sched = schedule(cc, t_in, dt)
    offsets = [0.0]
    for ph in cc.phases:
        offsets.append(offsets[-1] + ph.duration)
    v_first = None
    for pi, (ph, (times, idx)) in enumerate(zip(cc.phases, sched)):
        c = consts[pi]
        if ph.comparator:
            v_first = v if v_first is None else v_first
            start = (~done) & (v >= 1)
            clipped |= start
            t_abs = torch.where(start, torch.full_like(t_abs, offsets[pi]), t_abs)
            done |= start
        s0 = times.new_zeros(times.shape[0], 1)
        for k in range(times.shape[1]):
            s1 = times[:, k:k + 1]
            h = s1 - s0
            tsw = s0 + 0.5 * h
            v1 = step(ph, v, s0, h, tsw, P, N, c)
            if record is not None:
                record.append((offsets[pi] + s1, v1))
            if ph.comparator:
                cross = (~done) & (v1 >= 1)
                for key, val in (("v0", v), ("v1", v1), ("s", s0), ("h", h), ("tsw", tsw), ("P", P), ("N", N)):
                    st[key] = torch.where(cross, val, st[key])
                phase_of = torch.where(cross, torch.full_like(phase_of, pi), phase_of)
                done |= cross
            v, s0 = v1, s1
            if idx is not None:
                j = idx[:, k]
                P = P + _rows(wpos, j)
                N = N + _rows(wneg, j)
    crossed = done & ~clipped
    t_loc = t_in.new_zeros(B, I)
    for pi, ph in enumerate(cc.phases):
        if not ph.comparator:
            continue
        m = crossed & (phase_of == pi)
        d = locate(ph, st, consts[pi])
        t_loc = torch.where(m, st["s"] + d, t_loc)
        t_abs = torch.where(m, offsets[pi] + st["s"] + d, t_abs)
    first = next(i for i, p in enumerate(cc.phases) if p.comparator)
    last = max(i for i, p in enumerate(cc.phases) if p.comparator)
    t_max = offsets[last + 1] - offsets[first]
    t_out = torch.where(done, t_abs - offsets[first], torch.full_like(t_abs, t_max))
    saved = dict(sched=sched, crossed=crossed, phase_of=phase_of, t_loc=t_loc, tsw=st["tsw"],
                 P=st["P"], N=st["N"], clipped=clipped, late=~done, v_first=v_first, v_last=v)
    return t_out, done, saved


def polish(ph, st, c, iters=6, step=_rk4):
    """Newton on delta in [0, h]: step(v0, delta) = 1 (default RK4), starting from linear interpolation."""
    v0, v1, s, h, tsw, P, N = (st[k] for k in ("v0", "v1", "s", "h", "tsw", "P", "N"))
    dv = v1 - v0
    safe = dv > 0
    d = torch.where(safe, h * (1 - v0) / torch.where(safe, dv, torch.ones_like(dv)), h)
    d = torch.minimum(d.clamp(min=0), h)
    for _ in range(iters):
        y = step(ph, v0, s, d, tsw, P, N, c)
        f = ph.rhs(y, s + d, tsw, P, N, c)
        ok = f > 0
        newton = (y - 1) / torch.where(ok, f, torch.ones_like(f))
        d = torch.minimum(torch.where(ok, d - newton, d).clamp(min=0), h)
    return d


def _adjoint_rates(ph, v, lam, s, tsw, P, N, c, need_w, need_c):
    """Forward-time rates of (v, lambda, A_pos, A_neg, A_c...) of the adjoint system."""
    f = ph.rhs(v, s, tsw, P, N, c)
    fv = ph.ddrift_dv(v, s, tsw, c)
    wd = ph.synapses and ph.weight_dependent
    if wd:                                   # F = a + (P0 + N0) - v (P1 + N1): see _padded_columns
        fv = fv - (P[1] + N[1])
    elif ph.synapses:
        fv = fv + P * ph.dk_pos_dv(v, s, tsw, c) + N * ph.dk_neg_dv(v, s, tsw, c)
    rates = [f, -lam * fv]
    if ph.synapses and need_w:               # weight-dependent: int -lam and int lam v, combined per synapse
        rates += [-lam, lam * v] if wd else [-lam * ph.k_pos(v, s, tsw, c), -lam * ph.k_neg(v, s, tsw, c)]
    for k in need_c:
        fc = ph.ddrift_dc[k](v, s, tsw, c)
        if ph.synapses:
            fc = fc + P * ph.dk_pos_dc[k](v, s, tsw, c) + N * ph.dk_neg_dc[k](v, s, tsw, c)
        rates.append(-lam * fc)
    return rates


def _rk4_back(ph, y, e, h, tsw, P, N, c, need_w, need_c):
    """One RK4 step of the adjoint system backward in time, from e to e - h (h >= 0 per neuron)."""
    def rates(yy, t):
        return _adjoint_rates(ph, yy[0], yy[1], t, tsw, P, N, c, need_w, need_c)
    k1 = rates(y, e)
    y2 = [y[0] - 0.5 * h * k1[0], y[1] - 0.5 * h * k1[1]]
    k2 = rates(y2, e - 0.5 * h)
    y3 = [y[0] - 0.5 * h * k2[0], y[1] - 0.5 * h * k2[1]]
    k3 = rates(y3, e - 0.5 * h)
    y4 = [y[0] - h * k3[0], y[1] - h * k3[1]]
    k4 = rates(y4, e - h)
    return [yi - h / 6 * (a + 2 * b + 2 * cc + d) for yi, a, b, cc, d in zip(y, k1, k2, k3, k4)]


def backward_pass(cc, consts, t_in, weight, grad_t, saved, need_t, need_w, need_c, grad_vb=None):
    """Adjoint sweep; returns (grad_t_in, grad_weight, [grad per phase per constant]).

    grad_vb: dL/dv_b of the boundary membranes read out for the unclipped time (ODESpikeTimes):
    those neurons' adjoints start at the readout time with lambda = dL/dv_b and v = v_b."""
    B, J = t_in.shape
    I = weight.shape[0]
    wpos, wneg, wall = _padded_columns(weight, cc, consts)
    if cc.weight_dependent:                  # d(w k(v; |w|))/dw = 1 - D v,  D = beta + |w| dbeta/d|w|
        wabs = wall.abs().clamp(min=W_FLOOR)
        (bp, bn), (dp, dn) = _betas(cc, consts, wabs), _betas(cc, consts, wabs, derivative=True)
        D = torch.where(wall >= 0, bp + wabs * dp, bn + wabs * dn)
    crossed, phase_of, t_loc = saved["crossed"], saved["phase_of"], saved["t_loc"]
    # dL/dT* (-1/F(1, T*)) seeds lambda.
    G = t_in.new_zeros(B, I)
    for pi, ph in enumerate(cc.phases):
        if ph.comparator:
            m = crossed & (phase_of == pi)
            f = ph.rhs(torch.ones_like(G), t_loc, saved["tsw"], saved["P"], saved["N"], consts[pi])
            f = torch.where(m, f, torch.ones_like(f)).clamp(min=torch.finfo(f.dtype).tiny ** 0.5)
            G = torch.where(m, -grad_t / f, G)
    seeded, v_seed = crossed, torch.ones_like(G)
    if grad_vb is not None and bool(grad_vb.ne(0).any()):
        first = next(i for i, p in enumerate(cc.phases) if p.comparator)
        last = max(i for i, p in enumerate(cc.phases) if p.comparator)
        early, late = saved["clipped"], saved["late"]
        readout = early | late
        phase_of = torch.where(early, first - 1, torch.where(late, last, phase_of))
        t_loc = torch.where(early, cc.phases[first - 1].duration if first else 0.0,
                            torch.where(late, cc.phases[last].duration, t_loc))
        G = torch.where(readout, grad_vb, G)
        v_seed = torch.where(readout, torch.where(early, saved["v_first"], saved["v_last"]), v_seed)
        seeded = crossed | readout
    arrive = (t_in < cc.phases[cc.synapse_phase].duration).to(t_in.dtype)
    P = arrive @ wpos[..., :J, :]
    N = arrive @ wneg[..., :J, :]
    v, lam = torch.zeros_like(G), torch.zeros_like(G)
    acc_w = [torch.zeros_like(G), torch.zeros_like(G)]
    gwT = t_in.new_zeros(J + 1, I)
    gt = t_in.new_zeros(B, J + 1)
    grad_c = []
    inf = torch.full_like(t_loc, math.inf)
    for pi in reversed(range(len(cc.phases))):
        ph, (times, idx), c = cc.phases[pi], saved["sched"][pi], consts[pi]
        nc = need_c[pi]
        acc_c = [torch.zeros_like(G) for _ in nc]
        T = torch.where(seeded & (phase_of == pi), t_loc, torch.where(seeded & (phase_of > pi), inf, -inf))
        sw = ph.synapses and need_w
        for k in reversed(range(times.shape[1])):
            s1 = times[:, k:k + 1]
            s0 = times[:, k - 1:k] if k > 0 else torch.zeros_like(s1)
            if idx is not None:
                j = idx[:, k]
                col = wall[j]
                pos = col >= 0
                if need_w:
                    gwT.index_add_(0, j, acc_w[0] + D[j] * acc_w[1] if ph.weight_dependent
                                   else torch.where(pos, acc_w[0], acc_w[1]))
                if need_t:
                    wabs_j = col.abs().clamp(min=W_FLOOR)      # read only by weight-dependent shapes
                    kp = ph.k_pos(v, s1, s1, c, wabs_j)
                    kn = ph.k_neg(v, s1, s1, c, wabs_j)
                    jump = torch.where(pos, col * kp, col * kn)
                    gt.scatter_add_(1, j[:, None], -(lam * jump).sum(1, keepdim=True))
                P = P - _rows(wpos, j)
                N = N - _rows(wneg, j)
            start = (T > s0) & (T <= s1)
            v = torch.where(start, v_seed, v)
            lam = torch.where(start, G, lam)
            active = T > s0
            e = torch.where(active, torch.minimum(T, s1), s1.expand_as(T))
            h = torch.where(active, e - s0, torch.zeros_like(e))
            y = [v, lam] + (acc_w if sw else []) + acc_c
            y = _rk4_back(ph, y, e, h, 0.5 * (s0 + s1), P, N, c, sw, nc)
            v, lam = y[0], y[1]
            if sw:
                acc_w = y[2:4]
            acc_c = y[4 if sw else 2:]
        grad_c.append(acc_c)
    grad_c.reverse()
    return gt[:, :J], gwT[:J].t(), grad_c


class ODESpikeTimes(torch.autograd.Function):
    """Autograd wrapper: forward_pass / backward_pass. Inputs: t_in, weight, then every phase's constants.
    Outputs: t_out, fired, v_b (the membrane at the start of the first comparator phase where the
    neuron was clipped there, at the end of the last one where it never fired, else 0; read by
    the unclipped time) and the clipped mask."""

    @staticmethod
    def forward(ctx, cc, dt, npolish, t_in, weight, *consts_flat):
        sizes = [len(ph.const_symbols) for ph in cc.phases]
        consts, i = [], 0
        for n in sizes:
            consts.append(list(consts_flat[i:i + n]))
            i += n
        t_out, fired, saved = forward_pass(cc, consts, t_in, weight, dt, _rk4,
                                           lambda ph, st, c: polish(ph, st, c, npolish))
        ctx.cc, ctx.sizes, ctx.saved = cc, sizes, saved
        ctx.save_for_backward(t_in, weight, *consts_flat)
        ctx.mark_non_differentiable(fired, saved["clipped"])
        v_b = torch.where(saved["clipped"], saved["v_first"], torch.where(saved["late"], saved["v_last"], 0.0))
        return t_out, fired, v_b, saved["clipped"]

    @staticmethod
    def backward(ctx, grad_t, _grad_fired, grad_vb, _grad_clipped):
        t_in, weight, *consts_flat = ctx.saved_tensors
        cc, sizes = ctx.cc, ctx.sizes
        consts, need_c, i = [], [], 0
        for n in sizes:
            consts.append(list(consts_flat[i:i + n]))
            need_c.append([k for k in range(n) if ctx.needs_input_grad[5 + i + k]])
            i += n
        need_t, need_w = ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        gt, gw, gc = backward_pass(cc, consts, t_in, weight, grad_t, ctx.saved, need_t, need_w, need_c, grad_vb)
        out = [None, None, None, gt if need_t else None, gw if need_w else None]
        for pi, n in enumerate(sizes):
            grads = dict(zip(need_c[pi], gc[pi]))
            for k in range(n):
                g = grads.get(k)
                out.append(None if g is None else g.sum_to_size(consts[pi][k].shape))
        return tuple(out)


def ode_spike_times(cc, t_in, weight, params=None, dt=1 / 64, polish=6, clip=True):
    """Spike times [B, I] (from the start of the first comparator phase, normalised) and fired mask.

    cc: CompiledCircuit; t_in [B, J] normalised input times (>= 0, +inf = no spike); weight [I, J];
    params: dict of parameter tensors (default cc.params(...)); dt: largest RK4 step (normalised);
    clip=False: the unclipped firing time of :mod:`circuitnet.solve.unclipped` (its gradient
    through v_b by the same adjoint, seeded at the readout time).
    """
    check_layer_inputs(t_in, weight)
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))
    consts = [ph.prepare(p, t_in) for ph in cc.phases]
    if cc.weight_dependent:
        if not clip:
            raise ValueError("clip=False on a circuit whose synapse shapes depend on the weight (FittedNMOS/"
                             "FittedPMOS): use method 'exact' or 'dstd' for the unclipped time")
        if any(x.requires_grad for x in consts[cc.synapse_phase]):
            raise ValueError("gradients with respect to the circuit's parameters are not available from method "
                             "'ode' when the synapse shapes depend on the weight; use 'exact' or 'dstd'")
    t_out, fired, v_b, clipped = ODESpikeTimes.apply(cc, float(dt), int(polish), t_in, weight,
                                                     *[c for cs in consts for c in cs])
    if not clip:
        t_out = unclip(cc, consts, t_in, weight, t_out, clipped, ~fired, v_b, v_b)
    return t_out, fired
