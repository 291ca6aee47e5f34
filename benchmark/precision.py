"""Training precision: ``float32``, ``bfloat16``, ``float16`` or ``auto`` → an autocast context.

``bfloat16`` autocasts on CUDA devices that support it and on CPUs; it pays on a CPU only with
AMX (``amx_bf16``/``amx_tile``) or AVX512-BF16 (``avx512_bf16``) instructions
(``benchmark.provenance.cpu_bf16_features``). ``float16`` is CUDA only (with a gradient
scaler). ``auto`` chooses bfloat16 only where the hardware has it and a short probe of the
caller's step finds it faster (``choose``); otherwise float32, with the reason recorded.

Evaluation embeds in a precision of its own (``EVAL_PRECISIONS``, the eval spec's
``precision``): ``trainer`` (the default) is the method's training precision; ``auto`` there is
bfloat16 wherever the hardware has it (``resolve_eval``: an embedding pass has no step to probe).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from benchmark.errors import BenchmarkError
from benchmark.provenance import cpu_bf16_features
from benchmark.timing import best_seconds

if TYPE_CHECKING:
    from benchmark.episodes.episode import EpisodeSampler

PRECISIONS = ("float32", "bfloat16", "float16", "auto")
#: The evaluation's precision: "trainer" (the method's training precision) or one of PRECISIONS.
TRAINER = "trainer"
EVAL_PRECISIONS = (TRAINER, *PRECISIONS)
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
#: ``auto`` takes bfloat16 only when the probe finds it at least this much faster.
MIN_SPEEDUP = 1.1


def hardware_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and why (one phrase)."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, f"CUDA {'supports' if ok else 'does not support'} bfloat16"
    found = cpu_bf16_features()
    if found:
        return True, f"CPU has {', '.join(found)}"
    return False, "CPU has neither AMX nor AVX512-BF16"


def check_precision(precision: str, device: torch.device) -> None:
    """BenchmarkError for an unknown precision or one the device cannot run."""
    if precision not in PRECISIONS:
        raise BenchmarkError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float16" and device.type != "cuda":
        raise BenchmarkError("precision float16 needs CUDA (on a CPU use bfloat16 or float32)")
    if precision == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise BenchmarkError("precision bfloat16 asked for, but this CUDA device does not support it")


def eval_precision(setting: str, trainer: str) -> str:
    """The precision an evaluation embeds in, as a spec says it: ``setting`` (one of
    ``EVAL_PRECISIONS``), or the ``trainer``'s precision where it is ``trainer``."""
    return trainer if setting == TRAINER else setting


def resolve_eval(precision: str, device: torch.device) -> Choice:
    """Resolve an evaluation's ``precision`` (``eval_precision``'s) on ``device``: ``auto`` is
    bfloat16 where the hardware has it (``hardware_bf16``), else float32; the others stand.

    Raises:
        BenchmarkError: an unknown precision or one the device cannot run (``check_precision``).
    """
    check_precision(precision, device)
    if precision != "auto":
        return Choice(precision, "asked for")
    ok, why = hardware_bf16(device)
    return Choice("bfloat16" if ok else "float32", f"auto: {why}")


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context of a resolved ``precision`` on ``device`` (float32: none)."""
    if precision == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


@dataclass(frozen=True)
class Choice:
    """A resolved precision and why it was chosen."""

    precision: str
    reason: str


def choose(precision: str, device: torch.device,
           probe: Callable[[str], Callable[[], object]] | None = None,
           repeats: int = 3) -> Choice:
    """Resolve ``precision``: anything but ``auto`` stands; ``auto`` is bfloat16 only where the
    hardware has it (``hardware_bf16``) and, given ``probe`` (``probe(precision)`` returns one
    step to time), the step runs at least ``MIN_SPEEDUP`` times faster in bfloat16 (the best of
    ``repeats`` timings after a warm-up); else float32."""
    check_precision(precision, device)
    if precision != "auto":
        return Choice(precision, "asked for")
    ok, why = hardware_bf16(device)
    if not ok:
        return Choice("float32", f"auto: {why}")
    if probe is None:
        return Choice("bfloat16", f"auto: {why}")
    seconds = {candidate: best_seconds(probe(candidate), device, repeats)
               for candidate in ("float32", "bfloat16")}
    speedup = seconds["float32"] / seconds["bfloat16"]
    if speedup >= MIN_SPEEDUP:
        return Choice("bfloat16", f"auto: {why}; probe {speedup:.2f}x faster in bfloat16")
    return Choice("float32", f"auto: {why}, but the probe found bfloat16 {speedup:.2f}x "
                             f"(< {MIN_SPEEDUP}x): float32")


def step_probe(method: torch.nn.Module, sampler: "EpisodeSampler",
               device: torch.device) -> Callable[[str], Callable[[], object]]:
    """A ``choose`` probe: forward and backward of a copy of ``method`` on episode 0 of
    ``sampler`` under a precision's autocast; the method, its gradients and the random
    generators are left as they were."""
    import copy

    def probe(precision: str) -> Callable[[], object]:
        twin = copy.deepcopy(method).train()
        episode = sampler.sample(0).to(device)

        def step() -> None:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                with autocast(precision, device):
                    loss = twin(episode)["loss"]
                loss.backward()
            twin.zero_grad(set_to_none=True)
        return step
    return probe
