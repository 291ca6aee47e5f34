"""Plain records that a spec makes and the store keeps: the floor's method label and one grid
point of an ablation. Ground level (no imports of the suite), so that the spec package and the
store both import them downward and neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FLOOR", "AblationPoint"]

#: Method label (prefix) of the random-init floor's rows: ``random``, or ``random-<backbone>``.
FLOOR = "random"


@dataclass(frozen=True)
class AblationPoint:
    """One grid point of an ablation, as stored.

    Attributes:
        ablation: the ablation's name.
        point: the point's plain name, e.g. ``temperature-0.1`` (its folder name too).
        position: its place in the grid (0, 1, ...), the order of the report's rows.
        benchmark: the benchmark name its result rows are stored under.
        swept: swept path → value at this point, JSON text (e.g. ``{"methods[0].params.temperature": 0.1}``).
        question: the question the ablation file asks.
    """

    ablation: str
    point: str
    position: int
    benchmark: str
    swept: str
    question: str = ""
