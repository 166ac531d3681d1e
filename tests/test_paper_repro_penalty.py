"""paper_repro: where the temporal penalty acts (experiment penalty): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    res = quick_mode("penalty", tmp_path, "--data", fmnist_dir)
    runs = {"clipped_circuit", "unclipped_circuit", "clipped_E100", "unclipped_E100"}
    assert set(res["accuracy"]) == set(res["silent_outputs"]) == runs
    assert all(0.0 <= f <= 1.0 for f in res["silent_outputs"].values())
