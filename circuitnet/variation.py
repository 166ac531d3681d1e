"""Device mismatch: the spreads a circuit declares, one seeded draw of them, and how a draw enters the model.

Declaration, in physical terms:

* ``Element(..., mismatch=Mismatch(I=0.3, lam=0.01))``: relative standard deviation (sd / mean) of
  each named parameter from one device to the next. On a synapse device the spread of the weight
  parameter (a MOSFET's ``I``) is the spread of the device current that a weight programs.
  :meth:`Mismatch.pelgrom` gives a MOSFET's current spread from Pelgrom's area law.
* ``NeuronCircuit(..., threshold_offset="5m")``: standard deviation (V) of the comparator's input
  offset, one per neuron.

A draw (:func:`draw`): a relative spread s becomes a log-normal factor exp(sigma z), z ~ N(0, 1),
sigma = sqrt(ln(1 + s^2)), so that sd / mean = s exactly and the median is the nominal value (a
threshold-voltage shift dV moves a subthreshold current by exp(gm/Id dV): log-normal, median
nominal; SkyWater's mismatch models give a mean about 5 % above nominal at 30 % spread). A threshold
offset is normal: V_th + s_th z. Shapes, for a layer of ``out`` neurons with ``in`` inputs:

* per synapse, [out, in]: the gain of the positive and of the negative device of each synapse (a
  synapse uses the device its weight's sign selects, so a weight may change sign in training);
* per neuron, [out]: every other mismatched parameter (capacitor, discharger, leak, ...) and the
  threshold.

How a draw enters the normalised model (circuitnet.neuron: v = (V - V0) / (V_th - V0), a weight w
in units of the nominal I_unit = C |V_th - V0| / T): a neuron's own parameters become per-neuron
parameter tensors (so its drift follows them, and v = 1 is its own threshold), and a weight, being a
physical current, is rescaled to that neuron's units:

    w_ij  ->  w_ij g_ij (C swing) / (C_i swing_i),    swing = V_th - V0,

where g_ij is the selected device's current gain and C_i, swing_i are neuron i's capacitance and
swing. Every method that takes per-neuron parameters (exact, dstd, ode, sde, torchdiffeq) therefore
simulates the same mismatched chip.

On silicon a synapse device's CLM slope follows its current (SkyWater: correlation -0.99 between
the two across devices), so a synapse device's lambda has no spread of its own here: declare it as
FittedNMOS / FittedPMOS, whose lambda is a function of the current, and the weight gain carries it.
"""
import copy
import math

import torch

from .compile import compile_circuit
from .neuron import NeuronCircuit, Synapse
from .nodes import ChargeSynapse, MultiNodeCircuit
from .silicon import Mismatch


def _log_sigma(spread):
    """sigma of ln(factor) for a log-normal factor with median 1 and sd / mean = spread."""
    return math.sqrt(math.log1p(spread * spread))


class LayerDeviation:
    """One draw of a layer's devices: ``gain_pos``, ``gain_neg`` [out, in] (current gains of each
    synapse's positive and negative device), ``factors`` {parameter name: [out]} (multiplicative, per
    neuron) and ``threshold`` [out] (comparator offset, V) or None."""

    def __init__(self, gain_pos, gain_neg, factors, threshold):
        self.gain_pos, self.gain_neg, self.factors, self.threshold = gain_pos, gain_neg, factors, threshold

    @property
    def shape(self):
        return tuple(self.gain_pos.shape)

    def to(self, dtype=None, device=None):
        mv = lambda x: None if x is None else x.to(dtype=dtype, device=device)
        return LayerDeviation(mv(self.gain_pos), mv(self.gain_neg), {k: mv(v) for k, v in self.factors.items()},
                              mv(self.threshold))


def _synapse_spread(device):
    m = device.mismatch
    if m is None:
        return 0.0
    other = set(m.spreads) - {device.weight_parameter}
    if other:
        raise ValueError(f"synapse device {device.name!r}: a spread of {sorted(other)} per synapse is not modelled "
                         f"(only its current, {device.weight_parameter!r}); on silicon lambda follows the current: "
                         f"declare a FittedNMOS/FittedPMOS, whose lambda is a function of the current")
    return m.spreads.get(device.weight_parameter, 0.0)


def spreads(circuit):
    """(synapse spreads (pos, neg), {per-neuron parameter name: spread}, threshold offset sd (V)). A
    several-node circuit's charge synapse has one spread of its charge (``ChargeSynapse(mismatch=)``),
    drawn for each synapse's positive and negative pump alike."""
    if isinstance(circuit, MultiNodeCircuit):
        m = circuit.synapse.mismatch
        syn = (m.spreads.get("Q", 0.0),) * 2 if m is not None else (0.0, 0.0)
        devices = set()
    else:
        syn = (_synapse_spread(circuit.synapse.positive), _synapse_spread(circuit.synapse.negative))
        devices = {id(circuit.synapse.positive), id(circuit.synapse.negative)}
    neuron = {}
    for e in circuit.all_elements:
        if id(e) in devices or e.mismatch is None:
            continue
        for p, s in e.mismatch.spreads.items():
            if p not in e.values:
                raise ValueError(f"element {e.name!r}: mismatch of {p!r}, which has no value in this circuit")
            neuron[e.symbol(p).name] = s
    return syn, neuron, circuit.threshold_offset


def declares_mismatch(circuit):
    """True where ``circuit`` declares any spread > 0 or a comparator offset > 0 (draws differ from nominal)."""
    (sp_, sn), neuron, th = spreads(circuit)
    return sp_ > 0 or sn > 0 or th > 0 or any(s > 0 for s in neuron.values())


def draw(circuit, out_features, in_features, generator=None, scale=1.0, dtype=torch.float64, device=None):
    """A :class:`LayerDeviation` for a layer of ``out_features`` neurons of ``circuit`` with
    ``in_features`` inputs; every declared spread (and the threshold offset) multiplied by ``scale``.
    Reproducible from ``generator`` (a seeded torch.Generator on the CPU)."""
    if not (isinstance(scale, (int, float)) and scale >= 0 and math.isfinite(scale)):
        raise ValueError(f"mismatch scale must be a finite number >= 0, got {scale!r}")
    (sp_, sn), neuron, th = spreads(circuit)

    def lognormal(spread, shape):
        z = torch.randn(shape, generator=generator, dtype=torch.float64)
        return torch.exp(_log_sigma(scale * spread) * z).to(dtype=dtype, device=device)

    gp = lognormal(sp_, (out_features, in_features))
    gn = lognormal(sn, (out_features, in_features))
    factors = {name: lognormal(s, (out_features,)) for name, s in neuron.items()}
    threshold = None
    if th > 0:
        z = torch.randn(out_features, generator=generator, dtype=torch.float64)
        threshold = (scale * th * z).to(dtype=dtype, device=device)
    return LayerDeviation(gp, gn, factors, threshold)


def apply(circuit, weight, deviation, params=None):
    """(weight on the chip [out, in], parameter tensors {name: tensor}) for one layer of ``circuit``
    under ``deviation`` (see the module docstring); ``params``: further overrides, applied first."""
    if not isinstance(deviation, LayerDeviation):
        raise ValueError(f"deviation must be a circuitnet.variation.LayerDeviation, got {type(deviation).__name__}")
    if deviation.shape != tuple(weight.shape):
        raise ValueError(f"the deviation was drawn for a layer of shape {deviation.shape}, the weight is "
                         f"{tuple(weight.shape)}")
    dev = deviation.to(weight.dtype, weight.device)
    cc = compile_circuit(circuit)
    nominal = cc.params(weight.dtype, weight.device, **(params or {}))
    chip = dict(nominal)
    for name, f in dev.factors.items():
        chip[name] = nominal[name] * f
    if dev.threshold is not None:
        chip["V_th"] = nominal["V_th"] + dev.threshold
    cap, swing = cc.capacitance, cc.swing
    ratio = (cap(nominal, weight) * swing(nominal, weight)) / (cap(chip, weight) * swing(chip, weight))
    if (ratio <= 0).any():
        raise ValueError("a drawn threshold offset crosses the reset level: the spread is too large for this swing")
    gain = torch.where(weight >= 0, dev.gain_pos, dev.gain_neg)
    w = weight * gain * ratio.reshape(-1, 1) if ratio.dim() else weight * gain * ratio
    return w, {k: v for k, v in chip.items() if k in dev.factors or (k == "V_th" and dev.threshold is not None)
               or k in (params or {})}


def with_mismatch(circuit, threshold_offset=None, **mismatch):
    """A copy of ``circuit`` with the given spreads declared: ``mismatch`` maps element names to
    :class:`Mismatch` (or None: no spread; on a several-node circuit "synapse" names its ChargeSynapse,
    Mismatch(Q=...)); ``threshold_offset`` (V) replaces the comparator's.
    The nominal model is unchanged; only the draws of :func:`draw` see the difference."""
    by_name = {e.name: e for e in circuit.all_elements}
    nodes = isinstance(circuit, MultiNodeCircuit)
    unknown = set(mismatch) - set(by_name) - ({"synapse"} if nodes else set())
    if unknown:
        raise ValueError(f"with_mismatch: no element(s) {sorted(unknown)} in the circuit; it has {sorted(by_name)}"
                         + (" and 'synapse'" if nodes else ""))
    copies = {}
    for name, e in by_name.items():
        copies[name] = copy.copy(e)
        if name in mismatch:
            copies[name].mismatch = e.check_mismatch(mismatch[name])
    for e in copies.values():        # noise elements refer to their source element
        if getattr(e, "source", None) is not None and e.source.name in copies:
            e.source = copies[e.source.name]
    offset = circuit.threshold_offset if threshold_offset is None else threshold_offset
    elements = [copies[e.name] for e in circuit.elements]
    if nodes:
        syn = circuit.synapse
        if "synapse" in mismatch:
            syn = ChargeSynapse(syn.node, mismatch=mismatch["synapse"])
        return circuit.replace(elements=elements, synapse=syn, threshold_offset=offset)
    syn = Synapse(copies[circuit.synapse.positive.name], copies[circuit.synapse.negative.name])
    return NeuronCircuit(elements, syn, circuit.phases, circuit.V0_value, circuit.Vth_value, circuit.temperature,
                         circuit.time_unit, circuit.technology, offset)


def with_uniform_mismatch(circuit, current=0.0, lam=0.0, capacitance=0.0, threshold_offset=0.0):
    """:func:`with_mismatch` with one spread per kind: ``current`` for every element with a current
    parameter ``I`` (discharger, current sources) and for the synapse devices' weight parameter, the
    one that programs their current (``I``, or ``G`` of a Resistive1T1R), ``lam`` for the CLM slope of those
    that are not synapse devices (a synapse device's lambda follows its current), ``capacitance`` for
    every capacitor (``C``), and the comparator offset ``threshold_offset`` (V)."""
    if isinstance(circuit, MultiNodeCircuit):
        raise ValueError("with_uniform_mismatch is for one-node circuits; declare a several-node circuit's spreads "
                         "with mismatch= on its elements and ChargeSynapse(..., mismatch=), or with_mismatch")
    devices = {circuit.synapse.positive.name, circuit.synapse.negative.name}
    spec = {}
    for e in circuit.all_elements:
        s = {}
        if current and e.name in devices:
            s[e.weight_parameter] = current
        elif "I" in e.parameters and current:
            s["I"] = current
        if "lam" in e.parameters and lam and e.name not in devices and "lam" in e.values:
            s["lam"] = lam
        if "C" in e.parameters and capacitance and "C" in e.values:
            s["C"] = capacitance
        spec[e.name] = Mismatch(**s) if s else None
    return with_mismatch(circuit, threshold_offset=threshold_offset, **spec)
