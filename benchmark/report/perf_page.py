"""What every perf script does with its Markdown: write it atomically, and say whether a target is met."""

from __future__ import annotations

import time
from pathlib import Path

from benchmark import provenance
from benchmark.atomic import atomic_write_text


def heading(title: str, command: str) -> list[str]:
    """The first lines of every perf script's Markdown: the title, the command that made it,
    and the commit with the time it ran."""
    return [f"# {title}", "", f"- command: `{command}`",
            f"- commit: {provenance.commit()}, {time.strftime('%Y-%m-%d %H:%M %Z')}"]


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
