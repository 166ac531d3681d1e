"""Synapse devices whose CLM slope depends on their own current (FittedNMOS / FittedPMOS): each
synapse has its own reversal potential E(w), honoured by methods exact, dstd, ode and sde."""
import math

import pytest
import torch

import circuitnet as cn
from circuitnet.solve import spike_times
from circuitnet.solve.exact import rc_spike_exact

D = torch.float64
LAM = dict(pos=(0.41, -0.012, -0.002, 0.0003), neg=(0.69, -0.06, -0.006, 0.0))


def circuit(fitted=True, lam=LAM):
    """The RC-Spike neuron with fitted synapse devices lam(I) = sum_k lam_k ln(I / 100 nA)^k, or with
    plain NMOS/PMOS at lam_0."""
    kw = lambda k: dict(zip(("lam", "lam1", "lam2", "lam3"), lam[k]), I_ref="100n") if fitted else dict(lam=lam[k][0])
    pos = (cn.FittedNMOS if fitted else cn.NMOS)("pos", **kw("pos"))
    neg = (cn.FittedPMOS if fitted else cn.PMOS)("neg", **kw("neg"))
    return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.NMOS("dis", I="140n", lam="0.177")],
                            cn.Synapse(pos, neg),
                            [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level="1.3", threshold="0.428")


def layer(seed=0, B=6, I=5, J=12):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, J, generator=g, dtype=D)
    w = (torch.rand(I, J, generator=g, dtype=D) * 1.6 - 0.5) * 3 / J ** 0.5
    return t, w


def test_each_synapse_gets_the_reversal_potential_of_its_own_current():
    c = circuit()
    t, w = layer()
    swing = abs(0.428 - 1.3)
    i_unit = c.value(c.unit_current)

    def e(key, sign):
        x = torch.log(w.abs().clamp(min=1e-6) * i_unit / 1e-7)
        lam = sum(a * x ** k for k, a in enumerate(LAM[key]))
        return sign / (swing * lam)
    fire_g, fire_f = firing_coefficients(c)
    expect = rc_spike_exact(t, w, e("pos", 1), e("neg", -1), fire_g=fire_g, fire_f=fire_f)
    got, _ = spike_times(c, t, w, method="exact")
    assert torch.allclose(got, expect, atol=1e-12)
    assert c.reversal(c.synapse.positive, 0.1) < c.reversal(c.synapse.positive, 3.0)      # E grows with the current


def firing_coefficients(c):
    """(fire_g, fire_f) of the discharger phase dv/dtau = fire_g - fire_f v."""
    from circuitnet.compile import compile_circuit
    from circuitnet.solve.coefficients import affine_coefficients
    cc = compile_circuit(c)
    k = affine_coefficients(cc, cc.params(D))
    return k["fire_g"], k["fire_f"]


def test_constant_fit_is_the_plain_device():
    flat = dict(pos=(0.41, 0.0, 0.0, 0.0), neg=(0.69, 0.0, 0.0, 0.0))
    t, w = layer(1)
    a, _ = spike_times(circuit(True, flat), t, w, method="exact")
    b, _ = spike_times(circuit(False, flat), t, w, method="exact")
    assert torch.allclose(a, b, atol=1e-12)


def test_dstd_converges_to_exact_and_gradients_match_finite_differences():
    c = circuit()
    t, w = layer(2, B=3, I=3, J=6)
    ex, _ = spike_times(c, t, w, method="exact")
    errs = [(spike_times(c, t, w, method="dstd", steps=m)[0] - ex).abs().max().item() for m in (20, 80)]
    assert errs[1] < 1e-4 and errs[1] < errs[0] / 8                  # second order in the grid step
    inside = ((ex > 0.02) & (ex < 0.98)).to(D)
    w = w.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda ww: spike_times(c, t, ww, method="exact")[0] * inside, (w,),
                                    eps=1e-6, atol=1e-6)


def test_ode_and_sde_take_per_synapse_shapes_and_agree_with_exact():
    """ode carries sum w and sum w beta(|w|) as two drives; its adjoint combines them per synapse."""
    c = circuit()
    t, w = layer(2, B=3, I=3, J=6)
    te, fe = spike_times(c, t, w, method="exact")
    to, fo = spike_times(c, t, w, method="ode", dt=1 / 128)
    assert torch.equal(fe, fo) and (te - to).abs().max().item() < 1e-9
    inside = ((te > 0.02) & (te < 0.98)).to(D)
    grads = []
    for method in ("exact", "ode"):
        tq, wq = t.clone().requires_grad_(), w.clone().requires_grad_()
        (spike_times(c, tq, wq, method=method)[0] * inside).sum().backward()
        grads.append((tq.grad, wq.grad))
    assert all(torch.allclose(a, b, atol=1e-8) for a, b in zip(*grads))
    noisy = cn.NeuronCircuit(c.elements + [cn.ShotNoise(c.synapse.positive), cn.ShotNoise(c.synapse.negative)],
                             c.synapse, [cn.Phase("acc", "1u", synapses=True),
                                         cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                             reset_level="1.3", threshold="0.428")
    ts, _ = spike_times(noisy, t[:1].expand(300, -1), w, method="sde", seed=0)
    assert ((ts.mean(0) - te[0]).abs() < 4 * ts.std(0) / 300 ** 0.5 + 1e-4).all() and (ts.std(0) > 0).all()


def test_methods_without_per_synapse_shapes_refuse_clearly():
    t, w = layer(3, B=2, I=2, J=4)
    with pytest.raises(ValueError, match="depend on the weight.*'spice' take it"):
        spike_times(circuit(), t, w, method="torchdiffeq")
    with pytest.raises(ValueError, match="clip=False on a circuit whose synapse shapes depend on the weight"):
        spike_times(circuit(), t, w, method="ode", clip=False)
    lam1 = torch.tensor(LAM["pos"][1], dtype=D, requires_grad=True)     # read by the synapse shapes
    with pytest.raises(ValueError, match="parameters are not available from method 'ode'"):
        spike_times(circuit(), t, w, method="ode", params={"pos_lam1": lam1})
    dis = torch.tensor(140e-9, dtype=D, requires_grad=True)           # the firing phase's only: allowed
    spike_times(circuit(), t, w, method="ode", params={"dis_I": dis})[0].sum().backward()
    assert dis.grad is not None and dis.grad.abs() > 0
    with pytest.raises(ValueError, match="e_pos per synapse must have the weight's shape"):
        rc_spike_exact(t, w, torch.full((3, 3), 2.8, dtype=D), -1.5)
    with pytest.raises(ValueError, match="e_neg must be < 0"):
        rc_spike_exact(t, w, 2.8, torch.full_like(w, math.nan))
