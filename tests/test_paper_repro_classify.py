"""paper_repro: the image-classification path the experiments share (paper_repro.classify and its modules):
refused training options, the noise draws, the noise-free copy.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest
import torch




def test_unknown_penalty_target_is_refused_before_anything_is_written(tmp_path):
    from paper_repro import classify as C
    with pytest.raises(ValueError, match="penalty_on must be"):
        C.train(dict(C.CFG, penalty_on="hidden"), None, str(tmp_path), "model", C.Runtime(torch.device("cpu")))
    assert not list(tmp_path.iterdir())


def test_bad_training_options_are_refused_before_anything_is_written(tmp_path):
    """An invalid --dropout, --ema, --t-ref or --weight-decay must not leave a model.json that would block
    the corrected rerun."""
    from paper_repro import classify as C
    from paper_repro.data import Split
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    for key, bad, message in [("dropout", 1.0, "dropout probability"), ("dropout", -0.5, "dropout probability"),
                              ("dropout", float("nan"), "dropout probability"), ("ema", 1.0, "ema decay"),
                              ("ema", float("nan"), "ema decay"), ("t_ref", 0.0, "t_ref"), ("t_ref", 1.5, "t_ref"),
                              ("t_ref", float("nan"), "t_ref"), ("weight_decay", -1.0, "weight decay"),
                              ("weight_decay", float("nan"), "weight decay")]:
        with pytest.raises(ValueError, match=message):
            C.train(dict(C.CFG, hidden=(8,), **{key: bad}), Split(x, y, x, y), str(tmp_path), "model",
                    C.Runtime(torch.device("cpu")))
    assert not list(tmp_path.iterdir())


def test_noise_draws_are_reproducible_independent_and_collapse_without_noise():
    """noise_draws evaluates the same weights under k seeded draws of the spike-time noise: the same seed
    repeats them, the draws differ from each other, and without noise one draw, the noise-free accuracy."""
    from paper_repro import classify as C
    torch.manual_seed(0)
    cfg = dict(C.CFG, hidden=(32,), sigma_spike=0.05)
    net = C.build(cfg, (1, 28, 28)).eval()
    x, rt = torch.rand(400, 1, 28, 28), C.Runtime(torch.device("cpu"))
    with torch.no_grad():
        y = C.output_times(C.copy_at(net, cfg, (1, 28, 28), sigma_spike=0.0), cfg, x, rt).argmin(1)
    y[::2] = (y[::2] + 1) % 10                  # half the labels right for the noise-free network
    draws = C.noise_draws(net, cfg, x, y, rt, 4, seed=3)
    assert draws == C.noise_draws(net, cfg, x, y, rt, 4, seed=3)
    assert len(set(draws)) > 1
    quiet = dict(cfg, sigma_spike=0.0)
    assert C.noise_draws(C.copy_at(net, quiet, (1, 28, 28)), quiet, x, y, rt, 3) == [0.5]
    with pytest.raises(ValueError, match="noise_draws must be"):
        C.noise_draws(net, cfg, x, y, rt, 0)


def test_noise_free_copy_is_deterministic_and_differs_from_noisy_inference_by_the_spike_noise():
    """results' test_accuracy_sigma0 evaluates copy_at(net, sigma_spike=0): the same weights without the
    spike-time noise; the configured network (sigma 0.01) scatters its output times around it."""
    from paper_repro import classify as C
    torch.manual_seed(0)
    cfg = dict(C.CFG, hidden=(32,))
    net = C.build(cfg, (1, 28, 28)).eval()
    x = C.inputs(cfg, torch.rand(64, 1, 28, 28))
    clean = C.copy_at(net, cfg, (1, 28, 28), sigma_spike=0.0)
    with torch.no_grad():
        a, b, noisy = clean(x), clean(x), net(x)
    assert torch.equal(a, b)
    inside = (a > 0.05) & (a < 0.95)            # away from the clip at 0 and 1
    spread = (noisy - a)[inside].std()
    assert inside.sum() > 50 and 0.008 < spread < 0.05, spread
