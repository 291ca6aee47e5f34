"""Benchmark specs: a flat YAML file in ``tasks/`` → a frozen, validated ``BenchmarkSpec``.

A spec is plain data: ``BenchmarkSpec.raw`` is the mapping it was parsed from, so an ablation is
a grid of overrides on that mapping (``with_overrides``, ``expand_sweep``), each re-validated.
Every error is one ``BenchmarkError`` line naming the file and the key path, e.g.
``tasks/x.yaml: methods[2].ways: expected an integer, got bool True``.

Names (methods, backbones, datasets, splits, heads) are checked against the registries when the
spec is loaded; what needs the data itself (ways ≤ classes) is checked by the runner before any
training starts (``benchmark.runner.preflight``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from benchmark.errors import BenchmarkError
from benchmark.spec_yaml import read_yaml

SOURCES = ("labels", "augment", "patches")
#: Label (prefix) of the random-init floor rows.
FLOOR = "random"
DEVICES = ("auto", "cpu", "cuda")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=,\-\[\]]*$")


class SpecError(BenchmarkError):
    """A spec that cannot be loaded: one line with the file and the key path."""

    def __init__(self, origin: str, path: str, message: str) -> None:
        where = f"{origin}: {path}" if path else origin
        super().__init__(f"{where}: {message}")
        self.origin, self.path = origin, path


# ---------------------------------------------------------------- the frozen spec objects


class FrozenDict(Mapping):
    """A read-only, hashable, picklable mapping (spec params and sampler options)."""

    def __init__(self, data: Mapping[str, Any] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(canonical_hash(self._data))

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def _freeze(value: Any) -> Any:
    """Plain data → read-only data (dict → FrozenDict, list → tuple), recursively."""
    if isinstance(value, Mapping):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """The inverse of ``_freeze``: plain dicts and lists, JSON-ready."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class TrainData:
    """What every method is trained on: a registered dataset and one of its splits."""

    dataset: str
    split: str
    val_split: str | None = None


@dataclass(frozen=True)
class TrainerSpec:
    """Training budget and optimiser: the fields of ``benchmark.train.TrainConfig`` that a spec
    sets (seed and device come from the spec's ``seeds`` and ``device``)."""

    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "constant"
    warmup_steps: int = 0
    val_every: int = 0
    val_episodes: int = 100
    checkpoint_every: int = 100
    amp: bool = False
    channels_last: bool = True


@dataclass(frozen=True)
class MethodSpec:
    """One method of the benchmark, with its episode sampler and resolved trainer settings.

    Attributes:
        label: row name in the result tables (unique in the spec; default: ``method``).
        method: registered method name (``benchmark.methods.METHODS``).
        backbone: registered backbone name (``benchmark.backbones.BACKBONES``).
        sampler: the registered episode sampler (``benchmark.samplers.SAMPLERS``): ``labels``,
            ``augment``, ``patches``, ...; the kind of the training episodes.
        ways, shots, queries: training episode shape (SimCLR: ways = batch size, 1, 1).
        sampler_options: extra keyword options of the sampler (e.g. augmentation knobs).
        params: keyword parameters of the method (e.g. ``temperature``).
        trainer: the spec's ``trainer`` defaults with this method's overrides applied.
    """

    label: str
    method: str
    backbone: str
    sampler: str
    ways: int
    shots: int
    queries: int
    sampler_options: Mapping[str, Any] = field(default_factory=FrozenDict)
    params: Mapping[str, Any] = field(default_factory=FrozenDict)
    trainer: TrainerSpec = field(default_factory=TrainerSpec)


@dataclass(frozen=True)
class EvalSetting:
    """An N-way K-shot evaluation setting."""

    ways: int
    shots: int


@dataclass(frozen=True)
class EvalData:
    """An evaluation dataset split (unseen classes).

    ``settings``, when given, replace ``eval.settings`` for this split (e.g. no 20-way on a
    10-class dataset)."""

    dataset: str
    split: str
    settings: tuple[EvalSetting, ...] = ()


@dataclass(frozen=True)
class EvalSpec:
    """The evaluation grid: datasets × settings × heads, on fixed episodes.

    Attributes:
        episodes: test episodes per (dataset, setting), identical for every method.
        queries: queries per class in each test episode.
        seed: the seed that fixes the test episodes.
    """

    datasets: tuple[EvalData, ...]
    settings: tuple[EvalSetting, ...]
    heads: tuple[str, ...] = ("prototype",)
    episodes: int = 600
    queries: int = 15
    seed: int = 0

    def settings_for(self, data: EvalData) -> tuple[EvalSetting, ...]:
        """The settings evaluated on ``data``: its own, or the spec-wide ones."""
        return data.settings or self.settings


@dataclass(frozen=True)
class BenchmarkSpec:
    """A whole benchmark: train data, methods, evaluation grid, seeds, device.

    ``raw`` is the plain mapping the spec was parsed from (overrides apply to it);
    ``origin`` is the file it came from (used in error messages).
    """

    name: str
    description: str
    train: TrainData
    methods: tuple[MethodSpec, ...]
    eval: EvalSpec
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    raw: Mapping[str, Any] = field(default_factory=FrozenDict, repr=False, compare=False)
    origin: str = field(default="<spec>", compare=False)

    def method(self, label: str) -> MethodSpec:
        """The method whose label is ``label``."""
        for method in self.methods:
            if method.label == label:
                return method
        raise BenchmarkError(f"{self.origin}: no method labelled {label!r}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (defaults filled in) as plain, JSON-ready data."""
        return {
            "name": self.name,
            "description": self.description,
            "device": self.device,
            "seeds": list(self.seeds),
            "train": _dataclass_dict(self.train),
            "methods": [_dataclass_dict(m) for m in self.methods],
            "eval": _dataclass_dict(self.eval),
        }

    @property
    def hash(self) -> str:
        """sha256 (16 hex digits) of the canonical resolved spec."""
        return canonical_hash(self.to_dict())

    @property
    def floors(self) -> dict[str, str]:
        """The random-init floors, label → backbone: ``random``, or ``random-<backbone>`` per
        backbone when the methods use several."""
        backbones = list(dict.fromkeys(m.backbone for m in self.methods))
        if len(backbones) == 1:
            return {FLOOR: backbones[0]}
        return {f"{FLOOR}-{b}": b for b in backbones}

    @property
    def labels(self) -> tuple[str, ...]:
        """Every row label of the benchmark: the floors, then the methods."""
        return (*self.floors, *(m.label for m in self.methods))

    def job_hash(self, label: str) -> str:
        """Hash of what determines one label's rows: benchmark name, train data, the resolved
        method (or the floor's backbone) and the evaluation protocol (episodes, queries, seed).
        Seeds, device, the description, the other methods and the list of eval cells are left
        out, so extending the grid or adding seeds or methods keeps stored rows comparable."""
        protocol = {k: getattr(self.eval, k) for k in ("episodes", "queries", "seed")}
        floors = self.floors
        method = ({"floor": floors[label]} if label in floors
                  else _dataclass_dict(self.method(label)))
        return canonical_hash({
            "name": self.name,
            "train": _dataclass_dict(self.train),
            "method": method,
            "eval": protocol,
        })

    def with_overrides(self, overrides: Mapping[str, Any],
                       data_root: Path | None = None) -> "BenchmarkSpec":
        """A new spec with ``{"methods[0].params.temperature": 0.1, ...}`` applied to ``raw``
        and validated again."""
        raw = copy.deepcopy(_thaw(self.raw))
        for key, value in overrides.items():
            _set_path(raw, key, value, self.origin)
        return parse_spec(raw, self.origin, data_root)


def _dataclass_dict(obj: Any) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "__dataclass_fields__"):
            value = _dataclass_dict(value)
        elif isinstance(value, tuple) and value and hasattr(value[0], "__dataclass_fields__"):
            value = [_dataclass_dict(v) for v in value]
        out[f.name] = _thaw(value)
    return out


def canonical_hash(data: Any) -> str:
    """Stable sha256 (16 hex digits) of plain data: sorted keys, no whitespace."""
    text = json.dumps(_thaw(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- validation helpers


class _Checker:
    """Typed reads from a plain mapping, each failure a ``SpecError`` with the key path."""

    def __init__(self, origin: str, data_root: Path | None = None) -> None:
        self.origin = origin
        self.data_root = data_root

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(self.origin, path, message)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...] | None,
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if value is None and not required:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(path or "(top level)", f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(_join(path, str(key)), "keys must be strings")
            if allowed is not None and key not in allowed:
                raise self.fail(_join(path, key),
                                f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value or value[key] is None:
                raise self.fail(_join(path, key), "required key is missing")
        return dict(value)

    def list(self, value: Any, path: str, nonempty: bool = True) -> list[Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise self.fail(path, f"expected a list, got {_kind(value)}")
        if nonempty and not value:
            raise self.fail(path, "expected a non-empty list")
        return list(value)

    def string(self, value: Any, path: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"expected a non-empty string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.fail(path, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, value: Any, path: str, minimum: int | None = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(path, f"expected an integer ≥ {minimum}, got {value}")
        return value

    def number(self, value: Any, path: str, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"expected a number, got {_kind(value)}")
        if value < minimum or value != value:
            raise self.fail(path, f"expected a number ≥ {minimum:g}, got {value}")
        return float(value)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {_kind(value)}")
        return value

    def dataset(self, value: Any, path: str) -> str:
        """A registered (or ImageFolder-prepared) dataset name."""
        from benchmark.data import dataset_info

        value = self.string(value, path)
        try:
            dataset_info(value, self.data_root)
        except BenchmarkError as err:
            raise self.fail(path, str(err)) from None
        return value

    def registered(self, value: Any, path: str, names: Callable[[], list[str]], what: str) -> str:
        value = self.string(value, path)
        known = names()
        if value not in known:
            raise self.fail(path, f"unknown {what} {value!r} (known: {', '.join(known)})")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}" if isinstance(value, (int, float)) else \
        type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------- registry look-ups


def _method_names() -> list[str]:
    from benchmark.methods import METHODS

    return METHODS.names()


def _backbone_names() -> list[str]:
    from benchmark.backbones import BACKBONES

    return BACKBONES.names()


def _head_names() -> list[str]:
    from benchmark.heads import HEADS

    return HEADS.names()


def _optimizer_names() -> list[str]:
    from benchmark.train import OPTIMIZERS

    return OPTIMIZERS.names()


def _schedule_names() -> list[str]:
    from benchmark.train import SCHEDULES

    return SCHEDULES.names()


def _split_names(dataset: str, data_root: Path | None) -> list[str]:
    from benchmark.data import dataset_info

    return list(dataset_info(dataset, data_root).splits)


# ---------------------------------------------------------------- parsing

_TOP = ("name", "description", "device", "seeds", "train", "trainer", "methods", "eval")
_TRAIN = ("dataset", "split", "val_split")
_METHOD = ("label", "method", "backbone", "sampler", "ways", "shots", "queries",
           "sampler_options", "params", "trainer")
_EVAL = ("datasets", "settings", "heads", "episodes", "queries", "seed")


def _trainer(check: _Checker, value: Any, path: str, base: TrainerSpec) -> TrainerSpec:
    names = tuple(f.name for f in fields(TrainerSpec))
    data = check.mapping(value, path, names)
    readers: dict[str, Callable[[Any, str], Any]] = {
        "steps": lambda v, p: check.integer(v, p),
        "optimizer": lambda v, p: check.registered(v, p, _optimizer_names, "optimizer"),
        "lr": lambda v, p: check.number(v, p, minimum=1e-12),
        "weight_decay": lambda v, p: check.number(v, p),
        "momentum": lambda v, p: check.number(v, p),
        "nesterov": lambda v, p: check.boolean(v, p),
        "schedule": lambda v, p: check.registered(v, p, _schedule_names, "schedule"),
        "warmup_steps": lambda v, p: check.integer(v, p, minimum=0),
        "val_every": lambda v, p: check.integer(v, p, minimum=0),
        "val_episodes": lambda v, p: check.integer(v, p),
        "checkpoint_every": lambda v, p: check.integer(v, p),
        "amp": lambda v, p: check.boolean(v, p),
        "channels_last": lambda v, p: check.boolean(v, p),
    }
    values = {f.name: getattr(base, f.name) for f in fields(TrainerSpec)}
    for key, raw in data.items():
        values[key] = readers[key](raw, _join(path, key))
    if values["momentum"] >= 1:
        raise check.fail(_join(path, "momentum"), f"expected a number in [0, 1), got "
                         f"{values['momentum']}")
    return TrainerSpec(**values)


def _split(check: _Checker, data: dict[str, Any], path: str, key: str = "split") -> str:
    split = check.string(data[key], _join(path, key))
    known = _split_names(data["dataset"], check.data_root)
    if split not in known:
        raise check.fail(_join(path, key), f"dataset {data['dataset']!r} has no split "
                                          f"{split!r} (splits: {', '.join(known)})")
    return split


def _train_data(check: _Checker, value: Any) -> TrainData:
    data = check.mapping(value, "train", _TRAIN, required=("dataset", "split"))
    dataset = check.dataset(data["dataset"], "train.dataset")
    val_split = None
    if data.get("val_split") is not None:
        val_split = _split(check, data, "train", "val_split")
    return TrainData(dataset, _split(check, data, "train"), val_split)


def _free_mapping(check: _Checker, value: Any, path: str) -> Mapping[str, Any]:
    return _freeze(check.mapping(value, path, None))


def _method(check: _Checker, value: Any, path: str, trainer: TrainerSpec) -> MethodSpec:
    data = check.mapping(value, path, _METHOD, required=("method", "backbone", "sampler"))
    method = check.registered(data["method"], _join(path, "method"), _method_names, "method")
    label = check.string(data.get("label", method), _join(path, "label"))
    if not _NAME.match(label) or label.startswith(FLOOR):
        raise check.fail(_join(path, "label"), f"label {label!r} must be a plain name "
                         f"(letters, digits, _ . - + = , [ ]) not starting with {FLOOR!r} "
                         "(the floor's label)")
    return MethodSpec(
        label=label,
        method=method,
        backbone=check.registered(data["backbone"], _join(path, "backbone"), _backbone_names,
                                  "backbone"),
        sampler=check.string(data["sampler"], _join(path, "sampler"), SOURCES),
        ways=check.integer(data.get("ways", 5), _join(path, "ways")),
        shots=check.integer(data.get("shots", 1), _join(path, "shots")),
        queries=check.integer(data.get("queries", 15), _join(path, "queries")),
        sampler_options=_free_mapping(check, data.get("sampler_options"),
                                      _join(path, "sampler_options")),
        params=_free_mapping(check, data.get("params"), _join(path, "params")),
        trainer=_trainer(check, data.get("trainer"), _join(path, "trainer"), trainer),
    )


def _settings(check: _Checker, value: Any, path: str) -> tuple[EvalSetting, ...]:
    settings = []
    for i, item in enumerate(check.list(value, path)):
        where = f"{path}[{i}]"
        entry = check.mapping(item, where, ("ways", "shots"), required=("ways", "shots"))
        ways = check.integer(entry["ways"], _join(where, "ways"), minimum=2)
        settings.append(EvalSetting(ways, check.integer(entry["shots"], _join(where, "shots"))))
    if len(set(settings)) != len(settings):
        raise check.fail(path, "lists the same entry twice")
    return tuple(settings)


def _eval(check: _Checker, value: Any) -> EvalSpec:
    data = check.mapping(value, "eval", _EVAL, required=("datasets", "settings"))
    datasets = []
    for i, item in enumerate(check.list(data["datasets"], "eval.datasets")):
        path = f"eval.datasets[{i}]"
        entry = check.mapping(item, path, ("dataset", "split", "settings"),
                              required=("dataset", "split"))
        dataset = check.dataset(entry["dataset"], _join(path, "dataset"))
        own = _settings(check, entry["settings"], _join(path, "settings")) \
            if "settings" in entry else ()
        datasets.append(EvalData(dataset, _split(check, entry, path), own))
    settings = _settings(check, data["settings"], "eval.settings")
    heads = tuple(
        check.registered(h, f"eval.heads[{i}]", _head_names, "head")
        for i, h in enumerate(check.list(data.get("heads", ["prototype"]), "eval.heads"))
    )
    for what, items in (("datasets", [(d.dataset, d.split) for d in datasets]),
                        ("heads", heads)):
        if len(set(items)) != len(items):
            raise check.fail(f"eval.{what}", "lists the same entry twice")
    return EvalSpec(
        datasets=tuple(datasets),
        settings=tuple(settings),
        heads=heads,
        episodes=check.integer(data.get("episodes", 600), "eval.episodes", minimum=2),
        queries=check.integer(data.get("queries", 15), "eval.queries"),
        seed=check.integer(data.get("seed", 0), "eval.seed", minimum=0),
    )


def parse_spec(data: Any, origin: str = "<spec>",
               data_root: Path | None = None) -> BenchmarkSpec:
    """Validate plain data (as loaded from YAML) into a ``BenchmarkSpec``.

    ``data_root`` is where ImageFolder-prepared datasets are looked up."""
    check = _Checker(origin, data_root)
    top = check.mapping(data, "", _TOP, required=("name", "train", "methods", "eval"))
    name = check.string(top["name"], "name")
    if not _NAME.match(name):
        raise check.fail("name", f"{name!r} must be a plain name (letters, digits, _ . - + =)")
    trainer = _trainer(check, top.get("trainer"), "trainer", TrainerSpec())
    methods = tuple(
        _method(check, item, f"methods[{i}]", trainer)
        for i, item in enumerate(check.list(top["methods"], "methods"))
    )
    labels = [m.label for m in methods]
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise check.fail(f"methods[{i}].label", f"label {label!r} is used twice; "
                             "give each method a distinct label")
    seeds = tuple(
        check.integer(s, f"seeds[{i}]", minimum=0)
        for i, s in enumerate(check.list(top.get("seeds", [0]), "seeds"))
    )
    if len(set(seeds)) != len(seeds):
        raise check.fail("seeds", "lists the same seed twice")
    description = top.get("description") or ""
    if not isinstance(description, str):
        raise check.fail("description", f"expected a string, got {_kind(description)}")
    return BenchmarkSpec(
        name=name,
        description=" ".join(description.split()),
        train=_train_data(check, top["train"]),
        methods=methods,
        eval=_eval(check, top["eval"]),
        seeds=seeds,
        device=check.string(top.get("device", "auto"), "device", DEVICES),
        raw=_freeze(top),
        origin=origin,
    )


def load_spec(path: str | Path, data_root: Path | None = None) -> BenchmarkSpec:
    """Load and validate one benchmark spec file."""
    path = Path(path)
    return parse_spec(read_yaml(path), str(path), data_root)


# ---------------------------------------------------------------- overrides and sweeps

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(key: str, origin: str) -> list[str | int]:
    steps: list[str | int] = []
    position = 0
    for match in _STEP.finditer(key):
        if match.start() != position and key[position:match.start()] != ".":
            raise SpecError(origin, key, "malformed override path")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not steps or position != len(key):
        raise SpecError(origin, key, "malformed override path")
    return steps


def _set_path(raw: Any, key: str, value: Any, origin: str) -> None:
    """Set ``raw[...]`` at a path like ``methods[0].params.temperature`` (mappings are created
    on the way; list indices must exist)."""
    steps = _parse_path(key, origin)
    node = raw
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise SpecError(origin, key, f"no list entry [{step}] here")
            if last:
                node[step] = value
            else:
                node = node[step]
        else:
            if not isinstance(node, dict):
                raise SpecError(origin, key, f"cannot set {step!r} inside a non-mapping")
            if last:
                node[step] = value
            else:
                if not isinstance(node.get(step), (dict, list)):
                    node[step] = {}
                node = node[step]


_ABLATION = ("base", "name", "description", "methods", "sweep")


def expand_sweep(base: BenchmarkSpec, sweep: Mapping[str, list[Any]], origin: str,
                 name: str | None = None, description: str | None = None,
                 data_root: Path | None = None) -> list[BenchmarkSpec]:
    """The grid of overrides ``{path: [values, ...]}`` on ``base``: one spec per grid point,
    named ``<name>[path=value,...]``."""
    check = _Checker(origin)
    keys = list(sweep)
    grids = [check.list(sweep[k], _join("sweep", k)) for k in keys]
    for key in keys:
        _parse_path(key, origin)
    specs = []
    for values in itertools.product(*grids):
        overrides: dict[str, Any] = dict(zip(keys, values))
        point = ",".join(f"{k.split('.')[-1]}={v}" for k, v in overrides.items())
        overrides["name"] = f"{name or base.name}[{point}]"
        if description is not None:
            overrides["description"] = description
        spec = base.with_overrides(overrides, data_root)
        specs.append(spec)
    return specs


def load_specs(path: str | Path, data_root: Path | None = None) -> list[BenchmarkSpec]:
    """A benchmark spec (one spec) or an ablation file (``base:`` + ``sweep:``, many specs).

    An ablation file names a base spec relative to itself, optionally the labels of the base's
    methods to keep (indices in ``sweep`` paths count among the kept ones), and a grid of
    overrides; it expands into one spec per grid point::

        base: ../quick.yaml
        name: quick_temperature
        methods: [simclr]
        sweep:
          methods[0].params.temperature: [0.1, 0.5]
    """
    path = Path(path)
    data = read_yaml(path)
    if not (isinstance(data, Mapping) and "sweep" in data):
        return [parse_spec(data, str(path), data_root)]
    check = _Checker(str(path))
    top = check.mapping(data, "", _ABLATION, required=("base", "sweep"))
    base = load_spec(path.parent / check.string(top["base"], "base"), data_root)
    base = BenchmarkSpec(**{f.name: getattr(base, f.name) for f in fields(base)
                            if f.name != "origin"}, origin=str(path))
    if "methods" in top:
        keep = [check.string(v, f"methods[{i}]")
                for i, v in enumerate(check.list(top["methods"], "methods"))]
        known = [m.label for m in base.methods]
        for i, label in enumerate(keep):
            if label not in known:
                raise check.fail(f"methods[{i}]", f"the base spec has no method {label!r} "
                                 f"(labels: {', '.join(known)})")
        methods = [m for m in _thaw(base.raw)["methods"]
                   if m.get("label", m.get("method")) in keep]
        base = base.with_overrides({"methods": methods}, data_root)
    sweep = check.mapping(top["sweep"], "sweep", None)
    name = check.string(top["name"], "name") if "name" in top else None
    description = top.get("description")
    return expand_sweep(base, sweep, str(path), name, description, data_root)
