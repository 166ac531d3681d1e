"""paper_repro: CIFAR-10 (experiment cifar10): --quick mode on synthetic batches in the real pickle format.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, cifar_dir):
    quick_mode("cifar10", tmp_path, "--data", cifar_dir)
