"""The principal branch W0 of Lambert's W function on [-1/e, 0] (W e^W = z), differentiable in torch.

Halley's iteration from the branch-point series (z near -1/e) or from z (z near 0), in float64;
the derivative dW/dz = 1 / (e^W (1 + W)), infinite at the branch point z = -1/e (W = -1).
"""
import math

import torch

_E_INV = math.exp(-1.0)


def _w0(z):
    """W0(z) for z in [-1/e, 0] (float64 tensor), by Halley's iteration to machine precision."""
    p = torch.sqrt((2.0 * (1.0 + math.e * z)).clamp(min=0.0))
    w = torch.where(z < -0.25, -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p ** 3, z * (1.0 - z))
    for _ in range(8):
        ew = torch.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1).where(wp1.abs() > 1e-300, torch.full_like(w, 1e-300)))
        w = torch.where(wp1.abs() < 1e-12, w, w - step)
    return w.clamp(-1.0, 0.0)


class _LambertW0(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        w = _w0(z.double()).to(z.dtype)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad):
        w, = ctx.saved_tensors
        return grad / (torch.exp(w) * (1.0 + w))


def lambert_w0(z):
    """W0(z) (z in [-1/e, 0]; values outside are a ValueError), with its derivative for autograd."""
    if ((z < -_E_INV * (1 + 1e-12)) | (z > 0)).any():
        raise ValueError("lambert_w0: argument outside [-1/e, 0]")
    return _LambertW0.apply(z.clamp(min=-_E_INV))
