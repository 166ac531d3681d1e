"""Exact spike times of a layer of piecewise-affine neurons (PAPER.md sections 2 and C).

Units: normalised time (one phase = 1 for RC-Spike, [0, t_max] for TTFS) and normalised voltage
(reset 0, threshold 1).  For a layer with weight W [out, in] and input spike times t_in [batch, in]:

    dv_i/dt = -f_i(t) v_i + g_i(t),   v_i(0) = 0
    f_i(t) = leak + sum_j beta_ij w_ij H(t - t_j),   g_i(t) = bias + sum_j w_ij H(t - t_j)
    beta_ij = 1/e_pos if w_ij >= 0 else 1/e_neg          (e_pos > 0 > e_neg, so f >= 0)

Between consecutive (sorted) input times f and g are constant, and one interval of length d is
solved exactly (PAPER.md Eq. 22 written as a recursion, in exponential-Euler form):

    v <- v + d phi1(f d) (g - f v),    phi1(x) = (1 - e^-x)/x     (= e^{-fd} v + g d phi1(fd)).

Inputs at or after the phase end (or +inf) never arrive; inputs before 0 act as if they arrived
at 0.  At exactly simultaneous inputs, intervals of length 0 are harmless.

This module also holds the pieces shared with :mod:`circuitnet.solve.dstd`: input validation
(``check_layer``), the stable interval kernels (``relax`` for phi1, ``psi_of``/``rho_of`` for its
derivative, ``relax_grads`` for the backward of one interval), the in-interval threshold crossing
(``crossing_time``), the RC-Spike firing phase (``fire_phase``), the implicit-function step that
makes a TTFS spike time differentiable (``spike_time_from_membrane``) and reusable scratch buffers.

Performance (see _MembraneExact): a custom autograd function sweeps the sorted inputs in chunks
of ``CHUNK`` intervals; per chunk one gather of weight rows and a running sum give f, g, and the
element-wise work runs on [chunk, batch, out] scratch tensors that stay in cache (no tensor of
size [batch, in, out] is ever formed).  The analytic backward is a second forward-order sweep,
so only [batch, out]-sized tensors are saved.
"""
import math
import threading

import torch

# Sorted intervals processed together by the exact sweep (cache-sized work units).
CHUNK = 2


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


def check_layer(t_in, weight, e_pos, e_neg, leak=0.0, bias=0.0, steps=None, t_max=None):
    """Validate one layer's arguments; raise ValueError naming the problem.

    t_in [batch, in] and weight [out, in]: floating tensors of one dtype/device, no NaN
    (+inf in t_in means "never spikes").  e_pos > 0 > e_neg (may be +-inf: ideal synapse),
    leak >= 0 (per-neuron [out] tensors allowed for leak and bias), steps an integer >= 1,
    t_max > 0 and finite.
    """
    for name, x in (("t_in", t_in), ("weight", weight)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if t_in.dim() != 2:
        raise ValueError(f"t_in must be 2-D [batch, in_features], got shape {tuple(t_in.shape)}")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D [out_features, in_features], got shape {tuple(weight.shape)}")
    if t_in.shape[1] != weight.shape[1]:
        raise ValueError(f"in_features mismatch: t_in has {t_in.shape[1]} inputs, weight {tuple(weight.shape)} "
                         f"expects {weight.shape[1]}")
    if t_in.dtype != weight.dtype or t_in.device != weight.device:
        raise ValueError(f"t_in ({t_in.dtype}, {t_in.device}) and weight ({weight.dtype}, {weight.device}) "
                         "must share dtype and device")
    if torch.isnan(t_in).any():
        raise ValueError("t_in contains NaN (use +inf for an input that never spikes)")
    if not torch.isfinite(weight).all():
        raise ValueError("weight contains NaN or infinite values")
    ep, en = _scalar(e_pos, "e_pos"), _scalar(e_neg, "e_neg")
    if not ep > 0:
        raise ValueError(f"e_pos must be > 0 (reversal potential of positive weights), got {ep}")
    if not en < 0:
        raise ValueError(f"e_neg must be < 0 (reversal potential of negative weights), got {en}")
    for name, x in (("leak", leak), ("bias", bias)):
        xt = torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else x, dtype=torch.float64)
        if xt.dim() > 1 or (xt.dim() == 1 and xt.shape[0] != weight.shape[0]):
            raise ValueError(f"{name} must be a scalar or a [{weight.shape[0]}] tensor, got shape {tuple(xt.shape)}")
        if not torch.isfinite(xt).all():
            raise ValueError(f"{name} must be finite")
        if name == "leak" and (xt < 0).any():
            raise ValueError(f"leak must be >= 0, got {xt.min().item()}")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if t_max is not None:
        tm = _scalar(t_max, "t_max")
        if not (tm > 0 and math.isfinite(tm)):
            raise ValueError(f"t_max must be positive and finite, got {tm}")


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


def relax_grads(lam0, lam1, u, f, g, d, dphi, rho, gg=None, gfn=None, gd=None, inc=None, need_d=True):
    """Backward of one interval v1 = v0 + dphi (g - f v0), for lam1 = dL/dv1, lam0 = dL/dv0 = lam1 e^{-fd}.

    u = lam0 v0; inc = lam1 c = lam1 g dphi (so that u1 = u0 + inc: a running sum, no membrane
    needed); rho = psi/phi1 (rho_of).  Then
        dL/dg = lam1 d phi1,   -dL/df = d (u + lam1 g d psi) = d (u + inc rho),   dL/dd = lam0 g - f u.
    Returns (dL/dg, -dL/df, dL/dd) (the last None unless need_d).  gg, gfn, gd: optional output
    buffers; inc: precomputed lam1 g dphi (computed when None).  No autograd.
    """
    gg = torch.mul(lam1, dphi, out=gg)
    if inc is None:
        inc = gg * g
    gfn = torch.addcmul(u, inc, rho, out=gfn).mul_(d)
    gd = torch.mul(lam0, g, out=gd).addcmul_(f, u, value=-1.0) if need_d else None
    return gg, gfn, gd


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
    Autograd-safe (finite gradients everywhere; zero where the result is 0 or inf).
    """
    one = torch.ones_like(v0)
    rate = g - f * v0
    below = v0 < 1
    up = below & (rate > 0)
    rate_s = torch.where(up, rate, one)
    dv = torch.where(up, 1.0 - v0, one)
    u = f * dv / rate_s
    ok = up & (u < 1)
    u_s = torch.where(ok, u, torch.zeros_like(u))
    tau = dv / rate_s * _log_ratio(u_s)
    inf = torch.full_like(tau, math.inf)
    return torch.where(ok, tau, torch.where(below, inf, torch.zeros_like(tau)))


def fire_phase(v1, fire_g=1.0, fire_f=0.0):
    """RC-Spike firing phase: output spike time in [0, 1] from the accumulated membrane v1.

    dv/dt = fire_g - fire_f v from v1; the spike is the time v reaches 1, 0 if v1 >= 1, clipped to
    1 if it is not reached within the phase.  Ideal ramp (1, 0): t = clip(1 - v1, 0, 1).  The
    paper's discharger: fire_f = a b, fire_g = a, b = 1/E_dis, a = -ln(1 - b)/b.
    """
    if not isinstance(fire_f, torch.Tensor) and fire_f == 0 and not isinstance(fire_g, torch.Tensor) and fire_g > 0:
        return ((1.0 - v1) / fire_g).clamp(0.0, 1.0)
    f = torch.as_tensor(fire_f, dtype=v1.dtype, device=v1.device)
    g = torch.as_tensor(fire_g, dtype=v1.dtype, device=v1.device)
    return crossing_time(v1, f.expand_as(v1), g.expand_as(v1)).clamp(max=1.0)


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


# ---------------------------------------------------------------------------- exact sweep
class _Sweep:
    """Chunked pass over the sorted inputs of a layer (intervals k = 0..N).

    Interval k is [tau_{k-1}, tau_k] with tau_{-1} = 0, tau_N = t_end (times clamped to
    [0, t_end], sorted per sample); it starts with the arrival of sorted input k-1, whose
    [beta w | w] row is wext[idx[k]] (row 0 of wext is zero).  Iterating yields, per chunk of at
    most ``chunk`` (default CHUNK) intervals, (k0, n, f, g, d, nx, phi, dphi, xmax) as [n, B, out] tensors (d:
    [n, B, 1], or [n, B, out] when per-neuron stop times t_stop clip the intervals); see relax().
    The tensors are scratch buffers, overwritten by the next chunk.  ``xmax``: per-chunk max f d
    from an earlier identical sweep (skips the reductions); the sweep records them in .xmax.
    ``sort``: (tau, perm) of that sweep.  ``extra``: further [rows, B, out] scratch buffers,
    {name: rows}, in .bufs ("AF", "AF2", "P": [rows, B, 2 out]).
    """

    def __init__(self, t_in, wcat, leak, bias, t_end, t_stop=None, tag="sweep", xmax=None, extra=(), chunk=None,
                 sort=None):
        B, N = t_in.shape
        O = wcat.shape[0] // 2
        self.B, self.N, self.O = B, N, O
        self.chunk = K = chunk or CHUNK
        self.t_end, self.t_stop, self.dtype = t_end, t_stop, t_in.dtype
        self.xmax_in, self.xmax = xmax, []
        tau, self.perm = sort if sort is not None else torch.sort(t_in.clamp(0.0, t_end), dim=1)
        self.tau = tau
        edges = torch.cat([tau.new_zeros(B, 1), tau, tau.new_full((B, 1), t_end)], 1)
        self.edges = edges.t().unsqueeze(2).contiguous()  # [N + 2, B, 1]
        self.d = self.edges[1:] - self.edges[:-1]  # [N + 1, B, 1]
        self.nd = -self.d
        self.idx = torch.cat([self.perm.new_zeros(B, 1), self.perm + 1], 1).t().contiguous()  # [N + 1, B]
        self.wext = torch.cat([wcat.new_zeros(1, 2 * O), wcat.t()], 0)
        self.device = t_in.device
        self.init = t_in.new_empty(B, 2 * O)
        self.init[:, :O] = leak
        self.init[:, O:] = bias
        K = min(K, N + 1)
        rows = {"G": K, "G2": K, "nx": K, "phi": K, "dphi": K, "carry": 1}
        if t_stop is not None:
            rows.update(d=K, nd=K)
        rows.update(dict(extra))
        wide = ("G", "G2", "carry", "AF", "AF2", "P")  # [f | g]-shaped: 2 out columns
        self.bufs = {k: scratch(f"{tag}.{k}", (r, B, 2 * O if k in wide else O), self.dtype, self.device)
                     for k, r in rows.items()}
        # row views, made once (indexing costs more than the small per-row ops it feeds)
        self.rows = {k: list(b.unbind(0)) for k, b in self.bufs.items()}
        self.fg = {k: (self.bufs[k][..., :O], self.bufs[k][..., O:]) for k in ("G", "G2")}
        self.fg_rows = {k: (list(f.unbind(0)), list(g.unbind(0))) for k, (f, g) in self.fg.items()}

    def view(self, name, n):
        """Buffer ``name`` cut to n (interval) rows."""
        b = self.bufs[name]
        return b if b.shape[0] == n else b[:n]

    def __iter__(self):
        B, O, K, bufs = self.B, self.O, self.chunk, self.bufs
        carry = bufs["carry"][0].copy_(self.init)
        out = {"nx": bufs["nx"], "phi": bufs["phi"], "dphi": bufs["dphi"]}
        for c, k0 in enumerate(range(0, self.N + 1, K)):
            n = min(K, self.N + 1 - k0)
            name = "G2" if c % 2 else "G"  # alternate buffers: carry is the previous chunk's last row
            G, Gr = self.view(name, n), self.rows[name]
            torch.index_select(self.wext, 0, self.idx[k0:k0 + n].reshape(-1), out=G.view(n * B, 2 * O))
            Gr[0].add_(carry)
            for i in range(1, n):
                Gr[i].add_(Gr[i - 1])
            carry = Gr[n - 1]
            f, g = self.fg[name]
            if n < K:
                f, g = f[:n], g[:n]
                out = {k: v[:n] for k, v in out.items()}
            if self.t_stop is None:
                d, nd = self.d[k0:k0 + n], self.nd[k0:k0 + n]
            else:
                nd = torch.minimum(self.edges[k0:k0 + n], self.t_stop, out=self.view("nd", n))
                d = torch.minimum(self.edges[k0 + 1:k0 + n + 1], self.t_stop, out=self.view("d", n)).sub_(nd)
                nd = torch.neg(d, out=nd)
            nx, phi, dphi, xmax = relax(f, g, d, nd, out, None if self.xmax_in is None else self.xmax_in[c])
            self.xmax.append(xmax)
            self.frows, self.grows = self.fg_rows[name]
            yield k0, n, f, g, d, nx, phi, dphi, xmax


class _MembraneExact(torch.autograd.Function):
    """v(T) [batch, out] of the exact piecewise-affine membrane, with an analytic backward.

    Inputs: t_in [B, N], wcat = [beta W ; W] [2 out, N], leak, bias (scalar or [out] tensors),
    t_end (phase end, float), t_stop (None: read v at t_end; or a [B, out] tensor of per-neuron
    read-out times <= t_end, treated as constants).

    Forward: v_{k+1} = v_k + dphi_k (g_k - f_k v_k) over the sorted intervals; X = -int_0^T f dt
    (one small GEMM, or summed over the sweep when T varies per neuron).
    Backward (a second forward-order sweep, so nothing of size [N, B, out] is stored):
        lam_k = dL/dv_k = dL/dv(T) exp(X - sum_{q<k} (-x_q)),  u_k = lam_k v_k = sum_{q<k} lam_{q+1} c_q,
    relax_grads per interval, then for the input arriving at interval k
        dL/d[beta w | w] = (sum over all intervals) - (sum over intervals < k),
    and dL/dtau_j = dL/dd_j - dL/dd_{j+1} (d_k = tau_k - tau_{k-1}).
    """

    @staticmethod
    def forward(ctx, t_in, wcat, leak, bias, t_end, t_stop):
        sw = _Sweep(t_in, wcat, leak, bias, t_end, t_stop, tag="exact.fwd")
        v = t_in.new_zeros(sw.B, sw.O)
        X = t_in.new_zeros(sw.B, sw.O)
        r = scratch("exact.fwd.r", (sw.B, sw.O), sw.dtype, sw.device)
        sum_x = any(ctx.needs_input_grad) and t_stop is not None
        dphi_rows = sw.rows["dphi"]
        for k0, n, f, g, d, nx, phi, dphi, xmax in sw:
            fr, gr = sw.frows, sw.grows
            for i in range(n):
                torch.addcmul(gr[i], fr[i], v, value=-1.0, out=r)
                v.addcmul_(dphi_rows[i], r)
            if sum_x:
                X.add_(nx.sum(0))
        if t_stop is None and any(ctx.needs_input_grad):  # X = -int_0^T f dt = -(leak T + sum_j beta w_j (T - t_j))
            X = torch.mm(t_end - t_in.clamp(0.0, t_end), wcat[:sw.O].t()).add_(leak * t_end).neg_()
        ctx.save_for_backward(t_in, wcat, leak, bias, X.mul_(LOG2E), t_stop if t_stop is not None else X[:0],
                              sw.tau, sw.perm)
        ctx.meta = (t_end, t_stop is not None, sw.xmax, sw.chunk)
        return v

    @staticmethod
    def backward(ctx, gv):
        t_in, wcat, leak, bias, X2tot, t_stop, tau, perm = ctx.saved_tensors
        t_end, has_stop, xmax, K = ctx.meta
        sw = _Sweep(t_in, wcat, leak, bias, t_end, t_stop if has_stop else None, tag="exact.bwd", xmax=xmax,
                    extra={"U": K + 1, "lam": K + 1, "X": K + 1, "inc": K, "psi": K, "t1": K, "t2": K, "AF": K,
                           "AF2": K, "P": 1}, chunk=K, sort=(tau, perm))
        B, N, O, bufs = sw.B, sw.N, sw.O, sw.bufs
        need_t = ctx.needs_input_grad[0]
        gv = gv.contiguous()
        P = bufs["P"][0].zero_()  # running sum of [-dL/df | dL/dg] over intervals (then a row of AF/AF2)
        gw = gv.new_zeros(N + 1, 2 * O)
        Dq = gv.new_empty(N + 1, B)  # sum_o dL/dd_k (masked by tau_k < t_stop)
        Dr = gv.new_empty(N + 1, B) if has_stop else Dq  # masked by tau_{k-1} < t_stop
        rows = sw.rows
        Ur, Xr, lamr, incr, nxr = (rows[k] for k in ("U", "X", "lam", "inc", "nx"))
        Ur[0].zero_()
        Xr[0].zero_()
        torch.exp2(X2tot, out=lamr[0]).mul_(gv)
        for k0, n, f, g, d, nx, phi, dphi, xmax in sw:
            U, lam, X = sw.view("U", n + 1), sw.view("lam", n + 1), sw.view("X", n + 1)
            af = "AF2" if (k0 // K) % 2 else "AF"  # alternate: P is the previous chunk's last row
            AF, AFr, inc, t1 = sw.view(af, n), rows[af], sw.view("inc", n), sw.view("t1", n)
            lam0, lam1 = lam[:n], lam[1:]
            for i in range(n):
                torch.add(Xr[i], nxr[i], out=Xr[i + 1])  # -int_0^tau f dt at the interval ends
            torch.sub(X2tot, X[1:], alpha=LOG2E, out=lam1).exp2_().mul_(gv)  # dL/dv at the interval ends
            gg = torch.mul(lam1, dphi, out=AF[..., O:])
            torch.mul(gg, g, out=inc)  # lam_{k+1} c_k
            for i in range(n):
                torch.add(Ur[i], incr[i], out=Ur[i + 1])  # U_k = lam_k v_k
            rho = rho_of(nx, phi, xmax, {"rho": sw.view("psi", n), "t1": t1, "t2": sw.view("t2", n)})
            _, _, gd = relax_grads(lam0, lam1, U[:n], f, g, d, dphi, rho, gg=gg, gfn=AF[..., :O],
                                   gd=t1, inc=inc, need_d=need_t)
            Ur[0].copy_(Ur[n])
            lamr[0].copy_(lamr[n])
            Xr[0].copy_(Xr[n])
            if not need_t:
                pass
            elif has_stop:
                Dq[k0:k0 + n] = (gd * (sw.edges[k0 + 1:k0 + n + 1] < t_stop)).sum(2)
                Dr[k0:k0 + n] = (gd * (sw.edges[k0:k0 + n] < t_stop)).sum(2)
            else:
                torch.sum(gd, 2, out=Dq[k0:k0 + n])
            AFr[0].add_(P)
            for i in range(1, n):
                AFr[i].add_(AFr[i - 1])
            m = min(n, N - k0)  # the prefix through interval k belongs to the input of interval k + 1
            if m > 0:
                gw.index_add_(0, sw.idx[k0 + 1:k0 + 1 + m].reshape(-1), AF[:m].reshape(m * B, 2 * O))
            P = AFr[n - 1]
        tot = P.sum(0)
        g_rows = (tot - gw[1:]).t()  # [2 out, N]: sum over intervals after each input's arrival
        g_wcat = torch.cat([-g_rows[:O], g_rows[O:]], 0)
        g_t = None
        if need_t:
            g_tau = (Dq[:N] - Dr[1:]).t()  # d_k = tau_k - tau_{k-1}
            g_t = torch.zeros_like(t_in).scatter_(1, sw.perm, g_tau)
            g_t = g_t * ((t_in >= 0) & (t_in <= t_end))
        g_leak = (-tot[:O]).sum_to_size(leak.shape) if ctx.needs_input_grad[2] else None
        g_bias = tot[O:].sum_to_size(bias.shape) if ctx.needs_input_grad[3] else None
        return g_t, g_wcat, g_leak, g_bias, None, None


def membrane_exact(t_in, weight, e_pos, e_neg, t_end=1.0, leak=0.0, bias=0.0, t_stop=None):
    """Exact v_i(t_end) [batch, out] (PAPER.md Eq. 22), or v_i(t_stop[b, i]) if t_stop is given.

    Normalised units.  Differentiable w.r.t. t_in, weight, e_pos, e_neg, leak, bias (t_stop is
    treated as a constant).  Inputs at or after t_end never arrive.
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias)
    wcat = weight_cat(weight, e_pos, e_neg)
    return _MembraneExact.apply(t_in, wcat, as_param(leak, t_in), as_param(bias, t_in), float(t_end),
                                None if t_stop is None else t_stop.detach().to(t_in.dtype))


def rc_spike_exact(t_in, weight, e_pos, e_neg, leak=0.0, bias=0.0, fire_g=1.0, fire_f=0.0):
    """Exact RC-Spike output spike times [batch, out] in [0, 1] (normalised time).

    Accumulation phase [0, 1] (module docstring, Eq. 22) gives v(1); the firing phase
    dv/dt = fire_g - fire_f v then gives t = time to reach 1, 0 if v(1) >= 1, clipped to 1.
    Ideal ramp: t = clip(1 - v(1), 0, 1).
    """
    v1 = membrane_exact(t_in, weight, e_pos, e_neg, 1.0, leak, bias)
    return fire_phase(v1, fire_g, fire_f)


def ttfs_exact(t_in, weight, e_pos, e_neg, t_max, leak=0.0, bias=0.0):
    """Exact TTFS spike times and fired mask, each [batch, out] (PAPER.md Appendix C).

    Single phase [0, t_max]; a neuron fires at the first time v crosses 1, where within the
    interval of constant f, g starting at t0 with v0 the crossing is t0 + crossing_time(v0, f, g).
    No crossing: t_max, fired = False (zero gradient).  Gradients by the implicit function
    theorem at the crossing (spike_time_from_membrane).
    """
    check_layer(t_in, weight, e_pos, e_neg, leak, bias, t_max=t_max)
    t_max = float(t_max)
    with torch.no_grad():
        wcat = weight_cat(weight, e_pos, e_neg)
        sw = _Sweep(t_in, wcat, as_param(leak, t_in), as_param(bias, t_in), t_max, tag="exact.search")
        t_star, fired, rate = _first_crossing(sw)
    v_at = membrane_exact(t_in, weight, e_pos, e_neg, t_max, leak, bias, t_stop=t_star)
    return spike_time_from_membrane(t_star, fired, v_at, rate, t_max), fired


def _first_crossing(sw):
    """Run a sweep and record, per neuron, the first threshold crossing (no autograd).

    Returns (t_star, fired, rate): crossing time (t_end if none), fired mask, slope g - f there.
    """
    B, O = sw.B, sw.O
    v = sw.init.new_zeros(B, O)
    t_star = torch.full_like(v, sw.t_end)
    rate = torch.ones_like(v)
    fired = torch.zeros_like(v, dtype=torch.bool)
    for k0, n, f, g, d, nx, phi, dphi, xmax in sw:
        vs = v.new_empty(n, B, O)
        for i in range(n):
            vs[i] = v
            v = v + dphi[i] * (g[i] - f[i] * v)
        tc = crossing_time(vs, f, g)
        hit = tc <= d
        new = hit.any(0) & ~fired
        first = hit.to(torch.uint8).argmax(0, keepdim=True)
        pick = lambda x: x.expand(n, B, O).gather(0, first).squeeze(0)
        t_star = torch.where(new, pick(sw.edges[k0:k0 + n] + tc), t_star)
        rate = torch.where(new, pick(g - f), rate)
        fired |= new
    return t_star, fired, rate
