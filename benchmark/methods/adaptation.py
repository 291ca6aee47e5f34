"""What the meta-learners share: an N-way linear classifier, the inner loop on the support set
(learn2learn's ``MAML`` wrapper does the differentiable update) and its checks (MAML, ANIL), and
the batch-norm convention of their own test-time adaptation (MAML, ANIL, R2-D2).

A method with an adaptation of its own implements ``adapt_predict``; the ``native`` evaluation
head (``benchmark.heads``) calls it on each test episode.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.episodes.episode import Episode, Task
from benchmark.optional import import_learn2learn
from benchmark.methods.base import Method
from benchmark.methods import functional_adapt
from benchmark.methods.functional_adapt import PATHS_ON, check_inner_loop, resolve_inner_loop
from benchmark.precision import autocast
from benchmark.timing import best_seconds

#: ``inner_loop: auto`` leaves the sequential reference only for a path the probe finds at least
#: this much faster (all compute the same meta-gradient: timing noise should not flip a run
#: off the reference).
MIN_SPEEDUP = 1.05


class WayClassifier(nn.Module):
    """A linear classifier with ``ways`` outputs; an N-way episode (N ≤ ways) uses the first N.

    Shape:
        features ``[B, D]`` → logits ``[B, N]``.
    """

    def __init__(self, in_dim: int, ways: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, ways)

    def forward(self, features: torch.Tensor, ways: int) -> torch.Tensor:
        return F.linear(features, self.linear.weight[:ways], self.linear.bias[:ways])


class Network(nn.Module):
    """Backbone then classifier, as one module (for learn2learn to clone, and for the
    vectorised and threaded paths): ``(x, ways) -> logits``."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, classifier

    def forward(self, x: torch.Tensor, ways: int) -> torch.Tensor:
        return self.classifier(self.backbone(x), ways)


def inner_loop(learner: Any, inputs: torch.Tensor, labels: torch.Tensor, ways: int, steps: int,
               first_order: bool) -> Any:
    """``steps`` SGD steps of a learn2learn clone ``learner`` on the mean cross-entropy of
    ``learner(inputs, ways)``; second-order unless ``first_order`` (the graph through the
    updates is kept so that the outer loss reaches the initial weights). Returns ``learner``.

    Shape:
        inputs: ``[S, ...]``, labels: ``[S]`` in ``0..ways-1``.
    """
    for _ in range(steps):
        learner.adapt(F.cross_entropy(learner(inputs, ways), labels), first_order=first_order)
    return learner


def wrap(module: nn.Module, lr: float, first_order: bool) -> Any:
    """``l2l.algorithms.MAML(module, lr, first_order)``: ``clone()`` makes a differentiable copy."""
    return import_learn2learn().algorithms.MAML(module, lr=lr, first_order=first_order,
                                                allow_unused=True)


def support_statistics(model: nn.Module, forward: Callable[[], Any]) -> nn.Module:
    """In place: the batch-norm layers of ``model`` take as running statistics the batch
    statistics of what ``forward()`` (a train-mode pass, typically of the support) feeds them,
    the variance biased as train mode uses it; then ``model`` is put in eval mode, where it
    normalises anything as train mode normalised that batch. Returns ``model``."""
    counts: dict[nn.Module, int] = {}
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    hooks = [m.register_forward_pre_hook(
        lambda module, args: counts.__setitem__(module, args[0].numel() // args[0].shape[1]))
        for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # a cumulative average: after one batch, its statistics
    model.train()
    try:
        with torch.no_grad():
            forward()
            for module in norms:  # stored unbiased; train mode normalises by the biased variance
                count = counts[module]
                module.running_var.mul_((count - 1) / count if count > 1 else 1.0)
    finally:
        for hook in hooks:
            hook.remove()
    return model.eval()


def support_normalised(model: nn.Module, support: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in eval mode whose batch-norm layers normalise with the statistics of
    ``support`` (``support_statistics`` of its ``embed``): it embeds the support exactly as
    train mode would, and each query alone with the support's statistics; ``model`` is left
    untouched.

    The convention of the ``native`` head: these methods train with train-mode batch statistics
    (the support normalised by its own), so the test support is normalised by its own too, and
    the queries by the support's: no query's prediction depends on another query's (no
    transductive query statistics). Measured on an early ANIL checkpoint (40 vinyals_val
    episodes, 5-way 1-shot): running statistics 61.2%, the queries' own batch statistics
    (transductive) 72.5%, the support's 71.4%.

    Shape:
        support: ``[S, C, H, W]``.
    """
    clone = copy.deepcopy(model)
    return support_statistics(clone, lambda: clone.embed(support))  # type: ignore[operator]


class InnerLoopMethod(Method):
    """Base of MAML and ANIL: a backbone, a ``WayClassifier`` and the inner-loop settings.

    Subclasses implement ``episode_loss`` (or ``embed_and_loss``) and ``adapt_predict`` (the ``native``
    head's adaptation: ``benchmark.heads.Adaptive``).

    Args:
        ways: outputs of the classifier; episodes of up to this many classes.
        inner_steps: SGD steps on the support set per episode in training.
        inner_lr: their learning rate.
        first_order: drop the second-order terms (FOMAML): the outer gradient is the query
            loss's gradient at the adapted weights.
        eval_steps: inner steps at evaluation (``native`` head); 0: ``inner_steps``.
        inner_loop: how ``forward_batch`` runs a meta-batch's inner loops: ``sequential``
            (a learn2learn clone per episode, the reference), ``vectorised`` (one batched
            computation, ``functional_adapt``), ``threaded`` (the episodes spread over the
            CPU's cores, ``functional_adapt``) or ``auto``: the fastest on the run's device,
            timed before the first step (``resolve_auto``).
    """

    needs = frozenset({"classes"})
    needs_hint = "patch episodes have no fixed N-way classes per support"

    def __init__(self, backbone: nn.Module, ways: int = 5, inner_steps: int = 1,
                 inner_lr: float = 0.4, first_order: bool = False, eval_steps: int = 0,
                 inner_loop: str = "sequential") -> None:
        super().__init__(backbone)
        check_inner_loop(self.name, inner_loop)
        self.inner_loop = inner_loop
        self.chosen_inner_loop: str | None = None  # what ``resolve_auto`` chose for ``auto``
        check_inner(self.name, ways=ways, inner_steps=inner_steps, inner_lr=inner_lr,
                    eval_steps=eval_steps)
        self.ways, self.inner_steps, self.inner_lr = ways, inner_steps, inner_lr
        self.first_order = bool(first_order)
        self.eval_steps = eval_steps or inner_steps
        self.classifier = WayClassifier(backbone.out_dim, ways)

    @property
    def variant(self) -> str:
        """``first_order`` with ``first_order`` (FOMAML: its own published row), else ""."""
        return "first_order" if self.first_order else ""

    def resolve_auto(self, draw: Callable[[], Sequence[Episode]], precision: str) -> str:
        """With ``inner_loop: auto``, time a training step (forward and backward of
        ``forward_batch`` on a copy of the method, under ``precision``, the random generators
        untouched) on one step's episodes on each path the device runs (``PATHS_ON``), and
        keep the fastest where it is at least ``MIN_SPEEDUP`` times faster than
        ``sequential``, else ``sequential``; says which."""
        if self.inner_loop != "auto":
            return ""
        episodes = list(draw())
        device = episodes[0].support.device

        def probe(path: str) -> Callable[[], None]:
            twin = copy.deepcopy(self).train()
            twin.inner_loop = path

            def step() -> None:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    with autocast(precision, device):
                        loss = twin.forward_batch(episodes)["loss"]
                    loss.backward()
                twin.zero_grad(set_to_none=True)
            return step

        paths = PATHS_ON.get(device.type, PATHS_ON["cuda"])
        seconds = {path: best_seconds(probe(path), device, repeats=2) for path in paths}
        speedups = {path: seconds["sequential"] / seconds[path] for path in paths[1:]}
        fastest = max(speedups, key=speedups.__getitem__)
        self.chosen_inner_loop = fastest if speedups[fastest] >= MIN_SPEEDUP else "sequential"
        said = ", ".join(f"{path} {speedup:.2f}x" for path, speedup in speedups.items())
        return (f"inner loop {self.chosen_inner_loop} (auto: the probe's steps {said} the "
                "sequential one)")

    def inner_path(self, episodes: Sequence[Episode]) -> str:
        """The path ``forward_batch`` runs ``episodes`` on: the setting, or for ``auto`` the
        probe's choice (``resolve_auto``; before it, ``resolve_inner_loop``)."""
        if self.inner_loop == "auto" and self.chosen_inner_loop:
            return self.chosen_inner_loop
        return resolve_inner_loop(self.inner_loop, episodes[0].support.device)

    def forward_batch(self, episodes: list[Episode]) -> dict[str, torch.Tensor]:
        """The mean of ``forward`` over ``episodes``: one learn2learn clone each on the
        sequential path, else ``functional_adapt.forward_batch`` (one batched computation, or
        the episodes spread over the CPU's cores) on ``inner_path``."""
        for episode in episodes:
            self.check(episode)
        path = self.inner_path(episodes)
        if path == "sequential":
            return super().forward_batch(episodes)
        return functional_adapt.forward_batch(
            self.name, Network(self.backbone, self.classifier), episodes, self.inner_steps,
            self.inner_lr, self.first_order, path)

    def check(self, task: Task) -> None:
        """As ``Method.check``, and at most ``self.ways`` classes (the classifier's outputs)."""
        super().check(task)
        ways = task.ways
        if ways > self.ways:
            raise BenchmarkError(f"method {self.name!r} has a {self.ways}-way classifier: it "
                                 f"cannot take {ways}-way episodes (set params.ways: {ways})")


def check_inner(method: str, **values: int | float) -> None:
    """BenchmarkError naming a bad inner-loop setting: ``ways`` and ``inner_steps`` whole numbers
    ≥ 1, ``eval_steps`` ≥ 0 (0: as in training), ``inner_lr`` > 0."""
    lr = values.pop("inner_lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise BenchmarkError(f"method {method!r}: inner_lr must be > 0, got {lr!r}")
    for key, value in values.items():
        least = 0 if key == "eval_steps" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise BenchmarkError(f"method {method!r}: {key} must be a whole number >= {least}, "
                                 f"got {value!r}")

