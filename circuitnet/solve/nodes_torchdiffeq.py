"""Spike times of a several-node circuit (circuitnet.nodes) by torchdiffeq: the reference of method
"torchdiffeq" for a MultiNodeCircuit, adaptive Runge-Kutta with jumps and event restarts, autograd
through it.

State x [I, n] of one sample (neuron, node), normalised (circuitnet.compile_nodes), x(0) = 0:

    dx/dtau = f(x)                          between inputs (f: the compiled drift, autonomous)
    x(t_j+) = x(t_j-) + w_j u               at input j (u: the charge synapse's jump, [n] or [I, n])

The spike of neuron i is the first tau in [0, t_max] with x_c >= 1 (c: the comparator's node); a jump
that carries x_c to 1 or above fires it at the input's time; a neuron that never reaches 1 reports
t_max with fired = False. Inputs at +inf or >= t_max never arrive.

Per sample (a Python loop; all neurons at once) the inputs are sorted and the window is cut into
segments [t_k, t_{k+1}] between consecutive input times (then to t_max). Each segment is integrated by
``torchdiffeq.odeint_event`` (solver ``solver``, tolerances rtol / atol) with the event function

    min( min over not-yet-fired neurons of (1 - x_c),  t_{k+1} - tau ),

restarted from the event's time and state after each event: at a crossing, the neuron(s) at
threshold are marked fired with spike time t_e + (1 - x_c)/f_c (one Newton step from the event, which
gives each simultaneous neuron its own implicit-function gradient -dx_c/dtheta / f_c, as the one-node
reference does) and their state is held from then on (it no longer matters, and must neither steer
the step size nor blow up past threshold); at the segment's end the state is carried to t_{k+1} by x + f(x) (t_{k+1} - t_e)
(t_e is within atol of t_{k+1}; the term routes d/dt_{k+1} into the state), then the jumps of the
inputs at t_{k+1} are applied.

Gradients: plain autograd through torchdiffeq (discretise-then-optimise) w.r.t. t_in (the segments'
end points), weight (the jumps) and circuit parameters passed in ``params``, plus odeint_event's
implicit-function gradient of each event time. A segment of length 0 (an input at tau = 0, inputs at
equal times) is the identity written x + f(x) (t_{k+1} - t_k), so each of those inputs still gets its
own d/dt_j. Event times are shared by the neurons of a sample, so a neuron's gradient may pick up
round-off of the order of the solver's tolerance from another neuron's events. This is a reference:
readable and slow.
"""
import torch
import torchdiffeq

from ..inputs import check_layer_inputs
from .torchdiffeq_ref import ADAPTIVE_SOLVERS

_AT_THRESHOLD = 1e-8       # |1 - x_c| below which a not-yet-fired neuron counts as firing at an event


def _frozen(drift, fired):
    """torchdiffeq's func(t, x): the drift of the neurons not fired yet; a fired neuron's state is
    held (it no longer matters, and must not steer the step size or blow up after threshold)."""
    return lambda t, x: drift(x) * (~fired).to(x.dtype)[:, None]


def _segment(drift, x, a, b, fired, t_out, c, solver):
    """Integrate one sample's state x [I, n] from a to b (tensors, a < b) event by event; returns
    (x at b, fired, t_out) with the neurons that cross x_c = 1 in (a, b] marked fired."""
    bd = b.detach()
    t0 = a
    while True:
        alive = ~fired
        field = _frozen(drift, fired)

        def event_fn(t, y, alive=alive):
            return torch.cat([(1 - y[..., c])[alive], (bd - t).reshape(1).to(y.dtype)])

        t_e, sol = torchdiffeq.odeint_event(field, x, t0, event_fn=event_fn, **solver)
        x = sol[-1]
        gap = torch.where(alive, 1 - x[..., c], torch.full_like(x[..., c], float("inf")))
        at_end = (bd - t_e.detach()).item() <= 2 * float(solver["atol"]) + 1e-12
        limit = 0.0 if at_end else gap.min().item() + _AT_THRESHOLD
        hit = alive & (gap <= limit)
        if hit.any():
            F = drift(x)[..., c]
            F = torch.where(hit, F, torch.ones_like(F)).clamp(min=torch.finfo(x.dtype).tiny ** 0.5)
            t_hit = torch.minimum(t_e.to(x.dtype) + torch.where(hit, gap, torch.zeros_like(gap)) / F, b)
            t_out = torch.where(hit, t_hit, t_out)
            fired = fired | hit
        if at_end:
            return x + _frozen(drift, fired)(t_e, x) * (b - t_e).to(x.dtype), fired, t_out
        if bool(fired.all()):
            return x, fired, t_out          # every neuron has spiked: nothing later matters
        t0 = t_e


def nodes_torchdiffeq_spike_times(cc, t_in, weight, params=None, rtol=1e-10, atol=1e-12, solver="dopri5"):
    """(t_out [B, I], fired [B, I]) of a compiled several-node circuit (CompiledNodes) by torchdiffeq
    (see the module docstring). t_in [B, J] normalised input times (>= 0; +inf or >= t_max: never
    arrives); weight [I, J]; params: parameter overrides (tensors, SI units, scalars or [I]); rtol,
    atol: solver tolerances (atol is also the event-time bisection tolerance); solver: an adaptive
    Runge-Kutta solver of torchdiffeq."""
    check_layer_inputs(t_in, weight)
    if solver not in ADAPTIVE_SOLVERS:
        raise ValueError(f"solver must be an adaptive Runge-Kutta solver of torchdiffeq {ADAPTIVE_SOLVERS}, "
                         f"got {solver!r}")
    solver = dict(rtol=rtol, atol=atol, method=solver)
    B, J = t_in.shape
    I, n, c = weight.shape[0], cc.n, cc.comparator
    t_max = cc.timeline.t_max
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))

    def drift(x):
        return cc.drift(x, p)

    u = cc.jump(p, t_in.new_zeros(()))                                         # [n] or [I, n]
    arrives = torch.isfinite(t_in) & (t_in < t_max)
    t = torch.where(arrives, t_in, torch.full_like(t_in, t_max))
    ts, order = torch.sort(t, dim=1)
    end = t_in.new_full((1,), t_max)
    outs, fires = [], []
    for bi in range(B):
        x = t_in.new_zeros(I, n)
        fired = torch.zeros(I, dtype=torch.bool, device=t_in.device)
        t_out = t_in.new_full((I,), t_max)
        edges = torch.cat([ts[bi], end])                                       # input times, then t_max
        a = t_in.new_zeros(())
        for k in range(J + 1):
            b = edges[k]
            if fired.all():
                break
            if b.item() > a.item():
                x, fired, t_out = _segment(drift, x, a, b, fired, t_out, c, solver)
            else:                       # a zero-length segment (an input at 0, tied inputs): its
                x = x + _frozen(drift, fired)(b, x) * (b - a).to(x.dtype)      # flow's d/db = f(x)
            a = b
            if k < J and arrives[bi, order[bi, k]]:
                x = x + weight[:, order[bi, k], None] * u
                hit = (~fired) & (x[..., c] >= 1)
                t_out = torch.where(hit, b.expand_as(t_out), t_out)
                fired = fired | hit
        outs.append(t_out)
        fires.append(fired)
    t_out, fired = torch.stack(outs), torch.stack(fires)
    return torch.where(fired, t_out, torch.full_like(t_out, t_max)), fired
