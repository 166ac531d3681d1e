"""Numerical kernels shared by the spike-time methods (normalised units throughout).

A step function ``step(ph, v, s, h, tsw, drive, c)`` advances dv/dtau = ph.rhs(v, tau, tsw, drive, c)
from local time s by h (tensors broadcastable to v) with the drive constant over the step and time
switches read at tsw (circuitnet.compile).

The closed forms' pieces, shared by methods "exact" (solve.exact) and "dstd" (solve.dstd): the checks
of a layer's arguments (``check_layer``), the stable interval kernels of dv/dt = g - f v (``relax`` for
phi1, ``psi_of`` / ``rho_of`` for its derivative, ``relax_grads`` for the backward of one interval), the
in-interval threshold crossing (``crossing_time``), the RC-Spike firing phase (``fire_phase``,
``firing_time``), the implicit-function step that makes a TTFS spike time differentiable
(``spike_time_from_membrane``) and reusable scratch buffers. Their compiled twins: solve.compiled.
"""
import math
import numbers
import threading

import torch

from ..inputs import check_layer_inputs


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


# ----------------------------------------------------------------------------- validation
def _scalar(x, name):
    """A float view of a python number or 0-dim tensor, for validation only."""
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"{name} must be a scalar (float or 0-dim tensor), got shape {tuple(x.shape)}")
        return float(x.detach())
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None


def check_layer(t_in, weight, e_pos, e_neg, leak=0.0, bias=0.0, steps=None, t_max=None, jumps=None):
    """Validate one layer's arguments; raise ValueError naming the problem.

    t_in [batch, in] and weight [out, in] as in checks.check_layer_inputs (+inf in t_in means
    "never spikes").  e_pos > 0 > e_neg (may be +-inf: ideal synapse; scalars or per-synapse
    [out, in] tensors),
    leak >= 0 (per-neuron [out] tensors allowed for leak and bias), steps an integer >= 1,
    t_max > 0 and finite, jumps (charge packets) None or finite [out, in].
    """
    check_layer_inputs(t_in, weight)
    for name, e, sign in (("e_pos", e_pos, 1), ("e_neg", e_neg, -1)):
        if isinstance(e, torch.Tensor) and e.numel() > 1:        # per synapse, [out, in]
            if e.shape != weight.shape:
                raise ValueError(f"{name} per synapse must have the weight's shape {tuple(weight.shape)}, "
                                 f"got {tuple(e.shape)}")
            x = (sign * e.detach()).min().item() if not torch.isnan(e).any() else math.nan
        else:
            x = sign * _scalar(e, name)
        if not x > 0:
            raise ValueError(f"{name} must be {'> 0' if sign > 0 else '< 0'} (reversal potential of "
                             f"{'positive' if sign > 0 else 'negative'} weights), got {sign * x}")
    for name, x in (("leak", leak), ("bias", bias)):
        xt = torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else x, dtype=torch.float64)
        if xt.dim() > 1 or (xt.dim() == 1 and xt.shape[0] != weight.shape[0]):
            raise ValueError(f"{name} must be a scalar or a [{weight.shape[0]}] tensor, got shape {tuple(xt.shape)}")
        if not torch.isfinite(xt).all():
            raise ValueError(f"{name} must be finite")
        if name == "leak" and (xt < 0).any():
            raise ValueError(f"leak must be >= 0, got {xt.min().item()}")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if t_max is not None:
        tm = _scalar(t_max, "t_max")
        if not (tm > 0 and math.isfinite(tm)):
            raise ValueError(f"t_max must be positive and finite, got {tm}")
    if jumps is not None:
        if tuple(jumps.shape) != tuple(weight.shape):
            raise ValueError(f"jumps must be [out, in] like the weight {tuple(weight.shape)}, got {tuple(jumps.shape)}")
        if not torch.isfinite(jumps).all():
            raise ValueError("jumps (charge packets) must be finite")


def weight_cat(weight, e_pos, e_neg):
    """[beta * W ; W], shape [2 out, in]: the f- and g-weights stacked (autograd-tracked).

    beta_ij = 1/e_pos if w_ij >= 0 else 1/e_neg, so beta*W >= 0 and f = leak + (beta W) H.
    """
    bw = torch.where(weight >= 0, weight / e_pos, weight / e_neg)
    return torch.cat([bw, weight], 0)


def as_param(x, ref):
    """leak / bias as a tensor of ref's dtype (scalar or [out]); keeps autograd if it has any."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype=ref.dtype, device=ref.device)
    return torch.tensor(float(x), dtype=ref.dtype, device=ref.device)


# ------------------------------------------------------------------ stable interval kernels
TINY = 1e-30  # x = f d is floored here on the expm1 path (phi1 is exactly 1 below it in any float)
LOG2E = 1.4426950408889634
_DEG_MAX = 6
# Taylor coefficients in y = -x:  phi1 = sum_n y^n/(n+1)!,   psi = sum_n y^n/(n! (n+2)).
_PHI = tuple(1 / math.factorial(n + 1) for n in range(_DEG_MAX + 1))
_PSI = tuple(1 / (math.factorial(n) * (n + 2)) for n in range(_DEG_MAX + 1))


def _reach(coef, rel, eps):
    """Largest x for which the series of degree D (index) has truncation error < eps (relative)."""
    return tuple((eps * rel / coef[D + 1]) ** (1 / (D + 1)) for D in range(len(coef) - 1))


# rho = psi/phi1 = 1/x - 1/(e^x - 1) = 1/2 + y S(y^2),  S(z) = sum_m B_2m/(2m)! z^(m-1)  (Bernoulli numbers)
_BERN = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730)
_RHO_S = tuple(b / math.factorial(2 * m + 2) for m, b in enumerate(_BERN))


def _reach_rho(eps):
    """Largest x for which S truncated to m + 1 terms gives rho to relative error < eps."""
    return tuple((eps * 0.5 / abs(_RHO_S[m + 1])) ** (1 / (2 * m + 3)) for m in range(len(_RHO_S) - 1))


_REACH = {dt: (_reach(_PHI, 1.0, torch.finfo(dt).eps / 2), _reach(_PSI, 0.5, torch.finfo(dt).eps / 2),
               _reach_rho(torch.finfo(dt).eps / 2))
          for dt in (torch.float32, torch.float64)}


def _degree(reach, xmax):
    """Smallest series degree whose reach covers xmax, or None."""
    for D, r in enumerate(reach):
        if xmax <= r:
            return D
    return None


_CONST = {}


def _const(c, dtype):
    """0-dim tensor constant (cached), so that a Horner step is one fused addcmul pass."""
    t = _CONST.get((c, dtype))
    if t is None:
        t = _CONST[(c, dtype)] = torch.tensor(c, dtype=dtype)  # a 0-dim CPU tensor works on any device
    return t


def _horner(y, coef, out=None):
    """sum_n coef[n] y^n (len(coef) >= 2), one fused pass per degree."""
    p = torch.add(_const(coef[-2], y.dtype), y, alpha=coef[-1], out=out)
    for cf in coef[-3::-1]:
        torch.addcmul(_const(cf, y.dtype), p, y, out=p)
    return p


def relax(f, g, d, nd, out=None, xmax=None):
    """Coefficients of one interval of dv/dt = g - f v (constant f >= 0, g; length d >= 0).

    Returns (nx, phi, dphi, xmax):  nx = -f d,  phi = phi1(f d) = (1 - e^{-fd})/(fd),  dphi = d phi,
    xmax = max f d, so that the interval maps v -> v + dphi (g - f v) exactly.  phi is the Taylor
    series when every x is small enough for it to be exact to rounding (the usual case: x ~ f/N),
    else expm1(-x)/(-x) with x floored at TINY; accurate for all x >= 0 either way (phi1(0) = 1).
    nd = -d; d may be [.., 1] (broadcast over neurons).  ``out``: optional dict of buffers
    nx, phi, dphi; ``xmax``: max f d when already known (skips a reduction).  No autograd.
    """
    nx = torch.mul(f, nd, out=out and out["nx"])
    if xmax is None:
        xmax = -float(nx.min()) if nx.numel() else 0.0
    D = _degree(_REACH[_dt(nx)][0], xmax)
    if D is not None and D >= 1:
        phi = _horner(nx, _PHI[:D + 1], out and out["phi"])
    elif D == 0:
        phi = out["phi"].fill_(1.0) if out else torch.ones_like(nx)
    else:
        nx.clamp_(max=-TINY)
        phi = torch.expm1(nx, out=out and out["phi"]).div_(nx)
    dphi = torch.mul(phi, d, out=out and out["dphi"])
    return nx, phi, dphi, xmax


def _dt(x):
    return x.dtype if x.dtype in _REACH else torch.float64


def psi_of(nx, phi, xmax, out=None):
    """psi(x) = -phi1'(x) = (phi1(x) - e^-x)/x = int_0^1 u e^{-xu} du for x = -nx >= 0.

    Taylor series when it is exact to rounding for all x (<= xmax); otherwise a branch-free blend
    of the series (x < X0) and the closed form (x >= X0, where its cancellation error is small),
    X0 being the reach of the degree-6 series.  ``out``: optional dict of buffers psi, t1, t2.
    """
    reach = _REACH[_dt(nx)][1]
    D = _degree(reach, xmax)
    if D == 0:
        return out["psi"].fill_(0.5) if out else torch.full_like(nx, 0.5)
    if D is not None:
        return _horner(nx, _PSI[:D + 1], out and out["psi"])
    x0 = reach[-1]
    t1 = torch.clamp(nx, max=-x0, out=out and out["t1"])  # -max(x, x0)
    closed = torch.mul(nx, phi, out=out and out["t2"]).add_(1.0).sub_(phi).div_(t1)  # (phi - e^-x)/max(x, x0)
    ser = _horner(torch.clamp(nx, min=-x0, out=t1), _PSI, out and out["psi"])
    w = torch.add(nx, x0, out=t1).mul_(-1e30).clamp_(0.0, 1.0)  # 1 where x > x0, else 0
    return ser.lerp_(closed, w)


def rho_of(nx, phi, xmax, out=None):
    """rho(x) = psi(x)/phi1(x) = 1/x - 1/(e^x - 1) = 1/2 - x/12 + x^3/720 - ..., for x = -nx >= 0.

    Its odd Bernoulli series is usually one or two fused passes (x ~ f/N is small); otherwise
    psi_of(...)/phi.  ``out``: optional dict of buffers rho, t1, t2.
    """
    m = _degree(_REACH[_dt(nx)][2], xmax)
    if m is None:
        return psi_of(nx, phi, xmax, out and {"psi": out["rho"], "t1": out["t1"], "t2": out["t2"]}).div_(phi)
    if m == 0:
        return torch.add(_const(0.5, nx.dtype), nx, alpha=_RHO_S[0], out=out and out["rho"])
    z = torch.mul(nx, nx, out=out and out["t1"])
    S = _horner(z, _RHO_S[:m + 1], out and out["t2"])
    return torch.addcmul(_const(0.5, nx.dtype), nx, S, out=out and out["rho"])


def relax_grads(lam1, u, g, d, dphi, rho, gg=None, gfn=None, inc=None, acc=False):
    """Backward of one interval v1 = v0 + dphi (g - f v0) for lam1 = dL/dv1 (no autograd).

    With lam0 = dL/dv0 = lam1 e^{-fd}, u = lam0 v0, inc = lam1 c = lam1 g dphi (so u1 = u0 + inc: a
    running sum over intervals, no membrane needed) and rho = psi/phi1 (rho_of):
        dL/dg = lam1 d phi1,   -dL/df = d (u + lam1 g d psi) = d (u + inc rho)
    (and dL/dd = lam0 g - f u, used through its jumps at input arrivals, see _MembraneExact).
    Returns (dL/dg, -dL/df); gg, gfn, inc: optional output buffers (inc receives lam1 g dphi).
    acc=True adds dL/dg and -dL/df to gg and gfn (running sums over intervals; overwrites rho).
    """
    if not acc:
        gg = torch.mul(lam1, dphi, out=gg)
        inc = torch.mul(gg, g, out=inc)
        return gg, torch.addcmul(u, inc, rho, out=gfn).mul_(d)
    inc = torch.mul(lam1, dphi, out=inc)  # this interval's dL/dg, for the moment
    gg.add_(inc)
    inc.mul_(g)
    gfn.addcmul_(torch.addcmul(u, inc, rho, out=rho), d)
    return gg, gfn


def _log_ratio(u):
    """-log1p(-u)/u for u < 1 (1 at u = 0), autograd-safe."""
    small = u.abs() < 1e-6
    us = torch.where(small, torch.ones_like(u) * 0.5, u)
    return torch.where(small, 1.0 + u / 2 + u * u / 3, -torch.log1p(-us) / us)


def crossing_time(v0, f, g):
    """Time for dv/dt = g - f v, started at v0, to reach the threshold 1; +inf if it never does.

    From (g - f v(t)) = (g - f v0) e^{-f t} (the paper's t0 + (1/f) ln[(g/f - v0)/(g/f - 1)]):
        t = (1 - v0)/(g - f v0) * L(u),   u = f (1 - v0)/(g - f v0),   L(u) = -ln(1 - u)/u,
    valid when v0 < 1, g - f v0 > 0 and u < 1 (f -> 0 gives (1 - v0)/g); 0 when v0 >= 1.
    That is ``firing_time`` restricted to v0 < 1.  Autograd-safe (finite gradients everywhere;
    zero where the result is 0 or inf).
    """
    t = firing_time(v0, g, f)
    return torch.where(v0 < 1, t, torch.zeros_like(t))


def firing_time(v1, fire_g=1.0, fire_f=0.0):
    """Unclipped RC-Spike firing time: the signed time for dv/dt = fire_g - fire_f v, started at
    v1, to reach the threshold 1 if the firing phase had no ends (normalised time).

        t = (1 - v1)/(g - f v1) * L(u),   u = f (1 - v1)/(g - f v1),   L(u) = -ln(1 - u)/u,

    i.e. (1/f) ln[(g/f - v1)/(g/f - 1)]; ideal ramp (g, f) = (1, 0): t = 1 - v1.  Negative when
    v1 > 1 (the threshold was passed during accumulation), above 1 when the phase ends first; +inf
    where the threshold is unreachable (g - f v1 <= 0 or g <= f; a v1 above the asymptote g/f > 1
    has passed threshold, its spike time is 0).  Below the asymptote the spike time ``fire_phase``
    is clip(t, 0, 1); this continuous extension gives penalties on late or missing
    spikes a gradient (paper_repro's temporal penalty), the clipped time has none there.
    """
    if not isinstance(fire_f, torch.Tensor) and fire_f == 0 and not isinstance(fire_g, torch.Tensor) and fire_g > 0:
        return (1.0 - v1) / fire_g
    f = torch.as_tensor(fire_f, dtype=v1.dtype, device=v1.device)
    g = torch.as_tensor(fire_g, dtype=v1.dtype, device=v1.device)
    rate = g - f * v1
    u = f * (1.0 - v1) / torch.where(rate > 0, rate, torch.ones_like(rate))
    ok = (rate > 0) & (u < 1)
    u_s = torch.where(ok, u, torch.zeros_like(u))
    tau = (1.0 - v1) / torch.where(ok, rate, torch.ones_like(rate)) * _log_ratio(u_s)
    return torch.where(ok, tau, torch.full_like(tau, math.inf))


def fire_phase(v1, fire_g=1.0, fire_f=0.0, clip=True):
    """RC-Spike firing phase: output spike time from the accumulated membrane v1.

    dv/dt = fire_g - fire_f v from v1; the spike is the time v reaches 1, 0 if v1 >= 1, clipped to
    1 if it is not reached within the phase (crossing_time, capped at 1).  Ideal ramp (1, 0):
    t = clip(1 - v1, 0, 1).  The paper's discharger: fire_f = a b, fire_g = a, b = 1/E_dis,
    a = -ln(1 - b)/b.  clip=False returns ``firing_time`` itself.
    """
    if not clip:
        return firing_time(v1, fire_g, fire_f)
    return crossing_time(v1, fire_f, fire_g).clamp(max=1.0)


def spike_time_from_membrane(t_star, fired, v_at, rate, t_max):
    """Differentiable TTFS spike time by the implicit function theorem.

    t_star (detached) solves v(t_star; params) = 1 with slope rate = dv/dt = g - f at the crossing;
    v_at = v(t_star) computed differentiably at the fixed time t_star.  Then
        t = t_star - (v_at - v_at.detach()) / rate,   so   dt/dp = -(dv/dp)/(dv/dt).
    The slope is floored at sqrt(eps) (a grazing crossing has an unbounded true derivative).
    Neurons that did not fire get t_max and zero gradient.
    """
    floor = torch.finfo(v_at.dtype).eps ** 0.5
    r = rate.detach().clamp(min=floor)
    dt = torch.where(fired, (v_at - v_at.detach()) / r, torch.zeros_like(v_at))
    return torch.where(fired, t_star.detach() - dt, torch.full_like(v_at, float(t_max)))


_TABLES = {}


def series_tables(dtype):
    """The series coefficients and reaches of phi1, psi and rho, then TINY and LOG2E, as one float64
    tensor: what the compiled kernels (solve/compiled.cpp, TAB_*) read for ``dtype``."""
    t = _TABLES.get(dtype)
    if t is None:
        rphi, rpsi, rrho = _REACH[dtype]
        vals = [*_PHI, *_PSI, *_RHO_S, *rphi, *rpsi, *rrho, TINY, LOG2E]
        assert len(vals) == 39
        t = _TABLES[dtype] = torch.tensor(vals, dtype=torch.float64)
    return t


# ------------------------------------------------------------------------ scratch buffers
_SCRATCH = threading.local()


def scratch(name, shape, dtype, device="cpu"):
    """A temporary tensor reused across calls (per thread): never saved for backward or returned.

    Fresh multi-megabyte allocations are slow (first-touch page faults can cost more than the
    arithmetic done on them), so the solvers keep their scratch space; release_scratch() frees it.
    """
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = {}
    n = math.prod(shape)
    key = (name, dtype, str(device))
    buf = bufs.get(key)
    if buf is None or buf.numel() < n:
        buf = bufs[key] = torch.empty(n, dtype=dtype, device=device)
    return buf[:n].view(shape)


def release_scratch():
    """Free this thread's scratch buffers."""
    _SCRATCH.bufs = {}


def scratch_bytes():
    """Bytes held by this thread's scratch buffers."""
    return sum(b.numel() * b.element_size() for b in getattr(_SCRATCH, "bufs", {}).values())


def safe_sqrt(x):
    """sqrt(max(x, 0)) with a zero (not NaN) gradient where x <= 0 (empty intervals, no noise)."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x))
