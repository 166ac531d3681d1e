"""paper_repro: Iris on sky130 Monte-Carlo chips in ngspice (experiment spice-chips): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path):
    res = quick_mode("spice-chips", tmp_path)
    # one programmed and trimmed chip: its model predicts ngspice on it
    (chip,) = res["chips"]
    assert chip["sample_difference"] <= 1 and chip["rmse_ns"] < 3.0 and chip["class_agreement"] >= 0.5
