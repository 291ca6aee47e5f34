"""Methods under one interface (a registry): ``build_method(name, backbone, image_shape, **params)``."""

from __future__ import annotations

import inspect
from typing import Any

from benchmark.backbones import build_backbone
from benchmark.errors import BenchmarkError
from benchmark.methods import infonce, pairwise, protoclr, protonet, simclr, triplet  # noqa: F401 (registers)
from benchmark.methods import pretrained  # noqa: F401 (registers)
from benchmark.methods import byol, moco, psco  # noqa: F401 (registers)
from benchmark.methods import anil, maml, r2d2  # noqa: F401 (registers)
from benchmark.methods.base import METHODS, Method

__all__ = ["METHODS", "Method", "build_method", "method_params"]


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
        the method, with ``model_spec`` (method, backbone, image_shape, params: a dict that
        rebuilds it through this function, as checkpoints do).

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
    method.model_spec = {
        "method": name,
        "backbone": backbone,
        "image_shape": tuple(int(s) for s in image_shape),
        "params": dict(params),
    }
    return method
