"""Robustness training of the Yin-Yang network (issue 42): multiplicative weight noise in training
(--weight-noise), spike-time noise on yin-yang (--sigma-spike), and yin-yang-chips on the validation
split (--split val)."""
import pytest
import torch

from circuitnet.models import mlp
from paper_repro.__main__ import main
from paper_repro_support import LIF, run_quick


def _net(weight_noise):
    torch.manual_seed(0)
    net = mlp((5, 8, 3), sigma_spike=0.0, weight_noise=weight_noise, method="exact")
    return net, torch.rand(16, 5)


def test_weight_noise_moves_outputs_in_training_only():
    net, t = _net(0.1)
    assert all(l.weight_noise == 0.1 for l in net.spiking_layers)
    net.train()
    a, b = net(t), net(t)
    assert not torch.equal(a, b)                     # a fresh draw per forward pass
    net.eval()
    clean, _ = _net(0.0)
    clean.load_state_dict(net.state_dict())
    assert torch.equal(net(t), net(t)) and torch.equal(net(t), clean.eval()(t))   # evaluation: w itself
    clean.train()
    assert torch.equal(clean(t), clean(t))           # no noise without weight_noise (exact method: deterministic)


def test_weight_noise_is_multiplicative_per_synapse_with_gradient():
    net, _ = _net(0.05)
    layer = net.spiking_layers[0]
    w = torch.full((400, 300), 0.5, requires_grad=True)
    torch.manual_seed(1)
    noisy = layer._noisy(w)
    rel = noisy.detach() / 0.5 - 1.0
    assert abs(rel.std().item() - 0.05) < 0.003 and abs(rel.mean().item()) < 0.002
    noisy.sum().backward()                           # d/dw w (1 + S z) = 1 + S z
    assert torch.allclose(w.grad, 1.0 + rel)
    layer.eval()
    assert layer._noisy(w) is w
    with pytest.raises(ValueError, match="weight_noise"):
        net.weight_noise = 1.5


def test_yin_yang_records_the_noise_options_and_chips_score_the_validation_split(tmp_path):
    from paper_repro.classify_net import inputs
    from paper_repro.data import load_yin_yang
    from paper_repro.runs import load_run
    trained = tmp_path / "lif"
    res = run_quick("yin-yang", trained, *LIF, "--epochs", "3", "--weight-noise", "0.05", "--sigma-spike", "0.01")
    assert res["config"]["weight_noise"] == 0.05 and res["config"]["sigma_spike"] == 0.01
    net, cfg = load_run(trained)
    assert net.weight_noise == 0.05 and net.noise.sigma == 0.01
    chips = run_quick("yin-yang-chips", tmp_path / "chips", "--nominal", str(trained), "--split", "val", "--chips", "1")
    assert chips["split"] == "val" and chips["config"]["split"] == "val" and "test_accuracy" not in chips
    assert chips["val_accuracy"] == chips["programmed_trimmed"]["mean"] and chips["samples"] == 50
    data = load_yin_yang()                           # the nominal accuracy is that of the validation samples
    net = net.double().eval()
    net.noise.sigma = 0.0
    with torch.no_grad():
        want = (net(inputs(cfg, data.x_val[:50].double())).argmin(1) == data.y_val[:50]).double().mean().item()
    assert chips["nominal_accuracy"] == pytest.approx(want)


def test_noise_options_are_yin_yangs_only(tmp_path, capsys):
    for argv in (["fmnist-mlp", "--weight-noise", "0.05"], ["yin-yang-chips", "--split", "train"],
                 ["yin-yang", "--weight-noise", "1.5"], ["yin-yang", "--sigma-spike", "-1"]):
        with pytest.raises(SystemExit) as e:
            main([*argv, "--quick", "--out", str(tmp_path / "x")])
        assert e.value.code == 2
    assert not (tmp_path / "x").exists()
