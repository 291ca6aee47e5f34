"""Argument parsing for ``python -m benchmark``; every command calls into the package.

Only this package parses arguments and configures logging: the package's log messages (the
runner's progress lines) are printed on stdout as plain lines. One module per subcommand
group registers itself in ``base.SUBCOMMANDS``. Exit codes: 0 done; 1 a run failed (recorded
in the store); 2 a refused input (a ``BenchmarkError`` anywhere below: one line
``error: <message>`` on stderr).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Sequence

from benchmark import __version__
from benchmark.cli import catalog, datasets, evaluate, perf, report, run  # noqa: F401 (register)
from benchmark.cli.base import SUBCOMMANDS, Parser, help_of, log_to_stdout
from benchmark.cli.run import parse_set
from benchmark.interrupt import Terminated, interrupts_at_safe_points
from benchmark.errors import BenchmarkError, RunsFailed
from benchmark.memory import keep_freed_memory

__all__ = ["build_parser", "log_to_stdout", "main", "parse_set"]

DESCRIPTION = ("Few-shot learning benchmarks under one episodic API: contrastive "
               "self-supervised methods (SimCLR, MoCo, BYOL, ProtoCLR, PsCo), metric "
               "meta-learners (ProtoNet), optimisation-based meta-learners (MAML, ANIL, UMTRA) "
               "and closed-form heads (R2-D2), with pretrained backbones as baselines "
               "(`benchmark list methods`).")


def build_parser() -> argparse.ArgumentParser:
    """The full ``benchmark`` argument parser: one registered ``add`` per subcommand."""
    parser = Parser(prog="benchmark", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(handler=help_of(parser))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS.values():
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``benchmark`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["python", "-m", "benchmark", *argv])
    keep_freed_memory()
    log_to_stdout()
    try:
        with interrupts_at_safe_points():
            return args.handler(args)
    except RunsFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated (SIGTERM): runs in flight recorded as failed, leases released; "
              "run the command again to resume", file=sys.stderr)
        return 143
