"""Method "ode": spike times of any compiled circuit, with adjoint event sensitivities.

Forward. Each phase is cut into intervals whose edges are a uniform grid (step <= dt), the phase's
switching times and, in the synapse phase, every input spike time of the sample (sorted per sample).
The synaptic drive (circuitnet.drive) is constant inside an interval, so each interval is one classical
RK4 step of dv/dtau = a(v, tau) + pos k_pos(v) + neg k_neg(v) and input jumps are never smeared. In comparator
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
sum_j w_j - v sum_j w_j beta(|w_j|) (circuitnet.drive: pos_beta, neg_beta), and the weight
gradient is int lambda dtau - D_j int lambda v dtau with D_j = beta + |w_j| dbeta/d|w| (two running
accumulators instead of one per sign); with separable terms beyond (k = 1 - beta v + sum_p g_p phi_p(v),
e.g. the devices' curvature g v^2) one more per term: + sum_p E_pj int lambda phi_p(v) dtau,
E_pj = g_p + |w_j| dg_p/d|w|.
"""
import math

import torch

from ..compile import W_FLOOR
from ..inputs import check_layer_inputs
from .kernels import check_dt, polish, rk4_step
from .schedule import Schedule
from .unclipped import unclip


def _grid(phase, dt, ref, edges=()):
    n = max(1, math.ceil(phase.duration / dt - 1e-9))
    pts = sorted(set([phase.duration * m / n for m in range(1, n + 1)]) | set(phase.breakpoints) | set(edges))
    return torch.tensor(pts, dtype=ref.dtype, device=ref.device)


def intervals(sched, t_in, dt):
    """Per phase: interval end times [B or 1, K] and, in the synapse phase, the input index that
    arrives at each end ([B, K]; J = no input: a grid edge). The grid holds the phase's switching
    times and the schedule's interior jump times."""
    B, J = t_in.shape
    out = []
    for k, ph in enumerate(sched.cc.phases):
        grid = _grid(ph, dt, t_in, sched.interior(k))
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


def _columns(cc, consts, weight):
    """The drive's weight columns (Drive of [J+1, I]: w^T split by sign, with the beta(|w|) products
    where the shapes depend on the weight) with a zero row J for events that are not inputs, and
    w^T padded the same way."""
    return cc.synapse_weights(consts, weight).map(_pad), _pad(weight)


def _rows(columns, j):
    """The drive added by the inputs j [B] (rows of the padded columns), a Drive of [B, I]."""
    return columns.map(lambda x: x[j])


def _pad(x):
    """x^T [J, I] with a zero row J (for events that are not inputs)."""
    return torch.cat([x.t(), x.new_zeros(1, x.shape[0])])


def _jump_rows(jpad, j, s1):
    """The packets of the inputs j [B] arriving at s1 [B, 1] (none at s1 <= 0: on from reset);
    jpad: _pad(jumps)."""
    return jpad[j] * (s1 > 0).to(jpad.dtype)


def forward_pass(sched, t_in, weight, dt, step, locate, v0=None, record=None):
    """Integrate all phases of the :class:`~circuitnet.solve.schedule.Schedule` ``sched``; returns
    (t_out, fired, saved) where saved holds what backward needs.

    step(ph, v, s, h, tsw, drive, c) -> v after one interval (circuitnet.solve.kernels);
    locate(ph, interval, c) -> time of the crossing after the start of the interval in which v
    reached 1 (interval: v0, v1, s, h, tsw, drive). v0: initial state (default 0). record: a list
    that receives (absolute time, v) after each interval. The schedule's jumps: its fixed jumps at
    each phase's start, inside it (grid edges) and at its end; its input packets: v += jumps_ij when
    input j arrives at t_j > 0, minus them all where the synapse phase ends. Plain torch ops:
    differentiable by autograd when called outside ODESpikeTimes (the SDE path).
    """
    B, J = t_in.shape
    I = weight.shape[0]
    cc, consts, jumps = sched.cc, sched.consts, sched.input_jumps
    tl = cc.timeline
    columns, _ = _columns(cc, consts, weight)
    jpad = None if jumps is None else _pad(jumps)
    v = t_in.new_zeros(B, I) if v0 is None else v0
    drive = columns.map(lambda x: t_in.new_zeros(B, I))
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    clipped = done.clone()
    t_out = t_in.new_zeros(B, I)
    at = dict({k: t_in.new_zeros(B, I) for k in ("v0", "v1", "s", "h", "tsw")}, drive=drive)
    phase_of = torch.full((B, I), -1, dtype=torch.long, device=t_in.device)
    edges = intervals(sched, t_in, dt)
    v_first = None
    v_first_pre = None
    for pi, (ph, (times, idx)) in enumerate(zip(cc.phases, edges)):
        c = consts[pi]
        if pi == tl.first:
            v_first_pre = v
        v = sched.start(pi, v)
        if pi == tl.first:
            v_first = v
            t_out, done, clipped = tl.open_window(v, t_out, done)
        s0 = times.new_zeros(times.shape[0], 1)
        for k in range(times.shape[1]):
            s1 = times[:, k:k + 1]
            h = s1 - s0
            tsw = s0 + 0.5 * h
            v1 = step(ph, v, s0, h, tsw, drive, c)
            if record is not None:
                record.append((tl.starts[pi] + s1, v1))
            if ph.comparator:
                cross = tl.crossed(v1, done)    # no host sync per step: the bookkeeping is masked
                for key, val in (("v0", v), ("v1", v1), ("s", s0), ("h", h), ("tsw", tsw)):
                    at[key] = torch.where(cross, val, at[key])
                at["drive"] = drive.where(cross, at["drive"])
                phase_of = torch.where(cross, pi, phase_of)
                done |= cross
            v, s0 = v1, s1
            if idx is not None:
                drive = drive + _rows(columns, idx[:, k])
                if jpad is not None:
                    v = v + _jump_rows(jpad, idx[:, k], s1)
            v = sched.at(pi, v, s1, None if idx is None else idx[:, k:k + 1] == J)
        if ph.synapses and jumps is not None:           # every device that was on gives its packet back
            v = v - (t_in < ph.duration).to(v.dtype) @ jumps.t()
        v = sched.end(pi, v)
    crossed = done & ~clipped
    t_loc = t_in.new_zeros(B, I)
    for pi in tl.comparator:
        m = crossed & (phase_of == pi)
        d = locate(cc.phases[pi], at, consts[pi])
        t_loc = torch.where(m, at["s"] + d, t_loc)
        t_out = torch.where(m, tl.in_window(pi, at["s"] + d), t_out)
    saved = dict(sched=edges, crossed=crossed, phase_of=phase_of, t_loc=t_loc, tsw=at["tsw"], drive=at["drive"],
                 clipped=clipped, late=~done, v_first=v_first, v_first_pre=v_first_pre, v_last=v)
    return tl.report(t_out, done), done, saved


def _linear(ph):
    """True where the phase's rhs is a0 + a1 v with a0, a1 constant inside an interval (affine in v,
    no time switch; the drive is constant between events)."""
    return ph.affine and ph.time_invariant


def ode_step(ph, v, s, h, tsw, drive, c):
    """One classical RK4 step (kernels.rk4_step). On a linear phase (:func:`_linear`), F = a0 + a1 v, its
    four stages collapse to v + h F(v) (1 + x/2 + x^2/6 + x^3/24), x = h a1: the same step in
    two rhs evaluations instead of four."""
    if not _linear(ph):
        return rk4_step(ph, v, s, h, tsw, drive, c)
    x = h * ph.rhs_dv(v, s, tsw, drive, c)
    return v + h * ph.rhs(v, s, tsw, drive, c) * (1 + x * (0.5 + x * (1 / 6 + x / 24)))


def _adjoint_rates(ph, v, lam, s, tsw, drive, c, need_w, need_c, a=None):
    """Forward-time rates of (v, lambda, A_pos, A_neg, A_c...) of the adjoint system; ``a``: on a linear
    phase, the rhs a0 + a1 v and the shapes k_pos = p0 + p1 v, k_neg = n0 + n1 v, read once per interval
    (a0, a1, p0, p1, n0, n1)."""
    if a is None:
        f, fv = ph.rhs(v, s, tsw, drive, c), ph.rhs_dv(v, s, tsw, drive, c)
    else:
        f, fv = torch.addcmul(a[0], a[1], v), a[1]
    nl = -lam
    rates = [f, nl * fv]
    if ph.synapses and need_w:               # weight-dependent: int -lam, int lam v (and int -lam phi_p(v)), combined per synapse
        if ph.weight_dependent:
            rates += [nl, lam * v] + [nl * cv.phi(v, s, tsw, c) for cv in ph.curves]
        elif a is not None:
            rates += [nl * torch.addcmul(a[2], a[3], v), nl * torch.addcmul(a[4], a[5], v)]
        else:
            rates += [nl * ph.k_pos(v, s, tsw, c), nl * ph.k_neg(v, s, tsw, c)]
    for k in need_c:
        fc = ph.ddrift_dc[k](v, s, tsw, c)
        if ph.synapses:
            fc = fc + drive.pos * ph.dk_pos_dc[k](v, s, tsw, c) + drive.neg * ph.dk_neg_dc[k](v, s, tsw, c)
        rates.append(nl * fc)
    return rates


def _shapes(ph, c, like, need_w):
    """(p0, p1, n0, n1): k_pos = p0 + p1 v and k_neg = n0 + n1 v of a linear synapse phase (constant over
    the phase: no time switch), for the adjoint's weight integrals; () where they are not needed."""
    if not (_linear(ph) and ph.synapses and need_w and not ph.weight_dependent):
        return ()
    z = like.new_zeros(())
    return (ph.k_pos(z, z, z, c), ph.dk_pos_dv(z, z, z, c), ph.k_neg(z, z, z, c), ph.dk_neg_dv(z, z, z, c))


def _rk4_back(ph, y, e, h, tsw, drive, c, need_w, need_c, shapes=()):
    """One RK4 step of the adjoint system backward in time, from e to e - h (h >= 0 per neuron);
    ``shapes``: :func:`_shapes` of the phase."""
    a = None
    if _linear(ph):
        zero = y[0].new_zeros(())
        a = (ph.rhs(zero, e, tsw, drive, c), ph.rhs_dv(zero, e, tsw, drive, c)) + tuple(shapes)

    def rates(yy, t):
        return _adjoint_rates(ph, yy[0], yy[1], t, tsw, drive, c, need_w, need_c, a)
    hh = 0.5 * h
    back = lambda k, by: [torch.addcmul(y[0], by, k[0], value=-1), torch.addcmul(y[1], by, k[1], value=-1)]
    k1 = rates(y, e)
    k2 = rates(back(k1, hh), e - hh)
    k3 = rates(back(k2, hh), e - hh)
    k4 = rates(back(k3, h), e - h)
    h6 = h / 6        # no autograd here (a Function's backward): the sums are formed in place
    return [torch.addcmul(yi, h6, (b + cc).mul_(2).add_(a).add_(d), value=-1) for yi, a, b, cc, d in zip(y, k1, k2, k3, k4)]


def backward_pass(sched, t_in, weight, grad_t, saved, need_t, need_w, need_c, grad_vb=None):
    """Adjoint sweep; returns (grad_t_in, grad_weight, [grad per phase per constant], grad of the input
    packets (None without them), [grad of each fixed jump of the schedule]).

    grad_vb: dL/dv_b of the boundary membranes read out for the unclipped time (ODESpikeTimes):
    those neurons' adjoints start at the readout time with lambda = dL/dv_b and v = v_b.
    Jumps (the schedule's fixed jumps and input packets): v is taken back across each one; lambda is
    continuous there, dL/d(jump) = lambda at its time (a ConductionJump, which depends on v, is
    inverted and scales lambda by its slope: Schedule.end_back), and an input's time gradient sees the
    change of the rate across its event, lambda (F_after(v+) - F_before(v-))."""
    B, J = t_in.shape
    I = weight.shape[0]
    cc, consts, jumps = sched.cc, sched.consts, sched.input_jumps
    tl = cc.timeline
    columns, wall = _columns(cc, consts, weight)
    E = ()
    if cc.weight_dependent:                  # d(w k(v; |w|))/dw = 1 - D v + sum_p E_p phi_p(v),  D = beta + |w| dbeta/d|w|
        wabs = wall.abs().clamp(min=W_FLOOR)
        (bp, bn), (dp, dn) = cc.synapse_betas(consts, wabs), cc.synapse_betas(consts, wabs, derivative=True)
        D = torch.where(wall >= 0, bp + wabs * dp, bn + wabs * dn)
        E = tuple(torch.where(wall >= 0, gp + wabs * ep, gn + wabs * en)      # E_p = g_p + |w| dg_p/d|w|
                  for (gp, gn), (ep, en) in zip(cc.synapse_curves(consts, wabs), cc.synapse_curves(consts, wabs, True)))
    crossed, phase_of, t_loc = saved["crossed"], saved["phase_of"], saved["t_loc"]
    # dL/dT* (-1/F(1, T*)) seeds lambda.
    G = t_in.new_zeros(B, I)
    for pi in tl.comparator:
        m = crossed & (phase_of == pi)
        f = cc.phases[pi].rhs(torch.ones_like(G), t_loc, saved["tsw"], saved["drive"], consts[pi])
        f = torch.where(m, f, torch.ones_like(f)).clamp(min=torch.finfo(f.dtype).tiny ** 0.5)
        G = torch.where(m, -grad_t / f, G)
    seeded, v_seed = crossed, torch.ones_like(G)
    if grad_vb is not None and bool(grad_vb.ne(0).any()):
        first, last = tl.first, tl.last
        early, late = saved["clipped"], saved["late"]
        readout = early | late
        phase_of = torch.where(early, first - 1, torch.where(late, last, phase_of))
        t_loc = torch.where(early, cc.phases[first - 1].duration if first else 0.0,
                            torch.where(late, cc.phases[last].duration, t_loc))
        G = torch.where(readout, grad_vb, G)
        v_seed = torch.where(readout, torch.where(early, saved["v_first_pre"], saved["v_last"]), v_seed)
        seeded = crossed | readout
    arrive = (t_in < tl.synapse_duration).to(t_in.dtype)
    drive = columns.map(lambda x: arrive @ x[:J])
    v, lam = torch.zeros_like(G), torch.zeros_like(G)
    n_acc = 2 + len(E)
    acc_w = [torch.zeros_like(G) for _ in range(n_acc)]
    gwT = t_in.new_zeros(J + 1, I)
    gt = t_in.new_zeros(B, J + 1)
    gjT = None if jumps is None else t_in.new_zeros(J + 1, I)
    jpad = None if jumps is None else _pad(jumps)
    lam_at = {}                                         # (phase, tau) -> lambda where a fixed jump happens
    grad_c = []
    inf = torch.full_like(t_loc, math.inf)
    for pi in reversed(range(len(cc.phases))):
        ph, (times, idx), c = cc.phases[pi], saved["sched"][pi], consts[pi]
        nc = need_c[pi]
        T = torch.where(seeded & (phase_of == pi), t_loc, torch.where(seeded & (phase_of > pi), inf, -inf))
        sw = ph.synapses and need_w
        shapes = _shapes(ph, c, G, sw)
        v, lam, acc_c = sched.end_back(pi, v, lam, lam_at, nc)     # back across the jumps at the phase end
        if ph.synapses and jumps is not None:           # back across the switch-off at the phase end
            arrived = (t_in < ph.duration).to(v.dtype)
            v = v + arrived @ jumps.t()
            gjT[:J] -= arrived.t() @ lam
        for k in reversed(range(times.shape[1])):
            s1 = times[:, k:k + 1]
            s0 = times[:, k - 1:k] if k > 0 else torch.zeros_like(s1)
            if sched.interior(pi):                      # back across the jumps at this edge
                grid = None if idx is None else idx[:, k:k + 1] == J
                for tau in sched.interior(pi):
                    hit = (s1 == tau) if grid is None else (s1 == tau) & grid
                    lam_at[(pi, tau)] = lam_at.get((pi, tau), 0.0) + lam * hit.to(lam.dtype)
                v = sched.at(pi, v, s1, grid, sign=-1.0)
            if idx is not None:
                j = idx[:, k]
                col = wall[j]
                pos = col >= 0
                if need_w:
                    if ph.weight_dependent:
                        g = acc_w[0] + D[j] * acc_w[1]
                        for Ep, acc in zip(E, acc_w[2:]):
                            g = g + Ep[j] * acc
                    else:
                        g = torch.where(pos, acc_w[0], acc_w[1])
                    gwT.index_add_(0, j, g)
                v_after = v
                if jumps is not None:
                    q = _jump_rows(jpad, j, s1)
                    v = v - q
                    gjT.index_add_(0, j, lam * (s1 > 0).to(lam.dtype))
                if need_t:
                    wabs_j = col.abs().clamp(min=W_FLOOR)      # read only by weight-dependent shapes
                    kp = ph.k_pos(v_after, s1, s1, c, wabs_j)
                    kn = ph.k_neg(v_after, s1, s1, c, wabs_j)
                    jump = torch.where(pos, col * kp, col * kn)
                    if jumps is not None:   # F_before(v+) - F_before(v-): the packet moves the state too
                        before = drive - _rows(columns, j)
                        jump = jump + ph.rhs(v_after, s1, s1, before, c) - ph.rhs(v, s1, s1, before, c)
                    gt.scatter_add_(1, j[:, None], -(lam * jump).sum(1, keepdim=True))
                drive = drive - _rows(columns, j)
            start = (T > s0) & (T <= s1)        # the adjoints that start in this interval
            v = torch.where(start, v_seed, v)
            lam = torch.where(start, G, lam)
            e = torch.maximum(torch.minimum(T, s1), s0)   # the adjoint not started (T <= s0): e = s0, h = 0
            h = e - s0
            y = [v, lam] + (acc_w if sw else []) + acc_c
            y = _rk4_back(ph, y, e, h, 0.5 * (s0 + s1), drive, c, sw, nc, shapes)
            v, lam = y[0], y[1]
            if sw:
                acc_w = y[2:2 + n_acc]
            acc_c = y[2 + n_acc if sw else 2:]
        grad_c.append(acc_c)
        if any(tau == 0.0 for tau, _ in sched.jumps[pi]):   # back across the jumps where the phase starts
            lam_at[(pi, 0.0)] = lam
        v = sched.start(pi, v, sign=-1.0)
    grad_c.reverse()
    return gt[:, :J], gwT[:J].t(), grad_c, None if gjT is None else gjT[:J].t(), sched.jump_gradients(lam_at)


class ODESpikeTimes(torch.autograd.Function):
    """Autograd wrapper: forward_pass / backward_pass. Inputs: the schedule (its tensors are passed
    again, as the Function's own inputs, so that their gradients come back), dt, polish, t_in, weight,
    the input packets (jumps [I, J] or None), the number of fixed jumps, the fixed jumps' dv, then every
    phase's constants. Outputs: t_out, fired, v_b (the membrane at the start of the first comparator
    phase where the neuron was clipped there, at the end of the last one where it never fired, else 0;
    read by the unclipped time) and the clipped mask."""

    @staticmethod
    def forward(ctx, sched, dt, npolish, t_in, weight, jumps, n_fixed, *rest):
        fixed, consts_flat = rest[:n_fixed], rest[n_fixed:]
        sizes = [len(ph.const_symbols) for ph in sched.cc.phases]
        consts, i = [], 0
        for n in sizes:
            consts.append(list(consts_flat[i:i + n]))
            i += n
        sched = sched.with_tensors(fixed, consts, jumps)
        t_out, fired, saved = forward_pass(sched, t_in, weight, dt, ode_step,
                                           lambda ph, interval, c: polish(ph, interval, c, npolish))
        ctx.sched, ctx.sizes, ctx.saved, ctx.n_fixed = sched, sizes, saved, n_fixed
        ctx.save_for_backward(t_in, weight, *consts_flat)
        ctx.mark_non_differentiable(fired, saved["clipped"])
        v_b = torch.where(saved["clipped"], saved["v_first"], torch.where(saved["late"], saved["v_last"], 0.0))
        return t_out, fired, v_b, saved["clipped"]

    @staticmethod
    def backward(ctx, grad_t, _grad_fired, grad_vb, _grad_clipped):
        t_in, weight, *consts_flat = ctx.saved_tensors
        sched, sizes, n_fixed = ctx.sched, ctx.sizes, ctx.n_fixed
        first = 7 + n_fixed                  # needs_input_grad index of the first constant
        consts, need_c, i = [], [], 0
        for n in sizes:
            consts.append(list(consts_flat[i:i + n]))
            need_c.append([k for k in range(n) if ctx.needs_input_grad[first + i + k]])
            i += n
        sched = sched.with_tensors(sched.tensors(), consts, sched.input_jumps)
        need_t, need_w = ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        gt, gw, gc, gj, gfix = backward_pass(sched, t_in, weight, grad_t, ctx.saved, need_t, need_w, need_c, grad_vb)
        out = [None, None, None, gt if need_t else None, gw if need_w else None,
               gj if ctx.needs_input_grad[5] else None, None]
        out += [g if ctx.needs_input_grad[7 + k] else None for k, g in enumerate(gfix)]
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
    dt = check_dt(dt)
    sched = Schedule(cc, t_in, weight, params)
    consts = sched.consts
    fixed = sched.tensors()
    t_out, fired, v_b, clipped = ODESpikeTimes.apply(sched, float(dt), int(polish), t_in, weight, sched.input_jumps,
                                                     len(fixed), *fixed, *[c for cs in consts for c in cs])
    if not clip:
        t_out = unclip(cc, consts, t_in, weight, t_out, clipped, ~fired, v_b, v_b)
    return t_out, fired
