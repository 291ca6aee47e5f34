"""Generated malformed specs: whatever a spec file holds, loading and preflight either accept it
or refuse it with one ``BenchmarkError`` line; never another exception, never a traceback.

Each example takes the tiny spec, replaces (or deletes, or adds) a value at a path drawn from
the spec's own keys with a hostile value (wrong type, out of range, huge, NaN/inf, unicode,
very long, deeply nested), writes it as YAML and runs what ``benchmark run`` runs before any
work: ``load_specs`` and ``preflight``; a spec they accept must then be one whose episodes can
be made: its first training episode per method and its fixed test episodes are drawn (a count
that preflight let through but that cannot be allocated is a defect). Nothing trains.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import resource
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.data import load_split
from benchmark.errors import BenchmarkError
from benchmark.evaluation import fixed_episodes
from benchmark.runner import preflight
from benchmark.samplers import build_sampler
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.spec.file import load_specs

TINY = yaml.safe_load((Path(__file__).resolve().parent / "data" / "tiny.yaml").read_text())


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in the spec (dict keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, prefix + (i,))
    return found


PATHS = _paths(TINY)
KEYS = sorted({p[-1] for p in PATHS if isinstance(p[-1], str)})

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**11, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 1e-320]),
    st.text(max_size=20),
    st.sampled_from(["", " ", "é", "日本語", "../x", "a" * 5000, "\x00", "random", "labels",
                     "omniglot", "conv4", "cuda", "imagefolder:x", "-1", "1e11"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5),
                                                 inner, max_size=4)), max_leaves=12)


HUGE = st.one_of(st.sampled_from([0, -1, 10**6, 10**7, 10**9, 10**11, 2**63, 10**30]),
                 st.integers(min_value=-2**64, max_value=2**64))


def _value_at(path: tuple) -> Any:
    node: Any = TINY
    for step in path:
        node = node[step]
    return node


def _edit(path: tuple) -> st.SearchStrategy:
    """An edit of ``path``: numbers get huge and negative numbers half of the time."""
    numeric = isinstance(_value_at(path), (int, float)) and not isinstance(_value_at(path), bool)
    values = st.one_of(HUGE, VALUES) if numeric else VALUES
    return st.tuples(st.just(path), st.sampled_from(["set", "set", "delete", "add"]), values,
                     st.sampled_from(KEYS))


@contextlib.contextmanager
def _memory_cap(extra: int = 3 << 30):
    """Address space capped at what the process maps now plus ``extra`` bytes, so a count that
    slipped through raises MemoryError here instead of exhausting the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as handle:
        mapped = int(handle.read().split()[0]) * resource.getpagesize()
    cap = mapped + extra if hard == resource.RLIM_INFINITY else min(hard, mapped + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _draw_first_episodes(spec: BenchmarkSpec) -> None:
    """What the run would allocate first: one training episode per method, and the fixed test
    episodes (their seeds, and the first batch) of every evaluation cell."""
    train = load_split(spec.train.dataset, spec.train.split)
    for method in spec.methods:
        build_sampler(method.sampler, train, method.ways, method.shots, method.queries,
                      **dict(method.sampler_options)).sample(0)
    for data in spec.eval.datasets:
        split = load_split(data.dataset, data.split)
        for setting in spec.eval.settings_for(data):
            episodes = fixed_episodes(split, setting.ways, setting.shots, spec.eval.queries,
                                      spec.eval.episodes, spec.eval.seed)
            next(episodes.batches(2))


def _apply(spec: dict, path: tuple, action: str, value: Any, key: str) -> None:
    node = spec
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if action == "delete":
        del node[last]
    elif action == "add" and isinstance(node[last], dict):
        node[last][key] = value
    else:
        node[last] = value


#: Examples per run: the same 300 in every CI run (derandomised); ``BENCHMARK_FUZZ_EXAMPLES``
#: asks for a longer, random hunt (``BENCHMARK_FUZZ_EXAMPLES=5000 pytest tests/test_spec_fuzz.py``).
HUNT = int(os.environ.get("BENCHMARK_FUZZ_EXAMPLES", "0"))


@settings(max_examples=HUNT or 300, deadline=None, derandomize=not HUNT,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.sampled_from(PATHS).flatmap(_edit), min_size=1, max_size=3))
def test_any_spec_is_accepted_or_refused_in_one_line(tmp_path_factory, edits) -> None:
    spec = copy.deepcopy(TINY)
    for path, action, value, key in edits:
        try:
            _apply(spec, path, action, value, key)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the path
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    try:
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    except (UnicodeEncodeError, yaml.YAMLError):
        return  # not a file a user could write
    try:
        with _memory_cap():
            for loaded in load_specs(path):
                preflight(loaded, None)
                _draw_first_episodes(loaded)
    except BenchmarkError as err:
        message = str(err)
        assert message and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("text", [
    "name: [",                                   # malformed YAML
    "- a\n- b\n",                                # a list, not a mapping
    "name: tiny\nname: tiny\n",                  # a duplicate key
    "[" * 5000 + "]" * 5000,                     # nesting deep enough to recurse
    "\x00\x01",                                  # control characters
    "name: " + "x" * 2_000_000,                  # a file larger than a spec may be
])
def test_hostile_files_are_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(BenchmarkError) as err:
        load_specs(path)
    assert "\n" not in str(err.value)
