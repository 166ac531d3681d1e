"""What an element is on silicon: the device that realises it in a SPICE netlist.

An element declared with ``silicon=Mosfet(...)`` is the same element for the model (its sympy
current) and for the netlist (:mod:`circuitnet.spice`), so model and circuit cannot drift apart.
Elements without a ``silicon`` entry are realised as their ideal twins: a Capacitor as a capacitor,
any element with a current (Leak, CurrentSource, NMOS, a user's element) as a behavioural current
source printed from its sympy current. Elements that also carry capacitance (CapacitiveCoupling)
cannot be written yet, and :mod:`circuitnet.spice` says so.
"""
from .units import parse_value


class Mosfet:
    """A MOSFET realising a current-source element (NMOS/PMOS) with its drain on the membrane node.

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
