"""Atomic file writes: a reader, or a kill, never sees half a file.

Every file the suite writes (prepared splits, checkpoints, reports, perf tables) goes through
``atomic_write``: a temporary file in the target's folder, fsynced, renamed over the target,
then the folder fsynced so the rename itself survives a crash.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from benchmark.errors import BenchmarkError


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(handle)`` (a binary file); create its folder if needed.

    The file gets mode 0644 (not mkstemp's 0600). On any error the temporary file is removed
    and ``path`` is left as it was.

    Raises:
        BenchmarkError: the file cannot be written (a full disk, a read-only folder, ...): one
            line naming the path; ``torch.save``'s RuntimeError for a failed write included.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        _discard(tmp)
        raise BenchmarkError(f"cannot write {path} ({write_failure(err, path.parent)})") from None
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def sweep_temporary(folder: Path, names: Iterable[str] | None = None) -> None:
    """Remove the temporary files ``atomic_write`` leaves in ``folder`` when killed half-way:
    those of the files ``names`` (None: every one in the folder)."""
    patterns = [".*.tmp"] if names is None else [f".{name}.*.tmp" for name in names]
    for pattern in patterns:
        for stale in Path(folder).glob(pattern):
            stale.unlink(missing_ok=True)


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        Path(tmp).unlink(missing_ok=True)


def write_failure(err: BaseException, folder: Path) -> str:
    """Why a write into ``folder`` failed, in a few words; a full disk is named as such."""
    full = getattr(err, "errno", None) == errno.ENOSPC
    try:
        full = full or shutil.disk_usage(folder).free == 0
    except OSError:
        pass
    if full:
        return "no space left on the device"
    if getattr(err, "strerror", None):
        return str(err.strerror)  # type: ignore[attr-defined]
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def atomic_write_text(path: Path, text: str) -> Path:
    """``atomic_write`` of ``text`` in UTF-8."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _fsync_dir(directory: Path) -> None:
    """fsync a folder (where the platform allows), so a rename in it is durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
