"""Stages: a method whose ``trainer.steps_from`` names another benchmark's label
(``<benchmark>/<label>``) trains for the step at which that label's finished run validated best.

Snell et al. train ProtoNet in two stages: stage 1 on the training classes, validated every
epoch, early-stopped; stage 2 from scratch on train + validation for the epochs stage 1 chose
(their ``run_trainval.py`` reads the count from stage 1's log). ``resolve_stages`` does that
reading for any spec: before a run or a plan, each such method's ``trainer.steps`` becomes the
step of the best validation accuracy (the first, on a tie) in the stored curve of the named
label's finished run (several seeds: the median of their steps, the lower middle one), and
the run and the plan say so. The job hash then holds the resolved STEP COUNT (the resolved
method has no reference left), so a stage 1 that moves makes stage 2 a new job, and a STEP
COUNT written by hand that equals it is the same job. A label that ``--only`` leaves out is
resolved where its stage 1 has finished and otherwise kept with its reference, in its hash: a
job that never trains and that no stored row matches.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import Store, ValidationCurve


@dataclass(frozen=True)
class StageSteps:
    """One method's STEP COUNT read from a stage-1 run: ``steps``, from the best validation of
    ``source``'s finished runs (``picks``: seed, step, accuracy as a fraction)."""

    benchmark: str
    label: str
    source: str
    steps: int
    picks: tuple[tuple[int, int, float], ...]

    def line(self) -> str:
        """E.g. ``reproduce_protonet: protonet_1shot trains 7700 steps: the best validation
        of reproduce_protonet_select/protonet_1shot (seed 0: 98.37% at step 7700)``."""
        picks = ", ".join(f"seed {seed}: {100 * acc:.2f}% at step {step}"
                          for seed, step, acc in self.picks)
        middle = "; their median" if len(self.picks) > 1 else ""
        return (f"{self.benchmark}: {self.label} trains {self.steps} steps: the best validation "
                f"of {self.source} ({picks}{middle})")


def resolve_stages(spec: BenchmarkSpec, store: Store, only: Collection[str] | None = None
                   ) -> tuple[BenchmarkSpec, list[StageSteps]]:
    """``spec`` with the ``trainer.steps`` of each method that has ``steps_from`` read from
    ``store`` and its ``steps_from`` cleared (``StageSteps`` of each); a spec without one is
    returned as it is. ``only``: the labels that run (``--only``); another label whose stage 1
    cannot be read keeps its reference (it does not run).

    Raises:
        BenchmarkError: a label that runs names a label with no finished run with a
            validation curve in ``store`` (run its spec first), or names this very benchmark.
    """
    read: list[StageSteps] = []
    methods = []
    for method in spec.methods:
        source = method.trainer.steps_from
        if source is None:
            methods.append(method)
            continue
        if source.split("/")[0] == spec.name:  # a spec error, whichever labels run
            raise BenchmarkError(f"{spec.origin}: methods[{method.label}].trainer.steps_from "
                                 f"{source}: a stage is another benchmark, not this one")
        try:
            found = _best_steps(spec, method.label, source, store)
        except BenchmarkError:
            if only is None or method.label in only:
                raise
            methods.append(method)
            continue
        read.append(found)
        trainer = replace(method.trainer, steps=found.steps, steps_from=None)
        methods.append(replace(method, trainer=trainer))
    return (replace(spec, methods=tuple(methods)) if read else spec), read


def _best_steps(spec: BenchmarkSpec, label: str, source: str, store: Store) -> StageSteps:
    benchmark, of = source.split("/")
    where = f"{spec.origin}: methods[{label}].trainer.steps_from {source}"
    runs = {r.seed: r for r in store.runs(benchmark) if r.method == of and r.status == "done"}
    curves = [c for c in store.curves(benchmark) if c.method == of and c.seed in runs
              and c.spec_hash == runs[c.seed].spec_hash and c.steps]
    if not curves:
        raise BenchmarkError(f"{where}: store {store.path} holds no finished run of it with a "
                             "validation curve; run that benchmark's spec first (with "
                             "train.val_split and trainer.val_every)")
    picks = tuple(sorted((c.seed, *_best(c)) for c in curves))
    steps = sorted(step for _, step, _ in picks)[(len(picks) - 1) // 2]
    return StageSteps(spec.name, label, source, steps, picks)


def _best(curve: ValidationCurve) -> tuple[int, float]:
    """(step, accuracy) of the curve's best validation, the first on a tie."""
    best = max(range(len(curve.val_acc)), key=lambda i: (curve.val_acc[i], -i))
    return curve.steps[best], curve.val_acc[best]


def resolved_specs(specs: list[BenchmarkSpec], store_path: Path,
                   only: Collection[str] | None = None
                   ) -> tuple[list[BenchmarkSpec], list[StageSteps]]:
    """``resolve_stages`` for every spec (``only``: the labels that run), against the store at
    ``store_path`` (or, where there is none, a fresh clone's export beside it); specs without
    ``steps_from`` open nothing."""
    if not any(m.trainer.steps_from for spec in specs for m in spec.methods):
        return specs, []
    from benchmark.report.render import opened_store  # matplotlib: only when a stage is read

    out, read = [], []
    with opened_store(Path(store_path), "trainer.steps_from reads stage 1 from it: run the "
                                        "stage-1 spec") as store:
        for spec in specs:
            resolved, steps = resolve_stages(spec, store, only)
            out.append(resolved)
            read += steps
    return out, read
