"""Spike times of a layer of circuit neurons: one entry point, the method is an argument.

    spike_times(circuit, t_in [B, J], weight [I, J], method=...) -> (t_out [B, I], fired [B, I])

| method                  | circuits                        | forward                                    | backward |
|-------------------------|---------------------------------|--------------------------------------------|----------|
| ODE(dt, polish)         | any compiled circuit            | event-driven RK4 + Newton polish           | adjoint event sensitivities |
| SDE(dt, seed, record)   | any, with declared noise        | RK4 drift + Euler-Maruyama noise, seeded   | pathwise autograd |
| TorchDiffEq(rtol, atol, solver) | any, reference          | adaptive RK with jumps, odeint_event       | autograd through torchdiffeq |
| Exact()                 | affine, time-invariant RC-Spike / TTFS | sort + cumulative sums, closed form | analytic |
| DSTD(steps, offset, step) | closed-form path on those; general path on any other | hat-kernel grid, GEMMs | autograd |
| Spice(technology, ...)  | realisable in a netlist         | ngspice transient (circuitnet.spice)       | none |

Method objects own and validate their options (circuitnet.solve.methods); a name stands for the
method with its defaults and options given as keywords: ``method="dstd", steps=10`` is
``method=DSTD(steps=10)``. Times are normalised (the circuit's time unit); t_out counts from the
opening of the comparator window, neurons that never fire get t_max and fired = False
(circuitnet.timeline).
"""
from ..compile import compile_circuit
from ..inputs import check_layer_inputs
from . import methods
from .methods import DSTD, METHODS, ODE, SDE, Exact, Method, Spice, TorchDiffEq, method

__all__ = ["spike_times", "describe", "method", "Method", "METHODS", "Exact", "DSTD", "ODE", "SDE", "TorchDiffEq", "Spice"]


def spike_times(circuit, t_in, weight, method="ode", params=None, deviation=None, clip=True, training=False,
                **options):
    """Spike times of one layer: ``(t_out [B, I], fired [B, I])`` for input times t_in [B, J]
    (normalised, >= 0, +inf = no spike) and weights [I, J] (units of I_unit, sign = device).

    method: a :class:`Method` or its name (options then as keywords, e.g. ``method="dstd", steps=10``).
    params: circuit parameter overrides (tensors, SI units; may require grad or vary per neuron).
    deviation: one mismatched chip's draw for this layer (:class:`circuitnet.variation.LayerDeviation`),
    honoured by every method but Spice (whose mismatch comes from the device models).
    clip=False: the unclipped firing time (Exact, DSTD, ODE; circuitnet.solve.unclipped), which
    continues below 0 and above t_max. training: the call is a training step (DSTD's random offset).
    """
    m = methods.method(method, **options)
    if clip is not True and not m.unclipped:
        raise ValueError(f"clip=False (the unclipped firing time) needs method 'exact', 'dstd' or 'ode', not {m.name!r}")
    compiled = compile_circuit(circuit)
    check_layer_inputs(t_in, weight, compiled.timeline.synapse_duration)
    weight = compiled.programmable(weight)              # devices below their lowest current stay off
    if deviation is not None:
        if isinstance(m, Spice):
            raise ValueError("method 'spice' draws its own mismatch from the device models (Sky130(mismatch=True)); "
                             "a deviation drawn by circuitnet.variation does not apply")
        from ..variation import apply
        weight, params = apply(compiled.circuit, weight, deviation, params)
    m.check(compiled)
    return m.solve(compiled, t_in, weight, params, clip, training)


def describe(circuit):
    """NeuronCircuit.summary() and, for every method of the registry, whether it runs the circuit or why not."""
    compiled = compile_circuit(circuit)
    lines = [circuit.summary(), "methods:"]
    for name, cls in METHODS.items():
        m = cls()
        why = m.unsupported(compiled)
        path = f" ({m.path(compiled)} path)" if isinstance(m, DSTD) and not why else ""
        note = " (without the declared noise: a noiseless transient)" if isinstance(m, Spice) and compiled.has_noise else ""
        lines.append(f"  {name}: " + ("yes" + path + note if not why else f"no: {why}"))
    return "\n".join(lines)
