"""``benchmark report``: render the stored results' tables, pages and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import store_arg, subcommand


def _report(args: argparse.Namespace) -> int:
    from benchmark.report import render

    if args.ablation is not None:
        render.render_ablation_store(args.store, args.ablation, out_dir=args.out)
        return 0
    render.render_store(args.store, out_dir=args.out, benchmark_name=args.benchmark)
    return 0


@subcommand("report")
def add(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="render result tables, pages and plots from "
                                 "the store (and results/index.html)")
    store_arg(report, "to read")
    report.add_argument("--benchmark", default=None, metavar="NAME",
                        help="the benchmark (spec name) to report (default: every one)")
    report.add_argument("--name", dest="benchmark", help=argparse.SUPPRESS)  # the old spelling
    report.add_argument("--out", type=Path, default=Path("results"),
                        help="the output folder (its index.html links every page)")
    report.add_argument("--ablation", default=None, metavar="NAME",
                        help="render this stored ablation into OUT/ablations/NAME/ (and the "
                        "index OUT/ablations/index.md) instead of the benchmarks")
    report.set_defaults(handler=_report)
