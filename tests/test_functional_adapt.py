"""The vectorised and threaded inner loops (``benchmark.methods.functional_adapt``) against the
sequential learn2learn clone/adapt path: the same meta-loss, meta-gradient and batch-norm
running statistics over a meta-batch, in float64, first and second order, 1 and 5 inner steps,
on one worker thread or several."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
import torch

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods import adaptation, build_method
from benchmark.methods.functional_adapt import resolve_inner_loop
from test_maml import LR, reference_outer_loss

SHAPE = (1, 16, 16)
META_BATCH = 4

pytestmark = pytest.mark.usefixtures("one_thread")


def episodes(dtype: torch.dtype, device: str = "cpu", ways: int = 5, shots: int = 1,
             queries: int = 2) -> list[Episode]:
    """A meta-batch of noisy class-template episodes, class-major, a pure function of the seeds."""
    templates = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(99))
    batch = []
    for seed in range(META_BATCH):
        g = torch.Generator().manual_seed(seed)
        class_ids = torch.randperm(8, generator=g)[:ways]
        drawn = []
        for per_class in (shots, queries):
            labels = torch.arange(ways).repeat_interleave(per_class)
            noise = 0.3 * torch.rand(len(labels), *SHAPE, generator=g)
            drawn += [(0.7 * templates[class_ids[labels]] + noise).clamp(0, 1).to(device, dtype),
                      labels.to(device)]
        batch.append(Episode(*drawn, class_ids, ways, shots, queries, "labels", seed, offers=frozenset({"classes"})))
    return batch


def meta_step(name: str, inner_loop: str, dtype: torch.dtype, device: str = "cpu",
              **params) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """``forward_batch`` outputs, the flat meta-gradient and the flat buffers after it."""
    torch.manual_seed(0)
    method = build_method(name, "conv4", SHAPE, ways=5, inner_lr=LR, inner_loop=inner_loop,
                          **params).to(device, dtype).train()
    out = method.forward_batch(episodes(dtype, device))
    out["loss"].backward()
    gradient = torch.cat([p.grad.flatten() for p in method.parameters()])
    buffers = torch.cat([b.double().flatten() for b in method.buffers()])
    return out, gradient, buffers


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@contextmanager
def threads(count: int) -> Iterator[None]:
    """``count`` torch threads (the threaded path's workers) inside, the count before after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["maml", "anil"])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("path, workers", [("vectorised", 1), ("threaded", 1), ("threaded", 3)])
def test_the_meta_gradient_of_every_path_equals_sequential(name: str, first_order: bool,
                                                           steps: int, path: str,
                                                           workers: int) -> None:
    params = dict(first_order=first_order, inner_steps=steps)
    ref_out, ref_grad, ref_buffers = meta_step(name, "sequential", torch.float64, **params)
    with threads(workers):  # 3 workers: shares of 2, 1 and 1 episodes
        out, grad, buffers = meta_step(name, path, torch.float64, **params)
        assert torch.get_num_threads() == workers  # given back after the step
    assert relative(grad, ref_grad) < 1e-6
    assert relative(buffers, ref_buffers) < 1e-6  # running statistics and counters alike
    for key in ("loss", "acc", "embedding_std"):
        assert torch.allclose(out[key], ref_out[key], rtol=1e-9, atol=1e-12), key
    assert float(ref_grad.norm()) > 0


def test_sequential_forward_batch_is_the_mean_of_forward() -> None:
    torch.manual_seed(0)
    method = build_method("maml", "conv4", SHAPE, ways=5).train()
    batch = episodes(torch.float32)
    state = {k: v.clone() for k, v in method.state_dict().items()}
    mean = torch.stack([method(e)["loss"] for e in batch]).mean()
    method.load_state_dict(state)
    assert torch.allclose(method.forward_batch(batch)["loss"], mean, rtol=1e-6)


def test_threaded_is_deterministic_bit_for_bit() -> None:
    """Shares of fixed episodes, sums in a fixed order: however the workers interleave."""
    with threads(2):
        runs = [meta_step("maml", "threaded", torch.float32) for _ in range(3)]
    for out, grad, buffers in runs[1:]:
        assert torch.equal(grad, runs[0][1]) and torch.equal(buffers, runs[0][2])
        assert torch.equal(out["loss"], runs[0][0]["loss"])


def test_threaded_under_autocast_computes_in_bfloat16_on_every_worker() -> None:
    """Autocast is per thread: the workers enter the caller's."""
    torch.manual_seed(0)
    method = build_method("maml", "conv4", SHAPE, ways=5, inner_loop="threaded").train()
    batch = episodes(torch.float32)
    with threads(2):
        plain = method.forward_batch(batch)["loss"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast = method.forward_batch(batch)["loss"]
    assert 0 < abs(float((cast - plain).detach())) < 0.05 * float(plain.detach())


def test_inner_loop_setting() -> None:
    assert resolve_inner_loop("auto", torch.device("cuda")) == "vectorised"
    assert resolve_inner_loop("sequential", torch.device("cuda")) == "sequential"
    assert resolve_inner_loop("auto", torch.device("cpu")) in ("sequential", "vectorised")
    with pytest.raises(BenchmarkError, match="threaded runs on the CPU"):
        resolve_inner_loop("threaded", torch.device("cuda"))
    with pytest.raises(BenchmarkError, match="inner_loop must be one of"):
        build_method("maml", "conv4", SHAPE, inner_loop="parallel")


@pytest.mark.parametrize("seconds, chosen", [
    ({"sequential": 1.0, "vectorised": 0.5, "threaded": 0.6}, "vectorised"),
    ({"sequential": 1.0, "vectorised": 0.9, "threaded": 0.6}, "threaded"),
    ({"sequential": 1.0, "vectorised": 0.99, "threaded": 0.98}, "sequential"),  # < MIN_SPEEDUP
    ({"sequential": 0.5, "vectorised": 1.0, "threaded": 0.7}, "sequential"),
])
def test_auto_keeps_the_path_the_probe_finds_faster(monkeypatch: pytest.MonkeyPatch,
                                                    seconds: dict, chosen: str) -> None:
    timed = []

    def fake_best_seconds(step, device, repeats):
        step()  # the probe's step runs on the copy of the method it was given
        timed.append(len(timed))
        return seconds[list(seconds)[len(timed) - 1]]

    monkeypatch.setattr(adaptation, "best_seconds", fake_best_seconds)
    method = build_method("maml", "conv4", SHAPE, ways=5, inner_loop="auto").train()
    batch = episodes(torch.float32)
    said = method.resolve_auto(lambda: batch, "float32")
    assert len(timed) == 3  # every path the CPU runs
    assert method.chosen_inner_loop == chosen and said.startswith(f"inner loop {chosen} (auto:")
    assert method.inner_path(batch) == chosen


@pytest.mark.parametrize("inner_loop", ["sequential", "vectorised", "threaded"])
def test_only_auto_is_probed(inner_loop: str) -> None:
    method = build_method("anil", "conv4", SHAPE, ways=5, inner_loop=inner_loop)
    assert method.resolve_auto(lambda: pytest.fail("drew episodes"), "float32") == ""
    assert method.inner_path(episodes(torch.float32)) == inner_loop


def test_the_probe_leaves_the_method_and_the_generators_as_they_were() -> None:
    torch.manual_seed(0)
    method = build_method("maml", "conv4", SHAPE, ways=5, inner_loop="auto").train()
    state = {k: v.clone() for k, v in method.state_dict().items()}
    generator = torch.get_rng_state()
    said = method.resolve_auto(lambda: episodes(torch.float32), "float32")
    assert method.chosen_inner_loop in ("sequential", "vectorised", "threaded")
    assert "x the sequential" in said
    assert torch.equal(torch.get_rng_state(), generator)
    assert all(torch.equal(v, state[k]) for k, v in method.state_dict().items())
    assert all(p.grad is None for p in method.parameters())


def test_vectorised_refuses_mixed_shapes() -> None:
    torch.manual_seed(0)
    method = build_method("anil", "conv4", SHAPE, ways=5, inner_loop="vectorised").train()
    mixed = episodes(torch.float32)[:1] + episodes(torch.float32, ways=3)[:1]
    with pytest.raises(BenchmarkError, match="episodes of one shape"):
        method.forward_batch(mixed)


@pytest.mark.cuda
@pytest.mark.parametrize("first_order", [False, True])
def test_vectorised_equals_a_plain_autograd_loop_on_cuda(first_order: bool) -> None:
    """On CUDA, against ``reference_outer_loss`` (a ``torch.autograd`` inner loop, no
    learn2learn: the GPU machine may not have it), per episode, averaged."""
    steps = 2
    _, grad, _ = meta_step("maml", "vectorised", torch.float64, "cuda", first_order=first_order,
                           inner_steps=steps)
    torch.manual_seed(0)
    method = build_method("maml", "conv4", SHAPE, ways=5, inner_lr=LR,
                          first_order=first_order).to("cuda", torch.float64).train()
    batch = episodes(torch.float64, "cuda")
    torch.stack([reference_outer_loss(method, e, steps, first_order)[0] for e in batch]).mean().backward()
    ref_grad = torch.cat([p.grad.flatten() for p in method.parameters()])
    assert relative(grad, ref_grad) < 1e-6
