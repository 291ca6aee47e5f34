"""Speed benchmarks (not tests): ``python -m benchmark perf NAME [--out FILE]``.

``PERF_SCRIPTS`` maps a name to ``fn(out: Path | None, data_root: Path | None) -> int``
(the exit code). Each script lives in its own module, imported below to register itself;
the list is explicit, so a missing module fails loudly at import. The baselines they measure
against come with the ``perf`` extra (``pip install .[perf]``; learn2learn comes from
``scripts/install_learn2learn.sh``): every script calls ``require_extra`` first. Nothing
outside this package imports it.
"""

from importlib.util import find_spec

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry

#: The modules of the ``perf`` extra.
EXTRA_MODULES = ("easyfsl",)


def require_extra() -> None:
    """Refuse (one BenchmarkError line) to measure without the ``perf`` extra installed."""
    missing = [name for name in EXTRA_MODULES if find_spec(name) is None]
    if missing:
        raise BenchmarkError(f"the speed benchmarks need the perf extra ({', '.join(missing)} is not "
                             "installed): pip install '.[perf]'")


PERF_SCRIPTS: Registry = Registry("perf benchmark")

from benchmark.perf import sampler, step  # noqa: E402,F401  (register their scripts)
