"""``benchmark eval``: episodic evaluation of a checkpoint or of any encoder."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import data_root_arg, subcommand
from benchmark.errors import BenchmarkError


def _eval(args: argparse.Namespace) -> int:
    from benchmark import evaluation
    from benchmark.data.convert import parse_conversion

    if (args.checkpoint is None) == (args.backbone is None):
        raise BenchmarkError("eval: give --checkpoint FILE or --backbone NAME (exactly one)")
    if args.weights is not None and args.backbone is None:
        raise BenchmarkError("eval: --weights goes with --backbone (a checkpoint holds its weights)")
    convert = parse_conversion(args.convert) if args.convert is not None else None
    if args.backbone is not None:
        from benchmark.api import evaluate as evaluate_encoder

        if convert is not None:
            raise BenchmarkError("eval: --convert goes with --checkpoint (a --backbone takes the "
                                 "dataset's images as they are and resizes them itself)")
        result = evaluate_encoder(
            args.backbone, args.dataset, args.ways, args.shots, split=args.split,
            weights=args.weights, queries=args.queries, episodes=args.episodes, head=args.head,
            seed=args.seed, device=args.device, data_root=args.data_root, progress=None,
            precision=args.precision, rotations=args.rotations)
        print(result.summary())
        return 0
    result = evaluation.evaluate_checkpoint(
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        split=args.split,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        episodes=args.episodes,
        head=args.head,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
        convert=convert,
        progress=None,
        precision=args.precision,
        rotations=args.rotations,
    )
    print(result.summary())
    return 0


@subcommand("eval")
def add(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser("eval", help="episodic evaluation of a checkpoint or of any encoder")
    ev.add_argument("--checkpoint", type=Path, default=None, help="a benchmark checkpoint")
    ev.add_argument("--backbone", default=None, metavar="NAME",
                    help="instead of --checkpoint: a backbone evaluated as it is, e.g. "
                    "torchvision:resnet18, timm:vit_small_patch16_224 or conv4")
    ev.add_argument("--weights", default=None, metavar="PATH",
                    help="--backbone's weights: a .pth state dict, a timm/torchvision "
                    "checkpoint, or 'library' (the library's download); default: random")
    ev.add_argument("--dataset", required=True, help="a registered or prepared dataset")
    ev.add_argument("--split", default=None, help="the split (default: the dataset's test split)")
    ev.add_argument("--ways", type=int, default=5, help="classes per episode (N)")
    ev.add_argument("--shots", type=int, default=1, help="support images per class (K)")
    ev.add_argument("--queries", type=int, default=15, help="query images per class")
    ev.add_argument("--episodes", type=int, default=600, help="fixed test episodes")
    ev.add_argument("--head", default="prototype",
                    help="a registered head (benchmark list heads)")
    ev.add_argument("--seed", type=int, default=0, help="fixes the episodes")
    ev.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ev.add_argument("--precision", default="float32",
                    help="embed in float32 (default), bfloat16, float16 (CUDA) or auto "
                    "(bfloat16 where the hardware has it); the features are float32")
    ev.add_argument("--convert", default=None, metavar="auto|channels=C,size=S",
                    help="convert the dataset's images to the checkpoint's image shape first "
                    "(RGB/grey, antialiased bilinear resize); auto: to whatever it is")
    ev.add_argument("--rotations", action="store_true",
                    help="each class rotated by 90, 180 and 270 degrees is a class of its own "
                    "(4x the classes), as Snell et al. and Finn et al. test Omniglot")
    data_root_arg(ev)
    ev.set_defaults(handler=_eval)
