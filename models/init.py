"""Data-dependent initialisation: weights that make a circuit's neurons fire at the start of training.

A neuron that never reaches threshold in its window sits at t_max with zero gradient (like a dead
ReLU), so a network whose layers are mostly silent at initialisation barely learns. How many fire
under a fixed random init depends on the circuit (its shapes, leak, firing ramp): the paper's
circuit fires 47 / 43 / 33 % of the MLP's neurons under He init, a saturating custom device 30 / 20 / 5 %.

    firing_fractions(net, t_in)        # per spiking layer: fraction of (sample, neuron) that fire
    init_firing_(net, t_in, 0.5)       # shift each layer's weights so that half of them fire
    bump_silent_(net, times, 0.005)    # while training: raise the weights of neurons that went silent

``init_firing_`` treats the layers in order; for layer k it adds one common offset m to all its
weights, w <- w + m, with m found by bisection so that the fraction of its neurons firing on the
batch (its inputs coming from the already initialised layers below) is ``target``. The fraction is
monotone in m wherever the synapse shapes are positive (each input's charge grows with its weight),
so bisection converges; the weights' spread (their He scale) is kept.
"""
import warnings

import torch


def _spiking(net):
    layers = getattr(net, "spiking_layers", None)
    if not layers:
        raise ValueError(f"expected a network of circuit layers (models.SpikeNet), got {type(net).__name__}")
    return layers


def _layer_inputs(net, t_in, layers):
    """Inputs each spiking layer sees in one noise-free forward pass of ``net`` on t_in."""
    seen = {}

    def keep(i):
        def hook(module, args):
            seen.setdefault(i, args[0])
        return hook
    hooks = [l.register_forward_pre_hook(keep(i)) for i, l in enumerate(layers)]
    try:
        net(t_in)
    finally:
        for h in hooks:
            h.remove()
    return [seen[i] for i in range(len(layers))]


def _fired(layer, t):
    return (layer(t) < layer.t_max).double().mean().item()


def firing_fractions(net, t_in):
    """Fraction of (sample, neuron) pairs that fire inside the window, per spiking layer, in one
    forward pass on t_in (evaluation mode: no spike-time noise or dropout, the layers' own methods)."""
    layers = _spiking(net)
    mode = net.training
    net.eval()
    try:
        with torch.no_grad():
            ins = _layer_inputs(net, t_in, layers)
            return [_fired(l, x) for l, x in zip(layers, ins)]
    finally:
        net.train(mode)


def init_firing_(net, t_in, target=0.5, iterations=30):
    """Shift each spiking layer's weights by a common offset so that a fraction ``target`` (in (0, 1))
    of its neurons fire on the batch t_in (module docstring). Returns dict(before, after, offsets):
    the firing fractions per layer before and after, and the offset added to each layer's weights."""
    if not 0.0 < float(target) < 1.0:
        raise ValueError(f"init_firing_: target (fraction of neurons that fire) must be in (0, 1), got {target!r}")
    layers = _spiking(net)
    before = firing_fractions(net, t_in)
    mode = net.training
    net.eval()
    offsets = []
    try:
        with torch.no_grad():
            for k, layer in enumerate(layers):
                x = _layer_inputs(net, t_in, layers)[k]
                w0 = layer.weight.detach().clone()
                step = max(w0.std().item(), 1e-3)

                def fraction(m):
                    layer.weight.copy_(w0 + m)
                    return _fired(layer, x)

                lo, hi = -step, step                       # bracket the target: f(lo) <= target <= f(hi)
                for _ in range(20):
                    if fraction(lo) <= target:
                        break
                    lo *= 2
                for _ in range(20):
                    if fraction(hi) >= target:
                        break
                    hi *= 2
                if not fraction(lo) <= target <= fraction(hi):
                    warnings.warn(f"init_firing_: layer {k + 1} cannot reach {target:.0%} firing by shifting its "
                                  f"weights (from {fraction(lo):.1%} to {fraction(hi):.1%} over offsets {lo:.3g} .. "
                                  f"{hi:.3g}); it is left at the nearest", stacklevel=2)
                for _ in range(iterations):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (mid, hi) if fraction(mid) < target else (lo, mid)
                m = 0.5 * (lo + hi)
                layer.weight.copy_(w0 + m)
                offsets.append(m)
    finally:
        net.train(mode)
    return dict(before=before, after=firing_fractions(net, t_in), offsets=offsets)


def bump_silent_(net, times, value, hidden_limit=0.1, labels=None):
    """Weight bumping (fastAndDeep, Goeltz et al. 2021): revive neurons that stopped firing.

    A time-to-first-spike neuron that never reaches threshold reports t_max with zero gradient, and a
    training step that pushes the wrong classes' outputs later can silence a whole layer for good.
    Bottom up, the first spiking layer with too many silent (sample, neuron) pairs on a batch (more
    than ``hidden_limit`` in a hidden layer, fastAndDeep's 0.3 and here 0.1, which Yin-Yang's validation
    set preferred for the two-node LIF network: 93.2 % against 90.6 % after 60 epochs, mean of two seeds;
    any in the output layer) gets ``value`` added to every
    incoming weight of each of its neurons that stayed silent on some sample of the batch.
    ``times``: the layers' output times of that batch (``net(t_in, all_times=True)[1]``).
    ``labels`` (the batch's classes [B], optional): in the output layer only the correct class's neuron
    counts as silent, output (b, i) silent and i = labels[b] (a wrong class's output that stays silent
    is what the loss asks for, and bumping it works against the loss).
    Returns the index of the bumped layer, or None."""
    layers = _spiking(net)
    if len(times) != len(layers):
        raise ValueError(f"bump_silent_: {len(times)} layers of times for {len(layers)} spiking layers")
    with torch.no_grad():
        for k, (layer, t) in enumerate(zip(layers, times)):
            silent = (t.detach() >= layer.t_max).flatten(1)
            limit = 0.0 if k == len(layers) - 1 else hidden_limit
            if labels is not None and k == len(layers) - 1:
                silent = silent & (torch.arange(silent.shape[1], device=silent.device) == labels.reshape(-1, 1))
            if silent.double().mean().item() > limit:
                layer.weight[silent.any(0)] += value
                return k
    return None
