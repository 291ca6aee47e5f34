"""Reading a spec file: YAML that says each thing once, within sane sizes, or one clear line.

``yaml.safe_load`` accepts a mapping with the same key twice (the last one wins silently),
recurses without bound on deep nesting, and lets a few aliases expand into billions of nodes.
``read_yaml`` refuses all three before the spec is validated:

- a duplicate key, naming the key and both lines (``name: given twice, at lines 3 and 9``);
- nesting deeper than ``MAX_DEPTH`` and documents that expand (aliases included) past
  ``MAX_NODES`` nodes;
- files larger than ``MAX_BYTES``.

Numbers are read as YAML 1.2 writes them (PyYAML reads YAML 1.1, where ``1e-3`` is a string):
``1e-3``, ``1E3``, ``.5``, ``+1``, ``0x1F``, ``0o17``, ``.inf``, ``-.inf``, ``.nan`` are numbers,
in spec files and in ``--set`` values (``parse_value``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import re

import yaml

from benchmark.errors import BenchmarkError

#: A spec is a short, hand-written file; anything larger is a mistake (or an attack).
MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a mapping holding the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: safe_load's own error says it
                break
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


#: The YAML 1.2 core schema's floats and ``0o`` octal ints that YAML 1.1 reads as strings.
_FLOAT_12 = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_OCTAL_12 = re.compile(r"^0o[0-7]+$")
for _tag, _pattern in (("tag:yaml.org,2002:int", _OCTAL_12),
                       ("tag:yaml.org,2002:float", _FLOAT_12)):
    _UniqueKeyLoader.add_implicit_resolver(_tag, _pattern, list("-+0123456789."))


def parse_value(text: str) -> Any:
    """One ``--set`` value as YAML (with ``read_yaml``'s YAML 1.2 numbers): ``1e-3`` → 0.001,
    ``[0, 1]`` → a list, ``protonet`` → a string.

    Raises:
        yaml.YAMLError: malformed YAML.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


def _check_size(data: Any, where: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` or more than ``MAX_NODES`` nodes (aliases
    counted as often as they are used), without ever walking more than that."""
    budget = MAX_NODES
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise BenchmarkError(f"{where}: the spec expands to more than {MAX_NODES} values "
                                 "(aliases included); a spec is a short file")
        if depth > MAX_DEPTH:
            raise BenchmarkError(f"{where}: nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((item, depth + 1) for pair in node.items() for item in pair)
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)


def read_yaml(path: Path) -> Any:
    """The plain data of the YAML file at ``path``.

    Raises:
        BenchmarkError: one line for a missing or unreadable file, malformed YAML (with line
            and column), a duplicate key (with both lines), or a file too large or too deep.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BenchmarkError(f"{path}: spec file of {size} bytes is larger than the "
                                 f"{MAX_BYTES} a spec may have")
        text = path.read_text()
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: spec file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BenchmarkError(f"{path}: cannot read spec ({err})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as dup:
        raise BenchmarkError(f"{path}: key {dup.key!r} is given twice, at lines {dup.first} "
                             f"and {dup.second}; a spec must say each thing once") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).split("\n")[0]
        raise BenchmarkError(f"{path}: malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise BenchmarkError(f"{path}: nesting deeper than {MAX_DEPTH} levels") from None
    _check_size(data, str(path))
    return data
