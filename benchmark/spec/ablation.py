"""Ablation files: a base spec and a grid of overrides → one spec per grid point, and the plan
that runs them.

An ablation file names a base spec (relative to itself), optionally the labels of the base's
methods to keep (indices in paths count among the kept ones), overrides every point shares
(``set:``), and either ``sweep:`` (one or two dotted paths, crossed) or ``variants:`` (named
sets of overrides, e.g. leave-one-out)::

    base: ../quick.yaml
    name: quick_temperature
    question: Which NT-Xent temperature transfers best?
    methods: [simclr]
    set: {eval.episodes: 300}
    sweep:
      methods[0].params.temperature: [0.1, 0.5]

Each point's rows are stored under the benchmark ``<name>.<point>`` (``temperature-0.1``;
``ways-64_temperature-0.1`` for two paths; a variant's name). When nothing swept changes the
random-init floor (train data, backbones, seeds, evaluation grid all equal across points), the
floor is run once, under the benchmark named exactly ``<name>``; otherwise every point keeps
its own floor rows. Every path is checked against the spec schema before anything runs: a key
the schema does not have, a list index out of range or a key below a single value is refused
(below a free mapping such as ``params`` or ``sampler_options`` any key goes).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin

from benchmark.errors import BenchmarkError
from benchmark.records import AblationPoint
from benchmark.spec.plain import ReadOnlyDict, canonical_hash, writable
from benchmark.spec.schema import (Context, Reader, SpecError, Text, plain, setting, spec_fields,
                              unique)
from benchmark.spec.benchmark_spec import BenchmarkSpec, Entry, load_spec, parse_path

__all__ = ["MAX_POINTS", "Ablation", "AblationPlan", "Variant", "check_path", "expand_sweep",
           "is_ablation", "plan_ablation"]

#: Grid points an ablation may have without ``benchmark run FILE --yes``.
MAX_POINTS = 64
#: At most this many swept paths are crossed.
MAX_SWEPT = 2
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=,\-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=,\-]")


def _folder_name(name: str, context: Context) -> None:
    if not _FOLDER.match(name):
        raise BenchmarkError(f"{name!r} must be a plain folder name (letters, digits, _ . - + = ,)")


@dataclass(frozen=True)
class Variant:
    """One named grid point of a ``variants:`` list."""

    name: str = setting(check=_folder_name, doc="the point's name (its folder, its row)")
    set: Mapping[str, Any] = setting(doc="override path → value ({} for the base itself)")


@dataclass(frozen=True)
class Ablation:
    """An ablation file, as written."""

    base: str = setting(doc="the base spec file, relative to the ablation file")
    name: str | None = setting(None, check=_folder_name,
                               doc="the ablation's name (default: the file's name)")
    question: Text = setting("", doc="the question the ablation answers (shown in the report)")
    description: Text | None = setting(None, doc="replaces the base's description")
    methods: tuple[str, ...] | None = setting(None, doc="labels of the base's methods to keep "
                                                        "(default: all)")
    set: Mapping[str, Any] = setting(factory=ReadOnlyDict,
                                     doc="override path → value, applied at every point")
    sweep: Mapping[str, Any] | None = setting(None, doc="one or two override paths → the list "
                                                        "of their values (crossed)")
    variants: tuple[Variant, ...] | None = setting(
        None, check=unique("name", "variant name {value!r} is used twice; give each variant its "
                                   "own name"),
        doc="named points, each a set of overrides")


@dataclass(frozen=True)
class AblationPlan:
    """What an ablation file runs: its grid points (as stored) and the specs, the floor's own
    spec first when the floor is computed once."""

    name: str
    question: str
    points: tuple[AblationPoint, ...]
    specs: tuple[BenchmarkSpec, ...]


def is_ablation(data: Any) -> bool:
    """Whether parsed YAML is an ablation file (it has ``base``, ``sweep`` or ``variants``)."""
    return isinstance(data, Mapping) and any(k in data for k in ("base", "sweep", "variants"))


def check_path(raw: Any, key: str, reader: Reader, where: str) -> None:
    """Refuse an override path the spec schema does not have (``raw``: the spec it applies to)."""
    steps = parse_path(key, reader.origin)
    if steps == ["name"]:
        raise reader.fail(where, f"{key}: the points are named after the ablation")
    hint: Any = BenchmarkSpec
    node: Any = raw
    for i, step in enumerate(steps):
        above = "".join(f"[{s}]" if isinstance(s, (int, Entry)) else f".{s}" for s in steps[:i])
        above = above.lstrip(".") or "the spec"
        if get_origin(hint) is Mapping:
            return
        if is_dataclass(hint):
            known = spec_fields(hint)
            if not isinstance(step, str) or step not in known:
                raise reader.fail(where, f"{key}: {above} has no key {step!r} "
                                  f"(keys: {', '.join(known)})")
            hint, node = known[step], node.get(step) if isinstance(node, Mapping) else None
        elif get_origin(hint) is tuple and isinstance(step, Entry):  # [*] or [label]
            entries = node if isinstance(node, list) else []
            positions = step.positions(entries, reader.origin, key)
            hint, node = get_args(hint)[0], entries[positions[0]] if positions else None
        elif get_origin(hint) is tuple:
            size = len(node) if isinstance(node, list) else 0
            if not isinstance(step, int):
                raise reader.fail(where, f"{key}: {above} is a list; index it ([0]), not .{step}")
            if step >= size:
                raise reader.fail(where, f"{key}: {above} has {size} entries, no [{step}]")
            hint, node = get_args(hint)[0], node[step]
        else:
            raise reader.fail(where, f"{key}: {above} is a single value, nothing below it")


def _value_name(value: Any) -> str:
    """A value as it reads in a folder name: ``0.1``, ``true``, ``0.08,1.0``."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_value_name(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={_value_name(v)}" for k, v in value.items())
    return _UNSAFE.sub("_", str(value))


def _key_names(keys: list[str], origin: str) -> list[str]:
    """Each swept path's short name: its last key, or the whole path (``methods.0.params.x``)
    when two paths end alike."""
    last = [str(parse_path(k, origin)[-1]) for k in keys]
    return [name if last.count(name) == 1 else _UNSAFE.sub(".", k).replace("..", ".").strip(".")
            for k, name in zip(keys, last)]


def expand_sweep(sweep: Mapping[str, Any], reader: Reader,
                 max_points: int | None) -> list[tuple[str, dict[str, Any]]]:
    """The grid of ``{path: [values, ...]}`` (one or two paths crossed, in order): (point
    name, overrides) per point."""
    keys = list(reader.mapping(sweep, "sweep"))
    if not 1 <= len(keys) <= MAX_SWEPT:
        raise reader.fail("sweep", f"give one or {MAX_SWEPT} paths to cross, got {len(keys)}")
    grids = [reader.list(sweep[k], f"sweep.{k}") for k in keys]
    _check_size(math.prod(len(g) for g in grids), reader, "sweep", max_points)
    names = _key_names(keys, reader.origin)
    return [("_".join(f"{n}-{_value_name(v)}" for n, v in zip(names, values)),
             dict(zip(keys, values))) for values in itertools.product(*grids)]


def _check_size(points: int, reader: Reader, where: str, max_points: int | None) -> None:
    if max_points is not None and points > max_points:
        raise reader.fail(where, f"{points} grid points, more than {max_points} "
                          "(benchmark run FILE --yes runs it anyway)")


def _base(ablation: Ablation, path: Path, reader: Reader,
          data_root: Path | None) -> BenchmarkSpec:
    """The base spec with only the kept methods and the shared overrides."""
    base = replace(load_spec(path.parent / ablation.base, data_root), origin=str(path))
    if ablation.methods is not None:
        known = [m.label for m in base.methods]
        for i, label in enumerate(ablation.methods):
            if label not in known:
                raise reader.fail(f"methods[{i}]", f"the base spec has no method {label!r} "
                                  f"(labels: {', '.join(known)})")
        methods = [m for m in writable(base.raw)["methods"]
                   if m.get("label", m.get("method")) in ablation.methods]
        base = base.with_overrides({"methods": methods}, data_root)
    shared = writable(ablation.set)
    for key in shared:
        check_path(writable(base.raw), key, reader, "set")
    return base.with_overrides(shared, data_root) if shared else base


def _floor_key(spec: BenchmarkSpec) -> str:
    """What the floor's rows depend on: train data, the floors' backbones, seeds, eval grid."""
    return canonical_hash({"train": plain(spec.train), "floors": spec.floors,
                           "seeds": list(spec.seeds), "eval": plain(spec.eval)})


def plan_ablation(data: Mapping[str, Any], path: Path, data_root: Path | None = None,
                  max_points: int | None = MAX_POINTS) -> AblationPlan:
    """Validate an ablation file's parsed YAML into its plan; one ``SpecError`` line per bad
    input, before anything runs.

    ``max_points``: the grid size allowed (None: any)."""
    reader = Reader(str(path), data_root)
    ablation = reader.read(Ablation, data, "")
    if (ablation.sweep is None) == (ablation.variants is None):
        raise reader.fail("(top level)", "give either 'sweep' or 'variants' (exactly one)")
    name = ablation.name or path.stem
    if not _FOLDER.match(name):
        raise reader.fail("name", f"the file's name {name!r} is not a plain folder name; "
                          "give 'name:'")
    base = _base(ablation, path, reader, data_root)
    raw = writable(base.raw)
    if ablation.sweep is not None:
        grid = expand_sweep(writable(ablation.sweep), reader, max_points)
        for key in grid[0][1]:
            check_path(raw, key, reader, "sweep")
    else:
        _check_size(len(ablation.variants), reader, "variants", max_points)
        grid = [(v.name, writable(v.set)) for v in ablation.variants]
        for i, (_, overrides) in enumerate(grid):
            for key in overrides:
                check_path(raw, key, reader, f"variants[{i}].set")
    seen = [point for point, _ in grid]
    for i, point in enumerate(seen):
        if point in seen[:i]:
            raise reader.fail("sweep", f"two points are both named {point!r}; give values "
                              "that read differently")
    specs = [_point_spec(base, name, point, overrides, ablation.description, reader, data_root)
             for point, overrides in grid]
    points = tuple(AblationPoint(name, point, i, spec.name, json.dumps(overrides),
                                 ablation.question)
                   for i, ((point, overrides), spec) in enumerate(zip(grid, specs)))
    if len({_floor_key(s) for s in specs}) == 1:
        floor = replace(specs[0].with_overrides({"name": name}, data_root), floor="only")
        specs = [floor] + [replace(s, floor="without") for s in specs]
    return AblationPlan(name, ablation.question, points, tuple(specs))


def _point_spec(base: BenchmarkSpec, name: str, point: str, overrides: dict[str, Any],
                description: str | None, reader: Reader,
                data_root: Path | None) -> BenchmarkSpec:
    """One grid point's spec; a value the spec refuses is one line naming the point."""
    extra: dict[str, Any] = {"name": f"{name}.{point}"}
    if description is not None:
        extra["description"] = description
    try:
        return base.with_overrides({**overrides, **extra}, data_root)
    except SpecError as err:
        raise reader.fail(f"point {point}", str(err).removeprefix(f"{reader.origin}: ")) from None
