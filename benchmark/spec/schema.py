"""Settings defined once: each dataclass field carries its type, default, bounds and doc, and one
reader validates plain data (a YAML mapping) into the dataclass from those.

A field is declared with ``setting``, which keeps its ``Rule`` in the field's metadata::

    @dataclass(frozen=True)
    class Budget:
        steps: int = setting(1000, minimum=1, doc="optimisation steps")

        def __post_init__(self) -> None:
            check_fields(self, "budget")      # Budget(steps=0): "budget: steps: expected ..."

    Reader("x.yaml").read(Budget, {"steps": 0}, "trainer")
    # SpecError: x.yaml: trainer.steps: expected an integer ≥ 1, got 0

``plain(obj)`` is the spec-settable part of an object as plain data (for hashes). These are frozen
dataclasses, as everywhere in the code base, with a small reader of our own rather than pydantic:
the error lines stay ours (one line with the key path) and no dependency is added.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, NewType, TypeVar, Union, get_args, get_origin, get_type_hints

from benchmark.errors import BenchmarkError
from benchmark.spec.plain import read_only
from benchmark.registry import Registry

T = TypeVar("T")

#: Free text: any string (nothing reads as empty); runs of white space collapse to one space.
Text = NewType("Text", str)

_RULE = "benchmark.spec.schema"


class SpecError(BenchmarkError):
    """A spec that cannot be loaded: one line with the file and the key path."""

    def __init__(self, origin: str, path: str, message: str) -> None:
        where = f"{origin}: {path}" if path else origin
        super().__init__(f"{where}: {message}")
        self.origin, self.path = origin, path


class Invalid(BenchmarkError):
    """A value that breaks a rule: ``reason``, at ``key`` (a path below where it was checked,
    may be empty), for ``owner`` (what was being built, when built in Python)."""

    def __init__(self, reason: str, key: str = "", owner: str = "") -> None:
        super().__init__(": ".join(part for part in (owner, key, reason) if part))
        self.reason, self.key = reason, key


@dataclass(frozen=True)
class Context:
    """What a field's ``check`` may look at: the fields read before it, and the data root."""

    values: Mapping[str, Any]
    data_root: Path | None = None


#: An extra check of a read value; raises BenchmarkError (or ``Invalid`` with a sub-key).
Check = Callable[[Any, Context], None]


@dataclass(frozen=True)
class Rule:
    """How one field is validated, besides its type hint.

    Attributes:
        doc: what the field means.
        minimum: the least number (for a tuple field: of each item).
        maximum: the greatest integer (counts that size memory or time: ``benchmark.spec.limits``).
        below: numbers must be less than this.
        choices: the strings allowed.
        registry: the registry (or a function returning it) whose names are allowed.
        check: an extra check of the read value (see ``Check``).
        spec: a spec may set the field; ``False``: only Python code sets it (the reader refuses
            it as an unknown key; ``plain`` leaves it out).
        shared: a spec-wide section: later fields of its type, at any depth, start from its
            values; it is applied where it is used, so ``plain`` leaves it out.
        default_from: when not given, the value of this other field.
        renamed_from: the field's former key, refused with a line naming the new one.
        mapping_hint: added when a mapping is given where a string is expected.
        words: for a dataclass field, strings that stand for a mapping of its keys (e.g.
            ``{"auto": {}}``: ``convert: auto`` reads as ``convert: {}``).
        resumable: a run may resume with another value (it does not touch the weights:
            logging, validation, checkpoint cadence, device).
    """

    doc: str = ""
    minimum: float | None = None
    maximum: int | None = None
    below: float | None = None
    choices: tuple[str, ...] = ()
    registry: Registry | Callable[[], Registry] | None = None
    check: Check | None = None
    spec: bool = True
    shared: bool = False
    default_from: str | None = None
    renamed_from: str | None = None
    mapping_hint: str = ""
    words: Mapping[str, Mapping[str, Any]] | None = None
    resumable: bool = False


def setting(default: Any = MISSING, *, factory: Callable[[], Any] | Any = MISSING, **rule: Any) -> Any:
    """A dataclass field with its ``Rule`` (keyword arguments: the ``Rule`` attributes); no
    ``default`` nor ``factory`` makes the key required."""
    return field(default=default, default_factory=factory, metadata={_RULE: Rule(**rule)})


# ---------------------------------------------------------------- scalar values


def _kind(value: Any) -> str:
    """How a refused value is named in an error line: ``nothing``, ``string 'x'``, ``int 3``."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}" if isinstance(value, (int, float)) else \
        type(value).__name__


def _boolean(value: Any, rule: Rule) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {_kind(value)}")
    return value


def _integer(value: Any, rule: Rule) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected an integer, got {_kind(value)}")
    if rule.minimum is not None and value < rule.minimum:
        raise Invalid(f"expected an integer ≥ {rule.minimum}, got {value}")
    if rule.maximum is not None and value > rule.maximum:
        raise Invalid(f"expected an integer ≤ {rule.maximum}, got {value}")
    return value


def _number(value: Any, rule: Rule) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"expected a number, got {_kind(value)}")
    if rule.minimum is not None and (value < rule.minimum or value != value):
        raise Invalid(f"expected a number ≥ {rule.minimum:g}, got {value}")
    if rule.below is not None and not value < rule.below:
        raise Invalid(f"expected a number in [{rule.minimum or 0:g}, {rule.below:g}), "
                      f"got {float(value)}")
    if not math.isfinite(value):
        raise Invalid(f"expected a finite number, got {value}")
    return float(value)


def _name(value: Any, rule: Rule) -> str:
    if not isinstance(value, str) or not value:
        hint = f"; {rule.mapping_hint}" if rule.mapping_hint and isinstance(value, Mapping) else ""
        raise Invalid(f"expected a non-empty string, got {_kind(value)}{hint}")
    if rule.choices and value not in rule.choices:
        raise Invalid(f"expected one of {', '.join(rule.choices)}, got {value!r}")
    if rule.registry is not None:
        registry = rule.registry if isinstance(rule.registry, Registry) else rule.registry()
        try:
            registry.get(value)
        except BenchmarkError as err:
            raise Invalid(str(err)) from None
    return value


def _text(value: Any, rule: Rule) -> str:
    if value is not None and not isinstance(value, str):
        raise Invalid(f"expected a string, got {_kind(value)}")
    return " ".join((value or "").split())


#: Scalar type → its reader: the value checked against the rule, as it is kept.
_SCALARS: dict[Any, Callable[[Any, Rule], Any]] = {
    bool: _boolean, int: _integer, float: _number, str: _name, Text: _text,
}


def _optional(hint: Any) -> Any:
    """``X`` for a hint ``X | None``; ``None`` for any other hint."""
    if get_origin(hint) in (Union, types.UnionType):
        arms = [a for a in get_args(hint) if a is not type(None)]
        if len(arms) == 1 and len(get_args(hint)) == 2:
            return arms[0]
    return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _rules(cls: type, spec_only: bool = True) -> dict[str, tuple[Field, Rule]]:
    """The fields of ``cls`` that have a rule (only those a spec may set, by default)."""
    out = {}
    for f in fields(cls):
        rule = f.metadata.get(_RULE)
        if rule is not None and (rule.spec or not spec_only):
            out[f.name] = (f, rule)
    return out


def resumable_fields(cls: type) -> frozenset[str]:
    """The fields of ``cls`` marked ``resumable``: a run may resume with other values."""
    return frozenset(name for name, (_, rule) in _rules(cls, spec_only=False).items()
                     if rule.resumable)


def spec_fields(cls: type) -> dict[str, Any]:
    """The fields of ``cls`` a spec may set: name → type hint (``X | None`` read as ``X``)."""
    hints = _hints(cls)
    return {name: _optional(hints[name]) or hints[name] for name in _rules(cls)}


def check_fields(obj: Any, owner: str) -> None:
    """Apply the rules of a dataclass's scalar fields to an object built in Python.

    Raises:
        Invalid: e.g. ``train config: steps: expected an integer ≥ 1, got 0``.
    """
    hints = _hints(type(obj))
    for name, (_, rule) in _rules(type(obj), spec_only=False).items():
        value, hint = getattr(obj, name), hints[name]
        if _optional(hint) is not None:
            if value is None:
                continue
            hint = _optional(hint)
        if hint in _SCALARS:
            try:
                _SCALARS[hint](value, rule)
            except Invalid as err:
                raise Invalid(err.reason, name, owner) from None


# ---------------------------------------------------------------- the reader


def _join(path: str, key: str) -> str:
    if not path or not key:
        return path or key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


class Reader:
    """Validates plain data into dataclasses; each failure one ``SpecError`` with the key path.

    ``origin`` names the file in the error lines; ``data_root`` is handed to the checks.
    """

    def __init__(self, origin: str, data_root: Path | None = None) -> None:
        self.origin = origin
        self.data_root = data_root
        self._shared: dict[type, Any] = {}

    def fail(self, path: str, message: str) -> SpecError:
        """The error line for ``path``."""
        return SpecError(self.origin, path, message)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...] | None = None,
                required: tuple[str, ...] = (),
                renamed: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A mapping with string keys, among ``allowed`` (``None``: any), with the ``required``
        ones given; an old key of ``renamed`` (old → new) is refused naming the new one."""
        if value is None and not required:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(path or "(top level)", f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(_join(path, str(key)), "keys must be strings")
            if renamed and key in renamed:
                raise self.fail(_join(path, key), f"renamed to {renamed[key]!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(_join(path, key), f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value or value[key] is None:
                raise self.fail(_join(path, key), "required key is missing")
        return dict(value)

    def list(self, value: Any, path: str) -> list[Any]:
        """A non-empty list (or tuple)."""
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise self.fail(path, f"expected a list, got {_kind(value)}")
        if not value:
            raise self.fail(path, "expected a non-empty list")
        return list(value)

    def read(self, cls: type[T], value: Any, path: str) -> T:
        """``cls`` from a mapping of its spec-settable fields, each validated by its type hint
        and rule; absent fields keep their defaults (or the shared section's values)."""
        rules = _rules(cls)
        hints = _hints(cls)
        required = tuple(name for name, (f, rule) in rules.items()
                         if f.default is MISSING and f.default_factory is MISSING
                         and rule.default_from is None)
        renamed = {rule.renamed_from: name for name, (_, rule) in rules.items()
                   if rule.renamed_from}
        data = self.mapping(value, path, tuple(rules), required, renamed)
        base = self._shared.get(cls)
        values: dict[str, Any] = {}
        context = Context(values, self.data_root)
        for name, (f, rule) in rules.items():
            if name in data:
                values[name] = self._value(hints[name], rule, data[name], _join(path, name), context)
            elif rule.default_from is None and hints[name] in self._shared:
                values[name] = self._shared[hints[name]]
            if rule.shared and name in values:
                self._shared[hints[name]] = values[name]
        for name, (_, rule) in rules.items():
            if rule.default_from is not None and name not in data:
                values[name] = values[rule.default_from]
        try:
            return replace(base, **values) if base is not None else cls(**values)
        except Invalid as err:
            raise self.fail(_join(path, err.key), err.reason) from None

    def _value(self, hint: Any, rule: Rule, value: Any, path: str, context: Context) -> Any:
        if _optional(hint) is not None:
            if value is None:
                return None
            hint = _optional(hint)
        if get_origin(hint) is tuple:
            item = get_args(hint)[0]
            result: Any = tuple(self._one(item, rule, v, f"{path}[{i}]")
                                for i, v in enumerate(self.list(value, path)))
        elif get_origin(hint) is Mapping:
            result = read_only(self.mapping(value, path))
        else:
            result = self._one(hint, rule, value, path)
        if rule.check is not None:
            try:
                rule.check(result, context)
            except Invalid as err:
                raise self.fail(_join(path, err.key), err.reason) from None
            except BenchmarkError as err:
                raise self.fail(path, str(err)) from None
        return result

    def _one(self, hint: Any, rule: Rule, value: Any, path: str) -> Any:
        if is_dataclass(hint):
            if isinstance(value, str) and rule.words:
                if value not in rule.words:
                    raise self.fail(path, f"expected a mapping or {' or '.join(rule.words)}, "
                                          f"got {_kind(value)}")
                value = rule.words[value]
            return self.read(hint, value, path)
        try:
            return _SCALARS[hint](value, rule)
        except Invalid as err:
            raise self.fail(path, err.reason) from None


def distinct(noun: str = "entry", key: Callable[[Any], Any] = lambda item: item) -> Check:
    """A check refusing a tuple that lists the same item (by ``key``) twice."""

    def check(items: tuple, context: Context) -> None:
        keys = [key(item) for item in items]
        if len(set(keys)) != len(keys):
            raise Invalid(f"lists the same {noun} twice")

    return check


def unique(attribute: str, message: str) -> Check:
    """A check refusing a tuple in which two items have the same ``attribute``: ``message``
    (formatted with ``value``) at the second one's key, e.g. ``[2].label``."""

    def check(items: tuple, context: Context) -> None:
        values = [getattr(item, attribute) for item in items]
        for i, value in enumerate(values):
            if value in values[:i]:
                raise Invalid(message.format(value=value), f"[{i}].{attribute}")

    return check


# ---------------------------------------------------------------- plain data


def plain(obj: Any) -> Any:
    """The spec-settable fields of a dataclass, recursively, as plain JSON-ready data (fields
    marked ``spec=False`` or ``shared`` and fields without a rule are left out)."""
    if is_dataclass(obj):
        return {name: plain(getattr(obj, name)) for name, (_, rule) in _rules(type(obj)).items()
                if not rule.shared}
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj
