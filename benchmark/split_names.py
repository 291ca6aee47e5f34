"""How result rows name the split they were evaluated on: the dataset's split, then what was
done to it, ``→<conversion>`` (its images converted to the models' shape) and ``+rotations``
(each class rotated by 90°, 180° and 270° is a class of its own: the 4x class set that Snell et
al., Finn et al. and the authors' code of ProtoTransfer and PsCo test Omniglot on). Ground
level: the spec and runner that write these names and the report that reads them share this
one definition."""

from __future__ import annotations

__all__ = ["CONVERTED", "ROTATIONS", "base_split", "evaluated_split", "has_rotations"]

#: Between a split and the conversion of its images: ``fewshot_test→auto``.
CONVERTED = "→"
#: After a split evaluated with rotations as classes: ``vinyals_test+rotations``.
ROTATIONS = "+rotations"


def evaluated_split(split: str, conversion: str = "", rotations: bool = False) -> str:
    """The name rows store: ``vinyals_test``, ``fewshot_test→auto``, ``vinyals_test+rotations``."""
    name = f"{split}{CONVERTED}{conversion}" if conversion else split
    return name + ROTATIONS if rotations else name


def base_split(name: str) -> str:
    """The dataset's split that an evaluated split's name was made from (``vinyals_test``)."""
    return name.removesuffix(ROTATIONS).split(CONVERTED)[0]


def has_rotations(name: str) -> bool:
    """Whether an evaluated split's name says rotations were classes of their own."""
    return name.endswith(ROTATIONS)
