"""A drawn sky130 chip as ngspice runs it: each transistor's own mismatch, kept from one netlist to the next.

SkyWater's mismatch model gives every FET a threshold shift delvto = sw_mm_vth0 z / sqrt(W L) (times
geometry factors), z ~ N(0, 1) per instance (its AGAUSS). ngspice draws z anew in every netlist; a
chip must keep it: the DC sweep that programs a device and the transient that runs the network have
to see the same transistor. A :class:`LayerChip` holds, for one layer of ``out`` neurons with ``in``
inputs:

* ``z_pos``, ``z_neg`` [out, in]: the draw of each crossbar point's positive (nfet) and negative
  (pfet) device; ``z_neuron`` {element name: [out]}: each neuron's own realised devices (the
  discharger); ``offset`` [out]: the comparator's input offset (V), drawn N(0, threshold_offset);
* what programming and trimming set: ``gate_pos``, ``gate_neg`` [out, in], the gate-bias offset (V)
  the weight programmer's DAC added to each crossbar device (circuitnet.spice.program); ``factor``
  {element name: [out]}, the trim on a neuron device's bias, as the factor on its nominal current
  (its gate is set where the nominal device carries factor x its current); ``trim`` [out], the
  comparator trim (V).

The netlist writer (circuitnet.spice.netlist) passes z to each instance (mm_z, see
Sky130._pruned) and the offsets to the gate sources; the comparator fires at V_th + offset + trim.
``Spice(chip=layer_chip)`` runs a layer on it.
"""
import numpy as np

from ..units import parse_value


class LayerChip:
    """One layer of a drawn chip (module docstring); arrays are float64 numpy."""

    def __init__(self, z_pos, z_neg, z_neuron, offset, gate_pos=None, gate_neg=None, factor=None, trim=None):
        self.z_pos, self.z_neg = np.asarray(z_pos, float), np.asarray(z_neg, float)
        out = self.z_pos.shape[0]
        if self.z_pos.ndim != 2 or self.z_neg.shape != self.z_pos.shape:
            raise ValueError(f"LayerChip: z_pos and z_neg must have the same shape [out, in], got "
                             f"{self.z_pos.shape} and {self.z_neg.shape}")
        self.z_neuron = {k: np.asarray(v, float) for k, v in z_neuron.items()}
        self.offset = np.asarray(offset, float)
        self.gate_pos = np.zeros_like(self.z_pos) if gate_pos is None else np.asarray(gate_pos, float)
        self.gate_neg = np.zeros_like(self.z_neg) if gate_neg is None else np.asarray(gate_neg, float)
        self.factor = {k: np.asarray(v, float) for k, v in (factor or {}).items()}
        self.trim = np.zeros(out) if trim is None else np.asarray(trim, float)
        for name, a in [("offset", self.offset), ("trim", self.trim), *self.z_neuron.items(), *self.factor.items()]:
            if a.shape != (out,):
                raise ValueError(f"LayerChip: {name} must have shape [{out}], got {a.shape}")
        for name, a in (("gate_pos", self.gate_pos), ("gate_neg", self.gate_neg)):
            if a.shape != self.z_pos.shape:
                raise ValueError(f"LayerChip: {name} must have shape {self.z_pos.shape}, got {a.shape}")
        if not all(np.isfinite(a).all() for a in self._arrays()):
            raise ValueError("LayerChip: every draw, offset and trim must be finite")
        if any((f <= 0).any() for f in self.factor.values()):
            raise ValueError("LayerChip: a trim factor must be > 0")

    def _arrays(self):
        return [self.z_pos, self.z_neg, self.offset, self.gate_pos, self.gate_neg, self.trim,
                *self.z_neuron.values(), *self.factor.values()]

    @property
    def shape(self):
        return self.z_pos.shape

    @classmethod
    def draw(cls, circuit, out_features, in_features, seed, threshold_offset=None):
        """A chip layer for ``circuit`` (realised: its elements with ``silicon``): every z ~ N(0, 1), the
        comparator offsets N(0, threshold_offset) (V; default the circuit's ``threshold_offset``), from
        ``seed`` (an int or a sequence of ints, numpy's SeedSequence)."""
        g = np.random.default_rng(seed)
        syn = (circuit.synapse.positive, circuit.synapse.negative)
        own = [e.name for e in circuit.all_elements if e.silicon is not None and e not in syn]
        sd = circuit.threshold_offset if threshold_offset is None else parse_value(threshold_offset, "threshold_offset")
        if not (sd >= 0 and np.isfinite(sd)):
            raise ValueError(f"LayerChip.draw: threshold_offset must be a finite number >= 0 (V), got {sd!r}")
        shape = (int(out_features), int(in_features))
        return cls(g.standard_normal(shape), g.standard_normal(shape),
                   {name: g.standard_normal(shape[0]) for name in own}, sd * g.standard_normal(shape[0]))

    @classmethod
    def nominal(cls, out_features, in_features, neuron_devices=()):
        """A chip layer whose every draw, offset and trim is 0: the nominal devices and comparators
        (``neuron_devices``: the names of the neurons' own realised devices, e.g. ("dis",))."""
        zero = np.zeros((int(out_features), int(in_features)))
        return cls(zero, zero, {name: np.zeros(zero.shape[0]) for name in neuron_devices}, np.zeros(zero.shape[0]))

    def rows(self, index):
        """The chip's neurons ``index`` (a slice or index array) as a LayerChip."""
        return LayerChip(self.z_pos[index], self.z_neg[index], {k: v[index] for k, v in self.z_neuron.items()},
                         self.offset[index], self.gate_pos[index], self.gate_neg[index],
                         {k: v[index] for k, v in self.factor.items()}, self.trim[index])

    def replace(self, **changes):
        """A copy with some fields replaced (e.g. programmed gates or trims)."""
        fields = dict(z_pos=self.z_pos, z_neg=self.z_neg, z_neuron=self.z_neuron, offset=self.offset,
                      gate_pos=self.gate_pos, gate_neg=self.gate_neg, factor=self.factor, trim=self.trim)
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"LayerChip.replace: no field(s) {sorted(unknown)}")
        return LayerChip(**dict(fields, **changes))

    def __repr__(self):
        return f"LayerChip(out={self.shape[0]}, in={self.shape[1]}, neuron devices={sorted(self.z_neuron)})"
