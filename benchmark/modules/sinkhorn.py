"""Sinkhorn-Knopp (Cuturi 2013): the entropic balanced assignment of rows to columns."""

from __future__ import annotations

import torch


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 100,
             tolerance: float = 1e-5) -> torch.Tensor:
    """The transport plan ``P = diag(u) exp(scores / epsilon) diag(v)`` with uniform marginals:
    every row sums to ``1 / N`` and every column to ``1 / M`` (``N * P`` is row-stochastic;
    for a square ``P``, doubly stochastic).

    Alternating column and row normalisation, stopping once every row sum is within a relative
    ``tolerance`` of ``1 / N`` after a column step, or after ``iterations`` rounds. The last
    step normalises the rows, so row sums are exact and the column sums carry what is left of
    the error. Each row is shifted by its maximum before ``exp`` (the plan is unchanged: ``u``
    absorbs it), so no row underflows to zero.

    Shape:
        scores: ``[N, M]`` (similarities). Output: ``[N, M]`` float32, non-negative, sums to 1.
    """
    n, m = scores.shape
    scores = scores.float()
    plan = torch.exp((scores - scores.max(dim=1, keepdim=True).values) / epsilon)
    for _ in range(iterations):
        plan /= plan.sum(dim=0, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny) * m
        row_error = (plan.sum(dim=1) * n - 1).abs().max()
        plan /= plan.sum(dim=1, keepdim=True) * n
        if row_error < tolerance:
            break
    return plan
