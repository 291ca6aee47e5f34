"""MAML (Finn et al. 2017): an initialisation of the whole network that a few SGD steps on the
support set adapt to the episode; on augmentation episodes this is UMTRA (Khodadadeh et al. 2019)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.methods.adaptation import InnerLoopMethod, Network, inner_loop, support_statistics, wrap
from benchmark.methods.base import register_method


@register_method(
    "maml", "MAML: inner SGD on the support adapts backbone + classifier; outer loss on the queries "
            "(UMTRA on augmentation episodes)"
)
class MAML(InnerLoopMethod):
    """Model-agnostic meta-learning: each episode of the trainer's step (``trainer.meta_batch``
    of them; the loss is their mean) adapts its own clone.

    Training: a learn2learn clone of backbone + classifier takes ``inner_steps`` SGD steps
    (``inner_lr``) on the support's cross-entropy; the loss is the adapted clone's cross-entropy
    on the queries, differentiated through the steps to the initial weights (second order unless
    ``first_order``).

    Batch norm: in training the network is in train mode, so support and queries are each
    normalised with their own batch statistics, as in the original and learn2learn's example
    (the running statistics are updated on the way). The ``native`` head adapts the same way
    on the support and normalises the queries with the support's statistics
    (``adapt_predict``), so no query's prediction depends on another query (no transductive
    query statistics).

    Published recipe: ``tasks/reproduce/maml.yaml`` (Finn et al.: 5-way meta-batch 32, 1 step
    at 0.4; 20-way meta-batch 16, 5 steps at 0.1; Adam 1e-3; 10 test steps). Differences that
    remain: Conv-4 with max-pooling (theirs: strided convolutions on Omniglot); test queries
    normalised with the support's statistics (theirs: the query batch's, transductive); the
    Vinyals characters instead of their random 1,200.
    Parity with learn2learn's ``maml_omniglot.py`` loop: ``results/parity.md``.

    Args: see ``InnerLoopMethod``.
    """

    channels_last = False  # contiguous weights: its second-order inner loop runs ~13% faster

    def embed_and_loss(self, episode: Episode) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The adapted clone's query features and cross-entropy (the outer loss)."""
        network = self._adapted(episode, self.inner_steps, self.first_order).module
        features = network.backbone(episode.query)  # the adapted clone's, as network(x) computes
        logits = network.classifier(features, episode.ways)
        return features, {"loss": nn.functional.cross_entropy(logits, episode.query_labels),
                          "logits": logits}

    def adapt_predict(self, episode: Episode) -> torch.Tensor:
        """Query labels ``[N*Q]`` after ``eval_steps`` first-order inner steps on the support
        (first order: no outer gradient is wanted; the adapted weights are the same), on a copy
        of the network: the inner loop in train mode (the support's batch statistics, as in
        training), then the queries, each alone, normalised with the support's statistics
        under the adapted weights (``support_statistics``)."""
        model = copy.deepcopy(self).train()
        with torch.enable_grad():
            learner = model._adapted(episode, self.eval_steps, True)
        support_statistics(learner, lambda: learner(episode.support, episode.ways))
        with torch.no_grad():
            return learner(episode.query, episode.ways).argmax(1)

    def _adapted(self, episode: Episode, steps: int, first_order: bool) -> nn.Module:
        """A clone of backbone + classifier after ``steps`` inner steps on the support."""
        learner = wrap(Network(self.backbone, self.classifier), self.inner_lr, first_order).clone()
        return inner_loop(learner, episode.support, episode.support_labels, episode.ways, steps,
                          first_order)
