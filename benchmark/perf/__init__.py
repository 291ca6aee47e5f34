"""Speed benchmarks (not tests): ``python -m benchmark perf NAME [--out FILE]``.

``PERF_SCRIPTS`` maps a name to ``fn(out: Path | None, **options) -> int`` (the exit code);
the options a script takes (``data_root``, ``benchmark``, ``store``: the command's
``--data-root``, ``--benchmark``, ``--store``) are keyword parameters of ``fn``, and
``run_script`` refuses an option given to a script that takes none such. Each script lives in
its own module, imported below to register itself; the list is explicit, so a missing module
fails loudly at import. The baselines the speed scripts measure against come with the ``perf``
extra (``pip install .[perf]``; learn2learn comes from ``scripts/install_learn2learn.sh``):
those scripts call ``require_extra`` first (``accuracy`` reads a store and needs none: it is
``benchmark.report.accuracy_table``, registered here under its command's name).
Nothing outside this package imports it.
"""

import inspect
from importlib.util import find_spec
from pathlib import Path
from typing import Any

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


def run_script(name: str, out: Path | None, **options: Any) -> int:
    """Run perf script ``name`` with ``out`` and the ``options`` given (not None); one it
    does not take is refused (``--data-root`` for ``data_root``)."""
    script = PERF_SCRIPTS.get(name)
    given = {key: value for key, value in options.items() if value is not None}
    takes = inspect.signature(script).parameters
    refused = [f"--{key.replace('_', '-')}" for key in given if key not in takes]
    if refused:
        raise BenchmarkError(f"perf {name} takes no {', '.join(refused)}")
    return script(out=out, **given)


from benchmark.perf import sampler, step  # noqa: E402,F401  (register their scripts)
from benchmark.report import accuracy_table  # noqa: E402  (a report of stored runs, not a speed benchmark)

PERF_SCRIPTS.register("accuracy", "training minutes to 85/88/90/95/98% validation accuracy per "
                                  "run of a stored benchmark (--benchmark NAME [--store PATH]..., "
                                  "several stores in one table)")(accuracy_table.run)
from benchmark.perf import maml  # noqa: E402,F401  (registers its script)
