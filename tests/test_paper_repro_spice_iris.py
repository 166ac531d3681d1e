"""paper_repro: the Iris networks in ngspice (experiment spice-iris): --quick mode.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path):
    quick_mode("spice-iris", tmp_path)
