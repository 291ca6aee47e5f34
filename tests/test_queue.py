"""The key queue: FIFO over wrap-around, whole in ``state_dict``, exact after a resume."""

from __future__ import annotations

from collections import deque

import pytest
import torch

from benchmark.modules import KeyQueue


def batches(count: int, size: int, dim: int = 2, start: int = 0) -> list[torch.Tensor]:
    """Keys whose first coordinate is their global index (start, start + 1, ...)."""
    out = []
    for b in range(count):
        ids = torch.arange(start + b * size, start + (b + 1) * size, dtype=torch.float32)
        out.append(torch.stack([ids, -ids], dim=1)[:, :dim])
    return out


def reference_after(queue_size: int, initial: torch.Tensor, keys: list[torch.Tensor]) -> torch.Tensor:
    """What a FIFO of ``queue_size`` holds, oldest first, after these enqueues."""
    fifo = deque(initial, maxlen=queue_size)
    for batch in keys:
        fifo.extend(batch)
    return torch.stack(list(fifo))


@pytest.mark.parametrize("queue_size,batch", [(7, 3), (6, 3), (5, 5), (4, 9), (9, 1)])
def test_enqueue_is_fifo_over_wrap_around(queue_size: int, batch: int) -> None:
    torch.manual_seed(0)
    queue = KeyQueue(queue_size, 2)
    initial = queue.ordered().clone()
    assert torch.allclose(initial.norm(dim=1), torch.ones(queue_size))  # random unit keys
    pushed: list[torch.Tensor] = []
    for keys in batches(5, batch):
        queue.enqueue(keys)
        pushed.append(keys)
        assert torch.equal(queue.ordered(), reference_after(queue_size, initial, pushed))
        assert int(queue.ptr) == (sum(len(k) for k in pushed)) % queue_size
    # the newest keys are last and every slot holds a key enqueued once
    assert torch.equal(queue.ordered()[-1], pushed[-1][-1])


def test_queue_is_in_state_dict_and_resumes_exactly() -> None:
    torch.manual_seed(1)
    straight = KeyQueue(10, 2)
    torch.manual_seed(1)
    first = KeyQueue(10, 2)
    keys = batches(7, 4)
    for k in keys:
        straight.enqueue(k)
    for k in keys[:3]:
        first.enqueue(k)
    state = first.state_dict()
    assert set(state) == {"keys", "ptr"}
    torch.manual_seed(99)  # another initialisation: the state replaces it
    resumed = KeyQueue(10, 2)
    resumed.load_state_dict({k: v.clone() for k, v in state.items()})
    for k in keys[3:]:
        resumed.enqueue(k)
    assert torch.equal(resumed.keys, straight.keys) and torch.equal(resumed.ptr, straight.ptr)


def test_enqueue_detaches_and_keeps_the_buffer() -> None:
    queue = KeyQueue(4, 3)
    buffer = queue.keys
    keys = torch.rand(2, 3, requires_grad=True)
    queue.enqueue(keys * 2)
    assert queue.keys is buffer and not queue.keys.requires_grad
    assert torch.equal(queue.ordered()[-2:], (keys * 2).detach())


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        KeyQueue(0, 4)
