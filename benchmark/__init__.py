"""Contrastive self-supervised learning and few-shot meta-learning under one episodic API.

The Python API (``benchmark.api``; imported on first use): ``benchmark.run(spec, ...)``,
``benchmark.results(store, spec=None)``, ``benchmark.evaluate(encoder, dataset, ways, shots)``
(``dir(benchmark)`` lists them, so a notebook's tab completion shows them).
"""

from typing import Any as _Any

__version__ = "0.1.0"
__all__ = ["evaluate", "results", "run"]


def __getattr__(name: str) -> _Any:
    """``run``, ``results`` and ``evaluate`` from ``benchmark.api``, imported when first used
    (so ``import benchmark`` stays light and the CLI's modules import no API)."""
    if name in __all__:
        from benchmark import api

        return getattr(api, name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The API and the module's dunder names (tab completion shows the API, not the submodules
    an import has loaded)."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
