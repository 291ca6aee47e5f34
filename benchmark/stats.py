"""The 95% confidence interval of a mean accuracy, shared by the evaluator and the report.

numpy and scipy only (no torch), so the report can import it without the training stack.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


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
    return mean, float(stats.t.ppf(0.975, data.size - 1) * sem)
