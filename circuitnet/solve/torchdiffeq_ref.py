"""Method "torchdiffeq": the reference backend, adaptive dopri5 through torchdiffeq, autograd through it.

The whole layer is one ODE state v [B, I] (every sample, every neuron), integrated phase by phase:

    dv/dtau = ph.rhs(v, tau, tsw(tau), P(tau), N(tau), c),   v(0) = 0
    P(tau) = sum_j relu(w_ij) H(tau - t_j),  N(tau) = sum_j min(w_ij, 0) H(tau - t_j)   (synapse phase)

Discontinuities: every sample's input times and the phase's switching times (ph.breakpoints) are
handed to the solver as ``options=dict(jump_t=...)``, so dopri5 steps exactly onto them. H is
right-continuous (H(0) = 1); torchdiffeq evaluates the field at nextafter(t_jump, -inf) on the step
ending at a jump and at nextafter(t_jump, +inf) after it (its ``perturb`` mechanism), so each step
sees one constant synaptic drive. Time switches are evaluated at tsw(tau), the middle of the
breakpoint cell that holds tau (robust to the switch's floating-point root being an ulp off the
breakpoint). The phase end is a jump time too, so phases end exactly.

Spikes: ``torchdiffeq.odeint_event`` stops the whole state at its first event, so a comparator phase
is integrated event by event. The event function is min over not-yet-fired neurons of (1 - v), and
(phase end - tau); after each event the neuron(s) at threshold are marked fired and the solve
restarts from the event time and state. Their spike time is the event time plus one Newton step
(1 - v_i)/F_i (exact to second order; it also gives each of several simultaneous neurons its own
implicit-function gradient -dv_i/dtheta / F_i). A neuron already at v >= 1 when a comparator phase
starts fires at that phase's start (zero gradient), as in method "ode".

Gradients: plain autograd through the solver (discretise-then-optimise) w.r.t. t_in (through the
jump times, i.e. the step end points), weight and the circuit parameters (through c), plus
odeint_event's implicit-function gradient of each event time. Limitation: input times that are
equal (within the batch, or to a breakpoint) share one step point, and d/dt_j of that point goes to
the first of them only; an input at exactly tau = 0 is not a step point and gets no gradient.
Switch positions are the compiled ph.breakpoints, computed from the declared parameter values (as
in method "ode"); overriding in ``params`` a parameter that moves a switch (e.g. a coupling's ``at``
or ``rise``) is rejected by CompiledCircuit.params.

This is a reference, readable and slow (a Python loop over events); use method "ode" for speed.
"""
import torch
import torchdiffeq

from ..drive import Drive
from ..inputs import check_layer_inputs
from .schedule import Schedule

ADAPTIVE_SOLVERS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
_AT_THRESHOLD = 1e-8       # |1 - v| below which a not-yet-fired neuron counts as firing at an event


class _PhaseField:
    """dv/dtau of one phase for the whole batch, as torchdiffeq's func(t, v)."""

    def __init__(self, ph, c, t_in, weight):
        self.ph, self.c = ph, c
        self.t_in = t_in
        self.arrive = t_in < ph.duration
        self.wpos_t = weight.clamp(min=0).t()
        self.wneg_t = weight.clamp(max=0).t()
        self.edges = torch.tensor((0.0,) + tuple(ph.breakpoints) + (ph.duration,), dtype=t_in.dtype,
                                  device=t_in.device)

    def switch_time(self, t):
        """Middle of the cell between consecutive breakpoints that holds t (right-continuous).

        Time switches H(g(tau)) flip at the breakpoints, but g = 0 evaluated in floating point may land
        an ulp away from them, so evaluating a switch at nextafter(breakpoint) could read the wrong side.
        Evaluating it in the middle of the cell is exact (method "ode" does the same per interval)."""
        k = torch.searchsorted(self.edges, t.detach().reshape(1).to(self.edges.dtype), right=True)
        k = k.clamp(1, self.edges.numel() - 1)
        return 0.5 * (self.edges[k - 1] + self.edges[k]).reshape(())

    def __call__(self, t, v):
        drive = Drive(torch.zeros_like(v), torch.zeros_like(v))
        if self.ph.synapses:
            on = ((self.t_in <= t) & self.arrive).to(v.dtype)     # H(tau - t_j), right-continuous
            drive = Drive(on @ self.wpos_t, on @ self.wneg_t)
        f = self.ph.rhs(v, t, self.switch_time(t), drive, self.c)
        return torch.broadcast_to(f, v.shape)


def _jump_times(ph, t_in, edges=()):
    """Sorted distinct jump times of the phase in (0, duration]: inputs, breakpoints, ``edges`` (the
    schedule's interior jumps) and the end. Built from t_in by indexing and sorting, so d/dt_in flows
    into the solver's step points."""
    fixed = torch.tensor(list(ph.breakpoints) + list(edges) + [ph.duration], dtype=torch.float64, device=t_in.device)
    if ph.synapses:
        x = t_in.reshape(-1)
        x = x[(x > 0) & (x < ph.duration)].to(torch.float64)
        fixed = torch.cat([x, fixed])
    s = fixed.sort().values
    keep = torch.cat([s.new_ones(1, dtype=torch.bool), s[1:] > s[:-1]])
    return s[keep]


def _comparator_phase(field, v, fired, t_out, jumps, offset, solver, start=0.0, stop=None):
    """Integrate one comparator phase (from local time ``start`` to ``stop``, default its end) event by
    event; returns (v at ``stop``, fired, t_out).

    offset: start of this phase minus start of the first comparator phase (added to local times).
    """
    dur = field.ph.duration if stop is None else stop
    t0 = torch.tensor(float(start), dtype=torch.float64, device=v.device)
    while True:
        alive = ~fired
        if not alive.any():
            return v, fired, t_out          # every neuron has spiked: nothing later matters

        def event_fn(t, y, alive=alive):
            return torch.cat([(1 - y)[alive], (dur - t).reshape(1).to(y.dtype)])

        t_e, sol = torchdiffeq.odeint_event(field, v, t0, event_fn=event_fn, **solver,
                                            options=dict(jump_t=jumps))
        v = sol[-1]
        gap = torch.where(alive, 1 - v, torch.full_like(v, float("inf")))
        at_end = t_e.item() >= dur - 2 * float(solver["atol"]) - 1e-12
        limit = _AT_THRESHOLD if at_end else gap.min().item() + _AT_THRESHOLD
        hit = alive & (gap <= limit)
        if hit.any():
            F = field(t_e, v)
            F = torch.where(hit, F, torch.ones_like(F)).clamp(min=torch.finfo(v.dtype).tiny ** 0.5)
            t_hit = (t_e.to(v.dtype) + (1 - v) / F).clamp(max=dur)
            t_out = torch.where(hit, offset + t_hit, t_out)
            fired = fired | hit
        if at_end:
            return v, fired, t_out
        t0 = t_e


def _packet_phase(field, v, t_in, duration, packets, jumps, solver, start=0.0, stop=None):
    """A synapse phase with charge packets [I, J], from local time ``start`` to ``stop`` (default its
    end): integrated from input time to input time, v += the packets of the inputs arriving there
    (t > 0). Every packet goes back at the phase end (the caller's)."""
    a = float(start)
    stop = duration if stop is None else stop
    for b in jumps[(jumps > a) & (jumps <= stop)].tolist():
        span = torch.tensor([a, b], dtype=torch.float64, device=t_in.device)
        v = torchdiffeq.odeint(field, v, span, **solver, options=dict(jump_t=jumps[(jumps > a) & (jumps <= b)]))[-1]
        if b < duration:
            v = v + ((t_in == b) & (t_in > 0)).to(v.dtype) @ packets.t()
        a = b
    return v


def torchdiffeq_spike_times(cc, t_in, weight, params=None, rtol=1e-10, atol=1e-12, solver="dopri5"):
    """Spike times [B, I] and fired mask of a layer, by torchdiffeq (see the module docstring).

    cc: CompiledCircuit; t_in [B, J] normalised input times (>= 0; +inf or >= the synapse phase's
    duration: never arrives); weight [I, J]; params: dict of parameter tensors overriding
    cc.params(); rtol, atol: solver tolerances (atol is also the event-time bisection tolerance);
    solver: an adaptive Runge-Kutta solver of torchdiffeq (they accept jump_t).
    Times count from the start of the first comparator phase; never fired: t_max, fired False.
    """
    check_layer_inputs(t_in, weight)
    if solver not in ADAPTIVE_SOLVERS:
        raise ValueError(f"solver must be an adaptive Runge-Kutta solver of torchdiffeq {ADAPTIVE_SOLVERS} "
                         f"(they step onto jump_t), got {solver!r}")
    solver = dict(rtol=rtol, atol=atol, method=solver)
    sched = Schedule(cc, t_in, weight, params)
    B, I = t_in.shape[0], weight.shape[0]
    tl = cc.timeline
    v = t_in.new_zeros(B, I)
    fired = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    t_out = torch.zeros_like(v)
    packets = sched.input_jumps
    for pi, ph in enumerate(cc.phases[:tl.last + 1]):
        field = _PhaseField(ph, sched.consts[pi], t_in, weight)
        edges = sched.interior(pi)
        jumps = _jump_times(ph, t_in, edges)
        v = sched.start(pi, v)
        if pi == tl.first:
            t_out, fired, _ = tl.open_window(v, t_out, fired)
        bounds = [0.0] + edges + [ph.duration]
        for a, b in zip(bounds[:-1], bounds[1:]):           # segments between the schedule's interior jumps
            if ph.comparator:
                v, fired, t_out = _comparator_phase(field, v, fired, t_out, jumps, tl.in_window(pi, 0.0), solver, a, b)
            elif ph.synapses and packets is not None:
                v = _packet_phase(field, v, t_in, ph.duration, packets, jumps, solver, a, b)
            else:
                span = torch.tensor([a, b], dtype=torch.float64, device=t_in.device)
                v = torchdiffeq.odeint(field, v, span, **solver, options=dict(jump_t=jumps[(jumps > a) & (jumps <= b)]))[-1]
            if b < ph.duration:
                v = sched.at(pi, v, v.new_full((1, 1), b))
                if ph.comparator:
                    t_out, fired = tl.jumped(pi, b, v, t_out, fired)
        if ph.synapses and packets is not None:             # every synapse device that was on gives its packet back
            v = v - (t_in < ph.duration).to(v.dtype) @ packets.t()
        v = sched.end(pi, v)
    return tl.report(t_out, fired), fired
