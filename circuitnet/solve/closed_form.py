"""Methods "exact" and "dstd" (closed-form path) on an affine RC-Spike or TTFS circuit: read the
coefficients off the compiled circuit (solve.coefficients) and call the closed forms of solve.exact
(exact) or solve.dstd (the paper's DSTD), with per-neuron parameters as columns against [out, in]."""
from .exact import rc_spike_exact, ttfs_exact
from .coefficients import affine_coefficients
from .dstd import rc_spike_dstd, ttfs_dstd
from .schedule import EdgeConductions


def closed_form_spike_times(cc, t_in, weight, params=None, clip=True, steps=None, offset=0.0):
    """(t_out [B, I], fired [B, I]); ``steps`` None: exact, else DSTD with that many steps and ``offset``."""
    p = cc.params(t_in.dtype, t_in.device, **(params or {}))
    k = affine_coefficients(cc, p)
    if any(x.dim() == 1 for x in p.values()):     # per-neuron parameters: as columns against [out, in]
        k_col = affine_coefficients(cc, {n: x[:, None] if x.dim() == 1 else x for n, x in p.items()})
        k = dict(k, e_pos=k_col["e_pos"], e_neg=k_col["e_neg"])
    e_pos, e_neg = (k[e](weight.abs()) if callable(k[e]) else k[e] for e in ("e_pos", "e_neg"))
    e_pos, e_neg = (e.expand_as(weight) if e.dim() == 2 and e.shape != weight.shape else e for e in (e_pos, e_neg))
    common = dict(e_pos=e_pos, e_neg=e_neg, leak=k["leak"], bias=k["bias"])
    extra = {} if steps is None else dict(steps=steps, offset=offset)
    if k["kind"] == "rc_spike":
        fn = rc_spike_exact if steps is None else rc_spike_dstd
        jumps = cc.synapse_jumps(p, weight)
        fire_jump = _fire_jump(cc, p, t_in, weight)
        t = fn(t_in, weight, fire_g=k["fire_g"], fire_f=k["fire_f"], clip=clip, jumps=jumps,
               fire_jump=fire_jump, **common, **extra)
        return t, t < cc.timeline.t_max          # the Timeline's rule: t_max where the neuron never fired
    fn = ttfs_exact if steps is None else ttfs_dstd
    return fn(t_in, weight, t_max=k["t_max"], **common, **extra)


def _fire_jump(cc, p, t_in, weight):
    """The jump of v(1) where the firing phase starts: the synapse devices' edge conduction at v(1)
    (a function of v(1), schedule.ConductionJump) and the packets of devices switched there; None
    without either."""
    start = cc.phase_jumps(p, t_in)[1]
    if not cc.synapse_conduction:
        return start
    (_, _, cond), = EdgeConductions().jumps(cc, p, [ph.prepare(p, t_in) for ph in cc.phases], t_in, weight)
    return lambda v: cond(v) if start is None else cond(v) + start
