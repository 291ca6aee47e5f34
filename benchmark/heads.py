"""Evaluation heads (a registry): how a frozen or fine-tuned representation classifies queries.

A head turns a model and a list of same-shaped episodes into query predictions. The
frozen-embedding heads (``prototype``, ``prototype_cosine``, ``logistic``) embed support and
query of each episode in one call, then classify all the episodes of a batch at once; the
``finetune`` head fits a classifier, initialised from the prototypes, and a copy of the network
to each support set first. Every head embeds with the model in eval mode (``eval_mode``).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.episodes.episode import Episode, Task, TaskShape
from benchmark.errors import BenchmarkError
from benchmark.losses import class_means
from benchmark.registry import Registry
from benchmark.samplers import SAMPLERS
from benchmark.usable import checked

EmbedFn = Callable[[torch.Tensor], torch.Tensor]


class Embedder(Protocol):
    """Anything with ``embed(x[B, C, H, W] float in [0, 1]) -> [B, D]``."""

    def embed(self, x: torch.Tensor) -> torch.Tensor: ...


class Head(Protocol):
    """Classifies the queries of episodes that share (ways, shots, queries)."""

    def predict(self, model: Embedder | EmbedFn, episodes: Sequence[Episode]) -> torch.Tensor:
        """Predicted labels, shape ``[E, N*Q]`` (int64, on CPU), with the model in eval mode:
        a query's prediction depends on its support set, never on the other queries."""
        ...


HEADS: Registry[Callable[..., Head]] = Registry("head")


def embed_fn(model: Embedder | EmbedFn) -> EmbedFn:
    """The embedding function of a model with ``embed`` or of a plain callable, its output
    checked (``usable.checked``: a finite float tensor ``[B, D]``)."""
    return checked(model.embed if hasattr(model, "embed") else model)  # type: ignore[union-attr,arg-type]


def model_device(model: Embedder | EmbedFn) -> torch.device:
    """Where the model's parameters live (CPU for a parameterless callable)."""
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
    return torch.device("cpu")


def embed_episodes(
    model: Embedder | EmbedFn, episodes: Sequence[Episode]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query embeddings of episodes of one shape, in one ``embed`` call.

    Shape:
        Output: ``support [E, N*K, D]``, ``query [E, N*Q, D]`` (float32, on the model's device).
    """
    device = model_device(model)
    images = torch.cat([torch.cat([e.support, e.query]) for e in episodes]).to(device)
    n_support, n_query = episodes[0].support.shape[0], episodes[0].query.shape[0]
    features = embed_fn(model)(images).float()
    features = features.view(len(episodes), n_support + n_query, -1)
    return features[:, :n_support], features[:, n_support:]


def _labels(episodes: Sequence[Episode], device: torch.device) -> torch.Tensor:
    return torch.stack([e.support_labels for e in episodes]).to(device)


@contextmanager
def eval_mode(model: Embedder | EmbedFn) -> Iterator[None]:
    """A module in eval mode inside the block (batch norm on its running statistics, so that no
    image's embedding depends on the rest of its batch), then back in the mode it was in."""
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()  # type: ignore[union-attr]


class EmbeddingHead:
    """Base of the frozen-embedding heads: embed once, then ``classify`` all episodes at once."""

    def predict(self, model: Embedder | EmbedFn, episodes: Sequence[Episode]) -> torch.Tensor:
        """Embed (under the caller's autocast, if any), then classify in float32."""
        with torch.no_grad(), eval_mode(model):
            support, query = embed_episodes(model, episodes)
        labels = _labels(episodes, support.device)
        with torch.autocast(support.device.type, enabled=False):
            return self.classify(support, labels, query, episodes[0].ways).cpu()

    def classify(
        self, support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, ways: int
    ) -> torch.Tensor:
        """Predicted labels ``[E, Q]`` from support ``[E, S, D]``, labels ``[E, S]``, query ``[E, Q, D]``."""
        raise NotImplementedError


@HEADS.register("prototype", "nearest class prototype (mean support embedding), Euclidean distance")
class PrototypeHead(EmbeddingHead):
    """Nearest prototype under squared Euclidean distance (Snell et al.)."""

    def classify(self, support, labels, query, ways):  # type: ignore[override]
        with torch.no_grad():
            return torch.cdist(query, class_means(support, labels, ways)).argmin(-1)


@HEADS.register("prototype_cosine", "nearest class prototype, cosine similarity")
class CosinePrototypeHead(EmbeddingHead):
    """Nearest prototype under cosine similarity."""

    def classify(self, support, labels, query, ways):  # type: ignore[override]
        with torch.no_grad():
            protos = F.normalize(class_means(support, labels, ways), dim=-1)
            return (F.normalize(query, dim=-1) @ protos.transpose(1, 2)).argmax(-1)


@HEADS.register("logistic", "linear probe: multinomial logistic regression fitted per episode on the support")
class LogisticHead(EmbeddingHead):
    """Multinomial logistic regression on L2-normalised support embeddings.

    Fitted per episode (all episodes of a batch in parallel: Adam is element-wise, so the
    summed loss fits each episode independently) for a fixed number of full-batch Adam steps
    from zero weights: deterministic, no sklearn.

    Args:
        steps: Adam steps.
        lr: Adam learning rate.
        weight_decay: L2 penalty on the weights (per episode, on the mean loss).
        scale: multiplies the normalised features (a fixed inverse temperature).
    """

    def __init__(self, steps: int = 100, lr: float = 0.1, weight_decay: float = 1e-3, scale: float = 10.0):
        if steps < 1 or lr <= 0 or weight_decay < 0 or scale <= 0:
            raise BenchmarkError("logistic head: steps >= 1, lr > 0, weight_decay >= 0, scale > 0")
        self.steps, self.lr, self.weight_decay, self.scale = steps, lr, weight_decay, scale

    def classify(self, support, labels, query, ways):  # type: ignore[override]
        support = self.scale * F.normalize(support.detach(), dim=-1)
        query = self.scale * F.normalize(query.detach(), dim=-1)
        episodes, _, dim = support.shape
        weight = torch.zeros(episodes, dim, ways, device=support.device, requires_grad=True)
        bias = torch.zeros(episodes, 1, ways, device=support.device, requires_grad=True)
        optimizer = torch.optim.Adam([weight, bias], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                logits = support @ weight + bias  # [E, S, N]
                loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
                loss = loss.view(episodes, -1).mean(1).sum() + 0.5 * self.weight_decay * weight.pow(2).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            return (query @ weight + bias).argmax(-1)


@HEADS.register(
    "finetune", "linear classifier initialised from the prototypes, fine-tuned with the network on the support"
)
class FinetuneHead:
    """Per episode: a linear classifier initialised from the prototypes, then fine-tuned by SGD
    on the support together with a copy of the network (first-order Proto-MAML, Triantafillou
    et al. 2020).

    With prototypes ``p_c`` (mean support embeddings), the classifier starts at ``W_c = 2 p_c``,
    ``b_c = -|p_c|^2``: its logits ``W_c . f + b_c = |f|^2 - |f - p_c|^2`` rank the classes as the
    squared Euclidean distance does, so before any step it predicts what ``prototype`` does.
    Then ``steps`` full-batch SGD steps on the mean cross-entropy of the support update the
    classifier (learning rate ``lr``) and every parameter of a copy of the network
    (``backbone_lr``; 0 keeps the network frozen and uncopied). The network stays in eval mode
    throughout: batch norm normalises with its running statistics and never updates them. The
    queries are then classified by the tuned classifier on the tuned network's embedding; they
    take no part in the fitting, and each episode starts afresh from the given model, which is
    left untouched.

    SGD, not Adam: on a trained network the prototypes often fit the support already (in
    1-shot each support image is its own prototype; the support loss of a quick Omniglot
    ProtoNet starts near 1e-3), and SGD follows that near-zero gradient with near-zero steps,
    where Adam would rescale it to steps of size ``lr`` on every parameter.

    The gradient of each step is clipped to norm ``max_grad_norm``: the logits grow with the
    square of the embedding's scale, so on an embedding with large norms (SimCLR's backbone
    features, |f| ≈ 14 against ProtoNet's 9 on Omniglot) a support loss that is not already
    near zero (5-shot) gives steps that wreck the copy of the network: unclipped, the head fell
    from 96.1 (prototype) to 82.8 at 5-way 5-shot and to 25.4 at 20-way 5-shot on
    omniglot_transfer's SimCLR, with a ±5-point CI from the episodes it wrecked.

    Args:
        steps: SGD steps per episode (0: the prototype head's predictions).
        lr: learning rate of the classifier.
        backbone_lr: learning rate of the network; 0 freezes it.
        max_grad_norm: clip each step's gradient (classifier and network together) to this
            norm; 0 does not clip.
    """

    def __init__(self, steps: int = 10, lr: float = 0.001, backbone_lr: float = 0.001,
                 max_grad_norm: float = 1.0):
        if steps < 0 or lr < 0 or backbone_lr < 0 or max_grad_norm < 0:
            raise BenchmarkError("finetune head: steps >= 0, lr >= 0, backbone_lr >= 0 and "
                                 "max_grad_norm >= 0")
        self.steps, self.lr, self.backbone_lr = steps, lr, backbone_lr
        self.max_grad_norm = max_grad_norm

    def predict(self, model: Embedder | EmbedFn, episodes: Sequence[Episode]) -> torch.Tensor:
        if self.backbone_lr > 0 and not isinstance(model, nn.Module):
            raise BenchmarkError(
                "the finetune head needs a network (an nn.Module with embed) to tune, not a function; "
                "backbone_lr=0 tunes the classifier alone"
            )
        with eval_mode(model):
            return torch.stack([self._predict_one(model, episode) for episode in episodes]).cpu()

    def _predict_one(self, model: Embedder | EmbedFn, episode: Episode) -> torch.Tensor:
        device = model_device(model)
        support, labels = episode.support.to(device), episode.support_labels.to(device)
        network: list[nn.Parameter] = []
        if self.backbone_lr > 0:
            model = copy.deepcopy(model)
            network = [param.requires_grad_(True) for param in model.parameters()]  # type: ignore[union-attr]
        embed = embed_fn(model)
        with torch.no_grad():
            features = embed(support).float()
            protos = class_means(features, labels, episode.ways)
        weight = (2 * protos).requires_grad_(True)  # [N, D]
        bias = (-protos.pow(2).sum(1)).requires_grad_(True)  # [N]
        groups = [{"params": [weight, bias], "lr": self.lr}]
        if network:
            groups.append({"params": network, "lr": self.backbone_lr})
        optimizer = torch.optim.SGD(groups)
        with torch.enable_grad():
            for _ in range(self.steps):
                if network:
                    features = embed(support).float()
                loss = F.cross_entropy(features @ weight.T + bias, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_([weight, bias, *network], self.max_grad_norm)
                optimizer.step()
        with torch.no_grad():
            return (embed(episode.query.to(device)).float() @ weight.T + bias).argmax(-1)


class Adaptive(Protocol):
    """A method with an adaptation of its own (MAML's inner loop, R2-D2's ridge): what the
    ``native`` head runs. ``check`` refuses episodes it cannot adapt to."""

    def adapt_predict(self, episode: Episode) -> torch.Tensor:
        """Predicted query labels ``[N*Q]`` of ``episode`` after adapting to its support only,
        with the model in eval mode."""
        ...

    def check(self, task: Task) -> None: ...


def check_head(name: str, model: object, ways: int, shots: int, queries: int) -> None:
    """BenchmarkError, before any work, unless head ``name`` can evaluate ``model`` (a method
    instance, a floor or an embedding function) on N-way K-shot Q-query episodes: heads with a
    ``check_model`` say what they need; the others take any embedder."""
    check = getattr(HEADS.get(name), "check_model", None)
    if check is not None:
        check(model, ways, shots, queries)


@HEADS.register(
    "native", "the method's own adaptation on each support set (MAML/ANIL inner loop, R2-D2 ridge)"
)
class NativeHead:
    """Each episode classified by the method's own test-time adaptation on its support
    (``Adaptive.adapt_predict``), in eval mode: what the method does, beside what its frozen
    embedding is worth under the other heads, on the identical episodes. A model without an
    adaptation of its own is refused (``check_model``)."""

    @staticmethod
    def check_model(model: object, ways: int, shots: int, queries: int) -> None:
        """BenchmarkError unless ``model`` has ``adapt_predict`` and takes N-way episodes."""
        if not hasattr(model, "adapt_predict"):
            what = getattr(model, "name", None) or type(model).__name__
            raise BenchmarkError(
                f"head 'native' needs a method with an adaptation of its own (maml, anil, r2d2); "
                f"{what!r} has none: evaluate it with prototype, logistic or finetune"
            )
        model.check(TaskShape("labels", SAMPLERS.get("labels").offers, ways, shots,  # type: ignore[attr-defined]
                              queries))

    def predict(self, model: Embedder | EmbedFn, episodes: Sequence[Episode]) -> torch.Tensor:
        first = episodes[0]
        self.check_model(model, first.ways, first.shots, first.queries)
        device = model_device(model)
        with eval_mode(model):
            return torch.stack([model.adapt_predict(e.to(device))  # type: ignore[union-attr]
                                for e in episodes]).cpu()
