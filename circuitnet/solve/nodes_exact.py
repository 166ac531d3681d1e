"""Closed-form first spike of the two-node LIF neuron with an exponential current synapse
(circuitnet.circuits.lif_current_synapse; fastAndDeep's closed forms, Goeltz et al. 2021).

Normalised, with the synapse node s and the comparator node c (x(0) = 0, x_s += w_j at t_j):

    dx_s/dtau = -x_s / tau_s,   dx_c/dtau = -x_c / tau_m + k x_s
    x_c(t) = k sum_j w_j tau_m tau_s / (tau_m - tau_s) (e^-(t - t_j)/tau_m - e^-(t - t_j)/tau_s)

over the inputs before t (the causal set). For each prefix of the time-sorted inputs the upward
crossing x_c = 1 is

* tau_m = tau_s = tau: x_c = k sum_j w_j (t - t_j) e^-(t - t_j)/tau; with a1 = sum w_j e^(t_j/tau),
  a2 = sum w_j t_j e^(t_j/tau), b = a2 / (a1 tau): t = tau (b - W0(-e^b / (k a1 tau))), none if the
  argument is below -1/e or a1 <= 0;
* tau_m = 2 tau_s: with y = e^(-t/tau_m), A = sum w_j e^(t_j/tau_m), B = sum w_j e^(t_j/tau_s),
  c = 1 / (2 k tau_s): B y^2 - A y + c = 0, upward at y = 2c / (A - sqrt(A^2 - 4 B c)), t = -tau_m ln y;
  none if the discriminant is negative;

and the spike is the first candidate that lies between its prefix's last input and the next input
(or the window's end). Times are measured from the sample's first input (exponents stay >= 0 and
the sums are formed in float64). Gradients: autograd through the closed form (W0's derivative is
analytic, circuitnet.solve.lambert_w).
"""
import torch

from .lambert_w import lambert_w0

RATIO_TOLERANCE = 1e-9


def lif_constants(cc, params, like):
    """(tau_s, tau_m, k, ratio) of a compiled circuit that is the two-node LIF neuron, or a string
    saying why it is not (what the closed forms need)."""
    if not getattr(cc, "several_nodes", False):
        return "the Lambert-W closed forms are for the two-node LIF circuit (circuitnet.circuits.lif_current_synapse)"
    if cc.n != 2 or not cc.affine:
        return (f"the closed forms need two nodes with linear dynamics (the LIF with a current synapse); this circuit "
                f"has {cc.n} node(s){'' if cc.affine else ' and non-linear currents'}")
    s, c = cc.synapse, cc.comparator
    if s == c:
        return "the closed forms need the synapse and the comparator on different nodes"
    p = cc.params(torch.float64, like.device, **(params or {}))
    A, b = cc.linear(p, like.double())
    u = cc.jump(p, like.double())
    if (b.abs() > 0).any() or (A[..., s, c].abs() > 0).any() or (u[..., c].abs() > 0).any():
        return ("the closed forms need the comparator's node to leave the synapse node alone (no coupling back, no "
                "capacitor between them), no constant currents at rest and the charge on the synapse node only")
    tau_s, tau_m, k = -1.0 / A[..., s, s], -1.0 / A[..., c, c], A[..., c, s] * u[..., s]
    if not ((tau_s > 0).all() and (tau_m > 0).all() and (k > 0).all()):
        return "the closed forms need both nodes to leak (tau > 0) and a positive weight to drive the membrane up"
    ratio = tau_m / tau_s
    for r in (1.0, 2.0):
        if ((ratio - r).abs() <= RATIO_TOLERANCE * r).all():
            return tau_s, tau_m, k, r
    return (f"closed forms exist for tau_m = tau_s and tau_m = 2 tau_s; this circuit has tau_m / tau_s = "
            f"{ratio.flatten()[0].item():.6g} (use method 'ode')")


def lif_spike_times(cc, t_in, weight, params, clip=True):
    """(t_out [B, I], fired [B, I]) of the two-node LIF neuron by its closed form (module docstring).
    clip=False: a neuron that does not fire reports t_max + (1 - its membrane's peak in the window) (the
    peak of x_c over every input interval, in closed form), so that its time keeps a gradient that
    lifts it towards threshold; a neuron that fires reports its spike time either way."""
    const = lif_constants(cc, params, t_in)
    if isinstance(const, str):
        raise ValueError(const)
    tau_s, tau_m, k, ratio = const
    dtype = t_in.dtype
    t_max = cc.timeline.t_max
    B, J = t_in.shape
    t = t_in.double()
    arrives = torch.isfinite(t) & (t < t_max)
    t = torch.where(arrives, t, torch.full_like(t, t_max))
    ts, order = torch.sort(t, dim=1)                                   # [B, J]
    origin = ts[:, :1]
    s = (ts - origin)[:, None, :]                                      # [B, 1, J], >= 0
    w = weight.double().t()[order].transpose(1, 2)                     # [B, I, J]
    w = w * arrives.gather(1, order)[:, None, :]
    nxt = torch.cat([ts[:, 1:], ts.new_full((B, 1), t_max)], 1)[:, None, :] - origin[:, None, :]
    tau_s, tau_m, k = (x.double().reshape(-1, 1) if x.dim() else x.double() for x in (tau_s, tau_m, k))
    if ratio == 1.0:
        e = torch.exp(s / tau_s)
        a1 = torch.cumsum(w * e, -1)
        a2 = torch.cumsum(w * s * e, -1)
        sums = (a1, a2)
        with torch.no_grad():                       # where a crossing exists: a1 > 0 and W0's argument >= -1/e
            ok = a1 > 0
            log_z = a2 / torch.where(ok, a1, torch.ones_like(a1)) / tau_s - torch.log(k * a1.clamp(min=1e-300) * tau_s)
            ok = ok & (log_z <= -1.0)
        a1 = torch.where(ok, a1, torch.ones_like(a1))    # inputs replaced before any division: no inf * 0 gradients
        a2 = torch.where(ok, a2, torch.zeros_like(a2))
        b = a2 / (a1 * tau_s)
        log_z = torch.where(ok, b - torch.log(k * a1 * tau_s), torch.full_like(b, -3.0)).clamp(max=-1.0 - 1e-15)
        cand = tau_s * (b - lambert_w0(-torch.exp(log_z)))   # ln(-z) < -1: W0 stays off its branch point
    else:
        A = torch.cumsum(w * torch.exp(s / tau_m), -1)
        Bq = torch.cumsum(w * torch.exp(s / tau_s), -1)
        sums = (A, Bq)
        c = 1.0 / (2.0 * k * tau_s)
        with torch.no_grad():                       # where the upward root exists
            disc = A * A - 4.0 * Bq * c
            ok = (disc >= 0) & (A - torch.sqrt(disc.clamp(min=0)) > 0)
        A = torch.where(ok, A, torch.ones_like(A))            # a harmless root (disc 1/2) where none exists
        Bq = torch.where(ok, Bq, 0.125 / c * torch.ones_like(Bq))
        root = torch.sqrt((A * A - 4.0 * Bq * c).clamp(min=1e-300))
        y = 2.0 * c / (A - root).clamp(min=1e-300)
        ok = ok & (y > 0)
        cand = -tau_m * torch.log(torch.where(ok, y, torch.ones_like(y)))
    last = s.expand_as(cand)
    valid = ok & (cand >= last) & (cand < nxt.expand_as(cand)) & (cand + origin[:, None, :] <= t_max)
    fired = valid.any(-1)
    first = valid.double().argmax(-1, keepdim=True)
    t_out = cand.gather(-1, first).squeeze(-1) + origin
    if clip:
        silent = torch.full_like(t_out, t_max)
    else:
        silent = t_max + 1.0 - _peak(ratio, sums, s.expand_as(cand), nxt.expand_as(cand), tau_s, tau_m, k)
    t_out = torch.where(fired, t_out, silent)
    return t_out.to(dtype), fired


def _peak(ratio, sums, lo, hi, tau_s, tau_m, k):
    """max over the window of x_c: per input interval [lo, hi] (times from the first input) the largest of
    x_c at its ends and at its stationary point, where that lies inside; [B, I]."""
    if ratio == 1.0:
        a1, a2 = sums
        x = lambda t: k * torch.exp(-t / tau_s) * (t * a1 - a2)
        pos = a1 > 0
        inner = tau_s + a2 / torch.where(pos, a1, torch.ones_like(a1))
    else:
        A, Bq = sums
        x = lambda t: 2.0 * k * tau_s * (A * torch.exp(-t / tau_m) - Bq * torch.exp(-2.0 * t / tau_m))
        pos = (A > 0) & (Bq > 0)
        inner = -tau_m * torch.log(torch.where(pos, A / (2.0 * torch.where(pos, Bq, torch.ones_like(Bq))),
                                               torch.ones_like(A)))
    inner = torch.minimum(torch.maximum(torch.where(pos, inner, lo), lo), hi)
    return torch.stack([x(lo), x(hi), x(inner)], -1).amax(-1).amax(-1)
