"""The model's bench: a chip of the model (a circuitnet.variation.LayerDeviation) measured by a solve method.

Each stimulus is one reference input at t = 0 of weight r (units of I_unit), delivered by the chip's
calibration current source (``column=None``: exact) or through the programmed crossbar device of
input ``column`` (its residual gain then enters the calibration); a measurement is the neuron's spike
time from ``spike_times(..., method=method, deviation=...)`` plus timing noise of sd ``timing_noise``
(normalised time). Trims act on the deviation: "V_th" adds volts to the comparator offset, any other
per-neuron parameter is multiplied by the trim's factor (:func:`trimmed`).
"""
import torch

from .. import solve
from ..compile import compile_circuit
from ..variation import LayerDeviation


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


class ModelBench:
    """Measures spike times of ``deviation``'s neurons (one layer of the model's chip) for the
    calibration search (circuitnet.chip.calibrate; module docstring)."""

    def __init__(self, circuit, deviation, method="exact", column=None, timing_noise=0.0, generator=None):
        if not isinstance(deviation, LayerDeviation):
            raise ValueError(f"ModelBench: expected a circuitnet.variation.LayerDeviation, got {type(deviation).__name__}")
        self.method = solve.method(method)
        why = self.method.unsupported(compile_circuit(circuit))
        if why:
            raise ValueError(f"calibrate: {why}; calibrate (and models.calibrate_chip) take method=, e.g. method='ode'")
        if not (timing_noise >= 0 and timing_noise < float("inf")):
            raise ValueError(f"calibrate: timing_noise must be a finite number >= 0, got {timing_noise!r}")
        self.out, n_in = deviation.shape
        if column is not None and not 0 <= column < n_in:
            raise ValueError(f"calibrate: column {column} outside the layer's {n_in} inputs")
        self.circuit, self.deviation, self.timing_noise, self.generator = circuit, deviation, timing_noise, generator
        one = deviation.to(torch.float64)
        self.one = one
        ref = slice(0, 1) if column is None else slice(column, column + 1)
        self.gp, self.gn = one.gain_pos[:, ref], one.gain_neg[:, ref]
        if column is None:
            self.gp, self.gn = torch.ones_like(self.gp), torch.ones_like(self.gn)

    def check(self, trims):
        names = {s.name for s in self.circuit.values}
        for t in trims:
            if t.target != "V_th" and t.target not in names:
                raise ValueError(f"calibrate: trim target {t.target!r} is no parameter of the circuit; "
                                 f"'V_th' or one of {sorted(names)}")

    def _times(self, dev, n, refs):          # spike times [S, n] of a one-input layer for each stimulus
        t_in = torch.zeros(1, 1, dtype=torch.float64)
        return torch.stack([solve.spike_times(self.circuit, t_in, torch.full((n, 1), float(r), dtype=torch.float64),
                                              method=self.method, deviation=dev)[0][0] for r in refs])

    def nominal(self, refs):
        """Spike times [S] of the nominal neuron."""
        return self._times(None, 1, refs)[:, 0]

    def measure(self, trims, candidates, refs):
        """Spike times [out, K, S] of every neuron at each of its candidate codes [out, K, n_trims]."""
        out, K = candidates.shape[:2]
        one = self.one
        expanded = LayerDeviation(self.gp.repeat_interleave(K, 0), self.gn.repeat_interleave(K, 0),
                                  {k: v.repeat_interleave(K) for k, v in one.factors.items()},
                                  None if one.threshold is None else one.threshold.repeat_interleave(K))
        codes = [candidates[:, :, i].reshape(-1) for i in range(len(trims))]
        measured = self._times(trimmed(expanded, trims, codes), out * K, refs)
        if self.timing_noise:
            measured = measured + self.timing_noise * torch.randn(measured.shape, generator=self.generator,
                                                                  dtype=measured.dtype)
        return measured.t().reshape(out, K, -1)

    def trimmed(self, trims, codes):
        """The bench's deviation with ``codes`` [out, n_trims] applied."""
        return trimmed(self.deviation, trims, [codes[:, i] for i in range(len(trims))])
