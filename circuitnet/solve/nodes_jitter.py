"""Spike-time jitter of a noisy several-node circuit (circuitnet.nodes), linear-noise approximation.

The SDE of method "sde", dx = f(x) dtau + G(x) dW (G: the noise elements' diffusion columns), with
x(0) ~ N(0, Sigma0) (ResetNoise), is linearised about its noise-free path m(tau):

    dm/dtau = f(m),    dSigma/dtau = J Sigma + Sigma J^T + G G^T,    J = df/dx (m),

the input jumps moving m and leaving Sigma alone. A spike, where m_c crosses 1 at t*, moves by the
comparator node's error over its slope:

    sigma_t = sqrt(Sigma_cc(t*)) / f_c(m(t*)).

Both are integrated on DSTD's grid for several nodes (circuitnet.solve.nodes_dstd: ``steps``
intervals over the window, the inputs' jumps spread onto its edges, one RK2 step of (m, Sigma) per
interval); t* and Sigma(t*) by linear interpolation inside the interval where m_c reaches 1. A spike
an input's jump causes has no jitter here (0). Nothing is differentiated: the jitter is a noise
amplitude (a layer adds sigma_t z to its spike times).
"""
import torch

from .nodes_dstd import hat_weights
from .nodes_ode import prepared


def nodes_spike_jitter(cc, t_in, weight, params=None, steps=64):
    """(t [B, I], sigma_t [B, I], fired [B, I]) of the module docstring; cc: CompiledNodes with noise."""
    with torch.no_grad():
        B, J = t_in.shape
        I, n, c = weight.shape[0], cc.n, cc.comparator
        t_max = cc.timeline.t_max
        p, f, u = prepared(cc, t_in, params)
        like = t_in.new_zeros(())
        edges = [t_max * m / steps for m in range(steps + 1)]
        arrives = torch.isfinite(t_in) & (t_in < t_max)
        t = torch.where(arrives, t_in, torch.zeros_like(t_in))
        m = t_in.new_zeros(B, I, n)
        sigma0 = cc.reset_covariance(p, like)
        cov = t_in.new_zeros(B, I, n, n) if sigma0 is None else sigma0.expand(B, I, n, n).clone()
        t_out, sig = t_in.new_full((B, I), t_max), t_in.new_zeros(B, I)
        done = torch.zeros(B, I, dtype=torch.bool, device=t_in.device)

        def rates(m, cov):
            Jm, G = cc.jacobian(m, p), cc.diffusion(m, p)
            return f(m), Jm @ cov + cov @ Jm.transpose(-1, -2) + G @ G.transpose(-1, -2)

        for k, edge in enumerate(edges):
            m = m + (hat_weights(t, arrives, edges, k) @ weight.t())[..., None] * u
            hit = (~done) & (m[..., c] >= 1)                 # fired by a jump: at the edge, no jitter here
            t_out = torch.where(hit, torch.full_like(t_out, edge), t_out)
            done = done | hit
            if k == steps:
                break
            h = edges[k + 1] - edge
            f1, c1 = rates(m, cov)
            f2, c2 = rates(m + 0.5 * h * f1, cov + 0.5 * h * c1)
            m1, cov1 = m + h * f2, cov + h * c2
            new = (~done) & (m1[..., c] >= 1)
            frac = ((1 - m[..., c]) / (m1[..., c] - m[..., c]).clamp(min=1e-300)).clamp(0, 1)
            at = m + frac[..., None] * (m1 - m)
            var = (cov + frac[..., None, None] * (cov1 - cov))[..., c, c].clamp(min=0)
            slope = f(at)[..., c]
            t_out = torch.where(new, edge + frac * h, t_out)
            sig = torch.where(new, var.sqrt() / slope.clamp(min=1e-12), sig)
            done = done | new
            m, cov = m1, cov1
        return t_out, sig, done
