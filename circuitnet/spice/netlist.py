"""SPICE netlists of a layer of declared neurons, written from the declaration itself.

Timeline (physical seconds): a declared reset phase is not simulated: every membrane starts at the
reset level V0 (``.ic``, operating point solved with it). The other phases follow back to back with
their declared durations. An element is on in the phases that list it in ``active``; the synapse
devices are on from their input's spike time to the end of the synapse phase.

Realisation of each element (``element.silicon``, :mod:`circuitnet.silicon`):

* any element with ``silicon=Mosfet(...)`` (a current source whose current depends on V only, checked
  when the circuit is declared): a transistor with its drain on the membrane, source and body on
  ground (n) or the supply (p). Its gate sits at the off level (0 V / vdd) and, while the element is
  on, at the bias that sets the element's current at reset |i_in(V0)| (from the extraction table;
  for a synapse, I = |w| I_unit; a weight whose current lies below the extracted range, a few pA
  under the devices' own leakage, keeps its gate off). Its declared current is then the user's model of that transistor,
  which method "spice" checks. Gate edges are linear ramps of ``edge`` seconds that *end* at a
  switch-on time and *start* at a switch-off time. A synapse slot is a programmable crossbar point:
  it holds both the positive and the negative device; the one the weight's sign does not select
  keeps its gate off (and still loads the membrane). Without per-instance mismatch, a membrane's
  devices held off all along (unselected, never reached by a spike, or below the range) are
  identical and in parallel, and are written as one instance per device with multiplier m.
* Capacitor: an ideal capacitor to ground; DeviceCapacitance and DeviceLeakage: nothing (the
  realised devices are in the netlist themselves).
* CapacitiveCoupling: its capacitor C from the membrane to a control line (a PWL source) that steps
  by ``swing`` on a linear edge of ``rise`` seconds at ``at`` in every phase where the element is
  active (cut at the phase end, as the model's injected current is), and holds its level between.
* GateCharge (a charge packet): nothing where its device has ``silicon`` (the transistor's own gate
  edge carries the charge); for an ideal device a current source into the node with a triangular
  pulse of charge Q(I) over ``edge`` seconds ending at each switch-on (a synapse device: at its
  input's spike time, if > 0) and one of -Q starting at each switch-off.
* any other element without ``silicon``: its ideal twin, a capacitor to ground for its capacitance
  (if any) and a behavioural current source ``B 0 m I={i_in(V, t)}`` printed from its sympy current,
  multiplied by a 0/1 control line that is high while the element is on (edges of 1 ps). A synapse
  device weighted by w has its weight parameter set to |w| times the value that realises a unit weight.

The comparator is ideal and is applied to the recorded waveforms (circuitnet.spice.simulate).
"""

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from ..compile import W_FLOOR, compile_circuit
from ..elements import CapacitiveCoupling, Capacitor, DeviceCapacitance, DeviceLeakage, GateCharge
from ..neuron import v_degree
from ..shapes import Spline

IDEAL_EDGE = 1e-12    # s, edges of the control lines of ideal (behavioural) elements
TIME_GRID = 1e-12     # s, every PWL corner on this grid (an input moves by at most 0.5 ps)


class NgspicePrinter(StrPrinter):
    """sympy -> ngspice B-source expression; ``names`` maps the free symbols (node voltages, the local
    phase time) to text. ngspice's pow(x, y) is |x|^y: odd integer powers print as pwr (sign kept)."""

    FUNCTIONS = {"exp": "exp", "log": "ln", "Abs": "abs", "sin": "sin", "cos": "cos", "tan": "tan",
                 "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "atan": "atan", "sign": "sgn", "Max": "max",
                 "Min": "min"}

    def __init__(self, names):
        super().__init__()
        self.names = names

    def _print(self, expr, **kw):
        if isinstance(expr, sp.Expr) and expr.is_number:
            return f"({float(expr)!r})"
        return super()._print(expr, **kw)

    def _print_Symbol(self, expr):
        if expr not in self.names:
            raise ValueError(f"symbol {expr} has no value and is no node voltage: cannot write it into a netlist")
        return self.names[expr]

    def _print_Pow(self, expr, rational=False):
        base, e = self._print(expr.base), expr.exp
        if e == sp.Rational(1, 2):
            return f"sqrt({base})"
        if e == sp.Rational(-1, 2):
            return f"(1/sqrt({base}))"
        if e.is_Integer:
            return f"{'pwr' if int(e) % 2 else 'pow'}({base},{int(e)})"
        return f"pow({base},{self._print(e)})"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if isinstance(expr, Spline):           # a tabulated shape (circuitnet.shapes): its Piecewise
            return self._print(expr.rewrite(sp.Piecewise))
        if name not in self.FUNCTIONS:
            raise ValueError(f"cannot write function {name} into an ngspice behavioural source; "
                             f"supported: {sorted(self.FUNCTIONS) + ['Heaviside', 'Piecewise']} and powers")
        return f"{self.FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"

    _print_Max = _print_Min = _print_Function

    def _print_Heaviside(self, expr):          # sympy's second argument (H at 0) has no ngspice twin
        return f"u({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):          # nested ternaries: (c1 ? e1 : (c2 ? e2 : ...)); no piece: 0
        out = "(0.0)"
        for value, cond in reversed(expr.args):
            v = self._print(value)
            out = v if cond == sp.true else f"({self._print(cond)} ? {v} : {out})"
        return out

    def _print_Relational(self, expr):
        if expr.rel_op not in ("<", "<=", ">", ">="):
            raise ValueError(f"cannot write the condition {expr} into an ngspice behavioural source (<, <=, >, >= only)")
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"


def ngspice_expression(expr, names):
    """The sympy expression ``expr`` (numbers and the symbols of ``names`` only) as ngspice B-source text."""
    return NgspicePrinter(names).doprint(sp.sympify(expr))


def _pwl(points):
    """PWL(...) of (time, value) points on the TIME_GRID, times strictly increasing (a later
    duplicate moves one grid step on). Every corner is an ngspice breakpoint: two corners of
    different sources a few attoseconds apart (two inputs' edges) made its timestep collapse ("Timestep
    too small"); on the grid they coincide instead."""
    out, last = [], -1
    for t, v in points:
        k = max(round(float(t) / TIME_GRID), last + 1)
        out.append(f"{k * TIME_GRID:.15g} {float(v):.9g}")
        last = k
    return "PWL(" + " ".join(out) + ")"


def _switch(off, on, intervals, edge):
    """(time, value) points of a line at ``off`` that is at ``on`` during each [start, end): rising
    ramps of ``edge`` end at a start, falling ones begin at an end; a line on from t <= edge starts on."""
    pts = [(0.0, off)]
    for a, b in intervals:
        if b <= a:
            continue
        if a - edge <= 0.0:
            pts = [(0.0, on)]
        else:
            pts += [(a - edge, off), (a, on)]
        pts += [(b, on), (b + edge, off)]
    return pts


class LayerNetlist:
    """Netlist of a batch of samples through one layer: membrane node m{b}_{i} per sample b, neuron i.

    circuit : a NeuronCircuit; tech : technology (circuitnet.spice.Sky130) or None when no element
    has silicon; tables : {element name: DeviceTable} for the realised MOSFETs; edge : gate edge (s).
    """

    def __init__(self, circuit, tech, tables, edge=1e-9):
        self.circuit, self.tech, self.tables, self.edge = circuit, tech, tables, edge
        timeline = compile_circuit(circuit).timeline
        self.phases = [p for p in circuit.phases if not p.reset]      # the simulated phases, as the timeline's
        self.starts = np.asarray(timeline.starts) * circuit.time_unit   # their bounds (s)
        self.syn_index = timeline.synapse_phase
        self.v0 = circuit.V0_value
        self._bodies = {}       # (element, phase start, weighted) -> printed current (_ideal_body)
        self._currents = {}     # element -> i_in(V0) (A), a synapse device's at |w| = 1 (_reset_current)
        self._unit_values = {}  # element -> value of its weight parameter at |w| = 1
        self._charges = {}      # GateCharge -> Q(I) (A -> C)
        self._curved = {}       # element -> its current is not affine in V (curved)
        self._packets = {pk.device.name: pk for pk in circuit.packets if pk.device.silicon is None}
        self.unit_current = circuit.value(circuit.unit_current)
        self.bank = tech is not None and not getattr(tech, "mismatch", True)    # held-off devices as one instance (_off_bank)
        self.devices = [e.silicon for e in circuit.all_elements if e.silicon is not None]   # pruned subcircuits
        n = circuit.node
        self.subs = {s: x for s, x in circuit.values.items() if s != n.V}

    def _reset_current(self, element):
        """i_in(V0) of an element (A), a synapse device's at |w| = 1 (computed once per element)."""
        if element.name not in self._currents:
            n, c = self.circuit.node, self.circuit
            i0 = sp.sympify(element.current(n)).subs(n.V, n.V0)
            if element in (c.synapse.positive, c.synapse.negative):
                i0 = i0.subs(element.symbol(element.weight_parameter), c.unit_weight_parameter(element))
            self._currents[element.name] = c.value(i0)
        return self._currents[element.name]

    @property
    def t_end(self):
        return float(self.starts[-1])

    def _on_intervals(self, element):
        return [(self.starts[k], self.starts[k + 1]) for k, p in enumerate(self.phases) if element.name in p.active]

    def _ideal(self, tag, element, node, intervals, weight_value=None):
        """Behavioural current source and its control line; [] if the element carries no current."""
        lines = []
        for k, (a, b) in enumerate(intervals):
            body = self._ideal_body(element, a, weight_value is not None)
            if body is None:
                return []
            if weight_value is not None:
                body = body.replace("__W__", repr(float(weight_value)))
            ctl = f"c_{tag}_{k}"
            lines.append(f"V{ctl} {ctl} 0 {_pwl(_switch(0.0, 1.0, [(a, b)], IDEAL_EDGE))}")
            lines.append(f"B{tag}_{k} 0 {node} I={{({body.replace('__NODE__', node)})*V({ctl})}}")
        return lines

    def _ideal_body(self, element, start, weighted):
        """The element's sympy current printed once for a phase starting at ``start`` (s), with
        placeholders __NODE__ (membrane node) and, for a synapse device (``weighted``), __W__ (its
        weight-set parameter); None if the current is 0."""
        cache = self._bodies
        key = (element.name, start, weighted)
        if key not in cache:
            n = self.circuit.node
            expr = sp.sympify(element.current(n))
            wp = element.symbol(element.weight_parameter) if weighted else None
            expr = expr.subs({s: x for s, x in self.subs.items() if s != wp})
            names = {n.V: "V(__NODE__)", n.t: f"(TIME-{start:.15g})"}
            if wp is not None:
                names[wp] = "(__W__)"
            cache[key] = None if expr == 0 else ngspice_expression(expr, names)
        return cache[key]

    def device_current(self, element, weight=None):
        """|i_in(V0)| (A) a realised device carries when on (a synapse device's: |w| I_unit), after
        checking that the transistor can carry it in the direction the element drives."""
        i0 = self._reset_current(element)
        if i0 * self.tables[element.name].polarity > 0:
            raise ValueError(f"element {element.name!r}: its current at reset flows "
                             f"{'into' if i0 > 0 else 'out of'} the membrane, which a "
                             f"{'n' if i0 > 0 else 'p'}-channel {element.silicon!r} with its drain on the "
                             f"membrane cannot carry; realise it with {'a p' if i0 > 0 else 'an n'}-channel device")
        return abs(i0) if weight is None else weight * self.unit_current

    def curved(self, element):
        """True where the element's current is not affine in V (a device model with its I(V) curvature):
        its current at reset is the device's measured one, a line's is its intercept (circuitnet.spice.extract)."""
        if element.name not in self._curved:
            n = self.circuit.node
            self._curved[element.name] = v_degree(sp.sympify(element.current(n)), 1, n.V) is None
        return self._curved[element.name]

    def gate(self, element, current):
        """Gate bias (V) at which a realised element's device carries ``current`` (A) at reset, by its own
        map (:meth:`curved`: the measured current, else the line's)."""
        return float(self.tables[element.name].gate_for(current, measured=self.curved(element)))

    def held_off(self, element, intervals, current):
        """True if a realised device's gate stays at its off level all along: never switched on, no
        current, or a current below the extracted range (a few pA, under the devices' own leakage)."""
        return not intervals or current <= 0 or current < self.tables[element.name].range_for(self.curved(element))[0]

    def instance(self, tag, element, node, gate, m=1, z=0.0):
        """The transistor of a realised element: drain on ``node``, gate on ``gate``, ``m`` in parallel,
        its threshold draw ``z`` (mm_z, circuitnet.spice.chip)."""
        mos, tab = element.silicon, self.tables[element.name]
        s = "0" if tab.polarity > 0 else "vdd"
        return (f"X{tag} {node} {gate} {s} {s} {self.tech.subckt(mos, self.devices)} W={mos.W * 1e6:g} "
                f"L={mos.L * 1e6:g}" + (f" m={m}" if m != 1 else "") + (f" mm_z={z:.12g}" if z else ""))

    def _mosfet(self, tag, element, node, intervals, current, z=0.0, dv=0.0):
        """A transistor on ``node`` whose gate, while on, sits where the nominal device carries
        ``current`` (A), plus ``dv`` (V, a programmed offset); z: its threshold draw."""
        tab = self.tables[element.name]
        if self.held_off(element, intervals, current):
            return [f"Vg{tag} g{tag} 0 {tab.off_gate:.9g}", self.instance(tag, element, node, f"g{tag}", z=z)]
        pts = _switch(tab.off_gate, self.gate(element, current) + dv, intervals, self.edge)
        return [f"Vg{tag} g{tag} 0 {_pwl(pts)}", self.instance(tag, element, node, f"g{tag}", z=z)]

    def _off_bank(self, tag, counts, node):
        """The held-off crossbar devices of one membrane, identical and in parallel (same drain, gate
        at the off level, source and body on the rail), as one instance per device with multiplier
        m = their number: the same currents and charges as m separate instances, at the cost of one.
        Only without per-instance mismatch (each instance then draws its own threshold). Their gate
        is tied to the rail at its off level: a source of its own driving m gates made ngspice's
        timestep collapse at t = 0 on one neuron of the output layer ("trouble with node
        vgoff...#branch")."""
        lines = []
        for e, m in counts.values():
            off = self.tables[e.name].off_gate
            rail = "0" if off == 0 else "vdd" if self.tech and off == self.tech.vdd else None
            if rail is None:
                lines.append(f"Vg{tag}_{e.name} g{tag}_{e.name} 0 {off:.9g}")
            lines.append(self.instance(f"{tag}_{e.name}", e, node, rail or f"g{tag}_{e.name}", m))
        return lines

    def _coupling(self, tag, element, node, intervals):
        """A CapacitiveCoupling: C from the node to a control line that steps by ``swing`` in each interval."""
        C, swing, rise, at = (self.circuit.value(element.symbol(k)) for k in ("C", "swing", "rise", "at"))
        level, pts = 0.0, [(0.0, 0.0)]
        for a, b in intervals:
            t0, t1 = a + at, min(a + at + rise, b)
            if t1 <= t0:
                continue
            pts.append((t0, level))
            level += swing * (t1 - t0) / rise
            pts.append((t1, level))
        return [f"Vk{tag} k{tag} 0 {_pwl(pts)}", f"C{tag} {node} k{tag} {C:.9g}"]

    def _charge(self, packet, weight=None):
        """Q (C) of a GateCharge at its device's current at reset (a synapse device's at |w| = ``weight``)."""
        if packet.name not in self._charges:
            I = sp.Symbol("I", positive=True)
            self._charges[packet.name] = sp.lambdify(I, sp.sympify(packet.charge(I)).subs(self.circuit.values), "math")
        if weight is None:
            return self._charges[packet.name](abs(self._reset_current(packet.device)))
        return self._charges[packet.name](max(weight, W_FLOOR) * self.unit_current)

    def _packet(self, tag, node, q, intervals):
        """A current source into ``node``: a triangular pulse of charge q over ``edge`` ending at
        each start (> 0) of ``intervals`` and one of -q starting at each end; [] without any."""
        e, pts = self.edge, [(0.0, 0.0)]
        for a, b in intervals:
            if a > 0:
                pts += [(a - e, 0.0), (a - e / 2, 2 * q / e), (a, 0.0)]
            pts += [(b, 0.0), (b + e / 2, -2 * q / e), (b + e, 0.0)]
        return [f"I{tag} 0 {node} {_pwl(pts)}"] if len(pts) > 1 else []

    def _element(self, tag, element, node, intervals, weight=None, z=0.0, dv=0.0, factor=1.0):
        """Lines realising one element on ``node``, on during ``intervals``; weight: |w| for synapses;
        for a realised device: its threshold draw z, gate offset dv (V) and trim factor on its current."""
        if isinstance(element, (DeviceCapacitance, DeviceLeakage)):
            return []                       # the devices are in the netlist themselves
        if isinstance(element, GateCharge):
            dev = element.device
            if dev.silicon is not None or dev in (self.circuit.synapse.positive, self.circuit.synapse.negative):
                return []                   # the transistor's own edge; an ideal synapse's: with its device
            return self._packet(tag, node, self._charge(element), self._on_intervals(dev))
        if isinstance(element, Capacitor):
            return [f"C{tag} {node} 0 {self.circuit.value(element.C):.9g}"]
        if isinstance(element, CapacitiveCoupling):
            return self._coupling(tag, element, node, intervals)
        if element.silicon is not None:
            return self._mosfet(tag, element, node, intervals, factor * self.device_current(element, weight), z, dv)
        lines = []
        if element.capacitance() != 0:
            lines.append(f"C{tag} {node} 0 {self.circuit.value(element.capacitance()):.9g}")
        wv = None
        if weight is not None:
            if element.name not in self._unit_values:
                self._unit_values[element.name] = self.circuit.value(self.circuit.unit_weight_parameter(element))
            wv = weight * self._unit_values[element.name]
        return lines + self._ideal(tag, element, node, intervals, wv)

    def write(self, t_in, weight, chip=None):
        """Netlist text and the membrane node names [B][I] for inputs t_in [B, J] (normalised, +inf or
        >= the synapse phase length: no spike) and weights [I, J] (numpy); chip: a
        circuitnet.spice.chip.LayerChip [I, J] the layer runs on (None: nominal devices)."""
        c = self.circuit
        B, J = t_in.shape
        I = weight.shape[0]
        T = c.time_unit
        a, b = self.starts[self.syn_index], self.starts[self.syn_index + 1]
        lines = ["* circuitnet layer netlist", self.tech.header(self.devices) if self.tech else "",
                 f"Vdd vdd 0 {self.tech.vdd if self.tech else 0}"]
        syn = c.synapse
        others = [e for e in c.all_elements if e is not syn.positive and e is not syn.negative]
        nodes = []
        for bi in range(B):
            row = []
            for i in range(I):
                m = f"m{bi}_{i}"
                row.append(m)
                for e in others:
                    own = {} if chip is None or e.silicon is None else dict(
                        z=float(chip.z_neuron[e.name][i]) if e.name in chip.z_neuron else 0.0,
                        factor=float(chip.factor[e.name][i]) if e.name in chip.factor else 1.0)
                    lines += self._element(f"{e.name}_{bi}_{i}", e, m, self._on_intervals(e), **own)
                bank = {}
                for j in range(J):
                    t = a + float(t_in[bi, j]) * T
                    on = [(t, b)] if t < b else []
                    w = float(weight[i, j])
                    for k, (dev, sel) in enumerate(((syn.positive, w > 0), (syn.negative, w < 0))):
                        if not (sel or dev.silicon is not None):
                            continue                             # the crossbar holds both realised devices
                        on_, mag = (on, abs(w)) if sel else ([], 0.0)
                        if chip is not None and dev.silicon is not None:
                            lines += self._element(f"{dev.name}_{bi}_{i}_{j}", dev, m, on_, mag,
                                                   z=float((chip.z_pos, chip.z_neg)[k][i, j]),
                                                   dv=float((chip.gate_pos, chip.gate_neg)[k][i, j]))
                        elif (self.bank and dev.silicon is not None
                                and self.held_off(dev, on_, self.device_current(dev, mag))):
                            bank[dev.name] = (dev, bank.get(dev.name, (dev, 0))[1] + 1)
                        else:
                            lines += self._element(f"{dev.name}_{bi}_{i}_{j}", dev, m, on_, mag)
                        if sel and dev.name in self._packets:    # an ideal device's gate charge
                            lines += self._packet(f"q{dev.name}_{bi}_{i}_{j}", m,
                                                  self._charge(self._packets[dev.name], abs(w)), on)
                lines += self._off_bank(f"off_{bi}_{i}", bank, m)
                lines.append(f".ic v({m})={self.v0:.9g}")
            nodes.append(row)
        return "\n".join(lines) + "\n", nodes
