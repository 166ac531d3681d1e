"""What an element is on silicon: the device that realises it in a SPICE netlist, and how much
its parameters vary from one device to the next (mismatch).

An element declared with ``silicon=Mosfet(...)`` is the same element for the model (its sympy
current) and for the netlist (:mod:`circuitnet.spice`), so model and circuit cannot drift apart: a
MOSFET whose gate bias sets the element's current at reset, the element's current being the user's
model of that transistor (NMOS, PMOS, a fitted or a user's own device). Only a current source of V
alone can be realised so; anything else with ``silicon=`` is refused when the circuit is declared.
Elements without a ``silicon`` entry are realised as their ideal twins: a Capacitor as a capacitor,
a CapacitiveCoupling as its capacitor to a stepping control line, any element with a current (Leak,
CurrentSource, NMOS, a user's element) as a behavioural current source printed from its sympy current.

``mismatch=Mismatch(...)`` on an element declares its device-to-device spreads; drawing a chip from
them and mapping the draw onto the model is :mod:`circuitnet.variation`'s job.
"""
import math

from .units import parse_value


class Mosfet:
    """A MOSFET realising a current-source element with its drain on the membrane node.

    model : SPICE subcircuit name, e.g. "sky130_fd_pr__nfet_01v8" / "sky130_fd_pr__pfet_01v8".
    W, L  : gate width and length (m, or SI strings such as "1u", "0.25u").
    The source and body go to ground (NMOS) or to the supply (PMOS); the gate carries the bias that
    sets the element's current I at the reset level (from the extraction tables, circuitnet.spice).
    """

    def __init__(self, model, W, L):
        if not isinstance(model, str) or not model:
            raise ValueError(f"Mosfet: model must be a SPICE subcircuit name, got {model!r}")
        self.model = model
        self.W = parse_value(W, "Mosfet W")
        self.L = parse_value(L, "Mosfet L")
        for k in ("W", "L"):
            x = getattr(self, k)
            if not 1e-8 <= x <= 1e-3:
                raise ValueError(f"Mosfet {model}: {k} = {x:g} m is not a transistor dimension "
                                 f"(write it in metres or with a prefix, e.g. '0.25u')")

    @property
    def key(self):
        """Identifies the device for extraction caches: model name and geometry in um."""
        return f"{self.model}_W{self.W * 1e6:g}_L{self.L * 1e6:g}"

    def __repr__(self):
        return f"Mosfet({self.model!r}, W={self.W * 1e6:g}u, L={self.L * 1e6:g}u)"

    def __eq__(self, other):
        return isinstance(other, Mosfet) and self.key == other.key

    def __hash__(self):
        return hash(self.key)


class Mismatch:
    """Relative spreads (sd / mean, dimensionless, >= 0) of an element's parameters across devices:
    ``Mismatch(I=0.3, lam=0.01)``."""

    def __init__(self, **spreads):
        self.spreads = {}
        for name, s in spreads.items():
            x = parse_value(s, f"mismatch of {name!r}")
            if not (x >= 0 and math.isfinite(x)):
                raise ValueError(f"mismatch of {name!r} must be a finite relative spread >= 0, got {s!r}")
            self.spreads[name] = x

    @classmethod
    def pelgrom(cls, A_VT, W, L, gm_over_id, **other):
        """Current spread of a MOSFET from Pelgrom's law: sigma_Vth = A_VT / sqrt(W L) (A_VT in V m,
        W and L in m), sigma of ln I = gm/Id sigma_Vth (gm_over_id in 1/V; about 1/(n U_T), 25-30 /V, in
        weak inversion), I spread = sqrt(exp(sigma^2) - 1). ``other``: spreads of further parameters."""
        a, w, l, g = (parse_value(x, n) for x, n in ((A_VT, "A_VT"), (W, "W"), (L, "L"), (gm_over_id, "gm_over_id")))
        if not (a >= 0 and w > 0 and l > 0 and g > 0):
            raise ValueError(f"Mismatch.pelgrom: need A_VT >= 0, W > 0, L > 0, gm_over_id > 0; got {A_VT}, {W}, {L}, "
                             f"{gm_over_id}")
        sigma = g * a / math.sqrt(w * l)
        return cls(I=math.sqrt(math.expm1(sigma * sigma)), **other)

    def __repr__(self):
        return f"Mismatch({', '.join(f'{k}={v:g}' for k, v in self.spreads.items())})"
