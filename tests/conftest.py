"""Test-wide settings, and the datasets of the paper_repro tests (tests/test_paper_repro_*.py)."""
import os

import pytest
import torch

pytest.register_assert_rewrite("paper_repro_support")     # its checks report like a test's own asserts


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The solvers issue many small tensor ops: intra-op threads only add synchronisation (on a
    shared 2-core machine, long waits). Benchmarks measure speed; tests run single-threaded."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory):
    """Fashion-MNIST: the installed dataset (dataset-fashion-mnist), else a small learnable synthetic set
    in the real idx format."""
    from paper_repro import data as D
    from paper_repro_support import write_fashion_mnist
    real = D.FASHION_MNIST_DIR
    if all(os.path.exists(os.path.join(real, n + ".gz")) for n in D.FASHION_MNIST_FILES.values()):
        return real
    root = tmp_path_factory.mktemp("fmnist")
    write_fashion_mnist(str(root), n_train=600, n_test=300)
    return str(root)


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """CIFAR-10: small synthetic batches in the real pickle format."""
    from paper_repro_support import write_cifar10
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(str(root))
    return str(root)
