"""One schedule of the jumps and events of a call, built once from the compiled circuit and the inputs.

Every stepping method walks the phases of a :class:`Schedule` (ode and its adjoint, sde, DSTD's
general path, the jitter, torchdiffeq; the unclipped time reads the boundary states they leave):

* the parameters and each phase's prepared constants of this call;
* fixed jumps of v, ``(tau, dv)`` at a local time ``tau`` of a phase, from the sources in
  :data:`EVENTS`: the charge packets of devices that switch on or off where a phase starts
  (:func:`gate_charges`). A jump at tau = 0 comes before the comparator window opens (the clip
  rule, Timeline.open_window), one at the phase's end after its last interval; one inside the phase
  is an edge every method steps onto, the jump applied as the interval ending there closes;
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
    ``jumps(compiled, params, t_in, weight)`` -> [(phase index, tau, dv)] with dv a scalar, [I] or
    [B, I] tensor (normalised voltage); ``closed_form``: the closed forms follow it themselves."""
    name = "event"
    closed_form = False

    def applies(self, cc):
        raise NotImplementedError

    def jumps(self, cc, p, t_in, weight):
        raise NotImplementedError


class GateCharges(EventSource):
    """Charge packets of non-synapse devices (GateCharge): the jump where each phase starts (the
    closed forms take the firing phase's own: solve.closed_form)."""
    name = "gate charges"
    closed_form = True

    def applies(self, cc):
        return cc.has_packets

    def jumps(self, cc, p, t_in, weight):
        return [(k, 0.0, dv) for k, dv in enumerate(cc.phase_jumps(p, t_in)) if dv is not None]


class EdgeConductions(EventSource):
    """Conduction through the synapse devices' gate edges (EdgeConduction): where the synapse phase
    ends, each device that was on pushes its charge again instead of taking it back
    (CompiledCircuit.synapse_switch_off; the closed forms add it where the firing phase starts)."""
    name = "edge conduction"
    closed_form = True

    def applies(self, cc):
        return cc.synapse_conduction

    def jumps(self, cc, p, t_in, weight):
        k = cc.synapse_phase
        return [(k, cc.phases[k].duration, cc.synapse_switch_off(p, t_in, weight))]


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
            for k, tau, dv in source.jumps(cc, self.params, t_in, weight):
                dur = cc.phases[k].duration
                if not 0.0 <= float(tau) <= dur:
                    raise ValueError(f"event source {source.name!r}: a jump at tau = {tau} lies outside phase {k} "
                                     f"[0, {dur}]")
                self.jumps[k].append((float(tau), dv))
        for js in self.jumps:
            js.sort(key=lambda x: x[0])
        self._interior = [sorted({tau for tau, _ in js if 0.0 < tau < ph.duration})
                          for js, ph in zip(self.jumps, cc.phases)]

    # ------------------------------------------------------------------ the fixed jumps
    def start(self, k, v, sign=1.0):
        """v after (sign -1: before) the jumps at the start of phase k."""
        return self._apply(v, k, lambda tau: tau == 0.0, sign)

    def end(self, k, v, sign=1.0):
        """v after (sign -1: before) the jumps at the end of phase k."""
        dur = self.cc.phases[k].duration
        return self._apply(v, k, lambda tau: tau == dur and tau > 0.0, sign)

    def _apply(self, v, k, where, sign=1.0):
        for tau, dv in self.jumps[k]:
            if where(tau):
                v = v + dv if sign > 0 else v - dv
        return v

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
        """Every fixed jump's dv, in a fixed order (ODESpikeTimes passes them through its Function)."""
        return [dv for js in self.jumps for _, dv in js]

    def with_tensors(self, dvs, consts, input_jumps):
        """A copy whose fixed jumps carry ``dvs`` (same order as :meth:`tensors`), with these phase
        constants and input jumps (ODESpikeTimes: the Function's own inputs)."""
        out = object.__new__(Schedule)
        out.__dict__.update(self.__dict__)
        it = iter(dvs)
        out.jumps = [[(tau, next(it)) for tau, _ in js] for js in self.jumps]
        out.consts, out.input_jumps = consts, input_jumps
        return out

    def jump_gradients(self, lam_at):
        """dL/d(dv) of every fixed jump, in :meth:`tensors`' order, from ``lam_at[(k, tau)]`` [B, I]: the
        adjoint lambda where the jump happens (lambda is continuous across a jump; zero on rows it
        does not reach), summed to dv's shape."""
        out = []
        for k, js in enumerate(self.jumps):
            for tau, dv in js:
                lam = lam_at[(k, tau)]
                out.append(lam.sum_to_size(dv.shape) if torch.is_tensor(dv) and dv.dim() else lam.sum())
        return out
