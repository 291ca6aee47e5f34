"""Whether a run folder's checkpoint may be resumed or reused by a job: only by the job that
wrote it.

A job's checkpoints carry its fingerprint in their ``spec`` entry (``benchmark.train``'s
``spec=``): the job hash (benchmark, train dataset and split, the resolved method with its
sampler, params and trainer, the evaluation protocol) and the fingerprint of the prepared
training split. A folder whose ``last.pt`` carries another fingerprint (another split, data
prepared again, a checkpoint from elsewhere) is moved aside, kept, and the job retrains: its
rows must say what they were trained on, and retraining from the spec is what the spec asks.

One exception: a checkpoint of this very job under another STEP COUNT (its hash is the job's
hash at the checkpoint's ``trainer.steps``, on the same data) whose training never reads the
budget (``benchmark.train.budget``) goes on to the job's STEP COUNT, and ends where a run
started with it ends (``continued_steps``): raising a STEP COUNT does not throw hours away.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark.checkpoint import load_checkpoint
from benchmark.errors import BenchmarkError
from benchmark.methods import METHODS
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.train.budget import why_not_continued

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


def continued_steps(payload: Mapping[str, Any], spec: BenchmarkSpec, label: str) -> int | None:
    """The STEP COUNT of the run whose checkpoint is ``payload`` when that run is ``label``'s
    job of ``spec`` under another STEP COUNT and may go on to the spec's
    (``benchmark.train.budget.why_not_continued``); else None. Only the job hash is compared
    here: the training data's fingerprint is ``claim_folder``'s to check."""
    stored = payload.get("spec")
    method = stored.get("method") if isinstance(stored, Mapping) else None
    trainer = method.get("trainer") if isinstance(method, Mapping) else None
    steps = trainer.get("steps") if isinstance(trainer, Mapping) else None
    if label in spec.floors or not isinstance(steps, int) or isinstance(steps, bool):
        return None
    ours = spec.method(label)
    if steps == ours.trainer.steps or stored.get("spec_hash") != spec.job_hash(label, steps):
        return None
    done = payload.get("step")
    if not isinstance(done, int) or why_not_continued(
            ours.trainer, steps, done, METHODS.get(ours.method).budget_free(ours.params),
            spec.train.val_split is not None):
        return None
    return steps


def claim_folder(folder: Path, expected: Mapping[str, str], where: str,
                 continues: Callable[[Mapping[str, Any]], int | None] | None = None) -> None:
    """Leave ``folder`` to the job whose fingerprint is ``expected``: when its ``last.pt``
    was written by another job (or cannot be read), move the folder aside and log why; but
    keep it where ``continues(checkpoint)`` gives the STEP COUNT of the job's run that the
    checkpoint is of, going on to the job's own (the data's fingerprint must be the job's)."""
    last = Path(folder) / "last.pt"
    if not last.exists():
        return
    stored: Any = {}
    try:
        payload = load_checkpoint(last)
        stored = payload.get("spec") or {}
        stored = stored if isinstance(stored, Mapping) else {}
        differ = mismatch(stored, expected)
        old_steps = continues(payload) if differ == ["spec_hash"] and continues else None
        if old_steps is not None:
            log.info("%s: the run of STEP COUNT %s in %s goes on from its checkpoint at step "
                     "%s to the new STEP COUNT (its training does not read the budget)", where,
                     old_steps, folder, payload.get("step"))
            return
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
