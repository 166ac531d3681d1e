"""The sympy -> torch compiler: printer semantics, hoisted constants, structure flags, switches."""
import pytest
import sympy as sp
import torch

import circuitnet as cn
from circuitnet.neuron import tau_sym, v_sym
from circuitnet.compile import TorchPrinter, codegen, compile_circuit, tsw_sym
from circuitnet.drive import Drive

x = sp.Symbol("x", real=True)
NAMES = {x: "v", v_sym: "v"}


def run(expr, values):
    f = codegen("f", expr, ("v",), NAMES)
    return f(torch.tensor(values, dtype=torch.float64))


def test_heaviside_follows_sympy_convention_at_zero():
    out = run(sp.Heaviside(x), [-1.0, 0.0, 2.0])
    assert out.tolist() == [0.0, 0.5, 1.0]
    assert run(sp.Heaviside(x, 1), [0.0]).tolist() == [1.0]


def test_max_min_with_constants_and_constant_results_broadcast():
    assert run(sp.Max(x, 0), [-2.0, 3.0]).tolist() == [0.0, 3.0]
    assert run(sp.Min(x, 1, 2 * x), [-2.0, 3.0]).tolist() == [-4.0, 1.0]
    out = run(sp.Integer(3) + 0 * x, [1.0, 2.0])
    assert torch.is_tensor(out) and out.dtype == torch.float64 and out.item() == 3.0
    assert run(sp.exp(sp.Integer(2)) * x, [1.0]).item() == pytest.approx(7.38905609893065)


def test_piecewise_abs_sqrt_pow():
    e = sp.Piecewise((x ** 2, x < 0), (sp.sqrt(x), True))
    assert run(e, [-3.0, 4.0]).tolist() == [9.0, 2.0]
    assert run(sp.Abs(x) ** sp.Rational(3, 2), [-4.0]).item() == pytest.approx(8.0)
    assert run(1 / x, [4.0]).item() == 0.25


def test_unsupported_function_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot compile function besselj"):
        TorchPrinter(NAMES).doprint(sp.besselj(0, x))
    with pytest.raises(ValueError, match="cannot compile symbol y"):
        TorchPrinter(NAMES).doprint(sp.Symbol("y") + x)


def test_compiled_paper_circuit_matches_sympy_and_hoists_constants():
    circ = cn.circuits.rc_spike()
    cc = compile_circuit(circ)
    assert compile_circuit(circ) is cc            # cached
    assert cc.affine and all(p.time_invariant for p in cc.phases)
    p = cc.params()
    v = torch.linspace(-1, 2, 7, dtype=torch.float64)
    for ph, nph in zip(cc.phases, circ.normalised):
        c = ph.prepare(p, v)
        P, N = 0.3, -0.2
        ref = sp.lambdify(v_sym, nph.rhs(P, N).subs(circ.values))(v.numpy())
        assert torch.allclose(ph.rhs(v, 0.0, 0.0, Drive(torch.tensor(P), torch.tensor(N)), c),
                              torch.as_tensor(ref, dtype=torch.float64), atol=1e-12)
        assert all(not e.has(v_sym) for e in ph.const_exprs)    # constants are parameter-only
    acc = cc.phases[0]
    c = acc.prepare(p, v)
    assert 1 / acc.beta_pos(v, 0, 0, c).item() == pytest.approx(circ.e_pos)
    assert 1 / acc.beta_neg(v, 0, 0, c).item() == pytest.approx(circ.e_neg)


def test_constants_carry_parameter_gradients():
    cc = compile_circuit(cn.circuits.rc_spike())
    lam = torch.tensor(0.41, dtype=torch.float64, requires_grad=True)
    p = cc.params(pos_lam=lam)
    acc = cc.phases[0]
    v = torch.ones(1, dtype=torch.float64)
    k = acc.k_pos(v, 0, 0, acc.prepare(p, v))
    k.sum().backward()
    assert lam.grad.item() == pytest.approx(-(1.3 - 0.428))      # dk/dlam = -(V0 - V_th) v


def test_capacitive_coupling_gives_breakpoints_and_a_time_switch():
    circ = cn.NeuronCircuit(
        [cn.Capacitor("Cm", C="140f"), cn.CapacitiveCoupling("cc", C="10f", swing="-0.5", rise="50n", at="100n"),
         cn.CurrentSource("dis", I="-100n")],
        cn.Synapse(cn.NMOS("pos", lam=0.41), cn.PMOS("neg", lam=0.75)),
        [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["cc", "dis"], comparator=True)],
        reset_level=1.3, threshold=0.428)
    cc = compile_circuit(circ)
    fire = cc.phases[1]
    assert fire.breakpoints == pytest.approx((0.1, 0.15))
    assert not fire.time_invariant
    p = cc.params()
    c = fire.prepare(p, torch.zeros(1))
    v = torch.zeros(3, dtype=torch.float64)
    inside = fire.drift(v, 0.12, torch.tensor(0.12), c)
    outside = fire.drift(v, 0.12, torch.tensor(0.3), c)      # switch evaluated at tsw
    # during the edge the coupling injects C swing / rise (normalised by C_total |V_th - V0| / T)
    extra = 10e-15 * 0.5 / 50e-9 * 1e-6 / (150e-15 * 0.872)
    assert (inside - outside).max().item() == pytest.approx(extra, rel=1e-9)
    assert cc.switch_parameters >= {"cc_at", "cc_rise", "T_unit"}
    with pytest.raises(ValueError, match="place a time switch"):
        cc.params(cc_at=2e-7)
    assert "tsw" in fire.drift.source and fire.exprs["drift"].has(tsw_sym) and not fire.exprs["drift"].has(tau_sym)


def test_timeline_places_the_window_and_applies_the_comparator_rule():
    from circuitnet.timeline import Timeline
    tl = compile_circuit(cn.circuits.rc_spike()).timeline
    assert (tl.starts, tl.synapse_phase, tl.first, tl.last, tl.t_max) == ((0.0, 1.0, 2.0), 0, 1, 1, 1.0)
    three = Timeline((0.5, 1.0, 2.0), 0, (1, 2))
    assert three.t_max == 3.0 and three.in_window(2, 0.25) == 1.25
    v = torch.tensor([1.2, 0.4, 1.0])
    t, done, clipped = three.open_window(v, torch.full((3,), 7.0), torch.tensor([False, False, True]))
    assert t.tolist() == [0.0, 7.0, 7.0] and done.tolist() == [True, False, True] and clipped.tolist() == [True, False, False]
    assert three.crossed(torch.tensor([1.0, 1.0, 2.0]), done).tolist() == [False, True, False]
    assert not three.crossed(torch.tensor([2.0, 0.99, 2.0]), done).any()
    assert three.report(torch.tensor([0.5, 0.5, 0.5]), torch.tensor([True, False, True])).tolist() == [0.5, 3.0, 0.5]
    with pytest.raises(ValueError, match="not contiguous"):
        Timeline((1.0, 1.0, 1.0), 0, (0, 2))
    with pytest.raises(ValueError, match="no comparator phase"):
        Timeline((1.0,), 0, ())
