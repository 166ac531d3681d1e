"""Per-neuron calibration from what a chip can measure: spike times out for known stimuli in.

A mixed-signal neuromorphic chip trims every neuron before use from measurements it can make on
the chip itself. Here a neuron has trim DACs (:class:`Trim`) on per-neuron parameters, e.g. its
comparator offset ("V_th", additive, volts) and its discharger's bias ("dis_I", multiplicative on
the discharger current). Calibration never reads a device's parameters: it applies stimuli to the
neuron, reads its spike times, and picks the trim codes whose spike times come closest to the
nominal neuron's for the same stimuli:

    stimuli: one reference input at t = 0 with weights ``references`` (default 0.2, 0.5, 0.8 units
             of I_unit: spikes inside the window; with no input the paper's neuron fires just at its
             end), delivered by the chip's calibration current source (``column=None``: exact) or
             through the programmed crossbar device of input ``column`` (its residual gain then
             enters the calibration);
    measured: t_k(codes) of the chip's neuron with those trims (+ timing noise of sd ``timing_noise``);
    chosen:   argmin over all code combinations of sum_k (t_k(codes) - t_k nominal)^2.

The search is exhaustive over the trims' codes (2^(bits_1 + bits_2 + ...) candidates per neuron,
each a one-input neuron, simulated by ``method``), so it finds the best codes whatever the circuit.
Trim codes are c in [-2^(bits-1), 2^(bits-1) - 1]; a trim of ``span`` adds c span / 2^bits volts
("V_th") or multiplies the parameter by exp(c span / 2^bits) (any per-neuron parameter name).

    trims = [Trim("V_th", bits=6, span="40m"), Trim("dis_I", bits=6, span=0.8)]
    calibrated = calibrate(circuit, deviation, trims)        # a LayerDeviation with the trims applied
"""
import itertools
import math
import warnings

import torch

from .solve import spike_times
from .units import parse_value
from .variation import LayerDeviation


class Trim:
    """A per-neuron trim DAC on ``target``: "V_th" (the comparator threshold, additive, ``span`` in
    volts) or the name of a per-neuron parameter (e.g. "dis_I", multiplicative: factors exp(+-span / 2));
    ``bits`` >= 1 bits, codes c in [-2^(bits-1), 2^(bits-1) - 1], one step span / 2^bits."""

    def __init__(self, target, bits=6, span="40m"):
        if not isinstance(target, str) or not target:
            raise ValueError(f"Trim: target must be 'V_th' or a parameter name such as 'dis_I', got {target!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 12:
            raise ValueError(f"Trim {target!r}: bits must be an integer in 1..12, got {bits!r}")
        self.target, self.bits = target, bits
        self.span = parse_value(span, f"Trim {target!r} span")
        if not (self.span > 0 and math.isfinite(self.span)):
            raise ValueError(f"Trim {target!r}: span must be a finite number > 0, got {span!r}")

    @property
    def codes(self):
        return torch.arange(-2 ** (self.bits - 1), 2 ** (self.bits - 1), dtype=torch.float64)

    def value(self, code):
        """The trim's effect at ``code``: volts added ("V_th") or the factor on the parameter."""
        step = self.span / 2 ** self.bits
        return code * step if self.target == "V_th" else torch.exp(code * step)

    def __repr__(self):
        return f"Trim({self.target!r}, bits={self.bits}, span={self.span:g})"


def trimmed(deviation, trims, codes):
    """``deviation`` with the trims at ``codes`` (one tensor [out] per trim) applied to its neurons."""
    factors = dict(deviation.factors)
    threshold = deviation.threshold
    for trim, code in zip(trims, codes):
        v = trim.value(code).to(deviation.gain_pos)
        if trim.target == "V_th":
            threshold = v if threshold is None else threshold + v
        else:
            factors[trim.target] = factors[trim.target] * v if trim.target in factors else v
    return LayerDeviation(deviation.gain_pos, deviation.gain_neg, factors, threshold)


def _check(circuit, trims):
    names = {s.name for s in circuit.values}
    if not trims:
        raise ValueError("calibrate: no trims given")
    for t in trims:
        if not isinstance(t, Trim):
            raise ValueError(f"calibrate: trims must be circuitnet.calibration.Trim, got {t!r}")
        if t.target != "V_th" and t.target not in names:
            raise ValueError(f"calibrate: trim target {t.target!r} is no parameter of the circuit; "
                             f"'V_th' or one of {sorted(names)}")
    if len({t.target for t in trims}) != len(trims):
        raise ValueError("calibrate: two trims on the same target")
    if 2 ** sum(t.bits for t in trims) > 2 ** 14:
        raise ValueError(f"calibrate: {2 ** sum(t.bits for t in trims)} code combinations per neuron; "
                         f"at most 2^14 (e.g. two 7-bit trims) are searched exhaustively")


def calibrate(circuit, deviation, trims, references=(0.2, 0.5, 0.8), column=None, timing_noise=0.0, method="exact",
              generator=None):
    """(calibrated LayerDeviation, codes [out, n_trims]) of one layer's chip (module docstring); a
    warning says how many neurons needed a code at the end of a trim's range (out of its reach).
    references: weights of the reference input (units of I_unit) of the stimuli; column: the input
    whose programmed device delivers them (None: the exact calibration source); timing_noise: sd of each spike-time measurement
    (normalised); generator: for that noise. Raises ValueError for trims that do not fit the circuit."""
    _check(circuit, trims)
    if not (timing_noise >= 0 and math.isfinite(timing_noise)):
        raise ValueError(f"calibrate: timing_noise must be a finite number >= 0, got {timing_noise!r}")
    out, n_in = deviation.shape
    if column is not None and not 0 <= column < n_in:
        raise ValueError(f"calibrate: column {column} outside the layer's {n_in} inputs")
    dtype = torch.float64
    grid = torch.tensor(list(itertools.product(*[t.codes.tolist() for t in trims])), dtype=dtype)   # [K, n]
    K = grid.shape[0]
    refs = torch.tensor([float(r) for r in references], dtype=dtype)
    t_in = torch.zeros(len(refs), 1, dtype=dtype)

    def times(dev, n):                       # spike times [len(refs), n] of a one-input layer for each stimulus
        rows = []
        for r in refs:
            w = torch.full((n, 1), float(r), dtype=dtype)
            rows.append(spike_times(circuit, t_in[:1], w, method=method, deviation=dev)[0][0])
        return torch.stack(rows)

    one = deviation.to(dtype)
    nominal = times(None, 1)                                   # [S, 1]
    ref = slice(0, 1) if column is None else slice(column, column + 1)
    gp, gn = one.gain_pos[:, ref], one.gain_neg[:, ref]
    if column is None:
        gp, gn = torch.ones_like(gp), torch.ones_like(gn)
    expanded = LayerDeviation(gp.repeat_interleave(K, 0), gn.repeat_interleave(K, 0),
                              {k: v.repeat_interleave(K) for k, v in one.factors.items()},
                              None if one.threshold is None else one.threshold.repeat_interleave(K))
    codes = [grid[:, i].repeat(out) for i in range(len(trims))]
    measured = times(trimmed(expanded, trims, codes), out * K)  # [S, out K]
    if timing_noise:
        measured = measured + timing_noise * torch.randn(measured.shape, generator=generator, dtype=dtype)
    cost = ((measured - nominal) ** 2).sum(0).reshape(out, K)
    best = grid[cost.argmin(1)]                                # [out, n]
    rail = torch.stack([(best[:, i] == t.codes[0]) | (best[:, i] == t.codes[-1]) for i, t in enumerate(trims)], 1)
    if rail.any():
        names = [t.target for i, t in enumerate(trims) if rail[:, i].any()]
        warnings.warn(f"calibrate: {int(rail.any(1).sum())} of {out} neurons need a trim at the end of its range "
                      f"({', '.join(names)}): the trim cannot reach what they need; widen its span", stacklevel=2)
    return trimmed(deviation, trims, [best[:, i] for i in range(len(trims))]), best

