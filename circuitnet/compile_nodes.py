"""Compile a several-node circuit (circuitnet.nodes.MultiNodeCircuit) into batched torch functions.

    drift(x [..., n], p) -> dx/dtau [..., n]        f(x) of circuitnet.nodes, normalised
    jump(p, like)        -> u [n] (or [I, n])       x += w u at an input spike
    jacobian(x, p)       -> df/dx [..., n, n]

``p`` holds the parameter tensors (SI units; scalars, or [I] per neuron acting on the neuron axis
of x [B, I, n]). ``linear(p)`` gives (A, b) with f(x) = A x + b where f is affine in x (None
otherwise): what the closed forms recognise. The comparator's node is ``comparator``, the synapse's
``synapse``; the ``timeline`` is one phase in which inputs arrive and the comparator listens.
"""
import sympy as sp
import torch

from .codegen import NAMESPACE, TorchPrinter
from .timeline import Timeline


def _stack_fn(name, exprs, names, args):
    """A torch function name(*args) -> torch.stack(exprs broadcast, -1)."""
    pr = TorchPrinter(names)
    body = ", ".join(f"_t({pr.doprint(e)}, like)" for e in exprs)
    src = f"def {name}({', '.join(args)}):\n    return torch.stack(torch.broadcast_tensors({body}), -1)\n"
    ns = dict(NAMESPACE)
    exec(compile(src, f"<circuitnet:{name}>", "exec"), ns)
    return ns[name]


class CompiledNodes:
    """A several-node circuit's normalised dynamics as torch functions (see the module docstring)."""
    several_nodes = True
    integrates_while_firing = True      # inputs arrive while the comparator listens (time-to-first-spike)
    has_noise = False
    weight_dependent = False
    has_packets = False

    def __init__(self, circuit):
        self.circuit = circuit
        self.n = len(circuit.node_names)
        self.node_names = circuit.node_names
        self.comparator, self.synapse = circuit.comparator_index, circuit.synapse_index
        self.defaults = {s.name: float(v) for s, v in circuit.values.items()}
        xs = circuit.x_symbols
        names = {s: f"p[{s.name!r}]" for s in circuit.values}
        names.update({x: f"x[..., {i}]" for i, x in enumerate(xs)})
        self._drift = _stack_fn("drift", circuit.drift, names, ("x", "p", "like"))
        J = sp.Matrix(circuit.drift).jacobian(sp.Matrix(xs))
        self._jacobian = _stack_fn("jacobian", list(J), names, ("x", "p", "like"))
        self._jump = _stack_fn("jump", circuit.jump, names, ("p", "like"))
        self.affine = all(J[i, j].free_symbols.isdisjoint(xs) for i in range(self.n) for j in range(self.n))
        if self.affine:
            zero = {x: 0 for x in xs}
            self._A = _stack_fn("A", list(J), names, ("p", "like"))
            self._b = _stack_fn("b", [e.subs(zero) for e in circuit.drift], names, ("p", "like"))
        d = circuit.window / circuit.time_unit
        self.timeline = Timeline(durations=(d,), synapse_phase=0, comparator=(0,))

    # ---------------------------------------------------------------- torch functions
    def drift(self, x, p):
        """dx/dtau [..., n] at state x [..., n]."""
        return self._drift(x, p, x[..., 0])

    def jacobian(self, x, p):
        """df/dx [..., n, n] at x."""
        return self._jacobian(x, p, x[..., 0]).unflatten(-1, (self.n, self.n))

    def jump(self, p, like):
        """u [n] (or [..., n] with per-neuron parameters): x jumps by w u at an input spike."""
        return self._jump(p, like)

    def linear(self, p, like):
        """(A [n, n], b [n]) with f(x) = A x + b (leading neuron axes with per-neuron parameters), or None."""
        if not self.affine:
            return None
        return self._A(p, like).unflatten(-1, (self.n, self.n)), self._b(p, like)

    # ---------------------------------------------------------------- as CompiledCircuit
    @property
    def synapse_phase(self):
        return 0

    @property
    def parameter_names(self):
        return sorted(self.defaults)

    def params(self, dtype=torch.float64, device=None, **overrides):
        """Parameter tensors (SI units) by name; override any (tensors may require grad or be [I])."""
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown circuit parameter(s) {sorted(unknown)}; known: {self.parameter_names}")
        out = {}
        for k, v in self.defaults.items():
            x = overrides.get(k, v)
            out[k] = x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=dtype, device=device)
            if not torch.isfinite(out[k]).all():
                raise ValueError(f"circuit parameter {k!r} has non-finite values")
        return out
