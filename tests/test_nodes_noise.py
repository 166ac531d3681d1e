"""Declared noise in several-node circuits (circuitnet.nodes), simulated by method "sde" (solve.nodes_sde)."""
import math

import numpy as np
import pytest
import torch

import circuitnet as cn
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.units import K_B

F64 = torch.float64


def _quiet_input(paths):
    """One input that never arrives (+inf) and a zero weight: the circuit is left to its noise."""
    return torch.full((paths, 1), math.inf, dtype=F64), torch.zeros(1, 1, dtype=F64)


def _lif_with_thermal_noise():
    c0 = cn.circuits.lif_current_synapse()
    leak = next(e for e in c0.elements if e.name == "G_mem")
    return cn.MultiNodeCircuit({"syn": 0.6, "mem": 0.6}, c0.elements + [cn.ThermalNoise(leak)], cn.ChargeSynapse("syn"),
                               "mem", 0.8, c0.window, c0.time_unit)


def test_thermal_noise_of_a_leak_on_an_isolated_node_is_the_ou_variance():
    C, tau, S = 1e-12, 1e-6, 0.2
    leak = cn.Leak("G", G=C / tau, V_to=0.5, node="a")
    c = cn.MultiNodeCircuit({"a": 0.5, "b": 0.6}, [cn.Capacitor("Ca", C=C, node="a"), leak, cn.ThermalNoise(leak),
                                                   cn.Capacitor("Cb", C="1p", node="b")],
                            cn.ChargeSynapse("b"), "b", 0.6 + S, window=tau, time_unit=tau, temperature=300)
    paths = 8000
    t_in, w = _quiet_input(paths)
    record = []
    t, fired = solve.spike_times(c, t_in, w, method="sde", dt=1 / 128, seed=3, record=record)
    assert not fired.any()
    time, x = record[-1]
    assert torch.allclose(time, torch.ones_like(time))
    var = float(x[:, 0, 0].var()) * S ** 2                     # V^2
    expected = K_B * 300 / C * (1 - math.exp(-2.0))            # OU from 0 after t = tau
    assert abs(var / expected - 1) < 0.05, (var, expected)
    assert float(x[:, 0, 1].abs().max()) == 0.0                # nothing reaches the other node


def test_reset_noise_of_coupled_nodes_is_kt_times_the_inverse_capacitance_matrix():
    Ca, Cb, Ck, S, T = 1e-12, 2e-12, 1.5e-12, 0.3, 300.0
    c = cn.MultiNodeCircuit({"a": 0.0, "b": 0.1}, [cn.Capacitor("Ca", C=Ca, node="a"), cn.Capacitor("Cb", C=Cb, node="b"),
                                                   cn.Capacitor("Ck", C=Ck, node=("a", "b")), cn.ResetNoise()],
                            cn.ChargeSynapse("a"), "b", 0.1 + S, window="1u", temperature=T)
    Cm = np.array([[Ca + Ck, -Ck], [-Ck, Cb + Ck]])
    sigma0 = K_B * T * np.linalg.inv(Cm) / S ** 2
    cc = compile_circuit(c)
    got = cc.reset_covariance(cc.params(), torch.zeros((), dtype=F64)).numpy()
    assert np.allclose(got, sigma0, rtol=1e-12)
    paths = 20000
    t_in, w = _quiet_input(paths)
    record = []
    solve.spike_times(c, t_in, w, method="sde", dt=1 / 4, seed=1, record=record)
    for _, x in (record[0], record[-1]):                       # no currents: the draw stays
        cov = np.cov(x[:, 0, :].numpy().T)
        assert np.all(np.abs(cov / sigma0 - 1) < 0.05), (cov, sigma0)
    assert "rms: a " in c.summary()


def test_lif_sde_tends_to_the_ode_as_the_noise_shrinks_and_spreads_with_it():
    c = _lif_with_thermal_noise()
    paths = 2000
    t_in = torch.tensor([[0.1, 0.4, 0.9]], dtype=F64).expand(paths, 3).contiguous()
    w = torch.tensor([[2.0, 1.5, 1.0]], dtype=F64)
    t_ode, fired = solve.spike_times(c, t_in[:1], w, method="ode")
    assert fired.all()
    bias, spread = [], []
    for T_K in (3e4, 3e5, 3e6):                                # the noise scaled by the temperature
        t, fired = solve.spike_times(c, t_in, w, method="sde", dt=1 / 128, params={"T_K": T_K})
        assert fired.all()
        bias.append(abs(float(t.mean() - t_ode[0, 0])))
        spread.append(float(t.std()))
    assert bias[0] < 1e-3 and bias[0] < bias[-1]
    assert spread[0] < spread[1] < spread[2] and spread[2] > 5 * spread[0]
    # seeded: the same seed gives the same paths; pathwise gradients
    wg = w.clone().requires_grad_(True)
    t1, _ = solve.spike_times(c, t_in[:64], wg, method="sde", dt=1 / 128, params={"T_K": 3e6}, seed=5)
    t2, _ = solve.spike_times(c, t_in[:64], w, method="sde", dt=1 / 128, params={"T_K": 3e6}, seed=5)
    assert torch.equal(t1.detach(), t2)
    g, = torch.autograd.grad(t1.sum(), [wg])
    assert torch.isfinite(g).all() and (g < 0).all()


def test_other_methods_ignore_the_noise():
    c = _lif_with_thermal_noise()
    t_in = torch.tensor([[0.1, 0.4, 0.9]], dtype=F64)
    w = torch.tensor([[2.0, 1.5, 1.0]], dtype=F64)
    for m in ("ode", "exact", "dstd", "torchdiffeq"):              # the same spike time as without the noise
        plain, _ = solve.spike_times(cn.circuits.lif_current_synapse(), t_in, w, method=m)
        t, _ = solve.spike_times(c, t_in, w, method=m)
        assert torch.allclose(t, plain, rtol=0, atol=1e-12), m
    text = solve.describe(c)
    assert "sde: yes" in text


def test_noise_is_listed_in_the_summary_and_a_foreign_source_is_refused():
    c = _lif_with_thermal_noise()
    text = c.summary()
    assert "G_mem_thermal: ThermalNoise of 'G_mem', into 'mem'" in text
    assert "none declared" not in text
    assert "none declared" in cn.circuits.lif_current_synapse().summary()
    leak = cn.Leak("G", G="1n", node=("a", "b"))
    between = cn.MultiNodeCircuit({"a": 0, "b": 0}, [cn.Capacitor("Ca", C="1p", node="a"), cn.Capacitor("Cb", C="1p", node="b"),
                                                     leak, cn.ShotNoise(leak)], cn.ChargeSynapse("a"), "b", 1, "1u")
    assert "G_shot: ShotNoise of 'G', into 'a', out of 'b'" in between.summary()
    foreign = cn.Leak("G_other", G="1n", node="a")
    with pytest.raises(ValueError, match="its source 'G_other' is not an element of this circuit"):
        cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a"), cn.ThermalNoise(foreign)],
                            cn.ChargeSynapse("a"), "a", 1, "1u")


def test_noise_column_flows_through_the_source_terminals():
    leak = cn.Leak("G", G="1n", node=("a", "b"))
    c = cn.MultiNodeCircuit({"a": 0, "b": 0}, [cn.Capacitor("Ca", C="1p", node="a"), cn.Capacitor("Cb", C="2p", node="b"),
                                               leak, cn.ThermalNoise(leak)], cn.ChargeSynapse("a"), "b", 0.5, "1u")
    cc = compile_circuit(c)
    G = cc.diffusion(torch.zeros(2, dtype=F64), cc.params())[:, 0].numpy()
    T, S = 1e-6, 0.5
    expected = math.sqrt(T * 2 * K_B * 300 * 1e-9) / S * np.array([1 / 1e-12, -1 / 2e-12])
    assert np.allclose(G, expected, rtol=1e-10)


def test_spice_warns_that_it_leaves_the_noise_out():
    from circuitnet.spice.runner import SpiceUnavailable, ngspice_path
    try:
        ngspice_path()
    except SpiceUnavailable:
        pytest.skip("ngspice is not installed")
    c = _lif_with_thermal_noise()
    t_in = torch.tensor([[0.1, 0.4, 0.9]], dtype=F64)
    w = torch.tensor([[2.0, 1.5, 1.0]], dtype=F64)
    with pytest.warns(UserWarning, match="noiseless transient"):
        t, fired = solve.spike_times(c, t_in, w, method="spice")
    ode, _ = solve.spike_times(c, t_in, w, method="ode")
    assert fired.all() and abs(float(t - ode)) < 1e-2


def test_the_jitter_of_a_two_node_neuron_matches_the_sde_spread():
    """The linear-noise jitter (circuitnet.solve.nodes_jitter) against 2000 sde paths: within 5 %; a
    layer with circuit_noise=True adds it to its spike times."""
    from circuitnet import models
    from circuitnet.solve.jitter import spike_jitter
    base = cn.circuits.lif_current_synapse()
    c = base.replace(elements=base.elements + [cn.ThermalNoise(base.elements[3]), cn.ResetNoise()])
    g = torch.Generator().manual_seed(0)
    t_in = torch.rand(1, 5, generator=g, dtype=torch.float64) * 1.5
    w = torch.randn(4, 5, generator=g, dtype=torch.float64) * 0.5 + 2
    hot = {"T_K": torch.tensor(3e5, dtype=torch.float64)}
    t, sigma, fired = spike_jitter(compile_circuit(c), t_in, w, params=hot, steps=256)
    ts, fs = solve.spike_times(c, t_in.expand(2000, 5).contiguous(), w, method="sde", dt=1 / 256, params=hot)
    te, _ = solve.spike_times(c, t_in, w, method="exact")
    assert fired.all() and fs.all() and (t - te).abs().max() < 1e-3
    assert torch.allclose(sigma[0], ts.std(0), rtol=0.05)
    layer = models.TTFSLinear(5, 4, circuit=c, method="exact", circuit_noise=True).double()
    with torch.no_grad():
        layer.weight.copy_(w)
        spread = torch.stack([layer(t_in) for _ in range(400)]).std(0)[0]
    cold = spike_jitter(compile_circuit(c), t_in, w, steps=64)[1][0]      # 300 K, the layer's own noise
    assert torch.allclose(spread, cold, rtol=0.15) and (cold > 0).all()
