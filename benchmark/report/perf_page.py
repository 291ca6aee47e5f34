"""What every perf script does with its Markdown: one heading (command, commit, machine,
versions), written atomically, and whether a target is met."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmark import provenance
from benchmark.atomic import atomic_write_text


def bf16_instructions() -> str:
    """Whether the CPU has the bfloat16 instructions that make bfloat16 pay (its
    ``/proc/cpuinfo`` flags): ``AMX (amx_bf16) no, AVX512-BF16 (avx512_bf16) yes``."""
    found = provenance.cpu_bf16_features()
    return ", ".join(f"{name} ({flag}) {'yes' if flag in found else 'no'}"
                     for name, flag in (("AMX", "amx_bf16"), ("AVX512-BF16", "avx512_bf16")))


def machine(threads: int | None = None) -> str:
    """Where a perf script measures, for ``heading`` (take it at the start: it holds the load
    average then): OS, CPU model, cores, ``threads`` torch threads (default: torch's now), load
    average (``provenance.machine``) and the CPU's bfloat16 instructions."""
    threads = torch.get_num_threads() if threads is None else threads
    return f"{provenance.machine(threads)}; CPU bfloat16 instructions: {bf16_instructions()}"


def heading(title: str, command: str, where: str, versions: str | None = None) -> list[str]:
    """The first lines of every perf script's Markdown: the title, the command that made it,
    the commit with the time it ran, the machine (``where``, from ``machine``) and the library
    versions (default ``provenance.library_versions``: torch's among them)."""
    return [f"# {title}", "", f"- command: `{command}`",
            f"- commit: {provenance.commit()}, {time.strftime('%Y-%m-%d %H:%M %Z')}",
            f"- machine: {where}",
            f"- versions: {versions or provenance.library_versions()}"]


def finish(out: Path | None, lines: list[str], ratio_lines: list[str], started: float) -> int:
    """The end of every perf script: print the ratios, then write ``lines`` and the total run
    time since ``started`` (``time.perf_counter``) to ``out`` as Markdown, atomically, if an
    ``out`` was given. Returns the exit code, 0."""
    print("\n".join(["", *ratio_lines]))
    if out is not None:
        text = "\n".join([*lines, "", f"Total run time {time.perf_counter() - started:.0f} s.", ""])
        atomic_write_text(out, text)
        print(f"wrote {out}")
    return 0


def verdict(met: bool) -> str:
    """``met`` or ``NOT met``."""
    return "met" if met else "NOT met"
