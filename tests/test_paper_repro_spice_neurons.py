"""paper_repro: the realised model against ngspice on random neurons (experiment spice-neurons): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path):
    res = quick_mode("spice-neurons", tmp_path)
    # the realised model against ngspice: the bounds, on fewer neurons
    assert res["rmse_ns"]["4"] < 1.0 and res["rmse_ns"]["16"] < 1.0 and abs(res["mean_ns"]["16"]) < 0.75
    row = res["per_fan_in"][1]["variants"]       # fan-in 16: the new effects matter already
    assert row["model"]["rmse_ns"] < row["before"]["rmse_ns"]
