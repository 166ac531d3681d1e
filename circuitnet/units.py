"""Physical values: floats in SI units or SI-prefix strings ("140f", "1u", "0.41", "1.8V", "20meg").

Prefixes: a f p n u (or µ) m k meg G T. "meg" (any case) is mega, as in SPICE. A capital "M" is
refused: SPICE reads it as milli (its prefixes ignore case) and SI as mega, so "140M" would be off by
10^9 for one of the two readers; write "m" for milli or "meg" for mega.
"""
import math
import re

PREFIXES = {"a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3,
            "": 1.0, "k": 1e3, "meg": 1e6, "G": 1e9, "T": 1e12}
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*((?i:meg)|[afpnuµmkMGT]?)\s*(Ohm|Hz|[FVAsSK]?)\s*$")

# Physical constants (SI).
Q_E = 1.602176634e-19      # elementary charge, C
K_B = 1.380649e-23         # Boltzmann constant, J/K


def parse_value(value, what="value"):
    """Return ``value`` as a float in SI units.

    Accepts an int/float, or a string ``<number>[prefix][unit]`` such as ``"140f"``, ``"140fF"``,
    ``"1us"``, ``"0.41"``, ``"2meg"`` (prefixes in the module docstring; "M" is refused as
    ambiguous). ``what`` names the quantity in the error message.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number or an SI string such as '140f', got {value!r}")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        m = _NUMBER.match(value)
        if not m:
            raise ValueError(f"{what}: cannot read {value!r} as a physical value; write a number "
                             f"with an optional SI prefix (a f p n u m k meg G T) and unit, e.g. '140f' or '1us'")
        prefix = "meg" if m.group(2).lower() == "meg" else m.group(2)
        if prefix == "M":
            raise ValueError(f"{what}: {value!r} is ambiguous: SPICE reads 'M' as milli, SI as mega; "
                             f"write 'm' for milli or 'meg' for mega")
        x = float(m.group(1)) * PREFIXES[prefix]
    else:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: expected a number or an SI string such as '140f', got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{what}: must be finite, got {value!r}")
    return x
