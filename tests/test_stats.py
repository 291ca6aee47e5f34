"""One confidence interval for the evaluator and the report (``benchmark.stats``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmark import stats
from benchmark.report import stats as report_stats


def test_report_uses_the_one_interval() -> None:
    assert report_stats.mean_ci95 is stats.mean_ci95


def test_a_single_value_has_no_interval_and_none_is_refused() -> None:
    mean, ci = stats.mean_ci95([0.75])
    assert mean == 0.75 and np.isnan(ci)
    with pytest.raises(ValueError, match="no values"):
        stats.mean_ci95([])


def test_identical_values_have_a_zero_interval() -> None:
    assert stats.mean_ci95([0.5, 0.5, 0.5]) == (0.5, 0.0)


def test_the_report_and_the_interval_do_not_import_torch() -> None:
    code = ("import sys, benchmark.stats, benchmark.report.tables, benchmark.report.render; "
            "print(sorted(m for m in ('torch', 'easyfsl') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
