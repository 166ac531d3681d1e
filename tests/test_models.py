"""Layers and networks built from circuits: method switching, conv == linear on patches, losses."""
import pytest
import torch
import torch.nn.functional as F

import circuitnet as cn
from circuitnet import solve
from circuitnet.models import (IrisNet, RCSpikeConv2d, RCSpikeLinear, SpikeDropout, SpikeMinPool2d, TTFSConv2d, TTFSLinear,
                    encode, mlp, spike_cross_entropy, vgg7)

D = torch.float64
METHODS = ["exact", "dstd", "ode"]


def _method(name, steps):
    """The method ``name``; DSTD with ``steps`` intervals and no offset."""
    return solve.DSTD(steps=steps, offset=0.0) if name == "dstd" else solve.method(name)


@pytest.mark.parametrize("Layer", [RCSpikeLinear, TTFSLinear])
def test_methods_agree_through_the_layer_and_can_be_switched(Layer):
    torch.manual_seed(0)
    layer = Layer(20, 6, method="exact", t_max=2.0).to(D).eval()
    with torch.no_grad():
        layer.weight.mul_(2.0 if Layer is TTFSLinear else 1.0)
    t = torch.rand(5, 20, dtype=D)
    ref = layer(t)
    layer.method = "ode"
    assert (layer(t) - ref).abs().max() < 1e-6
    layer.method = solve.DSTD(steps=60)
    tol = 1e-3 if Layer is RCSpikeLinear else 2e-2
    assert (layer(t) - ref).abs().max() < tol


def test_layer_from_declared_circuit_equals_e_arguments():
    t = torch.rand(4, 10, dtype=D)
    a = RCSpikeLinear(10, 3, e_pos=2.797046, e_neg=-1.529052, method="exact").to(D)
    b = RCSpikeLinear(10, 3, circuit=cn.circuits.rc_spike(firing="ideal"), method="exact").to(D)
    b.load_state_dict(a.state_dict())
    assert torch.allclose(a(t), b(t), atol=1e-6)


@pytest.mark.parametrize("Conv", [RCSpikeConv2d, TTFSConv2d])
@pytest.mark.parametrize("method", METHODS)
def test_conv_equals_linear_on_unfolded_patches(Conv, method):
    torch.manual_seed(1)
    conv = Conv(2, 3, 3, padding=1, method=_method(method, 8), t_max=1.5).to(D).eval()
    x = torch.rand(2, 2, 5, 4, dtype=D)
    out = conv(x)
    assert out.shape == (2, 3, 5, 4)
    padded = F.pad(x, (1, 1, 1, 1), value=conv.no_spike)
    rows = F.unfold(padded, 3).transpose(1, 2).reshape(-1, 18)
    lin = (RCSpikeLinear if Conv is RCSpikeConv2d else TTFSLinear)(18, 3, method=_method(method, 8),
                                                                    t_max=1.5).to(D).eval()
    with torch.no_grad():
        lin.weight.copy_(conv.weight.reshape(3, -1))
    ref = lin(rows).reshape(2, 5, 4, 3).permute(0, 3, 1, 2)
    assert torch.allclose(out, ref, atol=1e-12)


def test_min_pool_takes_the_earliest_spike():
    t = torch.tensor([[[[0.5, 0.2], [0.9, 0.7]]]])
    assert SpikeMinPool2d(2)(t).item() == pytest.approx(0.2)


def test_networks_have_the_papers_shapes_and_train_a_step():
    net = mlp((784, 400, 400, 10), steps=4).float()
    assert [tuple(l.weight.shape) for l in net.spiking_layers] == [(400, 784), (400, 400), (10, 400)]
    x = torch.rand(3, 784)
    out = net(encode(x))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    loss = spike_cross_entropy(out, torch.tensor([1, 2, 3]))
    loss.backward()
    assert all(torch.isfinite(l.weight.grad).all() for l in net.spiking_layers)
    cnn = vgg7(in_channels=3, image_size=32, width=0.125, steps=2).float()
    assert cnn(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    assert [l.weight.shape[0] for l in vgg7(width=2).spiking_layers] == [128, 128, 256, 256, 512, 512, 1024, 10]


@pytest.mark.parametrize("method", ["exact", "dstd", "ode"])
def test_unclipped_readout_keeps_a_gradient_for_silent_outputs(method):
    """forward(unclipped=True) gives the same output times (same noise draw) and the output layer's
    unclipped firing times u, clip(u, 0, 1) = the noise-free times; a temporal penalty on u has a
    gradient for an output that never fires (u > 1), the same penalty on t_out has none."""
    torch.manual_seed(3)
    net = mlp((12, 8, 4), method=_method(method, 6), sigma_spike=0.01).to(D).eval()
    with torch.no_grad():
        net.spiking_layers[-1].weight[0] = -1.0       # output 0 is driven far below threshold: silent
    t = torch.rand(5, 12, dtype=D)
    torch.manual_seed(1)
    ref = net(t)
    torch.manual_seed(1)
    out, u = net(t, unclipped=True)
    assert torch.equal(out, ref) and (u[:, 0] > 1).all() and (out[:, 0] == 1).all()   # silent stays silent
    quiet = mlp((12, 8, 4), method=_method(method, 6), sigma_spike=0.0).to(D).eval()
    quiet.load_state_dict(net.state_dict())
    assert torch.allclose(quiet(t), quiet(t, unclipped=True)[1].clamp(0, 1), atol=1e-12)
    w = net.spiking_layers[-1].weight
    (gu,) = torch.autograd.grad(((u[:, 0] - 0.9) ** 2).sum(), w)
    (gt,) = torch.autograd.grad(((net(t)[:, 0] - 0.9) ** 2).sum(), w)
    assert gu[0].abs().sum() > 0 and gt[0].abs().sum() == 0


def test_spike_time_noise_jitters_spikes_and_creates_none():
    """SpikeTimeNoise: a spike moves by sigma N(0, 1) (sample sd within 2 % of sigma on 2e5 draws,
    mean within 4 standard errors), is clipped at 0 and lost past t_max; a neuron that did not fire
    (t = t_max) stays silent at every draw, with no gradient."""
    from circuitnet.models import SpikeTimeNoise
    torch.manual_seed(0)
    noise = SpikeTimeNoise(0.04, t_max=1.0)
    t = torch.full((200000,), 0.5, dtype=D)
    d = noise(t) - 0.5
    assert abs(d.std().item() / 0.04 - 1) < 0.02 and abs(d.mean().item()) < 4 * 0.04 / 200000 ** 0.5
    silent = torch.ones(200000, dtype=D, requires_grad=True)
    out = noise(silent)
    assert (out == 1).all()
    (g,) = torch.autograd.grad(out.sum(), silent)
    assert torch.equal(g, torch.ones_like(g))       # the identity where silent
    late, early = noise(torch.full((200000,), 0.99, dtype=D)), noise(torch.full((200000,), 0.01, dtype=D))
    lost = (late == 1).double().mean().item()       # P(0.99 + 0.04 N >= 1) = 1 - Phi(0.25) = 0.4013
    assert abs(lost - 0.4013) < 0.005 and early.min() == 0 and late.max() == 1
    assert torch.equal(SpikeTimeNoise(0.0)(t), t)


def test_unclipped_readout_needs_an_rc_spike_output():
    with pytest.raises(ValueError, match="unclipped"):
        mlp((6, 3), kind="ttfs", method="exact").to(D)(torch.rand(2, 6, dtype=D), unclipped=True)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown method 'euler'"):
        RCSpikeLinear(3, 2, method="euler")
    with pytest.raises(ValueError, match="offset must be"):
        RCSpikeLinear(3, 2, offset="sometimes")
    with pytest.raises(ValueError, match="expected input spike times"):
        RCSpikeConv2d(2, 3, 3)(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="IrisNet expects features"):
        IrisNet()(torch.rand(2, 5))
    with pytest.raises(ValueError, match="NaN"):
        encode(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="in_features|input features"):
        RCSpikeLinear(3, 2)(torch.rand(2, 4))


def test_current_scale_search_recovers_known_scales():
    """A copy whose positive / negative currents were divided by 1.3 / 0.8 is mapped back."""
    from circuitnet.models import fit_current_scales, scale_weights_
    torch.manual_seed(3)
    a = IrisNet(method="exact", e_pos=2.8, e_neg=-1.53).to(D).eval()
    b = IrisNet(method="exact", e_pos=2.8, e_neg=-1.53).to(D).eval()
    b.load_state_dict(a.state_dict())
    scale_weights_(b, 1 / 1.3, 1 / 0.8)
    w = b.layers[0].weight.detach().clone()
    x = torch.rand(64, 4, dtype=D)
    with torch.no_grad():
        sp, sn, err = fit_current_scales(b, x, a(x))
    assert (sp, sn) == (1.3, 0.8) and err < 1e-9
    assert torch.equal(b.layers[0].weight, w)                  # the search leaves the weights as they were
    with torch.no_grad():
        s, s2, err1 = fit_current_scales(b, x, a(x), separate=False)
    assert s == s2 and err1 > 1e-6                              # one global factor cannot undo two


def test_layer_gain_search_finds_each_layers_best_scale_in_place():
    """tune_layer_gains_: coordinate ascent over one current scale per spiking layer, input side first,
    each from the grid (and 1); a tie keeps 1; the network is left scaled by the chosen gains."""
    from circuitnet.models import tune_layer_gains_
    torch.manual_seed(4)
    net = IrisNet(method="exact", e_pos=2.8, e_neg=-1.53).to(D).eval()
    w0 = [l.weight.detach().clone() for l in net.spiking_layers]
    norm = lambda n: [float(l.weight.detach().norm() / w.norm()) for l, w in zip(n.spiking_layers, w0)]
    target = [2.0, 0.7]
    seen = []

    def score(n):
        seen.append(norm(n))
        return -sum((g - t) ** 2 for g, t in zip(norm(n), target))

    gains, best = tune_layer_gains_(net, score, grid=(0.7, 1.4, 2.0))
    assert gains == [2.0, 0.7] and best == pytest.approx(0.0, abs=1e-12)
    assert norm(net) == pytest.approx(target)
    assert all(g1 == pytest.approx(1.0) for g0, g1 in seen[:4])            # layer 0 first, layer 1 as it was
    assert all(g0 == pytest.approx(2.0) for g0, g1 in seen[4:])            # then layer 1, layer 0 already set
    flat, _ = tune_layer_gains_(net, lambda n: 0.5, grid=(0.7, 1.4))
    assert flat == [1.0, 1.0] and norm(net) == pytest.approx(target)       # a tie keeps the network as it is
    with pytest.raises(ValueError, match="finite and > 0"):
        tune_layer_gains_(net, score, grid=(0.0, 2.0))
    with pytest.raises(ValueError, match="NaN"):
        tune_layer_gains_(net, lambda n: float("nan"))


def test_spike_dropout_removes_spikes_in_training_only():
    """Each spike is set to t_max with probability p (binomial count within 5 sigma), the others are
    untouched and keep their gradient; evaluation is the identity; p outside [0, 1) is refused."""
    torch.manual_seed(0)
    drop = SpikeDropout(0.3, t_max=1.0)
    t = (0.9 * torch.rand(200, 500, dtype=D)).requires_grad_()
    out = drop(t)
    gone = out == 1.0
    n, p = t.numel(), 0.3
    assert abs(gone.sum().item() - n * p) < 5 * (n * p * (1 - p)) ** 0.5
    assert torch.equal(out[~gone], t[~gone])
    (g,) = torch.autograd.grad(out.sum(), t)
    assert torch.equal(g, (~gone).to(D))
    assert torch.equal(drop.eval()(t), t)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout probability"):
            SpikeDropout(bad)


def test_a_dropped_spike_adds_no_charge():
    """A spike moved to t_max = 1 opens its synapse for no time: the layer's output equals the output
    with that input's conductance removed (column of the weights set to zero)."""
    torch.manual_seed(1)
    layer = RCSpikeLinear(10, 4, method="exact").to(D).eval()
    t = 0.8 * torch.rand(3, 10, dtype=D)
    dropped = t.clone()
    dropped[:, 2] = 1.0
    cut = RCSpikeLinear(10, 4, method="exact").to(D).eval()
    with torch.no_grad():
        cut.weight.copy_(layer.weight)
        cut.weight[:, 2] = 0.0
    assert torch.allclose(layer(dropped), cut(t), atol=1e-12)
    assert not torch.allclose(layer(dropped), layer(t), atol=1e-6)


def test_network_dropout_acts_on_hidden_spikes_in_training():
    """SpikeNet(dropout=p): hidden spikes (all_times) are dropped in training, the output layer never;
    in evaluation the network equals the same weights without dropout."""
    torch.manual_seed(2)
    net = mlp((12, 30, 30, 5), method="exact", sigma_spike=0.0, dropout=0.5).to(D)
    plain = mlp((12, 30, 30, 5), method="exact", sigma_spike=0.0).to(D)
    plain.load_state_dict(net.state_dict())
    t = torch.rand(64, 12, dtype=D)
    assert torch.equal(net.eval()(t), plain.eval()(t))
    out, times = net.train()(t, all_times=True)
    _, clean = plain(t, all_times=True)
    for h, c in zip(times[:-1], clean[:-1]):
        assert 0.3 < ((h == 1.0) & (c < 1.0)).sum() / (c < 1.0).sum() < 0.7
    # the output layer reads the dropped hidden spikes but is not dropped itself
    assert torch.equal(out, plain.layers[-1](times[-2]))
