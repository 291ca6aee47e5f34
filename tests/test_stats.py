"""The one confidence interval of the evaluator and the report (``benchmark.report.stats``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmark.report import stats


def test_the_interval_is_the_student_t_half_width() -> None:
    """Two values 0 and 1: mean 0.5, standard error 0.5, t(0.975, 1) = 12.7062."""
    mean, ci = stats.mean_ci95([0.0, 1.0])
    assert mean == 0.5 and ci == pytest.approx(12.7062047 * 0.5, rel=1e-6)


def test_a_single_value_has_no_interval_and_none_is_refused() -> None:
    mean, ci = stats.mean_ci95([0.75])
    assert mean == 0.75 and np.isnan(ci)
    with pytest.raises(ValueError, match="no values"):
        stats.mean_ci95([])


def test_identical_values_have_a_zero_interval() -> None:
    assert stats.mean_ci95([0.5, 0.5, 0.5]) == (0.5, 0.0)


def test_the_report_and_the_interval_do_not_import_torch() -> None:
    code = ("import sys, benchmark.report.stats, benchmark.report.tables, benchmark.report.render; "
            "print(sorted(m for m in ('torch', 'easyfsl') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
