"""``benchmark datasets list|prepare|show|embed``."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import data_root_arg, help_of, subcommand


def datasets_list(args: argparse.Namespace) -> int:
    """Print the datasets table (also ``benchmark list datasets``)."""
    from benchmark.cli import dataset_tools

    print(dataset_tools.format_table(dataset_tools.dataset_rows(args.data_root)))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from benchmark.cli import dataset_tools

    size = tuple(args.image_size) if args.image_size else None
    result = dataset_tools.prepare(args.name, args.source, args.data_root, force=args.force,
                                   image_size=size)
    print(dataset_tools.format_prepare_report(result))
    return 0


def _embed(args: argparse.Namespace) -> int:
    from benchmark.cli import dataset_tools

    path, size = dataset_tools.embed(args.data_root, args.out)
    print(f"wrote {path} ({size / 2**20:.2f} MiB)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from benchmark.cli.dataset_show import show

    options = {"preset": args.preset} if args.preset else None
    summaries, files = show(args.name, args.out, split=args.split, data_root=args.data_root,
                            sampler=args.sampler, classes=args.classes,
                            per_class=args.per_class, seed=args.seed, options=options)
    for summary in summaries:
        print(summary.line())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


@subcommand("datasets")
def add(commands: argparse._SubParsersAction) -> None:
    datasets = commands.add_parser("datasets", help="list, prepare, show or embed datasets")
    datasets.set_defaults(handler=help_of(datasets))
    cmds = datasets.add_subparsers(dest="datasets_command", metavar="COMMAND")
    listed = cmds.add_parser("list", help="registered datasets and their state "
                             "(the same table as `benchmark list datasets`)")
    data_root_arg(listed)
    listed.set_defaults(handler=datasets_list)

    prep = cmds.add_parser("prepare", help="prepare a dataset into the cache")
    prep.add_argument("name", help="registered dataset name (see `datasets list`), "
                      "or imagefolder:NAME for any ImageFolder tree")
    prep.add_argument("--source", type=Path, default=None,
                      help="local copy of the official archive(s) or an ImageFolder directory "
                      "(default: download the dataset)")
    prep.add_argument("--force", action="store_true", help="prepare again even if prepared")
    prep.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                      help="resize ImageFolder images to H W (imagefolder:NAME only; needed "
                      "when sizes differ)")
    data_root_arg(prep)
    prep.set_defaults(handler=_prepare)

    show = cmds.add_parser("show", help="counts per split, and PNG grids of sample images and "
                           "of augmented views")
    show.add_argument("name", help="a registered or ImageFolder-prepared dataset")
    show.add_argument("--split", default=None, help="the split drawn from (default: its train split)")
    show.add_argument("--out", type=Path, default=Path("results/datasets"),
                      help="the folder the PNGs go into")
    show.add_argument("--sampler", default="augment",
                      help="the training sampler whose episode is drawn")
    show.add_argument("--preset", default=None,
                      help="augment sampler: an augmentation preset (default: the dataset kind's)")
    show.add_argument("--classes", type=int, default=8, help="rows of each grid")
    show.add_argument("--per-class", type=int, default=8, help="images (views) per row")
    show.add_argument("--seed", type=int, default=0, help="the seed of the drawn images")
    data_root_arg(show)
    show.set_defaults(handler=_show)

    embed = cmds.add_parser("embed", help="write the embedded Omniglot file from the prepared "
                            "Omniglot")
    embed.add_argument("--out", type=Path, default=None,
                       help="the file to write (default: benchmark/data/embedded/omniglot28.npz)")
    data_root_arg(embed)
    embed.set_defaults(handler=_embed)

