"""Bringing up a drawn sky130 chip (circuitnet.spice.chip.LayerChip) in ngspice: what a test bench
measures on it, how its weights are programmed and its neurons trimmed, and the model of the result.

* :func:`device_currents`: the current each on device of a layer carries at its bias (its drain held
  at the reset level V0), by one ngspice operating point of all of them: the chip's current
  measurement.
* :func:`program`: program-and-verify of every crossbar device a weight selects, through the
  programmer's gate DAC (circuitnet.programming.WeightProgrammer.verify, the same loop as the model's):
  measure, correct the code by round(-ln(I / I_target) / step), ``iterations`` times. The code moves
  the gate by code x lsb volts, up for an nfet, down for a pfet (both raise the current).
* :func:`calibrate`: per-neuron trims from spike times alone (circuitnet.calibration's procedure):
  every neuron receives the reference stimuli (one input at t = 0 through the chip's calibration
  device, a nominal transistor in an extra crossbar column, weights ``references``) with its other
  inputs silent; its membrane is simulated once per code of the bias trim, and the comparator trim is
  read off the same waveforms (the comparator reads the membrane; it does not load it). The codes
  whose spike times come closest to the nominal chip's on the same bench (sum of squares) are
  chosen: every comparator code with every 2^(bits-4)-th bias code, then with every bias code
  within one such stride of the best.
* :func:`deviation`: the chip as the model sees it (circuitnet.variation.LayerDeviation): each device's
  measured current over its target, each trimmed neuron device's over its nominal, the comparator's
  offset plus trim. ``spike_times(..., method="exact", deviation=deviation(...))`` is the model's
  prediction for that chip, which method "spice" on the chip checks.
"""
import itertools
import warnings

import numpy as np
import torch

from ..calibration import COARSE_BITS, Trim
from ..programming import WeightProgrammer
from ..variation import LayerDeviation
from .chip import LayerChip
from .netlist import LayerNetlist
from .runner import run
from .simulate import comparator, realised_tables, spice_spike_times


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
    target = np.abs(w) * nl._unit_current

    def device(tag, element, current, z, dv):
        tab = nl.tables[element.name]
        lines.extend([f"Vd{tag} d{tag} 0 {v0:.9g}", f"Vg{tag} g{tag} 0 {float(tab.gate_for(current)) + dv:.12g}",
                      nl._instance(tag, element, f"d{tag}", f"g{tag}", z=z)])
        probes.append(f"i(vd{tag})")

    out, n_in = w.shape
    for i, j in itertools.product(range(out), range(n_in)):
        k = 0 if w[i, j] > 0 else 1
        if w[i, j] != 0 and not nl._held_off(syn[k], [(0.0, 1.0)], target[i, j]):
            device(f"s{i}_{j}", syn[k], target[i, j], (chip.z_pos, chip.z_neg)[k][i, j],
                   (chip.gate_pos, chip.gate_neg)[k][i, j])
    own = [e for e in circuit.all_elements if e.silicon is not None and e not in syn]
    nominal = {e.name: nl._device_current(e) for e in own}
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
        raise ValueError(f"program: expected a circuitnet.programming.WeightProgrammer, got {programmer!r}")
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


def _trim_element(circuit, trim):
    """The realised neuron device a multiplicative trim acts on (its current parameter, e.g. "dis_I")."""
    syn = (circuit.synapse.positive, circuit.synapse.negative)
    for e in circuit.all_elements:
        if e.silicon is not None and e not in syn and "I" in e.values and e.symbol("I").name == trim.target:
            return e
    names = [e.symbol("I").name for e in circuit.all_elements if e.silicon is not None and e not in syn and "I" in e.values]
    raise ValueError(f"calibrate: trim target {trim.target!r} is not the current of a realised neuron device; "
                     f"'V_th' or one of {names}")


def calibrate(circuit, chip, trims, references=(0.2, 0.5, 0.8), technology=None, workers=None):
    """(the chip with its trims set, codes [out, n_trims]) from spike times (module docstring).
    trims: circuitnet.calibration.Trim on "V_th" (the comparator) and/or one neuron device's current
    (e.g. "dis_I"), at most one of each."""
    if not isinstance(chip, LayerChip):
        raise ValueError(f"calibrate: expected a circuitnet.spice.chip.LayerChip, got {type(chip).__name__}")
    if not trims or not all(isinstance(t, Trim) for t in trims):
        raise ValueError(f"calibrate: trims must be a non-empty list of circuitnet.calibration.Trim, got {trims!r}")
    comp = [t for t in trims if t.target == "V_th"]
    bias = [t for t in trims if t.target != "V_th"]
    if len(comp) > 1 or len(bias) > 1:
        raise ValueError("calibrate: at most one comparator trim ('V_th') and one bias trim")
    element = _trim_element(circuit, bias[0]) if bias else None
    out, n_in = chip.shape
    refs = np.asarray([float(r) for r in references])
    if refs.size == 0 or not (np.isfinite(refs).all() and (refs > 0).all()):
        raise ValueError(f"calibrate: references must be weights > 0 (units of I_unit), got {tuple(references)!r}")
    S = len(refs)
    bias_codes = bias[0].codes.numpy() if bias else np.zeros(1)
    comp_codes = comp[0].codes.numpy() if comp else np.zeros(1)

    def bench(src, rows, factor):       # each row a neuron of chip src (its devices, the bias trim factor)
        n = len(rows)
        pad = lambda a: np.concatenate([a[rows], np.zeros((n, 1))], 1)   # the calibration column: nominal
        bc = LayerChip(pad(src.z_pos), pad(src.z_neg), {k: v[rows] for k, v in src.z_neuron.items()}, np.zeros(n),
                       factor={element.name: factor} if element is not None else None)
        weight = np.zeros((n * S, n_in + 1))
        weight[:, -1] = np.tile(refs, n)
        bc = bc.rows(np.repeat(np.arange(n), S))
        t_in = torch.full((1, n_in + 1), float("inf"), dtype=torch.float64)
        t_in[0, -1] = 0.0
        record = []
        spice_spike_times(circuit, t_in, torch.as_tensor(weight), technology, workers=workers, record=record, chip=bc)
        return record                   # [(time, V [n_t, 1, rows])] in row order

    def times(record, offset):          # spike times [rows] with comparator offsets [rows] (V)
        out_t, k = [], 0
        for time, V in record:
            n = V.shape[2]
            out_t.append(comparator(time, V.reshape(len(time), n), circuit, offset[k:k + n])[0])
            k += n
        return np.concatenate(out_t)

    t_nom = times(bench(LayerChip.nominal(1, n_in, chip.z_neuron), np.zeros(1, dtype=int), np.ones(1)),
                  np.zeros(S))                                                             # [S]

    def costs(cand):                    # cost [out, K, n_comp] of bias codes cand [out, K], every comparator code
        K = cand.shape[1]
        rows = np.repeat(np.arange(out), K)
        factor = np.asarray(bias[0].value(torch.as_tensor(cand.reshape(-1))), float) if bias else np.ones(len(rows))
        record = bench(chip, rows, factor)                                       # rows (neuron, code, stimulus)
        cost = np.empty((out, K, len(comp_codes)))
        for c, code in enumerate(comp_codes):
            trim_v = float(comp[0].value(torch.tensor(float(code)))) if comp else 0.0
            t = times(record, np.repeat(chip.offset[rows] + trim_v, S)).reshape(out, K, S)
            cost[:, :, c] = ((t - t_nom) ** 2).sum(2)
        return cost

    def best(cand):                     # (bias code, comparator code index) [out] minimising the cost
        cost = costs(cand)
        k, c = np.unravel_index(cost.reshape(out, -1).argmin(1), cost.shape[1:])
        return cand[np.arange(out), k], c

    stride = 2 ** max(0, bias[0].bits - COARSE_BITS) if bias else 1
    kb, kc = best(np.tile(bias_codes[stride // 2::stride], (out, 1)))            # every stride-th code, then
    if stride > 1:                                                              # every code within a stride
        window = np.clip(kb[:, None] + np.arange(-stride, stride + 1)[None], bias_codes[0], bias_codes[-1])
        kb, kc = best(window)
    rail = [(kb == bias_codes[0]) | (kb == bias_codes[-1]) if bias else np.zeros(out, bool),
            (comp_codes[kc] == comp_codes[0]) | (comp_codes[kc] == comp_codes[-1]) if comp else np.zeros(out, bool)]
    if (rail[0] | rail[1]).any():
        warnings.warn(f"calibrate: {int((rail[0] | rail[1]).sum())} of {out} neurons need a trim at the end of its "
                      f"range: the trim cannot reach what they need; widen its span", stacklevel=2)
    codes, changes = [], {}
    for t in trims:
        if t.target == "V_th":
            codes.append(comp_codes[kc])
            changes["trim"] = np.asarray(t.value(torch.as_tensor(comp_codes[kc])), float)
        else:
            codes.append(kb)
            changes["factor"] = dict(chip.factor, **{element.name: np.asarray(t.value(torch.as_tensor(kb)), float)})
    return chip.replace(**changes), np.stack(codes, 1)
