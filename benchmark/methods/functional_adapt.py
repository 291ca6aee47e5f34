"""Vectorised and threaded inner loops: the meta-loss of MAML, first-order MAML and ANIL over a
meta-batch of episodes as one batched computation (``torch.func``: ``functional_call``, ``grad``,
``vmap``), or spread over the CPU's cores, a share of the episodes on each (``threaded``).

Threaded: the process's torch threads (``torch.get_num_threads()``) become as many workers, each
running its contiguous share of the meta-batch's episodes with one intra-op thread, each episode
a plain autograd inner loop on the worker's own copy of the network's modules (the parameters
are the module's own tensors, passed by ``functional_call``: the copies hold none of the
state that is trained), its outer gradient taken at once (``torch.autograd.grad``); the
gradients are summed in episode order and the returned loss carries their mean to the
parameters (``_Precomputed``), so the trainer's ``backward`` is unchanged. Batch norm is
PyTorch's own kernel (``F.batch_norm`` with its batch statistics, no running statistics
touched inside a worker), its statistics recorded and applied to the running statistics after
the step, in episode order (``_advance_running_stats``), as on the vectorised path. On a small
network and a CPU, tasks on separate cores beat splitting each tiny convolution across them
(``results/perf_maml.md``); the sums are in a fixed order, so a run is as deterministic as the
sequential one, and a worker holds one episode's graph at a time instead of the meta-batch's.

The reference is the sequential path (a learn2learn clone per episode, ``adaptation.inner_loop``);
this one computes the same loss, the same outer gradient and the same batch-norm running
statistics, in one ``vmap`` over the episodes:

- every episode's inner loop runs on its own copy of the fast weights (``torch.func.grad`` of
  the support's cross-entropy; its result is detached for first order, kept in the graph for
  second order, exactly as learn2learn's ``adapt(first_order=...)`` does);
- batch norm normalises each forward with that forward's own batch statistics (train mode, as
  the clone does), computed here with plain tensor operations (``_Recorder.forward``), and the
  running statistics are then advanced as the sequential path advances them: one momentum
  update per forward, episode after episode (``_advance_running_stats``);
- the outer loss is an ordinary autograd graph to the module's parameters: the trainer calls
  ``backward`` on it as on the sequential path's.

Why a quick ``vmap`` sketch disagreed with learn2learn by 1e-3 relative in float64: PyTorch's
own batch norm (``F.batch_norm`` in train mode, the batching rule ``vmap`` uses for it) gives
wrong second derivatives under ``vmap``: the first-order gradients agree to 1e-15, the
second-order meta-gradient of a Conv-4 does not (5e-3 relative here at 1 inner step, 3e-2 at 5,
in float64, torch 2.14; ANIL and first-order MAML, which never differentiate twice through batch
norm, agree). Central finite differences of the meta-loss side with learn2learn's clone/adapt
(agreement to 1e-8 on a batch-norm weight, where the ``vmap`` gradient is 2% off), and without
``vmap`` the same ``torch.func.grad`` code agrees to the last digit. Batch norm written as
plain tensor operations, as here, agrees to ~1e-13 (``tests/test_functional_adapt.py``). Not
the cause: running statistics (train mode never reads them; both paths here update them
identically), the inner learning rate or a float32 leftover (the first-order gradients, which
would show either, agree to 1e-15).
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError

#: ``inner_loop`` settings of MAML and ANIL: learn2learn's clone/adapt per episode (the
#: reference, the default), this module's batched computation, its episodes spread over the
#: CPU's cores, or ``auto``.
INNER_LOOPS = ("sequential", "vectorised", "threaded", "auto")
#: The paths ``auto`` chooses between on a device type (``threaded`` runs on the CPU only).
PATHS_ON = {"cuda": ("sequential", "vectorised"), "cpu": ("sequential", "vectorised", "threaded")}

#: What ``auto`` is before a probe has chosen (``InnerLoopMethod.resolve_auto``, which the
#: trainer runs before a run's first step, times the paths and keeps the fastest): on CUDA,
#: where hundreds of tiny kernels per episode are the cost, ``vectorised``; on a CPU the
#: reference path, since there neither wins everywhere (2 threads, meta-batch 32, 5w1s:
#: vectorised 1.27x sequential on an Intel Xeon with AMX, 0.8x on a contended AMD EPYC at one
#: thread; 20w1s meta-batch 16: 0.97x; ``results/perf_maml.md``).
AUTO_ON_CPU = "sequential"

Params = dict[str, torch.Tensor]


def check_inner_loop(method: str, inner_loop: str) -> None:
    """BenchmarkError unless ``inner_loop`` is one of ``INNER_LOOPS``."""
    if inner_loop not in INNER_LOOPS:
        raise BenchmarkError(f"method {method!r}: inner_loop must be one of "
                             f"{', '.join(INNER_LOOPS)}, got {inner_loop!r}")


def resolve_inner_loop(inner_loop: str, device: torch.device) -> str:
    """The path of a setting before a probe: ``auto`` is vectorised on CUDA, ``AUTO_ON_CPU``
    elsewhere. BenchmarkError for ``threaded`` off the CPU."""
    if inner_loop == "threaded" and device.type != "cpu":
        raise BenchmarkError(f"inner_loop: threaded runs on the CPU (its episodes on the CPU's "
                             f"cores), not on {device.type}: use sequential, vectorised or auto")
    if inner_loop != "auto":
        return inner_loop
    return "vectorised" if device.type == "cuda" else AUTO_ON_CPU


def _stack(episodes: Sequence[Episode]) -> tuple[torch.Tensor, ...]:
    """Support, support labels, query and query labels of same-shaped episodes, stacked ``[M, ...]``."""
    shapes = {(e.ways, e.shots, e.queries) for e in episodes}
    if len(shapes) != 1:
        raise BenchmarkError(f"a vectorised meta-batch needs episodes of one shape, got {sorted(shapes)}")
    return tuple(torch.stack([getattr(e, key) for e in episodes])
                 for key in ("support", "support_labels", "query", "query_labels"))


class _Recorder:
    """Train-mode batch norm that touches no buffer of the module, and the batch statistics of
    every batch-norm forward in call order (see the module docstring): as plain tensor
    operations (under ``vmap``), or PyTorch's own kernel (``native``: the threaded path, where
    no ``torch.func`` transform is around and the inner loop's gradients are plain autograd)."""

    def __init__(self, norms: list[nn.modules.batchnorm._BatchNorm], native: bool = False) -> None:
        self.norms = norms
        self.native = native
        self.stats: list[torch.Tensor] = []

    def forward(self, norm: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        """Train-mode batch norm of ``x`` ``[B, C, ...]`` by its own batch statistics (biased
        variance), as ``F.batch_norm`` computes it; records the mean and unbiased variance."""
        dims = [0, *range(2, x.dim())]
        if self.native:  # the kernel's own statistics: into fresh buffers, at momentum 1
            dtype = torch.promote_types(x.dtype, torch.float32)  # float32 under bfloat16
            mean = torch.zeros(x.shape[1], device=x.device, dtype=dtype)
            var = torch.ones(x.shape[1], device=x.device, dtype=dtype)
            out = F.batch_norm(x, mean, var, norm.weight, norm.bias, True, 1.0, norm.eps)
            self.stats.append(torch.stack([mean, var]))
            return out
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, unbiased=False, keepdim=True)
        count = x.numel() // x.shape[1]
        self.stats.append(torch.stack([mean.flatten(), var.flatten() * count / max(count - 1, 1)])
                          .detach())
        out = (x - mean) * torch.rsqrt(var + norm.eps)
        shape = [1, -1] + [1] * (x.dim() - 2)
        if norm.weight is not None:
            out = out * norm.weight.view(shape) + norm.bias.view(shape)
        return out

    def take(self, mark: int) -> list[torch.Tensor]:
        """The statistics recorded since ``mark`` (removed from the recorder)."""
        taken = self.stats[mark:]
        del self.stats[mark:]
        return taken


@contextmanager
def _recording(module: nn.Module, native: bool = False) -> Iterator[_Recorder]:
    """The batch-norm layers of ``module`` compute with ``_Recorder.forward`` (no buffer is
    touched inside the transforms or the workers; plain tensor operations unless ``native``,
    whose second derivatives are right under ``vmap``, see the module docstring) until the
    context ends."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        if norm.track_running_stats and norm.momentum is None:
            raise BenchmarkError("a vectorised inner loop needs batch norm with a momentum "
                                 "(momentum=None, a cumulative average, is not supported)")
        if not norm.training:
            raise BenchmarkError("a vectorised inner loop runs in train mode")
    recorder = _Recorder(norms, native)
    for norm in norms:
        norm.forward = partial(recorder.forward, norm)  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        for norm in norms:
            del norm.forward


def _advance_running_stats(norms: list[nn.modules.batchnorm._BatchNorm],
                           stats: list[torch.Tensor]) -> None:
    """In place, as the sequential path would: each layer's running mean and variance take one
    momentum update per recorded forward, episode after episode, and its counter counts them.

    Shape:
        stats: one ``[M, 2, C]`` per recorded forward, in call order (layers cycling fastest).
    """
    per_forward = len(norms)
    with torch.no_grad():
        for i, norm in enumerate(norms):
            if not norm.track_running_stats:
                continue
            own = torch.stack(stats[i::per_forward], 1)  # [M, F, 2, C]
            own = own.flatten(0, 1)  # every forward of episode 0, then of episode 1, ...
            n, m = own.shape[0], float(norm.momentum)  # type: ignore[arg-type]
            decay = (1 - m) ** torch.arange(n - 1, -1, -1, dtype=own.dtype, device=own.device)
            update = (m * decay[:, None, None] * own).sum(0)
            keep = (1 - m) ** n
            norm.running_mean.mul_(keep).add_(update[0].to(norm.running_mean.dtype))
            norm.running_var.mul_(keep).add_(update[1].to(norm.running_var.dtype))
            norm.num_batches_tracked.add_(n)


def _sub(params: Params, prefix: str) -> Params:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def _adapt(forward: Callable[[Params, torch.Tensor], torch.Tensor], fast: Params,
           inputs: torch.Tensor, labels: torch.Tensor, steps: int, lr: float,
           first_order: bool, recorder: _Recorder) -> tuple[Params, list[torch.Tensor]]:
    """``steps`` SGD steps of ``fast`` on ``cross_entropy(forward(fast, inputs), labels)``, as
    learn2learn's ``adapt``: ``p - lr * g``, with ``g`` detached for first order. Returns the
    adapted weights and the batch statistics recorded on the way."""
    recorded: list[torch.Tensor] = []

    def loss(p: Params) -> tuple[torch.Tensor, list[torch.Tensor]]:
        mark = len(recorder.stats)
        value = F.cross_entropy(forward(p, inputs), labels)
        return value, recorder.take(mark)

    for _ in range(steps):
        if recorder.native:  # no transform around: plain autograd, as learn2learn's adapt
            value, stats = loss(fast)
            found = torch.autograd.grad(value, list(fast.values()), create_graph=not first_order,
                                        allow_unused=True)
            grads = {k: torch.zeros_like(fast[k]) if g is None else g
                     for k, g in zip(fast, found)}
        else:
            grads, stats = grad(loss, has_aux=True)(fast)
        recorded += stats
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        fast = {k: fast[k] - lr * grads[k] for k in fast}
    return fast, recorded


#: One episode's meta-loss: ``(support, support labels, query, query labels) -> (loss,
#: accuracy, embedding spread, batch statistics recorded)``.
EpisodeLoss = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]]


def _maml_task(network: nn.Module, params: Params, steps: int, lr: float, first_order: bool,
               ways: int, recorder: _Recorder) -> EpisodeLoss:
    """MAML's meta-loss of one episode on ``network`` (``backbone`` and ``classifier``
    children) at ``params``: every parameter adapted on the support, the queries through the
    adapted weights."""
    def features(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(network.backbone, _sub(p, "backbone."), (x,))

    def logits_of(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(network.classifier, _sub(p, "classifier."), (features(p, x), ways))

    def task(s: torch.Tensor, sl: torch.Tensor, q: torch.Tensor, ql: torch.Tensor):
        fast, stats = _adapt(logits_of, params, s, sl, steps, lr, first_order, recorder)
        mark = len(recorder.stats)
        feats = features(fast, q)
        logits = functional_call(network.classifier, _sub(fast, "classifier."), (feats, ways))
        stats += recorder.take(mark)
        return (F.cross_entropy(logits, ql), (logits.argmax(1) == ql).float().mean(),
                feats.detach().float().std(0).mean(), stats)
    return task


def _anil_task(network: nn.Module, params: Params, steps: int, lr: float, first_order: bool,
               ways: int, recorder: _Recorder) -> EpisodeLoss:
    """ANIL's meta-loss of one episode: support and query embedded in one backbone call (batch
    norm over the episode), the inner loop on the classifier only."""
    backbone_params, head = _sub(params, "backbone."), _sub(params, "classifier.")

    def logits_of(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(network.classifier, p, (x, ways))

    def task(s: torch.Tensor, sl: torch.Tensor, q: torch.Tensor, ql: torch.Tensor):
        feats = functional_call(network.backbone, backbone_params, (torch.cat([s, q]),))
        stats = recorder.take(0)
        fast, _ = _adapt(logits_of, head, feats[:len(s)], sl, steps, lr, first_order, recorder)
        logits = logits_of(fast, feats[len(s):])
        return (F.cross_entropy(logits, ql), (logits.argmax(1) == ql).float().mean(),
                feats.detach().float().std(0).mean(), stats)
    return task


#: The meta-loss of each method with a batched or threaded path.
TASKS = {"maml": _maml_task, "anil": _anil_task}


def forward_batch(method: str, network: nn.Module, episodes: Sequence[Episode], steps: int,
                  lr: float, first_order: bool, path: str) -> dict[str, torch.Tensor]:
    """``{"loss", "acc", "embedding_std"}`` of ``method`` (``TASKS``: MAML, with first-order
    MAML, or ANIL) over ``episodes``, the means over episodes of what the method's ``forward``
    returns for each, on ``path`` (``vectorised`` or ``threaded``).

    ``network`` has ``backbone`` and ``classifier`` children (the classifier takes
    ``(features, ways)``); its parameters are the ones trained, its batch-norm running
    statistics advance as the sequential path advances them.
    """
    run = {"vectorised": _vectorised, "threaded": _threaded}[path]
    return run(partial(TASKS[method], steps=steps, lr=lr, first_order=first_order,
                       ways=episodes[0].ways), network, episodes)


def _vectorised(make_task: Callable[..., EpisodeLoss], network: nn.Module,
                episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
    """The meta-batch as one ``vmap`` of the episode's meta-loss."""
    support, support_labels, query, query_labels = _stack(episodes)
    with _recording(network) as recorder:
        task = make_task(network, dict(network.named_parameters()), recorder=recorder)
        loss, acc, spread, stats = vmap(task, randomness="error")(support, support_labels, query,
                                                                  query_labels)
    _advance_running_stats(recorder.norms, stats)
    return {"loss": loss.mean(), "acc": acc.mean().detach(), "embedding_std": spread.mean()}


class _Precomputed(torch.autograd.Function):
    """``value`` (a detached scalar) whose gradient with respect to each of ``params`` is the
    matching one of ``grads`` (None: none), scaled by the incoming gradient."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, grads: list[torch.Tensor | None],
                *params: torch.Tensor) -> torch.Tensor:
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx: Any, out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (None, None, *(None if g is None else out * g for g in ctx.grads))


def _added(sums: Sequence[torch.Tensor | None],
           grads: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Gradients summed term by term (None: no gradient yet, or none reached the tensor)."""
    return [g if s is None else s if g is None else s + g for s, g in zip(sums, grads)]


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, made once per size."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="inner-loop")
    return _POOLS[workers]


def _threaded(make_task: Callable[..., EpisodeLoss], network: nn.Module,
              episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
    """The meta-batch's episodes in contiguous shares over ``torch.get_num_threads()`` workers
    of one intra-op thread each (see the module docstring)."""
    params = dict(network.named_parameters())
    leaves = list(params.values())
    threads = torch.get_num_threads()
    workers = max(1, min(threads, len(episodes)))
    size, extra = divmod(len(episodes), workers)
    starts = [w * size + min(w, extra) for w in range(workers + 1)]
    shares = [range(starts[w], starts[w + 1]) for w in range(workers)]
    outer = torch.is_grad_enabled()
    cast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
    replicas = [copy.deepcopy(network) for _ in range(workers)]

    def work(worker: int) -> tuple[list[torch.Tensor | None], list[tuple]]:
        if workers > 1:
            torch.set_num_threads(1)
        summed: list[torch.Tensor | None] = [None] * len(leaves)
        outs = []
        with _recording(replicas[worker], native=True) as recorder, torch.enable_grad():
            task = make_task(replicas[worker], params, recorder=recorder)
            for i in shares[worker]:
                e = episodes[i]
                with torch.autocast("cpu", dtype=cast[1], enabled=cast[0]):
                    loss, acc, spread, stats = task(e.support, e.support_labels, e.query,
                                                    e.query_labels)
                if outer:
                    summed = _added(summed, torch.autograd.grad(loss, leaves, allow_unused=True))
                outs.append((loss.detach(), acc.detach(), spread.detach(), stats))
        return summed, outs

    if workers == 1:
        results = [work(0)]
    else:
        try:
            results = list(_pool(workers).map(work, range(workers)))
        finally:
            torch.set_num_threads(threads)
    per_episode = [out for _, outs in results for out in outs]  # in episode order
    stats = [torch.stack([out[3][f] for out in per_episode]) for f in range(len(per_episode[0][3]))]
    _advance_running_stats([m for m in network.modules()
                            if isinstance(m, nn.modules.batchnorm._BatchNorm)], stats)
    loss = torch.stack([out[0] for out in per_episode]).mean()
    if outer:
        total: list[torch.Tensor | None] = [None] * len(leaves)
        for summed, _ in results:  # in worker order: a fixed order of addition
            total = _added(total, summed)
        loss = _Precomputed.apply(loss, [None if g is None else g / len(episodes) for g in total],
                                  *leaves)
    return {"loss": loss, "acc": torch.stack([out[1] for out in per_episode]).mean(),
            "embedding_std": torch.stack([out[2] for out in per_episode]).mean()}
