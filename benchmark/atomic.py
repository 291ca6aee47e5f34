"""Atomic file writes: a reader, or a kill, never sees half a file.

Every file the suite writes (prepared splits, checkpoints, reports, perf tables) goes through
``atomic_write``: a temporary file in the target's folder, fsynced, renamed over the target,
then the folder fsynced so the rename itself survives a crash. A temporary file's name says
which process writes it (``.NAME.pPID@HOST.XXXX.tmp``), so ``sweep_temporary`` removes those
of writers killed half-way and never one that a live process (another run writing the same
report at the same time) is still writing.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import time
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
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_writer()}.",
                                   suffix=".tmp")
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


#: The writer part of a temporary file's name: ``pPID@HOST``.
_WRITER = re.compile(r"\.p(\d+)@([^.]*)\.[^.]*\.tmp$")
#: How long a temporary file of another host's writer is taken to be in progress.
FOREIGN_WRITE_S = 3600.0


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def _writer() -> str:
    """This process, as a temporary file's name says it (the pid at the time of the write)."""
    return f"p{os.getpid()}@{_host()}"


def _being_written(tmp: Path) -> bool:
    """Whether a live writer may still be writing ``tmp``: this process; a running process
    of this host; another host's writer within ``FOREIGN_WRITE_S`` of its last write. A name
    with no writer in it (an older version's) is a leftover."""
    match = _WRITER.search(tmp.name)
    if match is None:
        return False
    pid, host = int(match[1]), match[2]
    if host != _host():
        try:
            return time.time() - tmp.stat().st_mtime < FOREIGN_WRITE_S
        except OSError:
            return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True


def sweep_temporary(folder: Path, names: Iterable[str] | None = None) -> None:
    """Remove the temporary files ``atomic_write`` leaves in ``folder`` when killed half-way:
    those of the files ``names`` (None: every one in the folder), except those a live process
    is still writing (``_being_written``)."""
    patterns = [".*.tmp"] if names is None else [f".{_glob_escape(name)}.*.tmp" for name in names]
    for pattern in patterns:
        for stale in Path(folder).glob(pattern):
            if not _being_written(stale):
                stale.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", name)


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
