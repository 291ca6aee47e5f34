"""Optional packages imported lazily: learn2learn (only when a function that needs it runs), with the deprecation
notice that its ``import gym`` prints on stderr filtered out; anything else it prints passes."""

from __future__ import annotations

import contextlib
import io
import sys
from types import ModuleType

from benchmark.errors import BenchmarkError

_GYM_NOTICE = ("Gym has been unmaintained", "Please upgrade to Gymnasium", "Users of this version of Gym",
               "See the migration guide at https://gymnasium.farama.org")


def import_learn2learn() -> ModuleType:
    """``import learn2learn`` without gym's unmaintained-package notice on stderr."""
    if "learn2learn" in sys.modules:
        return sys.modules["learn2learn"]
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            import learn2learn
    except ImportError as err:
        raise BenchmarkError(f"learn2learn is not installed or fails to import: {err}") from None
    finally:
        kept = [line for line in captured.getvalue().splitlines(keepends=True)
                if not line.lstrip().startswith(_GYM_NOTICE)]
        sys.stderr.write("".join(kept))
    return learn2learn
