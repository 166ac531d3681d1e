"""Test-wide settings."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The solvers issue many small tensor ops: intra-op threads only add synchronisation (on a
    shared 2-core machine, long waits). Benchmarks measure speed; tests run single-threaded."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
