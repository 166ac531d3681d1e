"""A neuron circuit declared in physical units, and its normalised dynamics (sympy).

Physical equation of the membrane node in phase p (C = total node capacitance):

    C dV/dt = sum_{e active in p} i_e(V, t) + [synapses on in p] sum_j i_syn,j(V) H(t - t_j) + noise

Normalised units (docs/paper.md section 3), with reset level V0, comparator threshold V_th and time unit T:

    v = (V - V0) / (V_th - V0)       (v = 0 at reset, v = 1 at threshold; the sign follows the circuit)
    tau = t / T

    dv/dtau = a_p(v, tau) + P(tau) k_pos(v) + N(tau) k_neg(v)  +  sqrt(s(v, tau)) dW/dtau
    a_p     = T / (C (V_th - V0)) * sum_e i_e            (non-synaptic drift)
    k_pos   = i_pos(V) / i_pos(V0),  k_neg = i_neg(V) / i_neg(V0)   (device shape, 1 at reset)
    P       = sum_j relu(w_j) H(tau - tau_j) >= 0,  N = -sum_j relu(-w_j) H(tau - tau_j) <= 0

A weight w is the device current at reset in units of I_unit = C |V_th - V0| / T, so for a
current-source synapse I = |w| I_unit. For CLM devices k_pos = 1 - v / E_pos, k_neg = 1 - v / E_neg:
the paper's beta_ij = 1/E.  Noise enters as the variance rate
s = T / (C (V_th - V0))^2 * S(V) (S: two-sided current-noise intensity, A^2 s), and reset noise as
Var v(0) = sum Var V(0) / (V_th - V0)^2. A charge packet Q (C, a GateCharge element) when its device
switches on is a jump of v by Q / (C (V_th - V0)), and by minus that when it switches off.
"""
import math

import sympy as sp

from .elements import CapacitiveCoupling, Capacitor, Element, GateCharge, Node, NoiseOf, check_elements
from .units import parse_value

REVERSAL_RANGE = 1e6                     # |v| beyond which a reversal potential counts as infinite

v_sym = sp.Symbol("v", real=True)        # normalised membrane voltage
tau_sym = sp.Symbol("tau", real=True)    # normalised local phase time
w_sym = sp.Symbol("w", positive=True)    # |weight| of a synapse, where a device's shape depends on it


def v_degree(expr, most=3, x=v_sym):
    """Degree of expr as a polynomial in x (default v), or None where it is not one of degree <= ``most``,
    read from its derivatives (sympy's Poly took minutes on the logs of a fitted device's shape): first
    as written, then, where x is left, of its expansion (a polynomial whose derivatives do not cancel
    as written)."""
    if any(p.has(x) for p in sp.sympify(expr).atoms(sp.Piecewise)):
        return None                   # pieces in x: not one polynomial (and diff through them is slow)
    for e in (sp.sympify(expr), sp.expand(expr, log=False, power_base=False)):
        for n in range(most + 1):
            if not e.has(x):
                return n
            if n < most:
                e = sp.diff(e, x)
    return None


def held(fn, expr, *args, **hints):
    """fn(expr, ...) with every Piecewise of expr held as an atom (sympy's expand and cancel otherwise work
    through each piece: minutes on a device's spline shapes), the pieces put back after."""
    pieces = {p: sp.Dummy() for p in sp.sympify(expr).atoms(sp.Piecewise)}
    return fn(sp.sympify(expr).xreplace(pieces), *args, **hints).xreplace({d: p for p, d in pieces.items()})


class Synapse:
    """A synapse slot: the device that realises a positive weight and the one for a negative weight.

    Positive weights must drive the membrane towards threshold (v up), negative ones away from it.
    The devices' ``weight_parameter`` (I for current sources, G for conductances) is left free: the
    weight sets it. ``ShotNoise(device)`` or ``ThermalNoise(device)`` among the circuit's elements adds
    per-synapse noise, in proportion to |w|.
    """

    def __init__(self, positive, negative):
        for role, dev in (("positive", positive), ("negative", negative)):
            if not isinstance(dev, Element):
                raise ValueError(f"Synapse: {role} device must be an Element, got {dev!r}")
            if dev.weight_parameter is None:
                raise ValueError(f"Synapse: {role} device {dev.name!r} ({type(dev).__name__}) has no "
                                 f"parameter a weight could set; use e.g. NMOS, PMOS or Resistive1T1R")
        self.positive, self.negative = positive, negative


class Phase:
    """One phase of the neuron's cycle.

    duration : physical length (s or SI string).
    active   : names of the (non-capacitor) elements whose currents flow in this phase; their noise
               (ShotNoise, ThermalNoise) and gate charge (GateCharge) follow them, unlisted.
    synapses : the synapse devices conduct in this phase (exactly one phase; it receives the inputs).
    comparator : the threshold comparator can emit the neuron's (single) spike in this phase.
    reset    : the node is held at V0 for this phase (only the first phase); its end samples kT/C noise.
    """

    def __init__(self, name, duration, active=(), synapses=False, comparator=False, reset=False):
        self.name = name
        self.duration = parse_value(duration, f"phase {name!r} duration")
        if not self.duration > 0:
            raise ValueError(f"phase {name!r}: duration must be > 0, got {duration!r}")
        if isinstance(active, str):
            active = (active,)
        self.active = tuple(active)
        self.synapses, self.comparator, self.reset = bool(synapses), bool(comparator), bool(reset)
        if reset and (synapses or comparator or self.active):
            raise ValueError(f"phase {name!r}: a reset phase holds the node; it cannot have synapses, "
                             f"a comparator or active elements")


class NormalisedPhase:
    """Sympy expressions of one phase's normalised dynamics (see module docstring)."""

    def __init__(self, phase, duration, drift, k_pos, k_neg, noise, noise_pos, noise_neg):
        self.name, self.synapses, self.comparator = phase.name, phase.synapses, phase.comparator
        self.duration = duration     # normalised
        self.drift, self.k_pos, self.k_neg = drift, k_pos, k_neg
        self.noise, self.noise_pos, self.noise_neg = noise, noise_pos, noise_neg

    def rhs(self, P, N):
        """Full drift a + P k_pos + N k_neg (k terms only where the synapses conduct)."""
        if not self.synapses:
            return self.drift
        return self.drift + P * self.k_pos + N * self.k_neg


def _expression(element, what, node):
    """element.current(node) / .capacitance() / .noise(node) as a sympy expression, or a ValueError
    that says how to write it: numpy and math functions need numbers, not sympy symbols."""
    try:
        return sp.sympify(getattr(element, what)(*(() if what == "capacitance" else (node,))))
    except (TypeError, AttributeError, sp.SympifyError) as err:
        raise ValueError(f"element {element.name!r} ({type(element).__name__}): its {what} is not a sympy "
                         f"expression ({type(err).__name__}: {err}); write it with sympy functions "
                         f"(sympy.tanh, sympy.exp, sympy.sqrt, ...), not numpy or math ones, which "
                         f"need numbers") from err


class NeuronCircuit:
    """A neuron circuit: one membrane node, its elements, a synapse slot and a cycle of phases.

    Parameters are SI floats or SI strings. ``time_unit`` defaults to the synapse phase's duration.
    ``threshold_offset``: standard deviation (V) of the comparator's input offset from neuron to
    neuron, drawn with the elements' ``mismatch`` spreads by :mod:`circuitnet.variation`.
    ``technology`` names the device models that realise the elements declared with ``silicon=``
    (method "spice", circuitnet.spice).
    Everything is validated here; errors name the element or phase at fault.
    """

    def __init__(self, elements, synapse, phases, reset_level, threshold, temperature=300.0,
                 time_unit=None, technology=None, threshold_offset=0.0):
        self.node = Node()
        self.technology = technology    # device models for the elements' silicon (circuitnet.spice.Sky130)
        self.elements = list(elements)
        if not isinstance(synapse, Synapse):
            raise ValueError(f"NeuronCircuit: synapse must be a Synapse(positive=..., negative=...), got {synapse!r}")
        self.synapse = synapse
        self.phases = list(phases)
        self.V0_value = parse_value(reset_level, "reset_level")
        self.Vth_value = parse_value(threshold, "threshold")
        self.temperature = parse_value(temperature, "temperature")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 K, got {temperature!r}")
        if self.Vth_value == self.V0_value:
            raise ValueError("threshold equals reset_level: the normalised voltage would be undefined")
        self.threshold_offset = parse_value(threshold_offset, "threshold_offset")
        if not (self.threshold_offset >= 0 and math.isfinite(self.threshold_offset)):
            raise ValueError(f"threshold_offset (sd of the comparator offset, V) must be finite and >= 0, "
                             f"got {threshold_offset!r}")
        self._check_names()
        self._check_noise_sources()
        self._check_phases()
        synapse_phase = next(p for p in self.phases if p.synapses)
        self.time_unit = parse_value(time_unit, "time_unit") if time_unit is not None else synapse_phase.duration
        if not self.time_unit > 0:
            raise ValueError(f"time_unit must be > 0, got {time_unit!r}")

        n = self.node
        self.V_th = sp.Symbol("V_th", real=True)
        self.T_unit = sp.Symbol("T_unit", positive=True)
        self.values = {n.V0: self.V0_value, self.V_th: self.Vth_value, n.T_K: self.temperature,
                       self.T_unit: self.time_unit}
        for e in self.all_elements:
            for p, x in e.values.items():
                self.values[e.symbol(p)] = x
        self._check_parameters()
        self._check_symbols()
        self.capacitance = sp.Add(*[e.capacitance() for e in self.all_elements])
        if self.capacitance == 0:
            raise ValueError("NeuronCircuit: the membrane node has no capacitance; add a Capacitor element")
        self.swing = self.V_th - n.V0
        self.normalised = [self._normalise(p) for p in self.phases if not p.reset]
        self.packets = [e for e in self.elements if isinstance(e, GateCharge)]
        self._check_packets()
        self._check_directions()
        self._check_reachable()

    # ---------------------------------------------------------------- validation
    @property
    def all_elements(self):
        devs = [self.synapse.positive, self.synapse.negative]
        return self.elements + [d for d in devs if all(d is not e for e in self.elements)]

    def _check_names(self):
        check_elements(self.all_elements, "NeuronCircuit")
        for e in self.all_elements:
            if e.terminals is not None or e.control is not None:
                raise ValueError(f"element {e.name!r} is placed with node=/control=, but a NeuronCircuit has one "
                                 f"membrane node: declare several nodes with circuitnet.MultiNodeCircuit")
        self.by_name = {e.name: e for e in self.all_elements}

    def _check_noise_sources(self):
        for e in self.elements:
            if isinstance(e, NoiseOf) and all(e.source is not d for d in self.all_elements):
                raise ValueError(f"{type(e).__name__} {e.name!r}: its source {e.source.name!r} is not an element of "
                                 f"this circuit (nor a synapse device); add it, or remove the noise")

    def _check_phases(self):
        if not self.phases:
            raise ValueError("NeuronCircuit: no phases declared")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"NeuronCircuit: phase names must be unique, got {names}")
        for i, p in enumerate(self.phases):
            if not isinstance(p, Phase):
                raise ValueError(f"NeuronCircuit: phases must be Phase instances, got {p!r}")
            if p.reset and i != 0:
                raise ValueError(f"phase {p.name!r}: only the first phase may be a reset phase")
            for a in p.active:
                if a not in self.by_name:
                    raise ValueError(f"phase {p.name!r} activates unknown element {a!r}; known: {sorted(self.by_name)}")
                if self.by_name[a] in (self.synapse.positive, self.synapse.negative):
                    raise ValueError(f"phase {p.name!r}: synapse device {a!r} is switched by synapses=True, not by active=")
                if isinstance(self.by_name[a], GateCharge):
                    raise ValueError(f"phase {p.name!r}: GateCharge {a!r} follows its device "
                                     f"{self.by_name[a].device.name!r}; list the device in active=, not the packet")
                if isinstance(self.by_name[a], NoiseOf):
                    src = self.by_name[a].source.name
                    raise ValueError(f"phase {p.name!r}: {type(self.by_name[a]).__name__} {a!r} follows its source "
                                     f"{src!r} and is active wherever {src!r} is; list {src!r} in active=, not its noise")
        syn = [i for i, p in enumerate(self.phases) if p.synapses]
        if len(syn) != 1:
            raise ValueError(f"NeuronCircuit: exactly one phase must have synapses=True (the phase that "
                             f"receives the input spikes), found {len(syn)}")
        cmp_ = [i for i, p in enumerate(self.phases) if p.comparator]
        if not cmp_:
            raise ValueError("NeuronCircuit: no phase has comparator=True, so the neuron can never spike")
        if cmp_[0] < syn[0]:
            raise ValueError(f"phase {self.phases[cmp_[0]].name!r}: the comparator phase comes before the "
                             f"synapse phase; the neuron would spike before receiving its inputs")

    def _check_parameters(self):
        free = {self.synapse.positive: self.synapse.positive.weight_parameter,
                self.synapse.negative: self.synapse.negative.weight_parameter}
        for e in self.all_elements:
            for p in e.parameters:
                if p not in e.values and free.get(e) != p:
                    raise ValueError(f"element {e.name!r} ({type(e).__name__}): parameter {p!r} has no value")

    def _check_symbols(self):
        n = self.node
        known = set(self.values) | {n.V, n.t} | {d.symbol(d.weight_parameter)
                                                 for d in (self.synapse.positive, self.synapse.negative)}
        for e in self.all_elements:
            for what in ("current", "capacitance", "noise"):
                expr = _expression(e, what, n)
                unknown = expr.free_symbols - known
                if unknown:
                    raise ValueError(f"element {e.name!r} ({type(e).__name__}): its {what} uses unknown "
                                     f"symbol(s) {sorted(map(str, unknown))}; use node.V, node.t, node.V0, "
                                     f"node.T_K or the element's own parameters")
            if e.capacitance().has(n.V) or e.capacitance().has(n.t):
                raise ValueError(f"element {e.name!r}: capacitance must not depend on V or t")
        for role in ("positive", "negative"):
            d = getattr(self.synapse, role)
            if d.current(n).has(n.t):
                raise ValueError(f"synapse {role} device {d.name!r}: its current must not depend on time")
        for e in self.all_elements:
            if e.silicon is not None:
                self._check_silicon(e)

    def _check_silicon(self, e):
        """An element with ``silicon=`` is realised as a MOSFET whose gate bias sets its current at reset:
        it must be a current source of V alone that carries current at reset."""
        n = self.node
        i = sp.sympify(e.current(n))
        if e in (self.synapse.positive, self.synapse.negative):
            i = i.subs(e.symbol(e.weight_parameter), 1)
        reason = None
        if e.capacitance() != 0:
            reason = "it is a capacitance"
        elif i.has(n.t):
            reason = "its current depends on time, which a gate bias held while it is on cannot follow"
        elif float(i.subs(n.V, n.V0).subs(self.values)) == 0:
            reason = "it carries no current at the reset level"
        if reason:
            twin = ("an ideal capacitor" if isinstance(e, Capacitor) else
                    "its capacitor to a control line that steps by its swing" if isinstance(e, CapacitiveCoupling)
                    else "its ideal twin, a behavioural source printed from its sympy current")
            raise ValueError(f"element {e.name!r} ({type(e).__name__}): silicon= realises a current source as a "
                             f"MOSFET whose gate bias sets its current at reset, but {reason}; declare it without "
                             f"silicon= (method 'spice' then writes {twin})")

    # ---------------------------------------------------------------- normalisation
    def _to_normalised(self, expr):
        """Substitute V = V0 + (V_th - V0) v and t = T tau."""
        n = self.node
        return sp.sympify(expr).subs({n.V: n.V0 + self.swing * v_sym, n.t: self.T_unit * tau_sym})

    def _shape(self, device):
        """k(v) = i(V)/i(V0) for a synapse device; where it still depends on the device's weight
        parameter (a bias-dependent CLM, FittedNMOS) that becomes |w| (w_sym) times the unit value."""
        cache = self.__dict__.setdefault("_shapes", {})
        if device.name in cache:
            return cache[device.name]
        i = self._to_normalised(device.current(self.node))
        wp = device.symbol(device.weight_parameter)
        if i.has(wp) and (i / wp).has(wp):      # the shape depends on the weight: cancel, no simplify (slow on logs)
            k = held(sp.expand, held(sp.cancel, i / i.subs(v_sym, 0)), log=False, power_base=False).subs(
                wp, w_sym * self.unit_weight_parameter(device))
        else:
            k = sp.simplify(i / i.subs(v_sym, 0))
        cache[device.name] = k
        return k

    def unit_weight_parameter(self, device):
        """Value (sympy) of ``device.weight_parameter`` that realises |w| = 1, i.e. |i(V0)| = I_unit
        (solved once per device and kept)."""
        cache = self.__dict__.setdefault("_unit_weight_parameters", {})
        if device.name not in cache:
            cache[device.name] = self._solve_unit_weight_parameter(device)
        return cache[device.name]

    def _solve_unit_weight_parameter(self, device):
        wp = device.symbol(device.weight_parameter)
        i0 = sp.sympify(device.current(self.node)).subs(self.node.V, self.node.V0)
        proportional = i0.has(wp) and not sp.cancel(i0 / wp).has(wp)     # checked first: solve could run unbounded
        sol = sp.solve(sp.Eq(i0 ** 2, self.unit_current ** 2), wp) if proportional else []
        sol = [s for s in sol if (s.subs(self.values) if s.free_symbols else s) > 0]
        if len(sol) != 1:
            raise ValueError(f"synapse device {device.name!r}: cannot express its {device.weight_parameter} "
                             f"through the weight (its current at reset must be proportional to it)")
        return sol[0]

    @property
    def unit_current(self):
        """I_unit = C |V_th - V0| / T (A): the device current at reset of a unit weight."""
        return self.capacitance * sp.Abs(self.swing) / self.T_unit

    def _normalise(self, phase):
        n = self.node
        scale = self.T_unit / (self.capacitance * self.swing)
        nscale = self.T_unit / (self.capacitance * self.swing) ** 2
        active = [self.by_name[a] for a in phase.active]
        drift = scale * sp.Add(*[self._to_normalised(e.current(n)) for e in active])
        noise = nscale * sp.Add(*[self._to_normalised(e.noise(n)) for e in self.noise_of(active)])
        k_pos = k_neg = s_pos = s_neg = sp.Integer(0)      # the synapse devices are off outside their phase
        if phase.synapses:
            k_pos, k_neg = self._shape(self.synapse.positive), self._shape(self.synapse.negative)
            s_pos, s_neg = self._synapse_noise("positive"), self._synapse_noise("negative")
        return NormalisedPhase(phase, phase.duration / self.time_unit, sp.simplify(drift), k_pos, k_neg,
                               sp.simplify(noise), s_pos, s_neg)

    def noise_of(self, sources):
        """The noise elements (ShotNoise, ThermalNoise: NoiseOf) that follow any of ``sources``."""
        return [e for e in self.elements if isinstance(e, NoiseOf) and any(e.source is s for s in sources)]

    def _synapse_noise(self, role):
        """Normalised noise variance rate of one synapse per unit |weight|, as a function of v:
        nscale * S(V) at the device's unit weight parameter (|w| = 1); a drive |w| multiplies it."""
        dev = getattr(self.synapse, role)
        nscale = self.T_unit / (self.capacitance * self.swing) ** 2
        terms = [e.noise(self.node) for e in self.noise_of([dev])]
        if not terms:
            return sp.Integer(0)
        unit = self.unit_weight_parameter(dev)
        expr = self._to_normalised(sp.Add(*terms)).subs(dev.symbol(dev.weight_parameter), unit)
        return sp.simplify(nscale * expr)

    @property
    def initial_variance(self):
        """Var v(0) from reset noise (dimensionless)."""
        return sp.Add(*[e.initial_variance(self.node, self.capacitance) for e in self.elements]) / self.swing ** 2

    def _check_packets(self):
        seen = set()
        for pk in self.packets:
            if all(pk.device is not e for e in self.all_elements):
                raise ValueError(f"GateCharge {pk.name!r}: its device {pk.device.name!r} is not an element of this circuit")
            kind = type(pk).__name__ if not pk.returns else "GateCharge"
            if (pk.device.name, pk.returns) in seen:
                raise ValueError(f"device {pk.device.name!r} has two {kind} elements; declare one")
            seen.add((pk.device.name, pk.returns))
            jump = self.packet_jump(pk)
            unknown = jump.free_symbols - set(self.values) - {w_sym}
            if unknown:
                raise ValueError(f"GateCharge {pk.name!r}: its charge uses unknown symbol(s) {sorted(map(str, unknown))}")
            if pk.device not in (self.synapse.positive, self.synapse.negative) and not math.isfinite(self.value(jump)):
                raise ValueError(f"GateCharge {pk.name!r}: its device {pk.device.name!r} carries no current at reset, "
                                 f"so its charge Q(I) is undefined there")

    def packet_jump(self, packet):
        """The jump of v when ``packet``'s device switches on (sympy): Q(I) / (C (V_th - V0)), with I
        the device's current at reset: w I_unit (w = |weight|, the symbol ``w_sym``) for a synapse device.
        An EdgeConduction's Q(I) = I tau(I) takes the sign of the device's current into the node (a
        positive synapse device's jump is > 0, a negative one's < 0)."""
        dev = packet.device
        if dev in (self.synapse.positive, self.synapse.negative):
            current = w_sym * self.unit_current
            direction = (1 if dev is self.synapse.positive else -1) * (1 if self.Vth_value > self.V0_value else -1)
        else:
            i0 = sp.sympify(dev.current(self.node)).subs(self.node.V, self.node.V0)
            current = sp.Abs(i0)
            direction = 1 if packet.returns or self.value(i0) >= 0 else -1     # its current's sign at the declared values
        q = sp.sympify(packet.charge(current))
        return (q if packet.returns else direction * q) / (self.capacitance * self.swing)

    def _check_directions(self):
        scale = self.T_unit / (self.capacitance * self.swing)
        for role, sign in (("positive", 1), ("negative", -1)):
            dev = getattr(self.synapse, role)
            i0 = scale * sp.sympify(dev.current(self.node)).subs(self.node.V, self.node.V0)
            i0 = i0.subs(dev.symbol(dev.weight_parameter), 1).subs(self.values)
            if not sign * float(i0) > 0:
                raise ValueError(f"synapse {role} device {dev.name!r} ({type(dev).__name__}) drives the membrane "
                                 f"{'away from' if sign > 0 else 'towards'} the threshold at reset; "
                                 f"swap the devices or check threshold/reset_level")

    def _check_reachable(self):
        for p in self.normalised:
            if not p.comparator:
                continue
            k = float(p.k_pos.subs({v_sym: 1, w_sym: 1}).subs(self.values)) if p.synapses else 0.0
            times = [p.duration * x for x in (0.01, 0.25, 0.5, 0.75, 0.99)]
            a = [float(p.drift.subs({v_sym: 1, tau_sym: t}).subs(self.values)) for t in times]
            if k <= 0 and max(a) <= 0:
                culprit = (f"positive synapse device {self.synapse.positive.name!r} reverses below threshold "
                           f"(E_pos <= 1)" if p.synapses else "no active element drives it up")
                raise ValueError(f"phase {p.name!r}: the threshold is unreachable: {culprit}")

    # ---------------------------------------------------------------- derived quantities
    def value(self, expr):
        """Numeric value of a sympy expression of the circuit's parameters."""
        return float(sp.sympify(expr).subs(self.values))

    def reversal(self, device, weight=1.0):
        """Normalised reversal potential of an element: the v at which its current vanishes (math.inf
        if it never does for |v| <= REVERSAL_RANGE, None if it does at several v); a synapse device is
        taken at |w| = ``weight`` (it matters where its shape depends on the weight).

        A current affine in v is solved exactly; any other one numerically (sign changes of i(v) on a
        grid of |v| from 1e-3 to REVERSAL_RANGE, refined by bisection to machine precision), so that a
        transcendental device (tanh, exp) answers in milliseconds instead of leaving sympy.solve to run
        without bound."""
        if isinstance(device, str):
            device = self.by_name[device]
        i = self._to_normalised(device.current(self.node))
        if device.weight_parameter is not None and device.weight_parameter not in device.values:
            wp = device.symbol(device.weight_parameter)
            i = i.subs(wp, weight * self.unit_weight_parameter(device))
        i = sp.sympify(i.subs(self.values))
        if i.has(tau_sym):
            raise ValueError(f"element {device.name!r}: its current depends on time; it has no reversal potential")
        if not i.has(v_sym):
            return math.inf
        if i.is_polynomial(v_sym) and sp.degree(i, v_sym) <= 1:
            slope = float(sp.diff(i, v_sym))
            return math.inf if slope == 0 else -float(i.subs(v_sym, 0)) / slope
        return _numeric_root(sp.lambdify(v_sym, i, "math"))

    @property
    def e_pos(self):
        """E_pos of the paper: the positive synapse device's reversal potential where its shape is
        k_pos(v) = 1 - v / E_pos (affine in v; at |w| = 1 where it depends on the weight); None for a
        shape that is not affine in v, which has no single E (:meth:`reversal` gives where its current
        vanishes)."""
        return self._e(self.synapse.positive)

    @property
    def e_neg(self):
        """E_neg of the paper (see :attr:`e_pos`)."""
        return self._e(self.synapse.negative)

    def _e(self, device):
        k = self._shape(device)
        if v_degree(k, 2) not in (0, 1):
            return None
        return self.reversal(device)

    def __repr__(self):
        phases = ", ".join(p.name for p in self.phases)
        return (f"NeuronCircuit({len(self.all_elements)} elements, synapse {self.synapse.positive.name}/"
                f"{self.synapse.negative.name}, phases [{phases}], V0={self.V0_value:g} V, V_th={self.Vth_value:g} V)")

    def summary(self):
        """A readable account of the declaration and what follows from it: elements, phases, node
        capacitance (fF), threshold swing (V), unit current I_unit (nA), E_pos / E_neg (or why there is
        none). Which methods apply: circuitnet.solve.describe(circuit)."""
        def e_text(device, e):
            if e is not None:
                return f"{e:.4g}" + (" at |w| = 1 (depends on the weight)" if self._shape(device).has(w_sym) else "")
            return f"none (k(v) = {self._shape(device).subs(self.values).evalf(4)} is not affine in v)"
        lines = [repr(self), "elements:"]
        lines += [f"  {e!r}" + (f"  silicon={e.silicon!r}" if e.silicon is not None else "") for e in self.all_elements]
        lines.append("phases:")
        for p in self.phases:
            role = ", ".join(r for r, on in (("reset", p.reset), ("synapses", p.synapses),
                                             ("comparator", p.comparator)) if on)
            lines.append(f"  {p.name}: {p.duration * 1e9:g} ns" + (f", {role}" if role else "")
                         + (f", active {list(p.active)}" if p.active else ""))
        lines += [f"capacitance {self.value(self.capacitance) * 1e15:.4g} fF, swing V_th - V0 = {self.value(self.swing):.4g} V, "
                  f"time unit {self.time_unit * 1e9:g} ns",
                  f"unit current I_unit = C |V_th - V0| / T = {self.value(self.unit_current) * 1e9:.4g} nA (|w| = 1)",
                  f"E_pos = {e_text(self.synapse.positive, self.e_pos)}",
                  f"E_neg = {e_text(self.synapse.negative, self.e_neg)}"]
        return "\n".join(lines + self._noise_lines() + self._mismatch_lines())

    def _noise_lines(self):
        """summary(): each declared noise element, where it flows, and the kT/C reset noise (mV rms)."""
        devices = (self.synapse.positive, self.synapse.negative)
        syn_phase = next(p.name for p in self.phases if p.synapses)
        out = []
        for e in self.elements:
            if isinstance(e, NoiseOf):
                src = e.source
                where = (f"per synapse, in proportion to |w|, while the synapses conduct ({syn_phase})" if src in devices
                         else f"in phases {[p.name for p in self.phases if src.name in p.active]}")
                out.append(f"  {e.name}: {type(e).__name__} of {src.name!r}, {where}")
            elif e.initial_variance(self.node, self.capacitance) != 0:
                rms = math.sqrt(self.value(e.initial_variance(self.node, self.capacitance)))
                out.append(f"  {e.name}: {type(e).__name__}, {rms * 1e3:.3g} mV rms at the end of reset")
        if not out:
            return ["noise: none declared (methods 'sde' and the jitter need ShotNoise, ThermalNoise or ResetNoise)"]
        return ["noise:"] + out

    def _mismatch_lines(self):
        """summary(): the declared spreads (relative sd per parameter) and the comparator offset (mV sd)."""
        devices = (self.synapse.positive, self.synapse.negative)
        out = [f"  {e.name}: " + ", ".join(f"{p} {s * 100:.3g} %" for p, s in e.mismatch.spreads.items())
               + (" (per synapse device)" if e in devices else " (per neuron)")
               for e in self.all_elements if e.mismatch is not None and e.mismatch.spreads]
        if self.threshold_offset > 0:
            out.append(f"  comparator offset: {self.threshold_offset * 1e3:.3g} mV sd (per neuron)")
        if not out:
            return ["mismatch: none declared (every Monte-Carlo chip would be the nominal circuit)"]
        return ["mismatch:"] + out

    def equations(self):
        """Physical equation C dV/dt = ... of each phase (sympy Eq), with one synapse of each kind
        (device currents i_pos, i_neg at their weight-set magnitudes) switched on by H(t - t_j)."""
        n = self.node
        Vt = sp.Function("V")(n.t)
        tj = sp.Symbol("t_j", real=True)
        out = {}
        for p in self.phases:
            if p.reset:
                out[p.name] = sp.Eq(Vt, n.V0)
                continue
            rhs = sp.Add(*[self.by_name[a].current(n) for a in p.active])
            if p.synapses:
                rhs += (self.synapse.positive.current(n) + self.synapse.negative.current(n)) * sp.Heaviside(n.t - tj)
            out[p.name] = sp.Eq(self.capacitance * sp.Derivative(Vt, n.t), rhs.subs(n.V, Vt))
        return out

    @property
    def parameter_symbols(self):
        """Sorted symbols of all numeric parameters (what compiled code takes as inputs)."""
        return sorted(self.values, key=lambda s: s.name)


def _numeric_root(f):
    """The single root of f(v) for |v| <= REVERSAL_RANGE (math.inf: none; None: several), from sign
    changes on a grid symmetric about 0 (geometric in |v| from 1e-3, 4001 points) refined by bisection;
    points where f is undefined (nan, a domain error) are skipped."""
    def value(x):
        try:
            y = float(f(x))
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.nan
        return y
    r = [REVERSAL_RANGE ** (k / 1000) * 1e-3 ** (1 - k / 1000) for k in range(1001)]
    grid = [-x for x in reversed(r)] + [0.0] + r
    ys = [value(x) for x in grid]
    roots = []
    for (a, fa), (b, fb) in zip(zip(grid, ys), zip(grid[1:], ys[1:])):
        if math.isnan(fa) or math.isnan(fb):
            continue
        if fa == 0:
            roots.append(a)
        elif fa * fb < 0:
            for _ in range(200):
                m = 0.5 * (a + b)
                if m in (a, b):
                    break
                fm = value(m)
                if math.isnan(fm) or fm == 0:
                    a = b = m
                    break
                a, fa, b = (m, fm, b) if fa * fm > 0 else (a, fa, m)
            roots.append(0.5 * (a + b))
    if ys[-1] == 0:
        roots.append(grid[-1])
    if not roots:
        return math.inf
    return roots[0] if len(roots) == 1 else None
