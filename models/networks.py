"""Networks built from circuit layers: Iris 5-5-3, MLP 784-400-400-10, VGG7 (width x1, x2).

A network maps input spike times to output spike times; the earliest output spike is the class.
Intensities x in [0, 1] become spike times with ``encode`` (t = 1 - x: bright = early, docs/paper.md section 6).
Spike-time noise (sigma_spike) follows every layer, in training and evaluation; spike dropout
(``dropout``, training only) follows every hidden spiking layer.
"""
import warnings

import torch
from torch import nn

from circuitnet import solve

from .layers import (RCSpikeConv2d, RCSpikeLinear, SpikeDropout, SpikeMinPool2d, SpikeTimeNoise, TTFSConv2d,
                     TTFSLinear)


def encode(x):
    """Intensity x in [0, 1] -> input spike time t = 1 - x (normalised: the synapse phase). Intensities
    outside [0, 1] (by more than 1e-6) are clipped to it with a warning that says how many."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError(f"encode: expected a floating-point tensor of intensities in [0, 1], got {type(x).__name__}"
                         + (f" of {x.dtype}" if torch.is_tensor(x) else ""))
    if torch.isnan(x).any():
        raise ValueError("encode: input contains NaN")
    outside = (x < -1e-6) | (x > 1 + 1e-6)
    if outside.any():
        warnings.warn(f"encode: {int(outside.sum())} of {x.numel()} intensities lie outside [0, 1] (range "
                      f"[{x.min().item():.4g}, {x.max().item():.4g}]) and are clipped to it; scale the data to [0, 1] "
                      f"first (x / 255 for 8-bit images, or a min-max scaler fitted on the training split)", stacklevel=2)
    return 1.0 - x.clamp(0.0, 1.0)


class SpikeNet(nn.Module):
    """A stack of spike layers with optional pooling/flatten steps and spike-time noise after each
    spiking layer, and spike dropout (probability ``dropout``, training only) after each hidden one.
    ``forward(t)`` returns output times; ``forward(t, all_times=True)`` also returns the list of
    every spiking layer's output times (for penalties and rasters)."""

    def __init__(self, layers, sigma_spike=0.0, dropout=0.0, weight_noise=0.0):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.weight_noise = weight_noise
        t_max = max(getattr(l, "t_max", 0.0) for l in layers)
        self.noise = SpikeTimeNoise(sigma_spike, t_max=t_max)
        self.dropout = SpikeDropout(dropout, t_max=t_max)
        self.chip_scale = None     # train_on_chips: a fresh chip per training forward pass
        self.chip_pool = None      # ... or one of these chips
        self._training_chip = None  # the chip the last training pass drew (left by eval())

    @property
    def weight_noise(self):
        """Multiplicative weight noise S of training: every spiking layer's forward pass in training mode
        uses w (1 + S N(0, 1)), drawn anew per synapse and pass (mini-batch); evaluation uses w. 0: off."""
        return self.__dict__.get("_weight_noise", 0.0)

    @weight_noise.setter
    def weight_noise(self, s):
        s = float(s)
        if not 0.0 <= s < 1.0:
            raise ValueError(f"weight_noise must be in [0, 1), got {s}")
        self.__dict__["_weight_noise"] = s
        for l in self.spiking_layers:
            l.weight_noise = s

    def train_on_chips(self, scale=1.0, chips=None):
        """Variation-aware training: in training mode every forward pass first draws a fresh chip
        (models.chips.draw_chip from torch's global generator, the declared spreads times ``scale``),
        which its backward pass differentiates; or, with ``chips`` (a list of models.Chip, e.g. chips
        already programmed and calibrated, whose per-chip steps are too slow to repeat per mini-batch),
        takes one of them at random. scale=None switches it off. ``eval()`` puts the network back on the
        nominal circuit (the last training chip is not kept); evaluate on chips with
        models.chips.use_chip or models.monte_carlo."""
        if scale is not None and not (scale >= 0 and scale == scale):
            raise ValueError(f"train_on_chips: scale must be >= 0 or None, got {scale!r}")
        if scale is not None and chips is None:
            from .chips import warn_if_no_mismatch
            warn_if_no_mismatch(self, "train_on_chips")
        if chips is not None:
            chips = list(chips)
            n = len(self.spiking_layers)
            if not chips or any(len(c.deviations) != n for c in chips):
                raise ValueError(f"train_on_chips: chips must be a non-empty list of chips of this network's {n} "
                                 f"spiking layers")
        self.chip_scale = None if scale is None else float(scale)
        self.chip_pool = chips if scale is not None else None
        return self

    def _redraw(self):
        if self.training and self.chip_scale is not None:
            from .chips import draw_chip, use_chip
            pool = self.__dict__.get("chip_pool")
            self._training_chip = (pool[int(torch.randint(len(pool), ()))] if pool
                                   else draw_chip(self, scale=self.chip_scale))
            use_chip(self, self._training_chip)

    def train(self, mode=True):
        """nn.Module.train; leaving training mode also leaves the chip the last training pass drew
        (train_on_chips), so that evaluation runs on the nominal circuit unless a chip is set."""
        super().train(mode)
        chip = self.__dict__.get("_training_chip")
        if not mode and chip is not None:
            if all(l.deviation is d for l, d in zip(self.spiking_layers, chip.deviations)):
                from .chips import use_chip
                use_chip(self, None)
            self._training_chip = None
        return self

    @property
    def spiking_layers(self):
        return [l for l in self.layers if hasattr(l, "spikes")]

    def set_method(self, method, **options):
        """Give every spiking layer ``method`` (a circuitnet.solve.Method, or a name with its
        options: ``set_method("dstd", steps=30)``; e.g. train with DSTD, evaluate with "exact")."""
        m = solve.method(method, **options)
        for l in self.spiking_layers:
            l.method = m
        return self

    def forward(self, t, all_times=False, unclipped=False):
        """Output spike times; all_times: also every spiking layer's times (after noise).
        unclipped=True returns (t_out, u) instead: t_out as usual (same noise draw) and the output
        layer's unclipped firing times u before clip(u, 0, t_max) and noise (RC-Spike output layer, any
        circuit, methods exact, dstd and ode, circuitnet.solve.unclipped; the two-node LIF by "exact",
        t_max + the peak's deficit where it does not fire).  u keeps a gradient where t_out is
        clipped: an output that never reaches threshold (u > 1) can still be pulled back.
        unclipped="all" returns (t_out, times, us): every spiking layer's clipped times (as with
        all_times) and its unclipped times before the clip (each layer's forward is the same:
        t = clip(u, 0, t_max), then noise; a silent two-node LIF neuron's u - t_max is its membrane's
        deficit below threshold, which the training losses can pull on)."""
        self._redraw()
        times, us, last = [], [], self.spiking_layers[-1]
        every = unclipped == "all"
        for layer in self.layers:
            if unclipped and (every or layer is last) and hasattr(layer, "spikes"):
                u = layer.spikes(t, clip=False)[0]          # the method says where there is none
                us.append(u)
                t = u.clamp(0.0, layer.t_max)
            else:
                t = layer(t)
            if hasattr(layer, "spikes"):
                t = self.noise(t)
                if layer is not last:
                    t = self.dropout(t)
                times.append(t)
        if every:
            return t, times, us
        if unclipped:
            return t, u
        return (t, times) if all_times else t


def _kind_layers(kind):
    if kind == "rc_spike":
        return RCSpikeLinear, RCSpikeConv2d
    if kind == "ttfs":
        return TTFSLinear, TTFSConv2d
    raise ValueError(f"kind must be 'rc_spike' or 'ttfs', got {kind!r}")


def mlp(sizes=(784, 400, 400, 10), kind="rc_spike", sigma_spike=0.01, dropout=0.0, weight_noise=0.0, **layer_kw):
    """Fully connected network, e.g. the paper's 784-400-400-10 (dropout: SpikeDropout's p).

    weight_noise: SpikeNet.weight_noise (training only)."""
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least input and output sizes, got {sizes}")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"mlp: every layer size must be an integer >= 1, got {sizes}")
    Linear, _ = _kind_layers(kind)
    return SpikeNet([Linear(a, b, **layer_kw) for a, b in zip(sizes[:-1], sizes[1:])], sigma_spike, dropout,
                    weight_noise)


class Flatten(nn.Module):
    def forward(self, t):
        return t.flatten(1)


def vgg7(in_channels=1, num_classes=10, image_size=28, width=1, kind="rc_spike", sigma_spike=0.01, dropout=0.0,
         weight_noise=0.0, **layer_kw):
    """Conv64-Conv64-Pool-Conv128-Conv128-Pool-Conv256-Conv256-Pool-FC512-FC10 (3x3, stride 1,
    padding 1, 2x2 min-pool on spike times); ``width`` multiplies every channel count."""
    Linear, Conv = _kind_layers(kind)
    c = [int(64 * width), int(128 * width), int(256 * width)]
    layers, ch, size = [], in_channels, image_size
    for out in c:
        layers += [Conv(ch, out, 3, padding=1, **layer_kw), Conv(out, out, 3, padding=1, **layer_kw),
                   SpikeMinPool2d(2)]
        ch, size = out, size // 2
    layers += [Flatten(), Linear(ch * size * size, int(512 * width), **layer_kw),
               Linear(int(512 * width), num_classes, **layer_kw)]
    return SpikeNet(layers, sigma_spike, dropout, weight_noise)


class IrisNet(SpikeNet):
    """The paper's Iris circuit network: 4 features + a bias spike at t = 0 -> 5 hidden neurons
    (+ a bias spike) -> 3 outputs (the 5-5 crossbar of docs/paper.md section 3, Table 2, 3 columns used for the
    classes). Inputs are features scaled to [0, 1] used directly as spike times (t = x).
    Weights start at U(-0.2, 1) / sqrt(fan_in): every neuron fires at first (a neuron with
    v(1) <= 0 sits at t = 1 with zero gradient, like a dead ReLU)."""

    def __init__(self, hidden=5, classes=3, sigma_spike=0.0, **layer_kw):
        super().__init__([RCSpikeLinear(5, hidden, **layer_kw), RCSpikeLinear(hidden + 1, classes, **layer_kw)],
                         sigma_spike)
        with torch.no_grad():
            for l in self.layers:
                l.weight.uniform_(-0.2, 1.0).div_(l.in_features ** 0.5)

    @staticmethod
    def with_bias(t):
        return torch.cat([t, torch.zeros_like(t[:, :1])], 1)

    def forward(self, x, all_times=False):
        if x.dim() != 2 or x.shape[1] != 4:
            raise ValueError(f"IrisNet expects features [B, 4] scaled to [0, 1], got {tuple(x.shape)}")
        self._redraw()
        h = self.noise(self.layers[0](self.with_bias(x)))
        out = self.noise(self.layers[1](self.with_bias(h)))
        return (out, [h, out]) if all_times else out
