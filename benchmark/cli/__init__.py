"""Argument parsing for ``python -m benchmark``; every command calls into the package.

Only this module parses arguments and configures logging: the package's log messages (the
runner's progress lines) are printed on stdout as plain lines. A ``BenchmarkError`` anywhere
below becomes one line ``error: <message>`` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

from benchmark import listing
from benchmark.errors import BenchmarkError
from benchmark.memory import keep_freed_memory

Handler = Callable[[argparse.Namespace], int]


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


def _data_root_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="prepared-data cache (default: $BENCHMARK_DATA or ~/.cache/benchmark)",
    )


def _cmd_datasets_list(args: argparse.Namespace) -> int:
    from benchmark.data import commands

    print(commands.format_table(commands.dataset_rows(args.data_root)))
    return 0


def _cmd_datasets_prepare(args: argparse.Namespace) -> int:
    from benchmark.data import commands

    size = tuple(args.image_size) if args.image_size else None
    result = commands.prepare(args.name, args.source, args.data_root, force=args.force, image_size=size)
    print(commands.format_prepare_report(result))
    return 0


def _cmd_datasets_embed(args: argparse.Namespace) -> int:
    from benchmark.data import commands

    path, size = commands.embed(args.data_root, args.out)
    print(f"wrote {path} ({size / 2**20:.2f} MiB)")
    return 0


def _cmd_datasets_show(args: argparse.Namespace) -> int:
    from benchmark.data.show import show

    options = {"preset": args.preset} if args.preset else None
    summaries, files = show(args.name, args.out, split=args.split, data_root=args.data_root,
                            sampler=args.sampler, classes=args.classes,
                            per_class=args.per_class, seed=args.seed, options=options)
    for summary in summaries:
        print(summary.line())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for name, description in listing.registry_entries(args.what):
        print(f"{name:<20} {description}")
    return 0


def _cmd_perf(args: argparse.Namespace) -> int:
    from benchmark.perf import run_script

    return run_script(args.what, args.out, data_root=args.data_root, benchmark=args.benchmark,
                      store=args.store)


def parse_set(items: Sequence[str] | None) -> dict[str, object] | None:
    """``--set PATH=VALUE`` options → ``{path: value}``, each value read as YAML (``0.2``,
    ``[0,1]``, ``true``, ``{crop_scale: [0.6, 1.0]}``, ``1e-3``), as a spec file's values are."""
    import yaml

    from benchmark.spec_yaml import parse_value

    if not items:
        return None
    out: dict[str, object] = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise BenchmarkError(f"--set {item!r}: expected PATH=VALUE, e.g. "
                                 "methods[0].params.temperature=0.2")
        try:
            out[path.strip()] = parse_value(text)
        except yaml.YAMLError as err:
            raise BenchmarkError(f"--set {item!r}: the value is not YAML "
                                 f"({str(err).splitlines()[0]})") from None
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from benchmark import executors, runner
    from benchmark.runner.driver import plan_file

    overrides = parse_set(args.set)
    if args.plan:
        print(plan_file(args.spec, store_path=args.store, data_root=args.data_root,
                        device=args.device, overrides=overrides, only=args.only, yes=args.yes,
                        runs_dir=args.runs_dir))
        return 0
    options = {key: value for key, value in [("address", args.address), ("cpus", args.job_cpus),
                                             ("gpus", args.job_gpus), ("workers", args.workers)]
               if value is not None}  # only those given: an executor refuses others
    executors.launch(args.executor, lambda: runner.run_file(
        args.spec,
        store_path=args.store,
        data_root=args.data_root,
        runs_dir=args.runs_dir,
        device=args.device,
        report_dir=args.report_dir,
        executor=args.executor,
        executor_options=options,
        lease_timeout=args.lease_timeout,
        yes=args.yes,
        command=args.command_line,
        overrides=overrides,
        only=args.only,
    ))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from benchmark.report import render

    if args.ablation is not None:
        render.render_ablation_store(args.store, args.ablation, out_dir=args.out)
        return 0
    render.render_store(args.store, out_dir=args.out, benchmark_name=args.name)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
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
            seed=args.seed, device=args.device, data_root=args.data_root)
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
    )
    print(result.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full ``benchmark`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="benchmark",
        description="SimCLR and Prototypical Networks under one episodic API.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    datasets = commands.add_parser("datasets", help="list or prepare datasets")
    datasets_cmds = datasets.add_subparsers(dest="datasets_command", required=True)
    ds_list = datasets_cmds.add_parser("list", help="registered datasets and their state")
    _data_root_arg(ds_list)
    ds_list.set_defaults(handler=_cmd_datasets_list)
    ds_prep = datasets_cmds.add_parser("prepare", help="prepare a dataset into the cache")
    ds_prep.add_argument("name", help="registered dataset name (see `datasets list`), "
                         "or imagefolder:NAME for any ImageFolder tree")
    ds_prep.add_argument(
        "--source", type=Path, default=None,
        help="local copy of the official archive(s) or an ImageFolder directory; "
        "without it the dataset is downloaded",
    )
    ds_prep.add_argument("--force", action="store_true", help="prepare again even if already prepared")
    ds_prep.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
        help="resize ImageFolder images to H W (imagefolder:NAME only; needed when sizes differ)",
    )
    _data_root_arg(ds_prep)
    ds_prep.set_defaults(handler=_cmd_datasets_prepare)
    ds_show = datasets_cmds.add_parser(
        "show", help="counts per split, and PNG grids of sample images and of augmented views")
    ds_show.add_argument("name", help="a registered or ImageFolder-prepared dataset")
    ds_show.add_argument("--split", default=None, help="the split drawn from (default: its train split)")
    ds_show.add_argument("--out", type=Path, default=Path("results/datasets"),
                         help="where the PNGs go (default: results/datasets)")
    ds_show.add_argument("--sampler", default="augment",
                         help="the training sampler whose episode is drawn (default: augment)")
    ds_show.add_argument("--preset", default=None,
                         help="augment sampler: an augmentation preset (default: the dataset kind's)")
    ds_show.add_argument("--classes", type=int, default=8, help="rows of each grid")
    ds_show.add_argument("--per-class", type=int, default=8, help="images (views) per row")
    ds_show.add_argument("--seed", type=int, default=0)
    _data_root_arg(ds_show)
    ds_show.set_defaults(handler=_cmd_datasets_show)
    ds_embed = datasets_cmds.add_parser(
        "embed", help="write the embedded Omniglot file from the prepared Omniglot")
    ds_embed.add_argument("--out", type=Path, default=None,
                          help="default: benchmark/data/embedded/omniglot28.npz")
    _data_root_arg(ds_embed)
    ds_embed.set_defaults(handler=_cmd_datasets_embed)

    lister = commands.add_parser("list", help="registered methods, backbones, datasets, heads, samplers or presets")
    lister.add_argument("what", choices=sorted(listing.REGISTRIES))
    lister.set_defaults(handler=_cmd_list)

    perf = commands.add_parser("perf", help="speed benchmarks (not tests)")
    perf.add_argument("what", help="which benchmark: sampler, step or accuracy")
    perf.add_argument("--out", type=Path, default=None, help="Markdown report to write")
    perf.add_argument("--benchmark", default=None, metavar="NAME",
                      help="accuracy: the stored benchmark to read")
    perf.add_argument("--store", type=Path, default=None,
                      help="accuracy: the results store (default results/results.sqlite)")
    _data_root_arg(perf)
    perf.set_defaults(handler=_cmd_perf)

    run = commands.add_parser("run", help="train, evaluate and store a benchmark spec")
    run.add_argument("spec", type=Path, help="a YAML spec, e.g. tasks/quick.yaml")
    run.add_argument("--store", type=Path, default=Path("results/results.sqlite"))
    run.add_argument("--runs-dir", type=Path, default=Path("results/runs"),
                     help="checkpoints and training logs")
    run.add_argument("--report-dir", type=Path, default=None,
                     help="render the report here when done: a spec's plots into DIR/ and its "
                     "tables beside it as DIR.md, DIR.tex, DIR.csv (default: results/<spec name>); "
                     "an ablation's whole report into DIR/ (default: results/ablations/<name>)")
    run.add_argument("--yes", action="store_true",
                     help="run an ablation grid of more than 64 points "
                     "(benchmark.ablations.MAX_POINTS)")
    run.add_argument("--device", default=None, help="auto, cpu or cuda (overrides the spec)")
    run.add_argument("--executor", default="local",
                     help="where the jobs run: a registered executor (default: local; ray: "
                     "Ray tasks; torchrun: under torchrun, every rank trains each job)")
    run.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                     help="ray: the cluster to join (default: start a local Ray)")
    run.add_argument("--job-cpus", type=float, default=None, metavar="N",
                     help="ray: CPUs each job asks for (default 1)")
    run.add_argument("--job-gpus", type=float, default=None, metavar="N",
                     help="ray: GPUs each job asks for (default: 1 on a cuda device, else 0)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="ray: jobs in flight at once (default: the cluster's CPUs / --job-cpus)")
    run.add_argument("--lease-timeout", type=float, default=None, metavar="SECONDS",
                     help="seconds without a heartbeat after which another process takes over "
                     "a job this one runs (default: 120; a dead process on this host: at once)")
    run.add_argument("--set", action="append", default=None, metavar="PATH=VALUE",
                     help="override a spec value, with the paths ablation files use "
                     "(methods[0].params.temperature=0.2, seeds=[0,1]); repeatable")
    run.add_argument("--only", action="append", default=None, metavar="LABEL",
                     help="run only this label's jobs (a method label, or the floor 'random'); "
                     "repeatable")
    run.add_argument("--plan", action="store_true",
                     help="print the jobs that would run, what the store holds and an estimated "
                     "time (a short timing probe), and write nothing")
    _data_root_arg(run)
    run.set_defaults(handler=_cmd_run)

    report = commands.add_parser("report", help="render result tables and plots from the store")
    report.add_argument("--store", type=Path, default=Path("results/results.sqlite"))
    report.add_argument("--name", default=None, help="benchmark (spec name) to report; default all")
    report.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    report.add_argument("--ablation", default=None, metavar="NAME",
                        help="render this stored ablation into OUT/ablations/NAME/ (and the "
                        "index OUT/ablations/index.md) instead of the benchmarks")
    report.set_defaults(handler=_cmd_report)

    ev = commands.add_parser("eval", help="episodic evaluation of a checkpoint or of any encoder")
    ev.add_argument("--checkpoint", type=Path, default=None, help="a benchmark checkpoint")
    ev.add_argument("--backbone", default=None, metavar="NAME",
                    help="instead of --checkpoint: a backbone evaluated as it is, e.g. "
                    "torchvision:resnet18, timm:vit_small_patch16_224 or conv4")
    ev.add_argument("--weights", default=None, metavar="PATH",
                    help="--backbone's weights: a .pth state dict, a timm/torchvision "
                    "checkpoint, or 'library' (the library's download); default: random")
    ev.add_argument("--dataset", required=True)
    ev.add_argument("--split", default=None, help="default: the dataset's test split")
    ev.add_argument("--ways", type=int, default=5)
    ev.add_argument("--shots", type=int, default=1)
    ev.add_argument("--queries", type=int, default=15)
    ev.add_argument("--episodes", type=int, default=600)
    ev.add_argument("--head", default="prototype")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--convert", default=None, metavar="auto|channels=C,size=S",
                    help="convert the dataset's images to the checkpoint's image shape first "
                         "(RGB/grey, antialiased bilinear resize); auto: to whatever it is")
    _data_root_arg(ev)
    ev.set_defaults(handler=_cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``benchmark`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["python", "-m", "benchmark", *argv])
    keep_freed_memory()
    log_to_stdout()
    try:
        return args.handler(args)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
