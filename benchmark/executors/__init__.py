"""Where the runner's jobs execute (a registry): ``local`` runs them one after another here.

A job is a plain function call (``Job``); an executor maps jobs to outcomes. Another executor
(e.g. Ray) only needs to run the same calls elsewhere and hand back the same outcomes.
"""

from benchmark.executors.base import EXECUTORS, Executor, Job, Outcome, build_executor
from benchmark.executors import local  # noqa: F401  (registers "local")

__all__ = ["EXECUTORS", "Executor", "Job", "Outcome", "build_executor"]
