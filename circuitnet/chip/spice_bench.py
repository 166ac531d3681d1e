"""The ngspice bench: a drawn sky130 chip (circuitnet.spice.LayerChip) brought up in ngspice: what a
test bench measures on it, how its weights are programmed and its neurons trimmed, and the model of
the result.

* :func:`device_currents`: the current each on device of a layer carries at its bias (its drain held
  at the reset level V0), by one ngspice operating point of all of them: the chip's current
  measurement.
* :func:`program`: program-and-verify of every crossbar device a weight selects, through the
  programmer's gate DAC (circuitnet.chip.WeightProgrammer.verify, the same loop as the model's):
  measure, correct the code by round(-ln(I / I_target) / step), ``iterations`` times. The code moves
  the gate by code x lsb volts, up for an nfet, down for a pfet (both raise the current).
* :class:`SpiceBench`: the bench circuitnet.chip.calibrate measures per-neuron trims on, from spike
  times alone: every neuron receives the reference stimuli (one input at t = 0 through the chip's
  calibration device, a nominal transistor in an extra crossbar column, weights ``references``) with
  its other inputs silent; its membrane is simulated once per code of the bias trim a search asks
  for, and every comparator code is read off the same waveforms (the comparator reads the membrane;
  it does not load it).
* :func:`deviation`: the chip as the model sees it (circuitnet.variation.LayerDeviation): each device's
  measured current over its target, each trimmed neuron device's over its nominal, the comparator's
  offset plus trim. ``spike_times(..., method="exact", deviation=deviation(...))`` is the model's
  prediction for that chip, which method "spice" on the chip checks.
"""
import itertools

import numpy as np
import torch

from ..spice.chip import LayerChip
from ..spice.netlist import LayerNetlist
from ..spice.runner import run
from ..spice.simulate import comparator, realised_tables, spice_spike_times
from ..variation import LayerDeviation
from .programming import WeightProgrammer


def _bench(circuit, technology):
    tech = technology if technology is not None else circuit.technology
    if tech is None or getattr(tech, "mismatch", False):
        raise ValueError("a chip's bench needs the circuit's technology without random mismatch "
                         "(the chip sets each device's draw)")
    return tech, LayerNetlist(circuit, tech, realised_tables(circuit, tech))


def _check(chip, weight):
    if not isinstance(chip, LayerChip):
        raise ValueError(f"expected a circuitnet.spice.chip.LayerChip, got {type(chip).__name__}")
    if tuple(chip.shape) != tuple(weight.shape):
        raise ValueError(f"the chip was drawn for a layer of shape {tuple(chip.shape)}, the weight is {tuple(weight.shape)}")
    w = np.asarray(weight.detach().cpu().double() if torch.is_tensor(weight) else weight, float)
    if not np.isfinite(w).all():
        raise ValueError("the weights must be finite")
    return w


def device_currents(circuit, chip, weight, technology=None):
    """(I [out, in], targets [out, in], {name: I [out]}, {name: nominal I}) in A, from one ngspice
    operating point with every drain at V0: the current of each crossbar device a weight selects at
    its (programmed) bias (NaN where none is selected: weight 0 or a current below the extracted
    range) and its target |w| I_unit; the current of each neuron's own realised device (e.g. "dis")
    at its (trimmed) bias and its declared current."""
    w = _check(chip, weight)
    tech, nl = _bench(circuit, technology)
    syn = (circuit.synapse.positive, circuit.synapse.negative)
    v0 = circuit.V0_value
    lines, probes = [nl.tech.header(nl.devices), f"Vdd vdd 0 {tech.vdd}"], []
    target = np.abs(w) * nl.unit_current

    def device(tag, element, current, z, dv):
        lines.extend([f"Vd{tag} d{tag} 0 {v0:.9g}", f"Vg{tag} g{tag} 0 {nl.gate(element, current) + dv:.12g}",
                      nl.instance(tag, element, f"d{tag}", f"g{tag}", z=z)])
        probes.append(f"i(vd{tag})")

    out, n_in = w.shape
    for i, j in itertools.product(range(out), range(n_in)):
        k = 0 if w[i, j] > 0 else 1
        if w[i, j] != 0 and not nl.held_off(syn[k], [(0.0, 1.0)], target[i, j]):
            device(f"s{i}_{j}", syn[k], target[i, j], (chip.z_pos, chip.z_neg)[k][i, j],
                   (chip.gate_pos, chip.gate_neg)[k][i, j])
    own = [e for e in circuit.all_elements if e.silicon is not None and e not in syn]
    nominal = {e.name: nl.device_current(e) for e in own}
    for e in own:
        f = chip.factor.get(e.name, np.ones(out))
        for i in range(out):
            device(f"n{e.name}_{i}", e, nominal[e.name] * f[i], chip.z_neuron.get(e.name, np.zeros(out))[i], 0.0)
    res = run("\n".join(lines), probes, "op")
    current = lambda tag: abs(float(res[f"i(vd{tag})"][0]))
    I = np.full(w.shape, np.nan)
    for i, j in itertools.product(range(out), range(n_in)):
        if f"i(vds{i}_{j})" in res:
            I[i, j] = current(f"s{i}_{j}")
    own_I = {e.name: np.array([current(f"n{e.name}_{i}") for i in range(out)]) for e in own}
    return I, target, own_I, nominal


def program(circuit, chip, weight, programmer, generator=None, technology=None):
    """The chip with ``gate_pos`` / ``gate_neg`` set by ``programmer`` (a WeightProgrammer) for
    ``weight`` [out, in]: program-and-verify against the devices' currents measured in ngspice
    (module docstring); measurement noise from ``generator``."""
    if not isinstance(programmer, WeightProgrammer):
        raise ValueError(f"program: expected a circuitnet.chip.WeightProgrammer, got {programmer!r}")
    w = _check(chip, weight)
    positive = torch.as_tensor(w > 0)
    sign = torch.where(positive, 1.0, -1.0).double()                 # gate moves up (nfet), down (pfet)
    step = torch.where(positive, programmer.step(0), programmer.step(1)).double()

    def at(code):
        gate = (sign * code * programmer.lsb).numpy()
        return chip.replace(gate_pos=np.where(w > 0, gate, chip.gate_pos), gate_neg=np.where(w < 0, gate, chip.gate_neg))

    def measure(code):
        I, target = device_currents(circuit, at(code), w, technology)[:2]
        return torch.as_tensor(np.nan_to_num(np.log(I / np.where(target > 0, target, 1.0)), nan=0.0))

    return at(programmer.verify(measure, step, w.shape, generator))


def deviation(circuit, chip, weight, technology=None):
    """The model of the chip (module docstring): a LayerDeviation (float64) whose gains are each
    device's current over the nominal device's at the nominal bias on the same bench (the model's
    nominal circuit is the one the nominal netlist realises; this keeps the extraction's small
    interpolation error out of the gains)."""
    w = _check(chip, weight)
    nominal = LayerChip.nominal(*chip.shape, chip.z_neuron)
    I, _, own_I, _ = device_currents(circuit, chip, w, technology)
    I0, _, own_0, _ = device_currents(circuit, nominal, w, technology)
    gain = torch.as_tensor(np.where(np.isfinite(I), I / np.where(np.isfinite(I0), I0, 1.0), 1.0))
    ones = torch.ones_like(gain)
    factors = {e.symbol("I").name: torch.as_tensor(own_I[e.name] / own_0[e.name])
               for e in circuit.all_elements if e.name in own_I}
    return LayerDeviation(torch.where(torch.as_tensor(w > 0), gain, ones), torch.where(torch.as_tensor(w < 0), gain, ones),
                          factors, torch.as_tensor(chip.offset + chip.trim))


class SpiceBench:
    """Measures spike times of ``chip``'s neurons (a LayerChip of ``circuit``) in ngspice for the
    calibration search (circuitnet.chip.calibrate; module docstring). Trims: "V_th" (the comparator)
    and/or the current of one realised neuron device (e.g. "dis_I"), at most one of each."""

    def __init__(self, circuit, chip, technology=None, workers=None):
        if not isinstance(chip, LayerChip):
            raise ValueError(f"calibrate: expected a circuitnet.spice.LayerChip, got {type(chip).__name__}")
        self.circuit, self.chip, self.technology, self.workers = circuit, chip, technology, workers
        self.out, self.n_in = chip.shape

    def _element(self, trim):
        """The realised neuron device a multiplicative trim acts on (its current parameter, e.g. "dis_I")."""
        c = self.circuit
        own = [e for e in c.all_elements if e.silicon is not None and e not in (c.synapse.positive, c.synapse.negative)
               and "I" in e.values]
        for e in own:
            if e.symbol("I").name == trim.target:
                return e
        raise ValueError(f"calibrate: trim target {trim.target!r} is not the current of a realised neuron device; "
                         f"'V_th' or one of {[e.symbol('I').name for e in own]}")

    def check(self, trims):
        bias = [t for t in trims if t.target != "V_th"]
        if len(bias) > 1:
            raise ValueError("calibrate: at most one comparator trim ('V_th') and one bias trim")
        for t in bias:
            self._element(t)

    def _run(self, src, rows, factor, element, refs):
        """Waveforms of neurons ``rows`` of chip ``src`` (the bias trim's factor on ``element``) under every
        stimulus: [(time, V [n_t, 1, n])] in the order (row, stimulus)."""
        n, S = len(rows), len(refs)
        pad = lambda a: np.concatenate([a[rows], np.zeros((n, 1))], 1)   # the calibration column: nominal
        bc = LayerChip(pad(src.z_pos), pad(src.z_neg), {k: v[rows] for k, v in src.z_neuron.items()}, np.zeros(n),
                       factor={element.name: factor} if element is not None else None)
        weight = np.zeros((n * S, self.n_in + 1))
        weight[:, -1] = np.tile(refs, n)
        bc = bc.rows(np.repeat(np.arange(n), S))
        t_in = torch.full((1, self.n_in + 1), float("inf"), dtype=torch.float64)
        t_in[0, -1] = 0.0
        record = []
        spice_spike_times(self.circuit, t_in, torch.as_tensor(weight), self.technology, workers=self.workers,
                          record=record, chip=bc)
        return record

    def _times(self, record, offset):
        """Spike times [rows] of ``record``'s waveforms with comparator offsets [rows] (V)."""
        out_t, k = [], 0
        for time, V in record:
            n = V.shape[2]
            out_t.append(comparator(time, V.reshape(len(time), n), self.circuit, offset[k:k + n])[0])
            k += n
        return np.concatenate(out_t)

    def nominal(self, refs):
        """Spike times [S] of the nominal neuron on the same bench."""
        refs = np.asarray(refs, float)
        nominal = LayerChip.nominal(1, self.n_in, self.chip.z_neuron)
        return self._times(self._run(nominal, np.zeros(1, dtype=int), np.ones(1), None, refs), np.zeros(len(refs)))

    def measure(self, trims, candidates, refs):
        """Spike times [out, K, S] of every neuron at its candidate codes [out, K, n_trims]: one transient
        per distinct (neuron, bias code), every comparator code read off its waveforms."""
        refs = np.asarray(refs, float)
        S = len(refs)
        cand = np.asarray(candidates, float)
        out, K = cand.shape[:2]
        ib = [i for i, t in enumerate(trims) if t.target != "V_th"]
        ic = [i for i, t in enumerate(trims) if t.target == "V_th"]
        neuron = np.repeat(np.arange(out), K)
        bias = cand[:, :, ib[0]].reshape(-1) if ib else np.zeros(out * K)
        pairs, which = np.unique(np.stack([neuron, bias], 1), axis=0, return_inverse=True)
        which = which.reshape(-1)
        rows = pairs[:, 0].astype(int)
        element = self._element(trims[ib[0]]) if ib else None
        factor = np.asarray(trims[ib[0]].value(torch.as_tensor(pairs[:, 1])), float) if ib else np.ones(len(rows))
        record = self._run(self.chip, rows, factor, element, refs)            # rows (pair, stimulus)
        comp = cand[:, :, ic[0]].reshape(-1) if ic else np.zeros(out * K)
        t = np.empty((out * K, S))
        for code in np.unique(comp):
            trim_v = float(trims[ic[0]].value(torch.tensor(float(code)))) if ic else 0.0
            at = self._times(record, np.repeat(self.chip.offset[rows] + trim_v, S)).reshape(len(rows), S)
            sel = comp == code
            t[sel] = at[which[sel]]
        return torch.as_tensor(t.reshape(out, K, S))

    def trimmed(self, trims, codes):
        """The chip with its trims set at ``codes`` [out, n_trims]."""
        changes = {}
        for i, t in enumerate(trims):
            value = np.asarray(t.value(torch.as_tensor(np.asarray(codes[:, i], float))), float)
            if t.target == "V_th":
                changes["trim"] = value
            else:
                changes["factor"] = dict(self.chip.factor, **{self._element(t).name: value})
        return self.chip.replace(**changes)
