"""A spec file read once: its YAML is parsed once and it is decided once whether it is a
benchmark spec or an ablation (a base spec and a grid of overrides, ``benchmark.spec.ablation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.spec.ablation import MAX_POINTS, AblationPlan, is_ablation, plan_ablation
from benchmark.spec.benchmark_spec import BenchmarkSpec, parse_spec
from benchmark.spec.yaml_file import read_yaml

__all__ = ["SpecFile", "load_ablation", "load_specs", "read_spec_file"]


@dataclass(frozen=True)
class SpecFile:
    """What a spec file runs.

    Attributes:
        ablation: the ablation's plan, or None for a benchmark spec.
        specs: the benchmark spec alone, or the ablation's specs (its floor spec when the floor
            is computed once, then one spec per grid point).
    """

    ablation: AblationPlan | None
    specs: tuple[BenchmarkSpec, ...]


def read_spec_file(path: str | Path, data_root: Path | None = None,
                   max_points: int | None = MAX_POINTS) -> SpecFile:
    """Read the spec file at ``path`` once into what it runs (``max_points``: the most grid
    points an ablation may have, None for no bound).

    Raises:
        BenchmarkError: one line for an unreadable file or a spec or ablation it refuses.
    """
    path = Path(path)
    data = read_yaml(path)
    if is_ablation(data):
        plan = plan_ablation(data, path, data_root, max_points)
        return SpecFile(plan, tuple(plan.specs))
    return SpecFile(None, (parse_spec(data, str(path), data_root),))


def load_specs(path: str | Path, data_root: Path | None = None) -> list[BenchmarkSpec]:
    """Every spec a file runs: a benchmark spec (one spec), or an ablation file's (its floor
    spec when the floor is computed once, then one spec per grid point)."""
    return list(read_spec_file(path, data_root).specs)


def load_ablation(path: str | Path, data_root: Path | None = None,
                  max_points: int | None = MAX_POINTS) -> AblationPlan | None:
    """The plan of an ablation file, or None when the file is a plain benchmark spec."""
    return read_spec_file(path, data_root, max_points).ablation
