"""paper_repro: the two-node Yin-Yang network on Monte-Carlo chips (experiment yin-yang-chips): --quick mode."""
import pytest

from paper_repro_support import LIF, quick_mode, run_quick


def test_chips_of_the_two_node_network_programmed_and_trimmed(tmp_path):
    trained = tmp_path / "lif"
    quick_mode("yin-yang", trained, *LIF, "--epochs", "6")
    res = quick_mode("yin-yang-chips", tmp_path / "chips", "--nominal", str(trained))
    assert res["samples"] == 50 and len(res["drawn"]["accuracies"]) == 2
    for k in ("drawn", "trimmed", "programmed_trimmed"):
        assert res[k]["min"] <= res[k]["p5"] <= res[k]["mean"] <= res[k]["max"]
    assert res["config"]["charge"] == 0.1 and res["test_accuracy"] == res["programmed_trimmed"]["mean"]


def test_chips_refuse_a_one_node_run(tmp_path):
    trained = tmp_path / "rc"
    quick_mode("yin-yang", trained)
    with pytest.raises(SystemExit, match="one-node circuit"):
        run_quick("yin-yang-chips", tmp_path / "chips", "--nominal", str(trained))


def _weight_tolerance():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "weight_tolerance.py"
    spec = importlib.util.spec_from_file_location("weight_tolerance", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_weight_tolerance_spreads_the_weights_and_puts_them_back(tmp_path):
    """scripts/weight_tolerance.py: spread 0 is the nominal accuracy, a spread moves it, the trained
    weights come back unchanged; the programmer's residual falls with the reads toward the DAC's step."""
    import torch
    from paper_repro.classify_net import inputs
    from paper_repro.data import load_yin_yang
    from paper_repro.runs import load_run
    wt = _weight_tolerance()
    trained = tmp_path / "lif"
    quick_mode("yin-yang", trained, *LIF, "--epochs", "6")
    net, cfg = load_run(trained)
    net = net.double().eval()
    data = load_yin_yang()
    t_in, y = inputs(cfg, data.x_val[:200].double()), data.y_val[:200]
    before = [l.weight.detach().clone() for l in net.spiking_layers]
    first_spike = lambda n: n(t_in).min(1).values.mean().item()      # any number the weights move
    with torch.no_grad():
        nominal = first_spike(net)
    out = wt.tolerance(net, first_spike, [0.0, 0.3], draws=3)
    assert out[0.0] == pytest.approx((nominal, nominal), abs=1e-12) and out[0.3][0] != pytest.approx(nominal)
    assert all(torch.equal(a, l.weight) for a, l in zip(before, net.spiking_layers))
    sd = [wt.residual_sd(r, devices=20_000) for r in (1, 16, 256)]
    step = 23.5 * 0.12 / 256                              # the nfet's DAC step in ln of the current
    assert sd[0] > sd[1] > sd[2] > 0.9 * step / 12 ** 0.5 and sd[0] == pytest.approx(0.0105, rel=0.1)
