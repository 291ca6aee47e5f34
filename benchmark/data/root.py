"""Where prepared datasets live: ``--data-root``, else ``$BENCHMARK_DATA``, else ``~/.cache/benchmark``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BENCHMARK_DATA"
DEFAULT_ROOT = Path("~/.cache/benchmark")


def resolve_data_root(root: Path | None) -> Path:
    """The data root to use: ``root`` if given, else ``$BENCHMARK_DATA``, else ``~/.cache/benchmark``."""
    if root is None:
        env = os.environ.get(ENV_VAR)
        root = Path(env) if env else DEFAULT_ROOT
    return Path(root).expanduser()
