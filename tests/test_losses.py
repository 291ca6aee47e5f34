"""Losses against hand-written loop references, and triplet mining on a constructed example."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from training_helpers import two_view_nt_xent as nt_xent

from benchmark.losses import (
    DISTANCES,
    MINERS,
    all_triplets,
    hardest_triplets,
    infonce,
    pairwise_loss,
    prototypical_loss,
    semi_hard_triplets,
    squared_euclidean,
    sup_con,
    triplet_loss,
)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """NT-Xent by loops: each of the 2B views against its partner and the 2B-2 others."""
    views = list(z1) + list(z2)
    batch = len(z1)
    total = 0.0
    for i, zi in enumerate(views):
        partner = (i + batch) % (2 * batch)
        denominator = sum(math.exp(_cos(zi, zk) / tau) for k, zk in enumerate(views) if k != i)
        total += -math.log(math.exp(_cos(zi, views[partner]) / tau) / denominator)
    return total / (2 * batch)


@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
@pytest.mark.parametrize("batch", [2, 5, 16])
def test_nt_xent_matches_loop_reference(tau: float, batch: int) -> None:
    g = torch.Generator().manual_seed(batch)
    z1, z2 = torch.randn(batch, 8, generator=g, dtype=torch.float64), torch.randn(batch, 8, generator=g, dtype=torch.float64)
    loss, acc = nt_xent(z1, z2, tau)
    assert abs(loss.item() - nt_xent_reference(z1, z2, tau)) < 1e-6
    assert 0.0 <= acc.item() <= 1.0 and not acc.requires_grad


def test_nt_xent_accuracy_is_partner_identification() -> None:
    z = torch.eye(4, dtype=torch.float64)
    assert nt_xent(z, z + 0.01, 0.5)[1].item() == 1.0


def test_sup_con_with_instance_labels_is_nt_xent() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    ids = torch.arange(6)
    sup, _ = sup_con(torch.cat([z1, z2]), torch.cat([ids, ids]), 0.3)
    assert torch.allclose(sup, nt_xent(z1, z2, 0.3)[0], atol=1e-6)


def test_sup_con_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(9, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    tau = 0.4
    total = 0.0
    for i in range(9):
        denominator = sum(math.exp(_cos(z[i], z[k]) / tau) for k in range(9) if k != i)
        positives = [p for p in range(9) if p != i and labels[p] == labels[i]]
        total += -sum(math.log(math.exp(_cos(z[i], z[p]) / tau) / denominator) for p in positives) / len(positives)
    assert abs(sup_con(z, labels, tau)[0].item() - total / 9) < 1e-6


def test_prototypical_loss_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(2)
    ways, shots, queries = 3, 2, 2
    support = torch.randn(ways * shots, 4, generator=g, dtype=torch.float64)
    query = torch.randn(ways * queries, 4, generator=g, dtype=torch.float64)
    ys, yq = torch.arange(ways).repeat_interleave(shots), torch.arange(ways).repeat_interleave(queries)
    prototypes = [support[ys == c].mean(0) for c in range(ways)]
    total = 0.0
    for q, y in zip(query, yq):
        logits = [-float(((q - p) ** 2).sum()) / 2.0 for p in prototypes]
        total += -logits[y] + math.log(sum(math.exp(v) for v in logits))
    loss, acc = prototypical_loss(support, ys, query, yq, ways, "euclidean", temperature=2.0)
    assert abs(loss.item() - total / len(query)) < 1e-6
    assert 0.0 <= acc.item() <= 1.0


def test_one_shot_cosine_prototypical_loss_is_query_half_of_nt_xent_without_same_side() -> None:
    g = torch.Generator().manual_seed(3)
    support, query = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    ids, tau = torch.arange(7), 0.2
    proto, _ = prototypical_loss(support, ids, query, ids, 7, "cosine", tau)
    half, _ = nt_xent(support, query, tau, same_side_negatives=False, symmetric=False)
    reference = 0.0
    for i in range(7):
        denominator = sum(math.exp(_cos(query[i], support[k]) / tau) for k in range(7))
        reference += -math.log(math.exp(_cos(query[i], support[i]) / tau) / denominator)
    assert abs(proto.item() - reference / 7) < 1e-6
    assert abs(half.item() - reference / 7) < 1e-6


@pytest.mark.parametrize("distance", DISTANCES.names())
def test_infonce_matches_loop_reference(distance: str) -> None:
    g = torch.Generator().manual_seed(4)
    anchors, candidates = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    a_labels, c_labels = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1, 2, 2])
    d = DISTANCES.get(distance)
    total, terms = 0.0, 0
    for i in range(4):
        negatives = [math.exp(-float(d(anchors[i : i + 1], candidates[k : k + 1]))) for k in range(6) if c_labels[k] != a_labels[i]]
        for p in range(6):
            if c_labels[p] == a_labels[i]:
                positive = math.exp(-float(d(anchors[i : i + 1], candidates[p : p + 1])))
                total += -math.log(positive / (positive + sum(negatives)))
                terms += 1
    loss, acc = infonce(anchors, candidates, a_labels[:, None] == c_labels[None, :], distance)
    assert abs(loss.item() - total / terms) < 1e-6
    assert 0.0 <= acc.item() <= 1.0


def test_distances() -> None:
    a, b = torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(squared_euclidean(a, b), torch.tensor([[25.0, 4.0], [20.0, 5.0]]))
    assert torch.allclose(DISTANCES.get("cosine")(a[1:], b), torch.tensor([[-0.6, 0.0]]))
    with pytest.raises(BenchmarkError, match="unknown distance 'manhattan'"):
        DISTANCES.get("manhattan")


# Points on a line: class A at 0 (anchor), 1 and -2; class B at 0.5, 1.2 and 3.
LINE = torch.tensor([[0.0], [1.0], [0.5], [1.2], [3.0], [-2.0]])
LINE_LABELS = torch.tensor([0, 0, 1, 1, 1, 0])


def _chosen(miner, anchor: int, positive: int | None = None) -> tuple[int, int]:
    a, p, n = miner(squared_euclidean(LINE, LINE), LINE_LABELS)
    rows = (a == anchor) if positive is None else (a == anchor) & (p == positive)
    assert rows.sum() == 1
    return int(p[rows]), int(n[rows])


def test_batch_hard_picks_farthest_positive_and_closest_negative() -> None:
    assert _chosen(hardest_triplets, 0) == (5, 2)  # d(0,-2)=4 is the farthest positive; 0.5 the closest negative
    assert _chosen(hardest_triplets, 4) == (2, 1)  # from 3: positive 0.5 is farthest, negative 1 is closest


def test_semi_hard_picks_closest_negative_beyond_the_positive() -> None:
    assert _chosen(semi_hard_triplets, 0, 1) == (1, 3)  # d_ap=1: 1.2 (1.44) beats 0.5 (0.25, too hard)
    assert _chosen(semi_hard_triplets, 0, 5) == (5, 4)  # d_ap=4: only 3.0 (9) is farther
    assert _chosen(semi_hard_triplets, 1, 5) == (5, 4)  # d_ap=9: none farther, fall back to the easiest


def test_batch_all_counts_every_triplet() -> None:
    a, p, n = all_triplets(squared_euclidean(LINE, LINE), LINE_LABELS)
    assert len(a) == 6 * 2 * 3
    assert bool((LINE_LABELS[a] == LINE_LABELS[p]).all() and (LINE_LABELS[a] != LINE_LABELS[n]).all() and (a != p).all())


@pytest.mark.parametrize("mining", MINERS.names())
def test_triplet_loss_is_hinge_over_mined_triplets(mining: str) -> None:
    dist = squared_euclidean(LINE, LINE)
    a, p, n = MINERS.get(mining)(dist, LINE_LABELS)
    expected = F.relu(dist[a, p] - dist[a, n] + 0.5).mean()
    assert torch.allclose(triplet_loss(LINE, LINE_LABELS, 0.5, mining), expected)


def test_triplet_loss_refuses_unknown_mining_and_single_class() -> None:
    with pytest.raises(BenchmarkError, match="unknown triplet mining 'easy'"):
        triplet_loss(LINE, LINE_LABELS, 0.2, "easy")
    with pytest.raises(BenchmarkError, match="no .anchor, positive, negative. triplet"):
        triplet_loss(LINE, torch.zeros(6, dtype=torch.long), 0.2, "all")


def test_pairwise_loss_is_mean_squared_positive_distance() -> None:
    emb = torch.tensor([[0.0], [2.0], [5.0], [5.0], [9.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    assert pairwise_loss(emb, labels).item() == pytest.approx((4.0 + 0.0) / 2)
    assert pairwise_loss(torch.zeros(5, 3), labels).item() == 0.0
