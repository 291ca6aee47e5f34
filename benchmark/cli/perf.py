"""``benchmark perf NAME``: a speed benchmark (a registered perf script)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import data_root_arg, subcommand
from benchmark.store import DEFAULT_STORE


def _perf(args: argparse.Namespace) -> int:
    from benchmark.perf import run_script

    return run_script(args.what, args.out, data_root=args.data_root, benchmark=args.benchmark,
                      store=args.store)


def _scripts() -> str:
    """The registered perf scripts (imported only for ``perf --help``: they import torch)."""
    from benchmark.perf import PERF_SCRIPTS

    return "perf scripts: " + "; ".join(f"{e.name}: {e.description}"
                                        for e in PERF_SCRIPTS.entries())


@subcommand("perf")
def add(commands: argparse._SubParsersAction) -> None:
    perf = commands.add_parser("perf", help="speed benchmarks (not tests)", describe=_scripts)
    perf.add_argument("what", metavar="NAME", help="which perf script (listed below)")
    perf.add_argument("--out", type=Path, default=None,
                      help="the Markdown report to write (default: print it only)")
    perf.add_argument("--benchmark", default=None, metavar="NAME",
                      help="accuracy: the stored benchmark to read")
    perf.add_argument("--store", type=Path, action="append", default=None,
                      help=f"accuracy: the results store (default: {DEFAULT_STORE}); repeat it "
                           "to put the runs of several stores in one table")
    data_root_arg(perf)
    perf.set_defaults(handler=_perf)
