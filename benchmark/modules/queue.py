"""A FIFO queue of past keys (MoCo's dictionary), kept as buffers so it is in ``state_dict``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyQueue(nn.Module):
    """``size`` unit-norm keys of dimension ``dim``, the oldest overwritten first.

    The keys and the write position are buffers: a checkpoint holds the queue and a resumed
    run continues it exactly. The queue starts full of random unit vectors (drawn from the
    torch RNG at construction, as MoCo does), so every slot is a valid negative from step 1.
    ``enqueue`` is the only writer: a distributed run gathers the keys of every rank there.

    Attributes:
        keys: ``[size, dim]`` buffer, in slot order (see ``ordered`` for age order).
        ptr: 0-d int64 buffer, the slot the next key goes to.
    """

    keys: torch.Tensor
    ptr: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"KeyQueue needs size >= 1 and dim >= 1, got {size}, {dim}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        """The number of slots."""
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (``[B, dim]``, oldest first) over the oldest slots, wrapping around the
        end. With ``B > size`` only the newest ``size`` keys are kept."""
        keys = keys.detach().to(self.keys.dtype)
        if keys.shape[0] > self.size:
            start = int(self.ptr) + keys.shape[0] - self.size
            keys = keys[-self.size:]
            self.ptr.fill_(start % self.size)
        slots = (int(self.ptr) + torch.arange(keys.shape[0], device=self.keys.device)) % self.size
        self.keys[slots] = keys
        self.ptr.fill_((int(self.ptr) + keys.shape[0]) % self.size)

    def ordered(self) -> torch.Tensor:
        """The keys oldest first (the next to be overwritten first). Shape ``[size, dim]``."""
        return torch.roll(self.keys, -int(self.ptr), dims=0)
