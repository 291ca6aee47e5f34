"""ANIL (Raghu et al. 2020): MAML whose inner loop adapts only the classifier ("almost no inner
loop"); the backbone is learned by the outer loop alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.episodes.episode import Episode
from benchmark.methods.adaptation import InnerLoopMethod, inner_loop, support_normalised, wrap
from benchmark.methods.base import register_method


@register_method(
    "anil", "ANIL: MAML with the inner loop on the classifier only, over backbone features"
)
class ANIL(InnerLoopMethod):
    """Support and query are embedded in one backbone call (``Method.forward``: train-mode
    batch norm over the episode, as learn2learn's ANIL example does); a learn2learn clone of
    the classifier takes ``inner_steps`` SGD steps (``inner_lr``) on the support features; the
    loss is its cross-entropy on the query features, differentiated through the steps to the
    classifier's initial weights and to the backbone (second order unless ``first_order``).

    The ``native`` head embeds support and queries with batch norm on the support's statistics
    (``support_normalised``: no query's prediction depends on another's) and runs the same
    inner loop on the support features.

    Published recipe: ``tasks/reproduce/anil.yaml`` (learn2learn's ANIL example: 5 head steps
    at 0.1, meta-batch 32, Adam 1e-3, queries = shots; needs ``trainer.meta_batch``).
    Differences that remain: test queries normalised with the support's statistics (the
    example's ConvBase keeps no running statistics: transductive).

    Args: see ``InnerLoopMethod``.
    """

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        learner = self._adapted(support, episode, self.inner_steps, self.first_order)
        logits = learner(query, episode.ways)
        loss = F.cross_entropy(logits, episode.query_labels)
        return {"loss": loss, "logits": logits}

    def adapt_predict(self, episode: Episode) -> torch.Tensor:
        """Query labels ``[N*Q]`` after ``eval_steps`` first-order inner steps of the classifier
        on the support's features, batch norm on the support's statistics
        (``support_normalised``)."""
        model = support_normalised(self, episode.support)
        with torch.no_grad():
            support, query = model.embed(episode.support), model.embed(episode.query)
        with torch.enable_grad():
            learner = self._adapted(support, episode, self.eval_steps, True)
        with torch.no_grad():
            return learner(query, episode.ways).argmax(1)

    def _adapted(self, support: torch.Tensor, episode: Episode, steps: int,
                 first_order: bool) -> torch.nn.Module:
        """A clone of the classifier after ``steps`` inner steps on the support features ``[N*K, D]``."""
        learner = wrap(self.classifier, self.inner_lr, first_order).clone()
        return inner_loop(learner, support, episode.support_labels, episode.ways, steps, first_order)
