"""Spike times of a layer of circuit neurons: one entry point, the method is an argument.

    spike_times(circuit, t_in [B, J], weight [I, J], method=...) -> (t_out [B, I], fired [B, I])

| method        | circuits                       | forward                                   | backward |
|---------------|--------------------------------|-------------------------------------------|----------|
| "ode"         | any compiled circuit           | event-driven RK4 + Newton polish          | adjoint event sensitivities |
| "sde"         | any, with declared noise       | RK4 drift + Euler-Maruyama noise, seeded  | pathwise autograd |
| "torchdiffeq" | any (reference)                | dopri5 with jumps, odeint_event restarts  | autograd through torchdiffeq |
| "exact"       | affine, time-invariant phases  | sort + cumulative sums, closed form       | analytic |
| "dstd"        | affine, time-invariant phases  | hat-kernel grid of M steps, GEMMs (paper) | analytic |
| "dstd"        | any other compiled circuit     | averaged drive (GEMM) + RK2 per interval  | autograd (dstd_general) |
| "spice"       | realisable in a netlist        | ngspice transient (circuitnet.spice)      | none |

Times are normalised (time unit of the circuit); t_out counts from the start of the first
comparator phase; neurons that never fire get t_max and fired = False. "sde" on a circuit without
declared noise is a ValueError (it would silently be "ode").
"""
from ..compile import compile_circuit
from .coefficients import fits_closed_form
from .ode import ode_spike_times
from .sde import sde_spike_times

# The options each method takes (besides clip, which every method reads: see spike_times).
METHOD_OPTIONS = {
    "ode": ("dt", "polish"),
    "sde": ("dt", "seed", "record"),
    "torchdiffeq": ("rtol", "atol"),
    "exact": (),
    "dstd": ("steps", "offset"),
    "spice": ("technology", "edge", "devices_per_run", "workers", "record"),
}
METHODS = tuple(METHOD_OPTIONS)


def check_options(method, options):
    """ValueError for an unknown method, or an option that ``method`` does not take (listing those it does)."""
    if method not in METHOD_OPTIONS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    wrong = sorted(set(options) - set(METHOD_OPTIONS[method]) - {"clip"})
    if wrong:
        takes = ", ".join(METHOD_OPTIONS[method] + ("clip",))
        raise ValueError(f"method {method!r} does not take option(s) {', '.join(wrong)}; it takes: {takes}")


def _closed_form(cc, t_in, weight, method, params, steps=10, offset=0.0, clip=True):
    from .affine import rc_spike_exact, ttfs_exact
    from .coefficients import affine_coefficients
    from .dstd import rc_spike_dstd, ttfs_dstd
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))
    k = affine_coefficients(cc, p)
    if any(x.dim() == 1 for x in p.values()):     # per-neuron parameters: as columns against [out, in]
        k_col = affine_coefficients(cc, {n: x[:, None] if x.dim() == 1 else x for n, x in p.items()})
        k = dict(k, e_pos=k_col["e_pos"], e_neg=k_col["e_neg"])
    e_pos, e_neg = (k[e](weight.abs()) if callable(k[e]) else k[e] for e in ("e_pos", "e_neg"))
    e_pos, e_neg = (e.expand_as(weight) if e.dim() == 2 and e.shape != weight.shape else e for e in (e_pos, e_neg))
    common = dict(e_pos=e_pos, e_neg=e_neg, leak=k["leak"], bias=k["bias"])
    extra = {} if method == "exact" else dict(steps=steps, offset=offset)
    if k["kind"] == "rc_spike":
        fn = rc_spike_exact if method == "exact" else rc_spike_dstd
        t = fn(t_in, weight, fire_g=k["fire_g"], fire_f=k["fire_f"], clip=clip, **common, **extra)
        return t, t < 1
    if not clip:
        raise ValueError("clip=False (the unclipped firing time) exists for RC-Spike circuits only; "
                         "a TTFS neuron that does not fire has no spike time to extend")
    fn = ttfs_exact if method == "exact" else ttfs_dstd
    return fn(t_in, weight, t_max=k["t_max"], **common, **extra)


def spike_times(circuit, t_in, weight, method="ode", params=None, deviation=None, **options):
    """Dispatch to the chosen method (see module docstring); options go to that method
    (METHOD_OPTIONS; any other is a ValueError listing the method's options). ``deviation``: a
    :class:`circuitnet.variation.LayerDeviation` (one mismatched chip's draw for this layer), which
    every method but "spice" honours (variation.apply: per-neuron parameters, rescaled weights). clip=False ("exact" and
    "dstd" on affine RC-Spike circuits, "dstd" and "ode" on any circuit) returns the unclipped firing
    time (``affine.firing_time``, in general :mod:`circuitnet.solve.unclipped`), which continues below
    0 and above t_max."""
    check_options(method, options)
    if method not in ("exact", "dstd", "ode"):
        if options.get("clip", True) is not True:
            raise ValueError(f"clip=False (the unclipped firing time) needs method 'exact', 'dstd' or 'ode', "
                             f"not {method!r}")
        options.pop("clip", None)
    if deviation is not None:
        if method == "spice":
            raise ValueError("method 'spice' draws its own mismatch from the device models (Sky130(mismatch=True)); "
                             "a deviation drawn by circuitnet.variation does not apply")
        from ..variation import apply
        weight, params = apply(getattr(circuit, "circuit", circuit), weight, deviation, params)
    if method == "spice":
        from ..spice.simulate import spice_spike_times
        if params:
            raise ValueError("method 'spice' simulates the declared circuit; params overrides do not apply")
        return spice_spike_times(getattr(circuit, "circuit", circuit), t_in, weight, **options)
    cc = compile_circuit(circuit)
    if cc.weight_dependent and not (method in ("ode", "sde") or (method in ("exact", "dstd") and fits_closed_form(cc))):
        raise ValueError(f"the circuit's synapse shapes depend on the weight (a bias-dependent CLM, FittedNMOS/"
                         f"FittedPMOS): methods 'exact', 'dstd' (affine RC-Spike/TTFS shapes), 'ode', 'sde' and "
                         f"'spice' take it, {method!r} does not yet")
    if method == "dstd" and not fits_closed_form(cc):
        from .dstd_general import general_dstd
        return general_dstd(cc, t_in, weight, params=params, **options)
    if method in ("exact", "dstd"):
        return _closed_form(cc, t_in, weight, method, params, **options)
    if method == "ode":
        return ode_spike_times(cc, t_in, weight, params=params, **options)
    if method == "sde":
        if not cc.has_noise:
            raise ValueError("method 'sde' needs a circuit that declares noise (ShotNoise, ThermalNoise, ResetNoise "
                             "elements, or cn.circuits.rc_spike(noise=True)); this one has none, so its spike "
                             "times are deterministic: use method 'ode'")
        return sde_spike_times(cc, t_in, weight, params=params, **options)
    if method == "torchdiffeq":
        from .reference import torchdiffeq_spike_times
        return torchdiffeq_spike_times(cc, t_in, weight, params=params, **options)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
