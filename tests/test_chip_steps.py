"""A chip as used: program-and-verify of the weights (circuitnet.chip.programming) and per-neuron calibration
from spike times (circuitnet.chip.calibration), and both in Monte-Carlo evaluation (models.chips)."""
import math

import pytest
import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import variation as V
from circuitnet.chip import ModelBench, Trim, WeightProgrammer, calibrate
from circuitnet.solve import spike_times

D = torch.float64


def _sky130_like():
    """The paper's circuit at sky130's measured spreads (docs/robustness.md) with a 5 mV comparator offset."""
    return V.with_mismatch(cn.circuits.rc_spike(firing="discharger"), threshold_offset="5m",
                           pos=cn.Mismatch(I=0.29), neg=cn.Mismatch(I=0.17), dis=cn.Mismatch(I=0.15))


def test_programmed_residual_is_the_dacs_quantisation_without_measurement_noise():
    g = torch.exp(0.3 * torch.randn(20000, generator=torch.Generator().manual_seed(0), dtype=D))
    p = WeightProgrammer(bits=8, dac_range="0.2", gm_over_id=25, measurement_noise=0.0, iterations=1)
    r = torch.log(p.residual(g))
    assert p.step() == pytest.approx(25 * 0.2 / 256)
    assert r.abs().max() <= p.step() / 2 + 1e-12                     # one exact measurement: within half a step
    assert r.std().item() == pytest.approx(p.step() / math.sqrt(12), rel=0.03)   # uniform over one step
    assert torch.equal(WeightProgrammer(iterations=0).residual(g), g)          # no programming: as drawn


def test_programmed_residual_follows_the_measurement_noise_and_the_dacs_reach():
    gen = torch.Generator().manual_seed(1)
    g = torch.exp(0.3 * torch.randn(20000, generator=gen, dtype=D))
    fine = WeightProgrammer(bits=16, dac_range="0.5", measurement_noise=0.02, iterations=3)
    r = torch.log(fine.residual(g, torch.Generator().manual_seed(2)))
    assert r.std().item() == pytest.approx(0.02, rel=0.05)         # the last measurement's noise remains
    assert abs(r.mean().item()) < 2e-3
    for reads in (4, 16):                                           # averaged reads: the noise falls as 1 / sqrt(reads)
        avg = WeightProgrammer(bits=16, dac_range="0.5", measurement_noise=0.02, iterations=3, reads=reads)
        r = torch.log(avg.residual(g, torch.Generator().manual_seed(2)))
        assert r.std().item() == pytest.approx(0.02 / math.sqrt(reads), rel=0.05)
    short = WeightProgrammer(bits=8, dac_range="0.02", gm_over_id=25, measurement_noise=0.0, iterations=5)
    with pytest.warns(UserWarning, match="devices lie beyond"):        # and says so
        r = torch.log(short.residual(g))
    reach = short.reach()                                           # 0.25: |ln g| beyond it is left over
    far = torch.log(g).abs() > reach + short.step()
    assert far.any() and torch.allclose(r[far].abs(), torch.log(g)[far].abs() - reach, atol=short.step())
    two = WeightProgrammer(bits=8, dac_range="0.12", gm_over_id=(23.5, 15.7))
    assert two.step(1) / two.step(0) == pytest.approx(15.7 / 23.5)
    a = fine.program(V.draw(_sky130_like(), 5, 7, torch.Generator().manual_seed(3)), torch.Generator().manual_seed(4))
    b = fine.program(V.draw(_sky130_like(), 5, 7, torch.Generator().manual_seed(3)), torch.Generator().manual_seed(4))
    assert torch.equal(a.gain_pos, b.gain_pos) and torch.equal(a.gain_neg, b.gain_neg)   # seeded: reproducible


@pytest.mark.parametrize("kw, message", [(dict(bits=0), "bits"), (dict(bits=2.5), "bits"),
                                         (dict(measurement_noise=-0.01), "measurement_noise"),
                                         (dict(dac_range=0), "dac_range"), (dict(iterations=-1), "iterations"),
                                         (dict(reads=0), "reads"), (dict(reads=2.0), "reads"),
                                         (dict(gm_over_id=float("nan")), "gm_over_id"),
                                         (dict(gm_over_id=(25, -1)), "gm_over_id"), (dict(gm_over_id=(1, 2, 3)), "gm_over_id")])
def test_impossible_programming_budgets_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        WeightProgrammer(**kw)


def test_calibration_recovers_a_known_offset_and_discharger_gain():
    c = _sky130_like()
    dev = V.draw(c, 4, 3, torch.Generator().manual_seed(5), scale=0.0)          # a perfect chip ...
    dev.threshold = torch.tensor([8e-3, -5e-3, 0.0, 12e-3], dtype=D)            # ... with known offsets (V)
    dev.factors["dis_I"] = torch.tensor([1.1, 0.9, 1.0, 1.05], dtype=D)         # ... and discharger gains
    trims = [Trim("V_th", bits=7, span="64m"), Trim("dis_I", bits=7, span=0.64)]
    cal, codes = calibrate(ModelBench(c, dev), trims)
    assert torch.allclose(codes[:, 0], torch.tensor([-16.0, 10.0, 0.0, -24.0], dtype=D), atol=1)   # 0.5 mV steps
    assert torch.allclose(torch.exp(codes[:, 1] * 0.005), 1 / dev.factors["dis_I"], rtol=0.006)
    assert torch.allclose(cal.threshold, torch.zeros(4, dtype=D), atol=0.6e-3)
    t = torch.rand(16, 3, generator=torch.Generator().manual_seed(6), dtype=D)
    w = torch.tensor([[0.4, -0.2, 0.3]] * 4, dtype=D)
    nominal = spike_times(c, t, w, method="exact")[0]
    before = (spike_times(c, t, w, method="exact", deviation=dev)[0] - nominal).abs().max()
    after = (spike_times(c, t, w, method="exact", deviation=cal)[0] - nominal).abs().max()
    assert before > 0.02 and after < 2e-3                          # 20 ns off -> within 2 ns


def test_calibration_says_where_a_trim_cannot_reach_and_refuses_what_does_not_fit():
    c = _sky130_like()
    dev = V.draw(c, 3, 2, torch.Generator().manual_seed(7), scale=0.0)
    dev.threshold = torch.tensor([0.0, 30e-3, 0.0], dtype=D)                    # 30 mV: beyond +-20 mV
    with pytest.warns(UserWarning, match="1 of 3 neurons need a trim at the end of its range.*V_th"):
        calibrate(ModelBench(c, dev), [Trim("V_th", bits=6, span="40m")])
    with pytest.raises(ValueError, match="'gate_I' is no parameter"):
        calibrate(ModelBench(c, dev), [Trim("gate_I", bits=4, span=0.5)])
    with pytest.raises(ValueError, match="bits"):
        Trim("V_th", bits=0)
    with pytest.raises(ValueError, match="span"):
        Trim("V_th", bits=4, span=-1)
    with pytest.raises(ValueError, match="at most 3"):
        calibrate(ModelBench(c, dev), [Trim("V_th", bits=4), Trim("dis_I", bits=4, span=0.5), Trim("Cm_C", bits=4, span=0.1),
                           Trim("dis_lam", bits=4, span=0.1)])


def test_programmed_and_calibrated_chips_in_monte_carlo_beat_the_chip_as_drawn():
    c = _sky130_like()
    torch.manual_seed(0)
    net = models.mlp((12, 10, 3), circuit=c, method="exact", sigma_spike=0.0).double().eval()
    x = torch.rand(64, 12, dtype=D)
    target = net(x)

    def rmse(n):      # a chip's output spike-time error against the nominal network (normalised)
        return -((n(x) - target) ** 2).mean().sqrt().item()

    p = WeightProgrammer(bits=8, dac_range="0.12", measurement_noise=0.01, iterations=3)
    trims = [Trim("V_th", bits=6, span="60m"), Trim("dis_I", bits=6, span=0.8)]
    drawn = models.monte_carlo(net, rmse, chips=4, seed=1)
    used = models.monte_carlo(net, rmse, chips=4, seed=1,
                              per_chip=lambda chip: models.calibrate_chip(net, models.program_chip(chip, p), trims))
    again = models.monte_carlo(net, rmse, chips=4, seed=1,
                               per_chip=lambda chip: models.calibrate_chip(net, models.program_chip(chip, p), trims))
    assert used["accuracies"] == again["accuracies"]               # seeded: the same chips, programmed alike
    assert -used["mean"] < 0.25 * -drawn["mean"], (drawn, used)      # the errors shrink at least four-fold
    assert all(l.deviation is None for l in net.spiking_layers)


def test_training_on_a_pool_of_prepared_chips_takes_one_of_them_per_pass():
    c = _sky130_like()
    torch.manual_seed(0)
    net = models.mlp((6, 5, 3), circuit=c, method="exact", sigma_spike=0.0).double()
    p = WeightProgrammer()
    pool = [models.program_chip(models.draw_chip(net, seed=s), p) for s in range(3)]
    net.train().train_on_chips(1.0, chips=pool)
    x = torch.rand(4, 6, dtype=D)
    seen = set()
    for _ in range(30):
        net(x)
        seen.add(next(i for i, ch in enumerate(pool) if net.spiking_layers[0].deviation is ch.deviations[0]))
    assert seen == {0, 1, 2}
    assert net.eval().spiking_layers[0].deviation is None
    with pytest.raises(ValueError, match="non-empty list of chips"):
        net.train_on_chips(1.0, chips=[])
    with pytest.raises(ValueError, match="2 spiking layers"):
        net.train_on_chips(1.0, chips=[models.Chip(pool[0].deviations[:1])])
