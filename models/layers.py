"""Layers of circuit neurons (nn.Modules). The circuit is a declaration; the method is a switch.

    RCSpikeLinear / TTFSLinear:  t_out [B, out] = spike_times(circuit, t_in [B, in], weight [out, in])
    RCSpikeConv2d / TTFSConv2d:  the linear layer applied to every (padded) patch of [B, C, H, W]
    SpikeMinPool2d:              earliest spike in each window (max-pooling of activations)

Times are normalised: RC-Spike inputs and outputs live in [0, 1] (1 = no spike), TTFS in
[0, t_max] (t_max = no spike; ``spikes`` also returns the fired mask). A layer holds one method
object (circuitnet.solve.methods; default ``DSTD(steps=10, offset="random")``: a random grid offset
per mini-batch in training). ``layer.method = ...`` switches it at any time (train with DSTD,
evaluate with ``"exact"`` or ``solve.ODE(dt=1/128)``); a name stands for the method with its defaults.
``deviation`` (None: the nominal circuit) is the layer's draw of a mismatched chip (models.chips).
``weight_noise = S`` (default 0; SpikeNet's ``weight_noise``): in training mode each forward pass uses
the weights w (1 + S N(0, 1)), one draw per synapse per forward pass (mini-batch), as a chip's per-synapse
charge error; in evaluation w itself. The gradient flows to w through the noisy copy.
``circuit_noise=True`` (a circuit with declared noise): every spike time moves by the jitter the
circuit's own noise causes (circuitnet.solve.jitter, on a grid of ``jitter_steps`` = 64 intervals per
phase), in training and evaluation, with every method but "sde" (which simulates the noise itself).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

import circuitnet as cn
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.solve import spike_times


def paper_circuit(kind, e_pos=2.8, e_neg=-1.53, firing="ideal", e_dis=6.44, t_max=4.0):
    """The paper's circuit with the given normalised reversal potentials (see circuitnet.circuits)."""
    if kind == "rc_spike":
        return cn.circuits.rc_spike(firing=firing, e_pos=e_pos, e_neg=e_neg,
                                    e_dis=e_dis if firing == "discharger" else None)
    return cn.circuits.ttfs(t_max=t_max, e_pos=e_pos, e_neg=e_neg)


def _he_init(weight):
    """w ~ N(0, 2 / fan_in). In the ideal limit a layer is x_out = clip(W x, 0, 1) with x in [0, 1],
    a ReLU-like unit; a positive-mean init drives v(1) >= 1 for most neurons on images (t = 0, zero
    gradient) and an MLP does not learn from it."""
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / weight[0].numel()))


class _SpikeLayer(nn.Module):
    kind = None
    jitter_steps = 64

    def __init__(self, circuit, method, options, circuit_noise=False):
        super().__init__()
        self.circuit = circuit
        self.method = solve.method(method, **options)
        self.deviation = None      # a mismatched chip's draw for this layer (models.chips), or None: nominal
        self.weight_noise = 0.0    # training only: w (1 + weight_noise N(0, 1)) per synapse and forward pass
        self.circuit_noise = bool(circuit_noise)
        cc = compile_circuit(circuit)
        if self.circuit_noise and not cc.has_noise:
            raise ValueError("circuit_noise=True needs a circuit that declares noise (ShotNoise, ThermalNoise, "
                             "ResetNoise; cn.circuits.rc_spike(noise=True))")
        if cc.integrates_while_firing != (self.kind == "ttfs"):    # TTFS: fires while integrating
            want, got = (("an RC-Spike", "a TTFS"), ("a TTFS", "an RC-Spike"))[self.kind == "ttfs"]
            swap = ("TTFS", "RCSpike") if self.kind == "ttfs" else ("RCSpike", "TTFS")
            raise ValueError(f"{type(self).__name__} needs {want} circuit (comparator "
                             f"{'on' if self.kind == 'ttfs' else 'off'} during the synapse phase), got {got} "
                             f"circuit: use {type(self).__name__.replace(*swap)}")
        self.t_max = cc.timeline.t_max

    @property
    def method(self):
        """The layer's :class:`circuitnet.solve.Method`; assign a method object or a name."""
        return self._method

    @method.setter
    def method(self, spec):
        m = solve.method(spec)
        m.check(compile_circuit(self.circuit))       # refused now, with the reason, not at the next forward
        self._method = m

    def _noisy(self, weight):
        """w (1 + S z), z ~ N(0, 1) per synapse from torch's global generator, in training mode with S =
        weight_noise > 0; else w."""
        s = getattr(self, "weight_noise", 0.0)
        if not self.training or not s:
            return weight
        return weight * (1.0 + s * torch.randn_like(weight))

    def _solve(self, t_in, weight, clip=True):
        weight = self._noisy(weight)
        t, fired = spike_times(self.circuit, t_in, weight, method=self.method, deviation=self.deviation, clip=clip,
                               training=self.training)
        if self.circuit_noise and not isinstance(self.method, solve.SDE):
            t = self._jitter(t_in, weight, t, clip)
        return t, fired

    def _jitter(self, t_in, weight, t, clip):
        """t + sigma_t z: the spike-time jitter the circuit's declared noise causes (solve.jitter, on this
        layer's chip), z ~ N(0, 1) from torch's global generator; clipped to [0, t_max] unless clip=False."""
        from circuitnet.solve.jitter import spike_jitter
        from circuitnet.variation import apply
        params = None
        with torch.no_grad():
            w = weight.detach()
            if self.deviation is not None:
                w, params = apply(self.circuit, w, self.deviation)
            sigma = spike_jitter(compile_circuit(self.circuit), t_in.detach(), w, params, steps=self.jitter_steps)[1]
        t = t + sigma.to(t.dtype) * torch.randn_like(t)
        return t.clamp(0.0, self.t_max) if clip else t

    def extra_repr(self):
        return f"method={self.method!r}, t_max={self.t_max:g}"


class _Linear(_SpikeLayer):
    def __init__(self, in_features, out_features, circuit=None, method="dstd", e_pos=2.8, e_neg=-1.53,
                 firing="ideal", e_dis=6.44, t_max=4.0, circuit_noise=False, **options):
        circuit = circuit or paper_circuit(self.kind, e_pos, e_neg, firing, e_dis, t_max)
        super().__init__(circuit, method, options, circuit_noise)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.reset_parameters()

    def reset_parameters(self):
        _he_init(self.weight)

    def spikes(self, t_in, clip=True):
        """(t_out [B, out], fired [B, out]) for input spike times t_in [B, in].  clip=False
        (methods exact and dstd on affine RC-Spike circuits, dstd and ode on any circuit): t_out is
        the unclipped firing time (circuitnet.solve.unclipped), the spike time before the clip."""
        return self._solve(t_in, self.weight, clip)

    def forward(self, t_in):
        return self.spikes(t_in)[0]


class RCSpikeLinear(_Linear):
    """Fully connected RC-Spike layer (docs/paper.md section 2): accumulate for one time unit, then fire
    on the ramp (``firing="ideal"``) or the discharger with CLM (``"discharger"``, E_dis)."""
    kind = "rc_spike"


class TTFSLinear(_Linear):
    """Fully connected TTFS layer (docs/paper.md section 2, TTFS variant): first threshold crossing within t_max."""
    kind = "ttfs"


class _Conv2d(_SpikeLayer):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, circuit=None,
                 method="dstd", e_pos=2.8, e_neg=-1.53, firing="ideal", e_dis=6.44, t_max=4.0, circuit_noise=False,
                 **options):
        circuit = circuit or paper_circuit(self.kind, e_pos, e_neg, firing, e_dis, t_max)
        super().__init__(circuit, method, options, circuit_noise)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels, *self.kernel_size))
        _he_init(self.weight)

    @property
    def no_spike(self):
        """Input time that never arrives: used for padding."""
        return 1.0 if self.kind == "rc_spike" else self.t_max

    def spikes(self, t_in, clip=True):
        """(t_out, fired), each [B, out_channels, H_out, W_out]; clip as in the linear layers."""
        if t_in.dim() != 4 or t_in.shape[1] != self.in_channels:
            raise ValueError(f"expected input spike times [B, {self.in_channels}, H, W], got {tuple(t_in.shape)}")
        B, _, H, W = t_in.shape
        p = self.padding
        if p:
            t_in = F.pad(t_in, (p, p, p, p), value=self.no_spike)
        kh, kw = self.kernel_size
        Ho = (t_in.shape[2] - kh) // self.stride + 1
        Wo = (t_in.shape[3] - kw) // self.stride + 1
        patches = F.unfold(t_in, self.kernel_size, stride=self.stride)          # [B, C*kh*kw, L]
        rows = patches.transpose(1, 2).reshape(B * Ho * Wo, -1)
        t, fired = self._solve(rows, self.weight.reshape(self.out_channels, -1), clip)
        shape = lambda x: x.reshape(B, Ho, Wo, self.out_channels).permute(0, 3, 1, 2)
        return shape(t), shape(fired)

    def forward(self, t_in):
        return self.spikes(t_in)[0]


class RCSpikeConv2d(_Conv2d):
    """RC-Spike convolution: each output pixel is an RC-Spike neuron over its input patch."""
    kind = "rc_spike"


class TTFSConv2d(_Conv2d):
    """TTFS convolution: each output pixel is a TTFS neuron over its input patch."""
    kind = "ttfs"


class SpikeMinPool2d(nn.Module):
    """Earliest spike time in each window: -maxpool(-t) (the spike-time form of max-pooling)."""

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, t):
        return -F.max_pool2d(-t, self.kernel_size, self.stride)


class SpikeTimeNoise(nn.Module):
    """Gaussian jitter on spike times, in training and in evaluation alike (docs/paper.md section 6):
    the circuit's timing noise does not stop at test time.

        t' = clip(t + sigma N(0, 1), 0, t_max)   where t < t_max (a spike; past t_max it is lost)
        t' = t_max                               where t = t_max (no spike: jitter moves spikes, it
                                                 creates none)

    t, sigma and t_max in the layer's time unit (the input window)."""

    def __init__(self, sigma=0.01, t_max=1.0):
        super().__init__()
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma, self.t_max = float(sigma), float(t_max)

    def forward(self, t):
        if self.sigma == 0:
            return t
        jittered = (t + self.sigma * torch.randn_like(t)).clamp(0.0, self.t_max)
        return torch.where(t < self.t_max, jittered, t)


class SpikeDropout(nn.Module):
    """Spike dropout, in training only: each spike is removed (its time set to t_max, "no spike")
    with probability p, independently per sample and neuron; identity in evaluation.

    On the circuit a removed spike is a neuron that fails to fire (a stuck-off driver or row): a
    spike at t_max opens no synapse inside the input window, so it adds no charge. Unlike ANN
    dropout nothing is rescaled (a spike time has no amplitude to scale): the network learns to
    classify with any fraction p of its hidden spikes missing."""

    def __init__(self, p=0.0, t_max=1.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.t_max = float(p), float(t_max)

    def forward(self, t):
        if not self.training or self.p == 0:
            return t
        return t.masked_fill(torch.rand_like(t) < self.p, self.t_max)
