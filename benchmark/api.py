"""The Python API for notebooks: ``run`` a spec, read ``results`` as a DataFrame, ``evaluate``
any encoder on fixed N-way K-shot episodes.

Any callable from images (``[B, C, H, W]`` float in ``[0, 1]``) to features ``[B, D]`` is an
encoder; so is a model with ``embed``, or a backbone name (``torchvision:resnet18``,
``timm:NAME``, ``conv4``) with optional ``weights``. The episodes are the suite's fixed test
episodes (``benchmark.evaluation.fixed_episodes``: the same seed gives the same episodes for every
encoder), the result a mean accuracy with its 95% confidence interval:

>>> import benchmark
>>> flat = lambda images: images.flatten(1)          # raw pixels as features
>>> result = benchmark.evaluate(flat, "omniglot", ways=5, shots=1, split="vinyals_test",
...                             episodes=50)
>>> result.episodes, result.ways, result.shots
(50, 5, 1)
>>> 0.2 < result.mean < 1.0                           # above chance (0.2)
True
>>> again = benchmark.evaluate(flat, "omniglot", ways=5, shots=1, split="vinyals_test",
...                            episodes=50)           # the same episodes, the same numbers
>>> again.accuracies.tolist() == result.accuracies.tolist()
True

``run`` runs a spec (a file or its plain data) into a store like ``benchmark run`` and returns
its rows; ``results`` reads any store:

>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> spec = {"name": "api_demo", "seeds": [0],
...         "train": {"dataset": "omniglot", "split": "vinyals_train"},
...         "methods": [{"label": "pixels", "method": "pretrained", "backbone": "conv4"}],
...         "eval": {"datasets": [{"dataset": "omniglot", "split": "vinyals_test"}],
...                  "settings": [{"ways": 5, "shots": 1}], "episodes": 20}}
>>> rows = benchmark.run(spec, store=tmp / "r.sqlite", runs_dir=tmp / "runs",
...                      report_dir=tmp / "report", device="cpu")
>>> sorted(rows["method"])                             # the random-init floor, and the method
['pixels', 'random']
>>> rows[["eval_split", "ways", "shots", "episodes", "steps"]].drop_duplicates().values.tolist()
[['vinyals_test', 5, 1, 20, 0]]
>>> benchmark.results(tmp / "r.sqlite", spec="api_demo").equals(rows)
True
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from benchmark.errors import BenchmarkError
from benchmark.store import DEFAULT_STORE

if TYPE_CHECKING:
    import pandas

    from benchmark.data.convert import InputConversion
    from benchmark.data.split import Split
    from benchmark.evaluation import EvalResult
    from benchmark.heads import EmbedFn, Embedder

__all__ = ["evaluate", "results", "run"]


def evaluate(model: "Embedder | EmbedFn | str", dataset: "str | Split", ways: int = 5,
             shots: int = 1, *, split: str | None = None, weights: str | None = None,
             queries: int = 15, episodes: int = 600, head: str = "prototype", seed: int = 0,
             device: str = "cpu", data_root: Path | None = None,
             convert: "InputConversion | str | None" = None,
             image_shape: tuple[int, int, int] | None = None,
             progress: bool | None = False, precision: str = "float32",
             rotations: bool = False) -> "EvalResult":
    """Accuracy of ``model`` on ``episodes`` fixed N-way K-shot episodes of ``dataset``.

    Args:
        model: a callable ``[B, C, H, W]`` (float in ``[0, 1]``) → ``[B, D]``, a module with
            ``embed``, or a backbone name (``torchvision:resnet18``, ``timm:NAME``, ``conv4``)
            built for the dataset's images (the ``pretrained`` method), with ``weights``.
        dataset: a registered dataset name (``benchmark list datasets``) or a ``Split``.
        ways, shots, queries: N, K and queries per class of every episode.
        split: the dataset's split (default: its test split).
        weights: for a backbone name: a weights file, ``"library"`` or None (random, from
            ``seed``).
        head: a registered head (``benchmark list heads``).
        seed: fixes the episodes (and a named backbone's random initialisation).
        device: where the episodes are made and a named backbone runs.
        convert: bring the images to another shape first (``"channels=1,size=28"``, or
            ``"auto"`` with ``image_shape``, the shape the model takes); ``benchmark.data.convert``.
        progress: show the episodes done (None: a bar on a terminal or in a notebook, a line
            every 30 s elsewhere; False: nothing).
        precision: embed under this autocast (``benchmark.precision``: float32, bfloat16,
            float16 on CUDA, or auto: bfloat16 where the hardware has it); features float32.
        rotations: each class rotated by 90°, 180° and 270° is a class of its own (4x the
            classes; square images), as Snell et al. and Finn et al. test Omniglot.

    Raises:
        BenchmarkError: unknown dataset, split, head or backbone; impossible N/K/Q; weights
            that do not fit; ``weights`` without a backbone name.
    """
    from benchmark.arguments import check_counts, check_encoder, check_flags, check_strings
    from benchmark.data import dataset_info, load_split
    from benchmark.data.convert import InputConversion, describe, parse_conversion
    from benchmark.data.split import Split
    from benchmark.evaluation import build_encoder, evaluate_split
    from benchmark.device import resolve_device
    from benchmark.heads import HEADS
    from benchmark.precision import resolve_eval

    check_encoder(model)
    check_counts(ways=ways, shots=shots, queries=queries, episodes=episodes, seed=seed)
    check_strings(split=split, weights=weights, head=head, device=device, precision=precision)
    check_flags(rotations=rotations)
    if convert is not None and not isinstance(convert, (str, InputConversion)):
        raise BenchmarkError(f"convert must be 'auto', 'channels=C,size=S' or an "
                             f"InputConversion, got {type(convert).__name__}")
    HEADS.get(head)
    resolve_eval(precision, resolve_device(device))  # refused before any data or model
    if isinstance(dataset, str):
        data = load_split(dataset, split or dataset_info(dataset, data_root).test_split, data_root)
    elif isinstance(dataset, Split):
        data = dataset
    else:
        raise BenchmarkError(f"dataset must be a dataset name or a Split, got "
                             f"{type(dataset).__name__}")
    conversion, shape = None, tuple(data.image_shape)
    if convert is not None:
        conversion = parse_conversion(convert, "convert") if isinstance(convert, str) else convert
        wanted = image_shape or ((conversion.channels, conversion.size, conversion.size)
                                 if conversion.channels is not None else None)
        if wanted is None:
            raise BenchmarkError("convert='auto' needs image_shape, the shape the model takes")
        shape = tuple(wanted)
        describe(tuple(data.image_shape), conversion.target(shape))  # refused before any model
    _check_input_shape(model, data, convert)
    if isinstance(model, str):
        model = build_encoder(model, shape, weights, seed, device)
    elif weights is not None:
        raise BenchmarkError("weights go with a backbone name (e.g. 'torchvision:resnet18'), "
                             "not with a model object")
    try:
        return evaluate_split(model, data, ways, shots, queries, episodes, head, seed, device,
                              conversion, shape, progress=progress, precision=precision,
                              rotations=rotations)
    except RuntimeError as err:  # a plain encoder fed images of another shape than it takes
        if convert is None and "channels" in str(err):
            shape = "x".join(map(str, data.image_shape))
            raise BenchmarkError(
                f"the encoder does not take {data.dataset!r}'s {shape} images (C x H x W): "
                f"{str(err).splitlines()[0]}; pass convert='auto' with image_shape=(C, H, W), "
                "the shape it takes, to evaluate on converted images") from None
        raise


def _check_input_shape(model: Any, data: "Split", convert: Any) -> None:
    """Refuse, with the ``convert=`` hint, a benchmark model built for images of another shape
    than the dataset's (the CLI's ``--convert auto`` hint)."""
    import torch

    from benchmark.checkpoint import model_spec_of

    spec = model_spec_of(model) if isinstance(model, torch.nn.Module) else None
    if spec is None or convert is not None or tuple(spec.image_shape) == tuple(data.image_shape):
        return
    have, want = ("x".join(map(str, s)) for s in (spec.image_shape, data.image_shape))
    raise BenchmarkError(
        f"the model is a {spec.method}/{spec.backbone} built for {have} images (C x H x W), but "
        f"dataset {data.dataset!r} has {want} images; pass convert='auto', "
        f"image_shape={tuple(spec.image_shape)} to evaluate on its images converted to {have}")


def results(store: str | Path = DEFAULT_STORE, spec: str | Sequence[str] | None = None,
            episodes: bool = False) -> "pandas.DataFrame":
    """The store's result rows as a tidy DataFrame: one row per benchmark × method × train
    data × eval data × setting × head × seed, with its provenance (commit, versions, device,
    spec hash, data fingerprints, input conversion, train and eval seconds).

    Args:
        store: the SQLite store (it must exist; it is only read).
        spec: a benchmark name (or several) to keep; None: every benchmark.
        episodes: add the per-episode accuracies (a tuple per row, column
            ``episode_accuracies``).

    Column ``current`` marks the rows of their job's present configuration: False for a row
    whose job was since run with another configuration, or failed (``store.is_current``;
    reports show only current rows).

    Raises:
        BenchmarkError: a store that does not exist or is not a store.
    """
    import pandas

    from benchmark.arguments import check_names, check_path
    from benchmark.store import Store, is_current

    check_path("store", store)
    if spec is not None:
        check_names("spec", spec)
    path = Path(store)
    names = [spec] if isinstance(spec, str) else spec
    if not path.is_file():
        rows, runs = _exported(path, names)
    else:
        with Store(path, read_only=True) as opened:
            _check_names(names, opened.benchmarks(), str(path))
            rows = [row for name in (names or [None])
                    for row in opened.results(name, with_episodes=episodes)]
            runs = {(r.benchmark, r.method, r.seed): r for name in (names or [None])
                    for r in opened.runs(name)}
    records = []
    for row in rows:
        record = asdict(row)
        if not episodes:
            record.pop("episode_accuracies")
        record["current"] = is_current(row, runs)
        records.append(record)
    frame = pandas.DataFrame.from_records(records)
    return frame.sort_values(["benchmark", "method", "eval_dataset", "eval_split", "ways", "shots",
                              "head", "seed"], ignore_index=True) if records else frame


def _check_names(names: Sequence[str] | None, known: Sequence[str], where: str,
                 tables: Path | None = None) -> None:
    """Refuse a benchmark name the rows do not hold, naming those they hold (and, given the
    results folder ``tables``, the committed tables of the names it has one for)."""
    unknown = [n for n in names or () if n not in known]
    if unknown:
        shown = [table for name in unknown if tables is not None
                 for table in (tables / f"{name}.csv", tables / "ablations" / name / "table.csv")
                 if table.is_file()]
        hint = (f"; its table without per-episode rows: {', '.join(map(str, shown))}"
                if shown else "")
        raise BenchmarkError(f"no benchmark {', '.join(map(repr, unknown))} in {where} "
                             f"(benchmarks: {', '.join(known) or 'none'}){hint}")


def _exported(path: Path, names: Sequence[str] | None) -> tuple[list, dict]:
    """The rows of the committed export (``benchmark.export``) when there is no store at
    ``path`` (a fresh clone), and its run records by (benchmark, method, seed)."""
    from benchmark import export

    found = export.find(path)
    if found is None:
        raise BenchmarkError(f"store {path} does not exist, and no exported results "
                             f"({export.FILE_NAME}) are beside it")
    data = export.read(found)
    _check_names(names, sorted({r.benchmark for r in data["results"]}), str(found), found.parent)
    rows = [r for r in data["results"] if names is None or r.benchmark in names]
    return rows, {(r.benchmark, r.method, r.seed): r for r in data["runs"]}


def run(spec: str | Path | Mapping[str, Any], *, store: str | Path = DEFAULT_STORE,
        runs_dir: str | Path = Path("results/runs"), report_dir: str | Path | None = None,
        data_root: Path | None = None, device: str | None = None,
        only: Sequence[str] | None = None, set: Mapping[str, Any] | None = None,
        **overrides: Any) -> "pandas.DataFrame":
    """Run a spec like ``benchmark run``: train what the store lacks, evaluate, store the rows,
    render the report; returns the spec's rows (``results``).

    Args:
        spec: a spec or ablation file, or a spec's plain data (a mapping as in YAML).
        store, runs_dir, report_dir, data_root, device: as ``benchmark run``'s options.
        only: labels whose jobs run (``--only``).
        set: override paths → values (``--set``), e.g. ``{"methods[0].params.temperature": 0.2}``.
        overrides: top-level spec keys → values, e.g. ``seeds=[0, 1]`` (merged into ``set``).

    Raises:
        BenchmarkError: as ``benchmark run`` (bad spec, path, data, store; failed runs).
    """
    from benchmark.arguments import check_names, check_path, check_spec
    from benchmark.runner.driver import run_file

    check_spec(spec)
    for name, value in [("store", store), ("runs_dir", runs_dir)]:
        check_path(name, value)
    check_path("report_dir", report_dir, optional=True)
    check_path("data_root", data_root, optional=True)
    if only is not None:
        check_names("only", only)
        only = [only] if isinstance(only, str) else only
    if set is not None and not isinstance(set, Mapping):
        raise BenchmarkError(f"set must be a mapping of paths to values, got {type(set).__name__}")
    paths = {**(set or {}), **overrides}
    names = run_file(spec, store_path=store, data_root=data_root, runs_dir=runs_dir,
                     device=device, report_dir=report_dir, overrides=paths or None, only=only,
                     yes=True, command="benchmark.run(...)")
    return results(store, names)
