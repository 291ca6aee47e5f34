"""``MetricsLog``: rows past the resume step are cut through ``atomic_write`` (no torn file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.train import metrics_log
from benchmark.train.metrics_log import METRIC_COLUMNS, MetricsLog


def write_rows(path: Path, steps: range) -> None:
    log = MetricsLog(path, 0)
    for step in steps:
        log.write({"step": step, "seed": 0, "loss": 1.0 / step, "acc": 0.5, "lr": 0.1,
                   "val_acc": "", "seconds": step, "grad_norm": 2.0})
    log.close()


def test_resume_keeps_the_rows_up_to_the_checkpoint_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write_rows(path, range(1, 8))
    with path.open("a") as handle:
        handle.write("8,0,0.1")  # a row cut short by a kill
    log = MetricsLog(path, 5)
    assert log.columns == [*METRIC_COLUMNS, "grad_norm"]
    log.write({"step": 6, "seed": 0, "loss": 0.5, "acc": 1.0, "lr": 0.1, "val_acc": "",
               "seconds": 6, "grad_norm": 1.0})
    log.close()
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join([*METRIC_COLUMNS, "grad_norm"])
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4", "5", "6"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_the_cut_goes_through_atomic_write(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "metrics.csv"
    write_rows(path, range(1, 4))
    before = path.read_bytes()

    def crash(target: Path, text: str) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(metrics_log, "atomic_write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        MetricsLog(path, 1)
    assert path.read_bytes() == before
