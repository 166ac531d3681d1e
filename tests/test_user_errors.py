"""What a new user gets wrong, and what circuitnet answers: a clear error or a documented behaviour."""
import math

import numpy as np
import pytest
import sympy
import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.solve import METHODS, spike_times


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", METHODS)
def test_half_precision_is_refused_by_every_method(dtype, method):
    circuit = cn.circuits.rc_spike(noise=True) if method == "sde" else cn.circuits.rc_spike()
    t_in, w = torch.rand(4, 5, dtype=dtype), torch.rand(3, 5, dtype=dtype)
    with pytest.raises(ValueError, match=rf"{dtype}.*float32 or float64"):
        spike_times(circuit, t_in, w, method=method)


def test_half_precision_layer_is_refused():
    layer = models.RCSpikeLinear(5, 3, method="exact").half()
    with pytest.raises(ValueError, match="float32 or float64"):
        layer(torch.rand(4, 5, dtype=torch.float16))


@pytest.mark.parametrize("tanh", [np.tanh, math.tanh], ids=["numpy", "math"])
def test_custom_element_with_numpy_or_math_functions_says_use_sympy(tanh):
    class Saturating(cn.Element):
        parameters = ("I", "V_s")

        def current(self, node):
            return -self.I * tanh((node.V - node.V0) / self.V_s)

    with pytest.raises(ValueError, match=r"element 'sat' \(Saturating\): its current .*sympy.tanh"):
        cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), Saturating("sat", I="100n", V_s="0.5")],
                         cn.Synapse(cn.NMOS("pos", lam=0.41), cn.PMOS("neg", lam=0.75)),
                         [cn.Phase("acc", "1u", active=["sat"], synapses=True, comparator=True)],
                         reset_level=1.3, threshold=0.428)


def test_custom_element_with_sympy_functions_builds():
    class Saturating(cn.Element):
        parameters = ("I", "V_s")

        def current(self, node):
            return -self.I * sympy.tanh((node.V - node.V0) / self.V_s)

    c = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), Saturating("sat", I="100n", V_s="0.5")],
                         cn.Synapse(cn.NMOS("pos", lam=0.41), cn.PMOS("neg", lam=0.75)),
                         [cn.Phase("acc", "1u", active=["sat"], synapses=True, comparator=True)],
                         reset_level=1.3, threshold=0.428)
    assert c.normalised[0].drift.has(sympy.tanh)


def test_si_prefix_capital_m_is_refused_as_ambiguous_and_meg_is_mega():
    for ambiguous in ("140M", "1MHz", "2 MOhm"):
        with pytest.raises(ValueError, match="ambiguous.*'m' for milli or 'meg' for mega"):
            cn.parse_value(ambiguous, "R")
    assert cn.parse_value("140m") == pytest.approx(0.14)
    for mega in ("2meg", "2MEG", "2Meg", "2megOhm"):
        assert cn.parse_value(mega) == pytest.approx(2e6)
    with pytest.raises(ValueError, match="ambiguous"):
        cn.Leak("leak", G="1M")


def test_sde_on_a_circuit_without_noise_is_refused():
    t_in, w = torch.rand(4, 5, dtype=torch.float64), 0.3 * torch.rand(3, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="method 'sde' needs a circuit that declares noise.*use method 'ode'"):
        spike_times(cn.circuits.rc_spike(), t_in, w, method="sde")
    t_noisy, _ = spike_times(cn.circuits.rc_spike(noise=True), t_in, w, method="sde", seed=1)
    t_ode, _ = spike_times(cn.circuits.rc_spike(noise=True), t_in, w, method="ode")
    assert not torch.equal(t_noisy, t_ode)


@pytest.mark.parametrize("Layer, circuit, use", [
    (models.RCSpikeLinear, lambda: cn.circuits.ttfs(), "TTFSLinear"),
    (models.TTFSLinear, lambda: cn.circuits.rc_spike(), "RCSpikeLinear"),
    (models.RCSpikeConv2d, lambda: cn.circuits.ttfs(), "TTFSConv2d"),
])
def test_layer_refuses_a_circuit_of_the_other_kind(Layer, circuit, use):
    args = (5, 3) if "Linear" in Layer.__name__ else (1, 2, 3)
    with pytest.raises(ValueError, match=rf"{Layer.__name__} needs .* circuit.*use {use}"):
        Layer(*args, circuit=circuit(), method="exact")
    Layer(*args, circuit=cn.circuits.rc_spike() if "RCSpike" in Layer.__name__ else cn.circuits.ttfs(), method="exact")


def test_version_is_the_one_in_setup_cfg():
    import configparser
    import pathlib
    cfg = configparser.ConfigParser()
    cfg.read(pathlib.Path(__file__).resolve().parents[1] / "setup.cfg")
    assert cn.__version__ == cfg["metadata"]["version"]


def test_layer_holds_one_method_object_and_switching_switches_objects():
    torch.manual_seed(0)
    layer = models.RCSpikeLinear(5, 3, method="ode", dt=1 / 128).double()
    ode = layer.method
    assert ode == solve.ODE(dt=1 / 128) and ode != solve.ODE() and ode.replace(dt=1 / 64) == solve.ODE()
    t = torch.rand(4, 5, dtype=torch.float64)
    t_ode = layer(t)
    layer.method = "exact"
    assert layer.method == solve.Exact()
    t_exact = layer(t)
    assert (t_ode - t_exact).abs().max() < 1e-6                       # the same neuron, two methods
    layer.method = ode
    assert torch.equal(layer(t), t_ode)                              # the object carries dt=1/128
    net = models.mlp((5, 4, 3), method="ode", dt=1 / 128, sigma_spike=0.0).double()
    a = net.set_method("exact")(t)
    b = net.set_method("ode", dt=1 / 256)(t)
    assert all(l.method == solve.ODE(dt=1 / 256) for l in net.spiking_layers) and (a - b).abs().max() < 1e-6


def test_method_objects_equal_their_string_form_and_refuse_foreign_options():
    g = torch.Generator().manual_seed(3)
    t, w = torch.rand(6, 9, generator=g, dtype=torch.float64), torch.randn(4, 9, generator=g, dtype=torch.float64) * 0.4
    for circuit in (cn.circuits.rc_spike(), cn.circuits.rc_spike_quadratic()):
        a = spike_times(circuit, t, w, method=solve.DSTD(steps=10))[0]
        b = spike_times(circuit, t, w, method="dstd", steps=10)[0]
        assert (a - b).abs().max() <= 1e-12
    assert solve.DSTD().path(compile_circuit(cn.circuits.rc_spike())) == "closed form"
    assert solve.DSTD().path(compile_circuit(cn.circuits.rc_spike_quadratic())) == "general"
    with pytest.raises(ValueError, match="method 'dstd' does not take option.* dt; it takes: steps, offset, step"):
        solve.DSTD(dt=0.1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        solve.DSTD(steps=0)
    with pytest.raises(ValueError, match="step must be one of"):
        solve.DSTD(step="euler")
    with pytest.raises(ValueError, match="offset must be a number >= 0"):
        solve.DSTD(offset=-0.1)
    with pytest.raises(ValueError, match="dt must be > 0"):
        solve.SDE(dt=0)
    with pytest.raises(ValueError, match="solver must be an adaptive"):
        solve.TorchDiffEq(solver="euler")
    with pytest.raises(ValueError, match="beside the method object"):
        spike_times(cn.circuits.rc_spike(), t, w, method=solve.ODE(), dt=0.1)
    why = solve.SDE().unsupported(compile_circuit(cn.circuits.rc_spike()))
    assert "declares noise" in why and solve.SDE().supports(compile_circuit(cn.circuits.rc_spike(noise=True)))
    assert not solve.Exact().supports(compile_circuit(cn.circuits.rc_spike_quadratic()))


def test_wrong_option_lists_the_methods_options():
    t, w = torch.rand(4, 5, dtype=torch.float64), torch.rand(3, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="method 'exact' does not take option.* dt; it takes: no options"):
        spike_times(cn.circuits.rc_spike(), t, w, method="exact", dt=0.1)
    with pytest.raises(ValueError, match="method 'ode' does not take option.* steps; it takes: dt, polish"):
        spike_times(cn.circuits.rc_spike(), t, w, method="ode", steps=4)
    with pytest.raises(ValueError, match="unknown method 'rk4'"):
        spike_times(cn.circuits.rc_spike(), t, w, method="rk4")
    with pytest.raises(ValueError, match=r"method 'ode' does not take option.*dtt; it takes: dt, polish"):
        models.RCSpikeLinear(5, 3, method="ode", dtt=0.1)
    with pytest.raises(ValueError, match=r"method 'ode' does not take option.*tol"):
        models.mlp((5, 3)).set_method("ode", tol=1e-3)
