"""``benchmark run SPEC``: train, evaluate and store a benchmark spec or an ablation file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from benchmark.cli.base import data_root_arg, store_arg, subcommand
from benchmark.errors import BenchmarkError


def parse_set(items: Sequence[str] | None) -> dict[str, object] | None:
    """``--set PATH=VALUE`` options → ``{path: value}``, each value read as YAML (``0.2``,
    ``[0,1]``, ``true``, ``{crop_scale: [0.6, 1.0]}``, ``1e-3``), as a spec file's values are."""
    import yaml

    from benchmark.spec.yaml_file import parse_value

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


def _run(args: argparse.Namespace) -> int:
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
        report_dir=args.out,
        executor=args.executor,
        executor_options=options,
        lease_timeout=args.lease_timeout,
        yes=args.yes,
        command=args.command_line,
        overrides=overrides,
        only=args.only,
    ))
    return 0


@subcommand("run")
def add(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="train, evaluate and store a benchmark spec")
    run.add_argument("spec", type=Path, help="a YAML spec or ablation file, e.g. tasks/quick.yaml")
    store_arg(run, "the rows go into")
    run.add_argument("--runs-dir", type=Path, default=Path("results/runs"),
                     help="checkpoints and training logs")
    run.add_argument("--report-dir", dest="out", type=Path, help=argparse.SUPPRESS)  # old spelling
    run.add_argument("--out", type=Path, default=None,
                     help="render the report here when done: a spec's plots into DIR/, its "
                     "tables and page beside it as DIR.md, .tex, .csv, .html (default: "
                     "results/<spec name>); an ablation's whole report into DIR/ (default: "
                     "results/ablations/<name>)")
    run.add_argument("--yes", action="store_true",
                     help="run an ablation grid of more than 64 points "
                     "(benchmark.spec.ablation.MAX_POINTS)")
    run.add_argument("--device", default=None,
                     help="auto, cpu or cuda (default: the spec's device)")
    run.add_argument("--executor", default="local",
                     help="where the jobs run: a registered executor (local; ray: Ray tasks; "
                     "torchrun: under torchrun, every rank trains each job)")
    run.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                     help="ray: the cluster to join (default: start a local Ray)")
    run.add_argument("--job-cpus", type=float, default=None, metavar="N",
                     help="ray: CPUs each job asks for (default: 1)")
    run.add_argument("--job-gpus", type=float, default=None, metavar="N",
                     help="ray: GPUs each job asks for (default: 1 on a cuda device, else 0)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="ray: jobs in flight at once (default: the cluster's CPUs / --job-cpus)")
    run.add_argument("--lease-timeout", type=float, default=None, metavar="SECONDS",
                     help="seconds without a heartbeat after which another process takes over "
                     "a job this one runs (default: 120; a dead process on this host: at once)")
    run.add_argument("--set", action="append", default=None, metavar="PATH=VALUE",
                     help="override a spec value, with the paths ablation files use "
                     "(methods[0].params.temperature=0.2, seeds=[0,1], every method: "
                     "methods[*].trainer.steps=20, one by label: methods[protonet].ways=10, "
                     "numbers as YAML 1.2 writes them: trainer.lr=1e-3); repeatable")
    run.add_argument("--only", action="append", default=None, metavar="LABEL",
                     help="run only this label's jobs (a method label, or the floor 'random'); "
                     "repeatable")
    run.add_argument("--plan", action="store_true",
                     help="print the jobs that would run (the steps left after a checkpoint), "
                     "what the store holds and an estimated time (a short timing probe), and "
                     "write nothing")
    data_root_arg(run)
    run.set_defaults(handler=_run)
