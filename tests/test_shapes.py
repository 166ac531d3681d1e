"""Tabulated shapes (circuitnet.shapes.spline): one sympy function per table, against scipy's spline, its
torch code against its sympy value and float64 finite differences, and a synapse device declared with it
against the same shape written as a Piecewise (ode spike times and gradients, and the ngspice netlist)."""
import numpy as np
import pytest
import sympy as sp
import torch
from scipy.interpolate import CubicSpline

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.shapes import Spline, spline
from circuitnet.solve import ODE, spike_times

D = torch.float64
KNOTS = np.array([0.0, 0.05, 0.2, 0.6, 1.2, 1.8])


def _natural(values):
    cs = CubicSpline(KNOTS, values, bc_type="natural")
    return cs, spline(KNOTS, [[cs.c[3 - n, j] for n in range(4)] for j in range(len(KNOTS) - 1)])


def test_a_spline_is_scipys_spline_everywhere_with_its_derivatives_and_one_class_per_table():
    cs, S = _natural(np.exp(-KNOTS / 0.1) + 0.2 * KNOTS ** 2)
    x = sp.Symbol("x", real=True)
    for v in (-0.4, 0.0, 0.05, 0.1, 0.6, 1.79, 1.8, 2.5):          # knots, inside, both ends continued
        assert float(S(x).subs(x, v)) == pytest.approx(float(cs(v)), abs=1e-13)
        assert float(S(x).diff(x).subs(x, v)) == pytest.approx(float(cs(v, 1)), abs=1e-12)
        assert float(S(x).diff(x, 2).subs(x, v)) == pytest.approx(float(cs(v, 2)), abs=1e-11)
        assert float(S(x).rewrite(sp.Piecewise).subs(x, v)) == pytest.approx(float(cs(v)), abs=1e-13)
    assert sp.lambdify(x, 2 * S(x), "math")(0.33) == pytest.approx(2 * float(cs(0.33)), abs=1e-13)
    assert S is _natural(np.exp(-KNOTS / 0.1) + 0.2 * KNOTS ** 2)[1] and S is not _natural(KNOTS)[1]
    assert isinstance(S(x), Spline) and S(x).is_real


def test_the_torch_code_matches_the_sympy_value_and_finite_differences():
    cs, S = _natural(np.sin(3 * KNOTS))
    f = S.torch_function()
    v = torch.linspace(-0.5, 2.3, 57, dtype=D)
    assert torch.allclose(f(v), torch.as_tensor(cs(v.numpy()), dtype=D), atol=1e-13)
    assert torch.autograd.gradcheck(f, (torch.tensor([-0.2, 0.1, 0.7, 1.5, 2.0], dtype=D, requires_grad=True),))
    assert f(torch.tensor([0.3], dtype=torch.float32)).dtype == torch.float32


def test_bad_tables_are_refused_by_name():
    with pytest.raises(ValueError, match="ascending"):
        spline([0.0, 0.0, 1.0], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="one non-empty row of coefficients per piece"):
        spline([0.0, 1.0, 2.0], [[1.0]])
    with pytest.raises(ValueError, match="finite"):
        spline([0.0, 1.0], [[float("nan")]])


def _device(shape):
    return cn.FittedNMOS("pos", shapes=[(shape, (-0.4, 0.03))], lam=0.4, lam1=0.01, I_ref="100n")


def _circuit(shape):
    return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.CurrentSource("dis", I="-140n")],
                            cn.Synapse(_device(shape), cn.FittedPMOS("neg", lam=0.69, lam1=-0.06, I_ref="100n")),
                            [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level="1.3", threshold="0.428")


def _knee():
    """A knee below 0.3 V (the drain voltage), (0.3 - V)^3 / 0.027, as a table (three pieces) and as the
    Piecewise sympy would hold."""
    V = cn.elements.SHAPE_V
    S = spline([0.0, 0.15, 0.3, 1.8], [[1.0, -10.0, 100 / 3, -1000 / 27], [0.125, -2.5, 50 / 3, -1000 / 27], [0.0]])
    assert float(S(V).subs(V, 0.2)) == pytest.approx(0.1 ** 3 / 0.027, abs=1e-13)
    return S(V), S(V).rewrite(sp.Piecewise)


def test_a_device_declared_with_a_table_runs_as_its_piecewise_does():
    table, piecewise = _knee()
    g = torch.Generator().manual_seed(3)
    t = torch.rand(3, 7, generator=g, dtype=D).requires_grad_()
    w = (0.1 + 0.4 * torch.randn(4, 7, generator=g, dtype=D)).requires_grad_()
    out = {}
    for name, shape in (("table", table), ("piecewise", piecewise)):
        ts, fired = spike_times(_circuit(shape), t, w, method=ODE(dt=1 / 128))
        out[name] = (ts, fired, *torch.autograd.grad(ts[fired].sum(), (t, w)))
    assert bool(out["table"][1].any()) and torch.equal(out["table"][1], out["piecewise"][1])
    for a, b in zip(out["table"][::2] + out["table"][3:], out["piecewise"][::2] + out["piecewise"][3:]):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
    phis = [str(e) for k, e in compile_circuit(_circuit(table)).phases[0].exprs.items() if k.endswith("_phi")]
    assert any("Spline" in p for p in phis)


def test_a_table_is_written_into_the_netlist_and_ngspice_agrees_with_ode():
    table, _ = _knee()
    c = _circuit(table)
    g = torch.Generator().manual_seed(2)
    t, w = torch.rand(2, 7, generator=g, dtype=D), 0.1 + 0.4 * torch.randn(3, 7, generator=g, dtype=D)
    tm, fm = spike_times(c, t, w, method=ODE(dt=1 / 256))
    ts, fs = spike_times(c, t, w, method="spice")
    assert bool((fs == fm).all()) and bool(fm.any())
    assert float((ts - tm)[fm].abs().max()) * 1e3 < 0.05          # ns (time unit 1 us)
