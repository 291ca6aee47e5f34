"""The command line's malloc settings: a freed large block is re-used, not faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from benchmark.memory import keep_freed_memory

ALLOCATE_AND_FREE = """
import resource, sys
import numpy as np
from benchmark.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
np.ones(16 << 20, dtype=np.float32)  # 64 MiB through malloc, once to warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(16 << 20, dtype=np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE, mode], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_blocks_are_reused_without_page_faults():
    default, kept = page_faults("default"), page_faults("keep")
    assert default >= 100, "ten fresh 64 MiB blocks should fault their pages in"
    assert kept * 10 < default


def test_is_a_no_op_elsewhere(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("musl", "1.2"))
    assert keep_freed_memory() is False
