"""Compile a several-node circuit (circuitnet.nodes.MultiNodeCircuit) into batched torch functions.

    drift(x [..., n], p) -> dx/dtau [..., n]        f(x) of circuitnet.nodes, normalised
    jump(p, like)        -> u [n] (or [I, n])       x += w u at an input spike
    jacobian(x, p)       -> df/dx [..., n, n]

``p`` holds the parameter tensors (SI units; scalars, or [I] per neuron acting on the neuron axis
of x [B, I, n]). ``linear(p)`` gives (A, b) with f(x) = A x + b where f is affine in x (None
otherwise): what the closed forms recognise. The comparator's node is ``comparator``, the synapse's
``synapse``; the ``timeline`` is one phase in which inputs arrive and the comparator listens.

Declared noise (``has_noise``; simulated by method "sde", circuitnet.solve.nodes_sde):

    diffusion(x, p)       -> G [..., n, E]           dx = f dtau + G dW (columns g_e, one per noise element)
    reset_covariance(p, like) -> Sigma0 [n, n] or None   x(0) ~ Normal(0, Sigma0) (kT/C, ResetNoise)
    reset_cholesky(p, like)   -> L [n, n] or None        Sigma0 = L L^T
"""
import sympy as sp
import torch

from .codegen import NAMESPACE, TorchPrinter, codegen, parameter_tensors
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
    weight_dependent = False
    has_packets = False
    synapse_conduction = False

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
        self.noise_names = tuple(e.name for e in circuit.noise_elements)
        self.E = len(self.noise_names)
        self.has_noise = circuit.has_noise
        if self.E:
            self._rates = _stack_fn("noise_rates", circuit.noise_rates, names, ("x", "p", "like"))
            dirs = [circuit.noise_directions[e][i] for i in range(self.n) for e in range(self.E)]
            self._dirs = _stack_fn("noise_directions", dirs, names, ("p", "like"))
        if circuit.reset_covariance is not None:
            self._sigma0 = _stack_fn("reset_covariance", list(circuit.reset_covariance), names, ("p", "like"))
        s_ = circuit.synapse_index
        pnames = {sym: f"p[{sym.name!r}]" for sym in circuit.values}
        self.capacitance = codegen("capacitance", circuit.capacitance_matrix[s_, s_], ("p", "like"), pnames, like="like")
        self.swing = codegen("swing", circuit.swing, ("p", "like"), pnames, like="like")
        d = circuit.window / circuit.time_unit
        self.timeline = Timeline(durations=(d,), synapse_phase=0, comparator=(0,))

    # ---------------------------------------------------------------- torch functions
    def programmable(self, weight):
        """``weight`` itself: a charge synapse has no device whose lowest current could leave it off
        (CompiledCircuit.programmable)."""
        return weight

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

    def noise_rates(self, x, p):
        """T S_e(V) / (S C_aa)^2 [..., E] at state x: each noise element's normalised variance rate, C_aa the
        capacitance of its source's (first) node a (circuitnet.nodes)."""
        return self._rates(x, p, x[..., 0])

    def noise_directions(self, p, like):
        """C_aa Cm^-1 (e_a - e_b) [n, E] (or [..., n, E] with per-neuron parameters): g_e = sqrt(rate_e) direction_e."""
        return self._dirs(p, like).unflatten(-1, (self.n, self.E))

    def diffusion(self, x, p):
        """G [..., n, E] at state x: column e is g_e = sqrt(T S_e) / S Cm^-1 (e_a - e_b) (normalised);
        zero columns (and zero gradients) where S_e = 0. [..., n, 0] without noise elements."""
        if not self.E:
            return x.new_zeros(x.shape + (0,))
        r = self.noise_rates(x, p)
        pos = r > 0
        amp = torch.where(pos, torch.sqrt(torch.where(pos, r, torch.ones_like(r))), torch.zeros_like(r))
        G = amp[..., None, :] * self.noise_directions(p, x[..., 0])
        return G.expand(torch.broadcast_shapes(G.shape, x.shape[:-1] + (self.n, self.E)))

    def reset_covariance(self, p, like):
        """Sigma0 = k_B T_K Cm^-1 / S^2 [n, n] (or [..., n, n]), or None without ResetNoise."""
        if self.circuit.reset_covariance is None:
            return None
        return self._sigma0(p, like).unflatten(-1, (self.n, self.n))

    def reset_cholesky(self, p, like):
        """L with L L^T = Sigma0 (lower triangular), or None without ResetNoise."""
        S = self.reset_covariance(p, like)
        return None if S is None else torch.linalg.cholesky(S)

    # ---------------------------------------------------------------- as CompiledCircuit
    @property
    def synapse_phase(self):
        return 0

    @property
    def parameter_names(self):
        return sorted(self.defaults)

    def params(self, dtype=torch.float64, device=None, **overrides):
        """Parameter tensors (SI units) by name; override any (tensors may require grad or be [I])."""
        return parameter_tensors(self.defaults, overrides, dtype, device)
