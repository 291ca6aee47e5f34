"""Shared fixtures."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Every test runs on one torch thread: the suite's tiny models run fastest, and steadiest
    on a shared CPU, on one (a second thread mostly spins: a tiny run took 2-4x the CPU time
    on two threads of a loaded 2-core machine), and results compared across processes match
    those of worker processes started with ``OMP_NUM_THREADS=1``. Tests that depend on it
    also name it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
