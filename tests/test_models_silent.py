"""Gradients for time-to-first-spike neurons that stay below threshold (two-node LIF by its closed form):
every layer's unclipped times, the silence penalty, fastAndDeep's label term and label-targeted bumping."""
import math

import torch

import circuitnet as cn
from circuitnet.models import bump_silent_, label_time_penalty, mlp, silence_penalty

D = torch.float64


def _lif_net(scale):
    torch.manual_seed(0)
    net = mlp((5, 8, 3), circuit=cn.circuits.lif_current_synapse(), method="exact", sigma_spike=0.0,
              kind="ttfs").to(D)
    with torch.no_grad():
        for l in net.spiking_layers:
            l.weight.abs_().mul_(scale)
    return net


def test_unclipped_all_keeps_the_forward_and_gives_silent_neurons_their_deficit():
    net = _lif_net(0.3)
    t = torch.rand(6, 5, dtype=D)
    out, times = net(t, all_times=True)
    out2, times2, us = net(t, unclipped="all")
    assert torch.equal(out, out2) and all(torch.equal(a, b) for a, b in zip(times, times2))
    t_max = net.spiking_layers[0].t_max
    for u, tt in zip(us, times2):
        assert torch.equal(u.clamp(max=t_max), tt)
        assert ((u > t_max) == (tt >= t_max)).all() and (u <= t_max + 1).all()
    silent = us[0] > t_max
    assert silent.any()
    loss = silence_penalty(us[:1], t_max, 1.0)
    loss.backward()
    g = net.spiking_layers[0].weight.grad
    rows = silent.any(0)
    assert (g[rows] <= 0).all() and (g[rows] < 0).any() and (g[~rows] == 0).all()   # raising them lowers it


def test_silence_penalty_is_zero_where_every_neuron_fires():
    u = torch.tensor([[0.5, 1.0], [3.9, 2.0]], dtype=D)
    assert silence_penalty([u], 4.0, 1.0).item() == 0.0
    assert abs(silence_penalty([u + 0.2], 4.0, 2.0).item() - 2.0 * 0.1 / 4) < 1e-12


def test_label_time_penalty():
    t = torch.tensor([[1.0, 2.0], [0.0, 3.0]], dtype=D)
    y = torch.tensor([1, 0])
    want = 0.5 * (math.exp(2.0 / 2.0) - 1) / 2
    assert abs(label_time_penalty(t, y, 0.5, 2.0).item() - want) < 1e-12


def test_label_targeted_bumping_leaves_silent_wrong_outputs_alone():
    net = _lif_net(1.0)
    t_max = net.spiking_layers[0].t_max
    hidden = torch.zeros(2, 8, dtype=D)                           # every hidden neuron fires
    out = torch.tensor([[t_max, 1.0, t_max], [1.0, 2.0, 1.0]], dtype=D)
    before = net.spiking_layers[1].weight.detach().clone()
    k = bump_silent_(net, [hidden, out], 0.1, labels=torch.tensor([1, 0]))
    assert k is None and torch.equal(net.spiking_layers[1].weight, before)    # the labels' outputs fired
    k = bump_silent_(net, [hidden, out], 0.1, labels=torch.tensor([2, 0]))
    assert k == 1
    d = net.spiking_layers[1].weight.detach() - before
    assert torch.allclose(d[2], torch.full_like(d[2], 0.1)) and (d[:2] == 0).all()
    k = bump_silent_(net, [hidden, out], 0.1)                     # untargeted: outputs 0 and 2
    assert k == 1
