"""Circuit elements of a membrane node, written as sympy expressions in physical units.

Every element sees the membrane node through a :class:`Node` (voltage ``V`` in volts, local phase
time ``t`` in seconds, reset level ``V0`` in volts, temperature ``T_K`` in kelvin) and contributes

* ``current(node)``: the current flowing *into* the membrane node, in amperes;
* ``capacitance()``: capacitance from the node to a fixed potential, in farads;
* ``noise(node)``: two-sided white current-noise intensity S (A^2 s): over a time T the noise
  current integrates to a charge of variance S T;
* ``initial_variance(node, C)``: variance of the node voltage right after reset (V^2).

Any element takes ``silicon=`` (a :class:`circuitnet.silicon.Mosfet`, say): what realises it in a
SPICE netlist (:mod:`circuitnet.spice`); the model ignores it. It also takes ``mismatch=`` (a
:class:`circuitnet.silicon.Mismatch`): how much its parameters differ from one device to the next
on a chip (drawn by :mod:`circuitnet.variation`); the nominal model ignores it.

A new element is one small class: list its ``parameters`` and write ``current`` with sympy,
using ``self.<parameter>`` for the parameter's symbol::

    class Diode(Element):
        parameters = ("I_s", "V_T")
        positive = ("I_s", "V_T")
        def current(self, node):
            return -self.I_s * (sympy.exp(node.V / self.V_T) - 1)
"""
import sympy as sp

from .silicon import Mismatch, Mosfet
from .units import K_B, Q_E, parse_value


class Node:
    """Symbols of the node an element is attached to. In a several-node circuit (circuitnet.nodes) V is
    the voltage across the element (V_a - V_b between two nodes), V0 its value at reset, and Vc the
    voltage of the element's ``control`` node (absent where it has none)."""

    def __init__(self, V="V", V0="V0", Vc=None):
        self.V = sp.Symbol(V, real=True)          # node voltage, V
        self.t = sp.Symbol("t", real=True)        # time since the start of the phase, s
        self.V0 = sp.Symbol(V0, real=True) if isinstance(V0, str) else sp.sympify(V0)   # reset level, V
        self.T_K = sp.Symbol("T_K", positive=True)  # temperature, K
        if Vc is not None:
            self.Vc = sp.Symbol(Vc, real=True)    # control node voltage, V


def _terminals(name, node):
    """An element's placement in a several-node circuit (circuitnet.nodes): ``node="mem"`` (between the
    node and a fixed potential) or ``node=("a", "b")`` (between two nodes), as a tuple; None: not placed."""
    if node is None:
        return None
    nodes = (node,) if isinstance(node, str) else tuple(node) if isinstance(node, (tuple, list)) else None
    if not nodes or len(nodes) > 2 or not all(isinstance(n, str) and n.isidentifier() for n in nodes):
        raise ValueError(f"element {name!r}: node must be a node name or a pair of node names, got {node!r}")
    if len(nodes) == 2 and nodes[0] == nodes[1]:
        raise ValueError(f"element {name!r}: both terminals on node {nodes[0]!r}")
    return nodes


class Element:
    """Base class of the circuit elements of a membrane node (the extension point). Subclasses set
    ``parameters`` and override the methods they need: ``current(node)`` (A, into the node), ``capacitance()``
    (F), ``noise(node)`` (A^2 s), ``initial_variance(node, C)`` (V^2)."""

    parameters = ()          # names of the physical parameters (SI units)
    defaults = {}            # default values of some parameters
    positive = ()            # parameters that must be > 0
    nonnegative = ()         # parameters that must be >= 0
    weight_parameter = None  # the parameter a synapse weight sets, when used as a synapse device

    def __init__(self, name, silicon=None, mismatch=None, node=None, control=None, **values):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}: element name must be an identifier, got {name!r}")
        self.name = name
        self.terminals = _terminals(name, node)   # (node,) or (node, other node); None: the one membrane node
        if control is not None and not (isinstance(control, str) and control.isidentifier()):
            raise ValueError(f"element {name!r}: control must be a node name, got {control!r}")
        self.control = control     # the node whose voltage the current depends on (node.Vc), or None
        self.mismatch = self.check_mismatch(mismatch)   # device-to-device spreads (circuitnet.variation), or None
        if silicon is not None and not isinstance(silicon, Mosfet):
            raise ValueError(f"element {name!r}: silicon must be a circuitnet.silicon.Mosfet or None, got {silicon!r}")
        self.silicon = silicon     # what realises it in a netlist (circuitnet.silicon), or None: ideal
        unknown = set(values) - set(self.parameters)
        if unknown:
            raise ValueError(f"element {name!r} ({type(self).__name__}): unknown parameter(s) "
                             f"{sorted(unknown)}; it takes {list(self.parameters)}")
        self.values = {}
        for p in self.parameters:
            v = values.get(p, self.defaults.get(p))
            if v is None:
                continue      # left free: a synapse weight, or an error at circuit build time
            x = parse_value(v, f"element {name!r} parameter {p!r}")
            if p in self.positive and not x > 0:
                raise ValueError(f"element {name!r} ({type(self).__name__}): {p} must be > 0, got {v!r}")
            if p in self.nonnegative and not x >= 0:
                raise ValueError(f"element {name!r} ({type(self).__name__}): {p} must be >= 0, got {v!r}")
            self.values[p] = x
        self._symbols = {p: sp.Symbol(f"{name}_{p}", **self._assumptions(p)) for p in self.parameters}

    def check_mismatch(self, mismatch):
        """``mismatch`` if it is None or a circuitnet.Mismatch of this element's parameters, else a ValueError."""
        if mismatch is not None and not isinstance(mismatch, Mismatch):
            raise ValueError(f"element {self.name!r}: mismatch must be a circuitnet.Mismatch or None, got {mismatch!r}")
        if mismatch is not None and set(mismatch.spreads) - set(self.parameters):
            raise ValueError(f"element {self.name!r} ({type(self).__name__}): mismatch of unknown parameter(s) "
                             f"{sorted(set(mismatch.spreads) - set(self.parameters))}; it has {list(self.parameters)}")
        return mismatch

    def _assumptions(self, p):
        if p in self.positive:
            return {"positive": True}
        if p in self.nonnegative:
            return {"nonnegative": True}
        return {"real": True}

    def __getattr__(self, item):
        symbols = self.__dict__.get("_symbols")
        if symbols is not None and item in symbols:
            return symbols[item]
        raise AttributeError(f"{type(self).__name__} {self.__dict__.get('name', '?')!r} has no attribute {item!r}")

    def symbol(self, parameter):
        return self._symbols[parameter]

    def current(self, node):
        return sp.Integer(0)

    def capacitance(self):
        return sp.Integer(0)

    def noise(self, node):
        return sp.Integer(0)

    def initial_variance(self, node, capacitance):
        return sp.Integer(0)

    def __repr__(self):
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        return f"{type(self).__name__}({self.name!r}{', ' if vals else ''}{vals})"


class Capacitor(Element):
    """Capacitor C (F) from the membrane node to a fixed potential."""
    parameters = ("C",)
    positive = ("C",)

    def capacitance(self):
        return self.C


class DeviceCapacitance(Capacitor):
    """Capacitance C (F) that realised devices attached to the node add to it (drain junctions and
    overlaps of the synapse and discharger transistors, extracted by circuitnet.spice). The model
    counts it; a netlist writes nothing for it, since the devices themselves are there."""


class NMOS(Element):
    """NMOS current source in saturation, drain on the membrane node, with channel-length modulation.

    I_D = I (1 + lam (V_DS - V_DS0)) flows out of the node, V_DS - V_DS0 = V - V0:
        i_in = -I (1 + lam (V - V0))
    I (A) is the drain current with the node at its reset level V0 and lam (1/V) the CLM slope
    relative to that current (the paper's convention, fitted from an I_D-V_DS sweep).
    """
    parameters = ("I", "lam")
    defaults = {"lam": 0.0}
    nonnegative = ("I", "lam")
    weight_parameter = "I"

    def current(self, node):
        return -self.I * (1 + self.lam * (node.V - node.V0))


class PMOS(Element):
    """PMOS current source in saturation, drain on the membrane node, with channel-length modulation.

    I_D = I (1 + lam (V_SD - V_SD0)) flows into the node, V_SD - V_SD0 = -(V - V0):
        i_in = I (1 - lam (V - V0))
    """
    parameters = ("I", "lam")
    defaults = {"lam": 0.0}
    nonnegative = ("I", "lam")
    weight_parameter = "I"

    def current(self, node):
        return self.I * (1 - self.lam * (node.V - node.V0))


def check_elements(elements, owner):
    """Every entry of ``elements`` an Element and no two with one name, else a ValueError naming the
    fault (``owner``: the declaring class's name, for the message)."""
    seen = set()
    for e in elements:
        if not isinstance(e, Element):
            raise ValueError(f"{owner}: elements must be Element instances, got {e!r}")
        if e.name in seen:
            raise ValueError(f"{owner}: two elements are named {e.name!r}")
        seen.add(e.name)


def _held(current, element):
    """max(current, I_min) where the element declares I_min > 0 (a fit held below its range), else current."""
    return sp.Max(current, element.I_min) if element.values.get("I_min", 0.0) > 0 else current


SHAPE_V = sp.Symbol("V_D", real=True)     # the drain voltage (V) a _FittedCLM's shapes are written in
FIT_DEGREE = 7      # degree of a _FittedCLM's lam(I) and kap(I) in ln I (a cubic left sky130's pfet lam 0.008 off)
_ORDERS = [""] + [str(k) for k in range(1, FIT_DEGREE + 1)]      # lam, lam1, ..., lam7


class _FittedCLM:
    """CLM slope that depends on the device's own current (its gate bias), fitted to extracted sweeps:
        lam(I) = lam + lam1 x + lam2 x^2 + ... + lam7 x^7,   x = ln(max(I, I_min) / I_ref)
    (I_min > 0: the fit's lower end, below which lam is held). As a synapse device the weight sets I,
    so each synapse has its own reversal potential E(w). Declared with any of kap ... kap7, the
    device's I(V) also bends: a curvature kap(I) (1/V^2), the same polynomial in x, times (V - V0)^2.
    ``shapes``, a sequence of (phi, coefficients): further terms c_p(I) phi_p(V) (the device's I(V) over
    the whole supply range, circuitnet.spice.knees), phi_p a sympy expression of SHAPE_V (the drain
    voltage, V; dimensionless, counted from its value at V0; a table: circuitnet.shapes.spline) and c_p(I) = sum_n a_n x^n with the given coefficients a_n.
    ``I_off`` (A, default 0): the lowest current the device can be biased for (a realised device: the
    low end of its extracted sweep). As a synapse device, a weight whose current |w| I_unit lies below
    it leaves the device off: no current and no gate packet (every method, through
    CompiledCircuit.programmable; the netlist holds such a gate off)."""
    parameters = ("I", *(f"lam{k}" for k in _ORDERS), "I_ref", "I_min", *(f"kap{k}" for k in _ORDERS), "I_off")
    defaults = {**{f"{n}{k}": 0.0 for n in ("lam", "kap") for k in _ORDERS}, "I_ref": 1e-7, "I_min": 0.0, "I_off": 0.0}
    positive = ("I_ref",)
    nonnegative = ("I", "I_min", "I_off")

    def __init__(self, name, shapes=(), **kw):
        super().__init__(name, **kw)
        self.shapes = tuple(shapes)
        for phi, coef in self.shapes:
            if not isinstance(phi, sp.Expr) or phi.free_symbols - {SHAPE_V} or not len(coef):
                raise ValueError(f"element {name!r}: each shape must be (a sympy expression of "
                                 f"circuitnet.elements.SHAPE_V, a non-empty sequence of coefficients), got {(phi, coef)!r}")

    def _poly(self, name):
        x = sp.log(_held(self.I, self) / self.I_ref)
        return sum(getattr(self, name + k) * x ** n for n, k in enumerate(_ORDERS))

    def knees(self, node):
        """sum_p c_p(I) (phi_p(V) - phi_p(V0)) of the declared ``shapes`` (0 without): counted from reset, so
        that I stays the current at reset."""
        x = sp.log(_held(self.I, self) / self.I_ref)
        return sum((sum(float(a) * x ** n for n, a in enumerate(coef)) * (phi.subs(SHAPE_V, node.V) - phi.subs(SHAPE_V, node.V0))
                    for phi, coef in self.shapes), sp.Integer(0))

    def clm(self):
        return self._poly("lam")

    def bend(self, x):
        """kap(I) x^2 where the curvature is declared (any kap ... kap7 nonzero), else 0."""
        if not any(self.values.get("kap" + k, 0.0) for k in _ORDERS):
            return sp.Integer(0)
        return self._poly("kap") * x ** 2


class FittedNMOS(_FittedCLM, NMOS):
    """NMOS current source with a bias-dependent CLM slope (see _FittedCLM):
        i_in = -I (1 + lam(I) (V - V0) + kap(I) (V - V0)^2 + sum_p c_p(I) phi_p(V))"""

    def current(self, node):
        x = node.V - node.V0
        return -self.I * (1 + self.clm() * x + self.bend(x) + self.knees(node))


class FittedPMOS(_FittedCLM, PMOS):
    """PMOS current source with a bias-dependent CLM slope (see _FittedCLM):
        i_in = I (1 - lam(I) (V - V0) + kap(I) (V - V0)^2 + sum_p c_p(I) phi_p(V))"""

    def current(self, node):
        x = node.V - node.V0
        return self.I * (1 - self.clm() * x + self.bend(x) + self.knees(node))


class Conductance(Element):
    """Linear conductance G (S) from the node to a fixed potential V_to (V): i_in = G (V_to - V)."""
    parameters = ("G", "V_to")
    defaults = {"V_to": 0.0}
    nonnegative = ("G",)
    weight_parameter = "G"

    def current(self, node):
        return self.G * (self.V_to - node.V)


class Leak(Conductance):
    """Leakage conductance G (S) towards V_to (V, default ground): i_in = G (V_to - V)."""


class DeviceLeakage(Conductance):
    """Off-state leakage of the realised devices on the node (drain junctions, subthreshold and
    gate-induced drain currents), fitted over [V_th, V0] as a conductance G (S) toward V_to (V):
    i_in = G (V_to - V). The model counts it; a netlist writes nothing, the devices are there."""


class Resistive1T1R(Conductance):
    """Resistive (1T1R) synapse: conductance G (S) to the line V_to (V): i_in = G (V_to - V).
    As a synapse device G is set by the weight; its reversal potential is V_to."""


class CurrentSource(Element):
    """Ideal current source: i_in = I (A, signed; negative draws charge out of the node)."""
    parameters = ("I",)
    weight_parameter = "I"

    def current(self, node):
        return self.I


class CapacitiveCoupling(Element):
    """Coupling capacitor C (F) from a digital control line that swings by ``swing`` (V) on a
    linear edge of duration ``rise`` (s) starting at local phase time ``at`` (s).

    It adds C to the node capacitance and injects i_in = C d(V_ctrl)/dt =
    C swing / rise * [H(t - at) - H(t - at - rise)] in the phases where it is active;
    the total injected charge is C swing (charge injection at the edge).
    """
    parameters = ("C", "swing", "rise", "at")
    defaults = {"at": 0.0}
    positive = ("C", "rise")
    nonnegative = ("at",)

    def capacitance(self):
        return self.C

    def current(self, node):
        window = sp.Heaviside(node.t - self.at) - sp.Heaviside(node.t - self.at - self.rise)
        return self.C * self.swing / self.rise * window


class Transconductor(Element):
    """Voltage-controlled current source: i_in = gm (V_c - V_ref) into its node, V_c the voltage of its
    ``control`` node (a several-node circuit, circuitnet.nodes), gm (S), V_ref (V)."""
    parameters = ("gm", "V_ref")
    defaults = {"V_ref": 0.0}

    def current(self, node):
        if not hasattr(node, "Vc"):
            raise ValueError(f"Transconductor {self.name!r}: needs control=<node name> in a several-node circuit")
        return self.gm * (node.Vc - self.V_ref)


class GateCharge(Element):
    """A gate edge's charge packet: Q (C) pushed into the node when ``device`` switches on, taken back when it switches off.

    Gate-drain overlap and channel charge of the transistor, a packet at a known time: a jump of the
    node voltage dV = Q / C_total (C_total the node capacitance, F), with

        Q(I) = q + q1 x + q2 x^2 + q3 x^3   (C; > 0: into the node),   x = ln(max(I, I_min) / I_ref)

    I (A) is the device's current at reset, which its gate bias sets: |w| I_unit for a synapse
    device (each synapse has its own packet, a function of |w| as E(w) is), |i_in(V0)| for any other.
    The packet follows ``device``: a synapse device switches on at its input's spike time (t > 0:
    one on from t <= 0 was switched during reset, which absorbs the charge) and off at the synapse
    phase's end; any other device at the start of a phase that activates it and off at its end
    (not at t = 0, where the reset holds the node). It is not listed in a phase's ``active``.
    A subclass may write any other ``charge(current)`` with sympy. In a netlist the device's own
    transistor carries this charge (its ``silicon``); a device without silicon gets current pulses
    of charge Q at those times (circuitnet.spice.netlist).
    """
    parameters = ("q", "q1", "q2", "q3", "I_ref", "I_min")
    defaults = {"q1": 0.0, "q2": 0.0, "q3": 0.0, "I_ref": 1e-7, "I_min": 0.0}
    positive = ("I_ref",)
    nonnegative = ("I_min",)

    def __init__(self, device, name=None, **values):
        if not isinstance(device, Element) or isinstance(device, GateCharge):
            raise ValueError(f"GateCharge: device must be the Element whose gate edge injects the charge, got {device!r}")
        super().__init__(name or f"{device.name}_gate", **values)
        self.device = device

    returns = True      # switch-off takes the packet back (EdgeConduction: pushes its conduction)

    def charge(self, current):
        """Q (C, into the node) of a device biased for ``current`` (A, sympy) at reset."""
        x = sp.log(_held(current, self) / self.I_ref)
        return self.q + self.q1 * x + self.q2 * x ** 2 + self.q3 * x ** 3


class EdgeConduction(GateCharge):
    """Conduction through a gate edge: a transistor whose gate ramps (over a netlist's ``edge``, the
    ramp ending where the model switches it on and starting where it switches it off) conducts during
    the top of each ramp, in weak inversion for about n U_T / (dV_gate / edge). The model switches
    instantly, so each switch-on and each switch-off adds the charge of that conduction,

        Q(I) = I tau(I)   (C, in the direction of the device's own current; not taken back),
        tau(I) = tau + tau1 x + tau2 x^2 + tau3 x^3   (s),   x = ln(max(I, I_min) / I_ref),

    I (A) the device's current at reset, as for GateCharge (|w| I_unit for a synapse device). A jump
    of v like a GateCharge's, on at the same times; the switch-off of a synapse device pushes its
    current at the membrane's voltage then, I k(v; |w|) tau(I) (k the device's shape: a device
    conducts less, or more, as its drain moves), where the membrane has moved far from reset by the
    phase's end (circuitnet.solve.schedule.ConductionJump). The switch-on and any other device's
    edges take the current at reset. Only a device with ``silicon`` has it (an
    ideal device switches in 1 ps in a netlist); the netlist writes nothing for it: the transistor's
    own ramp carries it. At most one per device, beside its GateCharge."""
    parameters = ("tau", "tau1", "tau2", "tau3", "I_ref", "I_min")
    defaults = {"tau1": 0.0, "tau2": 0.0, "tau3": 0.0, "I_ref": 1e-7, "I_min": 0.0}
    returns = False

    def __init__(self, device, name=None, **values):
        super().__init__(device, name or f"{getattr(device, 'name', device)}_edge", **values)
        if device.silicon is None:
            raise ValueError(f"EdgeConduction {self.name!r}: its device {device.name!r} has no silicon; conduction "
                             f"through a gate edge is a transistor's (an ideal device switches at once)")

    def charge(self, current):
        """|Q| (C) of a device biased for ``current`` (A, sympy) at reset: I tau(I)."""
        x = sp.log(_held(current, self) / self.I_ref)
        return current * (self.tau + self.tau1 * x + self.tau2 * x ** 2 + self.tau3 * x ** 3)


class NoiseOf(Element):
    """Current noise of another element (its ``source``). It follows the source: it flows in every
    phase where the source is active (a synapse device's noise while its synapse conducts, per
    synapse, in proportion to |w| where the weight sets the source's current or conductance).
    It is never listed in a phase's ``active``. A subclass writes ``noise(node)`` (A^2 s)."""
    suffix = "noise"

    def __init__(self, source):
        if not isinstance(source, Element) or isinstance(source, NoiseOf):
            raise ValueError(f"{type(self).__name__}: source must be the circuit Element whose current is noisy, "
                             f"got {source!r}")
        super().__init__(f"{source.name}_{self.suffix}")
        self.source = source


class ShotNoise(NoiseOf):
    """Shot noise of another element's current: S = q |i| (A^2 s, two-sided), so that a constant
    current I delivers in a time T a charge of variance q I T (Poisson statistics)."""
    suffix = "shot"

    def noise(self, node):
        return Q_E * sp.Abs(self.source.current(node))


class ThermalNoise(NoiseOf):
    """Johnson noise of a conductance element: S = 2 k_B T_K G (A^2 s, two-sided; 4kTG one-sided).
    On a synapse device (Resistive1T1R) G = |w| G_unit: each synapse adds its own, in proportion to |w|."""
    suffix = "thermal"

    def __init__(self, source):
        if not isinstance(source, Conductance):
            raise ValueError(f"ThermalNoise: source must be a Conductance element (Leak, Resistive1T1R, ...), "
                             f"got {source!r}")
        super().__init__(source)

    def noise(self, node):
        return 2 * K_B * node.T_K * self.source.G


class ResetNoise(Element):
    """kT/C noise sampled when the node is reset: Var(V) = k_B T_K / C_total (V^2)."""

    def __init__(self, name="reset_noise"):
        super().__init__(name)

    def initial_variance(self, node, capacitance):
        return K_B * node.T_K / capacitance


class _QuadraticCLM:
    """Output characteristic with a second-order term, x = V_DS - V_DS0 (n) or V_SD - V_SD0 (p):
        I_D = I (1 + lam x + lam2 x^2)
    I (A): drain current at reset; lam (1/V): the CLM slope; lam2 (1/V^2): the curvature (negative:
    the current falls faster as V_DS approaches saturation). lam2 = 0 is the plain device; lam2 != 0
    makes the synapse shape k(v) quadratic in v, so the circuit is no longer affine."""
    parameters = ("I", "lam", "lam2")
    defaults = {"lam": 0.0, "lam2": 0.0}
    nonnegative = ("I", "lam")

    def drain_current(self, x):
        return self.I * (1 + self.lam * x + self.lam2 * x ** 2)


class NMOSQuadratic(_QuadraticCLM, NMOS):
    """NMOS current source (drain on the membrane node), I_D of _QuadraticCLM with x = V - V0:
    i_in = -I_D."""

    def current(self, node):
        return -self.drain_current(node.V - node.V0)


class PMOSQuadratic(_QuadraticCLM, PMOS):
    """PMOS current source (drain on the membrane node), I_D of _QuadraticCLM with x = V0 - V:
    i_in = I_D."""

    def current(self, node):
        return self.drain_current(node.V0 - node.V)
