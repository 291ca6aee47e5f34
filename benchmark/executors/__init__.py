"""Where the runner's jobs execute (a registry): ``local`` runs them one after another here,
``ray`` as Ray tasks on a Ray cluster, ``torchrun`` on all the ranks of a torchrun launch.

A job is a plain function call (``Job``); an executor maps jobs to outcomes. Another executor
(e.g. Ray) is one registered class that runs the same calls elsewhere and hands back the same
outcomes; ``Executor`` says what it receives and returns, and what only the driver does.
"""

from benchmark.executors.base import EXECUTORS, Executor, Job, Outcome, build_executor, launch
from benchmark.executors import local, ray, torchrun  # noqa: F401  (register; Ray imported lazily)

__all__ = ["EXECUTORS", "Executor", "Job", "Outcome", "build_executor", "launch"]
