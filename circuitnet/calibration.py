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

The search is coarse to fine: every combination of 2^COARSE_BITS = 16 codes per trim (every
2^(bits-4)-th code), then every combination within two coarse steps of the best, moved to the best
of that window until it stays (each candidate a one-input neuron simulated by ``method``). The
offset and discharger trims trade against each other along a narrow valley of the cost, which the
moving window follows where a single refinement stopped short of the optimum. On 200 programmed
neurons at sky130's spreads (two 6-bit trims) the spike-time RMSE after calibration is 3.66 ns
against 3.69 ns for the exhaustive search over all 4096 combinations (99 ns as drawn), at a quarter
of its time.
Trim codes are c in [-2^(bits-1), 2^(bits-1) - 1]; a trim of ``span`` adds c span / 2^bits volts
("V_th") or multiplies the parameter by exp(c span / 2^bits) (any per-neuron parameter name).

    trims = [Trim("V_th", bits=6, span="40m"), Trim("dis_I", bits=6, span=0.8)]
    calibrated = calibrate(circuit, deviation, trims)        # a LayerDeviation with the trims applied
"""
import itertools
import math
import warnings

import torch

from . import solve
from .compile import compile_circuit
from .solve import spike_times
from .units import parse_value
from .variation import LayerDeviation

COARSE_BITS = 4         # codes per trim in the coarse stage of the search: 2^COARSE_BITS
FINE_ROUNDS = 16        # at most this many moves of the fine window (each up to two coarse steps)


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
    if len(trims) > 3:
        raise ValueError(f"calibrate: {len(trims)} trims; at most 3 are searched together")


def calibrate(circuit, deviation, trims, references=(0.2, 0.5, 0.8), column=None, timing_noise=0.0, method="exact",
              generator=None):
    """(calibrated LayerDeviation, codes [out, n_trims]) of one layer's chip (module docstring); a
    warning says how many neurons needed a code at the end of a trim's range (out of its reach).
    references: weights of the reference input (units of I_unit) of the stimuli; column: the input
    whose programmed device delivers them (None: the exact calibration source); timing_noise: sd of each spike-time measurement
    (normalised); generator: for that noise. Raises ValueError for trims that do not fit the circuit."""
    _check(circuit, trims)
    why = solve.method(method).unsupported(compile_circuit(circuit))
    if why:
        raise ValueError(f"calibrate: {why}; calibrate (and models.calibrate_chip) take method=, e.g. method='ode'")
    if not (timing_noise >= 0 and math.isfinite(timing_noise)):
        raise ValueError(f"calibrate: timing_noise must be a finite number >= 0, got {timing_noise!r}")
    out, n_in = deviation.shape
    if column is not None and not 0 <= column < n_in:
        raise ValueError(f"calibrate: column {column} outside the layer's {n_in} inputs")
    dtype = torch.float64
    refs = torch.tensor([float(r) for r in references], dtype=dtype)
    t_in = torch.zeros(1, 1, dtype=dtype)

    def times(dev, n):                       # spike times [len(refs), n] of a one-input layer for each stimulus
        return torch.stack([spike_times(circuit, t_in, torch.full((n, 1), float(r), dtype=dtype), method=method,
                                        deviation=dev)[0][0] for r in refs])

    one = deviation.to(dtype)
    nominal = times(None, 1)                                   # [S, 1]
    ref = slice(0, 1) if column is None else slice(column, column + 1)
    gp, gn = one.gain_pos[:, ref], one.gain_neg[:, ref]
    if column is None:
        gp, gn = torch.ones_like(gp), torch.ones_like(gn)

    def search(candidates):                  # the best of candidate codes [out, K, n] per neuron, by measurement
        K = candidates.shape[1]
        expanded = LayerDeviation(gp.repeat_interleave(K, 0), gn.repeat_interleave(K, 0),
                                  {k: v.repeat_interleave(K) for k, v in one.factors.items()},
                                  None if one.threshold is None else one.threshold.repeat_interleave(K))
        measured = times(trimmed(expanded, trims, [candidates[:, :, i].reshape(-1) for i in range(len(trims))]),
                         out * K)
        if timing_noise:
            measured = measured + timing_noise * torch.randn(measured.shape, generator=generator, dtype=dtype)
        cost = ((measured - nominal) ** 2).sum(0).reshape(out, K)
        if torch.isnan(cost).any():
            raise RuntimeError(f"calibrate: {int(torch.isnan(cost).sum())} candidate trims gave no spike time (NaN)")
        return candidates[torch.arange(out), cost.argmin(1)]  # [out, n]

    strides = [2 ** max(0, t.bits - COARSE_BITS) for t in trims]
    coarse = torch.tensor(list(itertools.product(*[t.codes[s // 2::s].tolist() for t, s in zip(trims, strides)])),
                          dtype=dtype)
    best = search(coarse.expand(out, -1, -1))
    window = torch.tensor(list(itertools.product(*[range(-2 * s, 2 * s + 1) for s in strides])), dtype=dtype)
    lo = torch.tensor([t.codes[0] for t in trims], dtype=dtype)
    hi = torch.tensor([t.codes[-1] for t in trims], dtype=dtype)
    for _ in range(FINE_ROUNDS):             # then every code within two coarse steps, until the best stays
        moved = search(torch.minimum(torch.maximum(best[:, None, :] + window[None], lo), hi))
        if torch.equal(moved, best):
            break
        best = moved
    rail = torch.stack([(best[:, i] == t.codes[0]) | (best[:, i] == t.codes[-1]) for i, t in enumerate(trims)], 1)
    if rail.any():
        names = [t.target for i, t in enumerate(trims) if rail[:, i].any()]
        warnings.warn(f"calibrate: {int(rail.any(1).sum())} of {out} neurons need a trim at the end of its range "
                      f"({', '.join(names)}): the trim cannot reach what they need; widen its span", stacklevel=2)
    return trimmed(deviation, trims, [best[:, i] for i in range(len(trims))]), best

