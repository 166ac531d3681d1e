"""Method "sde" on a several-node circuit (circuitnet.nodes): its declared noise simulated, on the
schedule of "ode" (circuitnet.solve.nodes_ode).

    dx = f(x) dtau + G(x) dW,    G [n, E]: one column g_e per noise element (compile_nodes.diffusion)
    x(0) ~ Normal(0, Sigma0)     (kT/C of the capacitor network, if ResetNoise is declared; else 0)

State x [B, I, n]. Per sample the inputs are sorted; every interval between consecutive input times
(and the last one to t_max) is cut into the same number m of steps for the batch (step <= dt; every
input time is a step edge), and each step is the drift-split Euler-Maruyama step

    x_{i+1} = RK4(f, x_i, h) + G(x_i) sqrt(h) z_i,     z_i ~ Normal(0, I_E)

(strong order 1/2 like Euler-Maruyama, without its O(h) drift bias; for additive noise the same as
sde.py's scheme on one node). z is drawn from a torch.Generator seeded by ``seed``: the same seed and
shapes give the same paths. Inputs jump x by w_j u as in "ode". The spike is the first step whose
end has x_c >= 1 (or an input whose jump carries x_c to 1: its time), located inside the step by
linear interpolation of x_c between the step's ends. Gradients are pathwise (autograd through the
steps, the noise held fixed).
"""

import torch

from ..inputs import check_layer_inputs
from .kernels import check_dt, safe_sqrt
from .nodes_ode import capped, input_intervals, input_jump, prepared, rk4


def initial_state(cc, p, shape, gen, like):
    """x(0) [B, I, n]: zero, or a draw of Normal(0, Sigma0) with ResetNoise (the first draw of ``gen``)."""
    B, I = shape
    L = cc.reset_cholesky(p, like)
    if L is None:
        return like.new_zeros(B, I, cc.n)
    z = torch.randn((B, I, cc.n, 1), generator=gen, dtype=like.dtype, device=like.device)
    return (L @ z).squeeze(-1)


def nodes_sde_spike_times(cc, t_in, weight, params=None, dt=1 / 256, seed=0, record=None):
    """(t_out [B, I], fired [B, I]) of a compiled several-node circuit with declared noise (module
    docstring). ``record``: an optional list that receives (time [B] (normalised, absolute), x [B, I, n])
    at t = 0 and after every step and every input."""
    check_layer_inputs(t_in, weight)
    dt = check_dt(dt)
    gen = torch.Generator(device=t_in.device)
    gen.manual_seed(int(seed))
    B, J = t_in.shape
    I, n, c, E = weight.shape[0], cc.n, cc.comparator, cc.E
    t_max = cc.timeline.t_max
    p, f, u = prepared(cc, t_in, params)
    like = t_in.new_zeros(())
    ts, w, edges, lengths, steps = input_intervals(t_in, weight, t_max, dt)
    x = initial_state(cc, p, (B, I), gen, like)
    if record is not None:
        record.append((t_in.new_zeros(B), x))
    done = x[..., c] >= 1                        # a reset draw past threshold fires at t = 0
    at_jump = done.clone()
    t_jump = t_in.new_zeros(B, I)
    xa, xb = x[..., c], x[..., c]                # x_c at the crossing step's ends
    t0 = t_in.new_zeros(B, I)
    h0 = t_in.new_zeros(B, I)
    for k in range(J + 1):
        m = steps[k]
        if m:
            h = (lengths[:, k] / m)[:, None, None]                              # [B, 1, 1]
            sh = safe_sqrt(h)
            start = edges[:, k][:, None]
            for i in range(m):
                x1 = rk4(f, x, h)
                if E:
                    z = torch.randn((B, I, E, 1), generator=gen, dtype=x.dtype, device=x.device)
                    x1 = x1 + (cc.diffusion(capped(cc, x), p) @ z).squeeze(-1) * sh
                new = (~done) & ~(x1[..., c] < 1)
                xa = torch.where(new, x[..., c], xa)
                xb = torch.where(new, x1[..., c], xb)
                t0 = torch.where(new, start + i * h[..., 0], t0)
                h0 = torch.where(new, h[..., 0].expand_as(t0), h0)
                done = done | new
                x = torch.where(done[..., None], x, x1)
                if record is not None:
                    record.append((start[:, 0] + (i + 1) * h[:, 0, 0], x))
        if k < J:
            x, done, at_jump, t_jump = input_jump(x, w[:, k], u, c, ts[:, k], done, at_jump, t_jump)
            if record is not None:
                record.append((ts[:, k], x))
    # linear interpolation of x_c inside the crossing step: s = h (1 - x_a) / (x_b - x_a)
    rise = xb - xa
    ok = done & ~at_jump & torch.isfinite(rise) & (rise > 0)
    frac = torch.where(ok, (1 - xa) / torch.where(ok, rise, torch.ones_like(rise)), torch.ones_like(rise))
    t_out = torch.where(at_jump, t_jump, t0 + h0 * frac.clamp(0, 1))
    return torch.where(done, t_out, torch.full_like(t_out, t_max)), done
