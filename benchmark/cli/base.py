"""What every subcommand module shares: the registry of subcommands, the parser class, the
common flags, and the progress lines on stdout."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from benchmark.store import DEFAULT_STORE

Handler = Callable[[argparse.Namespace], int]
#: ``add(subparsers)`` of each subcommand, in the order ``benchmark --help`` lists them.
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def subcommand(name: str) -> Callable[[Callable[[argparse._SubParsersAction], None]],
                                      Callable[[argparse._SubParsersAction], None]]:
    """Register ``add(subparsers)``, which adds the subcommand ``name`` and its flags."""
    def register(add: Callable[[argparse._SubParsersAction], None]):
        SUBCOMMANDS[name] = add
        return add
    return register


class DefaultsFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to a flag's help, unless the help already names its default or
    there is none to name (None, a switch, a required flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or action.required
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose help may be completed when shown (``describe``: text added
    under the flags, computed only for ``--help``, e.g. names from a registry that is costly
    to import), and which shows every flag's default."""

    def __init__(self, *args, describe: Callable[[], str] | None = None, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)
        self.describe = describe

    def format_help(self) -> str:
        if self.describe is not None:
            self.epilog = self.describe()
        return super().format_help()


def help_of(parser: argparse.ArgumentParser) -> Handler:
    """A handler that prints ``parser``'s help (a command group given without its command)."""
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return 0
    return show


def data_root_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", type=Path, default=None,
                        help="prepared-data cache (default: $BENCHMARK_DATA or ~/.cache/benchmark)")


def store_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE,
                        help=f"the SQLite results store {what}")


class StdoutHandler(logging.Handler):
    """Writes each message, plain, to the ``sys.stdout`` of the moment (so a redirection made
    after start-up, e.g. pytest's ``capsys``, sees it), flushed line by line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 (logging's own convention)
            self.handleError(record)


def log_to_stdout() -> None:
    """Print the ``benchmark`` logger's messages (INFO and up) on stdout; idempotent."""
    logger = logging.getLogger("benchmark")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, StdoutHandler) for h in logger.handlers):
        logger.addHandler(StdoutHandler())
