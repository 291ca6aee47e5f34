"""Checkpoints: atomic writes, validated reads, RNG state capture, rebuilding a method alone.

A checkpoint is a ``torch.save``'d dict of tensors and plain Python values (so it loads with
``weights_only=True``)::

    format        "benchmark-checkpoint/1"
    model_spec    {"method", "backbone", "image_shape", "params"}: enough to rebuild the method
    model         the method's state_dict (backbone, projector, BN statistics, and method state
                  kept as buffers or frozen parameters, such as an EMA target network)
    optimizer, scheduler, scaler   their state_dicts (training checkpoints only)
    step          completed training steps
    rng           torch / numpy / python / cuda generator states
    config        the TrainConfig as a dict
    spec          the caller's spec dict (e.g. the benchmark spec entry), or {}
    best          {"val_acc": float | None, "step": int | None}
    seconds, cpu_seconds   the run's training wall-clock and CPU time (validation left out)
                  so far, over all its sittings
    mark          (a ``mark_<m>.pt`` only) the training CPU-minutes it was kept at
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from benchmark.atomic import atomic_write
from benchmark.errors import BenchmarkError
from benchmark.methods import ModelSpec

FORMAT = "benchmark-checkpoint/1"
REQUIRED_KEYS = ("format", "model_spec", "model", "step")


def model_spec_of(method: torch.nn.Module) -> ModelSpec | None:
    """The ``ModelSpec`` a method carries as ``method.model_spec`` (``build_method`` sets it)."""
    return getattr(method, "model_spec", None)


def rng_state() -> dict[str, Any]:
    """Every generator a training step may draw from, in a ``weights_only``-loadable form."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state` (CUDA only where present on both)."""
    torch.set_rng_state(state["torch"])
    nps = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": nps["bit_generator"],
            "state": {"key": nps["key"].numpy().astype(np.uint32), "pos": nps["pos"]},
            "has_gauss": nps["has_gauss"],
            "gauss": nps["gauss"],
        }
    )
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = list(state["cuda"])[: torch.cuda.device_count()]
        for index, cuda_state in enumerate(cuda_states):
            torch.cuda.set_rng_state(cuda_state, index)


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically: temporary file, fsync, ``os.replace``.

    A reader sees either the previous file or the complete new one, never a partial write.
    The checkpoint is serialised in memory first, so a failing disk reports its own error
    (``no space left on the device``) rather than torch's zip writer's.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    return atomic_write(Path(path), lambda handle: handle.write(buffer.getbuffer()))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint.

    Raises:
        BenchmarkError: the file is missing, truncated, corrupt, or not a benchmark checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
        raise BenchmarkError(f"checkpoint {path} is truncated or corrupt ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BenchmarkError(f"checkpoint {path} is not a benchmark checkpoint ({FORMAT})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise BenchmarkError(f"checkpoint {path} lacks {', '.join(missing)}")
    try:
        ModelSpec.from_dict(payload["model_spec"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise BenchmarkError(f"checkpoint {path} has a malformed model_spec") from None
    problem = _out_of_bounds(payload)
    if problem:
        raise BenchmarkError(f"checkpoint {path} is malformed: {problem}")
    return payload


def _out_of_bounds(payload: Mapping[str, Any]) -> str:
    """What of a checkpoint's contents is of the wrong type or out of bounds ("" if nothing):
    the model spec's names, image shape and params, the step, the weights."""
    from benchmark.spec.limits import MAX_IMAGE_SIDE

    spec = payload["model_spec"]
    if not all(isinstance(spec.get(key), str) for key in ("method", "backbone")):
        return "model_spec method and backbone must be names"
    shape = list(spec["image_shape"])
    if (len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            or not 1 <= shape[0] <= 4 or not all(1 <= v <= MAX_IMAGE_SIDE for v in shape[1:])):
        return (f"model_spec image_shape must be (C, H, W) with C in 1..4 and sides in "
                f"1..{MAX_IMAGE_SIDE}, got {str(shape)[:60]}")
    if not isinstance(spec.get("params", {}), Mapping):
        return "model_spec params must be a mapping"
    step = payload["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"step must be a non-negative integer, got {str(step)[:40]}"
    weights = payload["model"]
    if not isinstance(weights, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        return "model must map parameter names to tensors"
    return ""


def rebuild_method(payload: Mapping[str, Any], path: Path | str = "checkpoint") -> torch.nn.Module:
    """The method a checkpoint payload describes, with its weights loaded, in eval mode.

    Raises:
        BenchmarkError: the weights do not fit the method/backbone the checkpoint names.
    """
    spec = ModelSpec.from_dict(payload["model_spec"])
    try:
        method = spec.build()
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise BenchmarkError(f"checkpoint {path}: cannot rebuild {spec.method}/{spec.backbone} "
                             f"from its model_spec ({reason})") from None
    try:
        method.load_state_dict(payload["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        first = str(err).strip().splitlines()[0]
        raise BenchmarkError(
            f"checkpoint {path}: weights do not fit {spec.method}/{spec.backbone} ({first})"
        ) from None
    return method.eval()


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
