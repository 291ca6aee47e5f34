"""What every perf script does with its Markdown: write it atomically, and say whether a target is met."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_report(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` through a temporary file in the same folder, so a reader or a
    kill never sees half a report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verdict(met: bool) -> str:
    """``met`` or ``NOT met``."""
    return "met" if met else "NOT met"
