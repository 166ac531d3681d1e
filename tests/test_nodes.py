"""Several-node circuits (circuitnet.nodes): the declaration, the two-node LIF's Lambert-W closed forms
against ode, gradients against float64 central differences, and the refusals that name the reason."""
import math

import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

import circuitnet as cn
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.solve.lambert_w import lambert_w0

ODE = dict(method="ode", dt=1 / 256)


def lif(tau_m="12u", **kw):
    return cn.circuits.lif_current_synapse(tau_m=tau_m, **kw)


def reference_v(t, t_in, w, tau_s, tau_m):
    """The membrane of NODES' closed form, V(t) = sum_j w_j k tau_m tau_s / (tau_m - tau_s) (e^-(t-tj)/tau_m -
    e^-(t-tj)/tau_s) with k = T / tau_m (gm = G_mem), or its limit k w (t - t_j) e^-(t-tj)/tau at tau_m = tau_s."""
    total = 0.0
    for tj, wj in zip(t_in, w):
        if tj < t:
            d = t - tj
            if tau_m == tau_s:
                total += wj / tau_m * d * math.exp(-d / tau_m)
            else:
                total += wj / tau_m * tau_m * tau_s / (tau_m - tau_s) * (math.exp(-d / tau_m) - math.exp(-d / tau_s))
    return total


def draw(seed, B=4, I=5, J=6, scale=1.5, mean=1.5):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(B, J, generator=g, dtype=torch.float64) * 2
    w = torch.randn(I, J, generator=g, dtype=torch.float64) * scale + mean
    return t_in, w


# ---------------------------------------------------------------- the declaration
def test_lif_equations_in_normalised_units():
    c = lif()
    x_s, x_m = c.x_symbols
    f = [sp.simplify(e.subs(c.values)) for e in c.drift]
    coef = lambda e, x: float(sp.expand(e).coeff(x))
    assert [coef(f[0], x_s), coef(f[0], x_m)] == pytest.approx([-1.0, 0.0], abs=1e-12)     # tau_s = T
    assert [coef(f[1], x_s), coef(f[1], x_m)] == pytest.approx([0.5, -0.5], abs=1e-12)     # tau_m = 2 T, k = T / tau_m
    assert [c.value(u) for u in c.jump] == [1.0, 0.0]
    assert c.unit_charge() == pytest.approx(1e-12 * 0.2)
    assert "comparator on 'mem'" in c.summary()


def test_coupling_capacitor_enters_the_capacitance_matrix_and_the_jump():
    c = cn.MultiNodeCircuit(
        nodes={"a": 0.0, "b": 0.0},
        elements=[cn.Capacitor("Ca", C="1p", node="a"), cn.Capacitor("Cb", C="1p", node="b"),
                  cn.Capacitor("Cc", C="1p", node=("a", "b")), cn.Leak("Gb", G="1u", node="b")],
        synapse=cn.ChargeSynapse("a"), comparator="b", threshold=0.1, window="4u", time_unit="1u")
    Cm = c.capacitance_matrix.subs(c.values)
    assert Cm == sp.Matrix([[2e-12, -1e-12], [-1e-12, 2e-12]])
    u = [c.value(x) for x in c.jump]            # Cm^-1 e_a Cm_aa = [4/3, 2/3]: charge on a lifts b too
    assert u == pytest.approx([4 / 3, 2 / 3])


@pytest.mark.parametrize("make, match", [
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p")], cn.ChargeSynapse("a"), "a", 1, "1u"),
     "say where it sits"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="z")], cn.ChargeSynapse("a"), "a", 1, "1u"),
     "node 'z' is not declared"),
    (lambda: cn.MultiNodeCircuit({"a": 0, "b": 0}, [cn.Capacitor("C", C="1p", node="a")], cn.ChargeSynapse("a"), "b", 1,
                                 "1u"), "node 'b' has no capacitance"),
    (lambda: cn.MultiNodeCircuit({"a": 0, "b": 0}, [cn.Capacitor("C", C="1p", node=("a", "b"))], cn.ChargeSynapse("a"),
                                 "b", 1, "1u"), "singular"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a"),
                                            cn.Transconductor("g", gm="1u", node="a")], cn.ChargeSynapse("a"), "a", 1,
                                 "1u"), "control"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a")], cn.ChargeSynapse("b"), "a", 1, "1u"),
     "synapse is on node 'b'"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a")], cn.ChargeSynapse("a"), "a", 0, "1u"),
     "threshold equals"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a")],
                                 cn.Synapse(cn.PMOS("p"), cn.NMOS("n")), "a", 1, "1u"), "ChargeSynapse"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a"),
                                            cn.ThermalNoise(cn.Leak("G", G="1n", node="a"))],
                                 cn.ChargeSynapse("a"), "a", 1, "1u"), "its source 'G' is not an element of this circuit"),
    (lambda: cn.MultiNodeCircuit({"a": 0}, [cn.Capacitor("C", C="1p", node="a"),
                                            cn.CapacitiveCoupling("k", C="1f", swing=1, rise="1n", node="a")],
                                 cn.ChargeSynapse("a"), "a", 1, "1u"), "not supported in a several-node circuit"),
    (lambda: cn.Capacitor("C", C="1p", node=("a", "a")), "both terminals"),
    (lambda: cn.Capacitor("C", C="1p", node=3), "node name"),
])
def test_bad_declarations_are_refused_with_the_reason(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_placed_element_in_a_one_node_circuit_is_refused():
    kw = dict(synapse=cn.Synapse(cn.PMOS("p"), cn.NMOS("n")), phases=[cn.Phase("acc", "1u", synapses=True, comparator=True)],
              reset_level=0.0, threshold=0.5)
    with pytest.raises(ValueError, match="MultiNodeCircuit"):
        cn.NeuronCircuit([cn.Capacitor("C", C="1p", node="mem")], **kw)


# ---------------------------------------------------------------- closed forms against ode and NODES' formula
@pytest.mark.parametrize("tau_m", ["12u", "6u"])
def test_closed_form_equals_ode_to_1e9(tau_m):
    c = lif(tau_m)
    t_in, w = draw(0, B=6, I=8)
    t_in[0, 2] = math.inf                     # an input that never spikes
    t_in[1, 1] = t_in[1, 3]                   # simultaneous spikes
    t_in[2, 0] = 0.0                          # a spike at the window's start
    w[0] = -0.5                               # a neuron that never fires
    te, fe = solve.spike_times(c, t_in, w, method="exact")
    to, fo = solve.spike_times(c, t_in, w, **ODE)
    assert torch.equal(fe, fo) and fe.float().mean() > 0.5 and not fe[:, 0].any()
    assert (te - to)[fe].abs().max() < 1e-9
    assert (te[~fe] == c.window / c.time_unit).all()


@pytest.mark.parametrize("tau_m", ["12u", "6u"])
def test_closed_form_crosses_threshold_of_the_published_formula(tau_m):
    c = lif(tau_m)
    t_in, w = draw(1, B=3, I=3)
    te, fe = solve.spike_times(c, t_in, w, method="exact")
    tau_s, tm = 1.0, {"12u": 2.0, "6u": 1.0}[tau_m]
    for b in range(3):
        for i in range(3):
            if fe[b, i]:
                t = te[b, i].item()
                assert reference_v(t, t_in[b].tolist(), w[i].tolist(), tau_s, tm) == pytest.approx(1.0, abs=1e-12)
                grid = [t * k / 400 for k in range(400)]           # and stays below it before
                assert max(reference_v(s, t_in[b].tolist(), w[i].tolist(), tau_s, tm) for s in grid) < 1.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10 ** 6), ratio=st.sampled_from(["12u", "6u"]), scale=st.sampled_from([1.0, 1e-2, 1e2]))
def test_closed_form_equals_ode_on_drawn_cases(seed, ratio, scale):
    """Hypothesis: weights over four decades (the window is 4 tau_s: large weights fire at once, small ones
    never), inputs on a coarse grid (simultaneous spikes, spikes at 0 and at the window's end)."""
    g = torch.Generator().manual_seed(seed)
    t_in = torch.randint(0, 9, (3, 5), generator=g).double() * 0.5
    w = (torch.randn(4, 5, generator=g, dtype=torch.float64) + 1.0) * scale
    te, fe = solve.spike_times(lif(ratio), t_in, w, method="exact")
    to, fo = solve.spike_times(lif(ratio), t_in, w, **ODE)
    near = (to - 4.0).abs() < 1e-6                               # a crossing at the window's very end
    assert torch.equal(fe | near, fo | near)
    both = fe & fo
    assert (te - to)[both].abs().max().item() < 1e-9 if both.any() else True


# ---------------------------------------------------------------- gradients
def _central(f, x, eps=1e-6):
    out = torch.zeros_like(x)
    flat = out.view(-1)
    for k in range(x.numel()):
        xp, xm = x.clone(), x.clone()
        xp.view(-1)[k] += eps
        xm.view(-1)[k] -= eps
        flat[k] = (f(xp) - f(xm)) / (2 * eps)
    return out


@pytest.mark.parametrize("tau_m", ["12u", "6u"])
@pytest.mark.parametrize("method", ["exact", "ode"])
def test_gradients_match_central_differences(tau_m, method):
    c = lif(tau_m)
    t_in, w = draw(2, B=2, I=3, J=4)
    w = w.abs() + 1.0                          # every neuron fires: the gradient of a silent one is 0 either way
    opts = dict(method="exact") if method == "exact" else ODE
    loss = lambda a, b: (solve.spike_times(c, a, b, **opts)[0] * torch.arange(1, 4, dtype=torch.float64)).sum()
    assert solve.spike_times(c, t_in, w, **opts)[1].all()
    ti, wi = t_in.clone().requires_grad_(), w.clone().requires_grad_()
    g_t, g_w = torch.autograd.grad(loss(ti, wi), [ti, wi])
    assert (g_w - _central(lambda b: loss(t_in, b), w)).abs().max() < 1e-6
    assert (g_t - _central(lambda a: loss(a, w), t_in)).abs().max() < 1e-6
    assert g_w.abs().max() > 1e-2 and g_t.abs().max() > 1e-2


@pytest.mark.parametrize("tau_m", ["12u", "6u"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_closed_form_gradients_are_finite_everywhere(tau_m, dtype):
    """Silent neurons, grazing crossings, inhibitory rows, inputs at 0 and never: no NaN or inf gradient."""
    g = torch.Generator().manual_seed(9)
    t_in = (torch.randint(0, 9, (64, 6), generator=g) * 0.25).to(dtype)
    t_in[::7, 2] = math.inf
    w = (torch.randn(32, 6, generator=g) * 3).to(dtype).requires_grad_()
    t, fired = solve.spike_times(lif(tau_m), t_in, w, method="exact")
    assert 0.1 < fired.float().mean() < 0.9
    t.sum().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


@pytest.mark.parametrize("tau_m, w_tangent", [("12u", 4.0), ("6u", math.e)])
def test_a_tangent_crossing_has_a_finite_gradient(tau_m, w_tangent):
    """One input whose membrane peaks exactly at threshold (x_c = 2 k tau_s w (y - y^2) peaks at w = 4 for
    tau_m = 2 tau_s; k w t e^-t peaks at w = e for tau_m = tau_s): the true derivative is infinite, the
    closed form returns a finite one (huge), never inf or NaN, so a clipped training step survives it."""
    t_in = torch.zeros(1, 1, dtype=torch.float64)
    w = torch.tensor([[w_tangent]], dtype=torch.float64, requires_grad=True)
    t, fired = solve.spike_times(lif(tau_m), t_in, w, method="exact")
    t.sum().backward()
    assert fired.all() and torch.isfinite(w.grad).all()


def test_lambert_w0_values_and_gradcheck():
    z = torch.tensor([-math.exp(-1) + 1e-9, -0.3, -0.1, -1e-3, -1e-12, 0.0], dtype=torch.float64)
    w = lambert_w0(z)
    assert torch.allclose(w * torch.exp(w), z, atol=1e-15, rtol=1e-12)
    assert w[0] > -1 - 1e-4 and w[-1] == 0
    zz = torch.tensor([-0.35, -0.2, -0.05, -1e-4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambert_w0, (zz,))
    with pytest.raises(ValueError, match="outside"):
        lambert_w0(torch.tensor([-0.5], dtype=torch.float64))


def test_parameter_gradients_of_the_closed_form_and_ode_agree():
    c = lif()
    t_in, w = draw(3, B=2, I=3, J=4)
    grads = {}
    for m, opts in (("exact", dict(method="exact")), ("ode", ODE)):
        G = torch.tensor(2e-12 / 12e-6, dtype=torch.float64, requires_grad=True)
        t, _ = solve.spike_times(c, t_in, w, params={"gm_gm": G}, **opts)
        grads[m], = torch.autograd.grad(t.sum(), [G])
    assert grads["exact"].abs() > 0
    assert float((grads["exact"] - grads["ode"]).abs() / grads["exact"].abs()) < 1e-7


# ---------------------------------------------------------------- what each method says
def test_methods_that_do_not_take_several_nodes_say_so():
    c = lif()
    t_in, w = draw(4)
    with pytest.raises(ValueError, match="needs a circuit that declares noise"):
        solve.spike_times(c, t_in, w, method="sde")
    with pytest.raises(ValueError, match="clip=False"):
        solve.spike_times(c, t_in, w, method="ode", clip=False)
    ratio = cn.circuits.lif_current_synapse(tau_m="9u")
    with pytest.raises(ValueError, match="tau_m / tau_s = 1.5"):
        solve.spike_times(ratio, t_in, w, method="exact")
    text = solve.describe(c)
    assert "ode: yes" in text and "exact: yes" in text and "dstd: yes (general path)" in text and "sde: no" in text


def test_exact_refuses_coupled_nodes_and_ode_and_dstd_run_them():
    c = cn.MultiNodeCircuit(
        nodes={"syn": 0.6, "mem": 0.6},
        elements=[cn.Capacitor("Cs", C="1p", node="syn"), cn.Leak("Gs", G=1e-12 / 6e-6, V_to=0.6, node="syn"),
                  cn.Capacitor("Cm", C="2p", node="mem"), cn.Leak("Gm", G=2e-12 / 12e-6, V_to=0.6, node="mem"),
                  cn.Capacitor("Cc", C="0.3p", node=("syn", "mem")),
                  cn.Transconductor("gm", gm=2e-12 / 12e-6, V_ref=0.6, node="mem", control="syn")],
        synapse=cn.ChargeSynapse("syn"), comparator="mem", threshold=0.8, window="24u", time_unit="6u")
    t_in, w = draw(5)
    with pytest.raises(ValueError, match="coupling back"):
        solve.spike_times(c, t_in, w, method="exact")
    t1, f1 = solve.spike_times(c, t_in, w, method="ode", dt=1 / 64)
    t2, f2 = solve.spike_times(c, t_in, w, method="ode", dt=1 / 256)
    assert torch.equal(f1, f2) and f1.float().mean() > 0.5
    assert (t1 - t2)[f1].abs().max() < 1e-7
    errors = []                              # DSTD converges to ode on the coupled circuit as its steps grow
    for M in (10, 40, 160):
        td, fd = solve.spike_times(c, t_in, w, method="dstd", steps=M, offset=0.0)
        assert torch.equal(fd, f2)
        errors.append((td - t2)[f2].abs().max().item())
    # first order in 1 / steps: the coupling carries part of each spread jump onto the comparator's node
    assert errors[0] > 3 * errors[1] > 9 * errors[2] and errors[2] < 0.02, errors


def test_per_neuron_parameters_act_per_neuron():
    c = lif()
    t_in, w = draw(6, I=3)
    G = torch.tensor([1.0, 1.2, 0.8], dtype=torch.float64) * 2e-12 / 12e-6
    for m, opts in (("ode", ODE), ("exact", dict(method="exact"))):
        params = {"G_mem_G": G, "C_mem_C": G * 12e-6, "gm_gm": G}    # tau_m stays 2 tau_s; the gain k = T / tau_m moves
        if m == "exact":
            params = {"gm_gm": G}
        t, _ = solve.spike_times(c, t_in, w, params=params, **opts)
        for i in range(3):
            one = {k: v[i] for k, v in params.items()}
            ti, _ = solve.spike_times(c, t_in, w[i:i + 1], params=one, **opts)
            assert torch.allclose(t[:, i:i + 1], ti, atol=1e-12), m


@pytest.mark.parametrize("step", ["rk2", "rk4"])
def test_dstd_converges_to_the_closed_form_as_steps_grow(step):
    c = lif()
    t_in, w = draw(7, B=8, I=6)
    te, fe = solve.spike_times(c, t_in, w, method="exact")
    errors = []
    for M in (10, 40, 160):
        td, fd = solve.spike_times(c, t_in, w, method="dstd", steps=M, offset=0.0, step=step)
        assert torch.equal(fd, fe)
        errors.append((td - te)[fe].abs().max().item())
    assert errors[0] > 2.5 * errors[1] > 6 * errors[2] and errors[2] < 5e-3, errors


def test_dstd_gradients_follow_the_closed_forms():
    c = lif()
    t_in, w = draw(8, B=4, I=4)
    w = w.abs() + 1.0
    grads = {}
    for m, opts in (("exact", {}), ("dstd", dict(steps=640, offset=0.013))):
        ti, wi = t_in.clone().requires_grad_(), w.clone().requires_grad_()
        t, fired = solve.spike_times(c, ti, wi, method=m, **opts)
        grads[m] = torch.autograd.grad(t.sum(), [ti, wi])
    for a, b in zip(grads["exact"], grads["dstd"]):
        assert (a - b).abs().max() < 0.01 * a.abs().max()     # 12 % at 160 steps: first order in 1 / steps


class _Runaway(cn.Element):
    """A positive-feedback current that explodes above threshold: i = I0 exp((V - V0) / V_s)."""
    parameters = ("I0", "V_s")
    positive = ("I0", "V_s")

    def current(self, node):
        return self.I0 * sp.exp((node.V - node.V0) / self.V_s)


@pytest.mark.parametrize("method", ["ode", "dstd"])
def test_a_step_that_overflows_past_threshold_still_fires(method):
    """An RK step that overshoots into inf/NaN crossed the threshold: the neuron fires inside it (the
    polish starts from the finite state before), its gradient is finite, and what comes after is frozen."""
    c = cn.MultiNodeCircuit(
        nodes={"syn": 0.0, "mem": 0.0},
        elements=[cn.Capacitor("Cs", C="1p", node="syn"), cn.Leak("Gs", G=1e-12 / 6e-6, node="syn"),
                  cn.Capacitor("Cm", C="1p", node="mem"), cn.Transconductor("gm", gm=1e-12 / 6e-6, node="mem", control="syn"),
                  _Runaway("run", I0="1f", V_s="4m", node="mem")],
        synapse=cn.ChargeSynapse("syn"), comparator="mem", threshold=0.2, window="24u", time_unit="6u")
    t_in = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    w = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    opts = dict(method="ode", dt=1 / 8) if method == "ode" else dict(method="dstd", steps=8, offset=0.0)
    t, fired = solve.spike_times(c, t_in, w, **opts)
    assert fired[0, 0] and 0 < t[0, 0] < 4
    t.sum().backward()
    assert torch.isfinite(w.grad).all()


# ---------------------------------------------------------------- mismatch
def test_a_mismatched_chip_of_the_lif_runs_in_every_method_and_keeps_its_charge():
    from circuitnet.variation import draw as draw_chip, with_mismatch
    chipped = with_mismatch(lif(), threshold_offset="5m", gm=cn.Mismatch(gm=0.1), synapse=cn.Mismatch(Q=0.1))
    d = draw_chip(chipped, 5, 6, torch.Generator().manual_seed(3))
    assert set(d.factors) == {"gm_gm"} and d.threshold is not None and d.gain_pos.std() > 0.03
    t_in, w = draw(11, I=5)
    te, fe = solve.spike_times(chipped, t_in, w, method="exact", deviation=d)
    to, fo = solve.spike_times(chipped, t_in, w, deviation=d, **ODE)
    tn, _ = solve.spike_times(chipped, t_in, w, method="exact")
    assert torch.equal(fe, fo) and (te - to)[fe].abs().max() < 1e-9 and (te - tn).abs().max() > 1e-2
    zero = draw_chip(with_mismatch(lif()), 5, 6, torch.Generator().manual_seed(3))      # nothing declared: nominal
    assert torch.equal(solve.spike_times(lif(), t_in, w, method="exact", deviation=zero)[0], tn)


def test_a_capacitor_spread_keeps_the_weight_a_physical_charge():
    """A chip whose synaptic capacitor is f times nominal (its leak unchanged) is the circuit declared with
    C_syn = f x 1 pF, driven by the same charges: weights w / f in that circuit's own unit."""
    from circuitnet.variation import LayerDeviation, with_mismatch
    f = 1.25
    chipped = with_mismatch(lif(), C_syn=cn.Mismatch(C=0.1))
    t_in, w = draw(12, I=3)
    ones = torch.ones_like(w)
    d = LayerDeviation(ones, ones, {"C_syn_C": torch.full((3,), f, dtype=torch.float64)}, None)
    t_chip, _ = solve.spike_times(chipped, t_in, w, deviation=d, **ODE)
    explicit = cn.MultiNodeCircuit(
        nodes={"syn": "0.6", "mem": "0.6"},
        elements=[cn.Capacitor("C_syn", C=f * 1e-12, node="syn"), cn.Leak("G_syn", G=1e-12 / 6e-6, V_to="0.6", node="syn"),
                  cn.Capacitor("C_mem", C="2p", node="mem"), cn.Leak("G_mem", G=2e-12 / 12e-6, V_to="0.6", node="mem"),
                  cn.Transconductor("gm", gm=2e-12 / 12e-6, V_ref="0.6", node="mem", control="syn")],
        synapse=cn.ChargeSynapse("syn"), comparator="mem", threshold="0.8", window="24u", time_unit="6u")
    t_explicit, _ = solve.spike_times(explicit, t_in, w / f, **ODE)
    assert (t_chip - t_explicit).abs().max() < 1e-9
    with pytest.raises(ValueError, match="tau_m / tau_s"):                # tau_s moved: no closed form on this chip
        solve.spike_times(chipped, t_in, w, method="exact", deviation=d)


def test_monte_carlo_chips_of_a_two_node_network():
    from circuitnet import models
    from circuitnet.variation import with_mismatch
    circuit = with_mismatch(lif(), threshold_offset="2m", gm=cn.Mismatch(gm=0.05), synapse=cn.Mismatch(Q=0.05))
    torch.manual_seed(0)
    net = models.mlp((5, 8, 3), kind="ttfs", circuit=circuit, method="exact", sigma_spike=0.0).double()
    t_in = models.encode(torch.rand(64, 5, dtype=torch.float64))
    models.init_firing_(net, t_in, 0.7)
    ref = net(t_in).argmin(1)
    agree = lambda n: (n(t_in).argmin(1) == ref).double().mean().item()
    mc = models.monte_carlo(net.eval(), agree, chips=4)
    assert len(mc["accuracies"]) == 4 and 0.5 < mc["mean"] < 1.0 and mc["std"] > 0


@pytest.mark.parametrize("tau_m", ["12u", "6u"])
def test_unclipped_time_of_a_silent_neuron_is_its_peak_deficit(tau_m):
    """clip=False (exact): a neuron that fires reports its spike time; one that does not reports
    t_max + 1 - peak, with peak the largest x_c in the window: its weights divided by the peak make it
    just reach threshold (a tangent), a hair less does not."""
    c = lif(tau_m)
    t_in, w = draw(13, B=16, I=8, scale=0.8, mean=0.6)
    t, fired = solve.spike_times(c, t_in, w, method="exact")
    u, _ = solve.spike_times(c, t_in, w, method="exact", clip=False)
    assert 0.1 < fired.float().mean() < 0.9 and torch.equal(u[fired], t[fired]) and (u[~fired] > 4).all()
    for b, i in (~fired).nonzero()[:6].tolist():
        peak = 4 + 1 - u[b, i].item()
        if peak <= 0.05:
            continue
        reach = solve.spike_times(c, t_in[b:b + 1], w[i:i + 1] / (peak * (1 - 1e-9)), method="exact")[1]
        short = solve.spike_times(c, t_in[b:b + 1], w[i:i + 1] / (peak * (1 + 1e-6)), method="exact")[1]
        assert reach.item() and not short.item()
    wg = w.clone().requires_grad_()
    solve.spike_times(c, t_in, wg, method="exact", clip=False)[0][~fired].sum().backward()
    assert torch.isfinite(wg.grad).all() and (wg.grad[(~fired).any(0)] != 0).any()


def test_too_many_coupled_nodes_are_refused_before_the_symbolic_inverse():
    names = [f"n{i}" for i in range(8)]
    elements = [cn.Capacitor(f"C{i}", C="1p", node=k) for i, k in enumerate(names)]
    coupled = elements + [cn.Capacitor(f"K{i}", C="0.1p", node=(names[i], names[i + 1])) for i in range(7)]
    with pytest.raises(ValueError, match="8 nodes are coupled"):
        cn.MultiNodeCircuit({k: 0 for k in names}, coupled, cn.ChargeSynapse("n0"), "n7", 0.1, "1u")
    c = cn.MultiNodeCircuit({k: 0 for k in names}, elements, cn.ChargeSynapse("n0"), "n7", 0.1, "1u")
    assert len(c.node_names) == 8                  # uncoupled nodes: a diagonal matrix, no limit
