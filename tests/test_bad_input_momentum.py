"""Bad hyper-parameters of MoCo, BYOL and PsCo through ``python -m benchmark run``: exit 2, one
``error:`` line naming the problem, nothing written, no training. Runs through
``test_bad_input``'s forking driver (one interpreter, a forked ``python -m benchmark`` child per
case, every file of the case tree fingerprinted before and after)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_bad_input import DRIVER, REPO, Case, _check, _run, _spec


def _momentum(method: str, **params: Any):
    """methods[0] becomes ``method`` on 8-image augmentation episodes (2 x 8 = 16 keys a step)."""
    def edit(data: dict) -> None:
        data["methods"][0].update(label=method, method=method, sampler="augment", ways=8,
                                  shots=1, queries=1, params=params)
    return edit


SPEC_CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("moco-queue-not-whole-steps", _momentum("moco", queue_size=100),
     ("methods[0].params", "queue_size 100", "multiple of the 16 keys")),
    ("psco-queue-not-whole-steps", _momentum("psco", queue_size=1000),
     ("methods[0].params", "queue_size 1000", "multiple of the 16 keys")),
    ("moco-asymmetric-queue", _momentum("moco", queue_size=100, symmetric=False),
     ("queue_size 100", "multiple of the 8 keys")),
    ("moco-momentum-one", _momentum("moco", momentum=1.0),
     ("methods[0].params", "momentum must be in [0, 1)", "1.0")),
    ("byol-momentum-negative", _momentum("byol", momentum=-0.1),
     ("methods[0].params", "momentum must be in [0, 1)", "-0.1")),
    ("psco-momentum-above-one", _momentum("psco", momentum=1.5), ("momentum must be in [0, 1)",)),
    ("moco-projector-dim-zero", _momentum("moco", projector_dim=0),
     ("methods[0].params", "projector_dim must be > 0")),
    ("byol-projector-dim-zero", _momentum("byol", projector_dim=0), ("projector_dim must be > 0",)),
    ("psco-projector-dim-zero", _momentum("psco", projector_dim=0), ("projector_dim must be > 0",)),
    ("byol-no-predictor", _momentum("byol", predictor_hidden=0), ("predictor_hidden must be > 0",)),
    ("moco-unknown-schedule", _momentum("moco", momentum_schedule="linear"),
     ("momentum schedule 'linear'", "constant", "cosine")),
    ("psco-more-shots-than-queue", _momentum("psco", queue_size=32, num_shots=64),
     ("num_shots 64", "queue_size 32")),
    ("moco-labelled-episodes", lambda d: d["methods"][0].update(method="moco"),
     ("methods[0]", "moco", "augment")),
]
CASES = [Case(f"run:{name}", _run(name), words) for name, _, words in SPEC_CASES]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    tree = tmp_path_factory.mktemp("bad_momentum_tree")
    logs = tmp_path_factory.mktemp("bad_momentum_logs")
    for folder in ("specs", "work", "data"):
        (tree / folder).mkdir()
    for name, edit, _ in SPEC_CASES:
        _spec(tree, name, edit)
    plan = {"root": str(tree), "logs": str(logs), "cases": [
        {"id": c.id, "argv": [a.replace("{B}", str(tree)) for a in c.argv],
         "env": {"BENCHMARK_DATA": str(tree / "data"), "HOME": str(tree / "work"),
                 "MPLCONFIGDIR": str(logs / "mpl")},
         "cwd": str(tree / "work")} for c in CASES]}
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(plan), text=True,
                          capture_output=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {o["id"]: o for o in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_momentum_hyper_parameters_are_refused(case: Case, outcomes: dict[str, dict]) -> None:
    o = outcomes[case.id]
    _check(case, o["rc"], o["stdout"], o["stderr"], o["changed"])
