"""Coefficients that the closed-form methods ("exact", "dstd") read off an affine compiled circuit.

They apply to two circuit shapes, recognised from the compiled phases:

* RC-Spike: a synapse phase of unit length (no comparator), then one comparator phase of unit length;
* TTFS: a single phase with synapses and comparator, of length t_max;

each phase affine in v and time-invariant:
    synapse phase:  dv/dtau = bias - leak v + P (1 - v/E_pos) + N (1 - v/E_neg)
    firing phase:   dv/dtau = fire_g - fire_f v
The values are tensors computed from the circuit's parameters (so gradients reach them).
"""
import math

import torch

from ..compile import W_FLOOR
from .schedule import unfollowed


def _value(fn, c, like, w=1.0):
    z = torch.zeros((), dtype=like.dtype, device=like.device)
    return fn(z, z, z, c, w)


def closed_form_error(cc, method="exact"):
    """None when the closed forms apply to cc (module docstring), else why not (a message naming ``method``)."""
    phases = cc.phases
    tl = cc.timeline
    bad = [p.name for p in phases if not (p.affine and p.time_invariant)]
    if bad:
        general = "" if cc.weight_dependent else ", or 'dstd' (its general path)"   # which refuses weight-dependent shapes
        return (f"method {method!r} needs dynamics affine in v and constant in time (the closed form); phase(s) "
                f"{bad} are not: use method 'ode'{general}")
    other = unfollowed(cc)
    if other:
        return (f"method {method!r}: the circuit has events the closed form does not follow ({', '.join(other)}); "
                f"use method 'ode', or 'dstd' (its general path)")
    syn = phases[tl.synapse_phase]
    if len(phases) == 1 and syn.comparator:
        if cc.has_packets:
            return (f"method {method!r}: charge packets (GateCharge) while the comparator listens (the TTFS shape) "
                    f"could cross the threshold by themselves, which the closed form does not follow; use method 'ode'")
        return None
    if (len(phases) == 2 and tl.synapse_phase == 0 and not syn.comparator and phases[1].comparator
            and math.isclose(syn.duration, 1.0) and math.isclose(phases[1].duration, 1.0)):
        return None
    return (f"method {method!r} handles the RC-Spike shape (unit synapse phase, then a unit comparator phase) and "
            f"the TTFS shape (one synapse+comparator phase); use method 'ode', or 'dstd' (its general path)")


def fits_closed_form(cc):
    """True when cc is an affine, time-invariant RC-Spike or TTFS circuit (see module docstring)."""
    return closed_form_error(cc) is None


def affine_coefficients(cc, params):
    """Dict with kind ("rc_spike" or "ttfs"), e_pos, e_neg, leak, bias and fire_g, fire_f (RC-Spike)
    or t_max (TTFS). Raises ValueError naming why a circuit does not fit. Where the synapse shapes
    depend on the weight, e_pos / e_neg are functions of |w| (tensors in, per-synapse E out)."""
    err = closed_form_error(cc)
    if err:
        raise ValueError(err)
    phases = cc.phases
    like = next(iter(params.values()))
    syn = phases[cc.synapse_phase]
    c = syn.prepare(params, like)
    out = dict(leak=_value(syn.leak, c, like), bias=_value(syn.bias, c, like))
    for key, fn in (("e_pos", syn.beta_pos), ("e_neg", syn.beta_neg)):
        if syn.weight_dependent:
            out[key] = lambda wabs, fn=fn: 1 / _value(fn, c, like, wabs.clamp(min=W_FLOOR))
        else:
            out[key] = 1 / _value(fn, c, like)
    if len(phases) == 1:
        out.update(kind="ttfs", t_max=syn.duration)
        return out
    fire = phases[1]
    cf = fire.prepare(params, like)
    out.update(kind="rc_spike", fire_g=_value(fire.bias, cf, like), fire_f=_value(fire.leak, cf, like))
    return out
