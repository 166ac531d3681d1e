"""Compile a circuit's normalised sympy dynamics into batched torch functions (Brian2-style codegen).

For each phase p, with c = prepare(params) the parameter-only subexpressions hoisted out of every
expression (evaluated once per solve, differentiable by autograd w.r.t. the physical parameters):

    drift(v, tau, tsw, c)   = a_p                        dv/dtau without synapses
    k_pos(v, ...), k_neg    = synapse device shapes       dv/dtau += pos k_pos + neg k_neg
    d*_dv                   = derivatives w.r.t. v       (adjoint, Newton polishing)
    d*_dc[k]                = derivatives w.r.t. c_k      (parameter gradients of the adjoint)
    noise, noise_pos, noise_neg = variance rates        (SDE diffusion^2 = noise + pos noise_pos - neg noise_neg)

``w`` (default 1) is |weight| for synapse shapes that depend on it (bias-dependent CLM, e.g.
FittedNMOS): such circuits are ``weight_dependent``. That shape must be separable in w and v,

    k(v; w) = 1 - beta(w) v + sum_p g_p(w) phi_p(v)

(the terms of its expansion each a function of w times a function of v alone: a polynomial in v, the
devices' curvature gamma(w) v^2, a knee exp(-v / a), ...), so that the synaptic drive of a neuron is
sum_j w_j H_j - v sum_j w_j beta(|w_j|) H_j + sum_p phi_p(v) sum_j w_j g_p(|w_j|) H_j: ``rhs`` then
reads the drive's pos_beta, neg_beta and, on a ``curved`` phase (one or more terms phi_p), its curves
(circuitnet.drive); ``dbeta_pos_dw``, ``dbeta_neg_dw`` and the ``curves`` (phi_p, dphi_p/dv, g_p and
dg_p/dw per sign) give what the adjoint needs.
``tsw`` is the time at which time switches H(tau - tau_e) are evaluated (the middle of the current
integration interval, whose edges include every switching time), so steps never straddle a jump.
Functions take tensors and return tensors broadcastable to v.
"""
import weakref
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import sympy as sp
import torch

from .codegen import TorchPrinter, codegen, parameter_tensors
from .compile_nodes import CompiledNodes
from .drive import synapse_weights
from .neuron import NeuronCircuit, held, tau_sym, v_degree, v_sym, w_sym
from .nodes import MultiNodeCircuit
from .timeline import Timeline

tsw_sym = sp.Symbol("tsw", real=True)
_DYNAMIC = {v_sym, tau_sym, tsw_sym, w_sym}

class _Hoister:
    """Replace maximal parameter-only subtrees by constants c_k (computed once per solve)."""

    def __init__(self):
        self.consts = {}

    def __call__(self, expr):
        if expr.is_Number or expr in _DYNAMIC or isinstance(expr, sp.logic.boolalg.BooleanAtom):
            return expr                       # (a Piecewise's last condition, True, stays as it is)
        if isinstance(expr, sp.functions.elementary.piecewise.ExprCondPair):    # a piece stays a piece
            return expr.func(self(expr.expr), self(expr.cond))
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
        if isinstance(expr, (sp.Max, sp.Min)):      # rebuilt as it was: their evaluation compares the arguments
            return expr.func(*[self(a) for a in expr.args], evaluate=False)     # pairwise (seconds per call)
        return expr.func(*[self(a) for a in expr.args])


def _switch_at_tsw(expr):
    """Evaluate time switches at tsw: H(g(tau)) -> H(g(tsw))."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside) and e.has(tau_sym),
                        lambda e: sp.Heaviside(e.args[0].subs(tau_sym, tsw_sym), *e.args[1:]))


def _is_affine(expr):
    return v_degree(expr, 2) in (0, 1)


_FUNCTIONS = ("drift", "k_pos", "k_neg", "noise", "noise_pos", "noise_neg", "ddrift_dv", "dk_pos_dv", "dk_neg_dv")
_AFFINE = ("leak", "bias", "beta_pos", "beta_neg", "dbeta_pos_dw", "dbeta_neg_dw")



class _Derivatives:
    """The torch functions d expr / d c_i, one per hoisted constant, generated when first read (only
    parameter gradients read them; on a fitted device's shape they were most of the compile time)."""

    def __init__(self, name, expr, consts, names):
        self.name, self.expr, self.consts, self.names = name, expr, consts, names
        self._fns = {}

    def __len__(self):
        return len(self.consts)

    def __getitem__(self, i):
        if i not in self._fns:
            self._fns[i] = codegen(f"{self.name}{i}", sp.diff(self.expr, self.consts[i]), ("v", "tau", "tsw", "c"),
                                   self.names)
        return self._fns[i]


@dataclass(eq=False)
class CompiledPhase:
    """Torch functions of one phase's normalised dynamics (see the module docstring).

    Every function ``f(v, tau, tsw, c, w=1.0)`` returns a tensor broadcastable to v: ``drift`` (a),
    ``k_pos`` / ``k_neg`` (device shapes), ``noise`` / ``noise_pos`` / ``noise_neg`` (variance rates)
    and the v-derivatives ``ddrift_dv``, ``dk_pos_dv``, ``dk_neg_dv``; ``ddrift_dc`` ... are lists of
    the derivatives in each hoisted constant c_k. Affine phases (a = bias - leak v, k = 1 - beta v)
    also have ``leak``, ``bias``, ``beta_pos``, ``beta_neg`` and the |w|-derivatives ``dbeta_pos_dw``,
    ``dbeta_neg_dw``; on other phases these are None.
    """
    name: str
    duration: float                  # normalised
    synapses: bool                   # synapses conduct in this phase
    comparator: bool                 # the comparator listens in this phase
    affine: bool                     # drift and shapes affine in v
    weight_dependent: bool           # shapes depend on |w| (FittedNMOS / FittedPMOS)
    curved: bool                     # weight-dependent shapes with terms beyond 1 - beta v (``curves``)
    time_invariant: bool             # no time switch in the drift
    breakpoints: tuple               # local times where a time switch flips
    switch_parameters: frozenset     # parameters that place those switches (fixed at compile time)
    exprs: dict                      # the hoisted sympy expressions of every function
    const_exprs: list                # the parameter-only subexpressions hoisted out (sympy)
    const_symbols: list              # their symbols c_0, c_1, ...
    const_fns: list                  # c_k(p, like): the constants from parameter tensors
    drift: Callable
    k_pos: Callable
    k_neg: Callable
    noise: Callable
    noise_pos: Callable
    noise_neg: Callable
    ddrift_dv: Callable
    dk_pos_dv: Callable
    dk_neg_dv: Callable
    ddrift_dc: "_Derivatives"
    dk_pos_dc: "_Derivatives"
    dk_neg_dc: "_Derivatives"
    leak: Optional[Callable] = None
    bias: Optional[Callable] = None
    beta_pos: Optional[Callable] = None
    beta_neg: Optional[Callable] = None
    dbeta_pos_dw: Optional[Callable] = None
    dbeta_neg_dw: Optional[Callable] = None
    curves: tuple = ()               # per separable term: Curve(phi, dphi_dv, g_pos, g_neg, dg_pos_dw, dg_neg_dw)

    def prepare(self, p, like):
        """Constants c_k of this phase from parameter tensors p (dict name -> tensor)."""
        return [f(p, like) for f in self.const_fns]

    def rhs(self, v, tau, tsw, drive, c):
        """dv/dtau = a(v, tau) + pos k_pos(v) + neg k_neg(v) where synapses conduct: the drift plus
        :meth:`synaptic`."""
        f = self.drift(v, tau, tsw, c)
        return f + self.synaptic(v, tau, tsw, drive, c) if self.synapses else f

    def rhs_dv(self, v, tau, tsw, drive, c):
        """dF/dv of :meth:`rhs` (the linearisation the adjoint and the jitter integrate)."""
        fv = self.ddrift_dv(v, tau, tsw, c)
        return fv + self.synaptic_dv(v, tau, tsw, drive, c) if self.synapses else fv

    def synaptic(self, v, tau, tsw, drive, c):
        """The synapses' part of dv/dtau, pos k_pos(v) + neg k_neg(v) for the drive (a
        :class:`~circuitnet.drive.Drive`); weight-dependent shapes: (pos + neg) - v (pos_beta + neg_beta)
        + sum_p phi_p(v) curves[p]. Linear in the drive: a drive of charges (normalised voltage times
        normalised time) gives a jump of v (the edge conduction, circuitnet.solve.schedule)."""
        if self.weight_dependent:
            f = (drive.pos + drive.neg) - v * (drive.pos_beta + drive.neg_beta)
            for cv, d in zip(self.curves, drive.curves):
                f = f + cv.phi(v, tau, tsw, c) * d
            return f
        return drive.pos * self.k_pos(v, tau, tsw, c) + drive.neg * self.k_neg(v, tau, tsw, c)

    def synaptic_dv(self, v, tau, tsw, drive, c):
        """d/dv of :meth:`synaptic`."""
        if self.weight_dependent:
            fv = -(drive.pos_beta + drive.neg_beta)
            for cv, d in zip(self.curves, drive.curves):
                fv = fv + cv.dphi_dv(v, tau, tsw, c) * d
            return fv
        return drive.pos * self.dk_pos_dv(v, tau, tsw, c) + drive.neg * self.dk_neg_dv(v, tau, tsw, c)

    def noise_rate(self, v, tau, tsw, drive, c):
        """Variance rate s = noise + pos noise_pos - neg noise_neg (diffusion^2 of the SDE)."""
        s = self.noise(v, tau, tsw, c)
        if self.synapses:
            s = s + drive.pos * self.noise_pos(v, tau, tsw, c) - drive.neg * self.noise_neg(v, tau, tsw, c)
        return s


def compile_phase(nphase, circuit):
    """The :class:`CompiledPhase` of a :class:`~circuitnet.neuron.NormalisedPhase` of ``circuit``."""
    name, duration = nphase.name, float(circuit.value(nphase.duration))
    exprs = {"drift": nphase.drift, "k_pos": nphase.k_pos, "k_neg": nphase.k_neg,
             "noise": nphase.noise, "noise_pos": nphase.noise_pos, "noise_neg": nphase.noise_neg}
    affine = all(_is_affine(exprs[k]) for k in ("drift", "k_pos", "k_neg"))
    weight_dependent = nphase.k_pos.has(w_sym) or nphase.k_neg.has(w_sym)
    for k in ("drift", "k_pos", "k_neg"):
        exprs["d" + k + "_dv"] = sp.diff(exprs[k], v_sym)
    curve_exprs = ()
    if weight_dependent:
        curve_exprs = _separable(name, nphase.k_pos, nphase.k_neg)
    if affine or weight_dependent:
        for sign, k in (("pos", nphase.k_pos), ("neg", nphase.k_neg)):
            exprs[f"beta_{sign}"] = -sp.diff(k, v_sym).subs(v_sym, 0) if affine else curve_exprs[0][sign]
            exprs[f"dbeta_{sign}_dw"] = sp.diff(exprs[f"beta_{sign}"], w_sym)
    curve_exprs = curve_exprs[1:]
    for p, (phi, g) in enumerate(curve_exprs):
        exprs[f"curve{p}_phi"], exprs[f"curve{p}_dphi_dv"] = phi, sp.diff(phi, v_sym)
        for sign in ("pos", "neg"):
            exprs[f"curve{p}_g_{sign}"] = g[sign]
            exprs[f"curve{p}_dg_{sign}_dw"] = sp.diff(g[sign], w_sym)
    curved = bool(curve_exprs)
    if affine:
        exprs["leak"] = -sp.diff(nphase.drift, v_sym)
        exprs["bias"] = nphase.drift.subs(v_sym, 0)
    hoist = _Hoister()
    exprs = {k: hoist(_switch_at_tsw(held(sp.expand, e, log=False) if k.startswith(("leak", "bias", "beta", "curve")) else e))
             for k, e in exprs.items()}
    const_symbols = list(hoist.consts.values())
    names = {v_sym: "v", tau_sym: "tau", tsw_sym: "tsw", w_sym: "w"}
    names.update({c: f"c[{i}]" for i, c in enumerate(const_symbols)})
    fns = {k: codegen(f"{name}_{k}", e, ("v", "tau", "tsw", "c"), names) for k, e in exprs.items()}
    curves = tuple(Curve(*(fns.pop(f"curve{p}_{f}") for f in ("phi", "dphi_dv", "g_pos", "g_neg", "dg_pos_dw", "dg_neg_dw")))
                   for p in range(len(curve_exprs)))
    for k in ("drift", "k_pos", "k_neg"):
        fns[f"d{k}_dc"] = _Derivatives(f"{name}_d{k}_dc", exprs[k], const_symbols, names)
    pnames = {s: f"p[{s.name!r}]" for s in circuit.parameter_symbols}
    const_fns = [codegen(f"{name}_const{i}", e, ("p", "like"), pnames, like="like")
                 for i, e in enumerate(hoist.consts)]
    return CompiledPhase(name=name, duration=duration, synapses=nphase.synapses, comparator=nphase.comparator,
                         affine=affine, weight_dependent=weight_dependent, curved=curved, curves=curves,
                         time_invariant=not nphase.drift.has(tau_sym),
                         breakpoints=_breakpoints(nphase, circuit), switch_parameters=frozenset(_switch_parameters(nphase)),
                         exprs=exprs, const_exprs=list(hoist.consts), const_symbols=const_symbols,
                         const_fns=const_fns, **fns)


class Curve(NamedTuple):
    """One separable term g(|w|) phi(v) of a weight-dependent synapse shape, as torch functions
    f(v, tau, tsw, c, w): phi, dphi/dv (of v) and g, dg/d|w| per sign (of |w|)."""
    phi: Callable
    dphi_dv: Callable
    g_pos: Callable
    g_neg: Callable
    dg_pos_dw: Callable
    dg_neg_dw: Callable


def _separable(phase, k_pos, k_neg):
    """The shapes k_s(v; w) = 1 - beta_s(w) v + sum_p g_p,s(w) phi_p(v) of a weight-dependent synapse phase:
    ({"pos": beta_pos, "neg": beta_neg}, (phi_p, {"pos": g_p,pos, "neg": g_p,neg}), ...), the terms
    phi_p shared by both devices (g = 0 where a device lacks one), in sympy's sort order; a ValueError
    names a shape that is not separable (a term whose v-part still holds w)."""
    parts = {}
    for sign, k in (("pos", k_pos), ("neg", k_neg)):
        terms = {}
        for term in sp.Add.make_args(held(sp.expand, k, log=False, power_base=False)):
            g, phi = term.as_independent(v_sym, as_Add=False)
            if phi.has(w_sym):
                raise ValueError(f"phase {phase!r}: the {sign} synapse shape's term {term} does not separate into a "
                                 f"function of the weight times a function of v; a shape that depends on the weight "
                                 f"must read k(v; w) = 1 - beta(w) v + sum_p g_p(w) phi_p(v) (FittedNMOS/FittedPMOS)")
            terms[phi] = terms.get(phi, 0) + g
        one = terms.pop(sp.Integer(1), sp.Integer(0)) - 1
        if one != 0:                   # k(0; w) != 1: a term of its own, phi = 1
            terms[sp.Integer(1)] = one
        parts[sign] = terms
    beta = {s: -parts[s].pop(v_sym, sp.Integer(0)) for s in parts}
    phis = sorted(set(parts["pos"]) | set(parts["neg"]), key=sp.default_sort_key)
    return (beta,) + tuple((phi, {s: parts[s].get(phi, sp.Integer(0)) for s in parts}) for phi in phis)


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
    """A circuit's dynamics as torch functions, one :class:`CompiledPhase` per simulated phase, and
    its :class:`~circuitnet.timeline.Timeline` (``timeline``).

    ``params(dtype, device, **overrides)`` gives the parameter tensors (SI units) the functions
    read; override any of them, e.g. with tensors that require grad or that vary per neuron.
    ``capacitance(p, like)`` (F) and ``swing(p, like)`` (V_th - V0, V) are the node's total
    capacitance and threshold swing as functions of those tensors (a mismatched chip's neuron has its own).
    """

    def __init__(self, circuit):
        self.circuit = circuit
        self.defaults = {s.name: float(v) for s, v in circuit.values.items()}
        self.phases = [compile_phase(p, circuit) for p in circuit.normalised]
        self.timeline = Timeline(durations=tuple(p.duration for p in self.phases),
                                 synapse_phase=next(i for i, p in enumerate(self.phases) if p.synapses),
                                 comparator=tuple(i for i, p in enumerate(self.phases) if p.comparator))
        self.affine = all(p.affine for p in self.phases)
        self.weight_dependent = any(p.weight_dependent for p in self.phases)
        self.switch_parameters = set().union(*(p.switch_parameters for p in self.phases))
        names = {s: f"p[{s.name!r}]" for s in circuit.parameter_symbols}
        self.initial_variance = codegen("initial_variance", circuit.initial_variance, ("p", "like"), names, like="like")
        self.capacitance = codegen("capacitance", circuit.capacitance, ("p", "like"), names, like="like")
        self.swing = codegen("swing", circuit.swing, ("p", "like"), names, like="like")
        self._packets(circuit, names)
        unit = float(circuit.value(circuit.unit_current))
        self.weight_floor = tuple(dev.values.get("I_off", 0.0) / unit
                                  for dev in (circuit.synapse.positive, circuit.synapse.negative))
        self.several_nodes = False
        self.has_noise = bool(circuit.initial_variance != 0) or any(
            any(e != 0 for e in (p.exprs["noise"], p.exprs["noise_pos"], p.exprs["noise_neg"])) for p in self.phases)

    def _packets(self, circuit, names):
        """Torch functions of the charge packets (GateCharge, EdgeConduction): the jump of v when a
        synapse device switches on, in |w| (``w``), its EdgeConduction part alone (its shape at the
        membrane's voltage gives the switch-off's: synapse_switch_off), and the jump where each
        simulated phase starts."""
        pos, neg = circuit.synapse.positive.name, circuit.synapse.negative.name
        names = {**names, w_sym: "w"}
        on, cond = {}, {}          # per device: jump at switch-on (every packet); EdgeConduction's alone
        for pk in circuit.packets:
            j = circuit.packet_jump(pk)
            on[pk.device.name] = on.get(pk.device.name, sp.Integer(0)) + j
            if not pk.returns:
                cond[pk.device.name] = j
        self.has_packets = bool(on)
        self.synapse_packets = pos in on or neg in on
        self.synapse_conduction = pos in cond or neg in cond
        code = lambda tag, d: [codegen(f"{tag}_{k}", d.get(n, sp.Integer(0)), ("p", "w"), names, like="w")
                               for k, n in (("pos", pos), ("neg", neg))]
        self._jump_pos, self._jump_neg = code("jump", on)
        self._cond_pos, self._cond_neg = code("cond", cond)
        simulated = [p for p in circuit.phases if not p.reset]
        self._phase_jumps = []
        for k, ph in enumerate(simulated):
            e = sp.Integer(0)
            for pk in circuit.packets:
                name = pk.device.name
                if k > 0 and name not in (pos, neg):      # never at the first phase's start: reset holds the node
                    switched = int(name in ph.active) - int(name in simulated[k - 1].active)
                    e += circuit.packet_jump(pk) * (switched if pk.returns else abs(switched))
            self._phase_jumps.append(None if e == 0 else codegen(f"jump_phase{k}", e, ("p", "like"), names, like="like"))

    def programmable(self, weight):
        """``weight`` [I, J] with every synapse whose device would carry less than its I_off (w_floor =
        I_off / I_unit at the circuit's declared values, of the positive device where w > 0, of the negative
        one where w < 0) set to 0: such a device stays off, no current and no gate packet. The same tensor
        where no device declares I_off."""
        pos, neg = self.weight_floor
        if not (pos or neg):
            return weight
        off = ((weight > 0) & (weight < pos)) | ((weight < 0) & (weight > -neg))
        return torch.where(off, torch.zeros_like(weight), weight)

    def synapse_jumps(self, p, weight):
        """The jump of v [I, J] when synapse j of neuron i switches on: Q(|w| I_unit) / (C (V_th - V0))
        of its device (GateCharge and EdgeConduction; the positive device where w > 0, the negative one
        where w < 0; 0 where w = 0; |w| read at least at W_FLOOR), differentiable in w and the
        parameters; None when no synapse device has a packet. p: parameter tensors (per-neuron ones,
        [I], act on rows). Where the phase ends, every device that was on gives it back
        (synapse_switch_off adds what EdgeConduction pushes instead)."""
        return self._per_synapse(p, weight, self._jump_pos, self._jump_neg) if self.synapse_packets else None

    def synapse_switch_off(self, p, consts, t_in, weight):
        """The edge conduction where the synapse phase ends (EdgeConduction on a synapse device; None
        without): (fixed [B, I], drive), v jumping by fixed + synaptic(v; drive) beyond every
        synapse_jumps given back. fixed = sum_j [t_j < t_end] c_ij keeps the conduction pushed at each
        switch-on (c, the EdgeConduction part of synapse_jumps, at the reset's drain voltage; the
        packets given back take it back with them). ``drive`` (a Drive [B, I]) is that of charges
        c_ij in place of weights, each with its device's shape k(v; |w_ij|): the switch-off pushes each
        device's current at the membrane's voltage then for its tau(I), sum_j c_ij k_s(v; |w_ij|)
        (CompiledPhase.synaptic). ``consts``: every phase's prepared constants. A single-phase
        (time-to-first-spike) circuit fires before its synapses switch off."""
        if not self.synapse_conduction:
            return None
        c = self._per_synapse(p, weight, self._cond_pos, self._cond_neg)
        arrived = (t_in < self.timeline.synapse_duration).to(c.dtype)
        cols = synapse_weights(c, *self._shapes(consts, weight)) if self.weight_dependent else synapse_weights(c)
        return arrived @ c.t(), cols.map(lambda x: arrived @ x.t())

    def _per_synapse(self, p, weight, f_pos, f_neg):
        q = {n: x[:, None] if x.dim() == 1 else x for n, x in p.items()}
        wabs = weight.abs().clamp(min=W_FLOOR)
        zero = torch.zeros_like(weight)
        jp, jn = f_pos(q, wabs).expand_as(weight), f_neg(q, wabs).expand_as(weight)
        return torch.where(weight > 0, jp, torch.where(weight < 0, jn, zero))

    def phase_jumps(self, p, like):
        """[jump of v where simulated phase k starts, or None], one per phase: +Q/(C (V_th - V0)) of
        each non-synapse device that switches on there, minus that of each that switches off (plus, for
        an EdgeConduction, at both; the synapse devices' own packets: synapse_jumps). Scalars, or [I]
        with per-neuron parameters."""
        return [None if f is None else f(p, like) for f in self._phase_jumps]

    @property
    def synapse_phase(self):
        """Index of the phase in which synapses conduct (the timeline's)."""
        return self.timeline.synapse_phase

    @property
    def integrates_while_firing(self):
        """True for a time-to-first-spike circuit (the comparator listens while the synapses conduct)."""
        return self.phases[self.synapse_phase].comparator

    @property
    def parameter_names(self):
        return sorted(self.defaults)

    def params(self, dtype=torch.float64, device=None, **overrides):
        moved = set(overrides) & self.switch_parameters
        if moved:
            raise ValueError(f"circuit parameter(s) {sorted(moved)} place a time switch, whose breakpoints are fixed "
                             f"when the circuit is compiled; declare a new circuit to change them")
        return parameter_tensors(self.defaults, overrides, dtype, device)

    def synapse_betas(self, consts, wabs, derivative=False):
        """(beta_pos(|w|), beta_neg(|w|)) of the synapse phase, shaped like ``wabs`` (or their derivatives
        in |w|), |w| read at least at W_FLOOR; ``consts``: every phase's prepared constants."""
        ph, c = self.phases[self.synapse_phase], consts[self.synapse_phase]
        wabs = wabs.clamp(min=W_FLOOR)
        z = wabs.new_zeros(())
        fns = [ph.dbeta_pos_dw, ph.dbeta_neg_dw] if derivative else [ph.beta_pos, ph.beta_neg]
        return tuple(f(z, z, z, c, wabs).expand_as(wabs) for f in fns)

    def synapse_curves(self, consts, wabs, derivative=False):
        """Per separable term of the synapse phase's shapes, (g_pos(|w|), g_neg(|w|)) shaped like ``wabs``
        (or their derivatives in |w|), |w| read at least at W_FLOOR; () on a phase without such terms."""
        ph, c = self.phases[self.synapse_phase], consts[self.synapse_phase]
        wabs = wabs.clamp(min=W_FLOOR)
        z = wabs.new_zeros(())
        pick = (lambda cv: (cv.dg_pos_dw, cv.dg_neg_dw)) if derivative else (lambda cv: (cv.g_pos, cv.g_neg))
        return tuple(tuple(f(z, z, z, c, wabs).expand_as(wabs) for f in pick(cv)) for cv in ph.curves)

    @property
    def curved(self):
        """True where the synapse shapes depend on the weight and carry terms beyond 1 - beta v (:class:`CompiledPhase`)."""
        return self.phases[self.synapse_phase].curved

    def synapse_weights(self, consts, weight):
        """The :class:`~circuitnet.drive.Drive` weight matrices [I, J] of ``weight`` (with the
        beta(|w|) and g_p(|w|) products where the shapes depend on the weight, |w| read at least at W_FLOOR)."""
        if not self.weight_dependent:
            return synapse_weights(weight)
        return synapse_weights(weight, *self._shapes(consts, weight))

    def _shapes(self, consts, weight):
        """(betas, curves) of synapse_weights for ``weight`` [I, J], each [I, J]: read as [J, I] and
        transposed, since per-neuron constants ([I]) run along the last axis."""
        wabs = weight.abs().t()
        return (tuple(x.t() for x in self.synapse_betas(consts, wabs)),
                tuple(tuple(x.t() for x in g) for g in self.synapse_curves(consts, wabs)))


# |w| below which a weight-dependent shape is read at this value (its charge is ~0 anyway): beta(|w|)
# is a function of ln |w| for FittedNMOS / FittedPMOS.
W_FLOOR = 1e-6

_CACHE = weakref.WeakKeyDictionary()


def compile_circuit(circuit):
    """Compile a :class:`~circuitnet.neuron.NeuronCircuit` to torch (see :class:`CompiledCircuit`), or a
    :class:`~circuitnet.nodes.MultiNodeCircuit` (:class:`~circuitnet.compile_nodes.CompiledNodes`).
    The result is cached per circuit object; a compiled circuit is returned as is."""
    if isinstance(circuit, (CompiledCircuit, CompiledNodes)):
        return circuit
    if not isinstance(circuit, (NeuronCircuit, MultiNodeCircuit)):
        raise ValueError(f"expected a NeuronCircuit, MultiNodeCircuit or a compiled circuit, got {type(circuit).__name__}")
    if circuit not in _CACHE:
        _CACHE[circuit] = (CompiledCircuit if isinstance(circuit, NeuronCircuit) else CompiledNodes)(circuit)
    return _CACHE[circuit]
