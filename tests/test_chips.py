"""Mismatched chips for networks (models.chips): fixed chips, per-batch draws in training, Monte-Carlo evaluation."""
import pytest
import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import variation as V

D = torch.float64


def _net(sizes=(12, 8, 3), spread=0.2):
    c = V.with_uniform_mismatch(cn.circuits.rc_spike(firing="ideal"), current=spread, threshold_offset="4m")
    torch.manual_seed(0)
    return models.mlp(sizes, circuit=c, method="exact", sigma_spike=0.0).double()


def test_a_fixed_chip_gives_identical_outputs_and_differs_from_nominal():
    net = _net().eval()
    x = torch.rand(16, 12, dtype=D)
    nominal = net(x)
    chip = models.draw_chip(net, seed=4)
    models.use_chip(net, chip)
    a, b = net(x), net(x)
    assert torch.equal(a, b)
    models.use_chip(net, models.draw_chip(net, seed=4))          # same seed, same chip
    assert torch.equal(net(x), a)
    assert (a - nominal).abs().max() > 1e-3
    models.use_chip(net, None)
    assert torch.equal(net(x), nominal)
    with pytest.raises(ValueError, match="spiking layers"):
        models.use_chip(net, models.Chip(chip.deviations[:1]))


def test_a_per_batch_draw_is_the_same_in_forward_and_backward():
    """The gradient of a training step on chips equals the gradient on that same chip held fixed, and two
    training steps draw different chips."""
    net = _net().train().train_on_chips(1.0)
    x, y = torch.rand(16, 12, dtype=D), torch.randint(0, 3, (16,))
    torch.manual_seed(11)
    loss = models.spike_cross_entropy(net(x), y)
    g_train = torch.autograd.grad(loss, [l.weight for l in net.spiking_layers])
    drawn = [l.deviation for l in net.spiking_layers]
    net.train_on_chips(None)
    loss = models.spike_cross_entropy(net(x), y)                   # the chip drawn above is still set
    g_fixed = torch.autograd.grad(loss, [l.weight for l in net.spiking_layers])
    for a, b in zip(g_train, g_fixed):
        assert torch.equal(a, b) and a.abs().sum() > 0
    net.train_on_chips(1.0)
    net(x)
    assert not torch.equal(net.spiking_layers[0].deviation.gain_pos, drawn[0].gain_pos)
    with pytest.raises(ValueError, match="scale"):
        net.train_on_chips(-1.0)


def test_monte_carlo_statistics_and_the_zero_spread_limit():
    net = _net().eval()
    x, y = torch.rand(64, 12, dtype=D), torch.randint(0, 3, (64,))
    acc = lambda n: (n(x).argmin(1) == y).double().mean().item()
    nominal = acc(net)
    r = models.monte_carlo(net, acc, chips=20, seed=1)
    a = torch.tensor(r["accuracies"], dtype=D)
    assert len(r["accuracies"]) == 20 and r["mean"] == pytest.approx(a.mean().item())
    assert r["min"] <= r["p5"] <= r["mean"] <= r["max"] and r["std"] > 0
    assert models.monte_carlo(net, acc, chips=20, seed=1)["accuracies"] == r["accuracies"]
    # first=k: the chips k, k+1, ... of the same sequence (validation chips set apart from test chips)
    assert models.monte_carlo(net, acc, chips=5, seed=1, first=15)["accuracies"] == r["accuracies"][15:]
    with pytest.raises(ValueError, match="first"):
        models.monte_carlo(net, acc, chips=2, first=-1)
    zero = models.monte_carlo(net, acc, chips=3, seed=1, scale=0.0)
    assert zero["accuracies"] == [nominal] * 3
    assert all(l.deviation is None for l in net.spiking_layers)      # back on the nominal circuit


def test_a_convolution_draws_one_deviation_per_kernel_weight():
    c = V.with_uniform_mismatch(cn.circuits.rc_spike(firing="ideal"), current=0.3)
    torch.manual_seed(0)
    layer = models.RCSpikeConv2d(2, 4, 3, padding=1, circuit=c, method="exact").double()
    net = models.SpikeNet([layer], sigma_spike=0.0).eval()
    chip = models.draw_chip(net, seed=0)
    assert chip.deviations[0].shape == (4, 18)
    x = torch.rand(3, 2, 5, 5, dtype=D)
    nominal = net(x)
    models.use_chip(net, chip)
    assert net(x).shape == nominal.shape and (net(x) - nominal).abs().max() > 1e-4
