"""Method "sde": spike times of a noisy circuit, on the event schedule of "ode".

    dv = [a(v, tau) + P k_pos(v) + N k_neg(v)] dtau + sqrt(s(v, tau)) dW,
    s  = noise(v, tau) + P noise_pos(v) - N noise_neg(v)        (Ito; variance rate, normalised)
    v(0) ~ Normal(0, Var_reset)                                     (kT/C reset noise, if declared)

Each interval (edges: grid of step <= dt, switching times, input spikes) takes one step of the
drift-split Euler-Maruyama scheme v <- RK4_drift(v, h) + sqrt(s(v) h) z (strong order 1/2 like
Euler-Maruyama, but without its O(h) drift bias), with z ~ N(0, 1) drawn from a torch.Generator seeded by ``seed``: the
same seed and the same shapes give the same paths. A spike is located by linear interpolation in
the interval where v reaches 1. Gradients are pathwise (autograd through the steps, noise held fixed).
"""
import torch

from ..inputs import check_layer_inputs
from .kernels import check_dt, interpolate, rk4_step, safe_sqrt
from .ode import forward_pass
from .schedule import Schedule


def _em_step(gen):
    def step(ph, v, s, h, tsw, drive, c):
        var = ph.noise_rate(v, s, tsw, drive, c)
        z = torch.randn(v.shape, generator=gen, dtype=v.dtype, device=v.device)
        return rk4_step(ph, v, s, h, tsw, drive, c) + safe_sqrt(var * h) * z
    return step


def sde_spike_times(cc, t_in, weight, params=None, dt=1 / 256, seed=0, record=None):
    """Noisy spike times [B, I] and fired mask (see module docstring). ``record``: optional list
    that receives (absolute normalised time, v [B, I]) after every step."""
    check_layer_inputs(t_in, weight)
    dt = check_dt(dt)
    gen = torch.Generator(device=t_in.device)
    gen.manual_seed(int(seed))
    sched = Schedule(cc, t_in, weight, params)
    var0 = cc.initial_variance(sched.params, t_in)
    shape = (t_in.shape[0], weight.shape[0])
    v0 = torch.sqrt(var0) * torch.randn(shape, generator=gen, dtype=t_in.dtype, device=t_in.device)
    t_out, fired, _ = forward_pass(sched, t_in, weight, dt, _em_step(gen), interpolate, v0=v0, record=record)
    return t_out, fired
