"""paper_repro: the realised model against ngspice on random neurons (experiment spice-neurons): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import nominal_run, quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    nominal = nominal_run(tmp_path, fmnist_dir)          # the trained regime's network: a finished fmnist-mlp run
    res = quick_mode("spice-neurons", tmp_path, "--data", fmnist_dir, *nominal)
    # the realised model against ngspice: the bounds, on fewer neurons
    assert res["rmse_ns"]["4"] < 1.0 and res["rmse_ns"]["16"] < 1.0 and abs(res["mean_ns"]["16"]) < 0.75
    row = res["per_fan_in"][1]["variants"]       # fan-in 16: the new effects matter already
    assert row["model"]["rmse_ns"] < row["before"]["rmse_ns"]
    # mixed-sign gaussian neurons: the devices' curvature (ode, its own netlist) within a nanosecond
    curved = res["per_regime"]["gaussian"][0]["variants"]["with curvature (ode)"]
    assert curved["n"] >= 1 and curved["rmse_ns"] < 1.0
    # the trained regime: layers 1 and 2 of the width-0.25 MLP (fan-in 784, 100), 2 neurons on 1 image each
    trained = res["per_regime"]["trained"]
    assert [r["fan_in"] for r in trained] == [784, 100] and all(r["neurons"] == 2 for r in trained)
    for r in trained:
        e = r["variants"]["with curvature (ode)"]
        assert e["n"] == 0 or e["rmse_ns"] < 3.0
