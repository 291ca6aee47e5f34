"""``MetricsLog``: one row per training step in ``metrics.csv``, cut back to a checkpoint on resume."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from benchmark.atomic import atomic_write_text, write_failure
from benchmark.errors import BenchmarkError

METRIC_COLUMNS = ("step", "seed", "loss", "acc", "lr", "val_acc", "seconds")


class MetricsLog:
    """Per-step rows in ``metrics.csv``; on resume, rows past the checkpoint are dropped first."""

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.exists():
            self._truncate(resume_step)
        self._handle: io.TextIOWrapper | None = None
        self._writer: csv.DictWriter | None = None

    def _truncate(self, resume_step: int) -> None:
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows, last = [], 0
            for row in reader:  # a row cut short by a kill is incomplete or out of order: dropped
                step = row.get("step") or ""
                complete = None not in row.values() and None not in row and step.isdigit()
                if complete and last < int(step) <= resume_step:
                    rows.append(row)
                    last = int(step)
        if not columns:
            return
        self.columns = columns
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one step's row (buffered until ``flush``)."""
        with self._failing_writes():
            self._write(row)

    def _write(self, row: Mapping[str, Any]) -> None:
        if self._writer is None:
            if self.columns is None:
                extra = sorted(k for k in row if k not in METRIC_COLUMNS)
                self.columns = list(METRIC_COLUMNS) + extra
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._handle = self.path.open("a", newline="")
            self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                self._writer.writeheader()
        self._writer.writerow(row)

    def flush(self) -> None:
        """Write the buffered rows through to the disk."""
        if self._handle is not None:
            with self._failing_writes():
                self._handle.flush()
                os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            try:
                self.flush()
            finally:
                handle, self._handle, self._writer = self._handle, None, None
                with contextlib.suppress(OSError):  # the flush above reported the failure
                    handle.close()

    @contextlib.contextmanager
    def _failing_writes(self) -> Iterator[None]:
        """An OSError (a full disk, ...) as one BenchmarkError line naming the file."""
        try:
            yield
        except OSError as err:
            raise BenchmarkError(f"cannot write {self.path} "
                                 f"({write_failure(err, self.path.parent)})") from None
