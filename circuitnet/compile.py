"""Compile a circuit's normalised sympy dynamics into batched torch functions (Brian2-style codegen).

For each phase p, with c = prepare(params) the parameter-only subexpressions hoisted out of every
expression (evaluated once per solve, differentiable by autograd w.r.t. the physical parameters):

    drift(v, tau, tsw, c)   = a_p                        dv/dtau without synapses
    k_pos(v, ...), k_neg    = synapse device shapes       dv/dtau += P k_pos + N k_neg
    d*_dv                   = derivatives w.r.t. v       (adjoint, Newton polishing)
    d*_dc[k]                = derivatives w.r.t. c_k      (parameter gradients of the adjoint)
    noise, noise_pos, noise_neg = variance rates        (SDE diffusion^2 = noise + P noise_pos - N noise_neg)

``w`` (default 1) is |weight| for synapse shapes that depend on it (bias-dependent CLM, e.g.
FittedNMOS): such circuits are ``weight_dependent``. Where that shape is affine,
k(v; w) = 1 - beta(w) v, the synaptic drive of a neuron is sum_j w_j H_j - v sum_j w_j beta(|w_j|) H_j:
``rhs`` then takes P and N stacked as [2, ...] (the sums of w and of w beta(|w|)), and
``dbeta_pos_dw`` / ``dbeta_neg_dw`` give the derivative the adjoint needs.
``tsw`` is the time at which time switches H(tau - tau_e) are evaluated (the middle of the current
integration interval, whose edges include every switching time), so steps never straddle a jump.
Functions take tensors and return tensors broadcastable to v.
"""
import sympy as sp
import torch
from sympy.printing.str import StrPrinter

from .circuit import tau_sym, v_sym, w_sym

tsw_sym = sp.Symbol("tsw", real=True)
_DYNAMIC = {v_sym, tau_sym, tsw_sym, w_sym}

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


_NAMESPACE = {"torch": torch, "_t": _t, "_heaviside": _heaviside, "_max": _max, "_min": _min,
              "inf": float("inf"), "nan": float("nan")}


class TorchPrinter(StrPrinter):
    """Prints a sympy expression as torch code. Symbols are printed by ``names``; numbers as floats."""

    def __init__(self, names):
        super().__init__()
        self.names = names

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
        if name not in _FUNCS:
            raise ValueError(f"cannot compile function {name} to torch; supported: "
                             f"{sorted(_FUNCS) + ['Heaviside', 'Max', 'Min', 'Piecewise']}")
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


def _codegen(name, expr, args, names, like="v"):
    body = TorchPrinter(names).doprint(expr)
    sig = ", ".join(args) + (", w=1.0" if "v" in args else "")
    src = f"def {name}({sig}):\n    return _t({body}, {like})\n"
    ns = dict(_NAMESPACE)
    exec(compile(src, f"<circuitnet:{name}>", "exec"), ns)
    fn = ns[name]
    fn.source = src
    return fn


class _Hoister:
    """Replace maximal parameter-only subtrees by constants c_k (computed once per solve)."""

    def __init__(self):
        self.consts = {}

    def __call__(self, expr):
        if expr.is_Number or expr in _DYNAMIC:
            return expr
        if not (expr.free_symbols & _DYNAMIC):
            if expr not in self.consts:
                self.consts[expr] = sp.Symbol(f"c{len(self.consts)}", real=True)
            return self.consts[expr]
        if isinstance(expr, (sp.Add, sp.Mul)):      # group the static factors/terms into one constant
            static = [a for a in expr.args if not (a.free_symbols & _DYNAMIC)]
            dynamic = [self(a) for a in expr.args if a.free_symbols & _DYNAMIC]
            if static:
                dynamic.append(self(expr.func(*static)))
            return expr.func(*dynamic)
        return expr.func(*[self(a) for a in expr.args])


def _switch_at_tsw(expr):
    """Evaluate time switches at tsw: H(g(tau)) -> H(g(tsw))."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside) and e.has(tau_sym),
                        lambda e: sp.Heaviside(e.args[0].subs(tau_sym, tsw_sym), *e.args[1:]))


def _is_affine(expr):
    return bool(expr.is_polynomial(v_sym)) and sp.degree(sp.Poly(expr, v_sym)) <= 1 if expr.has(v_sym) else True


class CompiledPhase:
    """Torch functions of one phase's normalised dynamics (see the module docstring)."""

    def __init__(self, nphase, circuit):
        self.name, self.duration = nphase.name, float(circuit.value(nphase.duration))
        self.synapses, self.comparator = nphase.synapses, nphase.comparator
        exprs = {"drift": nphase.drift, "k_pos": nphase.k_pos, "k_neg": nphase.k_neg,
                 "noise": nphase.noise, "noise_pos": nphase.noise_pos, "noise_neg": nphase.noise_neg}
        self.affine = all(_is_affine(exprs[k]) for k in ("drift", "k_pos", "k_neg"))
        self.weight_dependent = nphase.k_pos.has(w_sym) or nphase.k_neg.has(w_sym)
        self.time_invariant = not nphase.drift.has(tau_sym)
        self.breakpoints = _breakpoints(nphase, circuit)
        self.switch_parameters = _switch_parameters(nphase)
        for k in ("drift", "k_pos", "k_neg"):
            exprs["d" + k + "_dv"] = sp.diff(exprs[k], v_sym)
        if self.weight_dependent and not self.affine:
            raise ValueError(f"phase {self.name!r}: a synapse shape that depends on the weight must be affine in v "
                             f"(k = 1 - beta(w) v, as for FittedNMOS/FittedPMOS)")
        if self.affine:
            exprs["leak"] = -sp.diff(nphase.drift, v_sym)
            exprs["bias"] = nphase.drift.subs(v_sym, 0)
            exprs["beta_pos"] = -sp.diff(nphase.k_pos, v_sym)
            exprs["beta_neg"] = -sp.diff(nphase.k_neg, v_sym)
            exprs["dbeta_pos_dw"] = sp.diff(exprs["beta_pos"], w_sym)
            exprs["dbeta_neg_dw"] = sp.diff(exprs["beta_neg"], w_sym)
        hoist = _Hoister()
        exprs = {k: hoist(_switch_at_tsw(sp.expand(e, log=False) if k.startswith(("leak", "bias", "beta")) else e))
                 for k, e in exprs.items()}
        self.const_exprs = list(hoist.consts)
        self.const_symbols = list(hoist.consts.values())
        names = {v_sym: "v", tau_sym: "tau", tsw_sym: "tsw", w_sym: "w"}
        names.update({c: f"c[{i}]" for i, c in enumerate(self.const_symbols)})
        for k, e in exprs.items():
            setattr(self, k, _codegen(f"{self.name}_{k}", e, ("v", "tau", "tsw", "c"), names))
        for k in ("drift", "k_pos", "k_neg"):
            setattr(self, f"d{k}_dc", [_codegen(f"{self.name}_d{k}_dc{i}", sp.diff(exprs[k], c),
                                                ("v", "tau", "tsw", "c"), names)
                                       for i, c in enumerate(self.const_symbols)])
        pnames = {s: f"p[{s.name!r}]" for s in circuit.parameter_symbols}
        self._const_fns = [_codegen(f"{self.name}_const{i}", e, ("p", "like"), pnames, like="like")
                           for i, e in enumerate(self.const_exprs)]
        self.exprs = exprs

    def prepare(self, p, like):
        """Constants c_k of this phase from parameter tensors p (dict name -> tensor)."""
        return [f(p, like) for f in self._const_fns]

    def rhs(self, v, tau, tsw, P, N, c):
        """dv/dtau = a(v, tau) + P k_pos(v) + N k_neg(v) (synaptic terms where synapses conduct)."""
        f = self.drift(v, tau, tsw, c)
        if self.synapses and self.weight_dependent:       # P, N stacked: (sum w H, sum w beta(|w|) H)
            return f + (P[0] + N[0]) - v * (P[1] + N[1])
        if self.synapses:
            f = f + P * self.k_pos(v, tau, tsw, c) + N * self.k_neg(v, tau, tsw, c)
        return f


def _switch_parameters(nphase):
    """Names of the parameters that place a time switch H(g(tau)) (its breakpoints are fixed at compile time)."""
    return {s.name for expr in (nphase.drift, nphase.noise) for h in expr.atoms(sp.Heaviside) if h.has(tau_sym)
            for s in h.args[0].free_symbols if s not in _DYNAMIC}


def _breakpoints(nphase, circuit):
    """Normalised local times where a time switch H(g(tau)) flips inside the phase."""
    pts = set()
    for expr in (nphase.drift, nphase.noise):
        for h in expr.atoms(sp.Heaviside):
            if not h.has(tau_sym):
                continue
            arg = h.args[0].subs(circuit.values)
            for r in sp.solve(sp.Eq(arg, 0), tau_sym):
                r = float(r)
                if 0 < r < float(circuit.value(nphase.duration)):
                    pts.add(r)
    return tuple(sorted(pts))


class CompiledCircuit:
    """A circuit's dynamics as torch functions, one :class:`CompiledPhase` per simulated phase.

    ``params(dtype, device, **overrides)`` gives the parameter tensors (SI units) the functions
    read; override any of them, e.g. with tensors that require grad or that vary per neuron.
    """

    def __init__(self, circuit):
        self.circuit = circuit
        self.defaults = {s.name: float(v) for s, v in circuit.values.items()}
        self.phases = [CompiledPhase(p, circuit) for p in circuit.normalised]
        self.synapse_phase = next(i for i, p in enumerate(self.phases) if p.synapses)
        self.affine = all(p.affine for p in self.phases)
        self.weight_dependent = any(p.weight_dependent for p in self.phases)
        self.switch_parameters = set().union(*(p.switch_parameters for p in self.phases))
        iv = circuit.initial_variance
        self.initial_variance = _codegen("initial_variance", iv, ("p", "like"),
                                         {s: f"p[{s.name!r}]" for s in circuit.parameter_symbols}, like="like")
        self.has_noise = bool(iv != 0) or any(
            any(e != 0 for e in (p.exprs["noise"], p.exprs["noise_pos"], p.exprs["noise_neg"])) for p in self.phases)

    @property
    def parameter_names(self):
        return sorted(self.defaults)

    def params(self, dtype=torch.float64, device=None, **overrides):
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown circuit parameter(s) {sorted(unknown)}; known: {self.parameter_names}")
        moved = set(overrides) & self.switch_parameters
        if moved:
            raise ValueError(f"circuit parameter(s) {sorted(moved)} place a time switch, whose breakpoints are fixed "
                             f"when the circuit is compiled; declare a new circuit to change them")
        out = {}
        for k, v in self.defaults.items():
            x = overrides.get(k, v)
            out[k] = x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=dtype, device=device)
            if not torch.isfinite(out[k]).all():
                raise ValueError(f"circuit parameter {k!r} has non-finite values")
        return out


def compile_circuit(circuit):
    """Compile a :class:`~circuitnet.circuit.NeuronCircuit` to torch (see :class:`CompiledCircuit`).
    The result is cached on the circuit; a CompiledCircuit is returned as is."""
    if isinstance(circuit, CompiledCircuit):
        return circuit
    from .circuit import NeuronCircuit
    if not isinstance(circuit, NeuronCircuit):
        raise ValueError(f"expected a NeuronCircuit or CompiledCircuit, got {type(circuit).__name__}")
    if getattr(circuit, "_compiled", None) is None:
        circuit._compiled = CompiledCircuit(circuit)
    return circuit._compiled
