"""paper_repro: a trained MLP's layers in ngspice (experiment spice-layer): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import nominal_run, quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    nominal = nominal_run(tmp_path, fmnist_dir)          # its nominal network: a finished fmnist-mlp run
    res = quick_mode("spice-layer", tmp_path, "--data", fmnist_dir, *nominal)
    # one image, a width-0.25 MLP (fan-in 100): SPICE and the realised model agree
    out, first = res["output_layer"], res["first_layer"]
    assert out["images"] == 1 and out["class_agreement"] == 1.0 and out["rmse_ns"] < 1.5
    assert first["fan_in"] == 784 and first["firing_agreement"] == 1.0   # a first-layer neuron too
    assert first["rmse_ns"] is None or first["rmse_ns"] < 2.0
