"""Numerical kernels shared by the spike-time methods (normalised units throughout).

A step function ``step(ph, v, s, h, tsw, drive, c)`` advances dv/dtau = ph.rhs(v, tau, tsw, drive, c)
from local time s by h (tensors broadcastable to v) with the drive constant over the step and time
switches read at tsw (circuitnet.compile).
"""
import numbers

import torch


def rk4_step(ph, v, s, h, tsw, drive, c):
    """Classical RK4: v + h/6 (k1 + 2 k2 + 2 k3 + k4)."""
    k1 = ph.rhs(v, s, tsw, drive, c)
    k2 = ph.rhs(v + 0.5 * h * k1, s + 0.5 * h, tsw, drive, c)
    k3 = ph.rhs(v + 0.5 * h * k2, s + 0.5 * h, tsw, drive, c)
    k4 = ph.rhs(v + h * k3, s + h, tsw, drive, c)
    return v + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def rk2_step(ph, v, s, h, tsw, drive, c):
    """Explicit midpoint: v + h F(v + h/2 F(v, s), s + h/2)."""
    k1 = ph.rhs(v, s, tsw, drive, c)
    return v + h * ph.rhs(v + 0.5 * h * k1, s + 0.5 * h, tsw, drive, c)


STEPS = {"rk2": rk2_step, "rk4": rk4_step}


def polish(ph, interval, c, iters=6, step=rk4_step):
    """Threshold crossing inside an interval: Newton on delta in [0, h] for step(v0, delta) = 1,
    started from linear interpolation between the interval's end states.

    ``interval``: dict with v0, v1 (states at its start and end), s (start), h (length), tsw, drive.
    Returns delta [B, I] (local time of the crossing after s)."""
    v0, v1, s, h, tsw, drive = (interval[k] for k in ("v0", "v1", "s", "h", "tsw", "drive"))
    dv = v1 - v0
    safe = dv > 0
    d = torch.where(safe, h * (1 - v0) / torch.where(safe, dv, torch.ones_like(dv)), h)
    d = torch.minimum(d.clamp(min=0), h)
    for _ in range(iters):
        y = step(ph, v0, s, d, tsw, drive, c)
        f = ph.rhs(y, s + d, tsw, drive, c)
        ok = f > 0
        newton = (y - 1) / torch.where(ok, f, torch.ones_like(f))
        d = torch.minimum(torch.where(ok, d - newton, d).clamp(min=0), h)
    return d


def interpolate(ph, interval, c):
    """Threshold crossing inside an interval by linear interpolation of v (the noisy path of "sde")."""
    dv = interval["v1"] - interval["v0"]
    safe = dv > 0
    d = interval["h"] * (1 - interval["v0"]) / torch.where(safe, dv, torch.ones_like(dv))
    return torch.where(safe, d.clamp(min=0), interval["h"]).minimum(interval["h"])


def check_steps(steps):
    """``steps`` as an int >= 1, or a ValueError (grid intervals per phase of DSTD and the jitter)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return int(steps)


def check_dt(dt):
    """``dt`` as a float > 0 (the largest step of "ode" and "sde"), or a ValueError."""
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    return float(dt)
