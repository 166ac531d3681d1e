"""The unclipped firing time of any compiled circuit (methods "dstd" and "ode", clip=False).

A spike time is clipped in two places: a neuron already at v >= 1 when the first comparator phase
starts fires there (t = 0, zero gradient), and a neuron that never reaches threshold reports t_max
(zero gradient).  Its continuous extension is the time the boundary dynamics would need to carry
v to threshold (normalised units):

    u = T_b + int_{v_b}^{1} dv / F_b(v)

* early neuron: T_b = 0, v_b >= 1 its membrane at the start of the first comparator phase and F_b
  that phase's rhs there (u <= 0: the threshold was passed that long before the window opened);
* late neuron: T_b = t_max, v_b its membrane at the end of the last comparator phase and F_b that
  phase's rhs there, with the drive of every input that arrived (u >= t_max).

F_b is frozen at the boundary (autonomous in v, time switches evaluated just inside the phase);
the integral is 4-point Gauss-Legendre in v; u = +inf where F_b <= 0 at v_b, at 1 or at a node
(threshold unreachable along the path).  For the affine RC-Spike firing phase dv/dtau = g - f v,
u is ``kernels.firing_time`` (exact for the ideal ramp g = 1, f = 0, to about 1e-6 for the
paper's discharger).  Neurons that fire inside the window keep their spike time, so u is
continuous across both clips.  Gradients (autograd) flow through v_b, the weights of the arrived
inputs and the circuit constants.
"""
import math

import torch

from ..drive import Drive

# 4-point Gauss-Legendre nodes and weights on [0, 1]
_GL_X = tuple(0.5 + 0.5 * x for x in (-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                      0.8611363115940526))
_GL_W = tuple(0.5 * w for w in (0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538))


def travel_time(ph, vb, tau, tsw, drive, c):
    """int_{vb}^{1} dv / F(v), F = ph.rhs frozen at (tau, tsw, drive); +inf where F <= 0 on the path."""
    span = 1.0 - vb
    ok = (ph.rhs(vb, tau, tsw, drive, c) > 0) & (ph.rhs(torch.ones_like(vb), tau, tsw, drive, c) > 0)
    acc = torch.zeros_like(vb)
    for x, w in zip(_GL_X, _GL_W):
        F = ph.rhs(vb + x * span, tau, tsw, drive, c)
        pos = F > 0
        ok = ok & pos
        acc = acc + w / torch.where(pos, F, torch.ones_like(F))
    return torch.where(ok, span * acc, torch.full_like(vb, math.inf))


def _edge_tsw(ph, at_end):
    """A time-switch evaluation time just inside the start (or the end) of phase ph."""
    if at_end:
        return 0.5 * ((ph.breakpoints[-1] if ph.breakpoints else 0.0) + ph.duration)
    return 0.5 * (ph.breakpoints[0] if ph.breakpoints else ph.duration)


def _arrived_drive(t_in, weight, tau):
    """The Drive [B, I] of the inputs that arrived by local time tau (piecewise constant in t_in)."""
    arrived = (t_in < tau if tau > 0 else t_in <= 0).to(weight.dtype)
    return Drive(arrived @ weight.clamp(min=0).t(), arrived @ weight.clamp(max=0).t())


def unclip(cc, consts, t_in, weight, t_out, early, late, v_early, v_late):
    """t_out with u (module docstring) where early / late ([B, I] masks) hold.

    consts: per phase the constants ph.prepare(params) (autograd-tracked); v_early / v_late [B, I]:
    membrane at the start of the first / the end of the last comparator phase (autograd-tracked)."""
    tl = cc.timeline
    zero = t_in.new_zeros(())
    for mask, pi, vb, at_end in ((early, tl.first, v_early, False), (late, tl.last, v_late, True)):
        if not mask.any():
            continue
        ph = cc.phases[pi]
        tau = ph.duration if at_end else 0.0
        drive = _arrived_drive(t_in, weight, tau) if ph.synapses else Drive(zero, zero)
        u = travel_time(ph, vb, zero + tau, zero + _edge_tsw(ph, at_end), drive, consts[pi])
        t_out = torch.where(mask, u + (tl.t_max if at_end else 0.0), t_out)
    return t_out
