"""Process memory settings for the command line: keep freed heap memory for re-use.

glibc's malloc hands out blocks above a threshold (128 KiB, rising to at most 32 MiB) as fresh
``mmap`` pages and returns them to the kernel on ``free``. A training step's activations and
gradients are tens of MiB each, so every step touches new pages: 40,000-50,000 page faults
per SimCLR step (batch 128, Conv-4, 28x28) on the 2-core reference machine, where the step
took 386 ms with them and 272 ms with these settings. The command line asks malloc to serve blocks up to 1 GiB from its heap and to keep what
is freed, which the next step re-uses; the process keeps its peak memory instead of giving it
back between steps. It is what jemalloc or tcmalloc (PyTorch's CPU tuning advice) would do,
without an ``LD_PRELOAD``. Numbers are unchanged; only where memory comes from.
"""

from __future__ import annotations

import ctypes
import platform

#: ``mallopt`` parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap
HEAP_BLOCKS_UP_TO = 1 << 30
#: free memory at the top of the heap kept rather than returned (mallopt takes a C int)
KEEP_FREE_UP_TO = (1 << 31) - 1


def keep_freed_memory() -> bool:
    """Set the two ``mallopt`` thresholds for this process (and the workers it forks).

    Returns whether they were set: False, changing nothing, where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREE_UP_TO))
