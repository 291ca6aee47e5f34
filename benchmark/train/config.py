"""``TrainConfig``: everything that decides a training run, besides the method and its episodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from benchmark.spec import limits
from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.precision import PRECISIONS
from benchmark.spec.schema import Invalid, check_fields, setting
from benchmark.train.optim import OPTIMIZERS, SCHEDULES


def _stage_reference(value: str, context: Any) -> None:
    """``steps_from`` is ``<benchmark>/<label>``."""
    parts = value.split("/")
    if len(parts) != 2 or not all(p.strip() == p and p for p in parts):
        raise BenchmarkError(f"{value!r} is not '<benchmark>/<label>' (a finished run whose "
                             "best validation step sets trainer.steps)")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run, besides the method and its episodes.

    Each field is defined once, here: its type, default, bounds and ``doc`` validate a spec's
    ``trainer:`` sections (``benchmark.spec.benchmark_spec``) and a config built in Python alike. Fields with
    ``spec=False`` are set by the code that runs the training, never by a spec; fields with
    ``resumable=True`` may differ between a run and its resumption (they do not touch the
    weights).
    """

    steps: int = setting(1000, minimum=1, maximum=limits.MAX_STEPS,
                         doc="optimisation steps (meta_batch episodes each); with marks, the "
                             "cap (and the schedule's length): the run stops at the last mark")
    steps_from: str | None = setting(None, check=_stage_reference, resumable=True,
                              doc="'<benchmark>/<label>': steps becomes the step at which that "
                                  "label's finished run validated best (several seeds: their "
                                  "median), read from the store before anything runs: a stage "
                                  "1 sets a stage 2's STEP COUNT (Snell et al. retrain for the "
                                  "epochs early stopping chose); none (default): steps as given")
    marks: tuple[float, ...] = setting((), minimum=0, resumable=True,
                                       doc="training CPU-minutes (the process's CPU time, "
                                           "validation left out, summed over resumptions) at "
                                           "which a checkpoint mark_<m>.pt is kept; the run "
                                           "stops at the last one (or at steps, which must "
                                           "not come first); adding later marks to a finished "
                                           "run resumes it")
    meta_batch: int = setting(1, minimum=1, maximum=limits.MAX_EPISODES,
                              doc="episodes per optimisation step (the meta-batch); the "
                                  "step's loss is their mean (Method.forward_batch)")
    optimizer: str = setting("adam", registry=OPTIMIZERS,
                             doc="a registered optimiser (OPTIMIZERS): adam, adamw, sgd")
    lr: float = setting(1e-3, minimum=1e-12, doc="learning rate")
    weight_decay: float = setting(0.0, minimum=0, doc="weight decay")
    momentum: float = setting(0.9, minimum=0, below=1, doc="SGD momentum (ignored by Adam)")
    nesterov: bool = setting(False, doc="SGD Nesterov momentum (needs momentum > 0)")
    schedule: str = setting("constant", registry=SCHEDULES,
                            doc="a registered learning-rate schedule (SCHEDULES): constant, "
                                "cosine, step, halve2000")
    warmup_steps: int = setting(0, minimum=0, maximum=limits.MAX_STEPS,
                                doc="linear warm-up steps before the schedule")
    val_every: int = setting(0, minimum=0, maximum=limits.MAX_STEPS,
                             doc="validate every this many steps (and at the end); "
                                 "0 validates only at the end", resumable=True)
    val_episodes: int = setting(100, minimum=1, maximum=limits.MAX_EPISODES,
                                doc="episodes the caller's validator uses "
                                    "(see evaluation.validator)", resumable=True)
    log_every: int = setting(10, minimum=1, maximum=limits.MAX_STEPS, spec=False,
                             doc="progress-bar refresh and CSV flush interval", resumable=True)
    checkpoint_every: int = setting(100, minimum=1, maximum=limits.MAX_STEPS,
                                    doc="write last.pt every this many steps (and at the end)", resumable=True)
    seed: int = setting(0, minimum=0, maximum=limits.MAX_SEED, spec=False,
                        doc="seeds the generators at the start and every episode "
                            "(episode_seed)")
    device: str = setting("auto", spec=False, doc="auto, cpu, cuda or cuda:N", resumable=True)
    amp: bool = setting(False, doc="mixed precision (autocast float16 + GradScaler); CUDA only; "
                                   "an alias of precision: float16 on CUDA")
    precision: str = setting("float32", choices=PRECISIONS,
                             doc="float32, bfloat16 (autocast; fast on CUDA and on CPUs with AMX "
                                 "or AVX512-BF16), float16 (CUDA) or auto (bfloat16 where the "
                                 "hardware has it and a probe finds it faster)")
    channels_last: bool = setting(True, doc="channels-last memory format for the model's "
                                            "weights (≈1.3x faster convolutions on CPU); a "
                                            "method it slows (MAML) keeps contiguous weights")
    progress: bool | None = setting(None, spec=False, doc="tqdm progress bar; None shows it "
                                                          "when stderr is a terminal", resumable=True)
    tensorboard: bool = setting(True, spec=False, doc="also log to run_dir/tensorboard when "
                                                      "TensorBoard is installed", resumable=True)

    def __post_init__(self) -> None:
        check_fields(self, "train config")
        if self.nesterov and self.momentum == 0:
            raise Invalid("needs momentum > 0", "nesterov", "train config")
        if any(m <= 0 for m in self.marks) or list(self.marks) != sorted(set(self.marks)):
            raise Invalid(f"expected increasing CPU-minutes > 0, got {list(self.marks)}",
                          "marks", "train config")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """A config from a dict; unknown keys are refused with one clear line."""
        refuse_unknown("train config", "key", data, sorted(f.name for f in fields(cls)))
        return cls(**data)
