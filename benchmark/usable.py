"""Whether a model gives usable features: finite weights, and an embedding function that
returns a finite float tensor ``[B, D]`` for a batch of ``B`` images. A model that does not
is refused with one line naming the cause, never scored (chance level is not a result)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from benchmark.errors import BenchmarkError

NOT_SCORED = "it gives no usable features; not scored"


def check_weights(model: Any) -> None:
    """Refuse a module with a NaN or infinite parameter or buffer (a callable that is not a
    module has none to check).

    Raises:
        BenchmarkError: naming the first non-finite tensor.
    """
    if not isinstance(model, nn.Module):
        return
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BenchmarkError(f"the model's weights are not finite ({name} holds NaN or "
                                 f"infinite values): {NOT_SCORED}")


def checked(embed: Callable[[torch.Tensor], Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``embed`` with its output checked: a floating tensor ``[B, ...]`` (B: the images given;
    flattened to ``[B, D]``), every value finite.

    Raises:
        BenchmarkError: naming what the output is instead.
    """
    def features(images: torch.Tensor) -> torch.Tensor:
        out = embed(images)
        if not isinstance(out, torch.Tensor):
            raise BenchmarkError(f"the encoder returned a {type(out).__name__}, not a tensor of "
                                 f"features [B, D]")
        if out.dim() < 2 or out.shape[0] != images.shape[0]:
            raise BenchmarkError(f"the encoder returned features of shape {list(out.shape)} for "
                                 f"{images.shape[0]} images; expected [{images.shape[0]}, D]")
        if not out.is_floating_point():
            raise BenchmarkError(f"the encoder returned {out.dtype} features; expected floats")
        if not bool(torch.isfinite(out).all()):
            raise BenchmarkError(f"the encoder's features are not finite (NaN or infinite "
                                 f"values): {NOT_SCORED}")
        return out.flatten(1)

    return features
