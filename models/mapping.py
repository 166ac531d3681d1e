"""ANN-to-IMC weight mapping (docs/paper.md section 4): scale the synaptic currents so that a network
run on a circuit reproduces a target's output spike times.

A scale multiplies the device currents: w -> s_pos relu(w) + s_neg min(w, 0). The paper's
ANN-to-IMC searches two scales (positive and negative currents) on a 1 % grid; its "scaled ANN"
uses one global factor.
"""
import torch


def scale_weights_(net, s_pos, s_neg=None):
    """In place, for every spiking layer: w -> s_pos relu(w) + s_neg min(w, 0) (s_neg = s_pos if None)."""
    s_neg = s_pos if s_neg is None else s_neg
    with torch.no_grad():
        for layer in net.spiking_layers:
            w = layer.weight
            w.copy_(s_pos * w.clamp(min=0) + s_neg * w.clamp(max=0))
    return net


def _grid(lo, hi, step):
    n = int(round((hi - lo) / step))
    return [round(lo + k * step, 6) for k in range(n + 1)]


def fit_current_scales(net, x, target, lo=0.5, hi=2.0, coarse=0.1, fine=0.01, separate=True, forward=None):
    """Scales minimising RMSE(forward(net scaled, x), target) over [lo, hi]: a coarse grid, then
    ``fine`` steps within one coarse step of its best (the error is assumed unimodal at that scale).
    separate=True: two scales (s_pos, s_neg) searched on the product grid (coarse 2-D grid, then a
    fine 2-D grid around its best); otherwise one global factor. ``forward(net, x)`` defaults to
    net(x). net's weights are restored. Returns (s_pos, s_neg, rmse)."""
    forward = forward or (lambda n, xx: n(xx))
    w0 = [l.weight.detach().clone() for l in net.spiking_layers]
    cache = {}

    def rmse(sp, sn):
        key = (round(sp, 6), round(sn, 6))
        if key not in cache:
            with torch.no_grad():
                for layer, w in zip(net.spiking_layers, w0):
                    layer.weight.copy_(w)
                scale_weights_(net, sp, sn)
                cache[key] = ((forward(net, x) - target) ** 2).mean().sqrt().item()
        return cache[key]

    def around(s0):
        return _grid(max(lo, s0 - coarse), min(hi, s0 + coarse), fine)

    if separate:
        c = min(((a, b) for a in _grid(lo, hi, coarse) for b in _grid(lo, hi, coarse)), key=lambda p: rmse(*p))
        best = min(((a, b) for a in around(c[0]) for b in around(c[1])), key=lambda p: rmse(*p))
    else:
        s0 = min(_grid(lo, hi, coarse), key=lambda s: rmse(s, s))
        s = min(around(s0), key=lambda s: rmse(s, s))
        best = (s, s)
    err = rmse(*best)
    with torch.no_grad():
        for layer, w in zip(net.spiking_layers, w0):
            layer.weight.copy_(w)
    return best[0], best[1], err
