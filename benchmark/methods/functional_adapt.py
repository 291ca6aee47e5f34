"""Vectorised inner loops: the meta-loss of MAML, first-order MAML and ANIL over a meta-batch
of episodes as one batched computation (``torch.func``: ``functional_call``, ``grad``, ``vmap``).

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

from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError

#: ``inner_loop`` settings of MAML and ANIL: learn2learn's clone/adapt per episode (the
#: reference, the default), this module's batched computation, or ``auto``.
INNER_LOOPS = ("sequential", "vectorised", "auto")

#: What ``auto`` is before a probe has chosen (``InnerLoopMethod.resolve_auto``, which the
#: trainer runs before a run's first step, times both paths and keeps the faster): on CUDA,
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
    """``sequential`` or ``vectorised`` before a probe: ``auto`` is vectorised on CUDA,
    ``AUTO_ON_CPU`` elsewhere."""
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
    """Batch norm as plain tensor operations, and the batch statistics of every batch-norm
    forward in call order (see the module docstring)."""

    def __init__(self, norms: list[nn.modules.batchnorm._BatchNorm]) -> None:
        self.norms = norms
        self.stats: list[torch.Tensor] = []

    def forward(self, norm: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        """Train-mode batch norm of ``x`` ``[B, C, ...]`` by its own batch statistics (biased
        variance), as ``F.batch_norm`` computes it; records the mean and unbiased variance."""
        dims = [0, *range(2, x.dim())]
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
def _recording(module: nn.Module) -> Iterator[_Recorder]:
    """The batch-norm layers of ``module`` compute with ``_Recorder.forward`` (plain tensor
    operations: no buffer is touched inside the transforms, and the second derivatives are
    right under ``vmap``, see the module docstring) until the context ends."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        if norm.track_running_stats and norm.momentum is None:
            raise BenchmarkError("a vectorised inner loop needs batch norm with a momentum "
                                 "(momentum=None, a cumulative average, is not supported)")
        if not norm.training:
            raise BenchmarkError("a vectorised inner loop runs in train mode")
    recorder = _Recorder(norms)
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
        grads, stats = grad(loss, has_aux=True)(fast)
        recorded += stats
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        fast = {k: fast[k] - lr * grads[k] for k in fast}
    return fast, recorded


def maml_forward_batch(network: nn.Module, episodes: Sequence[Episode], steps: int, lr: float,
                       first_order: bool) -> dict[str, torch.Tensor]:
    """MAML's (or first-order MAML's) ``{"loss", "acc", "embedding_std"}`` over ``episodes``,
    the means over episodes of what ``MAML.forward`` returns for each.

    ``network`` has ``backbone`` and ``classifier`` children and computes
    ``classifier(backbone(x), ways)``; every parameter is adapted.
    """
    support, support_labels, query, query_labels = _stack(episodes)
    ways = episodes[0].ways
    params = dict(network.named_parameters())

    def features(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(network.backbone, _sub(p, "backbone."), (x,))

    def logits_of(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(network.classifier, _sub(p, "classifier."), (features(p, x), ways))

    with _recording(network) as recorder:
        def task(s: torch.Tensor, sl: torch.Tensor, q: torch.Tensor, ql: torch.Tensor):
            fast, stats = _adapt(logits_of, params, s, sl, steps, lr, first_order, recorder)
            mark = len(recorder.stats)
            feats = features(fast, q)
            logits = functional_call(network.classifier, _sub(fast, "classifier."), (feats, ways))
            stats += recorder.take(mark)
            return (F.cross_entropy(logits, ql), (logits.argmax(1) == ql).float().mean(),
                    feats.detach().float().std(0).mean(), stats)

        loss, acc, spread, stats = vmap(task, randomness="error")(support, support_labels, query,
                                                                  query_labels)
    _advance_running_stats(recorder.norms, stats)
    return {"loss": loss.mean(), "acc": acc.mean().detach(), "embedding_std": spread.mean()}


def anil_forward_batch(backbone: nn.Module, classifier: nn.Module, episodes: Sequence[Episode],
                       steps: int, lr: float, first_order: bool) -> dict[str, torch.Tensor]:
    """ANIL's ``{"loss", "acc", "embedding_std"}`` over ``episodes``, the means over episodes of
    what ``ANIL.forward`` returns for each: support and query embedded in one backbone call per
    episode (batch norm over the episode), the inner loop on the classifier only."""
    support, support_labels, query, query_labels = _stack(episodes)
    ways, n_support = episodes[0].ways, support.shape[1]
    backbone_params = dict(backbone.named_parameters())
    head = dict(classifier.named_parameters())

    def logits_of(p: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(classifier, p, (x, ways))

    with _recording(backbone) as recorder:
        def task(s: torch.Tensor, sl: torch.Tensor, q: torch.Tensor, ql: torch.Tensor):
            feats = functional_call(backbone, backbone_params, (torch.cat([s, q]),))
            stats = recorder.take(0)
            fast, _ = _adapt(logits_of, head, feats[:n_support], sl, steps, lr, first_order,
                             recorder)
            logits = logits_of(fast, feats[n_support:])
            return (F.cross_entropy(logits, ql), (logits.argmax(1) == ql).float().mean(),
                    feats.detach().float().std(0).mean(), stats)

        loss, acc, spread, stats = vmap(task, randomness="error")(support, support_labels, query,
                                                                  query_labels)
    _advance_running_stats(recorder.norms, stats)
    return {"loss": loss.mean(), "acc": acc.mean().detach(), "embedding_std": spread.mean()}
