"""DSTD on a several-node circuit (circuitnet.nodes): a fixed time grid, the inputs' hat kernel.

The window [0, t_max] is cut into ``steps`` intervals of length L (shifted by the grid offset o in
[0, L): edges 0, o, o + L, ..., t_max), the same for every sample, so that the work per call does not
depend on the input times. Input j's jump w_j u is spread onto the two grid edges around t_j by the
hat kernel (DSTD's, as a jump rather than a current):

    edge T_m gets  w_j u (T_m+1 - t_j) / L_m,   edge T_m+1 gets  w_j u (t_j - T_m) / L_m   (t_j in [T_m, T_m+1))

which keeps the mean arrival time of the charge at t_j (the state after the interval is off by O(L^2);
inside it, where a crossing may fall, by O(L): the spike time converges as 1 / steps), and is linear in
t_j inside an interval, so the spike time is differentiable in the input times. At each edge
the spread jumps [B, I] = S [B, J] @ W^T (one GEMM per edge: S_jm is the hat weight of input j at
edge m), then one ``step`` (RK4 or the midpoint RK2) of dx/dtau = f(x) per interval. The comparator's
crossing inside an interval is polished as in circuitnet.solve.nodes_ode (Newton on the step from the
interval's start; implicit gradient). Gradients: autograd. It converges to ode as ``steps`` grows.
"""
import torch

from .nodes_ode import NODE_STEPS, polish_crossing, prepared


def hat_weights(t, arrives, edges, m):
    """S [B, J]: the share of each input's jump that lands on grid edge m (module docstring): (t_j - T_m-1) /
    L for an input in the interval ending there, (T_m+1 - t_j) / L for one in the interval starting there."""
    S = torch.zeros_like(t)
    if m:
        a, b = edges[m - 1], edges[m]
        S = S + torch.where(arrives & (t >= a) & (t < b), (t - a) / (b - a), torch.zeros_like(t))
    if m + 1 < len(edges):
        a, b = edges[m], edges[m + 1]
        S = S + torch.where(arrives & (t >= a) & (t < b), (b - t) / (b - a), torch.zeros_like(t))
    return S


def nodes_dstd_spike_times(cc, t_in, weight, params, steps, offset, step="rk4", polish=6):
    """(t_out [B, I], fired [B, I]) of a compiled several-node circuit on DSTD's grid (module docstring)."""
    B, J = t_in.shape
    I, n, c = weight.shape[0], cc.n, cc.comparator
    t_max = cc.timeline.t_max
    L = t_max / steps
    offset = float(offset) % L
    inner = [offset + m * L for m in range(steps + 1)]
    edges = [0.0] + [e for e in inner if 1e-12 * t_max < e < t_max * (1 - 1e-12)] + [t_max]
    p, f, u = prepared(cc, t_in, params)
    one = NODE_STEPS[step]
    arrives = torch.isfinite(t_in) & (t_in < t_max)
    t = torch.where(arrives, t_in, torch.zeros_like(t_in))
    x = t_in.new_zeros(B, I, n)
    done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)
    at_jump = torch.zeros_like(done)
    t_jump = t_in.new_zeros(B, I)
    x0, t0, h0 = x.clone(), t_in.new_zeros(B, I), t_in.new_zeros(B, I)
    for m, edge in enumerate(edges):
        x = x + (hat_weights(t, arrives, edges, m) @ weight.t())[..., None] * u
        hit = (~done) & (x[..., c] >= 1)
        at_jump, done = at_jump | hit, done | hit
        t_jump = torch.where(hit, torch.full_like(t_jump, edge), t_jump)
        if m + 1 == len(edges):
            break
        h = edges[m + 1] - edge
        x1 = one(f, x, h)
        new = (~done) & ~(x1[..., c] < 1)            # a step that overflowed (NaN) crossed too
        x0 = torch.where(new[..., None], x, x0)
        t0 = torch.where(new, torch.full_like(t0, edge), t0)
        h0 = torch.where(new, torch.full_like(h0, h), h0)
        done = done | new
        x = torch.where(done[..., None], x, x1)              # a neuron that fired stops
    t_out = torch.where(at_jump, t_jump, t0 + polish_crossing(f, x0, h0, c, polish, one))
    return torch.where(done, t_out, torch.full_like(t_out, t_max)), done
