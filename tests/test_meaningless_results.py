"""Results that would mean nothing come with a warning or a refusal that names the fix, and summary()
shows what a circuit declares of noise, mismatch and the comparator offset."""
import math
import warnings

import pytest
import torch

import circuitnet as cn
from circuitnet import models, solve
from circuitnet import variation as V
from circuitnet.chip import ModelBench, Trim, WeightProgrammer, calibrate
from circuitnet.solve import spike_times

D = torch.float64


def _r1t1r():
    pos, neg = cn.Resistive1T1R("pos", V_to=0.0), cn.Resistive1T1R("neg", V_to=1.8)
    return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.NMOS("dis", I="130n")], cn.Synapse(pos, neg),
                            [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level=1.3, threshold=0.428)


def test_uniform_current_mismatch_spreads_conductance_synapses_too():
    """A 1T1R's programmed current is set by G: with_uniform_mismatch(current=) gives it that spread."""
    c = V.with_uniform_mismatch(_r1t1r(), current=0.2)
    (sp, sn), neuron, _ = V.spreads(c)
    assert sp == sn == 0.2 and neuron == {"dis_I": 0.2}
    d = V.draw(c, 50, 40, torch.Generator().manual_seed(0))
    assert torch.log(d.gain_pos).std().item() == pytest.approx(math.sqrt(math.log1p(0.04)), rel=0.05)


def _net(circuit):
    return models.mlp((4, 3, 2), circuit=circuit, method="exact", sigma_spike=0.0).double()


def test_chips_of_a_circuit_without_mismatch_warn():
    net = _net(cn.circuits.rc_spike(firing="ideal"))
    with pytest.warns(UserWarning, match="no layer's circuit declares mismatch.*with_uniform_mismatch"):
        models.monte_carlo(net, lambda n: 0.5, chips=2)
    with pytest.warns(UserWarning, match="train_on_chips: no layer's circuit declares mismatch"):
        net.train_on_chips(1.0)
    mismatched = _net(V.with_uniform_mismatch(cn.circuits.rc_spike(firing="ideal"), current=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.monte_carlo(mismatched, lambda n: 0.5, chips=2)
        mismatched.train_on_chips(1.0)
    assert V.declares_mismatch(cn.variation.with_mismatch(cn.circuits.rc_spike(), threshold_offset="2m"))


def test_a_programmer_that_cannot_reach_the_spread_says_so():
    d = V.draw(V.with_uniform_mismatch(cn.circuits.rc_spike(), current=0.2), 20, 30, torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match=r"corrects \|ln g\| <= 0.0125.*% of the devices lie beyond.*dac_range of about"):
        WeightProgrammer(bits=1, dac_range="1m").program(d, torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WeightProgrammer().program(d, torch.Generator().manual_seed(0))     # 8 bits over 0.12 V: reach 1.5


def test_dstd_step_on_the_closed_form_path_is_refused():
    t, w = torch.rand(2, 3, dtype=D), torch.rand(2, 3, dtype=D)
    with pytest.raises(ValueError, match="step='rk4'.*closed-form path.*leave step out"):
        spike_times(cn.circuits.rc_spike(), t, w, method="dstd", step="rk4")
    a = spike_times(cn.circuits.rc_spike_quadratic(), t, w, method="dstd", step="rk4")[0]
    b = spike_times(cn.circuits.rc_spike_quadratic(), t, w, method="dstd")[0]
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=1e-3)       # rk4 is used on the general path


def test_spice_warns_that_declared_noise_is_left_out_and_refuses_backward():
    pytest.importorskip("numpy")
    from circuitnet.spice.runner import SpiceUnavailable, ngspice_path
    try:
        ngspice_path()
    except SpiceUnavailable as e:
        pytest.skip(str(e))
    t = torch.tensor([[0.1, 0.5]], dtype=D)
    w = torch.tensor([[0.8, 0.6]], dtype=D, requires_grad=True)
    with pytest.warns(UserWarning, match="declared noise.*left out.*'sde'"):
        out, fired = spike_times(cn.circuits.rc_spike(noise=True), t, w, method="spice")
    assert fired.all()
    with pytest.raises(RuntimeError, match="method 'spice' gives no gradient.*'exact', 'dstd' or 'ode'"):
        out.sum().backward()


def test_describe_says_spice_is_unavailable_without_ngspice(monkeypatch):
    monkeypatch.setenv("CIRCUITNET_NGSPICE", "no-such-ngspice-here")
    text = solve.describe(cn.circuits.rc_spike())
    assert "spice: no: method 'spice': ngspice was not found" in text


def test_summary_lists_noise_mismatch_and_the_comparator_offset():
    c = V.with_uniform_mismatch(cn.circuits.rc_spike(noise=True), current=0.1, lam=0.05, threshold_offset="4m")
    text = c.summary()
    assert "dis_shot: ShotNoise of 'dis', in phases ['fire']" in text
    assert "pos_shot: ShotNoise of 'pos', per synapse" in text
    assert "reset_noise: ResetNoise, 0.172 mV rms" in text            # sqrt(k 300 K / 140 fF)
    assert "dis: I 10 %, lam 5 % (per neuron)" in text
    assert "pos: I 10 % (per synapse device)" in text
    assert "comparator offset: 4 mV sd" in text
    bare = cn.circuits.rc_spike().summary()
    assert "noise: none declared" in bare and "mismatch: none declared" in bare


def test_set_method_is_checked_when_set():
    net = models.mlp((3, 2), circuit=cn.circuits.rc_spike_quadratic(), method="ode", sigma_spike=0.0)
    with pytest.raises(ValueError, match="method 'exact'"):
        net.set_method("exact")
    assert net.spiking_layers[0].method.name == "ode"                 # left as it was


@pytest.mark.parametrize("sizes", [(6, 0, 3), (6, 2.5, 3), (6, -1, 3)])
def test_mlp_sizes_must_be_positive_integers(sizes):
    with pytest.raises(ValueError, match="every layer size must be an integer >= 1"):
        models.mlp(sizes)


def test_program_chip_needs_a_programmer():
    net = _net(V.with_uniform_mismatch(cn.circuits.rc_spike(firing="ideal"), current=0.1))
    with pytest.raises(ValueError, match="programmer must be a circuitnet.chip.WeightProgrammer, got NoneType"):
        models.program_chip(models.draw_chip(net, seed=1), None)


def test_encode_warns_about_intensities_outside_the_unit_interval():
    with pytest.warns(UserWarning, match=r"2 of 4 intensities lie outside \[0, 1\].*x / 255"):
        t = models.encode(torch.tensor([-0.5, 0.2, 1.0, 255.0]))
    assert t.tolist() == [1.0, pytest.approx(0.8), 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.encode(torch.tensor([0.0, 1.0 + 1e-9]))


def test_calibrate_on_a_circuit_exact_cannot_solve_names_method():
    c = V.with_uniform_mismatch(cn.circuits.rc_spike_quadratic(), current=0.1, threshold_offset="4m")
    d = V.draw(c, 3, 2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="calibrate: method 'exact'.*take method=, e.g. method='ode'"):
        calibrate(ModelBench(c, d), [Trim("V_th", bits=4, span="40m")])


def test_a_programmer_says_it_once_over_many_chips():
    c = V.with_uniform_mismatch(cn.circuits.rc_spike(), current=0.2)
    prog = WeightProgrammer(bits=1, dac_range="1m")
    with pytest.warns(UserWarning) as record:
        for k in range(5):
            prog.program(V.draw(c, 20, 30, torch.Generator().manual_seed(k)), torch.Generator().manual_seed(0))
    assert sum("lie beyond" in str(w.message) for w in record) == 2          # the positive and the negative device
