"""Whether a run trained under one STEP COUNT may go on under another as if it had started
with it.

Raising a spec's STEP COUNT (``trainer.steps``) makes another job (the job hash holds the
steps), so its run would start over. Where nothing the training does reads the budget, the
first ``k`` steps of a run are the same steps whatever its STEP COUNT (each step's episodes are
seeded by its index, and the checkpoint holds every generator, the optimiser and the
schedule), so a run may go on from its checkpoint to a larger count, and end where a run
started with that count ends. That holds when:

- the learning-rate schedule ignores the budget (``BUDGET_FREE_SCHEDULES``: ``constant``,
  ``halve2000``; ``cosine`` and ``step`` are fractions of it);
- the method's per-step hook ignores it (``Method.budget_free``: BYOL's cosine momentum rises
  to 1 at the last step, MoCo's constant momentum does not);
- there are no compute marks (``steps`` is then a cap, and the marks its own budget);
- where the run validates, the shorter run's last step (always validated) is a step the longer
  run validates too: else its ``best.pt`` could be a model the longer run never keeps;
- the checkpoint is not past the new STEP COUNT.
"""

from __future__ import annotations

from benchmark.train.config import TrainConfig
from benchmark.train.optim import BUDGET_FREE_SCHEDULES


def why_not_continued(config: TrainConfig, saved_steps: int, done: int,
                      method_budget_free: bool, validates: bool) -> str:
    """Why a run trained under STEP COUNT ``saved_steps`` (its checkpoint at step ``done``)
    cannot go on to ``config.steps`` as if it had started with it; "" when it can.

    Args:
        config: the trainer of the run to continue (its ``steps`` the new STEP COUNT).
        method_budget_free: ``Method.budget_free`` of the run's method and parameters.
        validates: whether the run validates (a validation split).
    """
    if done > config.steps:
        return f"its checkpoint is at step {done}, past the new trainer.steps ({config.steps})"
    if config.schedule not in BUDGET_FREE_SCHEDULES:
        return f"the learning-rate schedule {config.schedule!r} is a fraction of the budget"
    if not method_budget_free:
        return "the method's per-step schedule (its momentum) depends on the budget"
    if config.marks:
        return "the run has compute marks (trainer.marks)"
    last_validated = done == saved_steps
    if validates and last_validated and (not config.val_every or saved_steps % config.val_every):
        return (f"the shorter run validated at its last step ({saved_steps}), which a run of "
                f"{config.steps} steps does not")
    return ""
