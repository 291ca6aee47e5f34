"""Uniform reading of a source given as a directory, a ``.zip`` or a ``.tar[.gz]``.

Every reader yields ``(relative posix path, bytes | None)``; ``None`` marks a directory entry,
so callers can tell an empty class folder from a missing one. Corrupt or truncated archives
raise ``BenchmarkError`` naming the file.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

from benchmark.errors import BenchmarkError

Entry = tuple[str, "bytes | None"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def require_exists(path: Path, what: str) -> Path:
    """``path`` if it exists; a BenchmarkError naming ``what`` otherwise."""
    if not path.exists():
        raise BenchmarkError(f"{what}: {path} does not exist")
    return path


def iter_entries(path: Path) -> Iterator[Entry]:
    """All entries of a directory, zip or tar file, in sorted order."""
    require_exists(path, "source")
    if path.is_dir():
        yield from _iter_dir(path)
    elif path.name.lower().endswith(".zip"):
        yield from _iter_zip(path)
    elif path.name.lower().endswith(_TAR_SUFFIXES):
        yield from _iter_tar(path)
    else:
        raise BenchmarkError(f"source {path} is neither a directory, a .zip nor a .tar(.gz)")


def _iter_dir(path: Path) -> Iterator[Entry]:
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path).as_posix()
        if item.is_dir():
            yield rel, None
        elif item.is_file():
            yield rel, item.read_bytes()


def _iter_zip(path: Path) -> Iterator[Entry]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                name = info.filename.rstrip("/")
                yield name, None if info.is_dir() else archive.read(info)
    except Exception as err:  # zipfile raises many types (BadZipFile, NotImplementedError for
        # an unknown compression, RuntimeError for an encrypted member, ...): all unreadable
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchmarkError(f"corrupt or truncated zip {path}: {reason}") from None


def _iter_tar(path: Path) -> Iterator[Entry]:
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                name = member.name.lstrip("./").rstrip("/")
                if member.isdir():
                    yield name, None
                elif member.isfile():
                    handle = archive.extractfile(member)
                    yield name, handle.read() if handle else b""
    except Exception as err:  # tarfile and its decompressors raise many types: all unreadable
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchmarkError(f"corrupt or truncated archive {path}: {reason}") from None
