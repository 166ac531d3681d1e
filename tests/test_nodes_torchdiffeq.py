"""Method "torchdiffeq" on several-node circuits (circuitnet.solve.nodes_torchdiffeq): the reference
(adaptive dopri5 between inputs, odeint_event for the comparator) against method "ode" (RK4 with
events) on the two-node LIF and on a held-out three-node circuit with a node-to-node capacitor, two
transconductors and a non-linear (tanh) leak: spike times, fired masks, gradients; describe()."""
import pytest
import sympy as sp
import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve import TorchDiffEq, describe, spike_times

INF = float("inf")


class TanhLeak(cn.Element):
    """A saturating leak towards the node's reset level: i_in = -I0 tanh((V - V0) / V_s), tanh written
    with exponentials (sympy's simplify of the circuit's equations is slow on sp.tanh)."""
    parameters = ("I0", "V_s")
    positive = ("I0", "V_s")

    def current(self, node):
        e = sp.exp(-2 * (node.V - node.V0) / self.V_s)
        return -self.I0 * (1 - e) / (1 + e)


def held_out_circuit():
    """syn -> mem through a transconductor and a coupling capacitor, a tanh leak on mem, and an
    adapting feedback node fb (driven by mem, pulling mem down)."""
    g_mem, g_fb = 2e-12 / 12e-6, 1e-12 / 12e-6
    return cn.MultiNodeCircuit(
        nodes={"syn": 0.6, "mem": 0.6, "fb": 0.6},
        elements=[cn.Capacitor("C_syn", C="1p", node="syn"), cn.Leak("G_syn", G=1e-12 / 6e-6, V_to=0.6, node="syn"),
                  cn.Capacitor("C_mem", C="2p", node="mem"), cn.Leak("G_mem", G=g_mem, V_to=0.6, node="mem"),
                  cn.Capacitor("Cc", C="0.3p", node=("syn", "mem")),
                  cn.Transconductor("gm", gm=g_mem, V_ref=0.6, node="mem", control="syn"),
                  TanhLeak("tl", I0="20n", V_s="0.1", node="mem"),
                  cn.Capacitor("C_fb", C="1p", node="fb"), cn.Leak("G_fb", G=g_fb, V_to=0.6, node="fb"),
                  cn.Transconductor("g_up", gm=g_fb, V_ref=0.6, node="fb", control="mem"),
                  cn.Transconductor("g_down", gm=-g_fb, V_ref=0.6, node="mem", control="fb")],
        synapse=cn.ChargeSynapse("syn"), comparator="mem", threshold=0.8, window="24u", time_unit="6u")


def _inputs(seed, B, I, J, low, high, t_hi):
    """Random input times in [0, t_hi) with some +inf, weights in [low, high), the last neuron's negative."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, J, generator=g, dtype=torch.float64) * t_hi
    t[0, 1] = INF
    t[B - 1, J - 2] = INF
    w = low + (high - low) * torch.rand(I, J, generator=g, dtype=torch.float64)
    w[-1] = -0.2 * w[-1]                 # never fires
    return t, w


@pytest.fixture(scope="module")
def held_out():
    return held_out_circuit()


@pytest.mark.parametrize("tau_m, low, high", [("12u", 1.0, 3.0), ("6u", 0.8, 2.4)])
def test_lif_ode_matches_torchdiffeq(tau_m, low, high):
    circuit = cn.circuits.lif_current_synapse(tau_m=tau_m)
    t, w = _inputs(0, 4, 4, 5, low, high, 3.0)
    ref, ref_fired = spike_times(circuit, t, w, method="torchdiffeq")
    out, fired = spike_times(circuit, t, w, method="ode", dt=1 / 256)
    assert ref_fired[:, :-1].float().mean() >= 0.75 and not ref_fired[:, -1].any()
    assert torch.equal(fired, ref_fired)
    assert (out - ref).abs().max() < 1e-7
    assert torch.all(ref[~ref_fired] == compile_circuit(circuit).timeline.t_max)
    exact, exact_fired = spike_times(circuit, t, w, method="exact")      # the Lambert-W closed forms
    assert torch.equal(exact_fired, ref_fired) and (exact - ref).abs().max() < 1e-8


def test_held_out_circuit_ode_converges_to_torchdiffeq(held_out):
    t, w = _inputs(1, 3, 4, 5, 0.8, 2.0, 3.0)
    cc = compile_circuit(held_out)
    assert not cc.affine and cc.n == 3

    def run(method, grad=True, **options):
        tr, wr = t.clone().requires_grad_(grad), w.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            out, fired = spike_times(held_out, tr, wr, method=method, **options)
        return (out.detach(), fired) + (torch.autograd.grad(out.sum(), (tr, wr)) if grad else (None, None))

    ref, ref_fired, ref_gt, ref_gw = run("torchdiffeq")
    assert ref_fired[:, :-1].float().mean() >= 0.75 and not ref_fired[:, -1].any()
    at_input = ref_fired & (ref[..., None] == t[:, None, :]).any(-1)       # fired by an input's jump
    assert at_input.sum() <= 1                                             # the others cross in between
    errors = {}
    for dt in (1 / 32, 1 / 256):              # gradients at the coarse step (the fine one's backward is slow)
        out, fired, gt, gw = run("ode", grad=dt == 1 / 32, dt=dt)
        assert torch.equal(fired, ref_fired)
        errors[dt] = (out - ref).abs().max().item()
        if gt is not None:
            assert (gt - ref_gt).abs().max() <= 1e-5 * ref_gt.abs().max()
            assert (gw - ref_gw).abs().max() <= 1e-5 * ref_gw.abs().max()
    assert errors[1 / 256] < 1e-6 and errors[1 / 256] < errors[1 / 32]
    assert ref_gw[:-1].abs().min() > 0 and ref_gt.abs().max() > 0.1       # the gradients are not trivially 0


def test_describe_and_clip(held_out):
    assert "  torchdiffeq: yes" in describe(held_out).splitlines()
    cc = compile_circuit(held_out)
    assert TorchDiffEq().supports(cc)
    t, w = _inputs(2, 1, 2, 3, 0.5, 2.0, 2.5)
    with pytest.raises(ValueError, match="clip=False"):
        TorchDiffEq().solve(cc, t, w, None, clip=False, training=False)


def test_lif_edge_inputs_match_exact():
    """Inputs at tau = 0, tied inputs, an input at t_max (never arrives), a sample without inputs: spike
    times and every input's own gradient as the Lambert-W closed form's."""
    circuit = cn.circuits.lif_current_synapse(tau_m="6u")
    t = torch.tensor([[0.0, 0.0, 1.0, 4.0, INF], [INF] * 5, [0.5, 0.5, 0.5, 2.0, 3.99], [3.0, 3.5, 4.0, INF, 0.1]],
                     dtype=torch.float64)
    w = torch.tensor([[2.0, 1.5, 1.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0, 5.0]], dtype=torch.float64)
    results = []
    for method in ("torchdiffeq", "exact"):
        tr, wr = t.clone().requires_grad_(), w.clone().requires_grad_()
        out, fired = spike_times(circuit, tr, wr, method=method)
        results.append((out.detach(), fired) + torch.autograd.grad(out.sum(), (tr, wr)))
    (ref, ref_fired, ref_gt, ref_gw), (ex, ex_fired, ex_gt, ex_gw) = results
    assert torch.equal(ref_fired, ex_fired) and ref_fired.any() and not ref_fired[1].any()
    assert (ref - ex).abs().max() < 1e-8
    assert (ref_gt - ex_gt).abs().max() < 1e-6 and (ref_gw - ex_gw).abs().max() < 1e-6
    assert ref_gt[0, 0] > 0.5 and ref_gt[0, 1] > 0.5 and ref_gt[0, 0] != ref_gt[0, 1]     # each input its own
