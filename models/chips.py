"""Mismatched chips for a network (circuitnet.variation): one seeded draw of every spiking layer's devices.

    chip = draw_chip(net, seed=3)            # a LayerDeviation per spiking layer, from its circuit's spreads
    use_chip(net, chip)                      # every forward pass now runs on that chip (None: nominal)
    net.train_on_chips(scale=1.0)            # training: a fresh chip per forward pass (mini-batch); the
                                             # backward pass differentiates the same draw
    monte_carlo(net, evaluate, chips=100)    # accuracy over chips: mean, std, 5th percentile
    monte_carlo(net, evaluate, per_chip=lambda c: calibrate_chip(net, program_chip(c, programmer), trims))
                                             # chips as used: weights programmed, neurons trimmed

The spreads are those declared in each layer's circuit (elements' ``mismatch=``, the circuit's
``threshold_offset``), multiplied by ``scale``. A convolution's kernel is one crossbar column per output
channel, reused at every position: its deviation has the shape of the flattened kernel [out, in C kh kw].
"""
import warnings

import torch

from circuitnet import variation
from circuitnet.chip import ModelBench, WeightProgrammer, calibrate


class Chip:
    """One draw of a network's devices: ``deviations[i]`` for the i-th spiking layer (or None)."""

    def __init__(self, deviations, seed=None, scale=1.0):
        self.deviations, self.seed, self.scale = list(deviations), seed, scale

    def __repr__(self):
        return f"Chip(seed={self.seed}, scale={self.scale:g}, layers={len(self.deviations)})"


def warn_if_no_mismatch(net, who):
    """A warning where no spiking layer's circuit declares a spread or a comparator offset: every chip
    drawn would be the nominal circuit, and ``who``'s result would mean nothing."""
    if not any(variation.declares_mismatch(l.circuit) for l in net.spiking_layers):
        warnings.warn(f"{who}: no layer's circuit declares mismatch, so every chip is the nominal circuit; declare "
                      f"spreads (an element's mismatch=circuitnet.Mismatch(...), the circuit's threshold_offset=, or "
                      f"circuitnet.variation.with_uniform_mismatch(circuit, current=0.1))", stacklevel=3)


def draw_chip(net, seed=None, scale=1.0):
    """A :class:`Chip` for ``net`` (a SpikeNet): each spiking layer's deviation drawn from its circuit.
    seed: an int for a reproducible chip; None draws from torch's global generator."""
    g = None if seed is None else torch.Generator().manual_seed(int(seed))
    devs = []
    for layer in net.spiking_layers:
        out = layer.weight.shape[0]
        devs.append(variation.draw(layer.circuit, out, layer.weight[0].numel(), g, scale,
                                   dtype=layer.weight.dtype, device=layer.weight.device))
    return Chip(devs, seed, scale)


def use_chip(net, chip):
    """Run every spiking layer of ``net`` on ``chip`` from now on (None: the nominal circuit)."""
    layers = net.spiking_layers
    if chip is not None and len(chip.deviations) != len(layers):
        raise ValueError(f"the chip has {len(chip.deviations)} layers, the network {len(layers)} spiking layers")
    for i, layer in enumerate(layers):
        layer.deviation = None if chip is None else chip.deviations[i]
    return net


def program_chip(chip, programmer, seed=None):
    """The chip after program-and-verify of every synapse device (circuitnet.chip.WeightProgrammer),
    its measurement noise drawn from ``seed`` (None: the chip's own seed, or torch's global generator)."""
    if not isinstance(chip, Chip):
        raise ValueError(f"program_chip: expected a models.Chip (draw_chip), got {type(chip).__name__}")
    if not isinstance(programmer, WeightProgrammer):
        raise ValueError(f"program_chip: programmer must be a circuitnet.chip.WeightProgrammer, got "
                         f"{type(programmer).__name__}")
    seed = chip.seed if seed is None else seed
    g = None if seed is None else torch.Generator().manual_seed(7919 * int(seed) + 1)
    return Chip([None if d is None else programmer.program(d, g) for d in chip.deviations], chip.seed, chip.scale)


def calibrate_chip(net, chip, trims, references=(0.2, 0.5, 0.8), **bench):
    """The chip after per-neuron calibration of every spiking layer (circuitnet.chip.calibrate with
    ``trims`` and ``references`` on a circuitnet.chip.ModelBench of each layer's circuit, which takes
    ``bench``: method, column, timing_noise, generator): spike times in, trims out."""
    layers = net.spiking_layers
    if len(chip.deviations) != len(layers):
        raise ValueError(f"the chip has {len(chip.deviations)} layers, the network {len(layers)} spiking layers")
    devs = [None if d is None else calibrate(ModelBench(l.circuit, d, **bench), trims, references)[0]
            for l, d in zip(layers, chip.deviations)]
    return Chip(devs, chip.seed, chip.scale)


def monte_carlo(net, evaluate, chips=100, seed=0, scale=1.0, per_chip=None, first=0):
    """Accuracy over ``chips`` chips (chip k drawn with seed 1000003 seed + first + k; ``first`` sets
    chips apart, e.g. validation chips from test chips): ``evaluate(net)`` -> accuracy
    on the chip in use. ``per_chip(chip) -> chip``: what the chip goes through before use (program_chip,
    calibrate_chip, or both). Returns dict(mean, std, p5 (5th percentile, linear interpolation), min, max,
    accuracies). The network is back on its previous chips afterwards."""
    if int(chips) < 1:
        raise ValueError(f"chips must be >= 1, got {chips}")
    if int(first) < 0:
        raise ValueError(f"first must be >= 0, got {first}")
    warn_if_no_mismatch(net, "monte_carlo")
    before = [l.deviation for l in net.spiking_layers]
    accs = []
    try:
        for k in range(int(chips)):
            chip = draw_chip(net, seed=1000003 * int(seed) + int(first) + k, scale=scale)
            use_chip(net, chip if per_chip is None else per_chip(chip))
            accs.append(float(evaluate(net)))
    finally:
        for l, d in zip(net.spiking_layers, before):
            l.deviation = d
    a = torch.tensor(accs, dtype=torch.float64)
    return dict(mean=a.mean().item(), std=a.std().item() if len(accs) > 1 else 0.0,
                p5=torch.quantile(a, 0.05).item(), min=a.min().item(), max=a.max().item(), accuracies=accs)
