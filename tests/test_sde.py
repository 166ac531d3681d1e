"""Method "sde": noise statistics against closed forms and torchsde, seeding, noise-free limit."""
import math

import pytest
import torch
import torchsde

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import spike_times
from circuitnet.solve.sde import sde_spike_times
from circuitnet.units import K_B, Q_E

D = torch.float64
C, T, V0, VTH, I = 140e-15, 1e-6, 1.3, 0.428, 61e-9


def charging_circuit(source, reset_noise=False):
    """A capacitor charged by one noisy source (drives V down, i.e. v up) during one phase."""
    els = [cn.Capacitor("Cm", C=C), source, cn.ShotNoise(source)] + ([cn.ResetNoise()] if reset_noise else [])
    return cn.NeuronCircuit(els, cn.Synapse(cn.NMOS("pos"), cn.PMOS("neg")),
                            [cn.Phase("acc", T, active=[source.name], synapses=True, comparator=True)],
                            reset_level=V0, threshold=VTH)


def final_v(circ, paths, seed=0, dt=1 / 128, **kw):
    rec = []
    t = torch.full((paths, 1), float("inf"), dtype=D)
    sde_spike_times(compile_circuit(circ), t, torch.zeros(1, 1, dtype=D), dt=dt, seed=seed, record=rec, **kw)
    assert torch.all(rec[-1][0] == 1.0)
    return rec[-1][1][:, 0]


def test_shot_noise_variance_is_qIT_over_C2():
    """Poisson charge statistics: Var V(T) = q I T / C^2 (two-sided intensity q I; one-sided PSD 2 q I)."""
    v = final_v(charging_circuit(cn.CurrentSource("src", I=-I)), paths=20000)
    V = (VTH - V0) * v
    assert V.mean().item() == pytest.approx(-I * T / C, rel=1e-3)
    assert V.var().item() == pytest.approx(Q_E * I * T / C ** 2, rel=0.05)


def test_reset_noise_adds_kT_over_C():
    v = final_v(charging_circuit(cn.CurrentSource("src", I=-I), reset_noise=True), paths=20000, seed=3)
    V = (VTH - V0) * v
    assert V.var().item() == pytest.approx(K_B * 300 / C + Q_E * I * T / C ** 2, rel=0.05)


def test_same_seed_same_paths_other_seed_other_paths():
    circ = cn.circuits.rc_spike(noise=True)
    g = torch.Generator().manual_seed(0)
    t, w = torch.rand(16, 8, generator=g, dtype=D), 0.2 * torch.rand(4, 8, generator=g, dtype=D)
    a = spike_times(circ, t, w, method="sde", seed=7)[0]
    b = spike_times(circ, t, w, method="sde", seed=7)[0]
    c = spike_times(circ, t, w, method="sde", seed=8)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    ode = spike_times(circ, t, w, method="ode")[0]
    assert 1e-5 < (a - ode).abs().mean() < 1e-2          # noise moves spikes by about a nanosecond


def test_noise_free_sde_equals_ode():
    circ = cn.circuits.rc_spike()
    g = torch.Generator().manual_seed(1)
    t, w = torch.rand(8, 20, generator=g, dtype=D), 0.15 * torch.rand(5, 20, generator=g, dtype=D)
    a = sde_spike_times(compile_circuit(circ), t, w, dt=1 / 512)[0]     # the scheme itself; spike_times refuses
    b = spike_times(circ, t, w, method="ode")[0]
    assert (a - b).abs().max() < 1e-5


def test_state_dependent_noise_agrees_with_torchsde():
    """An NMOS source with CLM: drift and shot-noise intensity both depend on v; compare moments at T."""
    circ = charging_circuit(cn.NMOS("src", I=3 * I, lam=0.41))
    cc = compile_circuit(circ)
    ph = cc.phases[0]
    p = cc.params()
    c = ph.prepare(p, torch.zeros((), dtype=D))
    ours = final_v(circ, 20000, seed=1, dt=1 / 128, params={"Cm_C": torch.tensor(C, dtype=D)})

    class SDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return ph.drift(y, t, t, c)

        def g(self, t, y):
            return torch.sqrt(ph.noise(y, t, t, c).clamp(min=0))

    y0 = torch.zeros(20000, 1, dtype=D)
    ts = torch.tensor([0.0, 1.0], dtype=D)
    bm = torchsde.BrownianInterval(0.0, 1.0, size=(20000, 1), dtype=D, entropy=5)
    ref = torchsde.sdeint(SDE(), y0, ts, bm=bm, method="euler", dt=1 / 512)[-1, :, 0]
    a, b = ph.bias(y0, 0, 0, c).item(), ph.leak(y0, 0, 0, c).item()
    exact_mean = a / b * (1 - math.exp(-b))          # the drift is affine: the mean follows the ODE
    assert ours.mean().item() == pytest.approx(exact_mean, rel=1e-4)
    assert ref.mean().item() == pytest.approx(exact_mean, rel=2e-3)
    assert ours.var().item() == pytest.approx(ref.var().item(), rel=0.06)


def test_sde_pathwise_gradients_match_finite_differences():
    circ = cn.circuits.rc_spike(noise=True)
    g = torch.Generator().manual_seed(2)
    t = torch.rand(2, 5, generator=g, dtype=D, requires_grad=True)
    w = (0.3 * torch.rand(3, 5, generator=g, dtype=D)).requires_grad_()
    f = lambda t, w: spike_times(circ, t, w, method="sde", seed=11, dt=1 / 64)[0]
    assert torch.autograd.gradcheck(f, (t, w), eps=1e-7, atol=1e-5, rtol=1e-4)
