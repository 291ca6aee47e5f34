"""Losses as pure functions: prototypical, NT-Xent / supervised contrastive, N-way InfoNCE,
triplet (with its negative-mining rules), the collapsing pull-only pairwise loss, and the losses
of the momentum-network methods: MoCo's InfoNCE against a queue, BYOL's normalised MSE and
PsCo's pseudo-supervised contrast.

Embeddings are ``[M, D]`` float tensors; labels are ``[M]`` int64. Functions that classify
(pick the positive out of candidates) return ``(loss, acc)`` where ``acc`` is a detached scalar.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from benchmark import distributed
from benchmark.errors import BenchmarkError
from benchmark.registry import Registry

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Miner = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

DISTANCES: Registry[Distance] = Registry("distance")
MINERS: Registry[Miner] = Registry("triplet mining")


@DISTANCES.register("euclidean", "squared Euclidean distance")
def squared_euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances.

    Shape:
        a: ``[N, D]``, b: ``[M, D]``. Output: ``[N, M]``, ``>= 0``.
    """
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * (a @ b.T)
    return sq.clamp_min(0.0)


@DISTANCES.register("cosine", "negative cosine similarity")
def negative_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise negative cosine similarities.

    Shape:
        a: ``[N, D]``, b: ``[M, D]``. Output: ``[N, M]`` in ``[-1, 1]``.
    """
    return -(F.normalize(a, dim=1) @ F.normalize(b, dim=1).T)


def _accuracy(correct: torch.Tensor) -> torch.Tensor:
    return correct.float().mean().detach()


def class_means(emb: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Mean embedding of each class (the ProtoNet prototypes), batched over leading dims.

    A 2-D input is one plain matrix product, a 3-D one a batched product (``torch.matmul``);
    a class without examples has a zero mean.

    Shape:
        emb: ``[..., M, D]``, labels: ``[..., M]`` in ``0..ways-1``. Output: ``[..., ways, D]``.
    """
    onehot = F.one_hot(labels, ways).to(emb.dtype)  # [..., M, ways]
    return (onehot.transpose(-2, -1) @ emb) / onehot.sum(-2).clamp_min(1.0).unsqueeze(-1)


def prototypical_loss(
    support_emb: torch.Tensor,
    support_labels: torch.Tensor,
    query_emb: torch.Tensor,
    query_labels: torch.Tensor,
    ways: int,
    distance: str = "euclidean",
    temperature: float = 1.0,
    *,
    across_ranks: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ProtoNet loss: softmax over ``-distance(query, prototype) / temperature``, cross-entropy.

    Prototypes are mean support embeddings per class. With ``distance="cosine"`` this is the
    scaled-cosine ProtoNet (scale ``1 / temperature``). ``across_ranks`` (under torchrun):
    the prototypes of every rank's episode are candidates (``distributed.all_gather``,
    gradients kept), each rank's classes distinct; with the same N on every rank this is the
    loss of one episode of all the ranks' classes (identity when not distributed).

    Shape:
        support_emb: ``[N*K, D]``, support_labels: ``[N*K]`` in ``0..N-1``,
        query_emb: ``[N*Q, D]``, query_labels: ``[N*Q]``. Outputs: two scalars (loss, accuracy).
    """
    prototypes = class_means(support_emb, support_labels, ways)
    if across_ranks and distributed.is_distributed():
        prototypes = distributed.all_gather(prototypes)
        query_labels = query_labels + distributed.rank() * ways
    logits = -DISTANCES.get(distance)(query_emb, prototypes) / temperature
    loss = F.cross_entropy(logits, query_labels)
    return loss, _accuracy(logits.argmax(1) == query_labels)


def multi_positive_xent(logits: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each row against each of its positives, averaged per row then over rows.

    Entries that are not candidates must be ``-inf`` in ``logits``; rows without a positive are
    skipped. Accuracy: the row's largest logit is a positive.

    Shape:
        logits: ``[A, M]``, positives: ``[A, M]`` bool. Outputs: two scalars (loss, accuracy).
    """
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_row_count = positives.sum(1)
    has_positive = per_row_count > 0
    row_loss = -torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(1)
    loss = (row_loss[has_positive] / per_row_count[has_positive]).mean()
    hit = positives.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    return loss, _accuracy(hit[has_positive])


def sup_con(
    z: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.5,
    *,
    sides: torch.Tensor | None = None,
    same_side_negatives: bool = True,
    symmetric: bool = True,
    across_ranks: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Supervised contrastive loss (Khosla et al. 2020, L_out); NT-Xent when labels are instance ids.

    Each view is an anchor; every other view with its label is a positive, every other view a
    candidate; similarity is cosine / temperature. ``sides`` (0 = support / first view,
    1 = query / second view) enables the two knobs between SimCLR and ProtoCLR:
    ``same_side_negatives=False`` compares an anchor only with views of the other side, and
    ``symmetric=False`` keeps only side-1 anchors.

    ``across_ranks`` (under torchrun): the anchors are this rank's views, the candidates every
    rank's (``distributed.all_gather``, gradients kept) and each rank's labels are made
    distinct (``distributed.rank_labels``: episode-local ids), so the other ranks' views are
    negatives. With the same ``M`` on every rank, the mean of the ranks' losses (and DDP's mean
    of their gradients) is the loss (and gradient) of one process on the concatenated views.
    Identity when not distributed.

    Shape:
        z: ``[M, D]``, labels: ``[M]``, sides: ``[M]`` in {0, 1}. Outputs: two scalars.
    """
    if sides is None and not (same_side_negatives and symmetric):
        raise ValueError("sup_con: same_side_negatives=False or symmetric=False needs sides")
    zn = F.normalize(z, dim=1)
    keys, key_labels, key_sides, first = zn, labels, sides, 0
    if across_ranks and distributed.is_distributed():
        labels, key_labels = distributed.rank_labels(labels)
        keys = distributed.all_gather(zn)
        key_sides = None if sides is None else distributed.gather_no_grad(sides)
        first = distributed.rank() * len(z)
    logits = zn @ keys.T / temperature
    rows = torch.arange(len(z), device=z.device)
    excluded = torch.zeros(len(z), len(keys), dtype=torch.bool, device=z.device)
    excluded[rows, first + rows] = True
    if not same_side_negatives:
        excluded |= sides[:, None] == key_sides[None, :]
    logits = logits.masked_fill(excluded, float("-inf"))
    positives = (labels[:, None] == key_labels[None, :]) & ~excluded
    if not symmetric:
        keep = sides == 1
        logits, positives = logits[keep], positives[keep]
    return multi_positive_xent(logits, positives)


def infonce(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    positives: torch.Tensor,
    distance: str = "euclidean",
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The N-way loss with one positive: ``-log e^{-d(z,z+)} / (e^{-d(z,z+)} + Σ_i e^{-d(z,z_i-)})``.

    Every (anchor, positive candidate) pair is one term, contrasted with all the anchor's
    negative candidates (the other positives of the anchor are left out of that term).
    ``d`` is a registered distance divided by ``temperature``. Accuracy: the positive is closer
    than every negative.

    Shape:
        anchors: ``[A, D]``, candidates: ``[M, D]``, positives: ``[A, M]`` bool.
        Outputs: two scalars (loss averaged over positive pairs, accuracy).
    """
    logits = -DISTANCES.get(distance)(anchors, candidates) / temperature  # [A, M]
    negative_lse = torch.logsumexp(logits.masked_fill(positives, float("-inf")), dim=1, keepdim=True)
    pair_loss = torch.logaddexp(logits, negative_lse) - logits  # [A, M]; valid where positive
    loss = pair_loss[positives].mean()
    best_negative = logits.masked_fill(positives, float("-inf")).max(1, keepdim=True).values
    return loss, _accuracy((logits > best_negative)[positives])


@MINERS.register("all", "batch-all: every valid (anchor, positive, negative) triplet")
def all_triplets(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every triplet with ``a != p``, ``label[a] == label[p]``, ``label[n] != label[a]``.

    Shape:
        dist: ``[M, M]``, labels: ``[M]``. Outputs: three ``[T]`` index tensors (a, p, n).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    valid = (same & ~eye)[:, :, None] & ~same[:, None, :]
    a, p, n = valid.nonzero(as_tuple=True)
    return a, p, n


@MINERS.register("hard", "batch-hard: per anchor, the farthest positive and the closest negative")
def hardest_triplets(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch-hard mining (Hermans et al. 2017): one triplet per anchor that has a positive.

    Shape:
        dist: ``[M, M]``, labels: ``[M]``. Outputs: three ``[T]`` index tensors (a, p, n).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_mask, neg_mask = same & ~eye, ~same
    d = dist.detach()
    p = d.masked_fill(~pos_mask, float("-inf")).argmax(1)
    n = d.masked_fill(~neg_mask, float("inf")).argmin(1)
    a = (pos_mask.any(1) & neg_mask.any(1)).nonzero().squeeze(1)
    return a, p[a], n[a]


@MINERS.register("semi-hard", "semi-hard: per (anchor, positive), the closest negative farther than the positive")
def semi_hard_triplets(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FaceNet's semi-hard mining: for each positive pair, the closest negative with
    ``d(a,n) > d(a,p)``; when there is none, the farthest negative.

    Shape:
        dist: ``[M, M]``, labels: ``[M]``. Outputs: three ``[T]`` index tensors (a, p, n).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    neg_mask = ~same
    a, p = ((same & ~eye) & neg_mask.any(1, keepdim=True)).nonzero(as_tuple=True)
    d = dist.detach()
    d_an = d[a]  # [T, M]
    farther = neg_mask[a] & (d_an > d[a, p][:, None])
    semi = d_an.masked_fill(~farther, float("inf")).argmin(1)
    easiest = d_an.masked_fill(~neg_mask[a], float("-inf")).argmax(1)
    n = torch.where(farther.any(1), semi, easiest)
    return a, p, n


def triplet_loss(
    emb: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, mining: str = "semi-hard"
) -> torch.Tensor:
    """Triplet loss ``max(0, d(a,p) - d(a,n) + margin)`` with squared Euclidean ``d``,
    averaged over the triplets a registered miner picks (``MINERS``: all, hard, semi-hard).

    Shape:
        emb: ``[M, D]``, labels: ``[M]``. Output: scalar.
    """
    miner = MINERS.get(mining)
    dist = squared_euclidean(emb, emb)
    a, p, n = miner(dist, labels)
    if len(a) == 0:
        raise BenchmarkError("triplet loss: the batch has no (anchor, positive, negative) triplet")
    return F.relu(dist[a, p] - dist[a, n] + margin).mean()


def pairwise_loss(emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between positive pairs, with no negatives: collapses to a constant.

    Shape:
        emb: ``[M, D]``, labels: ``[M]``. Output: scalar.
    """
    same = labels[:, None] == labels[None, :]
    pairs = torch.triu(same, diagonal=1)
    if not pairs.any():
        raise BenchmarkError("pairwise loss: the batch has no positive pair")
    return squared_euclidean(emb, emb)[pairs].mean()


# ------------------------------------------------------------ momentum-network losses


def queue_infonce(query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's loss: each query must pick its own key (logit ``q·k⁺ / τ``) out of it and the
    queue's keys (``q·k⁻ / τ``); cross-entropy with the positive at index 0.

    Shape:
        query: ``[P, D]`` (normalised here), key: ``[P, D]`` normalised, queue: ``[K, D]``
        normalised. Outputs: two scalars (loss, accuracy: the own key scores highest).
    """
    query = F.normalize(query, dim=1)
    positive = (query * key).sum(1, keepdim=True)
    logits = torch.cat([positive, query @ queue.T], dim=1) / temperature
    target = torch.zeros(len(query), dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target), (logits.argmax(1) == 0).float().mean().detach()


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos(prediction, target)``, averaged over pairs (BYOL's normalised MSE).

    Shape:
        prediction, target: ``[P, D]``. Output: scalar in ``[0, 4]``.
    """
    return (2 - 2 * F.cosine_similarity(prediction, target, dim=1)).mean()


def pseudo_supcon(query: torch.Tensor, shots: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Supervised contrastive loss of an N-way K-shot pseudo-task: query ``i``'s positives are
    its ``K`` shots, every one of the ``N*K`` shots is a candidate; per query, the mean over its
    positives of ``-log softmax(q·s / τ)``.

    Shape:
        query: ``[N, D]`` normalised, shots: ``[N, K, D]`` normalised. Outputs: two scalars
        (loss; accuracy: the query is closest to the mean of its own shots).
    """
    n, k, _ = shots.shape
    logits = query @ shots.reshape(n * k, -1).T / temperature  # [N, N*K]
    own = logits.reshape(n, n, k).diagonal(dim1=0, dim2=1).T  # [N, K]: q_i · s_ik
    loss = (torch.logsumexp(logits, dim=1) - own.mean(1)).mean()
    with torch.no_grad():
        nearest = (query @ shots.mean(1).T).argmax(1)
        acc = (nearest == torch.arange(n, device=query.device)).float().mean()
    return loss, acc
