"""paper_repro: accuracy vs |E| (experiment sweep-e): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    res = quick_mode("sweep-e", tmp_path, "--data", fmnist_dir)
    assert set(res["accuracy"]) == {"pnn", "ann", "scaled_ann"}
    assert list(res["ann_scale"]) == ["1", "2", "4", "7.4", "100"]
    assert res["ann_scale"]["100"] == pytest.approx(1.0)          # the ANN needs no scaling on itself
    assert all(0.5 <= s <= 5.0 for s in res["ann_scale"].values())
    assert all(abs(100 * s - round(100 * s)) < 1e-6 for s in res["ann_scale"].values())   # 1 % grid
