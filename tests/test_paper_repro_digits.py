"""paper_repro: scikit-learn's digits (experiment digits) and its layers as spice-neurons' "digits" regime."""
import pytest
import torch

from paper_repro.data import load_digits
from paper_repro_support import quick_mode


def test_the_split_is_fixed_disjoint_and_scaled():
    a, b = load_digits(), load_digits()
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (1197, 300, 300)
    assert a.x_train.shape == (1197, 1, 8, 8) and a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_val, b.y_val)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    rows = lambda x: {tuple(r) for r in x.flatten(1).tolist()}
    assert not rows(a.x_test) & rows(a.x_val)            # no image in two sets (the data set has no duplicates)
    assert set(a.y_test.tolist()) == set(range(10))


@pytest.mark.slow
def test_quick_mode_and_the_digits_regime_of_spice_neurons(tmp_path):
    run = tmp_path / "digits"
    res = quick_mode("digits", run)
    assert res["config"]["hidden"] == [100] and res["parameters"] == 64 * 100 + 100 * 10
    assert res["train_samples"] == 128 and res["val_samples"] == 300
    sn = quick_mode("spice-neurons", tmp_path / "sn", "--digits", str(run))
    rows = sn["per_regime"]["digits"]
    assert [r["fan_in"] for r in rows] == [64, 100] and [r["neurons"] for r in rows] == [3, 2]
    assert "digits" in sn["summary"] and "trained" not in sn["per_regime"]
    with pytest.raises(SystemExit, match="holds no finished run|no results.json"):
        quick_mode("spice-neurons", tmp_path / "sn2", "--digits", str(tmp_path / "nothing"))
    other = tmp_path / "yy"
    quick_mode("yin-yang", other)                    # a finished MLP run, but of 5 inputs
    with pytest.raises(SystemExit, match="is not a digits MLP run"):
        quick_mode("spice-neurons", tmp_path / "sn3", "--digits", str(other))
