"""Spike times of a layer of circuit neurons: one entry point, the method is an argument.

    spike_times(circuit, t_in [B, J], weight [I, J], method=...) -> (t_out [B, I], fired [B, I])

| method        | circuits                       | forward                                   | backward |
|---------------|--------------------------------|-------------------------------------------|----------|
| "ode"         | any compiled circuit           | event-driven RK4 + Newton polish          | adjoint event sensitivities |
| "sde"         | any, with declared noise       | RK4 drift + Euler-Maruyama noise, seeded  | pathwise autograd |
| "torchdiffeq" | any (reference)                | dopri5 with jumps, odeint_event restarts  | autograd through torchdiffeq |

Times are normalised (time unit of the circuit); t_out counts from the start of the first
comparator phase; neurons that never fire get t_max and fired = False.
"""
from ..compile import compile_circuit
from .ode import ode_spike_times
from .sde import sde_spike_times

METHODS = ("ode", "sde", "torchdiffeq")


def spike_times(circuit, t_in, weight, method="ode", params=None, **options):
    """Dispatch to the chosen method (see module docstring); options go to that method."""
    cc = compile_circuit(circuit)
    if method == "ode":
        return ode_spike_times(cc, t_in, weight, params=params, **options)
    if method == "sde":
        return sde_spike_times(cc, t_in, weight, params=params, **options)
    if method == "torchdiffeq":
        from .reference import torchdiffeq_spike_times
        return torchdiffeq_spike_times(cc, t_in, weight, params=params, **options)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
