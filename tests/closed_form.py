"""Slow, obviously-correct float64 references for piecewise-affine spiking neurons.

Written straight from docs/paper.md (section 2) with explicit Python loops over samples,
neurons and sorted inputs, using only ``math`` on Python floats.  Nothing here is vectorised:
it exists to check the fast implementations in ``circuitnet.solve``.

Model (normalised time, normalised voltage; threshold 1), neuron i, input spike times t_j:

    dv_i/dt = -(leak + sum_j beta_ij w_ij H(t - t_j)) v_i + (bias + sum_j w_ij H(t - t_j)),  v_i(0) = 0
    beta_ij = 1/e_pos if w_ij >= 0 else 1/e_neg

Conventions shared with the fast code:
* an input time >= the phase end (or +inf) never arrives in that phase;
* an input time < 0 acts as if it arrived at 0 (the phase starts at 0);
* between consecutive arrivals f = leak + sum beta w, g = bias + sum w are constant and the
  solution is the exact relaxation  v(t0 + d) = v0 exp(-f d) + g d (1 - exp(-f d)) / (f d).
"""

import math

import numpy as np


# The paper's circuit in normalised units (docs/paper.md section 3, Table 2) and its calibrated discharger ramp.
E_POS, E_NEG = 2.8, -1.53
B_DIS = 1 / 6.44
A_DIS = -math.log(1 - B_DIS) / B_DIS
DISCHARGER = dict(fire_g=A_DIS, fire_f=A_DIS * B_DIS)


def _phi1(x):
    """(1 - exp(-x)) / x, with the limit 1 at x = 0."""
    if x == 0.0:
        return 1.0
    return -math.expm1(-x) / x


def _relax(v0, f, g, d):
    """Exact solution of dv/dt = g - f v after time d, starting from v0."""
    return v0 * math.exp(-f * d) + g * d * _phi1(f * d)


def _crossing(v0, f, g):
    """Time after which dv/dt = g - f v, started at v0 < 1, reaches 1 (math.inf if never).

    From (g - f v(t)) = (g - f v0) exp(-f t):  t = -ln((g - f) / (g - f v0)) / f
    = -ln(1 - u) / f with u = f (1 - v0) / (g - f v0) (log1p: no cancellation for small f),
    the f -> 0 limit being (1 - v0) / g.
    """
    if v0 >= 1.0:
        return 0.0
    rate = g - f * v0  # dv/dt at the start
    if rate <= 0.0:
        return math.inf
    if f == 0.0:
        return (1.0 - v0) / rate
    u = f * (1.0 - v0) / rate  # 1 - exp(-f t)
    if u >= 1.0:
        return math.inf
    return -math.log1p(-u) / f


def _sorted_events(t_row, w_row, beta_row, t_end):
    """Inputs that arrive before t_end, sorted by time (times < 0 clamped to 0)."""
    events = []
    for j in range(len(t_row)):
        tj = float(t_row[j])
        if not tj < t_end:  # also drops +inf
            continue
        events.append((max(tj, 0.0), float(w_row[j]), float(beta_row[j])))
    events.sort(key=lambda e: e[0])
    return events


def _beta(W, e_pos, e_neg):
    return np.where(W >= 0, 1.0 / float(e_pos), 1.0 / float(e_neg))


def membrane_at(t_in, W, e_pos, e_neg, t_end=1.0, leak=0.0, bias=0.0):
    """v_i(t_end) for every sample and neuron, by stepping through the sorted inputs (Eq. 22)."""
    t_in = np.asarray(t_in, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    beta = _beta(W, e_pos, e_neg)
    B, N = t_in.shape
    out = np.zeros((B, W.shape[0]))
    for b in range(B):
        for i in range(W.shape[0]):
            f, g, v, t = float(leak), float(bias), 0.0, 0.0
            for tj, wj, bj in _sorted_events(t_in[b], W[i], beta[i], t_end):
                v = _relax(v, f, g, tj - t)
                t = tj
                f += bj * wj
                g += wj
            out[b, i] = _relax(v, f, g, t_end - t)
    return out


def rc_spike_reference(t_in, W, e_pos, e_neg, leak=0.0, bias=0.0, fire_g=1.0, fire_f=0.0):
    """RC-Spike output spike times, [batch, out], float64.

    Accumulation phase [0, 1] as in the module docstring, then a firing phase of length 1 with
    dv/dt = fire_g - fire_f v from v(1): output 0 if v(1) >= 1, else the time to reach 1,
    clipped to 1 when it is not reached within the phase.  Ideal ramp (fire_g=1, fire_f=0):
    t = clip(1 - v(1), 0, 1).
    """
    v1 = membrane_at(t_in, W, e_pos, e_neg, 1.0, leak, bias)
    out = np.empty_like(v1)
    for b in range(v1.shape[0]):
        for i in range(v1.shape[1]):
            out[b, i] = min(_crossing(v1[b, i], float(fire_f), float(fire_g)), 1.0)
    return out


def ttfs_reference(t_in, W, e_pos, e_neg, t_max, leak=0.0, bias=0.0):
    """TTFS output spike times and fired mask, each [batch, out].

    Single phase [0, t_max], threshold 1, at most one spike: the first time v crosses 1.
    Within an interval of constant f, g the crossing is t0 + (1/f) ln[(g/f - v0)/(g/f - 1)].
    A neuron that never crosses gets t_max and fired = False.
    """
    t_in = np.asarray(t_in, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    beta = _beta(W, e_pos, e_neg)
    t_max = float(t_max)
    B = t_in.shape[0]
    out = np.full((B, W.shape[0]), t_max)
    fired = np.zeros((B, W.shape[0]), dtype=bool)
    for b in range(B):
        for i in range(W.shape[0]):
            f, g, v, t = float(leak), float(bias), 0.0, 0.0
            events = _sorted_events(t_in[b], W[i], beta[i], t_max)
            bounds = [e[0] for e in events] + [t_max]
            for k, t_next in enumerate(bounds):
                d = t_next - t
                tau = _crossing(v, f, g)
                if tau <= d:
                    out[b, i] = t + tau
                    fired[b, i] = True
                    break
                v = _relax(v, f, g, d)
                t = t_next
                if k < len(events):
                    f += events[k][2] * events[k][1]
                    g += events[k][1]
    return out, fired
