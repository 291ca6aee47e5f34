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

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from benchmark.errors import BenchmarkError

if TYPE_CHECKING:
    import pandas

    from benchmark.data.convert import InputConversion
    from benchmark.data.split import Split
    from benchmark.evaluation import EvalResult
    from benchmark.heads import EmbedFn, Embedder

__all__ = ["evaluate", "results", "run"]

DEFAULT_STORE = Path("results/results.sqlite")


def evaluate(model: "Embedder | EmbedFn | str", dataset: "str | Split", ways: int = 5,
             shots: int = 1, *, split: str | None = None, weights: str | None = None,
             queries: int = 15, episodes: int = 600, head: str = "prototype", seed: int = 0,
             device: str = "cpu", data_root: Path | None = None,
             convert: "InputConversion | str | None" = None,
             image_shape: tuple[int, int, int] | None = None,
             progress: bool | None = False) -> "EvalResult":
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

    Raises:
        BenchmarkError: unknown dataset, split, head or backbone; impossible N/K/Q; weights
            that do not fit; ``weights`` without a backbone name.
    """
    from benchmark.backbones import place_model
    from benchmark.data import dataset_info, load_split
    from benchmark.data.convert import convert_for, parse_conversion
    from benchmark.device import resolve_device
    from benchmark.evaluation import evaluate as evaluate_episodes
    from benchmark.evaluation import fixed_episodes
    from benchmark.heads import HEADS
    from benchmark.methods import build_method

    HEADS.get(head)
    if isinstance(dataset, str):
        data = load_split(dataset, split or dataset_info(dataset, data_root).test_split, data_root)
    else:
        data = dataset
    done = ""
    if convert is not None:
        conversion = parse_conversion(convert, "convert") if isinstance(convert, str) else convert
        shape = image_shape or ((conversion.channels, conversion.size, conversion.size)
                                if conversion.channels is not None else None)
        if shape is None:
            raise BenchmarkError("convert='auto' needs image_shape, the shape the model takes")
        data, done = convert_for(data, conversion, tuple(shape))
    _check_input_shape(model, data, convert)
    if isinstance(model, str):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            built = build_method("pretrained", model, data.image_shape, weights=weights)
        model = place_model(built, resolve_device(device)).eval()
    elif weights is not None:
        raise BenchmarkError("weights go with a backbone name (e.g. 'torchvision:resnet18'), "
                             "not with a model object")
    test = fixed_episodes(data, ways, shots, queries, episodes, seed, device)
    try:
        return replace(evaluate_episodes(model, test, head, progress=progress),
                       input_conversion=done)
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

    Raises:
        BenchmarkError: a store that does not exist or is not a store.
    """
    import pandas

    from benchmark.store import Store

    path = Path(store)
    names = [spec] if isinstance(spec, str) else spec
    if not path.is_file():
        rows = _exported_rows(path, names)
    else:
        with Store(path) as opened:
            _check_names(names, opened.benchmarks(), str(path))
            rows = [row for name in (names or [None])
                    for row in opened.results(name, with_episodes=episodes)]
    records = []
    for row in rows:
        record = asdict(row)
        if not episodes:
            record.pop("episode_accuracies")
        records.append(record)
    frame = pandas.DataFrame.from_records(records)
    return frame.sort_values(["benchmark", "method", "eval_dataset", "eval_split", "ways", "shots",
                              "head", "seed"], ignore_index=True) if records else frame


def _check_names(names: Sequence[str] | None, known: Sequence[str], where: str) -> None:
    """Refuse a benchmark name the rows do not hold, naming those they hold."""
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise BenchmarkError(f"no benchmark {', '.join(map(repr, unknown))} in {where} "
                             f"(benchmarks: {', '.join(known) or 'none'})")


def _exported_rows(path: Path, names: Sequence[str] | None) -> list:
    """The rows of the committed export (``benchmark.export``) when there is no store at
    ``path`` (a fresh clone)."""
    from benchmark import export

    found = export.find(path)
    if found is None:
        raise BenchmarkError(f"store {path} does not exist, and no exported results "
                             f"({export.FILE_NAME}) are beside it")
    rows = export.read_rows(found)
    _check_names(names, sorted({r.benchmark for r in rows}), str(found))
    return [r for r in rows if names is None or r.benchmark in names]


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
    from benchmark.runner.driver import run_file

    paths = {**(set or {}), **overrides}
    names = run_file(spec, store_path=store, data_root=data_root, runs_dir=runs_dir,
                     device=device, report_dir=report_dir, overrides=paths or None, only=only,
                     yes=True, command="benchmark.run(...)")
    return results(store, names)
