"""Speed benchmarks (not tests): ``python -m benchmark perf NAME [--out FILE]``.

``PERF_SCRIPTS`` maps a name to ``fn(out: Path | None, data_root: Path | None) -> int``
(the exit code). Each script lives in its own module, imported below to register itself;
the list is explicit, so a missing module fails loudly at import.
"""

from benchmark.registry import Registry

PERF_SCRIPTS: Registry = Registry("perf benchmark")

from benchmark.perf import sampler, step  # noqa: E402,F401  (register their scripts)
