"""``benchmark list WHAT``: a registry's names and descriptions (``list datasets``: the
datasets table of ``benchmark datasets list``)."""

from __future__ import annotations

import argparse
import shutil

from benchmark import listing
from benchmark.cli.base import data_root_arg, subcommand
from benchmark.cli.datasets import datasets_list


def _list(args: argparse.Namespace) -> int:
    if args.what == "datasets":
        return datasets_list(args)
    width = shutil.get_terminal_size().columns
    for name, description in listing.registry_entries(args.what):
        line = f"{name:<20} {description}"
        print(line if len(line) <= width else line[:width - 1] + "…")
    return 0


@subcommand("list")
def add(commands: argparse._SubParsersAction) -> None:
    lister = commands.add_parser("list", help="registered methods, backbones, datasets, heads, "
                                 "samplers or presets")
    lister.add_argument("what", choices=sorted(listing.REGISTRIES), help="which registry")
    data_root_arg(lister)
    lister.set_defaults(handler=_list)
