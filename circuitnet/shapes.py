"""Tabulated shapes: a piecewise polynomial of one variable as a single sympy function.

``spline(knots, coefficients)`` returns a sympy function class S; ``S(x)`` is

    S(x) = sum_n c_jn (x - k_j)^n      on piece j: k_j <= x < k_(j+1)

with the first piece continued below k_0 and the last above k_(n-1) (a natural cubic spline of a
device's I(V), circuitnet.spice.knees, continues linearly-ish past its end knots this way). To sympy
S(x) is an opaque function of x like exp(x): it differentiates (S' is another spline), evaluates at
numbers, and the compiler treats it as one atom, where the same spline written as a Piecewise of
cubics costs minutes of simplification per circuit. Every printer knows it: torch code evaluates the
table with one bucketize and a Horner scheme (circuitnet.codegen); ngspice gets the nested-ternary
Piecewise (``S(x).rewrite(sp.Piecewise)``); sympy.lambdify uses its float implementation.
"""
import bisect
import math

import sympy as sp
import torch

_CLASSES = {}


class Spline(sp.Function):
    """Base of the classes :func:`spline` makes; ``knots`` (ascending, volts or whatever x is) and
    ``coefficients`` (per piece, c_j0, c_j1, ... in powers of x - k_j) are class attributes."""
    nargs = 1
    knots = ()
    coefficients = ()

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.Float(cls.value(float(x)))
        return None

    @classmethod
    def piece(cls, x):
        """The index j of the piece that holds x (0 below k_1, the last from k_(n-2) on)."""
        return min(max(bisect.bisect_right(cls.knots, x) - 1, 0), len(cls.coefficients) - 1)

    @classmethod
    def value(cls, x):
        """S(x) at a float x (Horner)."""
        j = cls.piece(x)
        d, out = x - cls.knots[j], 0.0
        for c in reversed(cls.coefficients[j]):
            out = out * d + c
        return out

    _imp_ = None          # set per class: sympy.lambdify's float implementation

    def fdiff(self, argindex=1):
        deriv = tuple(tuple(n * c for n, c in enumerate(row))[1:] or (0.0,) for row in self.coefficients)
        return spline(self.knots, deriv)(self.args[0])

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        pieces = []
        last = len(self.coefficients) - 1
        for j, row in enumerate(self.coefficients):
            d = x - sp.Float(self.knots[j])
            poly = sp.Integer(0)
            for c in reversed(row):
                poly = poly * d + sp.Float(c)
            pieces.append((poly, sp.true if j == last else x < sp.Float(self.knots[j + 1])))
        return sp.Piecewise(*pieces)

    @classmethod
    def torch_function(cls):
        """f(x): S at a tensor x, differentiable in x (any dtype and device; tables cached per both)."""
        cache = {}

        def f(x):
            key = (x.dtype, x.device)
            if key not in cache:
                k = torch.tensor(cls.knots[:-1], dtype=x.dtype, device=x.device)        # each piece's origin
                width = max(len(r) for r in cls.coefficients)
                c = torch.tensor([list(r) + [0.0] * (width - len(r)) for r in cls.coefficients], dtype=x.dtype,
                                 device=x.device)
                inner = torch.tensor(cls.knots[1:-1], dtype=x.dtype, device=x.device)  # where pieces change
                cache[key] = (k, c, inner)
            k, c, inner = cache[key]
            j = torch.bucketize(x.detach().contiguous(), inner, right=True)
            d = x - k[j]
            out = torch.zeros_like(d)
            for n in range(c.shape[1] - 1, -1, -1):
                out = out * d + c[j, n]
            return out
        return f


def spline(knots, coefficients):
    """The sympy function class of the piecewise polynomial with ``knots`` [n] (ascending) and
    ``coefficients`` [n - 1][m] (piece j: sum_n c_jn (x - k_j)^n for k_j <= x < k_(j+1), the end
    pieces continued beyond the knots). The same table gives the same class."""
    knots = tuple(float(k) for k in knots)
    coefficients = tuple(tuple(float(c) for c in row) for row in coefficients)
    if len(knots) < 2 or any(b <= a for a, b in zip(knots, knots[1:])):
        raise ValueError(f"spline: knots must be at least two ascending numbers, got {knots}")
    if len(coefficients) != len(knots) - 1 or any(not row for row in coefficients):
        raise ValueError(f"spline: one non-empty row of coefficients per piece ({len(knots) - 1}), got "
                         f"{len(coefficients)} rows")
    if not all(math.isfinite(c) for row in coefficients for c in row):
        raise ValueError("spline: coefficients must be finite")
    key = (knots, coefficients)
    if key not in _CLASSES:
        cls = type(f"Spline{len(_CLASSES)}", (Spline,), dict(knots=knots, coefficients=coefficients))
        cls._imp_ = staticmethod(cls.value)
        _CLASSES[key] = cls
    return _CLASSES[key]
