"""Per-neuron calibration from what a chip can measure: spike times out for known stimuli in.

A mixed-signal neuromorphic chip trims every neuron before use from measurements it can make on
the chip itself. A neuron has trim DACs (:class:`Trim`) on per-neuron parameters, e.g. its
comparator offset ("V_th", additive, volts) and its discharger's bias ("dis_I", multiplicative on
the discharger current). Calibration never reads a device's parameters: a *bench* applies stimuli
to the neurons, reads their spike times, and the codes whose spike times come closest to the
nominal neuron's for the same stimuli are chosen:

    stimuli:  one reference input at t = 0 with weights ``references`` (default 0.2, 0.5, 0.8 units
              of I_unit: spikes inside the window; with no input the paper's neuron fires just at
              its end);
    measured: t_k(codes) of each neuron with those trims, bench.measure;
    chosen:   argmin over code combinations of sum_k (t_k(codes) - t_k nominal)^2.

The benches (circuitnet.chip.benches): :class:`~circuitnet.chip.benches.ModelBench`, a chip of the
model (a LayerDeviation) measured by a solve method, and
:class:`~circuitnet.chip.benches.SpiceBench`, a drawn sky130 chip measured in ngspice. Both go
through the one search here, coarse to fine: every combination of 2^COARSE_BITS = 16 codes per trim
(every 2^(bits-4)-th code), then every combination within two coarse steps of the best, moved to
the best of that window until it stays. The offset and discharger trims trade against each other
along a narrow valley of the cost, which the moving window follows where a single refinement
stopped short of the optimum. On 200 programmed neurons at sky130's spreads (two 6-bit trims) the
spike-time RMSE after calibration is 3.66 ns against 3.69 ns for the exhaustive search over all
4096 combinations (99 ns as drawn), at a quarter of its time.
Trim codes are c in [-2^(bits-1), 2^(bits-1) - 1]; a trim of ``span`` adds c span / 2^bits volts
("V_th") or multiplies the parameter by exp(c span / 2^bits) (any per-neuron parameter name).

    trims = [Trim("V_th", bits=6, span="40m"), Trim("dis_I", bits=6, span=0.8)]
    calibrated, codes = calibrate(ModelBench(circuit, deviation), trims)   # the deviation, trimmed
"""
import itertools
import math
import warnings

import torch

from ..units import parse_value

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
        code = torch.as_tensor(code, dtype=torch.float64)
        return code * step if self.target == "V_th" else torch.exp(code * step)

    def __repr__(self):
        return f"Trim({self.target!r}, bits={self.bits}, span={self.span:g})"


def check_trims(trims, references):
    """The references as a float64 tensor; ValueError for trims or references no bench can use."""
    if not trims or not all(isinstance(t, Trim) for t in trims):
        raise ValueError(f"calibrate: trims must be a non-empty list of circuitnet.chip.Trim, got {trims!r}")
    if len({t.target for t in trims}) != len(trims):
        raise ValueError("calibrate: two trims on the same target")
    if len(trims) > 3:
        raise ValueError(f"calibrate: {len(trims)} trims; at most 3 are searched together")
    refs = torch.tensor([float(r) for r in references], dtype=torch.float64)
    if refs.numel() == 0 or not (torch.isfinite(refs).all() and (refs > 0).all()):
        raise ValueError(f"calibrate: references must be weights > 0 (units of I_unit), got {tuple(references)!r}")
    return refs


def calibrate(bench, trims, references=(0.2, 0.5, 0.8)):
    """(the calibrated chip, codes [out, n_trims]) of ``bench``'s chip (module docstring): the bench's
    ``trimmed(trims, codes)``. A warning says how many neurons needed a code at the end of a trim's
    range (out of its reach). Raises ValueError for trims that do not fit the bench's circuit."""
    refs = check_trims(trims, references)
    bench.check(trims)
    nominal = torch.as_tensor(bench.nominal(refs), dtype=torch.float64)       # [S]
    out = bench.out

    def search(candidates):                  # the best of candidate codes [out, K, n] per neuron, by measurement
        measured = torch.as_tensor(bench.measure(trims, candidates, refs), dtype=torch.float64)   # [out, K, S]
        cost = ((measured - nominal) ** 2).sum(-1)
        if torch.isnan(cost).any():
            raise RuntimeError(f"calibrate: {int(torch.isnan(cost).sum())} candidate trims gave no spike time (NaN)")
        return candidates[torch.arange(out), cost.argmin(1)]  # [out, n]

    strides = [2 ** max(0, t.bits - COARSE_BITS) for t in trims]
    coarse = torch.tensor(list(itertools.product(*[t.codes[s // 2::s].tolist() for t, s in zip(trims, strides)])),
                          dtype=torch.float64)
    best = search(coarse.expand(out, -1, -1))
    window = torch.tensor(list(itertools.product(*[range(-2 * s, 2 * s + 1) for s in strides])), dtype=torch.float64)
    lo = torch.tensor([t.codes[0] for t in trims], dtype=torch.float64)
    hi = torch.tensor([t.codes[-1] for t in trims], dtype=torch.float64)
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
    return bench.trimmed(trims, best), best
