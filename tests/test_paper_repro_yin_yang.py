"""paper_repro: the Yin-Yang data set, generated from its published definition, and the yin-yang experiment.

The golden values (class counts, first and last points, first labels) are those of the reference
generator (lkriener/yin_yang_data_set, dataset.py) for the three published seeds; its published test
set (publication_data/test_samples.npy, seed 40) equals its generator's output."""
import math

import numpy as np
import pytest
import torch

from paper_repro.data import load_yin_yang, yin_yang, yin_yang_class
from paper_repro_support import quick_mode

GOLDEN = {  # seed: (size, class counts, first (x, y), last (x, y), first 8 labels)
    42: (5000, [1681, 1702, 1617], (0.6803075385877797, 0.450499251969543), (0.7690797231107925, 0.5883389337522971),
         [2, 1, 2, 1, 1, 1, 0, 2]),
    41: (1000, [316, 336, 348], (0.6805727261759029, 0.3209733938933629), (0.7107040957004825, 0.804733352731108),
         [0, 1, 0, 0, 2, 1, 1, 1]),
    40: (1000, [350, 316, 334], (0.23409664559563403, 0.4017249751828972), (0.32834060537145815, 0.3899830419619741),
         [2, 2, 1, 1, 1, 2, 2, 0]),
}


@pytest.mark.parametrize("seed", sorted(GOLDEN))
def test_the_generator_reproduces_the_published_sets(seed):
    n, counts, first, last, labels = GOLDEN[seed]
    x, y = yin_yang(n, seed)
    assert x.shape == (n, 4) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert np.bincount(y.numpy()).tolist() == counts
    assert tuple(x[0, :2].tolist()) == first and tuple(x[-1, :2].tolist()) == last
    assert y[:8].tolist() == labels
    assert torch.equal(x[:, 2:], 1 - x[:, :2])                                   # mirrored inputs
    r = ((x[:, 0] - 0.5) ** 2 + (x[:, 1] - 0.5) ** 2).sqrt()
    assert (r <= 0.5).all()                                                      # inside the big circle
    assert all(yin_yang_class(a, b) == c for (a, b), c in zip(x[:, :2].tolist(), y.tolist()))


def test_the_class_rule_on_known_points():
    """2 in a dot; 1 within 0.25 of the left dot's centre (outside the dot) or above the centre line
    farther than 0.25 from the right dot's centre; else 0."""
    assert yin_yang_class(0.75, 0.5) == 2 and yin_yang_class(0.25, 0.5) == 2        # the dots
    assert yin_yang_class(0.25, 0.65) == 1 and yin_yang_class(0.05, 0.45) == 1     # around the left dot
    assert yin_yang_class(0.75, 0.65) == 0 and yin_yang_class(0.95, 0.55) == 0     # around the right dot
    assert yin_yang_class(0.5, 0.95) == 1 and yin_yang_class(0.5, 0.05) == 0       # top, bottom


def test_a_smaller_set_is_the_start_of_the_published_one():
    a, la = yin_yang(50, 42)
    b, lb = yin_yang(5000, 42)
    assert torch.equal(a, b[:50]) and torch.equal(la, lb[:50])


def test_the_split_adds_a_bias_input_and_keeps_the_validation_set():
    s = load_yin_yang(train=20, test=10)
    assert s.x_train.shape == (20, 1, 1, 5) and s.x_test.shape == (10, 1, 1, 5) and s.x_val.shape == (1000, 1, 1, 5)
    assert (s.x_train[..., 4] == 1).all() and s.x_train.dtype == torch.float32
    assert torch.equal(s.y_val, yin_yang(1000, 41)[1])


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path):
    res = quick_mode("yin-yang", tmp_path)
    assert res["config"]["hidden"] == [120] and res["config"]["classes"] == 3
    assert res["train_samples"] == 256 and res["test_samples"] == 128 and res["val_samples"] == 1000
    assert res["parameters"] == 5 * 120 + 120 * 3
    assert not math.isnan(res["test_accuracy"])


def test_input_times_spread_the_coding_over_the_declared_span_and_stay_in_the_circuits_window():
    """--input-times EARLY LATE: t = EARLY + (LATE - EARLY) (1 - x), the bias (x = 1) at EARLY; the default is
    models.encode's t = 1 - x; a span past the circuit's input window is refused by name."""
    import argparse

    from paper_repro import yin_yang
    from paper_repro.classify_config import configure
    from paper_repro.classify_net import inputs
    x = load_yin_yang(train=8, test=2).x_train
    args = lambda **kw: argparse.Namespace(circuit="circuitnet.circuits:lif_current_synapse", **kw)
    cfg = configure(args(input_times=[0.15, 2.0]), yin_yang.DEFAULTS)
    t, t0 = inputs(cfg, x), inputs(configure(args(), yin_yang.DEFAULTS), x)
    assert torch.allclose(t0, 1 - x.flatten(1)) and torch.allclose(t, 0.15 + 1.85 * t0)
    assert torch.allclose(t[:, 4], torch.full((8,), 0.15)) and float(t.max()) <= 2.0
    with pytest.raises(ValueError, match="--input-times 0.15 5: need 0 <= EARLY < LATE <= 4"):
        configure(args(input_times=[0.15, 5.0]), yin_yang.DEFAULTS)
    with pytest.raises(ValueError, match=r"LATE <= 1, the circuit's input window"):
        configure(argparse.Namespace(input_times=[0.0, 2.0]), yin_yang.DEFAULTS)     # the paper's RC-Spike
