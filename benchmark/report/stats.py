"""Statistics of the results: the 95% confidence interval of a mean accuracy (the one the
evaluator and the report share), paired tests and average ranks.

numpy and scipy only (no torch), so the report imports it without the training stack; scipy is
imported where a statistic is computed (about 0.7 s a process that computes none: --plan, refusals).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

__all__ = ["average_ranks", "holm", "intervals_overlap", "mean_ci95", "wilcoxon_p"]


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the Student-t 95% confidence interval of the mean.

    One value measures no spread: its half-width is ``nan`` (undefined), never 0.

    Args:
        values: one accuracy per episode, shape ``[E]``.

    Raises:
        ValueError: no values.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values")
    mean = float(data.mean())
    if data.size < 2:
        return mean, float("nan")
    sem = float(np.std(data, ddof=1)) / math.sqrt(data.size)
    from scipy import stats

    return mean, float(stats.t.ppf(0.975, data.size - 1) * sem)


def wilcoxon_p(first: Sequence[float], second: Sequence[float]) -> float:
    """Two-sided p-value of the paired Wilcoxon signed-rank test on identical episodes.

    Args:
        first, second: per-episode accuracies of two methods, shape ``[E]`` each, episode ``i``
            the same task for both. Identical results give p = 1.
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired test needs two equal, non-empty samples, got {a.size} and {b.size}")
    if np.allclose(a, b, rtol=0.0, atol=1e-12):
        return 1.0
    from scipy import stats

    return float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    The ``i``-th smallest p (``i`` from 0) is multiplied by ``m - i``, capped at 1, and made
    non-decreasing along that order (Holm 1979); rejecting adjusted p < alpha controls the
    family-wise error rate at alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (p.size - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted.tolist()


def intervals_overlap(mean_a: float, ci_a: float, mean_b: float, ci_b: float) -> bool:
    """Whether ``[mean_a ± ci_a]`` and ``[mean_b ± ci_b]`` overlap."""
    return mean_a - ci_a <= mean_b + ci_b and mean_b - ci_b <= mean_a + ci_a


def average_ranks(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Average rank per method over columns (1 = best; ties share the mean rank).

    Args:
        scores: ``{column: {method: mean accuracy}}``; a method missing from a column is
            ranked over the columns where it appears.
    """
    from scipy import stats

    totals: dict[str, list[float]] = {}
    for column in scores.values():
        methods = list(column)
        ranks = stats.rankdata([-column[m] for m in methods], method="average")
        for method, rank in zip(methods, ranks):
            totals.setdefault(method, []).append(float(rank))
    return {m: float(np.mean(r)) for m, r in totals.items()}
