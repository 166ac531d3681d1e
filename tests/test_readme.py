"""The README's circuit example runs as written and gives what it promises."""
import pathlib
import re

import torch

from circuitnet.compile import compile_circuit

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_circuit_example_runs_and_differentiates():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "cn.NeuronCircuit(" in b)
    scope = {}
    exec(compile(example, "README.md", "exec"), scope)
    t_out, fired, w = scope["t_out"], scope["fired"], scope["w"]
    assert t_out.shape == (32, 8) and fired.any() and torch.isfinite(t_out).all()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    fire = compile_circuit(scope["circuit"]).phases[1]
    assert fire.breakpoints and not fire.time_invariant          # the clock edge: no closed form applies
