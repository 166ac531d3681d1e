"""One schedule of the jumps and events of a call, built once from the compiled circuit and the inputs.

Every stepping method walks the phases of a :class:`Schedule` (ode and its adjoint, sde, DSTD's
general path, the jitter, torchdiffeq; the unclipped time reads the boundary states they leave):

* the parameters and each phase's prepared constants of this call;
* jumps of v, ``(tau, dv)`` at a local time ``tau`` of a phase, from the sources in
  :data:`EVENTS`: the charge packets of devices that switch on or off where a phase starts
  (:class:`GateCharges`), and the synapse devices' edge conduction where the synapse phase ends
  (:class:`EdgeConductions`), which depends on v there (dv a :class:`ConductionJump`, v -> v +
  dv(v)). A jump at tau = 0 comes before the comparator window opens (the clip rule,
  Timeline.open_window), one at the phase's end after its last interval; one inside the phase is an
  edge every method steps onto, the jump applied as the interval ending there closes;
* the input events: input j arrives at t_j in the synapse phase (its drive switches on and, with a
  GateCharge on the synapse device, v jumps by ``input_jumps[i, j]`` if t_j > 0; every synapse
  device that was on gives its packet back where the phase ends). How an input's drive enters is
  the method's own (exact events in ode, averaged over a grid interval in DSTD); the packets' sizes
  are the schedule's.

A new kind of event at a known time is one more :class:`EventSource` in :data:`EVENTS`; every
stepping method honours it, and the closed forms (exact, DSTD's closed-form path) refuse a circuit
that has it (DSTD then takes its general path) unless the source says they follow it.
"""
import torch


class EventSource:
    """A kind of event at known times. ``applies(compiled)``: whether a circuit has it (compile time);
    ``jumps(compiled, params, consts, t_in, weight)`` -> [(phase index, tau, dv)] with dv a scalar,
    [I] or [B, I] tensor (normalised voltage) or a :class:`ConductionJump` (a jump that depends on v;
    ``consts``: every phase's prepared constants); ``closed_form``: the closed forms follow it themselves."""
    name = "event"
    closed_form = False

    def applies(self, cc):
        raise NotImplementedError

    def jumps(self, cc, p, consts, t_in, weight):
        raise NotImplementedError


class GateCharges(EventSource):
    """Charge packets of non-synapse devices (GateCharge): the jump where each phase starts (the
    closed forms take the firing phase's own: solve.closed_form)."""
    name = "gate charges"
    closed_form = True

    def applies(self, cc):
        return cc.has_packets

    def jumps(self, cc, p, consts, t_in, weight):
        return [(k, 0.0, dv) for k, dv in enumerate(cc.phase_jumps(p, t_in)) if dv is not None]


class EdgeConductions(EventSource):
    """Conduction through the synapse devices' gate edges (EdgeConduction): where the synapse phase
    ends, each device that was on pushes its current at the membrane's voltage for its tau(I)
    (a :class:`ConductionJump`, CompiledCircuit.synapse_switch_off), after the packets are given
    back; the closed forms add it where the firing phase starts."""
    name = "edge conduction"
    closed_form = True

    def applies(self, cc):
        return cc.synapse_conduction

    def jumps(self, cc, p, consts, t_in, weight):
        k = cc.synapse_phase
        fixed, drive = cc.synapse_switch_off(p, consts, t_in, weight)
        return [(k, cc.phases[k].duration, ConductionJump(cc.phases[k], consts[k], fixed, drive))]


class ConductionJump:
    """A jump of v that depends on v: v+ = v + fixed + S(v), S(v) = phase.synaptic(v; drive) at the
    phase's end (CompiledCircuit.synapse_switch_off: the synapse devices' currents at v, each for its
    edge's tau, in normalised voltage). ``fixed`` [B, I]; ``drive`` a Drive [B, I]; ``c`` the phase's
    prepared constants. Its tensors (fixed, then the drive's fields) pass through autograd Functions
    like a fixed jump's dv; :meth:`back` inverts it and carries the adjoint across (ode's adjoint)."""

    def __init__(self, phase, c, fixed, drive):
        self.phase, self.c, self.fixed, self.drive = phase, c, fixed, drive

    def _s(self, v, drive=None, c=None):
        tau = self.phase.duration
        return self.phase.synaptic(v, tau, tau, self.drive if drive is None else drive, self.c if c is None else c)

    def __call__(self, v):
        """dv at v (v before the jump)."""
        return self.fixed + self._s(v)

    def slope(self, v):
        """d(v+)/d(v) = 1 + S'(v) (the jitter's variance and the adjoint scale by it)."""
        tau = self.phase.duration
        return 1.0 + self.phase.synaptic_dv(v, tau, tau, self.drive, self.c)

    def before(self, v_after, iterations=8):
        """The v before the jump that gives ``v_after`` (Newton on v + fixed + S(v) = v_after; S' is
        the conduction's small slope, so a few steps reach machine precision)."""
        v = v_after - self.fixed - self._s(v_after)
        for _ in range(iterations):
            v = v - (v + self(v) - v_after) / self.slope(v)
        return v

    def tensors(self):
        return [self.fixed] + [x for x in self.drive[:4] if x is not None] + list(self.drive.curves)

    def with_tensors(self, xs, c=None):
        """The same jump with tensors ``xs`` (in :meth:`tensors`' order) and constants ``c`` (default its own)."""
        it = iter(xs)
        fixed = next(it)
        head = [None if x is None else next(it) for x in self.drive[:4]]
        drive = type(self.drive)(*head, tuple(next(it) for _ in self.drive.curves))
        return ConductionJump(self.phase, self.c if c is None else c, fixed, drive)

    def back(self, v_after, lam, need_c=()):
        """Across the jump backward in time: (v before it, lambda before it = lambda (1 + S'(v)),
        dL/d(each of :meth:`tensors`) = lambda dv/d(tensor), and dL/dc_k [B, I] for the constants'
        indices ``need_c``) for the adjoint lambda = dL/dv after it."""
        v = self.before(v_after).detach()
        xs = [x.detach().expand_as(v).clone().requires_grad_() for x in self.tensors()]
        cs = list(self.c)
        for k in need_c:
            cs[k] = cs[k].detach().expand_as(v).clone().requires_grad_()
        with torch.enable_grad():
            vv = v.clone().requires_grad_()
            jump = self.with_tensors(xs)
            out = jump.fixed + jump._s(vv, c=cs)
            grads = torch.autograd.grad(out, [vv] + xs + [cs[k] for k in need_c], lam, allow_unused=True)
        grads = [torch.zeros_like(v) if g is None else g for g in grads]
        n = len(xs)
        return v, lam + grads[0], grads[1:1 + n], grads[1 + n:]


EVENTS = [GateCharges(), EdgeConductions()]


def unfollowed(cc):
    """Names of the event kinds ``cc`` has that the closed forms do not follow."""
    return [e.name for e in EVENTS if not e.closed_form and e.applies(cc)]


class Schedule:
    """What one call of a stepping method meets (module docstring). ``jumps[k]``: the fixed jumps
    of phase k, a list of (tau, dv) sorted by tau; ``input_jumps`` [I, J] or None."""

    def __init__(self, cc, t_in, weight, params=None):
        self.cc = cc
        self.params = cc.params(t_in.dtype, t_in.device, **(params or {}))
        self.consts = [ph.prepare(self.params, t_in) for ph in cc.phases]
        self.input_jumps = cc.synapse_jumps(self.params, weight)
        self.jumps = [[] for _ in cc.phases]
        for source in EVENTS:
            if not source.applies(cc):
                continue
            for k, tau, dv in source.jumps(cc, self.params, self.consts, t_in, weight):
                dur = cc.phases[k].duration
                if not 0.0 <= float(tau) <= dur:
                    raise ValueError(f"event source {source.name!r}: a jump at tau = {tau} lies outside phase {k} "
                                     f"[0, {dur}]")
                if isinstance(dv, ConductionJump) and float(tau) != dur:
                    raise ValueError(f"event source {source.name!r}: a jump that depends on v lies only at a "
                                     f"phase's end (tau = {dur}), got tau = {tau}")
                self.jumps[k].append((float(tau), dv))
        for js in self.jumps:
            js.sort(key=lambda x: x[0])
        self._interior = [sorted({tau for tau, _ in js if 0.0 < tau < ph.duration})
                          for js, ph in zip(self.jumps, cc.phases)]

    # ------------------------------------------------------------------ the jumps
    def start(self, k, v, sign=1.0):
        """v after (sign -1: before) the jumps at the start of phase k."""
        return self._apply(v, k, lambda tau: tau == 0.0, sign)

    def end(self, k, v, sign=1.0):
        """v after (sign -1: before) the jumps at the end of phase k."""
        dur = self.cc.phases[k].duration
        return self._apply(v, k, lambda tau: tau == dur and tau > 0.0, sign)

    def _apply(self, v, k, where, sign=1.0):
        js = [dv for tau, dv in self.jumps[k] if where(tau)]
        for dv in (js if sign > 0 else reversed(js)):
            if isinstance(dv, ConductionJump):
                v = v + dv(v) if sign > 0 else dv.before(v)
            else:
                v = v + dv if sign > 0 else v - dv
        return v

    def end_gain(self, k, v):
        """d(v after the jumps at the end of phase k)/d(v before them): 1 but for a ConductionJump (the
        jitter's variance scales by its square)."""
        gain = 1.0
        for dv in (dv for tau, dv in self.jumps[k] if tau == self.cc.phases[k].duration and tau > 0.0):
            if isinstance(dv, ConductionJump):
                gain = gain * dv.slope(v)
                v = v + dv(v)
            else:
                v = v + dv
        return gain

    def end_back(self, k, v, lam, lam_at, need_c=()):
        """Backward across the jumps at the end of phase k (ode's adjoint): (v before them, lambda
        before them, dL/dc_k [B, I] of the phase's constants ``need_c``); records in ``lam_at[(k,
        tau)]`` what :meth:`jump_gradients` reads (lambda, continuous across a fixed jump; a
        ConductionJump's own gradients)."""
        dur = self.cc.phases[k].duration
        gc = [torch.zeros_like(v) for _ in need_c]
        for tau, dv in reversed([x for x in self.jumps[k] if x[0] == dur and dur > 0.0]):
            if isinstance(dv, ConductionJump):
                v, lam_new, g_tensors, g_c = dv.back(v, lam, need_c)
                lam_at[(k, tau)] = g_tensors
                gc = [a + b for a, b in zip(gc, g_c)]
                lam = lam_new
            else:
                lam_at[(k, tau)] = lam
                v = v - dv
        return v, lam, gc

    def interior(self, k):
        """Sorted distinct local times strictly inside phase k at which v jumps (grid edges)."""
        return self._interior[k]

    def at(self, k, v, s1, grid=None, sign=1.0):
        """v after (sign -1: before) the interior jumps of phase k at the interval ends s1 ([B or 1, 1]):
        each applied on the rows whose interval ends at its time (and, where ``grid`` [B, 1] is given,
        is a grid edge rather than an input event at the same time)."""
        if not self._interior[k]:
            return v
        dur = self.cc.phases[k].duration
        for tau, dv in self.jumps[k]:
            if 0.0 < tau < dur:
                hit = s1 == tau if grid is None else (s1 == tau) & grid
                step = hit.to(v.dtype) * dv
                v = v + step if sign > 0 else v - step
        return v

    # ------------------------------------------------------------------ as autograd inputs
    def tensors(self):
        """Every jump's tensors in a fixed order: a fixed jump's dv, a ConductionJump's tensors
        (ODESpikeTimes passes them through its Function)."""
        return [x for js in self.jumps for _, dv in js
                for x in (dv.tensors() if isinstance(dv, ConductionJump) else [dv])]

    def with_tensors(self, dvs, consts, input_jumps):
        """A copy whose fixed jumps carry ``dvs`` (same order as :meth:`tensors`), with these phase
        constants and input jumps (ODESpikeTimes: the Function's own inputs)."""
        out = object.__new__(Schedule)
        out.__dict__.update(self.__dict__)
        it = iter(dvs)
        take = lambda k, dv: (dv.with_tensors([next(it) for _ in dv.tensors()], consts[k])
                              if isinstance(dv, ConductionJump) else next(it))
        out.jumps = [[(tau, take(k, dv)) for tau, dv in js] for k, js in enumerate(self.jumps)]
        out.consts, out.input_jumps = consts, input_jumps
        return out

    def jump_gradients(self, lam_at):
        """dL/d(each of :meth:`tensors`), in its order, from ``lam_at[(k, tau)]``: for a fixed jump the
        adjoint lambda [B, I] where it happens (continuous across it; zero on rows it does not
        reach), for a ConductionJump its gradients (:meth:`end_back`); summed to each tensor's shape."""
        out = []
        size = lambda g, x: g.sum_to_size(x.shape) if torch.is_tensor(x) and x.dim() else g.sum()
        for k, js in enumerate(self.jumps):
            for tau, dv in js:
                if isinstance(dv, ConductionJump):
                    out += [size(g, x) for g, x in zip(lam_at[(k, tau)], dv.tensors())]
                else:
                    out.append(size(lam_at[(k, tau)], dv))
        return out
