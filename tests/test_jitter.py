"""Spike-time jitter derived from a circuit's declared noise (circuitnet.solve.jitter): the normalised noise
amplitudes against their physical formulas, and the jitter against the sde ensemble's spread."""
import math

import pytest
import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import variation as V
from circuitnet.compile import compile_circuit
from circuitnet.solve import spike_times
from circuitnet.solve.jitter import spike_jitter
from circuitnet.units import K_B, Q_E

D = torch.float64


def test_normalised_noise_amplitudes_match_the_physical_formulas():
    """rc_spike(noise=True): per unit weight a synapse's shot noise has variance rate
    T q I_unit k(v) / (C swing)^2 = q k(v) / (C |swing|) (I_unit = C |swing| / T); the discharger's
    T q I_dis (1 + lam_dis (V - V0)) / (C swing)^2; reset noise Var v(0) = k T_K / C / swing^2."""
    c = cn.circuits.rc_spike(noise=True)
    cc = compile_circuit(c)
    p = cc.params(D)
    C, T, swing = 140e-15, 1e-6, 0.428 - 1.3
    v = torch.linspace(0, 1, 5, dtype=D)
    z = torch.zeros((), dtype=D)
    syn, fire = cc.phases
    cs, cf = syn.prepare(p, v), fire.prepare(p, v)
    k_pos, k_neg = syn.k_pos(v, z, z, cs), syn.k_neg(v, z, z, cs)
    assert torch.allclose(syn.noise_pos(v, z, z, cs), Q_E * k_pos / (C * abs(swing)), rtol=1e-12)
    assert torch.allclose(syn.noise_neg(v, z, z, cs), Q_E * k_neg / (C * abs(swing)), rtol=1e-12)   # s = .. - N noise_neg, N <= 0
    i_dis, lam = p["dis_I"].item(), p["dis_lam"].item()
    V_node = 1.3 + swing * v
    expect = T * Q_E * i_dis * (1 + lam * (V_node - 1.3)) / (C * swing) ** 2     # |i| = I (1 + lam (V - V0))
    assert torch.allclose(fire.noise(v, z, z, cf), expect, rtol=1e-12)
    assert cc.initial_variance(p, v).item() == pytest.approx(K_B * 300 / C / swing ** 2, rel=1e-12)


@pytest.mark.parametrize("realised", [False, True])
def test_derived_jitter_matches_the_sde_ensemble_within_10_percent(realised):
    """Per spike, sigma_t of the linear-noise approximation against the standard deviation of 1500 sde
    paths (its sampling error about 2 %), on the paper's circuit and on the sky130-realised one
    (weight-dependent synapse shapes), and on a mismatched chip."""
    if realised:
        pytest.importorskip("numpy")
        from circuitnet.spice.runner import ngspice_path
        try:
            ngspice_path()
            circ = cn.spice.realised_rc_spike(12, noise=True)
        except Exception as e:   # SpiceUnavailable: no ngspice or models on this machine
            pytest.skip(str(e))
    else:
        circ = V.with_uniform_mismatch(cn.circuits.rc_spike(noise=True), current=0.2, threshold_offset="5m")
    g = torch.Generator().manual_seed(0)
    B, J, I, R = 4, 12, 6, 1500
    t_in = torch.rand(B, J, generator=g, dtype=D)
    w = 0.35 * torch.randn(I, J, generator=g, dtype=D) + 0.1
    dev = None if realised else V.draw(circ, I, J, torch.Generator().manual_seed(1))
    w_chip, params = (w, None) if dev is None else V.apply(circ, w, dev)
    t, sigma, fired = spike_jitter(compile_circuit(circ), t_in, w_chip, params)
    t_ode, _ = spike_times(circ, t_in, w, method="ode", deviation=dev)
    ts, _ = spike_times(circ, t_in.repeat(R, 1), w, method="sde", deviation=dev, seed=1)
    sd = ts.reshape(R, B, I).std(0)
    inside = fired & (t_ode > 0.02) & (t_ode < 0.98)
    assert inside.sum() >= 10
    assert (t - t_ode)[inside].abs().max() < 1e-3                      # the grid's noise-free path
    ratio = sigma[inside] / sd[inside]
    assert (ratio - 1).abs().max() < 0.10, ratio


def test_spike_jitter_needs_declared_noise():
    with pytest.raises(ValueError, match="no noise"):
        spike_jitter(compile_circuit(cn.circuits.rc_spike()), torch.rand(2, 3, dtype=D), torch.rand(2, 3, dtype=D))
    with pytest.raises(ValueError, match="declares noise"):
        models.RCSpikeLinear(3, 2, circuit=cn.circuits.rc_spike(), circuit_noise=True)


def test_a_layer_with_circuit_noise_jitters_its_spikes_by_the_derived_sigma():
    """Over 4000 draws of the same input the layer's spike times spread by the derived sigma_t (within 5 %),
    centred on the noise-free time; the gradient still flows to the weights."""
    circ = cn.circuits.rc_spike(noise=True)
    torch.manual_seed(0)
    layer = models.RCSpikeLinear(10, 4, circuit=circ, method="exact", circuit_noise=True).double()
    with torch.no_grad():
        layer.weight.mul_(0.5).add_(0.15)
    x = torch.rand(1, 10, dtype=D).repeat(4000, 1)
    t = layer(x)
    t0, _ = spike_times(circ, x[:1], layer.weight.detach(), method="exact")
    _, sigma, fired = spike_jitter(compile_circuit(circ), x[:1], layer.weight.detach())
    ok = fired[0] & (t0[0] > 0.05) & (t0[0] < 0.95)
    assert ok.any()
    assert torch.allclose(t.std(0)[ok], sigma[0][ok], rtol=0.05)
    assert ((t.mean(0) - t0[0])[ok].abs() < 4 * sigma[0][ok] / math.sqrt(4000)).all()
    t.sum().backward()
    assert layer.weight.grad.abs().sum() > 0
