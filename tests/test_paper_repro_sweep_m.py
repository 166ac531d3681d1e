"""paper_repro: accuracy vs DSTD steps M (experiment sweep-m): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    res = quick_mode("sweep-m", tmp_path, "--data", fmnist_dir)
    assert set(res["accuracy"]) == {"random", "fixed"}
    assert all(list(v) == ["1", "2", "4", "10", "30"] for v in res["accuracy"].values())
