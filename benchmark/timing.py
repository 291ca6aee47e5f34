"""Timing a step to choose between settings that compute the same thing at different speeds
(the ``auto`` of ``trainer.precision`` and of MAML/ANIL's ``inner_loop``)."""

from __future__ import annotations

import time
from typing import Callable

import torch


def best_seconds(step: Callable[[], object], device: torch.device, repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``step`` after one warm-up call (on CUDA,
    each timing waits for the device)."""
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best
