"""Checks before any work: what a spec's names cannot tell (``preflight``), the device, and the
folders the run will write. Each refuses with one line and writes nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from benchmark.spec import limits
from benchmark.data import Split, load_split
from benchmark.data.convert import AUTO, Shape, describe, shape_text
from benchmark.device import resolve_device
from benchmark.errors import BenchmarkError
from benchmark.evaluation import RandomFloor
from benchmark.heads import check_head
from benchmark.precision import TRAINER, resolve_eval
from benchmark.episodes.episode import TaskShape
from benchmark.methods.base import ParameterError
from benchmark.runner.cells import heads_of
from benchmark.runner.job import build_model, build_train_sampler
from benchmark.samplers import SAMPLERS, build_sampler
from benchmark.spec.benchmark_spec import BenchmarkSpec, EvalData, MethodSpec, SpecError


def _prefixed(spec: BenchmarkSpec, path: str, err: BenchmarkError) -> SpecError:
    return SpecError(spec.origin, path, str(err))


def preflight(spec: BenchmarkSpec, data_root: Path | None) -> None:
    """Check what the spec's names cannot tell: the data loads, every eval setting fits its
    split (ways ≤ classes, shots + queries ≤ images per class), eval images match the train
    images (or are converted to their shape), every method accepts its episode kind and
    parameters, and every model (built on torch's meta device: shapes, no memory) has at most
    ``limits.MAX_PARAMETERS`` parameters.
    Cheap: no training.

    Raises:
        SpecError: naming the spec file and key path.
    """
    try:
        train = load_split(spec.train.dataset, spec.train.split, data_root)
    except BenchmarkError as err:
        raise _prefixed(spec, "train", err) from None
    _check_eval_data(spec, train.image_shape, data_root)
    _check_val_split(spec, data_root)
    for i, method in enumerate(spec.methods):
        _check_method(spec, i, method, train, data_root)
    for label in spec.floors:
        _check_heads(spec, label, RandomFloor(torch.nn.Identity()), "eval.heads")


def _check_eval_data(spec: BenchmarkSpec, train_shape: tuple[int, ...],
                     data_root: Path | None) -> None:
    """Every eval dataset loads, matches the train images' shape (or is converted to it), and
    holds every eval setting (ways ≤ classes, shots + queries ≤ images per class)."""
    for i, data in enumerate(spec.eval.datasets):
        try:
            split = load_split(data.dataset, data.split, data_root)
        except BenchmarkError as err:
            raise _prefixed(spec, f"eval.datasets[{i}]", err) from None
        _check_shape(spec, i, data, split.image_shape, train_shape)
        where = f"eval.datasets[{i}].settings" if data.settings else "eval.settings"
        for j, setting in enumerate(spec.eval.settings_for(data)):
            try:
                build_sampler("labels", split, setting.ways, setting.shots, spec.eval.queries)
            except BenchmarkError as err:
                raise SpecError(spec.origin, f"{where}[{j}]",
                                f"{setting.ways}-way {setting.shots}-shot "
                                f"{spec.eval.queries}-query on {data.dataset}/{data.split}: "
                                f"{err}") from None


def _check_val_split(spec: BenchmarkSpec, data_root: Path | None) -> None:
    """The validation split, if any, loads and holds the first eval setting."""
    if spec.train.val_split is not None:
        try:
            val = load_split(spec.train.dataset, spec.train.val_split, data_root)
            setting = spec.eval.settings[0]
            build_sampler("labels", val, setting.ways, setting.shots, spec.eval.queries)
        except BenchmarkError as err:
            raise _prefixed(spec, "train.val_split", err) from None


def _check_method(spec: BenchmarkSpec, i: int, method: MethodSpec, train: Split,
                  data_root: Path | None) -> None:
    """``methods[i]``: its own split loads, it accepts its episode kind, parameters and task,
    its model (on the meta device) is within ``limits.MAX_PARAMETERS``, its heads fit."""
    path = f"methods[{i}]"
    own = train
    if method.train_split is not None:
        try:
            own = load_split(spec.train.dataset, method.train_split, data_root)
        except BenchmarkError as err:
            raise _prefixed(spec, f"{path}.train_split", err) from None
    model = _model_on_meta(spec, path, method, train.image_shape)
    try:  # on the instance: a bound may depend on the parameters (MAML's classifier ways)
        model.check(TaskShape(method.sampler, SAMPLERS.get(method.sampler).offers,
                              method.ways, method.shots, method.queries))
        build_train_sampler(method, own)
    except ParameterError as err:
        raise _prefixed(spec, f"{path}.params", err) from None
    except BenchmarkError as err:
        raise _prefixed(spec, path, err) from None
    _check_heads(spec, method.label, model, path)


def _model_on_meta(spec: BenchmarkSpec, path: str, method: MethodSpec,
                   image_shape: tuple[int, ...]) -> torch.nn.Module:
    """The method's model built on torch's meta device (shapes, no memory), its episode size
    and parameter count checked."""
    try:
        with torch.device("meta"):  # shapes only: no memory, however large the model
            model = build_model(method, image_shape, seed=0)
        size = sum(p.numel() for p in model.parameters())
        if size > limits.MAX_PARAMETERS:
            raise BenchmarkError(f"method {method.method!r} would have {size} parameters, "
                                 f"more than the {limits.MAX_PARAMETERS} a model may have")
    except BenchmarkError as err:
        raise _prefixed(spec, f"{path}.params", err) from None
    except (TypeError, ValueError, RuntimeError) as err:
        message = " ".join(str(err).split())
        raise SpecError(spec.origin, f"{path}.params",
                        f"method {method.method!r}: {message}") from None
    return model

def _check_heads(spec: BenchmarkSpec, label: str, model: object, path: str) -> None:
    """Every head of ``label`` can evaluate its model on every eval setting (the ``native``
    head needs a method with an adaptation of its own)."""
    for head in heads_of(spec, label):
        for data in spec.eval.datasets:
            for setting in spec.eval.settings_for(data):
                try:
                    check_head(head, model, setting.ways, setting.shots, spec.eval.queries)
                except BenchmarkError as err:
                    where = "eval.heads" if head in spec.eval.heads else f"{path}.heads"
                    raise SpecError(spec.origin, where, f"{label}: {err}") from None


def _check_shape(spec: BenchmarkSpec, i: int, data: EvalData, shape: Shape,
                 model_shape: Shape) -> None:
    """Eval images the models take: of their shape, or converted to it by the entry's
    ``convert``."""
    if data.convert is not None:
        try:
            describe(shape, data.convert.target(model_shape))  # refuses what it cannot do
        except BenchmarkError as err:
            raise _prefixed(spec, f"eval.datasets[{i}].convert", err) from None
    elif tuple(shape) != tuple(model_shape):
        raise SpecError(spec.origin, f"eval.datasets[{i}]",
                        f"{data.dataset}/{data.split} has images of shape {shape_text(shape)} "
                        f"but the models are trained on {shape_text(model_shape)}; add "
                        f"'convert: {AUTO}' to this entry to evaluate on its images converted "
                        "to that shape")


def check_device(name: str) -> str:
    """The device ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) resolves to here.

    Raises:
        BenchmarkError: an unknown name, or CUDA asked for where there is none.
    """
    return str(resolve_device(name))


def check_eval_precision(spec: BenchmarkSpec, device: str) -> None:
    """Every label's evaluation precision (``BenchmarkSpec.eval_precision``) runs on ``device``
    (resolved; e.g. float16 needs CUDA).

    Raises:
        SpecError: naming ``eval.precision`` (or the trainer's precision it follows).
    """
    where = ("eval.precision" if spec.eval.precision != TRAINER
             else "trainer.precision (eval.precision: trainer)")
    for label in spec.labels:
        try:
            resolve_eval(spec.eval_precision(label), torch.device(device))
        except BenchmarkError as err:
            raise SpecError(spec.origin, where, f"{label}: {err}") from None


def check_writable_dir(path: Path, what: str) -> None:
    """Refuse, before any work and without creating anything, a folder that cannot be made or
    written: its nearest existing ancestor must be a writable directory.

    Raises:
        BenchmarkError: naming the option and the path.
    """
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise BenchmarkError(f"{what} {path} cannot be created: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BenchmarkError(f"{what} {path} is not writable: {probe} is read-only")
    try:  # os.access answers for root by the mode bits alone (yes under /proc): try it
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        raise BenchmarkError(f"{what} {path} is not writable: no file can be made in {probe} "
                             f"({err.strerror or type(err).__name__})") from None
