"""sympy -> torch code generation (Brian2-style): a printer and the functions it compiles.

``codegen(name, expr, args, names)`` prints a sympy expression as the body of a torch function of
``args`` (``names`` maps each symbol to the code that reads it) and compiles it; every compiled
circuit's functions come from here (circuitnet.compile, circuitnet.compile_nodes).
"""
import sympy as sp
import torch
from sympy.printing.str import StrPrinter

from .shapes import Spline


_FUNCS = {"exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt", "Abs": "torch.abs",
          "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan", "tanh": "torch.tanh",
          "sinh": "torch.sinh", "cosh": "torch.cosh", "sign": "torch.sign", "atan": "torch.atan",
          "erf": "torch.erf", "floor": "torch.floor", "ceiling": "torch.ceil"}


def _t(x, like):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _heaviside(x, h0):
    return torch.where(x > 0, 1.0, torch.where(x < 0, 0.0, h0)).to(x.dtype)


def _max(a, *rest):
    for b in rest:
        a = torch.maximum(_t(a, b) if isinstance(b, torch.Tensor) else a, _t(b, a))
    return a


def _min(a, *rest):
    for b in rest:
        a = torch.minimum(_t(a, b) if isinstance(b, torch.Tensor) else a, _t(b, a))
    return a


NAMESPACE = {"torch": torch, "_t": _t, "_heaviside": _heaviside, "_max": _max, "_min": _min,
              "inf": float("inf"), "nan": float("nan")}


class TorchPrinter(StrPrinter):
    """Prints a sympy expression as torch code. Symbols are printed by ``names``; numbers as floats."""

    def __init__(self, names):
        super().__init__()
        self.names = names
        self.tables = {}           # name -> torch function of the tabulated shapes (circuitnet.shapes) it prints

    def _print(self, expr, **kwargs):
        if isinstance(expr, sp.Expr) and expr.is_number and not expr.has(sp.zoo, sp.nan):
            return repr(float(expr))
        return super()._print(expr, **kwargs)

    def _print_Symbol(self, expr):
        if expr not in self.names:
            raise ValueError(f"cannot compile symbol {expr} (not a parameter or state of the circuit)")
        return self.names[expr]

    def _print_Pow(self, expr, rational=False):
        b, e = self._print(expr.base), expr.exp
        if e == sp.S.Half:
            return f"torch.sqrt({b})"
        if e == -1:
            return f"(1.0/({b}))"
        return f"(({b})**({self._print(e)}))"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if isinstance(expr, Spline):
            self.tables.setdefault(f"_{name}", type(expr).torch_function())
            return f"_{name}({self._print(expr.args[0])})"
        if name not in _FUNCS:
            raise ValueError(f"cannot compile function {name} to torch; supported: "
                             f"{sorted(_FUNCS) + ['Heaviside', 'Max', 'Min', 'Piecewise']} and circuitnet.shapes.spline tables")
        return f"{_FUNCS[name]}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Heaviside(self, expr):
        h0 = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        return f"_heaviside({self._print(expr.args[0])}, {float(h0)!r})"

    def _print_DiracDelta(self, expr):
        return "0.0"      # derivative of a switch: no contribution between switching times

    def _print_Max(self, expr):
        return f"_max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"_min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Piecewise(self, expr):
        out = None
        for value, cond in reversed(expr.args):
            v = self._print(value)
            if cond == sp.true:
                out = v
            else:
                out = f"torch.where({self._print(cond)}, {v}, {out if out is not None else 'nan'})"
        return out

    def _print_Relational(self, expr):
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_And(self, expr):
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"


def codegen(name, expr, args, names, like="v"):
    """A torch function ``name(*args)`` returning sympy ``expr`` printed by :class:`TorchPrinter`
    (``names``: symbol -> code), as a tensor like the argument named ``like``. Functions whose
    arguments include ``v`` also take ``w=1.0`` (|weight|, for weight-dependent synapse shapes)."""
    printer = TorchPrinter(names)
    body = printer.doprint(expr)
    sig = ", ".join(args) + (", w=1.0" if "v" in args else "")
    src = f"def {name}({sig}):\n    return _t({body}, {like})\n"
    ns = dict(NAMESPACE, **printer.tables)
    exec(compile(src, f"<circuitnet:{name}>", "exec"), ns)
    fn = ns[name]
    fn.source = src
    return fn


def parameter_tensors(defaults, overrides, dtype, device):
    """{name: tensor} of a compiled circuit's parameters (SI units): ``defaults`` (name: float), each
    replaced by its override (a tensor, which may require grad or vary per neuron, or a number); an
    unknown name or a non-finite value is a ValueError."""
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise ValueError(f"unknown circuit parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out = {}
    for k, v in defaults.items():
        x = overrides.get(k, v)
        out[k] = x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=dtype, device=device)
        if not torch.isfinite(out[k]).all():
            raise ValueError(f"circuit parameter {k!r} has non-finite values")
    return out
