"""Spike-time methods as objects: each owns and validates its options and says which compiled
circuits it supports (and why not), found by name in one registry (``METHODS``).

    solve.Exact()                                   closed form (affine RC-Spike / TTFS shapes)
    solve.DSTD(steps=10, offset="random", step=None)
    solve.ODE(dt=1/64, polish=6)
    solve.SDE(dt=1/256, seed=0, record=None)
    solve.TorchDiffEq(rtol=1e-10, atol=1e-12, solver="dopri5")
    solve.Spice(technology=None, edge=1e-9, devices_per_run=200, workers=None, record=None)

``method("dstd", steps=10)`` is the same as ``DSTD(steps=10)``: strings are shorthand, as
torchdiffeq's SOLVERS. A method is called by :func:`circuitnet.solve.spike_times`.
"""
import numbers
import warnings

import torch

from .coefficients import closed_form_error
from .kernels import STEPS, check_dt, check_steps


class Method:
    """A spike-time method and its options (normalised units: times in the circuit's time unit)."""
    name = None
    defaults = {}              # option -> default value
    unclipped = False          # takes clip=False (the unclipped firing time)

    def __init__(self, **options):
        wrong = sorted(set(options) - set(self.defaults))
        if wrong:
            takes = ", ".join(self.defaults) or "no options"
            raise ValueError(f"method {self.name!r} does not take option(s) {', '.join(wrong)}; it takes: {takes}")
        self.options = {**self.defaults, **options}
        self.validate()

    def validate(self):
        """Raise ValueError for an option value the method cannot use."""

    def unsupported(self, compiled):
        """Why this method cannot solve the compiled circuit, or None when it can."""
        if getattr(compiled, "several_nodes", False):
            return self.nodes_error(compiled)
        return self.circuit_error(compiled)

    def circuit_error(self, compiled):
        """Why this method cannot solve the compiled one-node circuit, or None."""
        return None

    def nodes_error(self, compiled):
        """Why this method cannot solve the compiled several-node circuit (circuitnet.nodes), or None."""
        return (f"method {self.name!r} solves one-node circuits (NeuronCircuit) only; a several-node circuit "
                f"(MultiNodeCircuit) runs with 'ode', 'dstd', 'torchdiffeq', 'spice', 'sde' (with declared noise) or, for "
                f"the two-node LIF, 'exact'")

    def supports(self, compiled):
        return self.unsupported(compiled) is None

    def check(self, compiled):
        """ValueError with the reason where the method does not support ``compiled``."""
        why = self.unsupported(compiled)
        if why:
            raise ValueError(why)

    def solve(self, compiled, t_in, weight, params, clip, training):
        """(t_out [B, I], fired [B, I]) of one layer."""
        raise NotImplementedError

    def replace(self, **options):
        """A copy with some options changed."""
        return type(self)(**{**self.options, **options})

    def __getattr__(self, item):
        options = self.__dict__.get("options", {})
        if item in options:
            return options[item]
        raise AttributeError(f"{type(self).__name__} has no attribute or option {item!r}")

    def __eq__(self, other):
        return type(other) is type(self) and other.options == self.options

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


def _check_unclipped(compiled, clip, name):
    """The closed forms' unclipped time exists for the RC-Spike shape only (a ValueError otherwise)."""
    if not clip and compiled.phases[compiled.synapse_phase].comparator:
        raise ValueError(f"clip=False (the unclipped firing time) exists for RC-Spike circuits only; a TTFS neuron "
                         f"that does not fire has no spike time to extend (method {name!r})")


def _check_nodes_clip(clip, name):
    if not clip:
        raise ValueError(f"clip=False (the unclipped firing time) is not defined for several-node circuits (method {name!r})")


def _integer(x, what, low):
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {x!r}")


def _positive(x, what):
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not x > 0:
        raise ValueError(f"{what} must be a number > 0, got {x!r}")


class Exact(Method):
    """The closed form: inputs sorted, cumulative sums, exact relaxation per interval (solve.exact)."""
    name = "exact"
    unclipped = True

    def circuit_error(self, compiled):
        return closed_form_error(compiled, self.name)

    def nodes_error(self, compiled):
        from .nodes_exact import lif_constants
        const = lif_constants(compiled, None, torch.zeros((), dtype=torch.float64))
        return f"method 'exact': {const}" if isinstance(const, str) else None

    def solve(self, compiled, t_in, weight, params, clip, training):
        if compiled.several_nodes:
            from .nodes_exact import lif_spike_times
            return lif_spike_times(compiled, t_in, weight, params, clip=clip)
        from .closed_form import closed_form_spike_times
        _check_unclipped(compiled, clip, self.name)
        return closed_form_spike_times(compiled, t_in, weight, params, clip=clip)


class DSTD(Method):
    """The paper's DSTD: a grid of ``steps`` intervals per phase, the inputs' hat kernel, GEMMs.

    Two paths, chosen by the circuit (:meth:`path`): "closed form" on affine RC-Spike / TTFS
    shapes (exact relaxation per interval, solve.dstd) and "general" on any other compiled circuit
    (averaged drive, one ``step`` per interval: "rk2" or "rk4", solve.dstd_general; None: "rk2").
    The closed-form path has no step: a ``step`` given for a circuit that takes it is refused.
    ``offset``: the grid's shift in synapse-phase time, in [0, D_syn / steps), or "random": a fresh
    uniform offset per call while training (the paper's rule; spike_times(..., training=True), which
    layers pass in train mode), 0 otherwise.
    """
    name = "dstd"
    defaults = dict(steps=10, offset="random", step=None)
    unclipped = True

    def validate(self):
        check_steps(self.steps)
        o = self.offset
        if not (o == "random" or (isinstance(o, numbers.Real) and not isinstance(o, bool) and o >= 0)):
            raise ValueError(f"offset must be a number >= 0 (synapse-phase time) or 'random', got {o!r}")
        if self.step is not None and self.step not in STEPS:
            raise ValueError(f"step must be one of {sorted(STEPS)} or None (rk2), got {self.step!r}")

    def path(self, compiled):
        """"closed form" or "general": the DSTD that runs on ``compiled`` (a several-node circuit: general)."""
        if compiled.several_nodes:
            return "general"
        return "closed form" if closed_form_error(compiled, self.name) is None else "general"

    def circuit_error(self, compiled):
        if compiled.synapse_packets and compiled.phases[compiled.synapse_phase].comparator:
            return ("method 'dstd': charge packets (GateCharge) of the synapse devices while the comparator listens "
                    "(the TTFS shape) could cross the threshold inside a grid interval, which the grid does not "
                    "follow; use method 'ode'")
        if self.step is not None and self.path(compiled) == "closed form":
            return (f"method 'dstd' with step={self.step!r}: this circuit takes DSTD's closed-form path (the exact "
                    f"relaxation in every interval), which has no step; leave step out (it applies to the general "
                    f"path, on circuits outside the closed form)")
        if self.path(compiled) == "general" and compiled.weight_dependent:
            return (f"method 'dstd': the circuit's synapse shapes depend on the weight (FittedNMOS/FittedPMOS) and "
                    f"it does not fit the closed form ({closed_form_error(compiled, self.name)}); use method 'ode'")
        return None

    def nodes_error(self, compiled):
        return None

    def grid_offset(self, compiled, t_in, training):
        """The offset of this call (a draw from torch's global generator where offset is "random" in training)."""
        if self.offset != "random":
            return float(self.offset)
        if not training:
            return 0.0
        import torch
        dtau = compiled.timeline.synapse_duration / self.steps
        return torch.rand((), dtype=t_in.dtype, device=t_in.device).item() * dtau

    def solve(self, compiled, t_in, weight, params, clip, training):
        offset = self.grid_offset(compiled, t_in, training)
        if compiled.several_nodes:
            from .nodes_dstd import nodes_dstd_spike_times
            _check_nodes_clip(clip, self.name)
            return nodes_dstd_spike_times(compiled, t_in, weight, params, steps=self.steps, offset=offset,
                                          step=self.step or "rk2")
        if self.path(compiled) == "general":
            from .dstd_general import general_dstd
            return general_dstd(compiled, t_in, weight, params=params, steps=self.steps, offset=offset, clip=clip,
                                step=STEPS[self.step or "rk2"])
        from .closed_form import closed_form_spike_times
        _check_unclipped(compiled, clip, self.name)
        return closed_form_spike_times(compiled, t_in, weight, params, clip=clip, steps=self.steps, offset=offset)


class ODE(Method):
    """Event-driven RK4 (step <= dt) with Newton-polished crossings; adjoint gradients (solve.ode)."""
    name = "ode"
    defaults = dict(dt=1 / 64, polish=6)
    unclipped = True

    def validate(self):
        check_dt(self.dt)
        _integer(self.polish, "polish", 0)

    def nodes_error(self, compiled):
        return None

    def solve(self, compiled, t_in, weight, params, clip, training):
        if compiled.several_nodes:
            from .nodes_ode import nodes_spike_times
            _check_nodes_clip(clip, self.name)
            return nodes_spike_times(compiled, t_in, weight, params, dt=self.dt, polish=self.polish)
        from .ode import ode_spike_times
        if compiled.weight_dependent:
            if not clip:
                raise ValueError("clip=False on a circuit whose synapse shapes depend on the weight (FittedNMOS/"
                                 "FittedPMOS): use method 'exact' or 'dstd' for the unclipped time")
            tracked = [n for n, x in (params or {}).items() if torch.is_tensor(x) and x.requires_grad]
            syn = compiled.phases[compiled.synapse_phase]
            if tracked and set(tracked) & {str(x) for e in syn.const_exprs for x in e.free_symbols}:
                raise ValueError("gradients with respect to the circuit's parameters are not available from method "
                                 "'ode' when the synapse shapes depend on the weight; use 'exact' or 'dstd'")
        return ode_spike_times(compiled, t_in, weight, params=params, dt=self.dt, polish=self.polish, clip=clip)


class SDE(Method):
    """The declared noise simulated: drift-split Euler-Maruyama on the ode's schedule, seeded (solve.sde;
    several-node circuits: solve.nodes_sde). ``record``: a list that receives (time, v) after every step
    (several nodes: (time [B], x [B, I, n]), also at t = 0 and after every input)."""
    name = "sde"
    defaults = dict(dt=1 / 256, seed=0, record=None)

    def validate(self):
        check_dt(self.dt)
        _integer(self.seed, "seed", 0)
        if self.record is not None and not isinstance(self.record, list):
            raise ValueError(f"record must be a list (it receives the trajectory) or None, got {type(self.record).__name__}")

    def circuit_error(self, compiled):
        if not compiled.has_noise:
            return ("method 'sde' needs a circuit that declares noise (ShotNoise, ThermalNoise, ResetNoise elements, "
                    "or cn.circuits.rc_spike(noise=True)); this one has none, so its spike times are deterministic: "
                    "use method 'ode'")
        return None

    def nodes_error(self, compiled):
        return self.circuit_error(compiled)

    def solve(self, compiled, t_in, weight, params, clip, training):
        if compiled.several_nodes:
            from .nodes_sde import nodes_sde_spike_times
            _check_nodes_clip(clip, self.name)
            return nodes_sde_spike_times(compiled, t_in, weight, params=params, dt=self.dt, seed=self.seed,
                                         record=self.record)
        from .sde import sde_spike_times
        return sde_spike_times(compiled, t_in, weight, params=params, dt=self.dt, seed=self.seed, record=self.record)


class TorchDiffEq(Method):
    """The reference: torchdiffeq's adaptive ``solver`` with jump times, events restarted per spike."""
    name = "torchdiffeq"
    defaults = dict(rtol=1e-10, atol=1e-12, solver="dopri5")

    def validate(self):
        from .torchdiffeq_ref import ADAPTIVE_SOLVERS
        _positive(self.rtol, "rtol")
        _positive(self.atol, "atol")
        if self.solver not in ADAPTIVE_SOLVERS:
            raise ValueError(f"solver must be an adaptive Runge-Kutta solver of torchdiffeq {ADAPTIVE_SOLVERS} "
                             f"(they step onto jump_t), got {self.solver!r}")

    def circuit_error(self, compiled):
        if compiled.weight_dependent:
            takers = "'ode', 'sde'" if compiled.curved else "'exact', 'dstd', 'ode', 'sde'"
            return (f"the circuit's synapse shapes depend on the weight (FittedNMOS/FittedPMOS): methods {takers} "
                    f"and 'spice' take it, 'torchdiffeq' does not")
        if compiled.synapse_packets and compiled.phases[compiled.synapse_phase].comparator:
            return ("method 'torchdiffeq': charge packets (GateCharge) of the synapse devices while the comparator "
                    "listens (the TTFS shape) are not followed by its event search; use method 'ode'")
        return None

    def nodes_error(self, compiled):
        return None

    def solve(self, compiled, t_in, weight, params, clip, training):
        if compiled.several_nodes:
            from .nodes_torchdiffeq import nodes_torchdiffeq_spike_times
            _check_nodes_clip(clip, self.name)
            return nodes_torchdiffeq_spike_times(compiled, t_in, weight, params, **self.options)
        from .torchdiffeq_ref import torchdiffeq_spike_times
        return torchdiffeq_spike_times(compiled, t_in, weight, params=params, **self.options)


class Spice(Method):
    """The declaration's netlist in ngspice (circuitnet.spice); no gradient, no params or deviation
    (a drawn chip is ``chip=``, a circuitnet.spice.chip.LayerChip)."""
    name = "spice"
    defaults = dict(technology=None, edge=1e-9, devices_per_run=200, workers=None, record=None, chip=None)

    def validate(self):
        _positive(self.edge, "edge")
        _integer(self.devices_per_run, "devices_per_run", 1)
        if self.workers is not None:
            _integer(self.workers, "workers", 1)
        if self.chip is not None:
            from ..spice.chip import LayerChip
            if not isinstance(self.chip, LayerChip):
                raise ValueError(f"chip must be a circuitnet.spice.LayerChip or None, got {type(self.chip).__name__}")
        if self.record is not None and not isinstance(self.record, list):
            raise ValueError(f"record must be a list (it receives the waveforms) or None, got {type(self.record).__name__}")

    def circuit_error(self, compiled):
        from ..spice.runner import SpiceUnavailable, ngspice_path
        try:
            ngspice_path()
        except SpiceUnavailable as err:
            return f"method 'spice': {err}"
        return None

    def nodes_error(self, compiled):
        """A several-node circuit runs as behavioural sources (circuitnet.spice.nodes_netlist): no chip."""
        if self.chip is not None:
            return ("method 'spice': a several-node circuit has no realised devices, so no drawn chip (chip=) "
                    "applies to it; leave chip out")
        return self.circuit_error(compiled)

    def check(self, compiled):
        """SpiceUnavailable (with the install command) where ngspice is missing, as every spice entry raises."""
        from ..spice.runner import ngspice_path
        ngspice_path()
        super().check(compiled)

    def solve(self, compiled, t_in, weight, params, clip, training):
        from ..spice.simulate import spice_spike_times
        if compiled.has_noise:
            warnings.warn("method 'spice' runs ngspice's noiseless transient: the circuit's declared noise "
                          "(ShotNoise, ThermalNoise, ResetNoise) is left out; method 'sde' or the jitter "
                          "(circuitnet.solve.jitter) simulates it", stacklevel=3)
        if params:
            raise ValueError("method 'spice' simulates the declared circuit; params overrides do not apply")
        if compiled.several_nodes:
            _check_nodes_clip(clip, self.name)
        return spice_spike_times(compiled.circuit, t_in, weight, **self.options)


METHODS = {m.name: m for m in (ODE, SDE, TorchDiffEq, Exact, DSTD, Spice)}


def method(spec="ode", **options):
    """A :class:`Method` from a name and its options, or ``spec`` itself when it already is one."""
    if isinstance(spec, Method):
        if options:
            raise ValueError(f"options {sorted(options)} given beside the method object {spec!r}: "
                             f"set them on the object (e.g. {type(spec).__name__}(...) or .replace(...))")
        return spec
    if spec not in METHODS:
        raise ValueError(f"unknown method {spec!r}; choose one of {tuple(METHODS)} or a circuitnet.solve method object")
    return METHODS[spec](**options)
