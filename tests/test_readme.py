"""Every README python snippet runs as written, on its own, and gives what it promises."""
import pathlib
import re

import torch

import circuitnet as cn
from circuitnet import models
from circuitnet.compile import compile_circuit

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _run(marker, scope=None):
    example = next(b for b in BLOCKS if marker in b)
    scope = {} if scope is None else scope
    exec(compile(example, "README.md", "exec"), scope)
    return scope


def test_every_python_snippet_is_checked_here():
    markers = ("cn.NeuronCircuit(", "models.RCSpikeLinear(", "models.monte_carlo(net.eval()",
               "class SaturatingNMOS", "cn.MultiNodeCircuit(")
    assert len(BLOCKS) == len(markers) and all(any(m in b for b in BLOCKS) for m in markers), \
        "a README python snippet was added or changed: give it a test below"


def test_readme_circuit_example_runs_and_differentiates():
    scope = _run("cn.NeuronCircuit(")
    t_out, fired, w = scope["t_out"], scope["fired"], scope["w"]
    assert t_out.shape == (32, 8) and fired.any() and torch.isfinite(t_out).all()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    fire = compile_circuit(scope["circuit"]).phases[1]
    assert fire.breakpoints and not fire.time_invariant          # the clock edge: no closed form applies


def test_readme_layer_example_runs_and_trains():
    scope = _run("models.RCSpikeLinear(")
    layer, net, t_in = scope["layer"], scope["net"], scope["t_in"]
    assert layer.method == cn.solve.Exact() and scope["t_out"].shape == (32, 10)
    assert ((0 <= layer(t_in)) & (layer(t_in) <= 1)).all()
    assert torch.isfinite(scope["loss"]) and all(p.grad is not None and torch.isfinite(p.grad).all()
                                                 for p in net.parameters())


def test_readme_mismatch_example_runs_and_reports_chip_statistics():
    torch.manual_seed(0)          # its random data and init: the same draw whichever tests ran before
    scope = _run("models.monte_carlo(net.eval()")
    mc, net = scope["mc"], scope["net"]
    assert len(mc["accuracies"]) == 20 and mc["min"] <= mc["p5"] <= mc["mean"] <= mc["max"] and mc["std"] > 0
    assert net.training and net.chip_scale == 1.0
    assert all(l.circuit_noise for l in net.spiking_layers)


def test_readme_own_element_goes_from_declaration_to_spice_and_chips(capsys):
    """README "Your own element" (one block): a transcendental device, trained by DSTD's general path after
    the data-dependent init, its output layer in ngspice against ode, and 20 Monte-Carlo chips.  (README's
    SPICE example is docs/spice.md's, which tests/test_docs.py runs.)"""
    scope = _run("class SaturatingNMOS")
    assert "models.init_firing_(" in next(b for b in BLOCKS if "class SaturatingNMOS" in b)
    shown = capsys.readouterr().out
    assert "E_pos = none" in shown and "exact: no" in shown and "dstd: yes (general path)" in shown
    circuit, net = scope["circuit"], scope["net"]
    assert circuit.e_pos is None and circuit.reversal("pos") == float("inf")   # no zero below 1e6
    assert scope["accuracy"](net) >= 0.8
    fired = scope["t_spice"] < 1
    assert fired.sum() >= 4 and (scope["t_spice"] - scope["t_ode"])[fired].abs().max().item() < 5e-4   # 0.5 ns
    mc = models.monte_carlo(net, scope["accuracy"], chips=3)
    assert len(mc["accuracies"]) == 3 and net.spiking_layers[0].deviation is None


def test_robustness_doc_example_declares_what_it_says():
    text = (README.parent / "docs" / "robustness.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    scope = {}
    exec(compile(block, "docs/robustness.md", "exec"), scope)
    assert scope["pos"].mismatch.spreads == {"I": 0.29}
    assert abs(scope["m"].spreads["I"] - 0.3226) < 1e-3
    assert scope["circuit"].threshold_offset == 3e-3


def test_readme_several_nodes_example_runs_and_differentiates():
    scope = _run("cn.MultiNodeCircuit(")
    t, fired, t_exact, w = scope["t"], scope["fired"], scope["t_exact"], scope["w"]
    assert fired.float().mean() > 0.5 and t.shape == (8, 4)
    t.sum().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    # the coupling capacitor matters (and takes the circuit out of the closed form), but only a little
    c = compile_circuit(scope["circuit"])
    assert not cn.solve.Exact().supports(c) and cn.solve.Exact().supports(compile_circuit(scope["lif"]))
    both = fired & (t_exact < 4)
    assert 0 < (t - t_exact)[both].abs().max() < 0.5
    assert cn.solve.spike_times(scope["lif"], scope["t_in"], w.detach(), method="ode")[0].sub(t_exact).abs().max() < 1e-6
