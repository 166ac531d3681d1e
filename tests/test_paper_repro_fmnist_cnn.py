"""paper_repro: the Fashion-MNIST VGG7 (experiment fmnist-cnn): --quick mode, --device cuda without a GPU.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest
import torch

from paper_repro.__main__ import main
from paper_repro_support import quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    quick_mode("fmnist-cnn", tmp_path, "--data", fmnist_dir)


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path, fmnist_dir):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["fmnist-cnn", "--quick", "--device", "cuda", "--out", str(tmp_path), "--data", fmnist_dir])
