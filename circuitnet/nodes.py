"""A neuron circuit with several named nodes (sympy, physical units): a synaptic node that drives a
membrane through a transconductor, nodes coupled by capacitors or conductances, ...

Physical equations, nodes k = 1..n with voltages V_k and reset levels V0_k:

    Cm dV/dt = I(V)            I_k = sum of the currents of the elements into node k (A)
    Cm_kk = every capacitor on node k (to a fixed potential or to another node),
    Cm_kl = -C_kl for a capacitor between nodes k and l (coupling)                   (F)

An element sits on one node (``node="mem"``: between the node and a fixed potential) or between two
(``node=("a", "b")``: its current i(V_a - V_b) flows into a and out of b). A controlled element's
current depends on another node's voltage, its ``control`` (``node.Vc`` in its sympy current):
``Transconductor(gm, node="mem", control="syn")`` is i = gm (V_syn - V_ref).

Inputs: input spike j at t_j puts the charge Q_j = w_j Q_unit on the synapse node s
(:class:`ChargeSynapse`), Q_unit = Cm_ss S with S = V_th - V0_c, so that on an uncoupled node a
weight of 1 moves the node by one swing S towards the threshold's side:

    V(t_j+) = V(t_j-) + Cm^-1 e_s Q_j

Output: the comparator watches node c and the neuron spikes once, at the first t in [0, window]
with V_c = V_th (every node starts at its reset level at t = 0; a neuron that never reaches it
reports the window's end). Normalised with one swing S for every node and the time unit T:

    x_k = (V_k - V0_k) / S,  tau = t / T
    dx/dtau = f(x) = T / S Cm^-1 I(V0 + S x),      x(tau_j+) = x(tau_j-) + w_j u,  u = Cm^-1 e_s Cm_ss

and the spike is the first tau with x_c = 1.

Noise (simulated by method "sde"; the other methods follow the noiseless drift). A noise element
e, ``ShotNoise(source)`` (S_e = q |i_source|) or ``ThermalNoise(source)`` (S_e = 2 k_B T_K G), is a
white current of two-sided intensity S_e(V) (A^2 s) through its source's terminals: into node a and
out of node b for a source between a and b, into its node for a source on one node. ``ResetNoise()``
starts the nodes with the thermal-equilibrium kT/C fluctuations of the capacitor network:

    Cm dV = I(V) dt + sum_e sqrt(S_e(V)) (e_a - e_b) dW_e(t),     Cov V(0) = V0 + k_B T_K Cm^-1

normalised (Ito; dW_e independent Wiener processes in tau):

    dx = f(x) dtau + sum_e g_e(x) dW_e,   g_e = sqrt(T S_e) / S * Cm^-1 (e_a - e_b)
    x(0) ~ Normal(0, Sigma0),             Sigma0 = k_B T_K Cm^-1 / S^2
"""
import math

import sympy as sp

from .elements import CapacitiveCoupling, GateCharge, Node, NoiseOf, ResetNoise, check_elements
from .silicon import Mismatch
from .units import K_B, parse_value

MAX_COUPLED_NODES = 6      # the symbolic Cm^-1 of more coupled nodes takes tens of seconds (8: 26 s)
_UNSUPPORTED = (GateCharge, CapacitiveCoupling)
_NOISE = (NoiseOf, ResetNoise)


class ChargeSynapse:
    """The synapse slot of a several-node circuit: each input spike injects the charge Q = w Q_unit
    into ``node`` (Q_unit = that node's capacitance times the comparator's swing, C; see the module
    docstring), positive weights towards the threshold's side. On silicon: a charge pump per input.
    ``mismatch=Mismatch(Q=0.1)``: the relative spread of the charge a synapse delivers for a given
    weight, one draw per synapse (circuitnet.variation)."""

    def __init__(self, node, mismatch=None):
        if not (isinstance(node, str) and node.isidentifier()):
            raise ValueError(f"ChargeSynapse: node must be a node name, got {node!r}")
        if mismatch is not None and (not isinstance(mismatch, Mismatch) or set(mismatch.spreads) - {"Q"}):
            raise ValueError(f"ChargeSynapse: mismatch must be a circuitnet.Mismatch of its charge, Mismatch(Q=...), "
                             f"got {mismatch!r}")
        self.node, self.mismatch = node, mismatch


class MultiNodeCircuit:
    """A neuron circuit with several nodes (see the module docstring for its equations).

    nodes      : {name: reset level (V or SI string)}, in order; every node starts at its reset level.
    elements   : Elements placed with ``node=`` (and ``control=`` for controlled ones).
    synapse    : a :class:`ChargeSynapse` on one node.
    comparator : the node the comparator watches; ``threshold`` (V) its threshold.
    window     : how long inputs arrive and the comparator listens (s); ``time_unit`` (s, default the
                 window) normalises time.
    Everything is validated here; errors name the node or element at fault.
    """

    def __init__(self, nodes, elements, synapse, comparator, threshold, window, time_unit=None, temperature=300.0,
                 threshold_offset=0.0):
        self.declared = dict(nodes=nodes, elements=elements, synapse=synapse, comparator=comparator, threshold=threshold,
                             window=window, time_unit=time_unit, temperature=temperature,
                             threshold_offset=threshold_offset)
        if not isinstance(nodes, dict) or not nodes:
            raise ValueError(f"MultiNodeCircuit: nodes must be a dict {{name: reset level}}, got {nodes!r}")
        for name in nodes:
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(f"MultiNodeCircuit: node names must be identifiers, got {name!r}")
        self.node_names = tuple(nodes)
        self.reset_levels = {k: parse_value(v, f"node {k!r} reset level") for k, v in nodes.items()}
        self.elements = list(elements)
        self._check_elements()
        if not isinstance(synapse, ChargeSynapse):
            raise ValueError(f"MultiNodeCircuit: synapse must be a ChargeSynapse(node=...), got {synapse!r} "
                             f"(switched-current synapses are declared on a one-node NeuronCircuit)")
        self.synapse = synapse
        self.comparator = comparator
        for what, n in (("synapse", synapse.node), ("comparator", comparator)):
            if n not in self.node_names:
                raise ValueError(f"MultiNodeCircuit: the {what} is on node {n!r}, which is not declared; "
                                 f"nodes: {list(self.node_names)}")
        self.threshold = parse_value(threshold, "threshold")
        if self.threshold == self.reset_levels[comparator]:
            raise ValueError(f"threshold equals node {comparator!r}'s reset level: the normalised voltage would be undefined")
        self.window = parse_value(window, "window")
        self.time_unit = parse_value(time_unit, "time_unit") if time_unit is not None else self.window
        self.temperature = parse_value(temperature, "temperature")
        for what, x in (("window", self.window), ("time_unit", self.time_unit), ("temperature", self.temperature)):
            if not (x > 0 and math.isfinite(x)):
                raise ValueError(f"MultiNodeCircuit: {what} must be finite and > 0, got {x!r}")
        self.threshold_offset = parse_value(threshold_offset, "threshold_offset")
        if not (self.threshold_offset >= 0 and math.isfinite(self.threshold_offset)):
            raise ValueError(f"threshold_offset (sd of the comparator offset, V) must be finite and >= 0, "
                             f"got {threshold_offset!r}")
        self._build()

    def replace(self, **changes):
        """The same declaration with some arguments changed (e.g. ``elements=``, ``synapse=``)."""
        return MultiNodeCircuit(**{**self.declared, **changes})

    @property
    def all_elements(self):
        return list(self.elements)

    # ---------------------------------------------------------------- validation
    def _check_elements(self):
        check_elements(self.elements, "MultiNodeCircuit")
        for e in self.elements:
            if isinstance(e, _UNSUPPORTED):
                raise ValueError(f"element {e.name!r} ({type(e).__name__}): not supported in a several-node circuit yet "
                                 f"(no method would simulate it); declare it on a one-node NeuronCircuit")
            if isinstance(e, NoiseOf):
                if all(e.source is not d for d in self.elements):
                    raise ValueError(f"{type(e).__name__} {e.name!r}: its source {e.source.name!r} is not an element of "
                                     f"this circuit; add it, or remove the noise")
                continue                  # it flows through its source's terminals, checked with the source
            if isinstance(e, ResetNoise):
                continue                  # the whole capacitor network's kT/C, on no node in particular
            if e.terminals is None:
                raise ValueError(f"element {e.name!r}: say where it sits, node='name' or node=('a', 'b'); "
                                 f"nodes: {list(self.node_names)}")
            for n in e.terminals + ((e.control,) if e.control else ()):
                if n not in self.node_names:
                    raise ValueError(f"element {e.name!r}: node {n!r} is not declared; nodes: {list(self.node_names)}")
            if e.silicon is not None:
                raise ValueError(f"element {e.name!r}: silicon= is not realised in a several-node circuit's netlist yet")

    def _element_current(self, e, V, V0, what="current", of=None):
        """(expression at the node voltages V, a, b) of element e's current (or, with what="noise", of a
        noise element ``of``'s intensity, placed on its source e)."""
        a = e.terminals[0]
        node = Node(Vc="Vc" if e.control else None)
        try:
            expr = sp.sympify(e.current(node) if what == "current" else of.noise(node))
        except (TypeError, AttributeError, sp.SympifyError) as err:
            raise ValueError(f"element {e.name!r} ({type(e).__name__}): its current is not a sympy expression "
                             f"({type(err).__name__}: {err}); write it with sympy functions") from err
        if expr.has(node.t):
            raise ValueError(f"element {(of or e).name!r}: a {what} that depends on time is not supported in a several-node "
                             f"circuit (it has no phases)")
        if e.control is None and any(s.name == "Vc" for s in expr.free_symbols):
            raise ValueError(f"element {e.name!r}: its current reads node.Vc but it has no control=<node>")
        b = e.terminals[1] if len(e.terminals) == 2 else None
        sub = {node.V: V[a] - (V[b] if b else 0), node.V0: V0[a] - (V0[b] if b else 0)}
        if e.control:
            sub[node.Vc] = V[e.control]
        return expr.subs(sub), a, b

    def _build(self):
        names = self.node_names
        n = len(names)
        idx = {k: i for i, k in enumerate(names)}
        V = {k: sp.Symbol(f"V_{k}", real=True) for k in names}
        self.V0_symbols = {k: sp.Symbol(f"V0_{k}", real=True) for k in names}
        self.V_th = sp.Symbol("V_th", real=True)
        self.T_unit = sp.Symbol("T_unit", positive=True)
        self.T_K = Node().T_K
        self.values = {self.V0_symbols[k]: self.reset_levels[k] for k in names}
        self.values.update({self.V_th: self.threshold, self.T_unit: self.time_unit, self.T_K: self.temperature})
        for e in self.elements:
            for p, x in e.values.items():
                self.values[e.symbol(p)] = x
            free = [p for p in e.parameters if p not in e.values]
            if free:
                raise ValueError(f"element {e.name!r} ({type(e).__name__}): parameter(s) {free} have no value")
        Cm = sp.zeros(n, n)
        I = sp.zeros(n, 1)
        for e in self.elements:
            if isinstance(e, _NOISE):
                continue
            c = sp.sympify(e.capacitance())
            a, b = e.terminals[0], (e.terminals[1] if len(e.terminals) == 2 else None)
            if c != 0:
                Cm[idx[a], idx[a]] += c
                if b:
                    Cm[idx[b], idx[b]] += c
                    Cm[idx[a], idx[b]] -= c
                    Cm[idx[b], idx[a]] -= c
            cur, a, b = self._element_current(e, V, self.V0_symbols)
            if cur != 0:
                I[idx[a]] += cur
                if b:
                    I[idx[b]] -= cur
        for k in names:
            if Cm[idx[k], idx[k]] == 0:
                raise ValueError(f"MultiNodeCircuit: node {k!r} has no capacitance; add a Capacitor(node={k!r})")
        det = float(Cm.subs(self.values).det())
        if not det > 0:
            raise ValueError("MultiNodeCircuit: the capacitance matrix is singular (a node coupled to the others "
                             "only, with no capacitance to a fixed potential anywhere)")
        self.capacitance_matrix = Cm
        self.currents = I
        c = names.index(self.comparator)
        s = names.index(self.synapse.node)
        self.comparator_index, self.synapse_index = c, s
        self.swing = self.V_th - self.V0_symbols[self.comparator]
        self.x_symbols = tuple(sp.Symbol(f"x_{k}", real=True) for k in names)
        coupled = [k for i, k in enumerate(names) if any(Cm[i, j] != 0 for j in range(n) if j != i)]
        if len(coupled) > MAX_COUPLED_NODES:
            raise ValueError(f"MultiNodeCircuit: {len(coupled)} nodes are coupled by capacitors ({coupled}); the symbolic "
                             f"inverse of their capacitance matrix grows too fast beyond {MAX_COUPLED_NODES} (8 coupled "
                             f"nodes: about 30 s to declare), so at most {MAX_COUPLED_NODES} are taken")
        Cinv = Cm.inv()
        at_x = {V[k]: self.V0_symbols[k] + self.swing * self.x_symbols[i] for i, k in enumerate(names)}
        self.drift = list(self.T_unit / self.swing * Cinv * I.subs(at_x))     # no simplify: seconds to minutes
        self.jump = list(Cinv[:, s] * Cm[s, s])                               # on tanh/exp currents, no gain
        # noise (module docstring): g_e = sqrt(rate_e) direction_e, rate_e = T S_e / (S C_aa)^2 (per tau),
        # direction_e = C_aa Cm^-1 (e_a - e_b), C_aa the source's first node's capacitance
        self.noise_elements = [e for e in self.elements if isinstance(e, NoiseOf)]
        self.noise_rates, self.noise_directions = [], []
        for e in self.noise_elements:
            S_e, a, b = self._element_current(e.source, V, self.V0_symbols, "noise", e)
            C_ref = Cm[idx[a], idx[a]]        # rate and direction dimensionless (float32 keeps them)
            self.noise_rates.append(self.T_unit * S_e.subs(at_x) / (self.swing * C_ref) ** 2)
            d = C_ref * (Cinv[:, idx[a]] - (Cinv[:, idx[b]] if b else sp.zeros(n, 1)))
            self.noise_directions.append(list(d))
        self.reset_noise = [e for e in self.elements if isinstance(e, ResetNoise)]
        self.reset_covariance = (K_B * self.T_K * Cinv / self.swing ** 2) if self.reset_noise else None
        known = set(self.values) | set(self.x_symbols)
        extra = self.noise_rates + [x for d in self.noise_directions for x in d]
        for expr in self.drift + self.jump + extra:
            unknown = expr.free_symbols - known
            if unknown:
                raise ValueError(f"MultiNodeCircuit: unknown symbol(s) {sorted(map(str, unknown))} in the circuit's "
                                 f"equations; an element's current may read node.V, node.V0, node.Vc and its own parameters")

    # ---------------------------------------------------------------- reading
    @property
    def parameter_symbols(self):
        return sorted(self.values, key=lambda s: s.name)

    def value(self, expr):
        return float(sp.sympify(expr).subs(self.values))

    def unit_charge(self):
        """Q_unit (C): the charge of a weight of 1."""
        s = self.synapse_index
        return self.value(self.capacitance_matrix[s, s] * self.swing)

    def equations(self):
        """The normalised equations, as text (one line per node, then the input jump)."""
        lines = [f"d{x}/dtau = {sp.expand(f.subs(self.values)).evalf(6)}" for x, f in zip(self.x_symbols, self.drift)]
        lines.append("at an input spike: " + ", ".join(f"{x} += w * {self.value(u):.6g}"
                                                       for x, u in zip(self.x_symbols, self.jump)))
        return "\n".join(lines)

    def summary(self):
        """What the declaration implies: nodes, capacitances, the normalised equations, the weight unit."""
        names = self.node_names
        Cm = self.capacitance_matrix
        lines = [f"MultiNodeCircuit: {len(names)} nodes {list(names)}; synapse (charge) on {self.synapse.node!r}, "
                 f"comparator on {self.comparator!r} at {self.threshold:g} V",
                 f"  time unit T = {self.time_unit:g} s, window {self.window:g} s = {self.window / self.time_unit:g} T",
                 f"  swing S = V_th - V0 = {self.value(self.swing):g} V; weight unit Q_unit = {self.unit_charge():.4g} C"]
        for i, k in enumerate(names):
            lines.append(f"  node {k}: reset {self.reset_levels[k]:g} V, C = {self.value(Cm[i, i]):.4g} F")
        lines += self._noise_lines()
        lines += ["  " + l for l in self.equations().splitlines()]
        return "\n".join(lines)

    @property
    def has_noise(self):
        return bool(self.noise_elements or self.reset_noise)

    def _noise_lines(self):
        """summary(): each noise element, the nodes it flows between, and the kT/C rms per node."""
        out = []
        for e in self.noise_elements:
            t = e.source.terminals
            where = f"into {t[0]!r}, out of {t[1]!r}" if len(t) == 2 else f"into {t[0]!r}"
            out.append(f"  {e.name}: {type(e).__name__} of {e.source.name!r}, {where} (method 'sde')")
        if self.reset_noise:
            Cinv = self.capacitance_matrix.inv()
            rms = ", ".join(f"{k} {math.sqrt(self.value(K_B * self.T_K * Cinv[i, i])) * 1e3:.3g} mV"
                            for i, k in enumerate(self.node_names))
            out.append(f"  {self.reset_noise[0].name}: ResetNoise, kT/C of the capacitor network at t = 0, rms: {rms}")
        if not out:
            return ["  noise: none declared (method 'sde' needs ShotNoise, ThermalNoise or ResetNoise)"]
        return ["  noise:"] + ["  " + l for l in out]

    def __repr__(self):
        return f"MultiNodeCircuit(nodes={list(self.node_names)}, elements={[e.name for e in self.elements]})"
