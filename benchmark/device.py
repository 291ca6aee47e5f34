"""Device resolution: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` → a ``torch.device``.

The one rule for every part of the suite (specs, trainer, evaluator, samplers). Only CPU and
CUDA are supported: the suite's results are checked on those two; ``mps`` (and any other
torch device type) is refused as an unknown device.
"""

from __future__ import annotations

import torch

from benchmark.errors import BenchmarkError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The device named by ``name`` (a string or a ``torch.device``); ``auto`` (or ``None``)
    picks CUDA when available.

    Raises:
        BenchmarkError: an unknown name, or CUDA asked for where there is none.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise BenchmarkError(f"device {name!r} asked for, but CUDA is not available here")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise BenchmarkError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchmarkError(
                f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return device
    raise BenchmarkError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)")
