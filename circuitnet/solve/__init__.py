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

Times are normalised (time unit of the circuit); t_out counts from the start of the first
comparator phase; neurons that never fire get t_max and fired = False.
"""
from ..compile import compile_circuit
from .coefficients import fits_closed_form
from .ode import ode_spike_times
from .sde import sde_spike_times

METHODS = ("ode", "sde", "torchdiffeq", "exact", "dstd")


def _closed_form(cc, t_in, weight, method, params, steps=10, offset=0.0, clip=True):
    from .affine import rc_spike_exact, ttfs_exact
    from .coefficients import affine_coefficients
    from .dstd import rc_spike_dstd, ttfs_dstd
    k = affine_coefficients(cc, cc.params(t_in.dtype, t_in.device, **(params or {})))
    common = dict(e_pos=k["e_pos"], e_neg=k["e_neg"], leak=k["leak"], bias=k["bias"])
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


def spike_times(circuit, t_in, weight, method="ode", params=None, **options):
    """Dispatch to the chosen method (see module docstring); options go to that method
    ("ode": dt, polish; "sde": dt, seed, record; "dstd": steps, offset; "torchdiffeq": rtol, atol;
    "exact" and "dstd" on affine RC-Spike circuits, "dstd" and "ode" on any circuit: clip=False returns the
    unclipped firing time (``affine.firing_time``, in general :mod:`circuitnet.solve.unclipped`), which
    continues below 0 and above t_max)."""
    cc = compile_circuit(circuit)
    if method == "dstd" and not fits_closed_form(cc):
        from .dstd_general import general_dstd
        return general_dstd(cc, t_in, weight, params=params, **options)
    if method in ("exact", "dstd"):
        return _closed_form(cc, t_in, weight, method, params, **options)
    if method == "ode":
        return ode_spike_times(cc, t_in, weight, params=params, **options)
    if options.get("clip", True) is not True:
        raise ValueError(f"clip=False (the unclipped firing time) needs method 'exact', 'dstd' or 'ode', "
                         f"not {method!r}")
    options.pop("clip", None)
    if method == "sde":
        return sde_spike_times(cc, t_in, weight, params=params, **options)
    if method == "torchdiffeq":
        from .reference import torchdiffeq_spike_times
        return torchdiffeq_spike_times(cc, t_in, weight, params=params, **options)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
