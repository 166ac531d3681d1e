"""Several-node circuits in ngspice (circuitnet.spice.nodes_netlist): behavioural sources against method "ode"."""
import math

import pytest
import sympy
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import Spice, spike_times
from circuitnet.spice.netlist import ngspice_expression
from circuitnet.spice.runner import SpiceUnavailable, ngspice_path

try:
    ngspice_path()
    NO_NGSPICE = None
except SpiceUnavailable as err:
    NO_NGSPICE = str(err)
needs_ngspice = pytest.mark.skipif(NO_NGSPICE is not None, reason=f"ngspice is not installed: {NO_NGSPICE}")

D = torch.float64
BOUND_NS = 0.05


def coupled(Cc="0.3p"):
    """syn and mem coupled by a capacitor (an input moves mem too) and a transconductor, leaks on both."""
    return cn.MultiNodeCircuit(
        nodes={"syn": "0.6", "mem": "0.6"},
        elements=[cn.Capacitor("C_syn", C="1p", node="syn"), cn.Leak("G_syn", G=1e-12 / 6e-6, V_to="0.6", node="syn"),
                  cn.Capacitor("C_mem", C="2p", node="mem"), cn.Leak("G_mem", G=2e-12 / 12e-6, V_to="0.6", node="mem"),
                  cn.Capacitor("Cc", C=Cc, node=("syn", "mem")),
                  cn.Transconductor("gm", gm=2e-12 / 12e-6, V_ref="0.6", node="mem", control="syn")],
        synapse=cn.ChargeSynapse("syn"), comparator="mem", threshold="0.8", window="24u", time_unit="6u")


def inputs(seed, B=5, J=6, I=5):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, J, generator=g, dtype=D) * 3.5
    w = torch.randn(I, J, generator=g, dtype=D) * 0.9 + 0.9
    t[0, 0], t[1, 1] = 0.0, math.inf          # an input at the window's start (the initial condition), one never
    return t, w


def agree(circuit, t, w):
    ts, fs = spike_times(circuit, t, w, method="spice")
    to, fo = spike_times(circuit, t, w, method="ode", dt=1 / 512)
    assert torch.equal(fs, fo)
    assert 0 < fs.sum() < fs.numel()
    err_ns = ((ts - to) * circuit.time_unit * 1e9).abs().max().item()
    print(f"max |t_spice - t_ode| = {err_ns:.4f} ns over {int(fs.sum())} spikes")
    assert err_ns <= BOUND_NS, err_ns
    return ts, fs


@needs_ngspice
def test_two_node_lif_agrees_with_ode():
    agree(cn.circuits.lif_current_synapse(), *inputs(1))


@needs_ngspice
def test_coupling_capacitor_and_transconductor_agree_with_ode():
    """Through Cc an input jumps mem too: a large weight carries it over at the input's own time,
    which the comparator reads at the pulse's centre (module docstring of circuitnet.spice.nodes_netlist)."""
    c = coupled()
    t, w = inputs(2)
    t[2, 3] = 1.0
    w[4] = 0.0
    w[4, 3] = 9.0                     # jump of mem: 9 * 0.134 > 1
    ts, fs = agree(c, t, w)
    assert fs[2, 4] and ts[2, 4].item() == pytest.approx(1.0, abs=1e-6)


@needs_ngspice
def test_spice_takes_several_node_circuits_and_gives_no_gradient():
    assert Spice().nodes_error(compile_circuit(coupled())) is None
    t, w = inputs(3, B=2, J=2, I=1)
    with pytest.raises(ValueError, match="clip=False"):
        spike_times(coupled(), t, w, method="spice", clip=False)
    out, _ = spike_times(coupled(), t, w.requires_grad_(), method="spice")
    with pytest.raises(RuntimeError, match="no gradient"):
        out.sum().backward()


def test_sympy_to_ngspice_printer():
    x, y = sympy.symbols("x y", real=True)
    names = {x: "V(n0)", y: "V(n1)"}
    assert ngspice_expression(sympy.exp(x) * sympy.tanh(y), names) == "exp(V(n0))*tanh(V(n1))"
    assert ngspice_expression(x ** 3, names) == "pwr(V(n0),3)"           # ngspice's pow is |x|^y: odd powers keep the sign
    assert ngspice_expression(x ** 2, names) == "pow(V(n0),2)"
    assert ngspice_expression(sympy.sqrt(sympy.Abs(x - y)), names) == "sqrt(abs(V(n0) - V(n1)))"
    assert ngspice_expression(2 * x, names) == "(2.0)*V(n0)"
    with pytest.raises(ValueError, match="no value"):
        ngspice_expression(x + sympy.Symbol("z"), names)
