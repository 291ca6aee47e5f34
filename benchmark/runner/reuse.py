"""Whether a run folder's checkpoint may be resumed or reused by a job: only by the job that
wrote it.

A job's checkpoints carry its fingerprint in their ``spec`` entry (``benchmark.train``'s
``spec=``): the job hash (benchmark, train dataset and split, the resolved method with its
sampler, params and trainer, the evaluation protocol) and the fingerprint of the prepared
training split. A folder whose ``last.pt`` carries another fingerprint (another split, data
prepared again, a checkpoint from elsewhere) is moved aside, kept, and the job retrains: its
rows must say what they were trained on, and retraining from the spec is what the spec asks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from benchmark.checkpoint import load_checkpoint
from benchmark.errors import BenchmarkError

log = logging.getLogger("benchmark.runner.progress")

#: The keys of a checkpoint's ``spec`` entry that say what it was trained on.
FINGERPRINT_KEYS = ("spec_hash", "train_split", "train_fingerprint")


def job_fingerprint(spec_hash: str, train_split: str, train_fingerprint: str) -> dict[str, str]:
    """What a job's checkpoints record of what they were trained on."""
    return {"spec_hash": spec_hash, "train_split": train_split,
            "train_fingerprint": train_fingerprint}


def mismatch(stored: Mapping[str, Any], expected: Mapping[str, str]) -> list[str]:
    """The fingerprint keys in which a checkpoint's ``spec`` entry differs from the job's
    (a key the checkpoint lacks, but the job hash, counts as equal: checkpoints written
    before the key existed carry the job hash alone, and it covers the split's name)."""
    return [key for key in FINGERPRINT_KEYS
            if (key in stored or key == "spec_hash") and stored.get(key) != expected[key]]


def claim_folder(folder: Path, expected: Mapping[str, str], where: str) -> None:
    """Leave ``folder`` to the job whose fingerprint is ``expected``: when its ``last.pt``
    was written by another job (or cannot be read), move the folder aside and log why."""
    last = Path(folder) / "last.pt"
    if not last.exists():
        return
    stored: Any = {}
    try:
        stored = load_checkpoint(last).get("spec") or {}
        stored = stored if isinstance(stored, Mapping) else {}
        differ = mismatch(stored, expected)
    except BenchmarkError as err:
        differ = [f"unreadable: {err}"]
    if differ:
        moved = retire(Path(folder), str(stored.get("spec_hash") or "unknown"))
        log.info("%s: the checkpoint in %s was trained on something else (%s); retraining, "
                 "previous run kept in %s", where, folder, ", ".join(differ), moved)


def retire(folder: Path, old_hash: str) -> Path | None:
    """Move a run folder of another configuration aside (kept, never deleted); returns where
    it went, or None when there was none."""
    if not folder.exists():
        return None
    target = folder.with_name(f"{folder.name}.stale-{old_hash}")
    suffix = 0
    while target.exists():
        suffix += 1
        target = folder.with_name(f"{folder.name}.stale-{old_hash}-{suffix}")
    folder.rename(target)
    return target
