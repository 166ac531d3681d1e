"""Circuit declarations: the paper's circuit, derived quantities, user elements and validation."""
import math

import pytest
import sympy as sp

import circuitnet as cn
from circuitnet.neuron import v_sym


@pytest.fixture(scope="module")
def paper():
    return cn.circuits.rc_spike()


def test_paper_normalised_equation_is_exactly_the_papers(paper):
    n = paper.node
    lam_n, lam_p, lam_d = (paper.by_name[d].lam for d in ("pos", "neg", "dis"))
    vth_circ = n.V0 - paper.V_th             # V_th_circ = V0 - V_switch (polarity inverted)
    acc, fire = paper.normalised
    w = sp.Symbol("w")
    # dv/dt = w (1 - beta v), beta = 1/E_pos = V_th_circ lam_N for w > 0 ...
    assert sp.simplify(acc.rhs(w, 0) - w * (1 - v_sym * vth_circ * lam_n)) == 0
    # ... and beta = 1/E_neg = -V_th_circ lam_P for w < 0; no other current while accumulating
    assert sp.simplify(acc.rhs(0, w) - w * (1 + v_sym * vth_circ * lam_p)) == 0
    # firing phase: dv/dt = a (1 - b v), b = V_th_circ lam_dis, a = T I_dis / (C V_th_circ)
    I, C, T = paper.by_name["dis"].I, paper.by_name["Cm"].C, paper.T_unit
    assert sp.simplify(fire.drift - T * I / (C * vth_circ) * (1 - vth_circ * lam_d * v_sym)) == 0


def test_paper_physical_equation(paper):
    n = paper.node
    eq = paper.equations()["accumulate"]
    V = sp.Function("V")(n.t)
    pos, neg = paper.by_name["pos"], paper.by_name["neg"]
    expected = (neg.I * (1 - neg.lam * (V - n.V0)) - pos.I * (1 + pos.lam * (V - n.V0))) * sp.Heaviside(n.t - sp.Symbol("t_j", real=True))
    assert sp.simplify(eq.rhs - expected) == 0
    assert eq.lhs == paper.by_name["Cm"].C * sp.Derivative(V, n.t)


def test_paper_reversal_potentials_and_weight_unit(paper):
    assert paper.e_pos == pytest.approx(2.80, abs=0.05)
    assert paper.e_neg == pytest.approx(-1.53, abs=0.05)
    assert paper.reversal("dis") == pytest.approx(6.44, abs=0.05)
    assert paper.value(paper.unit_current) == pytest.approx(122e-9, rel=0.01)
    # the synapse device current that realises one weight unit is that same current
    assert paper.value(paper.unit_weight_parameter(paper.synapse.positive)) == pytest.approx(122.08e-9, rel=1e-3)


def test_discharger_is_calibrated_to_reach_threshold_in_one_phase(paper):
    fire = paper.normalised[1]
    a = paper.value(fire.drift.subs(v_sym, 0))
    b = -paper.value(sp.diff(fire.drift, v_sym)) / a
    assert (1 - math.exp(-a * b)) / b == pytest.approx(1.0, abs=1e-12)     # v(1) from v(0) = 0
    ideal = cn.circuits.rc_spike(firing="ideal").normalised[1].drift
    assert cn.circuits.rc_spike(firing="ideal").value(ideal) == pytest.approx(1.0)


def test_resistive_synapse_reversal_is_its_line_voltage():
    c = cn.NeuronCircuit(
        [cn.Capacitor("Cm", C="140f")],
        cn.Synapse(cn.Resistive1T1R("pos", V_to=0.0), cn.Resistive1T1R("neg", V_to=1.8)),
        [cn.Phase("acc", "1u", synapses=True, comparator=True)], reset_level=1.3, threshold=0.428)
    assert c.e_pos == pytest.approx((0.0 - 1.3) / (0.428 - 1.3))
    assert c.e_neg == pytest.approx((1.8 - 1.3) / (0.428 - 1.3))
    # weight -> conductance: |w| I_unit = G |V_to - V0|
    G = c.value(c.unit_weight_parameter(c.synapse.positive))
    assert G * 1.3 == pytest.approx(c.value(c.unit_current))


def test_si_strings():
    assert cn.parse_value("140f") == pytest.approx(140e-15)
    assert cn.parse_value("1us") == pytest.approx(1e-6)
    assert cn.parse_value("2meg") == pytest.approx(2e6)
    assert cn.parse_value(" 0.41 ") == 0.41
    for bad in ("14x0", "1.2.3f", "", "nan", True, None, [1]):
        with pytest.raises(ValueError):
            cn.parse_value(bad, "C")


class Diode(cn.Element):
    """User element: a diode from the node to ground."""
    parameters = ("I_s", "V_T")
    positive = ("I_s", "V_T")

    def current(self, node):
        return -self.I_s * (sp.exp(node.V / self.V_T) - 1)


def _tiny(elements=None, synapse=None, phases=None, **kw):
    elements = [cn.Capacitor("Cm", C="140f")] if elements is None else elements
    synapse = synapse or cn.Synapse(cn.NMOS("pos", lam=0.41), cn.PMOS("neg", lam=0.75))
    phases = phases or [cn.Phase("acc", "1u", synapses=True, comparator=True)]
    kw = {"reset_level": 1.3, "threshold": 0.428, **kw}
    return cn.NeuronCircuit(elements, synapse, phases, **kw)


def test_user_element_compiles_and_is_not_affine():
    from circuitnet.compile import compile_circuit
    c = _tiny([cn.Capacitor("Cm", C="140f"), Diode("d", I_s="1f", V_T="0.5")],
              phases=[cn.Phase("acc", "1u", active=["d"], synapses=True, comparator=True)])
    cc = compile_circuit(c)
    assert not cc.affine
    assert compile_circuit(_tiny()).affine


@pytest.mark.parametrize("build, message", [
    (lambda: _tiny(elements=[]), "no capacitance"),
    (lambda: cn.Capacitor("Cm", C="-1f"), "C must be > 0"),
    (lambda: cn.Capacitor("Cm", C="1 farad"), "cannot read"),
    (lambda: cn.Capacitor("Cm", Cap="1f"), "unknown parameter"),
    (lambda: cn.Capacitor("my cap", C="1f"), "identifier"),
    (lambda: cn.NMOS("n", I="1u", lam=-0.1), "lam must be >= 0"),
    (lambda: _tiny([cn.Capacitor("Cm", C="1f"), cn.Leak("Cm", G="1n")]), "two elements are named"),
    (lambda: _tiny([cn.Capacitor("Cm", C="1f"), cn.NMOS("dis", lam=0.1)],
                   phases=[cn.Phase("acc", "1u", active=["dis"], synapses=True, comparator=True)]),
     "parameter 'I' has no value"),
    (lambda: _tiny(phases=[cn.Phase("acc", "1u", active=["nope"], synapses=True, comparator=True)]),
     "unknown element 'nope'"),
    (lambda: _tiny(phases=[cn.Phase("acc", "1u", comparator=True)]), "exactly one phase must have synapses"),
    (lambda: _tiny(phases=[cn.Phase("a", "1u", synapses=True), cn.Phase("b", "1u", synapses=True, comparator=True)]),
     "exactly one phase must have synapses"),
    (lambda: _tiny(phases=[cn.Phase("acc", "1u", synapses=True)]), "no phase has comparator"),
    (lambda: _tiny(phases=[cn.Phase("f", "1u", comparator=True), cn.Phase("acc", "1u", synapses=True)]),
     "comparator phase comes before"),
    (lambda: _tiny(phases=[cn.Phase("acc", "1u", synapses=True, comparator=True), cn.Phase("r", "1u", reset=True)]),
     "only the first phase may be a reset"),
    (lambda: cn.Phase("acc", "0", synapses=True), "duration must be > 0"),
    (lambda: _tiny(threshold=1.3), "threshold equals reset_level"),
    (lambda: _tiny(synapse=cn.Synapse(cn.PMOS("pos"), cn.NMOS("neg"))), "drives the membrane away"),
    (lambda: _tiny(synapse=cn.Synapse(cn.NMOS("pos", lam=2.0), cn.PMOS("neg"))), "threshold is unreachable"),
    (lambda: cn.Synapse(cn.Capacitor("c", C="1f"), cn.PMOS("neg")), "no parameter a weight could set"),
    (lambda: cn.Synapse("nmos", cn.PMOS("neg")), "must be an Element"),
    (lambda: _tiny(temperature=-3), "temperature must be > 0"),
])
def test_bad_declarations_name_the_problem(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_unknown_symbol_in_user_element_is_named():
    class Bad(cn.Element):
        parameters = ("G",)

        def current(self, node):
            return self.G * (sp.Symbol("Vbias") - node.V)

    with pytest.raises(ValueError, match=r"element 'b' \(Bad\).*unknown symbol.*Vbias"):
        _tiny([cn.Capacitor("Cm", C="1f"), Bad("b", G="1n")],
              phases=[cn.Phase("acc", "1u", active=["b"], synapses=True, comparator=True)])
