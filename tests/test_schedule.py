"""One schedule of events per call (circuitnet.solve.schedule): a new kind of event is added in one place,
as one EventSource, and every stepping method honours it; the closed forms refuse it with the reason.

The toy event: v jumps by q at a fixed local time of a phase. On the paper's circuit with the ideal
firing ramp (dv/dtau = 1) a jump of q at tau_k in the firing phase moves a later spike by exactly -q
(not below tau_k, where the jump itself crosses), and a never-firing neuron's unclipped time by -q."""
import pytest
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import schedule, spike_times
from circuitnet.solve.jitter import spike_jitter

D = torch.float64


class Kick(schedule.EventSource):
    """The toy: v jumps by ``q`` at local time ``tau`` of phase ``phase``, in one compiled circuit."""
    name = "toy kick"

    def __init__(self, cc, phase, tau, q):
        self.cc, self.phase, self.tau, self.q = cc, phase, tau, q

    def applies(self, cc):
        return cc is self.cc

    def jumps(self, cc, p, consts, t_in, weight):
        return [(self.phase, self.tau, torch.as_tensor(self.q, dtype=t_in.dtype))]


@pytest.fixture
def kicked():
    added = []

    def add(circuit, phase, tau, q):
        k = Kick(compile_circuit(circuit), phase, tau, q)
        schedule.EVENTS.append(k)
        added.append(k)
        return k
    yield add
    for k in added:
        schedule.EVENTS.remove(k)


def _layer():
    g = torch.Generator().manual_seed(3)
    t_in = torch.rand(6, 8, generator=g, dtype=D)
    w = 0.25 * torch.rand(5, 8, generator=g, dtype=D)
    w[4] = -w[4]                                     # a neuron that never fires
    return t_in, w


def test_a_kick_in_the_firing_phase_moves_every_methods_spikes_by_q(kicked):
    circuit = cn.circuits.rc_spike(firing="ideal")
    noisy = cn.NeuronCircuit(circuit.elements + [cn.ResetNoise()], circuit.synapse, circuit.phases,
                             circuit.V0_value, circuit.Vth_value)            # for sde and the jitter (kT/C only)
    t_in, w = _layer()
    t0, f0 = spike_times(circuit, t_in, w, method="exact")                  # before the kick is declared
    assert f0[:, :4].all() and not f0[:, 4].any() and ((t0[:, :4] > 0) & (t0[:, :4] < 1)).all()
    q, tau = 0.1, 0.3
    expect = torch.where(t0 <= tau, t0, torch.clamp(t0 - q, min=tau))[:, :4]
    kicked(circuit, 1, tau, q)
    kicked(noisy, 1, tau, q)
    with pytest.raises(ValueError, match="events the closed form does not follow \\(toy kick\\)"):
        spike_times(circuit, t_in, w, method="exact")
    assert cn.solve.DSTD().path(compile_circuit(circuit)) == "general"
    got = {"ode": spike_times(circuit, t_in, w, method="ode")[0],
           "torchdiffeq": spike_times(circuit, t_in, w, method="torchdiffeq")[0],
           "dstd": spike_times(circuit, t_in, w, method="dstd", steps=200)[0],
           "jitter": spike_jitter(compile_circuit(noisy), t_in, w, steps=200)[0],
           "sde": spike_times(noisy, t_in, w, method="sde", dt=1 / 512)[0]}
    tol = {"ode": 1e-9, "torchdiffeq": 1e-7, "dstd": 2e-4, "jitter": 2e-4, "sde": 3e-3}
    for m, t in got.items():
        err = (t[:, :4] - expect).abs().max().item()
        assert err < tol[m], (m, err)
    u0 = spike_times(circuit.__class__(circuit.elements, circuit.synapse, circuit.phases, circuit.V0_value,
                                       circuit.Vth_value), t_in, w, method="exact", clip=False)[0]   # no kick
    for m, kw in (("ode", {}), ("dstd", dict(steps=200))):
        u = spike_times(circuit, t_in, w, method=m, clip=False, **kw)[0]
        assert (u[:, 4] - (u0[:, 4] - q)).abs().max() < 2e-4, m            # the never-firing neuron: -q


def test_ode_differentiates_through_the_kick(kicked):
    """The adjoint takes v back across the jump: d t / d q = -1 for a spike after the kick, and the
    weight gradients are those of the circuit without it."""
    circuit = cn.circuits.rc_spike(firing="ideal")
    t_in, w = _layer()
    w = w[:4]
    wq = w.clone().requires_grad_()
    t0 = spike_times(circuit, t_in, wq, method="exact")[0]
    t0.sum().backward()
    g0 = wq.grad.clone()
    q = torch.tensor(0.05, dtype=D, requires_grad=True)
    kicked(circuit, 1, 0.05, q)
    wq.grad = None
    t = spike_times(circuit, t_in, wq, method="ode")[0]
    assert (t0 - 0.05 > 0.05).all()                  # every spike comes after the kick
    t.sum().backward()
    assert q.grad.item() == pytest.approx(-t.numel(), abs=1e-9)
    assert torch.allclose(wq.grad, g0, atol=1e-8)


def test_a_kick_inside_the_synapse_phase_agrees_between_methods(kicked):
    """A jump at tau = 0.5 of the synapse phase of the paper's discharger circuit (v-dependent
    synapses: no shortcut): ode = torchdiffeq, DSTD's general path converges to them, the jitter's
    noise-free path too; the jump moves the spikes."""
    circuit = cn.circuits.rc_spike(noise=True)
    t_in, w = _layer()
    before = spike_times(circuit, t_in, w, method="ode")[0]
    kicked(circuit, 0, 0.5, 0.08)
    ode = spike_times(circuit, t_in, w, method="ode")[0]
    assert (ode[:, :4] - before[:, :4]).abs().min() > 0.01
    ref = spike_times(circuit, t_in, w, method="torchdiffeq")[0]
    assert (ode - ref).abs().max() < 1e-7
    errs = [(spike_times(circuit, t_in, w, method="dstd", steps=m)[0] - ode).abs().max().item() for m in (20, 80)]
    assert errs[1] < errs[0] / 4 and errs[1] < 1e-3, errs
    t_j = spike_jitter(compile_circuit(circuit), t_in, w, steps=160)[0]
    assert (t_j - ode).abs().max() < 1e-3
