"""Where a result came from: the code commit, library versions, the command line and the
machine (its CPU's bfloat16 instructions among it)."""

from __future__ import annotations

import functools
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "pandas", "learn2learn")


@functools.lru_cache(maxsize=1)
def commit() -> str:
    """The git commit of the benchmark code (``<sha>`` or ``<sha>-dirty``), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "benchmark")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


@functools.lru_cache(maxsize=1)
def library_versions() -> str:
    """JSON ``{"python": ..., "torch": ..., ...}`` of the libraries that shape the numbers."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(versions, sort_keys=True, separators=(",", ":"))


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as a user would type it (``python -m benchmark ...``)."""
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else ""
    if program in ("__main__.py", "benchmark", "-m"):
        argv = ["python", "-m", "benchmark", *argv[1:]]
    return shlex.join(argv)


def cpu_bf16_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The CPU's bfloat16 instruction sets among ``amx_bf16``, ``amx_tile``, ``avx512_bf16``
    (its ``flags`` line; empty where unreadable, e.g. not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return [f for f in ("amx_bf16", "amx_tile", "avx512_bf16") if f in flags]


def machine(torch_threads: int) -> str:
    """One line on where a measurement ran: OS, CPU model, cores, torch threads, load average."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
            f"torch threads {torch_threads}, load average at start {load}")
