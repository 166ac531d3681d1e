"""Program-and-verify of the synapse devices: what a chip's weight programmer leaves of their mismatch.

A synapse device (a MOSFET current source biased in weak inversion) carries, on a drawn chip, a
current gain g: its current over the programmed target at the nominal gate bias
(:mod:`circuitnet.variation`, log-normal, median 1). Its gate bias goes through a trim DAC: ``bits``
bits over ``dac_range`` volts, code c in [-2^(bits-1), 2^(bits-1) - 1], step lsb = dac_range / 2^bits,
and in weak inversion a bias step dV multiplies the current by exp(gm/Id dV):

    g(c) = g exp(gm_over_id lsb c).

Program-and-verify, ``iterations`` times (starting from c = 0): measure the current as the mean of
``reads`` reads, each with relative noise sd ``measurement_noise`` (white: a read integrated ``reads``
times longer), I_meas / I_target = g(c) (1 + measurement_noise z / sqrt(reads)), z ~ N(0, 1); correct
the code by
round(-ln(I_meas / I_target) / (gm_over_id lsb)), clipped to the DAC's range. What remains is the
device's residual gain g(c): the DAC's quantisation (a step of exp(gm_over_id lsb)), the last
measurement's noise, and, for a device whose |ln g| exceeds the DAC's reach gm_over_id dac_range / 2,
the part the range cannot correct. The channel-length modulation follows the current on silicon
(variation's module docstring): programming the current programs it too.

    programmer = WeightProgrammer(bits=8, dac_range="0.12", measurement_noise=0.01, iterations=3)
    programmed = programmer.program(deviation, generator)     # a LayerDeviation with residual gains
"""
import math
import warnings

import torch

from ..units import parse_value
from ..variation import LayerDeviation


class WeightProgrammer:
    """A chip's weight programmer (module docstring): gate-bias DAC ``bits`` (>= 1) over ``dac_range``
    (V, > 0), the devices' ``gm_over_id`` (1/V, > 0; one number, or (positive, negative device): sky130's
    nfet / pfet of the paper's synapse at one weight unit give 23.5 / 15.7 /V from the extraction sweeps),
    one current read's relative noise sd ``measurement_noise`` (>= 0), the ``reads`` (>= 1) averaged per
    measurement and ``iterations`` (>= 0; 0: the chip as drawn)."""

    def __init__(self, bits=8, dac_range="0.12", gm_over_id=25.0, measurement_noise=0.01, iterations=3, reads=1):
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 24:
            raise ValueError(f"WeightProgrammer: bits must be an integer in 1..24, got {bits!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"WeightProgrammer: iterations must be an integer >= 0, got {iterations!r}")
        if isinstance(reads, bool) or not isinstance(reads, int) or reads < 1:
            raise ValueError(f"WeightProgrammer: reads must be an integer >= 1, got {reads!r}")
        self.bits, self.iterations, self.reads = bits, iterations, reads
        self.dac_range = parse_value(dac_range, "WeightProgrammer dac_range")
        pair = gm_over_id if isinstance(gm_over_id, (tuple, list)) else (gm_over_id, gm_over_id)
        if len(pair) != 2:
            raise ValueError(f"WeightProgrammer: gm_over_id is one number or (positive, negative device), got {gm_over_id!r}")
        self.gm_over_id = tuple(parse_value(g, "WeightProgrammer gm_over_id") for g in pair)
        self.measurement_noise = parse_value(measurement_noise, "WeightProgrammer measurement_noise")
        for name, value, ok in (("dac_range", self.dac_range, self.dac_range > 0),
                                ("gm_over_id", min(self.gm_over_id), min(self.gm_over_id) > 0 and
                                 math.isfinite(max(self.gm_over_id))),
                                ("measurement_noise", self.measurement_noise, self.measurement_noise >= 0)):
            if not (ok and math.isfinite(value)):
                raise ValueError(f"WeightProgrammer: {name} must be a finite number "
                                 f"{'>= 0' if name == 'measurement_noise' else '> 0'}, got {value!r}")

    def step(self, device=0):
        """ln of the current ratio of one DAC step, gm_over_id dac_range / 2^bits, of the positive
        (``device`` 0) or the negative (1) synapse device."""
        return self.gm_over_id[device] * self.lsb

    def reach(self, device=0):
        """Largest |ln g| the DAC can correct: its lowest code's reach, 2^(bits-1) steps."""
        return self.step(device) * 2 ** (self.bits - 1)

    @property
    def lsb(self):
        """One DAC step of the gate bias (V): dac_range / 2^bits."""
        return self.dac_range / 2 ** self.bits

    def verify(self, measure, step, shape, generator=None):
        """The program-and-verify loop (module docstring) on any devices: ``measure(code)`` -> ln(I / I_target)
        of each device at DAC codes ``code`` (a float64 tensor of ``shape``, integers), as the chip
        measures it without noise; ``step``: the ln current ratio the programmer assumes per code (a
        number or a tensor of ``shape``). Returns the final codes."""
        lo, hi = -2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1
        code = torch.zeros(shape, dtype=torch.float64)
        for _ in range(self.iterations):
            z = torch.randn(shape, generator=generator, dtype=torch.float64)
            measured = measure(code) + torch.log1p(self.measurement_noise / math.sqrt(self.reads) * z).nan_to_num(-30.0)
            code = (code + torch.round(-measured / step)).clamp(lo, hi)
        return code

    def residual(self, gain, generator=None, device=0):
        """The residual gains g(c) after programming devices of drawn gains ``gain`` (a tensor, > 0);
        ``device``: 0 for the positive synapse device's gm/Id, 1 for the negative one's."""
        if not (gain > 0).all():
            raise ValueError("WeightProgrammer: device gains must be > 0")
        step = self.step(device)
        log_g = torch.log(gain).double().cpu()
        self._warn_out_of_reach(log_g, device)
        code = self.verify(lambda c: log_g + step * c, step, gain.shape, generator).to(gain)
        return gain * torch.exp(step * code)

    def _warn_out_of_reach(self, log_g, device):
        """A warning (once per programmer and device polarity: Monte-Carlo loops program many chips) where
        more than 1 % of the devices lie beyond the DAC's reach (their excess stays)."""
        warned = self.__dict__.setdefault("_warned", set())
        beyond = (log_g.abs() > self.reach(device)).double().mean().item()
        if beyond > 0.01 and device not in warned:
            warned.add(device)
            sd = log_g.std().item() if log_g.numel() > 1 else log_g.abs().max().item()
            need = 2 * 3 * sd / self.gm_over_id[device]
            warnings.warn(f"{self!r}: its DAC corrects |ln g| <= {self.reach(device):.3g} on the "
                          f"{('positive', 'negative')[device]} device, but {100 * beyond:.3g} % of the devices lie "
                          f"beyond (sd of ln g {sd:.3g}) and keep what it cannot reach; a dac_range of about "
                          f"{need:.3g} V reaches 3 sd (reach = gm_over_id dac_range / 2)", stacklevel=3)

    def program(self, deviation, generator=None):
        """A :class:`~circuitnet.variation.LayerDeviation` whose synapse gains are the residuals of
        programming ``deviation``'s (every crossbar device, positive and negative); its per-neuron
        factors and threshold offsets are left as drawn. Reproducible from ``generator``."""
        if not isinstance(deviation, LayerDeviation):
            raise ValueError(f"WeightProgrammer.program: expected a LayerDeviation, got {type(deviation).__name__}")
        return LayerDeviation(self.residual(deviation.gain_pos, generator, 0),
                              self.residual(deviation.gain_neg, generator, 1),
                              dict(deviation.factors), deviation.threshold)

    def __repr__(self):
        return (f"WeightProgrammer(bits={self.bits}, dac_range={self.dac_range:g}, gm_over_id={self.gm_over_id}, "
                f"measurement_noise={self.measurement_noise:g}, iterations={self.iterations}, reads={self.reads})")
