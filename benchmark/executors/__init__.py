"""Where the runner's jobs execute (a registry): ``local`` runs them one after another here.

A job is a plain function call (``Job``); an executor maps jobs to outcomes. Another executor
(e.g. Ray) is one registered class that runs the same calls elsewhere and hands back the same
outcomes; ``Executor`` says what it receives and returns, and what only the driver does.
"""

from benchmark.executors.base import EXECUTORS, Executor, Job, Outcome, build_executor
from benchmark.executors import local  # noqa: F401  (registers "local")

__all__ = ["EXECUTORS", "Executor", "Job", "Outcome", "build_executor"]
