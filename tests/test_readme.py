"""Every README python snippet runs as written, on its own, and gives what it promises."""
import pathlib
import re

import torch

from circuitnet.compile import compile_circuit

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _run(marker):
    example = next(b for b in BLOCKS if marker in b)
    scope = {}
    exec(compile(example, "README.md", "exec"), scope)
    return scope


def test_every_python_snippet_is_checked_here():
    markers = ("cn.NeuronCircuit(", "models.RCSpikeLinear(", 'method="spice"')
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
    assert layer.method == "exact" and scope["t_out"].shape == (32, 10)
    assert ((0 <= layer(t_in)) & (layer(t_in) <= 1)).all()
    assert torch.isfinite(scope["loss"]) and all(p.grad is not None and torch.isfinite(p.grad).all()
                                                 for p in net.parameters())


def test_readme_spice_example_runs_and_agrees_with_its_model():
    scope = _run('method="spice"')
    t_spice, t_model, fired = scope["t_spice"], scope["t_model"], scope["fired"]
    assert fired.all() and ((t_model > 0) & (t_model < 1)).all()
    assert (t_spice - t_model).abs().max().item() < 2e-3          # 2 ns of a 1 us phase
