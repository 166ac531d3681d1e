"""A realised synapse device cannot be biased below the low end of its extracted sweep (I_off): a weight
that small leaves the device off, in every method as in the netlist (CompiledCircuit.programmable)."""
import pytest
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import methods, spike_times
from circuitnet.spice.extract import device_table
from circuitnet.circuits import PAPER
from circuitnet.units import parse_value


def _neuron_with_tiny_weights(c, fan_in=64, tiny=20, seed=7):
    """One input row and weights [2, fan_in]: random ones (both signs) with ``tiny`` positive and ``tiny``
    // 4 negative weights at half their device's floor."""
    g = torch.Generator().manual_seed(seed)
    floor_pos, floor_neg = compile_circuit(c).weight_floor
    t = 0.05 + 0.9 * torch.rand(1, fan_in, generator=g, dtype=torch.float64)
    w = (0.04 + 0.05 * torch.randn(2, fan_in, generator=g, dtype=torch.float64)) * (64 / fan_in)
    w[:, :tiny] = 0.5 * floor_pos
    w[:, tiny:tiny + tiny // 4] = -0.5 * floor_neg
    return t, w, tiny + tiny // 4


def test_the_floor_is_the_devices_lowest_extracted_current():
    c = cn.spice.realised_rc_spike(64)
    cc = compile_circuit(c)
    p = {k: parse_value(v, k) for k, v in PAPER.items()}
    unit = c.value(c.unit_current)
    for dev, floor in zip((c.synapse.positive, c.synapse.negative), cc.weight_floor):
        low = device_table(c.technology, dev.silicon, p["V_th"], p["V0"]).range_for(False)[0]
        assert floor * unit == pytest.approx(low, rel=1e-12) and 0 < floor < 1e-2
    assert compile_circuit(cn.circuits.rc_spike()).weight_floor == (0.0, 0.0)      # declared without I_off


def test_weights_below_the_floor_are_off_in_every_method_and_carry_no_gradient():
    c = cn.spice.realised_rc_spike(64)
    cc = compile_circuit(c)
    t, w, n = _neuron_with_tiny_weights(c)
    zeroed = w.clone()
    zeroed[:, :n] = 0.0
    for method in ("exact", "ode", "dstd"):
        a, fa = spike_times(c, t, w, method=method)
        b, fb = spike_times(c, t, zeroed, method=method)
        assert torch.equal(a, b) and torch.equal(fa, fb) and fa.all()
    m = methods.method("exact")
    kept = m.solve(cc, t, w, None, True, False)[0]        # the devices biased anyway: their packets and currents
    assert (kept - a).abs().max() * c.time_unit > 1e-9   # would move the spike by more than 1 ns
    w = w.requires_grad_(True)
    spike_times(c, t, w, method="exact")[0].sum().backward()
    assert (w.grad[:, :n] == 0).all() and (w.grad[:, n:] != 0).all()


def test_spice_holds_the_same_devices_off():
    """ngspice against the model on a neuron with 25 of 64 weights below their device's floor (the
    model that biased them anyway was off by more than 1 ns: previous test)."""
    c = cn.spice.realised_rc_spike(64)
    t, w, _ = _neuron_with_tiny_weights(c)
    ts, fs = spike_times(c, t, w, method="spice")
    tm, fm = spike_times(c, t, w, method="exact")
    kept = methods.method("exact").solve(compile_circuit(c), t, w, None, True, False)[0]
    assert (fs & fm).all()
    off, biased = (ts - tm).abs() * c.time_unit, (ts - kept).abs() * c.time_unit
    assert off.max() < 1e-9 and (off < 0.5 * biased).all()     # the line model's own error at fan-in 64: 0.3-0.6 ns
