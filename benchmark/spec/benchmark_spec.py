"""Benchmark specs: a flat YAML file in ``tasks/`` → an immutable, validated ``BenchmarkSpec``.

A spec is plain data: ``BenchmarkSpec.raw`` is the mapping it was parsed from, so an ablation is
a grid of overrides on that mapping (``with_overrides``; ``benchmark.spec.ablation``), each
re-validated.
Each spec key is one dataclass field below (its type, default, bounds and doc, via
``benchmark.spec.schema.setting``; the ``trainer:`` keys are ``benchmark.train.TrainConfig``'s), read
by the one ``benchmark.spec.schema.Reader``. Every error is one ``BenchmarkError`` line naming the
file and the key path, e.g. ``tasks/x.yaml: methods[2].ways: expected an integer, got bool True``.

Names (methods, backbones, samplers, datasets, splits, heads) are checked against the
registries when the spec is loaded; what needs the data itself (ways ≤ classes) is checked by
the runner before any training starts (``benchmark.runner.preflight``).
"""

from __future__ import annotations

import copy
import importlib
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark.spec import limits
from benchmark.data.convert import AUTO, InputConversion
from benchmark.errors import BenchmarkError
from benchmark.precision import EVAL_PRECISIONS, TRAINER, eval_precision
from benchmark.spec.plain import ReadOnlyDict, canonical_hash, read_only, writable
from benchmark.records import FLOOR
from benchmark.registry import Registry
from benchmark.spec.schema import (Context, Invalid, Reader, SpecError, Text, distinct, plain,
                              setting, unique)
from benchmark.spec.yaml_file import read_yaml
from benchmark.split_names import evaluated_split
from benchmark.train.config import TrainConfig

__all__ = ["DEVICES", "FLOORS", "FLOOR", "BenchmarkSpec", "EvalData", "EvalSetting", "EvalSpec",
           "MethodSpec", "SpecError", "TrainData", "load_spec", "parse_spec"]

DEVICES = ("auto", "cpu", "cuda")
#: ``BenchmarkSpec.floor``: the floor rows with the methods' (a spec file), without them (a grid
#: point of an ablation whose floor is computed once), or only them (that floor's own spec).
FLOORS = ("with", "without", "only")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=,\-\[\]]*$")

# ---------------------------------------------------------------- checks of names


def _registry(module: str, name: str) -> Callable[[], Registry]:
    """A registry looked up when a spec is read (importing its module registers its entries)."""
    return lambda: getattr(importlib.import_module(module), name)


def _known_dataset(name: str, context: Context) -> None:
    from benchmark.data import dataset_info

    dataset_info(name, context.data_root)


def _split_of_dataset(split: str, context: Context) -> None:
    from benchmark.data import dataset_info

    dataset = context.values["dataset"]
    known = list(dataset_info(dataset, context.data_root).splits)
    if split not in known:
        raise BenchmarkError(f"dataset {dataset!r} has no split {split!r} "
                             f"(splits: {', '.join(known)})")


def _square_images(rotations: bool, context: Context) -> None:
    """Rotations as classes turn a class's images by 90°: they need square images (a converted
    split has the models' shape, checked when it is converted)."""
    if not rotations or context.values.get("convert") is not None:
        return
    from benchmark.data import dataset_info

    dataset = context.values["dataset"]
    _, height, width = dataset_info(dataset, context.data_root).image_shape
    if height != width:
        raise BenchmarkError(f"rotations need square images, {dataset!r} has {height}x{width}")


def _head_episodes(counts: Mapping[str, Any], context: Context) -> None:
    heads, episodes = context.values["heads"], context.values["episodes"]
    for head, count in counts.items():
        if head in heads:  # a head of methods[].heads only: checked with the methods (_heads_used)
            _head_count(head, count, episodes)


def _head_count(head: str, count: Any, episodes: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= episodes:
        raise BenchmarkError(f"episodes of head {head!r} must be a whole number in "
                             f"2..{episodes} (eval.episodes), got {count!r}")


def _heads_used(spec: "EvalSpec", context: Context) -> None:
    """Every head of eval.head_episodes is one that evaluates something: of eval.heads or of a
    method's own heads."""
    own = [h for m in context.values["methods"] for h in m.heads if h not in spec.heads]
    for head, count in spec.head_episodes.items():
        if head not in spec.heads:
            if head not in own:
                also = f"; methods' heads: {', '.join(dict.fromkeys(own))}" if own else ""
                raise Invalid(f"head {head!r} is not one of eval.heads "
                              f"({', '.join(spec.heads)}){also}", "head_episodes")
            try:
                _head_count(head, count, spec.episodes)
            except BenchmarkError as err:
                raise Invalid(str(err), "head_episodes") from None


#: The longest benchmark name or label: each names a file or folder (with suffixes).
MAX_NAME_CHARS = 100


def _plain_name(name: str, context: Context) -> None:
    if not _NAME.match(name):
        raise BenchmarkError(f"{name!r} must be a plain name (letters, digits, _ . - + =)")
    if len(name) > MAX_NAME_CHARS:
        raise BenchmarkError(f"a name of {len(name)} characters is too long (at most "
                             f"{MAX_NAME_CHARS}: it names files and folders)")


def _plain_names(names: tuple[str, ...], context: Context) -> None:
    for name in names:
        _plain_name(name, context)


def _plain_label(label: str, context: Context) -> None:
    if not _NAME.match(label) or label.startswith(FLOOR):
        raise BenchmarkError(f"label {label!r} must be a plain name (letters, digits, "
                             f"_ . - + = , [ ]) not starting with {FLOOR!r} (the floor's label)")
    if len(label) > MAX_NAME_CHARS:
        raise BenchmarkError(f"a label of {len(label)} characters is too long (at most "
                             f"{MAX_NAME_CHARS}: it names a folder)")


# ---------------------------------------------------------------- the spec objects (immutable)


@dataclass(frozen=True)
class TrainData:
    """What every method is trained on: a registered dataset and one of its splits."""

    dataset: str = setting(check=_known_dataset,
                           doc="a registered (or ImageFolder-prepared) dataset")
    split: str = setting(check=_split_of_dataset, doc="the split the methods train on")
    val_split: str | None = setting(None, check=_split_of_dataset,
                                    doc="the split that picks the best checkpoint, if any")


@dataclass(frozen=True)
class MethodSpec:
    """One method of the benchmark, with its episode sampler and resolved trainer settings."""

    label: str = setting(default_from="method", check=_plain_label,
                         doc="row name in the result tables (unique in the spec)")
    method: str = setting(registry=_registry("benchmark.methods", "METHODS"),
                          doc="registered method name (benchmark.methods.METHODS)")
    backbone: str = setting(registry=_registry("benchmark.backbones", "BACKBONES"),
                            doc="registered backbone name (benchmark.backbones.BACKBONES)")
    sampler: str = setting("labels", registry=_registry("benchmark.samplers", "SAMPLERS"),
                           renamed_from="source",
                           mapping_hint="sampler options go under 'sampler_options'",
                           doc="the registered episode sampler (benchmark.samplers.SAMPLERS): "
                               "the kind of the training episodes (default: labels)")
    ways: int = setting(5, minimum=1, maximum=limits.MAX_WAYS,
                        doc="training episode shape (SimCLR: batch size)")
    shots: int = setting(1, minimum=1, maximum=limits.MAX_SHOTS, doc="support images per class")
    queries: int = setting(15, minimum=1, maximum=limits.MAX_QUERIES,
                           doc="query images per class")
    sampler_options: Mapping[str, Any] = setting(
        factory=ReadOnlyDict, doc="keyword options of the sampler (e.g. augmentation knobs)")
    train_split: str | None = setting(
        None, doc="another split of train.dataset for this method (e.g. all training images for "
                  "a method that uses no labels); default: train.split")
    params: Mapping[str, Any] = setting(
        factory=ReadOnlyDict, doc="keyword parameters of the method (e.g. temperature)")
    trainer: TrainConfig = setting(factory=TrainConfig,
                                   doc="the spec's trainer with this method's overrides applied")
    heads: tuple[str, ...] = setting((), check=distinct(),
                                     registry=_registry("benchmark.heads", "HEADS"),
                                     doc="heads for this method only, after eval.heads (e.g. "
                                         "native: its own adaptation); the first one validates")

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """The ``TrainConfig`` of one training run: this method's trainer, ``seed`` and
        ``device``."""
        return replace(self.trainer, seed=seed, device=device)


@dataclass(frozen=True)
class EvalSetting:
    """An N-way K-shot evaluation setting."""

    ways: int = setting(minimum=2, maximum=limits.MAX_WAYS)
    shots: int = setting(minimum=1, maximum=limits.MAX_SHOTS)


@dataclass(frozen=True)
class EvalData:
    """An evaluation dataset split (unseen classes)."""

    dataset: str = setting(check=_known_dataset,
                           doc="a registered (or ImageFolder-prepared) dataset")
    split: str = setting(check=_split_of_dataset, doc="a split of unseen classes")
    settings: tuple[EvalSetting, ...] = setting(
        (), check=distinct(), doc="replace eval.settings for this split (e.g. no 20-way on a "
                                  "10-class dataset)")
    convert: InputConversion | None = setting(
        None, words={AUTO: {}},
        doc="convert the split's images to the models' shape (auto, or {channels, size} "
            "saying which it is) before evaluating; the rows record what was done")
    rotations: bool = setting(
        False, check=_square_images,
        doc="each class rotated by 90, 180 and 270 degrees is a class of its own (4x the "
            "classes), as Snell et al. and Finn et al. test Omniglot; rows name the split "
            "<split>+rotations")

    @property
    def split_name(self) -> str:
        """The evaluated split's name, as result rows store it: ``split``, with
        ``→<conversion>`` when converted (``fewshot_test→auto``) and ``+rotations`` with
        rotations as classes (``benchmark.split_names``)."""
        return evaluated_split(self.split, self.convert.tag if self.convert else "",
                               self.rotations)


@dataclass(frozen=True)
class EvalSpec:
    """The evaluation grid: datasets × settings × heads, on fixed episodes."""

    datasets: tuple[EvalData, ...] = setting(
        check=distinct(key=lambda d: (d.dataset, d.split_name)))
    settings: tuple[EvalSetting, ...] = setting(check=distinct())
    heads: tuple[str, ...] = setting(("prototype",), check=distinct(),
                                     registry=_registry("benchmark.heads", "HEADS"))
    episodes: int = setting(600, minimum=2, maximum=limits.MAX_EPISODES,
                            doc="test episodes per (dataset, setting), identical for every method")
    queries: int = setting(15, minimum=1, maximum=limits.MAX_QUERIES,
                           doc="queries per class in each test episode")
    seed: int = setting(0, minimum=0, maximum=limits.MAX_SEED,
                        doc="the seed that fixes the test episodes")
    head_episodes: Mapping[str, int] = setting(
        factory=ReadOnlyDict, check=_head_episodes,
        doc="fewer episodes for a costly head, e.g. {finetune: 100}: the first 100 of the "
            "same fixed episodes")
    precision: str = setting(TRAINER, choices=EVAL_PRECISIONS,
                             doc="the precision the images are embedded in (autocast; features "
                                 "float32): trainer (each method's trainer.precision), float32, "
                                 "bfloat16, float16 (CUDA) or auto (bfloat16 where the hardware "
                                 "has it)")

    def settings_for(self, data: EvalData) -> tuple[EvalSetting, ...]:
        """The settings evaluated on ``data``: its own, or the spec-wide ones."""
        return data.settings or self.settings

    def episodes_for(self, head: str) -> int:
        """How many of the fixed episodes ``head`` is evaluated on."""
        return self.head_episodes.get(head, self.episodes)


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec:
    """A whole benchmark: train data, methods, evaluation grid, seeds, device.

    ``raw`` is the plain mapping the spec was parsed from (overrides apply to it);
    ``origin`` is the file it came from (used in error messages).
    """

    name: str = setting(check=_plain_name, doc="the benchmark's name (results are kept by it)")
    description: Text = setting("", doc="one paragraph for the report")
    device: str = setting("auto", choices=DEVICES, doc="where training and evaluation run")
    seeds: tuple[int, ...] = setting((0,), minimum=0, maximum=limits.MAX_SEED, check=distinct("seed"),
                                     doc="one training run per method and seed")
    train: TrainData = setting()
    trainer: TrainConfig = setting(factory=TrainConfig, shared=True,
                                   doc="trainer settings of every method (each method's "
                                       "trainer: overrides them)")
    methods: tuple[MethodSpec, ...] = setting(check=unique(
        "label", "label {value!r} is used twice; give each method a distinct label"))
    eval: EvalSpec = setting(check=_heads_used)
    reuse: tuple[str, ...] = setting((), check=_plain_names,
                                     doc="benchmarks whose finished jobs of the same "
                                         "configuration are reused under this name (rows "
                                         "copied, not trained again): runner/adopt.py")
    raw: Mapping[str, Any] = field(default_factory=ReadOnlyDict, repr=False, compare=False)
    origin: str = field(default="<spec>", compare=False)
    floor: str = "with"  # one of FLOORS; set by an ablation's plan, never by a spec file

    def method(self, label: str) -> MethodSpec:
        """The method whose label is ``label``."""
        for method in self.methods:
            if method.label == label:
                return method
        raise BenchmarkError(f"{self.origin}: no method labelled {label!r}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (defaults filled in, the spec-wide trainer applied to each method)
        as plain, JSON-ready data."""
        return plain(self)

    def eval_precision(self, label: str) -> str:
        """The precision ``label`` is evaluated in, as the spec says it (``auto`` resolves where
        the job runs, ``benchmark.precision.resolve_eval``): ``eval.precision``, or where that
        is ``trainer`` the label's ``trainer.precision`` (a floor's: the spec-wide trainer's)."""
        trainer = self.trainer if label in self.floors else self.method(label).trainer
        return eval_precision(self.eval.precision, trainer.precision)

    @property
    def floors(self) -> dict[str, str]:
        """The random-init floors, label → backbone: ``random``, or ``random-<backbone>`` per
        backbone when the methods use several (none when ``floor`` is ``"without"``)."""
        if self.floor == "without":
            return {}
        backbones = list(dict.fromkeys(m.backbone for m in self.methods))
        if len(backbones) == 1:
            return {FLOOR: backbones[0]}
        return {f"{FLOOR}-{b}": b for b in backbones}

    @property
    def labels(self) -> tuple[str, ...]:
        """Every row label of the benchmark: the floors, then the methods (only the floors when
        ``floor`` is ``"only"``)."""
        methods = () if self.floor == "only" else tuple(m.label for m in self.methods)
        return (*self.floors, *methods)

    def train_split_of(self, label: str) -> str:
        """The split ``label`` trains on: its ``train_split``, else ``train.split`` (the floor's)."""
        if label in self.floors:
            return self.train.split
        return self.method(label).train_split or self.train.split

    def job_hash(self, label: str, steps: int | None = None) -> str:
        """Hash of what determines one label's rows: benchmark name, train data, the resolved
        method (or the floor's backbone) and the evaluation protocol (episodes, queries, seed,
        and the precision the label is embedded in where it is not float32).
        Seeds, device, the description, the other methods, the list of eval cells and the
        trainer's marks (a row's mark is in its key) are left out, so extending the grid or
        the marks or adding seeds or methods keeps stored rows comparable. ``steps``: the hash
        the job would have with that STEP COUNT (``trainer.steps``) instead of its own."""
        protocol = {k: getattr(self.eval, k) for k in ("episodes", "queries", "seed")}
        if self.eval_precision(label) != "float32":  # float32: hashed as before the key
            protocol["precision"] = self.eval_precision(label)
        floors = self.floors
        method = {"floor": floors[label]} if label in floors else plain(self.method(label))
        if method.get("train_split", "") is None:  # no split of its own: hashed as before the key
            del method["train_split"]
        if method.get("heads", None) == []:  # no heads of its own: hashed as before the key
            del method["heads"]
        if method.get("trainer", {}).get("meta_batch") == 1:  # one episode a step: as before the key
            del method["trainer"]["meta_batch"]
        if method.get("trainer", {}).get("precision") == "float32":  # hashed as before the key
            del method["trainer"]["precision"]
        method.get("trainer", {}).pop("marks", None)  # in the row key, not the hash
        if method.get("trainer", {}).get("steps_from", "") is None:  # none, or resolved into
            del method["trainer"]["steps_from"]  # steps (runner.stages): hashed as before the key
        if steps is not None and label not in floors:
            method["trainer"]["steps"] = steps
        return canonical_hash({
            "name": self.name,
            "train": plain(self.train),
            "method": method,
            "eval": protocol,
        })

    def with_overrides(self, overrides: Mapping[str, Any],
                       data_root: Path | None = None) -> "BenchmarkSpec":
        """A new spec with ``{"methods[0].params.temperature": 0.1, ...}`` applied to ``raw``
        and validated again. A list index may be ``[*]`` (every entry) or a method's label
        (``methods[protonet].trainer.steps``); an override of a default that a method sets
        for itself (``trainer.steps`` where ``methods[i].trainer.steps`` is given) is applied
        and said, in one ``warning:`` line on stderr, to be shadowed there. Overridden
        ``eval.heads`` that leave out a head the spec's ``eval.head_episodes`` counts drop its
        count (said in a ``warning:`` line) unless the overrides set ``eval.head_episodes``."""
        raw = copy.deepcopy(writable(self.raw))
        for key, value in overrides.items():
            _set_path(raw, key, value, self.origin)
            shadowed = shadowing(raw, key, self.origin)
            if shadowed:
                print(f"warning: {self.name}: override {key}={value!r} is shadowed by "
                      f"{', '.join(shadowed)}, which the spec sets; use "
                      f"methods[*].{key}=... to set it for every method", file=sys.stderr)
        touched = [k for k in overrides if k in ("eval", "methods") or k.endswith("heads")]
        if touched and not any(k.startswith("eval.head_episodes") for k in overrides):
            dropped = _drop_unused_head_episodes(raw)
            if dropped:
                print(f"warning: {self.name}: eval.head_episodes of {', '.join(dropped)} "
                      f"dropped: no longer in eval.heads or a method's heads after the "
                      f"overrides", file=sys.stderr)
        return parse_spec(raw, self.origin, data_root)


# ---------------------------------------------------------------- loading


def parse_spec(data: Any, origin: str = "<spec>",
               data_root: Path | None = None) -> BenchmarkSpec:
    """Validate plain data (as loaded from YAML) into a ``BenchmarkSpec``.

    ``data_root`` is where ImageFolder-prepared datasets are looked up."""
    spec = Reader(origin, data_root).read(BenchmarkSpec, data, "")
    return replace(spec, raw=read_only(data), origin=origin)


def load_spec(path: str | Path, data_root: Path | None = None) -> BenchmarkSpec:
    """Load and validate one benchmark spec file."""
    path = Path(path)
    return parse_spec(read_yaml(path), str(path), data_root)


# ---------------------------------------------------------------- overrides and sweeps

_STEP = re.compile(r"([^.\[\]]+)|\[([^\[\]]+)\]")
#: A list index of every entry: ``methods[*].trainer.steps``.
EVERY = "*"


@dataclass(frozen=True)
class Entry:
    """A list index in an override path other than a number: ``*`` (every entry) or a
    label (the entry whose ``label`` it is)."""

    index: str

    def __str__(self) -> str:
        return self.index

    def positions(self, node: Any, origin: str, key: str) -> list[int]:
        """The list positions this index names in ``node``."""
        if self.index == EVERY:
            return list(range(len(node)))
        labels = [e.get("label") if isinstance(e, dict) else None for e in node]
        if self.index not in labels:
            known = ", ".join(str(label) for label in labels if label is not None) or "none"
            raise SpecError(origin, key, f"no entry labelled {self.index!r} here "
                                         f"(labels: {known}; or an index, or [*])")
        return [labels.index(self.index)]


def parse_path(key: str, origin: str) -> list[str | int | Entry]:
    """``methods[0].params.temperature`` → ``["methods", 0, "params", "temperature"]``;
    ``methods[*]`` and ``methods[protonet]`` give an ``Entry``."""
    steps: list[str | int | Entry] = []
    position = 0
    for match in _STEP.finditer(key):
        if match.start() != position and key[position:match.start()] != ".":
            raise SpecError(origin, key, "malformed override path")
        index = (match.group(2) or "").strip()
        steps.append(match.group(1) if match.group(1) is not None
                     else int(index) if index.isdigit() else Entry(index))
        position = match.end()
    if not steps or position != len(key):
        raise SpecError(origin, key, "malformed override path")
    return steps


def _set_path(raw: Any, key: str, value: Any, origin: str) -> None:
    """Set ``raw[...]`` at a path like ``methods[0].params.temperature``, ``methods[*]...``
    or ``methods[protonet]...`` (mappings are created on the way; list entries must exist)."""
    _set_steps(raw, parse_path(key, origin), key, value, origin)


def _set_steps(node: Any, steps: list[str | int | Entry], key: str, value: Any,
               origin: str) -> None:
    step, rest = steps[0], steps[1:]
    if isinstance(step, (int, Entry)):
        if not isinstance(node, list):
            raise SpecError(origin, key, f"no list here for [{step}]")
        if isinstance(step, int) and step >= len(node):
            raise SpecError(origin, key, f"no list entry [{step}] here")
        for position in [step] if isinstance(step, int) else step.positions(node, origin, key):
            if rest:
                _set_steps(node[position], rest, key, value, origin)
            else:
                node[position] = copy.deepcopy(value)
        return
    if not isinstance(node, dict):
        raise SpecError(origin, key, f"cannot set {step!r} inside a non-mapping")
    if not rest:
        node[step] = value
        return
    if not isinstance(node.get(step), (dict, list)):
        node[step] = {}
    _set_steps(node[step], rest, key, value, origin)


def _drop_unused_head_episodes(raw: Any) -> list[str]:
    """Remove from plain spec data ``raw`` the ``eval.head_episodes`` entries of heads that
    neither ``eval.heads`` nor any method's ``heads`` evaluates; returns their names (none
    when the data is not shaped as a spec: the reader says what is wrong with it)."""
    evaluation = raw.get("eval") if isinstance(raw, dict) else None
    counts = evaluation.get("head_episodes") if isinstance(evaluation, dict) else None
    if not isinstance(counts, dict) or not isinstance(evaluation.get("heads"), list):
        return []
    used = set(evaluation["heads"])
    for method in raw.get("methods") or []:
        if isinstance(method, dict) and isinstance(method.get("heads"), list):
            used.update(method["heads"])
    dropped = [head for head in counts if head not in used]
    for head in dropped:
        del counts[head]
    return dropped


def shadowing(raw: Any, key: str, origin: str) -> list[str]:
    """The method settings that shadow the top-level default ``key`` (``trainer.steps`` is
    shadowed by ``methods[protonet].trainer.steps`` where that method sets it), by label."""
    steps = parse_path(key, origin)
    if steps[0] == "methods" or not isinstance(raw, dict):
        return []
    found = []
    for i, method in enumerate(raw.get("methods") or []):
        node = method
        for step in steps:
            if not isinstance(step, str) or not isinstance(node, dict) or step not in node:
                break
            node = node[step]
        else:
            label = method.get("label", i) if isinstance(method, dict) else i
            found.append(f"methods[{label}].{key} ({node!r})")
    return found

