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


GAINS = (0.7, 1.0, 1.4, 2.0, 2.8)


def tune_layer_gains_(net, score, grid=GAINS):
    """Per-layer current scales chosen to maximise ``score(net)`` (e.g. validation accuracy under the
    chip's spike-time noise), in place. Each spiking layer l in turn, input side first, gets
    W_l -> g_l W_l with g_l the best of ``grid`` (and 1, the network as it is) given the gains already
    chosen before it: one pass of coordinate ascent; a tie keeps the gain nearest 1.

    On the circuit g_l scales every synapse current of layer l (I = g_l I_w, its bias reference), so the
    layer's unit current and charge per phase grow by g_l. Spike-time jitter (sigma_spike, in the
    window's unit) does not scale with it, while the membrane swing an input difference makes does: a
    larger gain spreads the layer's output spike times against the same jitter. Trained under weight
    decay, a network's scale can sit below the one its noise wants (docs/experiments.md: 0.35-0.65
    points at sigma_spike 0.04). Returns (gains [one per spiking layer], best score)."""
    grid = sorted({float(g) for g in grid} | {1.0})
    if not all(g > 0 and g < float("inf") for g in grid):
        raise ValueError(f"tune_layer_gains_: gains must be finite and > 0, got {grid}")
    layers = net.spiking_layers
    if not layers:
        raise ValueError("tune_layer_gains_: the network has no spiking layer")

    def scored():
        s = float(score(net))
        if s != s:
            raise ValueError("tune_layer_gains_: score(net) returned NaN")
        return s

    best, gains = scored(), []
    for layer in layers:
        w = layer.weight.detach().clone()
        results = {1.0: best}
        for g in grid:
            if g != 1.0:
                with torch.no_grad():
                    layer.weight.copy_(g * w)
                results[g] = scored()
        g = max(grid, key=lambda g: (results[g], -abs(g - 1.0)))   # ties: the gain nearest 1
        with torch.no_grad():
            layer.weight.copy_(g * w)
        gains.append(g)
        best = results[g]
    return gains, best
