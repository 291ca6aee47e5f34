"""Methods under one interface (a registry): ``build_method(name, backbone, image_shape, **params)``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping

from benchmark.backbones import build_backbone
from benchmark.errors import BenchmarkError
from benchmark.methods import infonce, pairwise, protoclr, protonet, simclr, triplet  # noqa: F401 (registers)
from benchmark.methods import pretrained  # noqa: F401 (registers)
from benchmark.methods import byol, moco, psco  # noqa: F401 (registers)
from benchmark.methods import anil, maml, r2d2  # noqa: F401 (registers)
from benchmark.methods.base import METHODS, Method

__all__ = ["METHODS", "Method", "ModelSpec", "build_method", "method_params"]


@dataclass(frozen=True)
class ModelSpec:
    """What ``build_method`` needs to rebuild a method from nothing: the one model-spec
    definition (``Method.model_spec``, a checkpoint's ``model_spec``).

    Attributes:
        method: registered method name, e.g. ``"protonet"``.
        backbone: registered backbone name, e.g. ``"conv4"``.
        image_shape: ``(C, H, W)`` of the images the method was built for.
        params: the method's keyword parameters (plain Python values).
    """

    method: str
    backbone: str
    image_shape: tuple[int, int, int]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "params", dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "backbone": self.backbone,
            "image_shape": list(self.image_shape),
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSpec":
        return cls(
            method=str(data["method"]),
            backbone=str(data["backbone"]),
            image_shape=tuple(data["image_shape"]),  # type: ignore[arg-type]
            params=dict(data.get("params", {})),
        )

    def build(self) -> Method:
        """A freshly initialised method (weights from the current torch RNG)."""
        return build_method(self.method, self.backbone, self.image_shape, **dict(self.params))


def method_params(name: str) -> dict[str, Any]:
    """The hyper-parameters of method ``name`` with their defaults."""
    signature = inspect.signature(METHODS.get(name).__init__)
    return {
        key: p.default for key, p in signature.parameters.items() if key not in ("self", "backbone")
    }


def build_method(name: str, backbone: str, image_shape: tuple[int, int, int], **params: Any) -> Method:
    """A fresh method ``name`` on a new ``backbone`` for ``(C, H, W)`` images, on the CPU in the
    default (contiguous) memory format; ``backbones.place_model`` moves it.

    Args:
        params: the method's hyper-parameters (see ``method_params``).

    Returns:
        the method, with ``model_spec`` (a ``ModelSpec``: method, backbone, image_shape,
        params; it rebuilds the method through this function, as checkpoints do).

    Raises:
        BenchmarkError: unknown method, backbone or parameter, bad parameter value, or an
            image size the backbone cannot take; before any model is built where possible.
    """
    cls = METHODS.get(name)
    valid = method_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise BenchmarkError(
            f"method {name!r} has no parameter {', '.join(map(repr, unknown))} "
            f"(valid: {', '.join(valid) or 'none'})"
        )
    method = cls(build_backbone(backbone, image_shape), **params)
    method.model_spec = ModelSpec(name, backbone, image_shape, params)
    return method
